// Ablation (detox/analysis/ablation.h): ablating no neurons changes nothing (bit-identical scores and answers),
// zero-ablation writes only the chosen neurons, projecting out the diff-of-means direction leaves the
// activation orthogonal to it, mean-ablation's values and the top-neuron ranking equal a computation through
// the Toxic region view's own reader, the metric equals log-probabilities from the public forward's logits,
// sharded runs merge into the unsharded one, JSON round trips, and `detox ablate` end to end.
#include <QtTest>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli_run.h"
#include "detox/analysis/ablation.h"
#include "detox/analysis/record_study.h"
#include "detox/error.h"
#include "detox/runtime/inspect.h"
#include "detox/safeedit/evaluation.h"
#include "detox/safeedit/safeedit.h"
#include "fixtures.h"
#include "tiny_model.h"

using namespace detox;

namespace {

constexpr int kLayers = 3;
constexpr int kLayer = 1;

// The mean over tokens of mlp_act at kLayer, read by the Toxic region view's reader (inspect.h).
std::vector<double> regionMean(const Model& model, const std::vector<int>& ids) {
    return neuronActivations(model, kLayer, ids).meanOverTokens();
}

FloatTensor capture(const Model& model, const std::vector<int>& ids, Capture point, int layer,
                    std::vector<Intervention> writes = {}) {
    CaptureRequest request;
    request.points = {point};
    request.layers = {layer};
    request.interventions = std::move(writes);
    return model.forward({ids}, request).captures.at(captureKey(point, layer));
}

// log p(generation | prompt) from the public forward's logits, in double.
double logProbability(const Model& model, const std::vector<int>& prompt, const std::vector<int>& generation) {
    std::vector<int> ids = prompt;
    ids.insert(ids.end(), generation.begin(), generation.end());
    const FloatTensor logits = model.forward({ids}).logits;
    const int64_t vocab = logits.shape[2];
    double total = 0;
    for (size_t g = 0; g < generation.size(); ++g) {
        const int64_t t = int64_t(prompt.size() + g) - 1;
        double largest = -1e300, sum = 0;
        for (int64_t v = 0; v < vocab; ++v) largest = std::max(largest, double(logits.at({0, t, v})));
        for (int64_t v = 0; v < vocab; ++v) sum += std::exp(double(logits.at({0, t, v})) - largest);
        total += double(logits.at({0, t, generation[g]})) - largest - std::log(sum);
    }
    return total;
}

nlohmann::json withoutTimes(nlohmann::json records) {
    for (auto& record : records) record.erase("seconds");
    return records;
}

nlohmann::json readJson(const QString& path) {
    std::ifstream in(path.toStdString());
    return nlohmann::json::parse(in);
}

}  // namespace

class AblationTest : public QObject {
    Q_OBJECT

    QString dir_;
    SafeEditDataset data_;

    Model model() const { return test::tinyLlama(7, dir_.toStdString(), kLayers, 10.0); }
    const SafeEditRecord& record(int id) const { return *data_.findById(id); }

    AblationSettings settings(AblationTarget target) const {
        AblationSettings s;
        s.layer = kLayer;
        s.target = target;
        s.topK = 5;
        s.maxNewTokens = 6;
        s.maxGenerationTokens = 24;
        return s;
    }

    std::vector<std::vector<int>> regionIds(const Model& m, int id, int maxTokens) const {
        return regionInputIds(m, record(id), maxTokens, ChatTemplate::Plain);
    }

private Q_SLOTS:
    void initTestCase() {
        dir_ = test::scratchDir();
        test::writeByteLevelTokenizer(dir_.toStdString());
        data_ = loadSafeEdit(demoDatasetPath("test"));
    }

    void ablatingNoNeuronsChangesNothing() {
        const Model m = model();
        AblationSettings s = settings(AblationTarget::Neurons);
        s.neurons = {};
        const AblationRecordResult result = ablateRecord(m, data_, record(0), s);
        QVERIFY(ablationInterventions(result.plan).empty());
        QVERIFY(!result.plan.means);  // zero-ablating given neurons reads no means
        QCOMPARE(result.after.score.logPSafe, result.before.score.logPSafe);  // bit-identical
        QCOMPARE(result.after.score.logPUnsafe, result.before.score.logPUnsafe);
        QCOMPARE(result.after.generation, result.before.generation);
        QCOMPARE(result.metricChange(), 0.0);
    }

