// Writable capture points (Intervention) and activation patching: self-patching changes nothing (bit-identical
// logits), the last layer's resid_post at the final position carries the clean run's next-token logits,
// scale 1 / empty selections change nothing, project-out leaves the activation orthogonal, add and scale
// do what they say (read back through captures), generation is steered, a hand-checked recovered fraction,
// the cost count, JSON, and `detox patch` end to end.
#include <QtTest>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli_run.h"
#include "detox/analysis/patching.h"
#include "detox/runtime/inspect.h"
#include "detox/safeedit/evaluation.h"
#include "detox/safeedit/safeedit.h"
#include "fixtures.h"
#include "tiny_model.h"

using namespace detox;

namespace {

constexpr int kLayers = 3;

Model testModel() { return test::tinyLlama(7, {}, kLayers, 10.0); }

const std::vector<int> kCorrupt = {5, 77, 12, 200, 31, 9, 140, 66, 3};
const std::vector<int> kClean = {44, 12, 190, 7, 81};

ForwardOutput run(const Model& model, const std::vector<int>& ids, std::vector<Intervention> writes = {},
                  std::vector<Capture> points = {}) {
    CaptureRequest request;
    request.points = std::move(points);
    request.interventions = std::move(writes);
    return model.forward({ids}, request);
}

// Row t of a [1, seq, width] capture.
std::vector<float> rowAt(const FloatTensor& tensor, int64_t t) {
    const int64_t width = tensor.shape.back();
    return std::vector<float>(tensor.values.begin() + t * width, tensor.values.begin() + (t + 1) * width);
}

FloatTensor vectorTensor(const std::vector<float>& values) { return {{int64_t(values.size())}, values}; }

double dot(const std::vector<float>& a, const std::vector<float>& b) {
    double sum = 0;
    for (size_t i = 0; i < a.size(); ++i) sum += double(a[i]) * b[i];
    return sum;
}

double maxAbsDifference(const std::vector<float>& a, const std::vector<float>& b) {
    double worst = 0;
    for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(double(a[i]) - b[i]));
    return worst;
}

// log p of `generation` after `prompt` from the public forward's logits, token by token.
std::vector<double> tokenLogProbs(const Model& model, const std::vector<int>& prompt, const std::vector<int>& generation) {
    std::vector<int> ids = prompt;
    ids.insert(ids.end(), generation.begin(), generation.end());
    const FloatTensor logits = run(model, ids).logits;
    const int64_t vocab = logits.shape[2];
    std::vector<double> result;
    for (size_t g = 0; g < generation.size(); ++g) {
        const int64_t t = int64_t(prompt.size() + g) - 1;
        double largest = -1e300;
        for (int64_t v = 0; v < vocab; ++v) largest = std::max(largest, double(logits.at({0, t, v})));
        double sum = 0;
        for (int64_t v = 0; v < vocab; ++v) sum += std::exp(double(logits.at({0, t, v})) - largest);
        result.push_back(double(logits.at({0, t, generation[g]})) - largest - std::log(sum));
    }
    return result;
}

double total(const std::vector<double>& values) {
    double sum = 0;
    for (double v : values) sum += v;
    return sum;
}

nlohmann::json readJson(const QString& path) {
    std::ifstream in(path.toStdString());
    return nlohmann::json::parse(in);
}

// Records' JSON without the wall times (they differ from run to run).
nlohmann::json withoutTimes(nlohmann::json records) {
    for (auto& record : records) {
        record["cost"].erase("seconds");
        record["cost"].erase("one_forward_seconds");
    }
    return records;
}

// The tiny model with the byte-level tokenizer (for records).
Model recordModel() {
    static const QString dir = [] {
        const QString scratch = test::scratchDir();
        test::writeByteLevelTokenizer(scratch.toStdString());
        return scratch;
    }();
    return test::tinyLlama(7, dir.toStdString(), kLayers, 10.0);
}

}  // namespace

