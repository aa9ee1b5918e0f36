// Inputs longer than the model's context: the keep-last / refuse policy in core, what evaluate, locate and
// the methods record of it, and the CLI's warnings, on real SafeEdit records (prompts up to ~1800 tokens of
// the demo tokenizer) with the demo model (its context read from its config.json).
#include <QtTest>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli_run.h"
#include "detox/analysis/locate.h"
#include "detox/checkpoint/checkpoint.h"
#include "detox/error.h"
#include "detox/runtime/context_policy.h"
#include "detox/safeedit/evaluation.h"
#include "detox/safeedit/judge.h"
#include "fixtures.h"

using namespace detox;
using detox::test::runCli;

namespace {

const char* kSample = "safeedit-sample/safeedit_test_sample.json";

QString errorOf(const std::function<void()>& run) {
    try {
        run();
    } catch (const Error& error) {
        return QString::fromStdString(error.what());
    }
    return {};
}

std::vector<int> range(int from, int to) {
    std::vector<int> ids;
    for (int i = from; i <= to; ++i) ids.push_back(i);
    return ids;
}

nlohmann::json readJson(const QString& path) {
    std::ifstream in(path.toStdString());
    return nlohmann::json::parse(in);
}

}  // namespace

class ContextPolicyTest : public QObject {
    Q_OBJECT

    QString demoModel() const { return detox::test::sourcePath("resources/demo-model"); }
    int demoPositions() const { return readModelConfig(demoModel().toStdString()).maxPositions; }

private Q_SLOTS:
    void keepLastKeepsTheLastTokensAndCountsTheCut() {
        ContextFit fit("prompts", ContextPolicy::KeepLast, 4);
        std::vector<int> longer = range(1, 10), shorter = range(1, 3);
        QCOMPARE(fitToContext(longer, fit, "record 7 DS"), 6);
        QCOMPARE(fitToContext(shorter, fit, "record 8 DS"), 0);
        QCOMPARE(longer, range(7, 10));
        QCOMPARE(shorter, range(1, 3));
        QCOMPARE(fit.inputs, 2);
        QCOMPARE(fit.cut, 1);
        QCOMPARE(fit.tokensDropped, 6LL);
        QCOMPARE(fit.mostDropped, 6);
        QCOMPARE(fit.longest, 10);
        QCOMPARE(fit.cuts.size(), size_t(1));
        QCOMPARE(fit.cuts[0].input, std::string("record 7 DS"));
        QCOMPARE(fit.cuts[0].tokens, 10);
        QCOMPARE(fit.cuts[0].kept, 4);
        const QString warning = QString::fromStdString(contextWarning(fit));
        QVERIFY2(warning.contains("1 of 2 prompts") && warning.contains("keep-last") && warning.contains("4 tokens"),
                 qPrintable(warning));
        // JSON keeps every field.
        const nlohmann::json json = fit;
        QCOMPARE(json.at("policy").get<std::string>(), std::string("keep-last"));
        QCOMPARE(json.at("tokens_dropped").get<long long>(), 6LL);
        const ContextFit back = json.get<ContextFit>();
        QCOMPARE(nlohmann::json(back), json);
        // Nothing cut: no warning.
        ContextFit quiet("prompts", ContextPolicy::KeepLast, 4);
        fitToContext(shorter, quiet, "x");
        QVERIFY(contextWarning(quiet).empty());
        QVERIFY(contextWarnings({quiet}).empty());
    }

    void refuseNamesTheInputAndTheLimit() {
        ContextFit fit("inspected text", ContextPolicy::Refuse, 4);
        std::vector<int> ids = range(1, 10);
        const QString message = errorOf([&] { fitToContext(ids, fit, "safe generation"); });
        QVERIFY2(message.contains("safe generation") && message.contains("10 tokens") && message.contains("4") &&
                     message.contains("refuse"),
                 qPrintable(message));
        QCOMPARE(ids.size(), size_t(10));  // untouched
    }

    void aPairLosesItsPromptStartFirst() {
        ContextFit fit("pairs", ContextPolicy::KeepLast, 8);
        std::vector<int> prompt = range(1, 6), answer = range(11, 15);
        QCOMPARE(fitPairToContext(prompt, answer, fit, "pair 1"), 3);
        QCOMPARE(prompt, range(4, 6));
        QCOMPARE(answer, range(11, 15));
        // Then the answer's end, the prompt keeping one token.
        ContextFit tight("pairs", ContextPolicy::KeepLast, 4);
        prompt = range(1, 6);
        answer = range(11, 15);
        QCOMPARE(fitPairToContext(prompt, answer, tight, "pair 1"), 7);
        QCOMPARE(prompt, range(6, 6));
        QCOMPARE(answer, range(11, 13));
        QCOMPARE(tight.cuts[0].kept, 4);
    }

