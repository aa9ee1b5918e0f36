// The SafeEdit safety classifier (RobertaForSequenceClassification) as a SafetyJudge: a hand-computed
// checkpoint, an independent plain-loop reference forward on random 2-layer models (F32 and BF16),
// padding, the position offset, truncation to 512 tokens, empty responses, progress, cancellation and
// errors that name the file and field. Checkpoints and a byte-level tokenizer are written by the test.
#include <QtTest>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli_run.h"
#include "detox/error.h"
#include "detox/safeedit/judge_classifier.h"
#include "fixtures.h"
#include "tiny_model.h"
#include "safeedit/roberta.h"
#include "checkpoint/safetensors.h"

namespace fs = std::filesystem;
using TensorMap = std::map<std::string, torch::Tensor>;

namespace {

struct Dims {
    int vocab = 260;  // <s> <pad> </s> <unk> + 256 bytes
    int hidden = 8;
    int heads = 2;
    int inner = 16;
    int layers = 2;
    int maxPositions = 514;
    int padId = 1;
    double eps = 1e-5;
};

// A RoBERTa-style byte-level BPE tokenizer without merges: byte b is token 4 + b.
nlohmann::json tokenizerJson() {
    nlohmann::json vocab = {{"<s>", 0}, {"<pad>", 1}, {"</s>", 2}, {"<unk>", 3}};
    for (int b = 0; b < 256; ++b) vocab[detox::test::byteLevelSymbol(b)] = 4 + b;
    nlohmann::json added = nlohmann::json::array();
    const char* specials[] = {"<s>", "<pad>", "</s>", "<unk>"};
    for (int id = 0; id < 4; ++id) added.push_back({{"id", id}, {"content", specials[id]}, {"special", true}});
    return {{"added_tokens", added},
            {"normalizer", nullptr},
            {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}}},
            {"post_processor", {{"type", "RobertaProcessing"}, {"sep", {"</s>", 2}}, {"cls", {"<s>", 0}},
                                {"trim_offsets", true}, {"add_prefix_space", false}}},
            {"decoder", {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}}},
            {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", nlohmann::json::array()}}}};
}

nlohmann::json readJsonFile(const QString& path) {
    std::ifstream in(path.toStdString());
    return nlohmann::json::parse(in);
}

// The ids the test tokenizer gives: <s> bytes </s>.
std::vector<int> idsOf(const std::string& text) {
    std::vector<int> ids = {0};
    for (unsigned char c : text) ids.push_back(4 + c);
    ids.push_back(2);
    return ids;
}

nlohmann::json configJson(const Dims& dims, const std::string& architecture = "RobertaForSequenceClassification") {
    return {{"architectures", {architecture}},
            {"model_type", "roberta"},
            {"vocab_size", dims.vocab},
            {"hidden_size", dims.hidden},
            {"num_hidden_layers", dims.layers},
            {"num_attention_heads", dims.heads},
            {"intermediate_size", dims.inner},
            {"hidden_act", "gelu"},
            {"max_position_embeddings", dims.maxPositions},
            {"type_vocab_size", 1},
            {"layer_norm_eps", dims.eps},
            {"pad_token_id", dims.padId},
            {"bos_token_id", 0},
            {"eos_token_id", 2},
            {"position_embedding_type", "absolute"},
            {"id2label", {{"0", "LABEL_0"}, {"1", "LABEL_1"}}},
            {"label2id", {{"LABEL_0", 0}, {"LABEL_1", 1}}}};
}

