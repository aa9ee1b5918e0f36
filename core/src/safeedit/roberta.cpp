// RobertaForSequenceClassification inference, following HF modeling_roberta: embeddings (word +
// position offset by padding_idx + token type 0, LayerNorm), post-LayerNorm encoder layers (exact erf
// GELU), and the classification head on the <s> token (dense -> tanh -> out_proj).
#include "safeedit/roberta.h"

#include <cmath>
#include <filesystem>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>

#include "detox/checkpoint/checkpoint.h"
#include "detox/error.h"
#include "detox/fileio.h"
#include "checkpoint/safetensors.h"

namespace detox::nn {

namespace fs = std::filesystem;
using Json = nlohmann::json;

namespace {

constexpr const char* kArchitecture = "RobertaForSequenceClassification";

Json readJsonObject(const std::string& path) {
    const std::string text = readFile(path);
    Json json;
    try {
        json = Json::parse(text);
    } catch (const Json::parse_error& error) {
        throw Error(path, "", std::string("not valid JSON: ") + error.what());
    }
    if (!json.is_object()) throw Error(path, "", "expected a JSON object");
    return json;
}

int positiveInt(const Json& config, const std::string& path, const std::string& key) {
    auto it = config.find(key);
    if (it == config.end()) throw Error(path, key, "missing (expected a positive integer)");
    if (!it->is_number_integer() || it->get<long long>() <= 0 || it->get<long long>() > (1 << 30))
        throw Error(path, key, "expected a positive integer, found " + it->dump());
    return it->get<int>();
}

std::string optionalString(const Json& config, const std::string& path, const std::string& key,
                           const std::string& fallback) {
    auto it = config.find(key);
    if (it == config.end() || it->is_null()) return fallback;
    if (!it->is_string()) throw Error(path, key, "expected a string, found " + it->dump());
    return it->get<std::string>();
}

std::string shapeText(const std::vector<int64_t>& shape) {
    std::string text = "[";
    for (size_t i = 0; i < shape.size(); ++i) text += (i ? ", " : "") + std::to_string(shape[i]);
    return text + "]";
}

// The tensors of all weight files of a checkpoint, looked up by name with their expected shape.
class TensorSource {
public:
    explicit TensorSource(const std::string& directory) : directory_(directory) {
        for (const auto& path : checkpointWeightFiles(directory)) {
            files_.push_back(SafetensorsFile::open(path));
            for (const auto& entry : files_.back().header().tensors) index_[entry.name] = files_.size() - 1;
        }
    }

    torch::Tensor get(const std::string& name, const std::vector<int64_t>& shape) const {
        auto it = index_.find(name);
        if (it == index_.end())
            throw Error(whereMissing(), name, "missing tensor (expected shape " + shapeText(shape) + " for a " +
                                                  kArchitecture + ")");
        const SafetensorsFile& file = files_[it->second];
        const TensorEntry& entry = *file.find(name);
        if (entry.shape != shape)
            throw Error(entry.file, name, "expected shape " + shapeText(shape) + ", found " + shapeText(entry.shape));
        return file.readAsFloat(entry);
    }

private:
    std::string whereMissing() const {
        return files_.size() == 1 ? files_.front().header().path : directory_ + "/model.safetensors.index.json";
    }

