// Evaluation runs on a tiny random model with a scripted judge: metrics against hand computations from the
// labels, case selection and shards, merging, cancellation, and the knowledge scores against an
// independent computation from Model::forward.
#include <QtTest>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "detox/safeedit/evaluation.h"
#include "detox/safeedit/judge.h"
#include "detox/safeedit/safeedit.h"
#include "fixtures.h"
#include "tiny_model.h"

namespace {

detox::Model tinyModel(uint64_t seed, const std::string& tokenizerDirectory) {
    return detox::test::tinyLlama(seed, tokenizerDirectory, 2, 5.0);  // outputs vary with the input
}

// Labels by a rule the test can recompute: empty -> 0.5, else unsafe when the byte sum is odd.
class ParityJudge : public detox::SafetyJudge {
public:
    std::string name() const override { return "parity (test)"; }
    bool heuristic() const override { return true; }
    std::vector<detox::JudgeVerdict> judge(const std::vector<std::string>& responses, detox::JobControl& job) override {
        std::vector<detox::JudgeVerdict> verdicts;
        for (const auto& response : responses) {
            job.checkpoint();
            verdicts.push_back({expectedLabel(response), "parity"});
            ++judged;
        }
        return verdicts;
    }
    static double expectedLabel(const std::string& response) {
        if (response.empty()) return 0.5;
        unsigned sum = 0;
        for (unsigned char c : response) sum += c;
        return sum % 2 ? 1.0 : 0.0;
    }
    int judged = 0;
};

std::vector<int> caseIds(const detox::EvaluationResult& result) {
    std::vector<int> ids;
    for (const auto& item : result.cases) ids.push_back(item.safety.id);
    return ids;
}

// Everything of a result that must not depend on sharding (not timing, not the shard itself).
nlohmann::json comparable(const detox::EvaluationResult& result) {
    nlohmann::json json = result;
    json["provenance"].erase("started_at");
    json["provenance"].erase("duration_seconds");
    json["provenance"].erase("shard");
    return json;
}

std::vector<float> logSoftmax(const float* row, size_t vocab) {
    double largest = *std::max_element(row, row + vocab), sum = 0;
    for (size_t v = 0; v < vocab; ++v) sum += std::exp(row[v] - largest);
    std::vector<float> out(vocab);
    for (size_t v = 0; v < vocab; ++v) out[v] = float(row[v] - largest - std::log(sum));
    return out;
}

}  // namespace

class EvaluationTest : public QObject {
    Q_OBJECT

    std::string tokenizerDir_;
    detox::SafeEditDataset demo_;

    detox::EvaluationSettings quickSettings() const {
        detox::EvaluationSettings settings;
        settings.maxNewTokens = 4;
        settings.batchSize = 4;
        settings.chatTemplate = detox::ChatTemplate::Plain;
        return settings;
    }

private Q_SLOTS:
    void initTestCase() {
        tokenizerDir_ = detox::test::scratchDir().toStdString();
        detox::test::writeByteLevelTokenizer(tokenizerDir_);
        demo_ = detox::loadSafeEdit(detox::test::sourcePath("datasets/demo/safeedit_demo_test.json").toStdString());
        QVERIFY(demo_.records.size() >= 10);
    }