class PatchingTest : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void patchingWithOwnActivationsChangesNothing() {
        const Model model = testModel();
        const auto points = std::vector<Capture>{Capture::ResidPre, Capture::ResidMid, Capture::ResidPost,
                                                 Capture::AttnOut, Capture::MlpOut, Capture::MlpAct};
        const ForwardOutput plain = run(model, kCorrupt, {}, points);
        for (Capture point : points)
            for (int layer = 0; layer < kLayers; ++layer) {
                Intervention write;
                write.point = point;
                write.layer = layer;
                write.kind = Intervention::Kind::Replace;
                for (int t = 0; t < int(kCorrupt.size()); ++t) write.positions.push_back(t);
                const FloatTensor own = plain.captures.at(captureKey(point, layer));
                write.values = {{own.shape[1], own.shape[2]}, own.values};
                const ForwardOutput patched = run(model, kCorrupt, {write});
                QVERIFY2(patched.logits.values == plain.logits.values, qPrintable(QString::fromStdString(captureKey(point, layer))));
            }
    }

    void lastLayerFinalPositionCarriesTheCleanLogits() {
        const Model model = testModel();
        const ForwardOutput clean = run(model, kClean, {}, {Capture::ResidPost});
        const ForwardOutput corrupt = run(model, kCorrupt);
        const FloatTensor cleanLast = clean.captures.at(captureKey(Capture::ResidPost, kLayers - 1));
        Intervention write;
        write.point = Capture::ResidPost;
        write.layer = kLayers - 1;
        write.positions = {-1};
        write.values = vectorTensor(rowAt(cleanLast, int64_t(kClean.size()) - 1));
        const ForwardOutput patched = run(model, kCorrupt, {write});
        const int64_t vocab = clean.logits.shape[2];
        const auto lastRow = [&](const FloatTensor& logits, size_t length) {
            return std::vector<float>(logits.values.begin() + int64_t(length - 1) * vocab,
                                      logits.values.begin() + int64_t(length) * vocab);
        };
        const auto cleanNext = lastRow(clean.logits, kClean.size());
        QVERIFY(maxAbsDifference(lastRow(corrupt.logits, kCorrupt.size()), cleanNext) > 1e-2);  // they differed
        QVERIFY2(maxAbsDifference(lastRow(patched.logits, kCorrupt.size()), cleanNext) < 1e-5,
                 qPrintable(QString::number(maxAbsDifference(lastRow(patched.logits, kCorrupt.size()), cleanNext))));
        // Earlier positions are untouched (causal: nothing before the patch reads it).
        QVERIFY(std::equal(corrupt.logits.values.begin(), corrupt.logits.values.begin() + int64_t(kCorrupt.size() - 1) * vocab,
                           patched.logits.values.begin()));
    }

    void emptyAblationsChangeNothing() {
        const Model model = testModel();
        const ForwardOutput plain = run(model, kCorrupt);
        Intervention unit;  // scale 1 on every neuron
        unit.point = Capture::MlpAct;
        unit.layer = 1;
        unit.kind = Intervention::Kind::Scale;
        unit.scale = 1.0f;
        QVERIFY(run(model, kCorrupt, {unit}).logits.values == plain.logits.values);
        Intervention nowhere;  // a position the sequence does not have: no entry selected
        nowhere.point = Capture::MlpAct;
        nowhere.layer = 1;
        nowhere.kind = Intervention::Kind::Replace;
        nowhere.neurons = {2, 5};
        nowhere.positions = {50};
        nowhere.values = vectorTensor({0.0f, 0.0f});
        QVERIFY(run(model, kCorrupt, {nowhere}).logits.values == plain.logits.values);
        QVERIFY(run(model, kCorrupt, {nowhere, unit}).logits.values == plain.logits.values);
    }

    void zeroAblationOfNeuronsTouchesOnlyThem() {
        const Model model = testModel();
        const ForwardOutput plain = run(model, kCorrupt, {}, {Capture::MlpAct});
        Intervention zero;
        zero.point = Capture::MlpAct;
        zero.layer = 0;
        zero.neurons = {3, 7};
        zero.values = vectorTensor({0.0f, 0.0f});
        const ForwardOutput ablated = run(model, kCorrupt, {zero}, {Capture::MlpAct});
        const FloatTensor before = plain.captures.at("mlp_act.0"), after = ablated.captures.at("mlp_act.0");
        for (int64_t t = 0; t < before.shape[1]; ++t)
            for (int64_t n = 0; n < before.shape[2]; ++n) {
                if (n == 3 || n == 7)
                    QCOMPARE(after.at({0, t, n}), 0.0f);
                else
                    QCOMPARE(after.at({0, t, n}), before.at({0, t, n}));
            }
        QVERIFY(ablated.logits.values != plain.logits.values);
    }

    void projectingOutLeavesTheActivationOrthogonal() {
        const Model model = testModel();
        const ForwardOutput plain = run(model, kCorrupt, {}, {Capture::ResidMid});
        const FloatTensor before = plain.captures.at("resid_mid.1");
        std::vector<float> direction = rowAt(before, 0);  // mostly along position 0's activation
        for (int i = 0; i < 32; ++i) direction[size_t(i)] += 0.1f * std::sin(0.7f * float(i));
        Intervention project;
        project.point = Capture::ResidMid;
        project.layer = 1;
        project.kind = Intervention::Kind::ProjectOut;
        project.positions = {-2, 0};
        project.values = vectorTensor(direction);
        const ForwardOutput projected = run(model, kCorrupt, {project}, {Capture::ResidMid});
        const FloatTensor after = projected.captures.at("resid_mid.1");
        const double norm = std::sqrt(dot(direction, direction));
        for (int64_t t = 0; t < int64_t(kCorrupt.size()); ++t) {
            const auto a = rowAt(after, t), b = rowAt(before, t);
            if (t == 0 || t == int64_t(kCorrupt.size()) - 2) {
                QVERIFY2(std::abs(dot(a, direction)) / norm < 1e-5 * std::sqrt(dot(b, b)),
                         qPrintable(QString::number(dot(a, direction) / norm)));
                if (t == 0) QVERIFY(std::abs(dot(b, direction)) / norm > 0.5 * std::sqrt(dot(b, b)));  // a component to remove
                // Only the component along the direction went: b - a is parallel to it.
                std::vector<float> removed;
                for (size_t i = 0; i < a.size(); ++i) removed.push_back(b[i] - a[i]);
                QVERIFY(std::abs(std::abs(dot(removed, direction)) / norm - std::sqrt(dot(removed, removed))) < 1e-4);
            } else {
                QVERIFY(a == b);
            }
        }
    }

    void addAndScaleDoWhatTheySay() {
        const Model model = testModel();
        const ForwardOutput plain = run(model, kCorrupt, {}, {Capture::AttnOut});
        std::vector<float> v;
        for (int i = 0; i < 32; ++i) v.push_back(0.01f * float(i) - 0.1f);
        Intervention add;
        add.point = Capture::AttnOut;
        add.layer = 2;
        add.kind = Intervention::Kind::Add;
        add.positions = {1};
        add.scale = 2.0f;
        add.values = vectorTensor(v);
        const FloatTensor before = plain.captures.at("attn_out.2");
        const FloatTensor added = run(model, kCorrupt, {add}, {Capture::AttnOut}).captures.at("attn_out.2");
        for (int64_t t = 0; t < int64_t(kCorrupt.size()); ++t)
            for (int64_t h = 0; h < 32; ++h) {
                if (t == 1)
                    QVERIFY(std::abs(added.at({0, t, h}) - (before.at({0, t, h}) + 2.0f * v[size_t(h)])) < 1e-6);
                else
                    QCOMPARE(added.at({0, t, h}), before.at({0, t, h}));
            }
        Intervention half;
        half.point = Capture::AttnOut;
        half.layer = 2;
        half.kind = Intervention::Kind::Scale;
        half.scale = 0.5f;
        half.neurons = {0, 31};
        const FloatTensor scaled = run(model, kCorrupt, {half}, {Capture::AttnOut}).captures.at("attn_out.2");
        for (int64_t t = 0; t < int64_t(kCorrupt.size()); ++t)
            for (int64_t h = 0; h < 32; ++h)
                QCOMPARE(scaled.at({0, t, h}), (h == 0 || h == 31) ? 0.5f * before.at({0, t, h}) : before.at({0, t, h}));
    }

    void generationIsSteeredAndUnchangedWithoutInterventions() {
        const Model model = testModel();
        GenerationSettings settings;
        settings.maxNewTokens = 6;
        const auto plain = model.generate({kCorrupt, kClean}, settings);
        GenerationSettings unit = settings;
        Intervention one;
        one.point = Capture::ResidPost;
        one.layer = 0;
        one.kind = Intervention::Kind::Scale;
        unit.interventions = {one};
        const auto same = model.generate({kCorrupt, kClean}, unit);
        QCOMPARE(same[0].outputIds, plain[0].outputIds);
        QCOMPARE(same[1].outputIds, plain[1].outputIds);
        // A large push along token 65's unembedding row at the last layer, every position, row 1 only.
        const std::string head = model.config().tiedEmbeddings ? "model.embed_tokens.weight" : "lm_head.weight";
        const FloatTensor unembedding = model.parameter(head);
        std::vector<float> row(unembedding.values.begin() + 65 * 32, unembedding.values.begin() + 66 * 32);
        GenerationSettings steered = settings;
        Intervention push;
        push.point = Capture::ResidPost;
        push.layer = kLayers - 1;
        push.kind = Intervention::Kind::Add;
        push.rows = {1};
        push.scale = 1000.0f;
        push.values = vectorTensor(row);
        steered.interventions = {push};
        const auto pushed = model.generate({kCorrupt, kClean}, steered);
        QCOMPARE(pushed[0].outputIds, plain[0].outputIds);
        QCOMPARE(pushed[1].outputIds, std::vector<int>(6, 65));
    }

    void badInterventionsAreRefused() {
        const Model model = testModel();
        Intervention pattern;
        pattern.point = Capture::AttnPattern;
        QVERIFY_THROWS_EXCEPTION(Error, run(model, kCorrupt, {pattern}));
        Intervention layer;
        layer.layer = kLayers;
        layer.kind = Intervention::Kind::Scale;
        QVERIFY_THROWS_EXCEPTION(Error, run(model, kCorrupt, {layer}));
        Intervention width;
        width.values = vectorTensor({1.0f, 2.0f});
        QVERIFY_THROWS_EXCEPTION(Error, run(model, kCorrupt, {width}));
        Intervention neuron;
        neuron.kind = Intervention::Kind::Scale;
        neuron.neurons = {32};
        QVERIFY_THROWS_EXCEPTION(Error, run(model, kCorrupt, {neuron}));
        Intervention zero;
        zero.kind = Intervention::Kind::ProjectOut;
        zero.values = vectorTensor(std::vector<float>(32, 0.0f));
        QVERIFY_THROWS_EXCEPTION(Error, run(model, kCorrupt, {zero}));
    }

    void recoveredFractionByHand() {
        QCOMPARE(*recoveredFraction(3.0, 1.0, 2.0), 0.5);
        QCOMPARE(*recoveredFraction(-2.0, -6.0, -7.0), -0.25);
        QVERIFY(!recoveredFraction(1.0, 1.0, 5.0));
        // Patching resid_post of the last layer at the final prompt position changes only the first
        // generation token's prediction: patched log p = clean's first-token term + corrupt's later terms.
        const Model model = testModel();
        const std::vector<int> safe = {101, 32, 115}, unsafe = {83, 117, 114, 101};
        PatchingSettings settings;
        settings.point = Capture::ResidPost;
        settings.lastPositions = 1;
        const PatchingRecordResult result = patchTokens(model, kClean, kCorrupt, safe, unsafe, settings);
        const auto cleanSafe = tokenLogProbs(model, kClean, safe), cleanUnsafe = tokenLogProbs(model, kClean, unsafe);
        const auto corruptSafe = tokenLogProbs(model, kCorrupt, safe), corruptUnsafe = tokenLogProbs(model, kCorrupt, unsafe);
        QVERIFY(std::abs(result.clean.logPSafe - total(cleanSafe)) < 1e-4);
        QVERIFY(std::abs(result.corrupt.logPUnsafe - total(corruptUnsafe)) < 1e-4);
        const double patchedSafe = cleanSafe[0] + total(corruptSafe) - corruptSafe[0];
        const double patchedUnsafe = cleanUnsafe[0] + total(corruptUnsafe) - corruptUnsafe[0];
        const auto& cell = result.patched[kLayers - 1][0];
        QVERIFY(cell);
        QVERIFY2(std::abs(cell->logPSafe - patchedSafe) < 1e-4, qPrintable(QString::number(cell->logPSafe - patchedSafe)));
        QVERIFY(std::abs(cell->logPUnsafe - patchedUnsafe) < 1e-4);
        const double cleanMetric = total(cleanSafe) - total(cleanUnsafe);
        const double corruptMetric = total(corruptSafe) - total(corruptUnsafe);
        const double expected = (patchedSafe - patchedUnsafe - corruptMetric) / (cleanMetric - corruptMetric);
        QVERIFY2(std::abs(*result.recovered[kLayers - 1][0] - expected) < 1e-3,
                 qPrintable(QString("%1 vs %2").arg(*result.recovered[kLayers - 1][0]).arg(expected)));
        // K = 1: the curve's all-positions patch is the same patch.
        QVERIFY(std::abs(*result.layerRecovered[kLayers - 1] - expected) < 1e-3);
        QCOMPARE(int(result.recovered.size()), kLayers);
        QCOMPARE(result.positions, std::vector<int>{-1});
    }

    void selfPatchingAndCost() {
        // Clean = corrupt: every patched score equals the corrupt one, gaps are zero (null fractions), and
        // the work is 1 (clean) + 1 (corrupt) + (K + 1) patches x (N + 1) / 2 forwards (suffix from each layer).
        const Model model = testModel();
        const std::vector<int> safe = {101, 32}, unsafe = {83, 117, 114};
        for (Capture point : {Capture::ResidPost, Capture::AttnOut, Capture::MlpOut}) {
            PatchingSettings settings;
            settings.point = point;
            settings.lastPositions = 4;
            settings.patchesPerForward = 2;  // several forwards per layer
            const PatchingRecordResult result = patchTokens(model, kCorrupt, kCorrupt, safe, unsafe, settings);
            for (int layer = 0; layer < kLayers; ++layer) {
                for (int j = 0; j < 4; ++j) {
                    const auto& cell = result.patched[size_t(layer)][size_t(j)];
                    QVERIFY(cell);
                    QVERIFY(std::abs(cell->logPSafe - result.corrupt.logPSafe) < 1e-5);
                    QVERIFY(std::abs(cell->logPUnsafe - result.corrupt.logPUnsafe) < 1e-5);
                    QVERIFY(!result.recovered[size_t(layer)][size_t(j)]);
                }
                QVERIFY(!result.layerRecovered[size_t(layer)]);
            }
            QCOMPARE(result.bestLayer, -1);
            QCOMPARE(result.forwardMultiple, 2.0 + 5.0 * (kLayers + 1) / 2.0);
        }
    }

    void clippedPositionsAndJson() {
        // The clean prompt is shorter than K: its missing offsets are null, the others measured.
        const Model model = testModel();
        PatchingSettings settings;
        settings.point = Capture::MlpOut;
        settings.lastPositions = 7;
        const PatchingRecordResult result = patchTokens(model, kClean, kCorrupt, {101, 32}, {83, 117}, settings);
        QCOMPARE(result.positions, (std::vector<int>{-7, -6, -5, -4, -3, -2, -1}));
        for (int layer = 0; layer < kLayers; ++layer) {
            QVERIFY(!result.patched[size_t(layer)][0] && !result.patched[size_t(layer)][1]);
            for (int j = 2; j < 7; ++j) QVERIFY(result.patched[size_t(layer)][size_t(j)]);
        }
        PatchingResult whole;
        whole.point = "mlp_out";
        whole.lastPositions = 7;
        whole.records = {result};
        whole.meanLayerRecovered = result.layerRecovered;
        whole.forwardMultiple = result.forwardMultiple;
        whole.provenance.method = "patch";
        const nlohmann::json json = whole;
        const PatchingResult back = json.get<PatchingResult>();
        QCOMPARE(nlohmann::json(back), json);
        QVERIFY(json["records"][0]["recovered"][0][0].is_null());
        QCOMPARE(json["records"][0]["recovered"].size(), size_t(kLayers));
        QVERIFY_THROWS_EXCEPTION(Error, nlohmann::json::object({{"kind", "evaluation"}}).get<PatchingResult>());
    }

    void positionTokensRoundTripAndOldJsonReads() {
        const Model model = recordModel();
        const SafeEditDataset data = loadSafeEdit(demoDatasetPath("test"));
        PatchingSettings settings;
        settings.lastPositions = 3;
        const PatchingResult result = patchRecords(model, data, {1}, settings);
        const std::vector<std::string>& tokens = result.records.front().positionTokens;
        QCOMPARE(tokens.size(), size_t(3));
        nlohmann::json json = result;
        QCOMPARE(json["records"][0]["position_tokens"].get<std::vector<std::string>>(), tokens);
        QCOMPARE(json.get<PatchingResult>().records.front().positionTokens, tokens);
        // A result written before the tokens were recorded still reads, without them.
        json["records"][0].erase("position_tokens");
        const PatchingResult old = json.get<PatchingResult>();
        QVERIFY(old.records.front().positionTokens.empty());
        QCOMPARE(old.records.front().positions, result.records.front().positions);
        // Tokens that do not match the positions are refused, naming the field.
        json["records"][0]["position_tokens"] = {"a", "b"};
        try {
            json.get<PatchingResult>();
            QFAIL("expected detox::Error");
        } catch (const Error& e) {
            QVERIFY2(QString(e.what()).contains("position_tokens"), e.what());
        }
    }

    void recordPromptsUseTheChatTemplateAndTheContextPolicy() {
        const Model model = recordModel();
        const SafeEditDataset data = loadSafeEdit(demoDatasetPath("test"));
        const SafeEditRecord& record = *data.findById(2);
        PatchingSettings settings;
        settings.lastPositions = 2;
        settings.chatTemplate = ChatTemplate::Llama2;
        const PatchingRecordResult result = patchRecord(model, record, settings);
        const Tokenizer& tokenizer = model.tokenizer();
        QCOMPARE(result.corruptTokens, int(promptIds(tokenizer, record.adversarialPrompt, ChatTemplate::Llama2).size()));
        QCOMPARE(result.cleanTokens,
                 int(promptIds(tokenizer, record.generalization->onlyHarmfulQuestion, ChatTemplate::Llama2).size()));
        QVERIFY(result.corruptTokens > int(tokenizer.encode(record.adversarialPrompt).size()));  // the template's tokens
        QCOMPARE(result.context.size(), size_t(2));
        QCOMPARE(result.context[1].operation, std::string("patching corrupt pairs"));
        QCOMPARE(result.context[1].limit, model.config().maxPositions);
        QCOMPARE(result.context[1].cut, 0);
        // The map's column labels: the adversarial prompt's last two tokens in the template, as the reader
        // of a result would decode them.
        const std::vector<int> corrupt = promptIds(tokenizer, record.adversarialPrompt, ChatTemplate::Llama2);
        QCOMPARE(result.positionTokens, tokenLabels(tokenizer, {corrupt.end() - 2, corrupt.end()}));
        QCOMPARE(result.positionTokens.size(), size_t(2));
        const PatchingResult whole = patchRecords(model, data, {2}, settings);
        QCOMPARE(whole.chatTemplate, std::string("llama2"));
        QCOMPARE(whole.provenance.settings["chat_template"].get<std::string>(), std::string("llama2"));
        QCOMPARE(whole.provenance.settings["context_policy"].get<std::string>(), std::string("keep-last"));
        QCOMPARE(whole.provenance.context.size(), size_t(2));
    }

    void shardsMergeIntoTheUnshardedRun() {
        const Model model = recordModel();
        const SafeEditDataset data = loadSafeEdit(demoDatasetPath("test"));
        PatchingSettings settings;
        settings.point = Capture::AttnOut;
        settings.lastPositions = 2;
        const std::vector<int> ids = {3, 0, 1};
        const PatchingResult whole = patchRecords(model, data, ids, settings);
        const PatchingResult first = patchRecords(model, data, ids, settings, 1, 2);
        const PatchingResult second = patchRecords(model, data, ids, settings, 2, 2);
        QCOMPARE(first.records.size(), size_t(2));
        QCOMPARE(second.records.size(), size_t(1));
        QCOMPARE(second.records[0].recordId, 0);
        const PatchingResult merged = mergePatchings({second, first});
        QCOMPARE(merged.shardCount, 1);
        QCOMPARE(withoutTimes(nlohmann::json(merged.records)).dump(), withoutTimes(nlohmann::json(whole.records)).dump());
        QCOMPARE(merged.meanLayerRecovered.size(), size_t(kLayers));
        QVERIFY(merged.meanLayerRecovered == whole.meanLayerRecovered);
        QVERIFY(std::abs(merged.forwardMultiple - whole.forwardMultiple) < 1e-12);
        try {
            mergePatchings({first, first});
            QFAIL("expected detox::Error");
        } catch (const Error& e) {
            QVERIFY2(QString(e.what()).contains("given twice"), e.what());
        }
        PatchingResult other = second;
        other.provenance.settings["last_positions"] = 3;
        QVERIFY_THROWS_EXCEPTION(Error, mergePatchings({first, other}));
    }

    void cliShardsMerge() {
        const QString dir = test::scratchDir();
        const QString modelDir = dir + "/model";
        test::writeTinyLlama(modelDir.toStdString(), 3, 2);
        const QStringList common = {"patch", "--model", modelDir, "--demo", "--ids", "4,1,0", "--point", "mlp_out",
                                    "--last-positions", "2"};
        QVERIFY(test::runCli(common + QStringList{"--out", dir + "/whole.json"}).exitCode == 0);
        QVERIFY(test::runCli(common + QStringList{"--shard", "1/2", "--out", dir + "/s1.json"}).exitCode == 0);
        QVERIFY(test::runCli(common + QStringList{"--shard", "2/2", "--out", dir + "/s2.json"}).exitCode == 0);
        const test::CliRun merge = test::runCli({"merge", dir + "/s1.json", dir + "/s2.json", "--out", dir + "/merged.json"});
        QVERIFY2(merge.exitCode == 0, qPrintable(merge.err));
        const nlohmann::json merged = readJson(dir + "/merged.json"), whole = readJson(dir + "/whole.json");
        QCOMPARE(withoutTimes(merged["records"]).dump(), withoutTimes(whole["records"]).dump());
        QCOMPARE(merged["mean_layer_recovered"].dump(), whole["mean_layer_recovered"].dump());
        QCOMPARE(merged["chat_template"].get<std::string>(), std::string("plain"));
        const test::CliRun refused = test::runCli({"merge", dir + "/s1.json", "--out", dir + "/partial.json"});
        QCOMPARE(refused.exitCode, 2);
        QVERIFY2(refused.err.contains("shard 2/2: missing"), qPrintable(refused.err));
        QVERIFY(!QFile::exists(dir + "/partial.json"));
    }

    void cliWritesCurveAndMap() {
        const QString dir = test::scratchDir();
        const QString modelDir = dir + "/model";
        test::writeTinyLlama(modelDir.toStdString(), 3, kLayers);
        const QString data = QString::fromStdString(demoDatasetPath("test"));
        const QString out = dir + "/patch.json";
        const test::CliRun ok = test::runCli({"patch", "--model", modelDir, "--data", data, "--ids", "0,1", "--point",
                                              "attn_out", "--last-positions", "3", "--out", out});
        QVERIFY2(ok.exitCode == 0, qPrintable(ok.err));
        const nlohmann::json json = readJson(out);
        QCOMPARE(json["point"].get<std::string>(), std::string("attn_out"));
        QCOMPARE(json["records"].size(), size_t(2));
        QCOMPARE(json["mean_layer_recovered"].size(), size_t(kLayers));
        for (const auto& record : json["records"]) {
            QCOMPARE(record["layer_recovered"].size(), size_t(kLayers));
            QCOMPARE(record["recovered"].size(), size_t(kLayers));
            QCOMPARE(record["recovered"][0].size(), size_t(3));
            QVERIFY(record["recovered"][kLayers - 1][2].is_number());
            QVERIFY(record["clean"]["metric"].is_number() && record["corrupt"]["metric"].is_number());
        }
        QCOMPARE(json["provenance"]["method"].get<std::string>(), std::string("patch"));
        QVERIFY(json["forward_multiple"].get<double>() > 2.0);
        QVERIFY2(ok.err.contains("patch: 6/6"), qPrintable(ok.err));
        const auto bad = [&](const QStringList& extra, const QString& fragment) {
            const test::CliRun run = test::runCli(QStringList{"patch", "--model", modelDir, "--data", data, "--ids", "0",
                                                              "--out", dir + "/bad.json"} + extra);
            QVERIFY2(run.exitCode == 2, qPrintable(QString("exit %1: %2").arg(run.exitCode).arg(run.err)));
            QVERIFY2(run.err.contains(fragment), qPrintable(run.err));
        };
        bad({"--point", "attn_pattern"}, "--point");
        bad({"--point", "resid_post", "--last-positions", "0"}, "last-positions");
        bad({"--point", "resid_post", "--shard", "0/2"}, "--shard");
        bad({"--point", "resid_post", "--chat-template", "vicuna"}, "--chat-template");
        bad({}, "--point");
    }
};

QTEST_GUILESS_MAIN(PatchingTest)
#include "test_patching.moc"