    void metricAndAnswerAreTheEvaluationsOwn() {
        const Model m = model();
        AblationSettings s = settings(AblationTarget::Neurons);
        s.neurons = {2, 9};
        const AblationRecordResult result = ablateRecord(m, data_, record(1), s);
        const Tokenizer& tokenizer = m.tokenizer();
        const std::vector<int> prompt = promptIds(tokenizer, record(1).adversarialPrompt, ChatTemplate::Plain);
        const std::vector<int> safe = tokenizer.encode(record(1).safeGeneration, false);
        const std::vector<int> unsafe = tokenizer.encode(record(1).unsafeGeneration, false);
        QCOMPARE(result.promptTokens, int(prompt.size()));
        QCOMPARE(result.safeTokens, int(safe.size()));
        QVERIFY(std::abs(result.before.score.logPSafe - logProbability(m, prompt, safe)) < 1e-3);
        QVERIFY(std::abs(result.before.score.logPUnsafe - logProbability(m, prompt, unsafe)) < 1e-3);
        QCOMPARE(result.before.generation,
                 generateResponses(m, {record(1).adversarialPrompt}, ChatTemplate::Plain, s.maxNewTokens).front().text);
        // Two neurons of a 48-wide MLP at a weight scale of 10 move the scores.
        QVERIFY(result.after.score.logPSafe != result.before.score.logPSafe);
        QVERIFY(result.before.unsafe == 0 || result.before.unsafe == 0.5 || result.before.unsafe == 1);
        QVERIFY(!result.before.verdictReason.empty());
        QCOMPARE(result.context.size(), size_t(2));
    }

    void zeroAblationTouchesOnlyTheNeurons() {
        const Model m = model();
        AblationSettings s = settings(AblationTarget::TopRegionNeurons);
        const AblationPlan plan = planAblation(m, data_, record(0), s);
        QCOMPARE(plan.neurons.size(), size_t(5));
        QCOMPARE(plan.values, std::vector<double>(5, 0.0));
        const std::vector<int> ids = regionIds(m, 0, 40)[0];
        const FloatTensor plain = capture(m, ids, Capture::MlpAct, kLayer);
        const FloatTensor ablated = capture(m, ids, Capture::MlpAct, kLayer, ablationInterventions(plan));
        const int64_t width = plain.shape[2];
        int zeros = 0;
        for (int64_t t = 0; t < plain.shape[1]; ++t)
            for (int64_t n = 0; n < width; ++n) {
                const bool chosen = std::count(plan.neurons.begin(), plan.neurons.end(), int(n)) > 0;
                const float after = ablated.at({0, t, n});
                if (chosen) {
                    QCOMPARE(after, 0.0f);
                    zeros += plain.at({0, t, n}) != 0.0f;
                } else {
                    QCOMPARE(after, plain.at({0, t, n}));
                }
            }
        QVERIFY(zeros > 0);  // the neurons were active before
    }

    void topNeuronsAndMeanValuesByHand() {
        const Model m = model();
        AblationSettings s = settings(AblationTarget::TopRegionNeurons);
        s.mode = AblationMode::Mean;
        const AblationPlan plan = planAblation(m, data_, record(2), s);
        // The Toxic region view's ranking and reader, independently of the ablation's code.
        const auto ids = regionIds(m, 2, s.maxGenerationTokens);
        const std::vector<double> safe = regionMean(m, ids[1]), unsafe = regionMean(m, ids[2]);
        QCOMPARE(plan.neurons, mostDifferentNeurons(safe, unsafe, 5));
        for (size_t i = 0; i < plan.neurons.size(); ++i) {
            const size_t n = size_t(plan.neurons[i]);
            QVERIFY(std::abs(plan.values[i] - (safe[n] + unsafe[n]) / 2) < 1e-6);
            QVERIFY(std::abs(plan.neuronGaps[i] - (unsafe[n] - safe[n])) < 1e-6);
        }
        QVERIFY(plan.means);
        QCOMPARE(plan.means->source, std::string("record"));
        QCOMPARE(plan.means->recordIds, std::vector<int>{2});
        QCOMPARE(plan.means->texts, 2);
        QCOMPARE(plan.means->tokens, (long long)(ids[1].size() + ids[2].size()));
        // The written values are the means, at every position.
        const FloatTensor ablated = capture(m, ids[0], Capture::MlpAct, kLayer, ablationInterventions(plan));
        for (size_t i = 0; i < plan.neurons.size(); ++i)
            QVERIFY(std::abs(ablated.at({0, 3, plan.neurons[i]}) - plan.values[i]) < 1e-6);
    }