    void metricsMatchHandComputedValues() {
        detox::Model model = tinyModel(1, tokenizerDir_);
        ParityJudge judge;
        auto settings = quickSettings();
        settings.limit = 6;
        const auto result = detox::evaluate(model, demo_, judge, settings);

        QCOMPARE(int(result.cases.size()), 6);
        QCOMPARE(result.selectedCases, 6);
        std::map<std::string, std::vector<double>> labels;
        double fluency = 0, knowledge = 0;
        int judgedResponses = 0;
        for (size_t i = 0; i < result.cases.size(); ++i) {
            const auto& item = result.cases[i];
            const auto& record = demo_.records[i];
            QCOMPARE(item.safety.id, record.id);
            QCOMPARE(item.safety.inputs.at("DS"), record.adversarialPrompt);
            QCOMPARE(item.safety.responses.size(), size_t(record.generalization ? 5 : 1));
            if (record.generalization)
                QCOMPARE(item.safety.inputs.at("DG_otherAQ"), record.generalization->otherQuestionsAndAttack);
            std::vector<std::string> responses;
            for (const auto& [key, response] : item.safety.responses) {
                QCOMPARE(item.safety.unsafeLabels.at(key), ParityJudge::expectedLabel(response));
                labels[key].push_back(ParityJudge::expectedLabel(response));
                responses.push_back(response);
                ++judgedResponses;
            }
            QCOMPARE(item.safety.fluency, detox::meanNGramEntropy(responses));
            fluency += item.safety.fluency;
            QVERIFY(item.knowledgeAccuracy.has_value());
            knowledge += *item.knowledgeAccuracy;
        }
        QCOMPARE(judge.judged, judgedResponses);
        auto defense = [&](const std::string& key) {
            double unsafe = 0;
            for (double label : labels[key]) unsafe += label;
            return 100.0 - 100.0 * unsafe / double(labels[key].size());
        };
        const auto& metrics = result.metrics;
        QCOMPARE(metrics.safety.cases, 6);
        QCOMPARE(metrics.safety.DS.value(), defense("DS"));
        QCOMPARE(metrics.safety.DG_onlyQ.value(), defense("DG_onlyQ"));
        QCOMPARE(metrics.safety.DG_otherA.value(), defense("DG_otherA"));
        QCOMPARE(metrics.safety.DG_otherQ.value(), defense("DG_otherQ"));
        QCOMPARE(metrics.safety.DG_otherAQ.value(), defense("DG_otherAQ"));
        QVERIFY(std::abs(metrics.safety.DG_Avg.value() -
                         (defense("DG_onlyQ") + defense("DG_otherA") + defense("DG_otherQ") + defense("DG_otherAQ")) / 4) < 1e-9);
        QVERIFY(std::abs(metrics.safety.fluency - fluency / 6) < 1e-9);
        QVERIFY(std::abs(*metrics.knowledgeAccuracy - knowledge / 6) < 1e-12);
        QCOMPARE(metrics.knowledgeCases, 6);
        QVERIFY(!metrics.knowledgeKl.has_value());
        QCOMPARE(metrics.safety.judge, std::string("parity (test)"));
        QVERIFY(metrics.safety.heuristicJudge);
        QVERIFY(!metrics.general.perplexity.has_value());

        // Provenance names the model, the data and every setting.
        QCOMPARE(result.provenance.modelHash, model.contentHash());
        QCOMPARE(result.provenance.datasetHash, demo_.sha256);
        QCOMPARE(result.provenance.method, std::string("evaluate"));
        QCOMPARE(result.provenance.settings.at("max_new_tokens").get<int>(), 4);
        QCOMPARE(result.provenance.settings.at("chat_template").get<std::string>(), std::string("plain"));
        QVERIFY(!result.provenance.startedAt.empty());

        // The JSON form reads back to the same result.
        const nlohmann::json json = result;
        const auto back = json.get<detox::EvaluationResult>();
        QCOMPARE(nlohmann::json(back), json);
        QCOMPARE(json.at("metrics").at("DS").get<double>(), defense("DS"));
    }

    void greedyResponsesAreTheModelsOwnGeneration() {
        detox::Model model = tinyModel(1, tokenizerDir_);
        ParityJudge judge;
        auto settings = quickSettings();
        settings.ids = {demo_.records[2].id};
        const auto result = detox::evaluate(model, demo_, judge, settings);
        const auto& record = demo_.records[2];
        detox::GenerationSettings greedy;
        greedy.maxNewTokens = 4;
        const auto expected = model.generate({model.tokenizer().encode(record.adversarialPrompt, true)}, greedy);
        QCOMPARE(result.cases.at(0).safety.responses.at("DS"), expected.at(0).text);
    }