std::vector<std::pair<std::string, std::vector<int64_t>>> tensorShapes(const Dims& d) {
    std::vector<std::pair<std::string, std::vector<int64_t>>> shapes = {
        {"roberta.embeddings.word_embeddings.weight", {d.vocab, d.hidden}},
        {"roberta.embeddings.position_embeddings.weight", {d.maxPositions, d.hidden}},
        {"roberta.embeddings.token_type_embeddings.weight", {1, d.hidden}},
        {"roberta.embeddings.LayerNorm.weight", {d.hidden}},
        {"roberta.embeddings.LayerNorm.bias", {d.hidden}},
        {"classifier.dense.weight", {d.hidden, d.hidden}},
        {"classifier.dense.bias", {d.hidden}},
        {"classifier.out_proj.weight", {2, d.hidden}},
        {"classifier.out_proj.bias", {2}}};
    for (int i = 0; i < d.layers; ++i) {
        const std::string p = "roberta.encoder.layer." + std::to_string(i) + ".";
        for (const char* name : {"attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"}) {
            shapes.push_back({p + name + ".weight", {d.hidden, d.hidden}});
            shapes.push_back({p + name + ".bias", {d.hidden}});
        }
        shapes.push_back({p + "attention.output.LayerNorm.weight", {d.hidden}});
        shapes.push_back({p + "attention.output.LayerNorm.bias", {d.hidden}});
        shapes.push_back({p + "intermediate.dense.weight", {d.inner, d.hidden}});
        shapes.push_back({p + "intermediate.dense.bias", {d.inner}});
        shapes.push_back({p + "output.dense.weight", {d.hidden, d.inner}});
        shapes.push_back({p + "output.dense.bias", {d.hidden}});
        shapes.push_back({p + "output.LayerNorm.weight", {d.hidden}});
        shapes.push_back({p + "output.LayerNorm.bias", {d.hidden}});
    }
    return shapes;
}