    void meansOverASetOfRecordsByHand() {
        const Model m = model();
        AblationSettings s = settings(AblationTarget::Neurons);
        s.neurons = {0, 17, 47};
        s.mode = AblationMode::Mean;
        s.meanSource = MeanSource::Records;
        s.meanRecordIds = {0, 3};
        const AblationPlan plan = planAblation(m, data_, record(5), s);
        std::vector<double> expected(3, 0.0);
        for (int id : {0, 3}) {
            const auto ids = regionIds(m, id, s.maxGenerationTokens);
            for (const auto& text : {ids[1], ids[2]}) {
                const std::vector<double> mean = regionMean(m, text);
                for (size_t i = 0; i < 3; ++i) expected[i] += mean[size_t(s.neurons[i])] / 4;
            }
        }
        for (size_t i = 0; i < 3; ++i) QVERIFY2(std::abs(plan.values[i] - expected[i]) < 1e-6, qPrintable(QString::number(i)));
        QCOMPARE(plan.means->source, std::string("records"));
        QCOMPARE(plan.means->recordIds, (std::vector<int>{0, 3}));
        QCOMPARE(plan.means->texts, 4);
    }

    void projectingOutTheDirectionLeavesItOrthogonal() {
        const Model m = model();
        AblationSettings s = settings(AblationTarget::Direction);
        const AblationPlan plan = planAblation(m, data_, record(0), s);
        QCOMPARE(plan.point, std::string("resid_post"));
        QCOMPARE(plan.direction.size(), size_t(32));
        // d = mean unsafe - mean safe of resid_post, by hand from captures.
        const auto ids = regionIds(m, 0, s.maxGenerationTokens);
        auto meanOf = [&](const std::vector<int>& text) {
            const FloatTensor x = capture(m, text, Capture::ResidPost, kLayer);
            std::vector<double> mean(32, 0.0);
            for (int64_t t = 0; t < x.shape[1]; ++t)
                for (int64_t i = 0; i < 32; ++i) mean[size_t(i)] += x.at({0, t, i}) / double(x.shape[1]);
            return mean;
        };
        const auto safe = meanOf(ids[1]), unsafe = meanOf(ids[2]);
        for (size_t i = 0; i < 32; ++i) QVERIFY(std::abs(plan.direction[i] - (unsafe[i] - safe[i])) < 1e-4);
        const FloatTensor before = capture(m, ids[0], Capture::ResidPost, kLayer);
        const FloatTensor after = capture(m, ids[0], Capture::ResidPost, kLayer, ablationInterventions(plan));
        for (int64_t t = 0; t < after.shape[1]; ++t) {
            double along = 0, alongBefore = 0, norm = 0;
            for (int64_t i = 0; i < 32; ++i) {
                along += after.at({0, t, i}) * plan.direction[size_t(i)];
                alongBefore += before.at({0, t, i}) * plan.direction[size_t(i)];
                norm += double(after.at({0, t, i})) * after.at({0, t, i});
            }
            QVERIFY2(std::abs(along) / plan.directionNorm < 1e-4 * std::sqrt(norm) + 1e-5, qPrintable(QString::number(along)));
            if (t == 0) QVERIFY(std::abs(alongBefore) / plan.directionNorm > 1e-3);  // it had a component
        }
    }