    void subsetsAndShardsSelectTheExpectedCases() {
        detox::EvaluationSettings settings;
        settings.limit = 7;
        QCOMPARE(detox::selectCases(demo_, settings).shardPositions, (std::vector<int>{0, 1, 2, 3, 4, 5, 6}));
        settings.shardCount = 3;
        settings.shardIndex = 1;
        QCOMPARE(detox::selectCases(demo_, settings).shardPositions, (std::vector<int>{0, 3, 6}));
        settings.shardIndex = 2;
        QCOMPARE(detox::selectCases(demo_, settings).shardPositions, (std::vector<int>{1, 4}));
        settings.shardIndex = 3;
        QCOMPARE(detox::selectCases(demo_, settings).shardPositions, (std::vector<int>{2, 5}));

        detox::EvaluationSettings byIds;
        byIds.ids = {demo_.records[9].id, demo_.records[1].id, demo_.records[4].id};
        auto selection = detox::selectCases(demo_, byIds);
        QCOMPARE(selection.selected, (std::vector<size_t>{9, 1, 4}));
        byIds.shardCount = 2;
        byIds.shardIndex = 2;
        selection = detox::selectCases(demo_, byIds);
        QCOMPARE(selection.shardPositions, (std::vector<int>{1}));

        auto expectError = [&](detox::EvaluationSettings bad, const char* fragment) {
            try {
                detox::selectCases(demo_, bad);
                QFAIL("expected detox::Error");
            } catch (const detox::Error& e) {
                QVERIFY2(QString(e.what()).contains(fragment), e.what());
            }
        };
        detox::EvaluationSettings missing;
        missing.ids = {123456};
        expectError(missing, "id 123456");
        expectError(missing, "ids run from");  // the file's id range, first ids in file order
        detox::EvaluationSettings both;
        both.ids = {0};
        both.limit = 3;
        expectError(both, "not several");
        detox::EvaluationSettings shard;
        shard.shardIndex = 4;
        shard.shardCount = 3;
        expectError(shard, "4/3");
    }

    void mergedShardsEqualTheUnshardedRun() {
        detox::Model model = tinyModel(3, tokenizerDir_);
        auto settings = quickSettings();
        settings.batchSize = 1;  // batch composition then cannot change any logit
        settings.limit = 7;
        settings.generalTextPath = detox::test::sourcePath("datasets/demo/general_text.txt").toStdString();
        settings.perplexityWindow = 64;
        ParityJudge judge;
        const auto whole = detox::evaluate(model, demo_, judge, settings);
        QVERIFY(whole.metrics.general.perplexity.has_value());
        QVERIFY(*whole.metrics.general.perplexity > 1.0);

        std::vector<detox::EvaluationResult> shards;
        for (int index : {2, 3, 1}) {  // any order
            settings.shardIndex = index;
            settings.shardCount = 3;
            auto shard = detox::evaluate(model, demo_, judge, settings);
            QCOMPARE(shard.metrics.general.perplexity.has_value(), index == 1);
            shards.push_back(nlohmann::json(shard).get<detox::EvaluationResult>());  // through JSON, like files
        }
        QCOMPARE(caseIds(shards[0]), (std::vector<int>{demo_.records[1].id, demo_.records[4].id}));
        const auto merged = detox::mergeEvaluations(shards);
        QCOMPARE(merged.shardCount, 1);
        QCOMPARE(caseIds(merged), caseIds(whole));
        QCOMPARE(comparable(merged).dump(), comparable(whole).dump());
        QCOMPARE(merged.metrics.safety.DS, whole.metrics.safety.DS);
        QCOMPARE(*merged.metrics.general.perplexity, *whole.metrics.general.perplexity);
    }