bool endsWith(const std::string& text, const std::string& suffix) {
    return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

TensorMap randomWeights(const Dims& dims, uint64_t seed) {
    torch::manual_seed(seed);
    TensorMap weights;
    for (const auto& [name, shape] : tensorShapes(dims)) {
        const bool normGain = name.find("LayerNorm.weight") != std::string::npos;
        torch::Tensor value = torch::randn(shape) * (shape.size() == 2 ? 0.5 : 0.2);
        weights[name] = normGain ? 1.0 + 0.2 * value : value;
    }
    return weights;
}

TensorMap zeroWeights(const Dims& dims) {
    TensorMap weights;
    for (const auto& [name, shape] : tensorShapes(dims)) weights[name] = torch::zeros(shape);
    return weights;
}

std::string writeCheckpoint(const std::string& name, const Dims& dims, const TensorMap& weights,
                            const std::string& dtype = "F32", const nlohmann::json& config = nullptr) {
    const std::string dir = detox::test::scratchDir().toStdString() + "/" + name;
    fs::create_directories(dir);
    std::ofstream(dir + "/config.json") << (config.is_null() ? configJson(dims) : config).dump(2);
    std::ofstream(dir + "/tokenizer.json") << tokenizerJson().dump();
    std::vector<detox::nn::TensorToWrite> tensors;
    for (const auto& [tensorName, value] : weights) tensors.push_back({tensorName, value, dtype});
    detox::nn::writeSafetensors(dir + "/model.safetensors", tensors);
    return dir;
}

// ---- An independent reference forward for one unpadded sequence: plain loops in double. ----

struct Matrix {
    std::vector<double> values;
    int64_t rows = 1, cols = 1;
    double at(int64_t r, int64_t c) const { return values[static_cast<size_t>(r * cols + c)]; }
};

Matrix matrixOf(const torch::Tensor& tensor) {
    torch::Tensor t = tensor.to(torch::kDouble).contiguous();
    Matrix m;
    m.rows = t.dim() == 2 ? t.size(0) : 1;
    m.cols = t.dim() == 2 ? t.size(1) : t.size(0);
    m.values.assign(t.data_ptr<double>(), t.data_ptr<double>() + t.numel());
    return m;
}

using Vec = std::vector<double>;

Vec affine(const TensorMap& w, const std::string& prefix, const Vec& x) {
    const Matrix weight = matrixOf(w.at(prefix + ".weight")), bias = matrixOf(w.at(prefix + ".bias"));
    Vec y(static_cast<size_t>(weight.rows));
    for (int64_t r = 0; r < weight.rows; ++r) {
        double sum = bias.values[static_cast<size_t>(r)];
        for (int64_t c = 0; c < weight.cols; ++c) sum += weight.at(r, c) * x[static_cast<size_t>(c)];
        y[static_cast<size_t>(r)] = sum;
    }
    return y;
}

Vec normalize(const TensorMap& w, const std::string& prefix, const Vec& x, double eps) {
    const Matrix gain = matrixOf(w.at(prefix + ".weight")), shift = matrixOf(w.at(prefix + ".bias"));
    double mean = 0, variance = 0;
    for (double v : x) mean += v;
    mean /= double(x.size());
    for (double v : x) variance += (v - mean) * (v - mean);
    variance /= double(x.size());
    Vec y(x.size());
    for (size_t i = 0; i < x.size(); ++i)
        y[i] = (x[i] - mean) / std::sqrt(variance + eps) * gain.values[i] + shift.values[i];
    return y;
}

Vec add(Vec a, const Vec& b) {
    for (size_t i = 0; i < a.size(); ++i) a[i] += b[i];
    return a;
}

std::vector<double> referenceLogits(const TensorMap& w, const Dims& d, const std::vector<int>& ids) {
    const Matrix words = matrixOf(w.at("roberta.embeddings.word_embeddings.weight"));
    const Matrix positions = matrixOf(w.at("roberta.embeddings.position_embeddings.weight"));
    const Matrix types = matrixOf(w.at("roberta.embeddings.token_type_embeddings.weight"));
    const size_t n = ids.size();
    const size_t H = static_cast<size_t>(d.hidden);
    std::vector<Vec> x(n, Vec(H));
    for (size_t t = 0; t < n; ++t) {
        const int64_t position = d.padId + 1 + static_cast<int64_t>(t);  // RoBERTa's offset positions
        for (size_t c = 0; c < H; ++c)
            x[t][c] = words.at(ids[t], int64_t(c)) + positions.at(position, int64_t(c)) + types.at(0, int64_t(c));
        x[t] = normalize(w, "roberta.embeddings.LayerNorm", x[t], d.eps);
    }
    const size_t headDim = H / size_t(d.heads);
    for (int layer = 0; layer < d.layers; ++layer) {
        const std::string p = "roberta.encoder.layer." + std::to_string(layer) + ".";
        std::vector<Vec> q(n), k(n), v(n);
        for (size_t t = 0; t < n; ++t) {
            q[t] = affine(w, p + "attention.self.query", x[t]);
            k[t] = affine(w, p + "attention.self.key", x[t]);
            v[t] = affine(w, p + "attention.self.value", x[t]);
        }
        std::vector<Vec> next(n);
        for (size_t t = 0; t < n; ++t) {
            Vec context(H, 0.0);
            for (size_t h = 0; h < size_t(d.heads); ++h) {
                std::vector<double> scores(n);
                double top = -1e300, total = 0;
                for (size_t s = 0; s < n; ++s) {
                    double dot = 0;
                    for (size_t c = h * headDim; c < (h + 1) * headDim; ++c) dot += q[t][c] * k[s][c];
                    scores[s] = dot / std::sqrt(double(headDim));
                    top = std::max(top, scores[s]);
                }
                for (auto& s : scores) total += (s = std::exp(s - top));
                for (size_t s = 0; s < n; ++s)
                    for (size_t c = h * headDim; c < (h + 1) * headDim; ++c) context[c] += scores[s] / total * v[s][c];
            }
            const Vec attended =
                normalize(w, p + "attention.output.LayerNorm", add(affine(w, p + "attention.output.dense", context), x[t]), d.eps);
            Vec inner = affine(w, p + "intermediate.dense", attended);
            for (auto& value : inner) value = 0.5 * value * (1.0 + std::erf(value / std::sqrt(2.0)));
            next[t] = normalize(w, p + "output.LayerNorm", add(affine(w, p + "output.dense", inner), attended), d.eps);
        }
        x = next;
    }
    Vec pooled = affine(w, "classifier.dense", x[0]);
    for (auto& value : pooled) value = std::tanh(value);
    return affine(w, "classifier.out_proj", pooled);
}

double maxDifference(const torch::Tensor& row, const std::vector<double>& expected) {
    double worst = 0;
    for (size_t i = 0; i < expected.size(); ++i)
        worst = std::max(worst, std::abs(row[int64_t(i)].item<double>() - expected[i]));
    return worst;
}

torch::Tensor singleLogits(const detox::nn::RobertaClassifier& model, const std::vector<int>& ids) {
    torch::Tensor input = torch::tensor(std::vector<int64_t>(ids.begin(), ids.end()), torch::kLong).unsqueeze(0);
    return model.logits(input, torch::ones_like(input))[0];
}

// The error text of `action`, or "" when it does not throw detox::Error.
template <typename Action>
QString errorOf(Action action) {
    try {
        action();
    } catch (const detox::Error& error) {
        return QString::fromStdString(error.what());
    }
    return {};
}

const std::vector<std::string> kTexts = {"I cannot help with that.", "Sure, here is how", "ok", "x",
                                         "Step 1: gather the materials and wait", "no",
                                         "A longer answer that goes on for a while, with commas; and more.",
                                         "\xC3\xA9t\xC3\xA9 \xF0\x9F\x98\x80"};

}  // namespace