    void badSettingsAreRefused() {
        const Model m = model();
        auto refused = [&](AblationSettings s, const char* fragment) {
            try {
                planAblation(m, data_, record(0), s);
                QFAIL("expected detox::Error");
            } catch (const Error& e) {
                QVERIFY2(QString(e.what()).contains(fragment), e.what());
            }
        };
        AblationSettings s = settings(AblationTarget::Neurons);
        s.neurons = {48};
        refused(s, "neuron 48");
        s = settings(AblationTarget::TopRegionNeurons);
        s.topK = 0;
        refused(s, "top k");
        s.layer = kLayers;
        refused(s, "layer");
        s = settings(AblationTarget::Neurons);
        s.neurons = {1};
        s.mode = AblationMode::Mean;
        s.meanSource = MeanSource::Records;
        refused(s, "mean records");
        s.meanRecordIds = {987654};
        refused(s, "987654");
    }

    void shardsMergeIntoTheUnshardedRun() {
        const Model m = model();
        AblationSettings s = settings(AblationTarget::TopRegionNeurons);
        s.topK = 3;
        s.maxNewTokens = 3;
        const std::vector<int> ids = {4, 0, 2};
        const AblationResult whole = ablateRecords(m, data_, ids, s);
        QCOMPARE(whole.records.size(), size_t(3));
        QCOMPARE(whole.records[0].recordId, 4);
        const AblationResult first = ablateRecords(m, data_, ids, s, nullptr, 1, 2);
        const AblationResult second = ablateRecords(m, data_, ids, s, nullptr, 2, 2);
        QCOMPARE(first.records.size(), size_t(2));
        QCOMPARE(second.records.size(), size_t(1));
        const AblationResult merged = mergeAblations({second, first});
        QCOMPARE(merged.shardCount, 1);
        QCOMPARE(withoutTimes(nlohmann::json(merged.records)).dump(), withoutTimes(nlohmann::json(whole.records)).dump());
        QCOMPARE(merged.meanMetricChange, whole.meanMetricChange);
        QCOMPARE(merged.unsafeAfter, whole.unsafeAfter);
        QCOMPARE(nlohmann::json(merged.provenance.context).dump(), nlohmann::json(whole.provenance.context).dump());

        auto refusal = [](const std::vector<AblationResult>& shards) -> std::string {
            try {
                mergeAblations(shards);
            } catch (const Error& e) {
                return e.what();
            }
            return "merged";
        };
        QVERIFY(refusal({first, first}).find("given twice") != std::string::npos);
        QVERIFY(refusal({first}).find("shard 2/2: missing") != std::string::npos);
        AblationResult other = second;
        other.provenance.settings["top_k"] = 4;
        QVERIFY2(refusal({first, other}).find("settings") != std::string::npos, refusal({first, other}).c_str());
    }

    void jsonRoundTrip() {
        const Model m = model();
        AblationSettings s = settings(AblationTarget::Direction);
        s.maxNewTokens = 2;
        const AblationResult result = ablateRecords(m, data_, {1}, s);
        const nlohmann::json json = result;
        QCOMPARE(json["kind"].get<std::string>(), std::string("ablation"));
        QCOMPARE(json["provenance"]["method"].get<std::string>(), std::string("ablate"));
        QCOMPARE(json["provenance"]["settings"]["mean_source"].get<std::string>(), std::string("record"));
        QCOMPARE(json["provenance"]["settings"]["chat_template"].get<std::string>(), std::string("plain"));
        QCOMPARE(nlohmann::json(json.get<AblationResult>()), json);
        QVERIFY_THROWS_EXCEPTION(Error, nlohmann::json::object({{"kind", "activation_patching"}}).get<AblationResult>());
    }