    void mergeRefusesMismatchedShards() {
        detox::Model model = tinyModel(3, tokenizerDir_);
        auto settings = quickSettings();
        settings.maxNewTokens = 2;
        settings.limit = 4;
        settings.shardCount = 2;
        ParityJudge judge;
        settings.shardIndex = 1;
        const auto first = detox::evaluate(model, demo_, judge, settings);
        settings.shardIndex = 2;
        const auto second = detox::evaluate(model, demo_, judge, settings);
        QCOMPARE(detox::mergeEvaluations({first, second}).cases.size(), size_t(4));

        auto expectRefusal = [](const std::vector<detox::EvaluationResult>& shards, const char* fragment) {
            try {
                detox::mergeEvaluations(shards);
                QFAIL("expected detox::Error");
            } catch (const detox::Error& e) {
                QVERIFY2(QString(e.what()).contains(fragment), e.what());
            }
        };
        auto otherModel = second;
        otherModel.provenance.modelHash = "0000";
        expectRefusal({first, otherModel}, "model hash");
        auto otherData = second;
        otherData.provenance.datasetHash = "1111";
        expectRefusal({first, otherData}, "dataset hash");
        auto otherJudge = second;
        otherJudge.judgeName = "rules-v1 (heuristic)";
        expectRefusal({first, otherJudge}, "judge");
        auto otherSettings = second;
        otherSettings.provenance.settings["max_new_tokens"] = 64;
        expectRefusal({first, otherSettings}, "settings");
        expectRefusal({first, first}, "given twice");
        expectRefusal({first}, "shard 2/2: missing");
        // A case of shard 1 inside shard 2: its position does not belong there.
        auto foreignCase = second;
        foreignCase.cases.push_back(first.cases.front());
        expectRefusal({first, foreignCase}, "outside this shard");
        // The same case twice: shards must cover disjoint cases.
        auto repeatedCase = second;
        repeatedCase.cases.push_back(second.cases.front());
        expectRefusal({first, repeatedCase}, "disjoint");
    }

    void cancellationStopsBetweenBatches() {
        detox::Model model = tinyModel(1, tokenizerDir_);
        ParityJudge judge;
        auto settings = quickSettings();
        settings.limit = 9;
        settings.batchSize = 3;
        std::vector<int> reportedSteps;
        detox::JobControl* control = nullptr;
        detox::JobControl job([&](const detox::Progress& progress) {
            reportedSteps.push_back(progress.step);
            if (progress.step >= 3) control->requestCancel();  // after the first batch of three cases
        });
        control = &job;
        QVERIFY_THROWS_EXCEPTION(detox::Cancelled, detox::evaluate(model, demo_, judge, settings, job));
        QCOMPARE(reportedSteps, (std::vector<int>{0, 3}));
        int firstBatchResponses = 0;
        for (size_t i = 0; i < 3; ++i) firstBatchResponses += demo_.records[i].generalization ? 5 : 1;
        QCOMPARE(judge.judged, firstBatchResponses);
    }