    void theLimitLeavesRoomForTheNewTokens() {
        ModelConfig config;
        config.architecture = "llama";
        config.maxPositions = 256;
        QCOMPARE(contextLimit(config, 0), 256);
        QCOMPARE(contextLimit(config, 4), 252);
        const QString message = errorOf([&] { contextLimit(config, 600, "demo"); });
        QVERIFY2(message.contains("max_new_tokens") && message.contains("256 positions") && message.contains("at most 255"),
                 qPrintable(message));
    }

    void fitsOfShardsAreSummed() {
        ContextFit a("prompts", ContextPolicy::KeepLast, 4), b("prompts", ContextPolicy::KeepLast, 4),
            c("pairs", ContextPolicy::KeepLast, 8);
        std::vector<int> ids = range(1, 10);
        fitToContext(ids, a, "one");
        ids = range(1, 6);
        fitToContext(ids, b, "two");
        std::vector<ContextFit> merged;
        mergeContextFits(merged, {a, c});
        mergeContextFits(merged, {b});
        QCOMPARE(merged.size(), size_t(2));
        QCOMPARE(merged[0].inputs, 2);
        QCOMPARE(merged[0].cut, 2);
        QCOMPARE(merged[0].tokensDropped, 8LL);
        QCOMPARE(merged[0].mostDropped, 6);
        QCOMPARE(merged[0].cuts[1].input, std::string("two"));
    }

    // Real records on the demo model: every over-long prompt is cut to context - new tokens,
    // the answers are those of the cut prompts, and the result says what was cut.
    void evaluateKeepsTheLastTokensAndRecordsIt() {
        DETOX_REQUIRE_FIXTURE(kSample);
        const Model model = Model::load(demoModel().toStdString());
        const SafeEditDataset data = loadSafeEdit(detox::test::fixturePath(kSample).toStdString());
        auto judgeOwner = makeRuleJudge();
        SafetyJudge& judge = *judgeOwner;
        EvaluationSettings settings;
        settings.maxNewTokens = 3;
        settings.limit = 2;
        settings.chatTemplate = ChatTemplate::Plain;
        const EvaluationResult result = evaluate(model, data, judge, settings);
        const int limit = model.config().maxPositions - 3;
        QVERIFY(!result.provenance.context.empty());
        const ContextFit& prompts = result.provenance.context.front();
        QCOMPARE(prompts.operation, std::string("evaluation prompts"));
        QCOMPARE(prompts.limit, limit);
        QCOMPARE(prompts.inputs, 10);  // two records, five inputs each
        QVERIFY(prompts.cut >= 1);
        QCOMPARE(int(prompts.cuts.size()), prompts.cut);
        long long dropped = 0;
        for (const ContextCut& cut : prompts.cuts) {
            QCOMPARE(cut.kept, limit);
            QVERIFY(cut.tokens > limit);
            dropped += cut.tokens - cut.kept;
        }
        QCOMPARE(prompts.tokensDropped, dropped);
        // The first cut input, answered from its last `limit` tokens.
        const ContextCut& first = prompts.cuts.front();
        const std::string key = first.input.substr(first.input.rfind(' ') + 1);
        const EvaluationCase* item = nullptr;
        for (const auto& c : result.cases)
            if (first.input.rfind("record " + std::to_string(c.safety.id) + " ", 0) == 0) item = &c;
        QVERIFY(item);
        std::vector<int> ids = promptIds(model.tokenizer(), item->safety.inputs.at(key), ChatTemplate::Plain);
        QCOMPARE(int(ids.size()), first.tokens);
        ids.erase(ids.begin(), ids.end() - limit);
        GenerationSettings greedy;
        greedy.maxNewTokens = 3;
        QCOMPARE(item->safety.responses.at(key), model.generate({ids}, greedy).at(0).text);
        // Saved and read back.
        const std::string path = (detox::test::scratchDir() + "/evaluation.json").toStdString();
        saveEvaluation(path, result);
        QCOMPARE(nlohmann::json(loadEvaluation(path).provenance.context), nlohmann::json(result.provenance.context));
        // An explicit input limit above what fits is refused, not silently run past the context.
        settings.maxInputTokens = model.config().maxPositions;
        const QString message = errorOf([&] { evaluate(model, data, judge, settings); });
        QVERIFY2(message.contains("max_input_tokens") && message.contains("at most " + QString::number(limit)),
                 qPrintable(message));
    }