    void cliWritesTheResultAndRefusesBadOptions() {
        const QString dir = test::scratchDir();
        const QString modelDir = dir + "/model";
        test::writeTinyLlama(modelDir.toStdString(), 3, kLayers);
        const QString data = QString::fromStdString(demoDatasetPath("test"));
        const QString out = dir + "/ablate.json";
        const test::CliRun ok =
            test::runCli({"ablate", "--model", modelDir, "--data", data, "--ids", "0,1", "--layer", "2", "--neurons",
                          "top:4", "--mode", "mean", "--max-new-tokens", "4", "--out", out});
        QVERIFY2(ok.exitCode == 0, qPrintable(ok.err));
        const nlohmann::json json = readJson(out);
        QCOMPARE(json["records"].size(), size_t(2));
        QCOMPARE(json["layer"].get<int>(), 2);
        QCOMPARE(json["mode"].get<std::string>(), std::string("mean"));
        QCOMPARE(json["records"][0]["plan"]["neurons"].size(), size_t(4));
        QVERIFY(json["records"][1]["after"]["score"]["metric"].is_number());
        QVERIFY2(ok.out.contains("metric change"), qPrintable(ok.out));

        const test::CliRun direction = test::runCli({"ablate", "--model", modelDir, "--data", data, "--ids", "1",
                                                     "--layer", "0", "--direction", "diff-of-means", "--max-new-tokens",
                                                     "2", "--out", dir + "/direction.json"});
        QVERIFY2(direction.exitCode == 0, qPrintable(direction.err));
        QCOMPARE(readJson(dir + "/direction.json")["mode"].get<std::string>(), std::string("project_out"));

        const auto bad = [&](const QStringList& extra, const QString& fragment) {
            const test::CliRun run = test::runCli(
                QStringList{"ablate", "--model", modelDir, "--data", data, "--ids", "0", "--out", dir + "/bad.json"} + extra);
            QVERIFY2(run.exitCode == 2, qPrintable(QString("exit %1: %2").arg(run.exitCode).arg(run.err)));
            QVERIFY2(run.err.contains(fragment), qPrintable(run.err));
            QVERIFY(!QFile::exists(dir + "/bad.json"));
        };
        bad({"--neurons", "top:4"}, "--layer");
        bad({"--layer", "1"}, "--neurons");
        bad({"--layer", "1", "--neurons", "top:0"}, "--neurons");
        bad({"--layer", "1", "--neurons", "3,x"}, "--neurons");
        bad({"--layer", "1", "--neurons", "3", "--direction", "diff-of-means"}, "--direction");
        bad({"--layer", "1", "--direction", "pca"}, "--direction");
        bad({"--layer", "1", "--neurons", "3", "--mode", "half"}, "--mode");
        bad({"--layer", "9", "--neurons", "3"}, "layer");
        bad({"--layer", "1", "--neurons", "480"}, "neuron 480");
        bad({"--layer", "1", "--neurons", "3", "--shard", "3/2"}, "--shard");
    }

    void cliShardsMerge() {
        const QString dir = test::scratchDir();
        const QString modelDir = dir + "/model";
        test::writeTinyLlama(modelDir.toStdString(), 5, 2);
        const QString data = QString::fromStdString(demoDatasetPath("test"));
        const QStringList common = {"ablate", "--model", modelDir, "--data", data, "--ids", "3,1,0", "--layer", "1",
                                    "--neurons", "2,5", "--max-new-tokens", "3"};
        QVERIFY(test::runCli(common + QStringList{"--out", dir + "/whole.json"}).exitCode == 0);
        QVERIFY(test::runCli(common + QStringList{"--shard", "1/2", "--out", dir + "/s1.json"}).exitCode == 0);
        QVERIFY(test::runCli(common + QStringList{"--shard", "2/2", "--out", dir + "/s2.json"}).exitCode == 0);
        const test::CliRun merge = test::runCli({"merge", dir + "/s2.json", dir + "/s1.json", "--out", dir + "/merged.json"});
        QVERIFY2(merge.exitCode == 0, qPrintable(merge.err));
        const nlohmann::json merged = readJson(dir + "/merged.json"), whole = readJson(dir + "/whole.json");
        QCOMPARE(withoutTimes(merged["records"]).dump(), withoutTimes(whole["records"]).dump());
        QCOMPARE(merged["summary"].dump(), whole["summary"].dump());
        QCOMPARE(merged["shard"]["count"].get<int>(), 1);
    }
};

QTEST_GUILESS_MAIN(AblationTest)
#include "test_ablation.moc"