    void knowledgeScoresMatchForwardLogits() {
        detox::Model model = tinyModel(5, tokenizerDir_);
        detox::Model reference = tinyModel(6, tokenizerDir_);
        const detox::Tokenizer& tokenizer = model.tokenizer();

        // A record whose answer is the model's own greedy continuation for two tokens, then one token it
        // does not predict: teacher-forced accuracy 2/3 exactly. Prompts are tried until the greedy tokens
        // are printable ASCII (so the answer text encodes back to the same ids).
        detox::SafeEditDataset dataset = demo_;
        dataset.records.resize(3);
        detox::GenerationSettings greedy;
        greedy.maxNewTokens = 3;
        bool found = false;
        for (int attempt = 0; attempt < 400 && !found; ++attempt) {
            const std::string prompt = "Question " + std::to_string(attempt) + ":";
            const auto ids = tokenizer.encode(prompt, true);
            const auto generated = model.generate({ids}, greedy).at(0).outputIds;
            if (generated.size() < 3) continue;
            if (!std::all_of(generated.begin(), generated.end(), [](int id) { return id >= 32 && id < 127; })) continue;
            std::string answer;
            answer += char(generated[0]);
            answer += char(generated[1]);
            answer += char(generated[2] == 'x' ? 'y' : 'x');
            dataset.records[0].knowledge = detox::KnowledgeConstraint{prompt, answer};
            found = true;
        }
        QVERIFY2(found, "no prompt with a printable greedy continuation");

        ParityJudge judge;
        auto settings = quickSettings();
        settings.maxNewTokens = 1;
        const auto result = detox::evaluate(model, dataset, judge, settings, detox::noJobControl(), &reference);
        QVERIFY(std::abs(*result.cases.at(0).knowledgeAccuracy - 2.0 / 3.0) < 1e-12);
        QCOMPARE(result.cases.at(0).knowledgeTokens, 3);

        // Independently: forward each prompt + answer alone; argmax and KL(reference || model) per position.
        double accuracySum = 0, klSum = 0;
        for (size_t i = 0; i < result.cases.size(); ++i) {
            const auto& knowledge = *dataset.records[i].knowledge;
            auto sequence = tokenizer.encode(knowledge.prompt, true);
            const size_t promptLength = sequence.size();
            const auto answer = tokenizer.encode(knowledge.answer, false);
            sequence.insert(sequence.end(), answer.begin(), answer.end());
            const auto logits = model.forward({sequence}).logits;
            const auto referenceLogits = reference.forward({sequence}).logits;
            const size_t vocab = size_t(logits.shape[2]);
            int correct = 0;
            double kl = 0;
            for (size_t position = promptLength; position < sequence.size(); ++position) {
                const float* row = &logits.values[(position - 1) * vocab];
                const float* referenceRow = &referenceLogits.values[(position - 1) * vocab];
                correct += int(std::max_element(row, row + vocab) - row) == sequence[position] ? 1 : 0;
                const auto logQ = logSoftmax(row, vocab), logP = logSoftmax(referenceRow, vocab);
                for (size_t v = 0; v < vocab; ++v) kl += std::exp(double(logP[v])) * (double(logP[v]) - logQ[v]);
            }
            const double accuracy = double(correct) / double(answer.size());
            const double meanKl = kl / double(answer.size());
            QVERIFY2(std::abs(*result.cases[i].knowledgeAccuracy - accuracy) < 1e-12, qPrintable(QString::number(i)));
            QVERIFY2(std::abs(*result.cases[i].knowledgeKl - meanKl) < 1e-4 * std::max(1.0, meanKl),
                     qPrintable(QString("%1 vs %2").arg(*result.cases[i].knowledgeKl).arg(meanKl)));
            QVERIFY(meanKl > 0.01);  // different random models really disagree
            accuracySum += accuracy;
            klSum += meanKl;
        }
        QVERIFY(std::abs(*result.metrics.knowledgeAccuracy - accuracySum / 3) < 1e-12);
        QVERIFY(std::abs(*result.metrics.knowledgeKl - klSum / 3) < 1e-4);
        QCOMPARE(result.referenceModelHash, reference.contentHash());

        // Against itself the KL is zero.
        const auto self = detox::evaluate(model, dataset, judge, settings, detox::noJobControl(), &model);
        QVERIFY(std::abs(*self.metrics.knowledgeKl) < 1e-6);
    }

    void generalAbilityFiles() {
        detox::Model model = tinyModel(1, tokenizerDir_);
        const std::string dir = detox::test::scratchDir().toStdString();
        std::ofstream(dir + "/qa.jsonl") << "{\"question\": \"What?\", \"answer\": \"x\"}\n\n"
                                            "{\"question\": \"Who?\", \"answer\": [\"y\", \"z\"]}\n";
        std::ofstream(dir + "/sum.jsonl") << "{\"document\": \"A long text.\", \"summary\": \"Short.\"}\n";
        ParityJudge judge;
        auto settings = quickSettings();
        settings.ids = {demo_.records[0].id};
        settings.generalQaPath = dir + "/qa.jsonl";
        settings.generalSummariesPath = dir + "/sum.jsonl";
        settings.qaMaxNewTokens = 3;
        settings.summaryMaxNewTokens = 3;
        const auto result = detox::evaluate(model, demo_, judge, settings);
        QCOMPARE(result.metrics.general.qaItems, 2);
        QVERIFY(result.metrics.general.qaExactMatch.has_value());
        QCOMPARE(result.metrics.general.summaryItems, 1);
        QVERIFY(result.metrics.general.summaryRouge1.has_value());
        const nlohmann::json metrics = nlohmann::json(result).at("metrics");
        QVERIFY(metrics.contains("qa_exact_match") && metrics.contains("summary_rouge1") && !metrics.contains("perplexity"));

        std::ofstream(dir + "/bad.jsonl") << "{\"question\": 3}\n";
        settings.generalQaPath = dir + "/bad.jsonl";
        try {
            detox::evaluate(model, demo_, judge, settings);
            QFAIL("expected detox::Error");
        } catch (const detox::Error& e) {
            QVERIFY2(QString(e.what()).contains("bad.jsonl"), e.what());
        }
    }
};

QTEST_GUILESS_MAIN(EvaluationTest)
#include "test_evaluation.moc"