    std::string directory_;
    std::vector<SafetensorsFile> files_;
    std::map<std::string, size_t> index_;
};

RobertaLayerWeights loadLayer(const TensorSource& source, const RobertaConfig& config, int index) {
    const std::string prefix = "roberta.encoder.layer." + std::to_string(index) + ".";
    const int64_t hidden = config.hiddenSize, inner = config.intermediateSize;
    auto matrix = [&](const std::string& name, int64_t rows, int64_t cols) {
        return source.get(prefix + name, {rows, cols});
    };
    auto vector = [&](const std::string& name, int64_t size) { return source.get(prefix + name, {size}); };
    RobertaLayerWeights layer;
    layer.queryWeight = matrix("attention.self.query.weight", hidden, hidden);
    layer.queryBias = vector("attention.self.query.bias", hidden);
    layer.keyWeight = matrix("attention.self.key.weight", hidden, hidden);
    layer.keyBias = vector("attention.self.key.bias", hidden);
    layer.valueWeight = matrix("attention.self.value.weight", hidden, hidden);
    layer.valueBias = vector("attention.self.value.bias", hidden);
    layer.attentionOutWeight = matrix("attention.output.dense.weight", hidden, hidden);
    layer.attentionOutBias = vector("attention.output.dense.bias", hidden);
    layer.attentionNormWeight = vector("attention.output.LayerNorm.weight", hidden);
    layer.attentionNormBias = vector("attention.output.LayerNorm.bias", hidden);
    layer.intermediateWeight = matrix("intermediate.dense.weight", inner, hidden);
    layer.intermediateBias = vector("intermediate.dense.bias", inner);
    layer.outputWeight = matrix("output.dense.weight", hidden, inner);
    layer.outputBias = vector("output.dense.bias", hidden);
    layer.outputNormWeight = vector("output.LayerNorm.weight", hidden);
    layer.outputNormBias = vector("output.LayerNorm.bias", hidden);
    return layer;
}

torch::Tensor layerNorm(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias, double eps) {
    return torch::layer_norm(x, {x.size(-1)}, weight, bias, eps);
}

}  // namespace

RobertaConfig readRobertaConfig(const std::string& configPath) {
    const Json json = readJsonObject(configPath);
    auto architectures = json.find("architectures");
    const bool isClassifier = architectures != json.end() && architectures->is_array() && architectures->size() == 1 &&
                              (*architectures)[0] == kArchitecture;
    if (!isClassifier)
        throw Error(configPath, "architectures",
                    std::string("expected [\"") + kArchitecture + "\"] (a RoBERTa sequence classifier such as "
                    "zjunlp/SafeEdit-Safety-Classifier), found " +
                        (architectures == json.end() ? std::string("nothing") : architectures->dump()));
    RobertaConfig config;
    config.vocabSize = positiveInt(json, configPath, "vocab_size");
    config.hiddenSize = positiveInt(json, configPath, "hidden_size");
    config.numLayers = positiveInt(json, configPath, "num_hidden_layers");
    config.numHeads = positiveInt(json, configPath, "num_attention_heads");
    config.intermediateSize = positiveInt(json, configPath, "intermediate_size");
    config.maxPositions = positiveInt(json, configPath, "max_position_embeddings");
    // RobertaConfig's default is 2; roberta-large (and the SafeEdit classifier) use 1.
    if (json.contains("type_vocab_size")) config.typeVocabSize = positiveInt(json, configPath, "type_vocab_size");
    if (config.hiddenSize % config.numHeads != 0)
        throw Error(configPath, "num_attention_heads", "must divide hidden_size " + std::to_string(config.hiddenSize));
    if (auto pad = json.find("pad_token_id"); pad != json.end() && !pad->is_null()) {
        if (!pad->is_number_integer() || pad->get<long long>() < 0 || pad->get<long long>() >= config.maxPositions)
            throw Error(configPath, "pad_token_id", "expected a non-negative integer below max_position_embeddings");
        config.padId = pad->get<int>();
    }
    if (config.maxTokens() < 3)
        throw Error(configPath, "max_position_embeddings", "too small for <s> text </s> after the padding offset");
    if (auto eps = json.find("layer_norm_eps"); eps != json.end()) {
        if (!eps->is_number() || eps->get<double>() <= 0)
            throw Error(configPath, "layer_norm_eps", "expected a positive number, found " + eps->dump());
        config.layerNormEps = eps->get<double>();
    }
    const std::string activation = optionalString(json, configPath, "hidden_act", "gelu");
    if (activation != "gelu")
        throw Error(configPath, "hidden_act", "only \"gelu\" (exact erf GELU) is supported, found \"" + activation + "\"");
    const std::string positions = optionalString(json, configPath, "position_embedding_type", "absolute");
    if (positions != "absolute")
        throw Error(configPath, "position_embedding_type", "only \"absolute\" is supported, found \"" + positions + "\"");
    // HF derives num_labels from id2label (default 2).
    if (auto labels = json.find("id2label"); labels != json.end() && !labels->is_null()) {
        if (!labels->is_object() || labels->empty()) throw Error(configPath, "id2label", "expected a non-empty object");
        config.numLabels = static_cast<int>(labels->size());
    } else if (json.contains("num_labels")) {
        config.numLabels = positiveInt(json, configPath, "num_labels");
    }
    return config;
}

RobertaClassifier RobertaClassifier::load(const std::string& directory, JobControl& job) {
    const RobertaConfig config = readRobertaConfig((fs::path(directory) / "config.json").string());
    const TensorSource source(directory);
    const int totalSteps = config.numLayers + 2;
    auto progress = [&](int step) {
        job.checkpoint();
        job.report({step, totalSteps, "loading the safety classifier's weights", {}});
    };
    const int64_t hidden = config.hiddenSize;
    RobertaWeights weights;
    progress(0);
    weights.wordEmbeddings = source.get("roberta.embeddings.word_embeddings.weight", {config.vocabSize, hidden});
    weights.positionEmbeddings =
        source.get("roberta.embeddings.position_embeddings.weight", {config.maxPositions, hidden});
    weights.tokenTypeEmbeddings =
        source.get("roberta.embeddings.token_type_embeddings.weight", {config.typeVocabSize, hidden});
    weights.embeddingNormWeight = source.get("roberta.embeddings.LayerNorm.weight", {hidden});
    weights.embeddingNormBias = source.get("roberta.embeddings.LayerNorm.bias", {hidden});
    for (int i = 0; i < config.numLayers; ++i) {
        progress(1 + i);
        weights.layers.push_back(loadLayer(source, config, i));
    }
    progress(totalSteps - 1);
    weights.headDenseWeight = source.get("classifier.dense.weight", {hidden, hidden});
    weights.headDenseBias = source.get("classifier.dense.bias", {hidden});
    weights.headOutWeight = source.get("classifier.out_proj.weight", {config.numLabels, hidden});
    weights.headOutBias = source.get("classifier.out_proj.bias", {config.numLabels});
    job.report({totalSteps, totalSteps, "loaded the safety classifier", {}});
    return RobertaClassifier(config, std::move(weights));
}

torch::Tensor RobertaClassifier::positionIds(const torch::Tensor& inputIds, int64_t padId) {
    const torch::Tensor real = inputIds.ne(padId).to(torch::kLong);
    return torch::cumsum(real, 1) * real + padId;
}

torch::Tensor RobertaClassifier::embed(const torch::Tensor& inputIds) const {
    const torch::Tensor words = torch::embedding(weights_.wordEmbeddings, inputIds);
    const torch::Tensor positions = torch::embedding(weights_.positionEmbeddings, positionIds(inputIds, config_.padId));
    // Every token has token type 0 (the classifier is called without token_type_ids).
    const torch::Tensor sum = words + positions + weights_.tokenTypeEmbeddings[0];
    return layerNorm(sum, weights_.embeddingNormWeight, weights_.embeddingNormBias, config_.layerNormEps);
}

torch::Tensor RobertaClassifier::selfAttention(const RobertaLayerWeights& layer, const torch::Tensor& hidden,
                                               const torch::Tensor& maskBias) const {
    const int64_t batch = hidden.size(0), length = hidden.size(1);
    const int64_t headDim = config_.hiddenSize / config_.numHeads;
    auto heads = [&](const torch::Tensor& weight, const torch::Tensor& bias) {
        return torch::linear(hidden, weight, bias).view({batch, length, config_.numHeads, headDim}).transpose(1, 2);
    };
    const torch::Tensor query = heads(layer.queryWeight, layer.queryBias);
    const torch::Tensor key = heads(layer.keyWeight, layer.keyBias);
    const torch::Tensor value = heads(layer.valueWeight, layer.valueBias);
    torch::Tensor scores = torch::matmul(query, key.transpose(-1, -2)) / std::sqrt(static_cast<double>(headDim));
    scores = scores + maskBias;
    const torch::Tensor context = torch::matmul(torch::softmax(scores, -1), value);
    return context.transpose(1, 2).reshape({batch, length, config_.hiddenSize});
}

torch::Tensor RobertaClassifier::encoderLayer(const RobertaLayerWeights& layer, const torch::Tensor& hidden,
                                              const torch::Tensor& maskBias) const {
    const torch::Tensor attention =
        torch::linear(selfAttention(layer, hidden, maskBias), layer.attentionOutWeight, layer.attentionOutBias);
    const torch::Tensor attended =
        layerNorm(attention + hidden, layer.attentionNormWeight, layer.attentionNormBias, config_.layerNormEps);
    const torch::Tensor inner = torch::gelu(torch::linear(attended, layer.intermediateWeight, layer.intermediateBias));
    const torch::Tensor output = torch::linear(inner, layer.outputWeight, layer.outputBias);
    return layerNorm(output + attended, layer.outputNormWeight, layer.outputNormBias, config_.layerNormEps);
}

torch::Tensor RobertaClassifier::logits(const torch::Tensor& inputIds, const torch::Tensor& attentionMask) const {
    c10::InferenceMode inference;
    const int64_t batch = inputIds.size(0), length = inputIds.size(1);
    // HF's extended mask: 0 where attended, the float minimum on padding keys.
    const torch::Tensor maskBias =
        (1.0 - attentionMask.to(torch::kFloat)).mul(std::numeric_limits<float>::lowest()).view({batch, 1, 1, length});
    torch::Tensor hidden = embed(inputIds);
    for (const auto& layer : weights_.layers) hidden = encoderLayer(layer, hidden, maskBias);
    // RobertaClassificationHead: the <s> token's state -> dense -> tanh -> out_proj (dropouts are no-ops).
    const torch::Tensor first = hidden.select(1, 0);
    const torch::Tensor pooled = torch::tanh(torch::linear(first, weights_.headDenseWeight, weights_.headDenseBias));
    return torch::linear(pooled, weights_.headOutWeight, weights_.headOutBias);
}

}  // namespace detox::nn