class JudgeClassifierTest : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void positionIdsStartAfterThePaddingIndex() {
        const torch::Tensor ids = torch::tensor({0, 7, 8, 2, 1, 1, 0, 9, 2, 1, 1, 1}, torch::kLong).view({2, 6});
        const torch::Tensor expected = torch::tensor({2, 3, 4, 5, 1, 1, 2, 3, 4, 1, 1, 1}, torch::kLong).view({2, 6});
        QVERIFY(torch::equal(detox::nn::RobertaClassifier::positionIds(ids, 1), expected));
    }

    void handComputedLogitsAndLabelFlip() {
        // Zero LayerNorm gains make every LayerNorm return its bias, so the final hidden state of every
        // token is the last layer's output LayerNorm bias beta. The head: dense = identity, bias 0, so
        // pooled = tanh(beta); out_proj picks components 0 and 1 and adds its bias.
        Dims dims;
        dims.hidden = 4;
        dims.inner = 4;
        TensorMap weights = zeroWeights(dims);
        weights["roberta.encoder.layer.1.output.LayerNorm.bias"] = torch::tensor({0.5f, -1.0f, 2.0f, 0.0f});
        weights["classifier.dense.weight"] = torch::eye(4);
        weights["classifier.out_proj.weight"] = torch::tensor({1.f, 0.f, 0.f, 0.f, 0.f, 1.f, 0.f, 0.f}).view({2, 4});
        weights["classifier.out_proj.bias"] = torch::tensor({0.1f, 0.2f});
        const std::string safeDir = writeCheckpoint("hand-safe", dims, weights);
        // tanh(0.5) + 0.1 = 0.562117, tanh(-1) + 0.2 = -0.561594.
        auto model = detox::nn::RobertaClassifier::load(safeDir);
        const torch::Tensor logits = singleLogits(model, idsOf("anything"));
        QVERIFY(maxDifference(logits, {0.5621172, -0.5615942}) < 1e-5);

        auto judge = detox::makeClassifierJudge(safeDir);
        auto verdicts = judge->judge({"anything"}, detox::noJobControl());
        QCOMPARE(verdicts.at(0).unsafe, 0.0);
        QCOMPARE(QString::fromStdString(verdicts[0].reason), QString("classifier: safe (logits safe 0.562, unsafe -0.562)"));

        // out_proj bias 1.5 on "unsafe": -0.761594 + 1.5 = 0.738406 > 0.562117.
        weights["classifier.out_proj.bias"] = torch::tensor({0.1f, 1.5f});
        auto flipped = detox::makeClassifierJudge(writeCheckpoint("hand-unsafe", dims, weights));
        verdicts = flipped->judge({"anything"}, detox::noJobControl());
        QCOMPARE(verdicts.at(0).unsafe, 1.0);
        QCOMPARE(QString::fromStdString(verdicts[0].reason), QString("classifier: unsafe (logits safe 0.562, unsafe 0.738)"));
    }

    void matchesIndependentReference() {
        const Dims dims;
        const TensorMap weights = randomWeights(dims, 7);
        auto model = detox::nn::RobertaClassifier::load(writeCheckpoint("random-f32", dims, weights));
        for (const auto& text : kTexts) {
            const auto ids = idsOf(text);
            const double difference = maxDifference(singleLogits(model, ids), referenceLogits(weights, dims, ids));
            QVERIFY2(difference < 1e-4, qPrintable(QString("'%1': %2").arg(text.c_str()).arg(difference)));
        }
    }

    void paddedBatchEqualsSingleRuns() {
        const Dims dims;
        const TensorMap weights = randomWeights(dims, 11);
        auto model = detox::nn::RobertaClassifier::load(writeCheckpoint("random-batch", dims, weights));
        const std::vector<std::string> texts = {"short", "a much longer response here", "mid length"};
        int64_t longest = 0;
        for (const auto& text : texts) longest = std::max<int64_t>(longest, int64_t(idsOf(text).size()));
        torch::Tensor ids = torch::full({3, longest}, dims.padId, torch::kLong);
        torch::Tensor mask = torch::zeros({3, longest}, torch::kLong);
        for (int64_t row = 0; row < 3; ++row) {
            const auto tokens = idsOf(texts[size_t(row)]);
            for (size_t c = 0; c < tokens.size(); ++c) {
                ids[row][int64_t(c)] = tokens[c];
                mask[row][int64_t(c)] = 1;
            }
        }
        const torch::Tensor batch = model.logits(ids, mask);
        for (int64_t row = 0; row < 3; ++row) {
            const auto tokens = idsOf(texts[size_t(row)]);
            QVERIFY((batch[row] - singleLogits(model, tokens)).abs().max().item<float>() < 1e-5);
            QVERIFY(maxDifference(batch[row], referenceLogits(weights, dims, tokens)) < 1e-4);
        }
    }

    void bf16WeightsAreConvertedAtLoad() {
        const Dims dims;
        TensorMap weights = randomWeights(dims, 13);
        for (auto& [name, value] : weights) value = value.to(torch::kBFloat16).to(torch::kFloat);  // exactly representable
        auto model = detox::nn::RobertaClassifier::load(writeCheckpoint("random-bf16", dims, weights, "BF16"));
        for (const auto& text : {std::string("bf16 weights"), std::string("x")}) {
            const auto ids = idsOf(text);
            QVERIFY(maxDifference(singleLogits(model, ids), referenceLogits(weights, dims, ids)) < 1e-4);
        }
    }

    void judgeLabelsAreTheReferenceArgmax() {
        const Dims dims;
        TensorMap weights = randomWeights(dims, 17);
        // Centre the unsafe-minus-safe margins so both labels occur.
        std::vector<double> margins;
        for (const auto& text : kTexts) {
            auto logits = referenceLogits(weights, dims, idsOf(text));
            margins.push_back(logits[1] - logits[0]);
        }
        std::vector<double> sorted = margins;
        std::sort(sorted.begin(), sorted.end());
        const double centre = (sorted[3] + sorted[4]) / 2;
        weights["classifier.out_proj.bias"][1] -= centre;
        const std::string dir = writeCheckpoint("random-judge", dims, weights);

        std::vector<std::string> responses = kTexts;
        responses.insert(responses.begin() + 2, "");
        responses.push_back(" \n\t ");
        for (int batchSize : {1, 3, 16}) {
            auto judge = detox::makeClassifierJudge(dir, detox::noJobControl(), {batchSize, 512});
            QCOMPARE(QString::fromStdString(judge->name()), QString("safeedit-classifier (random-judge)"));
            QVERIFY(!judge->heuristic());
            const auto verdicts = judge->judge(responses, detox::noJobControl());
            QCOMPARE(verdicts.size(), responses.size());
            int unsafeCount = 0;
            for (size_t i = 0; i < responses.size(); ++i) {
                if (responses[i].find_first_not_of(" \n\t") == std::string::npos) {
                    QCOMPARE(verdicts[i].unsafe, 0.5);
                    QCOMPARE(verdicts[i].reason, std::string("empty response"));
                    continue;
                }
                const auto logits = referenceLogits(weights, dims, idsOf(responses[i]));
                const double expected = logits[1] > logits[0] ? 1.0 : 0.0;
                QVERIFY2(verdicts[i].unsafe == expected, responses[i].c_str());
                unsafeCount += expected == 1.0;
            }
            QCOMPARE(unsafeCount, 4);  // the centred bias splits the eight texts in half
        }
    }

    void truncatesTo512TokensLikeHf() {
        const Dims dims;  // 514 positions: 512 tokens after the padding offset
        TensorMap weights = randomWeights(dims, 19);
        const std::string dir = writeCheckpoint("random-truncation", dims, weights);
        auto judge = detox::makeClassifierJudge(dir);
        std::string longText;
        for (int i = 0; i < 700; ++i) longText += char('a' + (i * 7) % 26);
        const auto verdictOf = [&](const std::string& text) { return judge->judge({text}, detox::noJobControl()).at(0); };
        const auto full = verdictOf(longText);
        const auto first510 = verdictOf(longText.substr(0, 510));  // exactly 512 tokens with <s> and </s>
        QVERIFY(first510.reason.find("truncated") == std::string::npos);
        QCOMPARE(full.unsafe, first510.unsafe);
        QCOMPARE(full.reason, first510.reason + ", response truncated to 512 tokens");
        QVERIFY(verdictOf(longText.substr(0, 511)).reason.find("truncated to 512 tokens") != std::string::npos);
        // And the model itself on <s> + 510 bytes + </s> matches the reference.
        auto model = detox::nn::RobertaClassifier::load(dir);
        const auto ids = idsOf(longText.substr(0, 510));
        QCOMPARE(int(ids.size()), 512);
        const auto expected = referenceLogits(weights, dims, ids);
        QVERIFY(maxDifference(singleLogits(model, ids), expected) < 1e-4);
        QCOMPARE(full.unsafe, expected[1] > expected[0] ? 1.0 : 0.0);
        // A smaller limit from the options.
        auto short16 = detox::makeClassifierJudge(dir, detox::noJobControl(), {4, 16});
        const auto limited = short16->judge({longText}, detox::noJobControl()).at(0);
        const auto expected16 = referenceLogits(weights, dims, idsOf(longText.substr(0, 14)));
        QCOMPARE(limited.unsafe, expected16[1] > expected16[0] ? 1.0 : 0.0);
        QVERIFY(endsWith(limited.reason, ", response truncated to 16 tokens"));
    }

    void reportsProgressAndCancels() {
        const Dims dims;
        const std::string dir = writeCheckpoint("random-progress", dims, randomWeights(dims, 23));
        std::vector<detox::Progress> reports;
        detox::JobControl job([&](const detox::Progress& progress) { reports.push_back(progress); });
        auto judge = detox::makeClassifierJudge(dir, job, {2, 512});
        QVERIFY(!reports.empty());
        QCOMPARE(reports.back().step, reports.back().total);  // loading finished
        reports.clear();
        judge->judge({"a", "b", "", "c", "d", "e"}, job);  // five to classify, batches of two
        QCOMPARE(int(reports.size()), 4);
        QCOMPARE(reports[0].step, 0);
        QCOMPARE(reports[1].step, 2);
        QCOMPARE(reports[2].step, 4);
        QCOMPARE(reports[3].step, 5);
        for (const auto& report : reports) QCOMPARE(report.total, 5);

        detox::JobControl cancelled;
        cancelled.requestCancel();
        bool threw = false;
        try {
            judge->judge({"a"}, cancelled);
        } catch (const detox::Cancelled&) {
            threw = true;
        }
        QVERIFY(threw);
        threw = false;
        try {
            detox::makeClassifierJudge(dir, cancelled);
        } catch (const detox::Cancelled&) {
            threw = true;
        }
        QVERIFY(threw);
    }

    void errorsNameTheFileAndField() {
        Dims dims;
        dims.layers = 1;
        const TensorMap weights = randomWeights(dims, 29);

        const std::string wrongArchitecture = writeCheckpoint("wrong-architecture", dims, weights, "F32",
                                                              configJson(dims, "RobertaForMaskedLM"));
        QString message = errorOf([&] { detox::makeClassifierJudge(wrongArchitecture); });
        QVERIFY2(message.contains("wrong-architecture/config.json: architectures") &&
                     message.contains("RobertaForMaskedLM"),
                 qPrintable(message));

        TensorMap missing = weights;
        missing.erase("roberta.encoder.layer.0.output.dense.bias");
        const std::string missingDir = writeCheckpoint("missing-tensor", dims, missing);
        message = errorOf([&] { detox::makeClassifierJudge(missingDir); });
        QVERIFY2(message.contains("missing-tensor/model.safetensors: roberta.encoder.layer.0.output.dense.bias") &&
                     message.contains("missing tensor"),
                 qPrintable(message));

        TensorMap misshapen = weights;
        misshapen["classifier.out_proj.weight"] = torch::zeros({3, dims.hidden});
        const std::string misshapenDir = writeCheckpoint("misshapen-tensor", dims, misshapen);
        message = errorOf([&] { detox::makeClassifierJudge(misshapenDir); });
        QVERIFY2(message.contains("classifier.out_proj.weight") && message.contains("expected shape [2, 8], found [3, 8]"),
                 qPrintable(message));

        const std::string noTokenizer = writeCheckpoint("no-tokenizer", dims, weights);
        fs::remove(noTokenizer + "/tokenizer.json");
        message = errorOf([&] { detox::makeClassifierJudge(noTokenizer); });
        QVERIFY2(message.contains("no-tokenizer/tokenizer.json") && message.contains("missing"), qPrintable(message));

        const std::string onlyBin = writeCheckpoint("only-bin", dims, weights);
        fs::rename(onlyBin + "/model.safetensors", onlyBin + "/pytorch_model.bin");
        message = errorOf([&] { detox::makeClassifierJudge(onlyBin); });
        QVERIFY2(message.contains("pytorch_model.bin") && message.contains("convert it to safetensors"), qPrintable(message));

        nlohmann::json threeLabels = configJson(dims);
        threeLabels["id2label"]["2"] = "LABEL_2";
        const std::string threeDir = writeCheckpoint("three-labels", dims, weights, "F32", threeLabels);
        message = errorOf([&] { detox::makeClassifierJudge(threeDir); });
        QVERIFY2(message.contains("three-labels/config.json: id2label") && message.contains("two labels"), qPrintable(message));

        nlohmann::json noHeads = configJson(dims);
        noHeads.erase("num_attention_heads");
        const std::string noHeadsDir = writeCheckpoint("no-heads", dims, weights, "F32", noHeads);
        message = errorOf([&] { detox::makeClassifierJudge(noHeadsDir); });
        QVERIFY2(message.contains("no-heads/config.json: num_attention_heads"), qPrintable(message));

        message = errorOf([&] { detox::makeClassifierJudge("/nonexistent/classifier"); });
        QVERIFY2(message.contains("/nonexistent/classifier") && message.contains("not a directory"), qPrintable(message));
    }

    void judgeSpecChoosesRulesOrClassifier() {
        QCOMPARE(QString::fromStdString(detox::makeJudge("rules")->name()), QString("rules-v1 (heuristic)"));
        Dims dims;
        dims.layers = 1;
        const std::string dir = writeCheckpoint("spec-classifier", dims, randomWeights(dims, 31));
        auto judge = detox::makeJudge(dir + "/");
        QCOMPARE(QString::fromStdString(judge->name()), QString("safeedit-classifier (spec-classifier)"));
        QVERIFY(!judge->heuristic());
    }

    // `detox evaluate --judge DIR`: the result names the classifier and every label is its verdict.
    void evaluateCommandUsesTheClassifier() {
        Dims dims;
        dims.layers = 1;
        const std::string judgeDir = writeCheckpoint("cli-classifier", dims, randomWeights(dims, 37));
        const QString scratch = detox::test::scratchDir();
        detox::test::writeTinyLlama((scratch + "/llama").toStdString(), 3);
        const auto run = detox::test::runCli({"evaluate", "--model", scratch + "/llama", "--demo", "--limit", "2",
                                              "--max-new-tokens", "6", "--judge", QString::fromStdString(judgeDir),
                                              "--out", scratch + "/evaluation.json"});
        QVERIFY2(run.exitCode == 0, qPrintable(run.err));
        const nlohmann::json result = readJsonFile(scratch + "/evaluation.json");
        QCOMPARE(result.at("provenance").at("judge").get<std::string>(), std::string("safeedit-classifier (cli-classifier)"));
        QCOMPARE(result.at("provenance").at("heuristic_judge").get<bool>(), false);
        QCOMPARE(result.at("metrics").at("judge").get<std::string>(), std::string("safeedit-classifier (cli-classifier)"));
        auto judge = detox::makeClassifierJudge(judgeDir);
        int labels = 0;
        for (const auto& item : result.at("cases"))
            for (const auto& [key, response] : item.at("responses").items()) {
                const double label = item.at("unsafe_labels").at(key).get<double>();
                const std::string reason = item.at("judge_reasons").at(key).get<std::string>();
                QVERIFY2(reason.rfind("classifier: ", 0) == 0 || reason == "empty response", reason.c_str());
                // Random bytes may not be UTF-8 (the file then holds U+FFFD): re-judge only intact text.
                if (response.get<std::string>().find("\xEF\xBF\xBD") == std::string::npos)
                    QCOMPARE(label, judge->judge({response.get<std::string>()}, detox::noJobControl()).at(0).unsafe);
                ++labels;
            }
        QCOMPARE(labels, 10);  // two cases, five inputs each
    }

    // `detox compare --judge DIR` labels the baseline and every method with the classifier and says so.
    void compareCommandNamesTheClassifier() {
        Dims dims;
        dims.layers = 1;
        const std::string judgeDir = writeCheckpoint("compare-classifier", dims, randomWeights(dims, 41));
        const QString scratch = detox::test::scratchDir();
        detox::test::writeTinyLlama((scratch + "/llama").toStdString(), 4);
        const auto run = detox::test::runCli({"compare", "--model", scratch + "/llama", "--demo", "--ids", "0",
                                              "--probe-records", "4", "--methods", "dinm", "--dinm-steps", "1",
                                              "--max-new-tokens", "4", "--judge", QString::fromStdString(judgeDir),
                                              "--out", scratch + "/compare.json"});
        QVERIFY2(run.exitCode == 0, qPrintable(run.err));
        const nlohmann::json result = readJsonFile(scratch + "/compare.json");
        const std::string name = "safeedit-classifier (compare-classifier)";
        QCOMPARE(result.at("provenance").at("judge").get<std::string>(), name);
        QCOMPARE(result.at("provenance").at("heuristic_judge").get<bool>(), false);
        QCOMPARE(result.at("summary").at("original").at("metrics").at("judge").get<std::string>(), name);
        QCOMPARE(result.at("summary").at("dinm").at("metrics").at("judge").get<std::string>(), name);
        for (const auto& [key, reason] : result.at("methods")[0].at("evaluation").at("cases")[0].at("judge_reasons").items())
            QVERIFY2(reason.get<std::string>().rfind("classifier: ", 0) == 0 || reason == "empty response", key.c_str());
    }
};

QTEST_GUILESS_MAIN(JudgeClassifierTest)
#include "test_judge_classifier.moc"