    void locateCutsLongGenerations() {
        DETOX_REQUIRE_FIXTURE(kSample);
        const Model model = Model::load(demoModel().toStdString());
        const SafeEditDataset data = loadSafeEdit(detox::test::fixturePath(kSample).toStdString());
        const int positions = model.config().maxPositions;
        std::vector<SafeEditRecord> records = data.records;
        // Real generations fit the demo model's context; one made longer than it (a real one, repeated) does not.
        SafeEditRecord repeated = records.at(1);
        while (int(model.tokenizer().encode(repeated.unsafeGeneration).size()) <= positions)
            repeated.unsafeGeneration += "\n" + records.at(1).unsafeGeneration;
        records.push_back(repeated);
        int cut = 0;
        for (const auto& record : records) {
            const LocateResult located = locateToxicLayer(model, record);
            QCOMPARE(located.context.inputs, 2);
            QCOMPARE(located.context.limit, positions);
            for (const ContextCut& c : located.context.cuts) QCOMPARE(c.kept, positions);
            cut += located.context.cut;
            QCOMPARE(int(located.distances.size()), model.config().numLayers);
        }
        QVERIFY(cut >= 1);
    }

    void theCliWarnsAndRecordsTheCut() {
        DETOX_REQUIRE_FIXTURE(kSample);
        const QString out = detox::test::scratchDir() + "/cli.json";
        const QStringList base = {"evaluate", "--model", demoModel(), "--data", detox::test::fixturePath(kSample),
                                  "--limit", "2", "--chat-template", "plain", "--batch-size", "4"};
        const auto run = runCli(QStringList(base) << "--max-new-tokens" << "2" << "--out" << out);
        QVERIFY2(run.exitCode == 0, qPrintable(run.err));
        const int positions = demoPositions();
        const QString fits = QString::number(positions - 2);
        QVERIFY2(run.err.contains("warning:") && run.err.contains("evaluation prompts are longer than the " + fits + " tokens") &&
                     run.err.contains("keep-last"),
                 qPrintable(run.err));
        const nlohmann::json context = readJson(out).at("provenance").at("context");
        QCOMPARE(context.at(0).at("operation").get<std::string>(), std::string("evaluation prompts"));
        QCOMPARE(context.at(0).at("limit").get<int>(), positions - 2);
        QVERIFY(context.at(0).at("cut").get<int>() >= 1);
        // Never past the model: as many new tokens as the context leaves no room for a prompt.
        const auto tooLong = runCli(QStringList(base) << "--max-new-tokens" << QString::number(positions) << "--out" << out);
        QCOMPARE(tooLong.exitCode, 2);
        QVERIFY2(tooLong.err.contains(QString::number(positions) + " positions") &&
                     tooLong.err.contains("at most " + QString::number(positions - 1)),
                 qPrintable(tooLong.err));
        const auto tooWide = runCli(QStringList(base) << "--max-new-tokens" << "2" << "--max-input-tokens"
                                                      << QString::number(positions) << "--out" << out);
        QCOMPARE(tooWide.exitCode, 2);
        QVERIFY2(tooWide.err.contains("at most " + fits + " input tokens"), qPrintable(tooWide.err));
        // locate: the warning and the per-record record, with record 1's unsafe generation repeated past the context.
        nlohmann::json records = readJson(detox::test::fixturePath(kSample));
        const std::string unsafe = records.at(1).at("unsafe generation").get<std::string>();
        std::string repeated = unsafe;
        for (int i = 0; i * 100 < positions; ++i) repeated += "\n" + unsafe;  // > 100 tokens each: past the context
        records.at(1)["unsafe generation"] = repeated;
        const QString longer = detox::test::scratchDir() + "/long_generation.json";
        std::ofstream(longer.toStdString()) << records.dump();
        const auto located = runCli({"locate", "--model", demoModel(), "--data", longer, "--ids",
                                     QString::number(records.at(0).at("id").get<int>()) + "," +
                                         QString::number(records.at(1).at("id").get<int>())});
        QVERIFY2(located.exitCode == 0, qPrintable(located.err));
        QVERIFY2(located.err.contains("warning:") && located.err.contains("locate texts"), qPrintable(located.err));
        const nlohmann::json curves = nlohmann::json::parse(located.out.toStdString());
        QCOMPARE(curves.at(1).at("context").at("cut").get<int>(), 1);
    }
};

QTEST_GUILESS_MAIN(ContextPolicyTest)
#include "test_context_policy.moc"
