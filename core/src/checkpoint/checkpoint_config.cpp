// config.json / generation_config.json / sharded index reading, and the memory estimate.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <fstream>
#include <nlohmann/json.hpp>
#include <map>
#include <set>

#include "checkpoint/architecture.h"
#include "detox/checkpoint/checkpoint.h"
#include "detox/error.h"
#include "detox/fileio.h"

namespace detox {
namespace fs = std::filesystem;

namespace nn {
std::vector<std::string> supportedArchitecturesList();
}

namespace {

nlohmann::json readJsonObject(const std::string& path) {
    std::string text = readFile(path);
    nlohmann::json json;
    try {
        json = nlohmann::json::parse(text);
    } catch (const std::exception& e) {
        throw Error(path, "", std::string("not valid JSON: ") + e.what());
    }
    if (!json.is_object()) throw Error(path, "", "expected a JSON object");
    return json;
}

// Reads an integer key; absent or null gives the fallback (nullopt = required).
int intKey(const std::string& path, const nlohmann::json& json, const std::string& key, std::optional<int> fallback) {
    auto it = json.find(key);
    if (it == json.end() || it->is_null()) {
        if (fallback) return *fallback;
        throw Error(path, key, "missing (expected a positive integer)");
    }
    // Compared as JSON numbers (an unsigned 2^64-1 must not wrap); no size of a real model comes near 2^24,
    // and the bound keeps products such as 4 * n_embd inside an int.
    constexpr long long kLimit = 1ll << 24;
    const bool inRange = it->is_number_unsigned() ? it->get<uint64_t>() >= 1 && it->get<uint64_t>() <= uint64_t(kLimit)
                                                  : it->is_number_integer() && it->get<long long>() >= 1 &&
                                                        it->get<long long>() <= kLimit;
    if (!inRange) throw Error(path, key, "expected a positive integer up to 2^24, got " + it->dump());
    return it->get<int>();
}

// Reads a positive number up to `upTo` (a bound far beyond real configs: 1e308 as rope_theta overflowed
// the float rotary table); absent or null gives the fallback.
double numberKey(const std::string& path, const nlohmann::json& json, const std::string& key, double fallback,
                 double upTo) {
    auto it = json.find(key);
    if (it == json.end() || it->is_null()) return fallback;
    if (!it->is_number() || !(it->get<double>() > 0 && it->get<double>() <= upTo)) {
        char bound[32];
        std::snprintf(bound, sizeof bound, "%g", upTo);
        throw Error(path, key, "expected a positive number up to " + std::string(bound) + ", got " + it->dump());
    }
    return it->get<double>();
}

constexpr double kMaxEpsilon = 1.0;
constexpr double kMaxRopeTheta = 1e12;
constexpr double kMaxRopeFactor = 1e6;

std::string stringKey(const std::string& path, const nlohmann::json& json, const std::string& key,
                      const std::string& fallback) {
    auto it = json.find(key);
    if (it == json.end() || it->is_null()) return fallback;
    if (!it->is_string()) throw Error(path, key, "expected a string, got " + it->dump());
    return it->get<std::string>();
}

bool boolKey(const std::string& path, const nlohmann::json& json, const std::string& key, bool fallback) {
    auto it = json.find(key);
    if (it == json.end() || it->is_null()) return fallback;
    if (!it->is_boolean()) throw Error(path, key, "expected true or false, got " + it->dump());
    return it->get<bool>();
}

// Token ids may be an int, a list of ints or null.
std::vector<int> tokenIdsKey(const std::string& path, const nlohmann::json& json, const std::string& key) {
    std::vector<int> ids;
    auto it = json.find(key);
    if (it == json.end() || it->is_null()) return ids;
    auto add = [&](const nlohmann::json& value) {
        // Compared as JSON numbers, never converted first: 1099511627776 must not wrap to 0.
        const bool inRange = value.is_number_unsigned() ? value.get<uint64_t>() <= uint64_t(INT32_MAX)
                                                        : value.is_number_integer() && value.get<int64_t>() >= 0 &&
                                                              value.get<int64_t>() <= INT32_MAX;
        if (!inRange)
            throw Error(path, key, "expected a token id (an integer in [0, 2^31)) or a list of them, got " + it->dump());
        ids.push_back(value.get<int>());
    };
    if (it->is_array())
        for (const auto& value : *it) add(value);
    else
        add(*it);
    return ids;
}

void readRopeScaling(const std::string& path, const nlohmann::json& json, ModelConfig& config) {
    auto it = json.find("rope_scaling");
    if (it == json.end() || it->is_null()) return;
    if (!it->is_object()) throw Error(path, "rope_scaling", "expected an object or null");
    std::string type;
    for (const char* key : {"rope_type", "type"})
        if (it->contains(key) && (*it)[key].is_string()) type = (*it)[key].get<std::string>();
    if (type == "default") return;
    if (type != "linear" && type != "llama3")
        throw Error(path, "rope_scaling.rope_type", "unsupported RoPE scaling '" + type + "' (supported: linear, llama3)");
    config.ropeScalingType = type;
    config.ropeScalingFactor = numberKey(path, *it, "factor", 0, kMaxRopeFactor);
    if (config.ropeScalingFactor <= 0) throw Error(path, "rope_scaling.factor", "missing (expected a positive number)");
    if (type == "llama3") {
        config.ropeLowFreqFactor = numberKey(path, *it, "low_freq_factor", 1.0, kMaxRopeFactor);
        config.ropeHighFreqFactor = numberKey(path, *it, "high_freq_factor", 4.0, kMaxRopeFactor);
        config.ropeOriginalMaxPositions = intKey(path, *it, "original_max_position_embeddings", std::nullopt);
        if (config.ropeHighFreqFactor <= config.ropeLowFreqFactor)
            throw Error(path, "rope_scaling.high_freq_factor", "must be larger than low_freq_factor");
    }
}

void readGpt2Keys(const std::string& path, const nlohmann::json& json, ModelConfig& config) {
    config.vocabSize = intKey(path, json, "vocab_size", std::nullopt);
    config.hiddenSize = intKey(path, json, "n_embd", std::nullopt);
    config.numLayers = intKey(path, json, "n_layer", std::nullopt);
    config.numHeads = intKey(path, json, "n_head", std::nullopt);
    config.numKvHeads = config.numHeads;
    config.intermediateSize = intKey(path, json, "n_inner", 4 * config.hiddenSize);
    config.maxPositions = intKey(path, json, "n_positions", std::nullopt);
    config.normEps = numberKey(path, json, "layer_norm_epsilon", 1e-5, kMaxEpsilon);
    config.activation = stringKey(path, json, "activation_function", "gelu_new");
    config.tiedEmbeddings = boolKey(path, json, "tie_word_embeddings", true);
    config.attentionBias = config.outputBias = config.mlpBias = true;
    config.scaleAttnByInverseLayerIdx = boolKey(path, json, "scale_attn_by_inverse_layer_idx", false);
    if (!boolKey(path, json, "scale_attn_weights", true))
        throw Error(path, "scale_attn_weights", "false is not supported");
    if (config.hiddenSize % config.numHeads != 0) throw Error(path, "n_head", "must divide n_embd");
    config.headDim = config.hiddenSize / config.numHeads;
}

void readLlamaKeys(const std::string& path, const nlohmann::json& json, ModelConfig& config) {
    config.vocabSize = intKey(path, json, "vocab_size", std::nullopt);
    config.hiddenSize = intKey(path, json, "hidden_size", std::nullopt);
    config.numLayers = intKey(path, json, "num_hidden_layers", std::nullopt);
    config.numHeads = intKey(path, json, "num_attention_heads", std::nullopt);
    config.numKvHeads = intKey(path, json, "num_key_value_heads", config.numHeads);
    if (!json.contains("head_dim") && config.hiddenSize % config.numHeads != 0)
        throw Error(path, "num_attention_heads", "must divide hidden_size (or give head_dim)");
    config.headDim = intKey(path, json, "head_dim", config.hiddenSize / config.numHeads);
    config.intermediateSize = intKey(path, json, "intermediate_size", std::nullopt);
    config.maxPositions = intKey(path, json, "max_position_embeddings", 2048);
    config.normEps = numberKey(path, json, "rms_norm_eps", 1e-6, kMaxEpsilon);
    config.activation = stringKey(path, json, "hidden_act", "silu");
    config.ropeTheta = numberKey(path, json, "rope_theta", 10000.0, kMaxRopeTheta);
    config.tiedEmbeddings = boolKey(path, json, "tie_word_embeddings", false);
    bool qwen2 = config.modelType == "qwen2" || config.hfArchitecture == "Qwen2ForCausalLM";
    config.attentionBias = qwen2 || boolKey(path, json, "attention_bias", false);
    config.outputBias = !qwen2 && boolKey(path, json, "attention_bias", false);
    config.mlpBias = boolKey(path, json, "mlp_bias", false);
    bool slidingUsed = !qwen2 || boolKey(path, json, "use_sliding_window", false);
    if (slidingUsed && json.contains("sliding_window") && !json["sliding_window"].is_null())
        config.slidingWindow = intKey(path, json, "sliding_window", 0);
    if (config.numHeads % config.numKvHeads != 0)
        throw Error(path, "num_key_value_heads", "must divide num_attention_heads");
    if (config.headDim % 2 != 0) throw Error(path, "head_dim", "must be even for rotary embeddings");
    readRopeScaling(path, json, config);
}

void mergeSpecialIds(const std::string& path, const nlohmann::json& json, ModelConfig& config) {
    if (auto bos = tokenIdsKey(path, json, "bos_token_id"); !bos.empty()) config.bosId = bos.front();
    if (auto pad = tokenIdsKey(path, json, "pad_token_id"); !pad.empty()) config.padId = pad.front();
    for (int id : tokenIdsKey(path, json, "eos_token_id"))
        if (std::find(config.eosIds.begin(), config.eosIds.end(), id) == config.eosIds.end()) config.eosIds.push_back(id);
    if (!config.eosIds.empty()) config.eosId = config.eosIds.front();
    for (const char* key : {"bos_token_id", "eos_token_id", "pad_token_id"})
        for (int id : tokenIdsKey(path, json, key))
            if (id >= config.vocabSize)
                throw Error(path, key, "token id " + std::to_string(id) + " is outside the vocabulary [0, " +
                                           std::to_string(config.vocabSize) + ") of config.json's vocab_size");
}

// config.json's sizes against the tensors the safetensors headers hold, before anything is allocated from
// them: a config that claims a million layers or a 2^31-wide head fails here naming the key, not in a
// multi-gigabyte allocation. Tensors that are absent are left to the loader (it names the missing one).
void checkConfigAgainstTensors(const std::string& directory, const nn::ArchitectureSpec& spec,
                               const ModelConfig& config, const std::vector<TensorEntry>& tensors) {
    const std::string path = (fs::path(directory) / "config.json").string();
    const bool gpt2 = spec.family == "gpt2";
    std::map<std::string, const TensorEntry*> byName;
    for (const auto& entry : tensors) {
        byName[entry.name] = &entry;
        if (!spec.alternativePrefix.empty() && entry.name.rfind(spec.alternativePrefix, 0) != 0)
            byName[spec.alternativePrefix + entry.name] = &entry;
    }
    auto find = [&](const std::string& name) -> const TensorEntry* {
        auto it = byName.find(name);
        return it == byName.end() ? nullptr : it->second;
    };
    auto shapeText = [](const TensorEntry& entry) {
        std::string text;
        for (auto dim : entry.shape) text += (text.empty() ? "" : ", ") + std::to_string(dim);
        return "[" + text + "]";
    };
    // dimension `dim` of `tensor` (in its stored layout) must be `expected`, else `key` is wrong.
    auto expectDim = [&](const std::string& tensor, size_t dim, int64_t expected, const std::string& key,
                         const std::string& claim) {
        const TensorEntry* entry = find(tensor);
        if (!entry || entry->shape.size() <= dim || entry->shape[dim] == expected) return;
        throw Error(path, key, claim + " = " + std::to_string(expected) + " but tensor '" + entry->name + "' has shape " +
                                   shapeText(*entry) + " in " + fs::path(entry->file).filename().string());
    };

    // Layers: the stored layer indices must be exactly 0 .. numLayers-1.
    const std::string layersKey = gpt2 ? "n_layer" : "num_hidden_layers";
    const std::string normName = spec.attnNorm + ".weight";
    int present = 0;
    while (present <= config.numLayers && find(nn::layerModule(spec, present, normName))) ++present;
    if (present != config.numLayers && (present > 0 || !tensors.empty()))
        throw Error(path, layersKey,
                    "is " + std::to_string(config.numLayers) + " but the weights hold " +
                        (present > config.numLayers ? "more layers" : std::to_string(present) + " layer(s)") +
                        " (tensor '" + nn::layerModule(spec, std::min(present, config.numLayers), normName) + "' " +
                        (present > config.numLayers ? "exists" : "is missing") + ")");

    const int64_t hidden = config.hiddenSize;
    const std::string hiddenKey = gpt2 ? "n_embd" : "hidden_size";
    expectDim(spec.embed + ".weight", 0, config.vocabSize, "vocab_size", "vocab_size");
    expectDim(spec.embed + ".weight", 1, hidden, hiddenKey, hiddenKey);
    if (spec.positions == nn::PositionKind::Learned)
        expectDim(spec.positionEmbed + ".weight", 0, config.maxPositions, "n_positions", "n_positions");
    const size_t out = spec.conv1dWeights ? 1 : 0;  // the output dimension of a stored linear weight
    const int64_t qWidth = int64_t(config.numHeads) * config.headDim;
    const int64_t kvWidth = int64_t(config.numKvHeads) * config.headDim;
    if (!spec.qkv.empty()) {
        expectDim(nn::layerModule(spec, 0, spec.qkv) + ".weight", out, qWidth + 2 * kvWidth, "n_head",
                  "3 x n_embd");
    } else {
        expectDim(nn::layerModule(spec, 0, spec.q) + ".weight", out, qWidth, "head_dim",
                  "head_dim x num_attention_heads (" + std::to_string(config.headDim) + " x " +
                      std::to_string(config.numHeads) + ")");
        expectDim(nn::layerModule(spec, 0, spec.k) + ".weight", out, kvWidth, "num_key_value_heads",
                  "head_dim x num_key_value_heads (" + std::to_string(config.headDim) + " x " +
                      std::to_string(config.numKvHeads) + ")");
    }
    expectDim(nn::layerModule(spec, 0, spec.up) + ".weight", out, config.intermediateSize,
              gpt2 ? "n_inner" : "intermediate_size", gpt2 ? "n_inner" : "intermediate_size");
}

}  // namespace

std::vector<std::string> supportedArchitectures() { return nn::supportedArchitecturesList(); }

ModelConfig readModelConfig(const std::string& directory) {
    const std::string path = (fs::path(directory) / "config.json").string();
    nlohmann::json json = readJsonObject(path);
    ModelConfig config;
    if (auto it = json.find("architectures"); it != json.end() && !it->is_null()) {
        if (!it->is_array() || it->empty() || !(*it)[0].is_string())
            throw Error(path, "architectures", "expected a list of class names");
        config.hfArchitecture = (*it)[0].get<std::string>();
    }
    if (auto it = json.find("model_type"); it != json.end()) {
        if (!it->is_string()) throw Error(path, "model_type", "expected a string");
        config.modelType = it->get<std::string>();
    }
    if (config.hfArchitecture.empty() && config.modelType.empty())
        throw Error(path, "architectures", "neither 'architectures' nor 'model_type' is given");
    const nn::ArchitectureSpec& spec = nn::architectureForNames(path, config.hfArchitecture, config.modelType);
    config.architecture = spec.family;
    if (config.hfArchitecture.empty())
        config.hfArchitecture = spec.hfArchitectures[std::find(spec.modelTypes.begin(), spec.modelTypes.end(),
                                                               config.modelType) - spec.modelTypes.begin()];
    if (spec.family == "gpt2")
        readGpt2Keys(path, json, config);
    else
        readLlamaKeys(path, json, config);
    const std::vector<std::string> activations = {"gelu_new", "gelu_pytorch_tanh", "gelu", "relu", "silu"};
    if (std::find(activations.begin(), activations.end(), config.activation) == activations.end())
        throw Error(path, spec.family == "gpt2" ? "activation_function" : "hidden_act",
                    "unsupported activation '" + config.activation + "' (supported: gelu_new, gelu, relu, silu)");
    mergeSpecialIds(path, json, config);
    const std::string generationPath = (fs::path(directory) / "generation_config.json").string();
    if (fs::exists(generationPath)) mergeSpecialIds(generationPath, readJsonObject(generationPath), config);
    return config;
}

std::string modelConfigJson(const ModelConfig& config) {
    nlohmann::json json;
    json["architectures"] = {config.hfArchitecture};
    json["model_type"] = config.modelType;
    json["vocab_size"] = config.vocabSize;
    json["tie_word_embeddings"] = config.tiedEmbeddings;
    if (config.architecture == "gpt2") {
        json["n_embd"] = config.hiddenSize;
        json["n_layer"] = config.numLayers;
        json["n_head"] = config.numHeads;
        json["n_inner"] = config.intermediateSize;
        json["n_positions"] = config.maxPositions;
        json["layer_norm_epsilon"] = config.normEps;
        json["activation_function"] = config.activation;
    } else {
        json["hidden_size"] = config.hiddenSize;
        json["num_hidden_layers"] = config.numLayers;
        json["num_attention_heads"] = config.numHeads;
        json["num_key_value_heads"] = config.numKvHeads;
        json["head_dim"] = config.headDim;
        json["intermediate_size"] = config.intermediateSize;
        json["max_position_embeddings"] = config.maxPositions;
        json["rms_norm_eps"] = config.normEps;
        json["hidden_act"] = config.activation;
        json["rope_theta"] = config.ropeTheta;
        json["attention_bias"] = config.attentionBias && config.modelType != "qwen2";
        json["mlp_bias"] = config.mlpBias;
        if (!config.ropeScalingType.empty()) {
            json["rope_scaling"] = {{"rope_type", config.ropeScalingType}, {"factor", config.ropeScalingFactor}};
            if (config.ropeScalingType == "llama3") {
                json["rope_scaling"]["low_freq_factor"] = config.ropeLowFreqFactor;
                json["rope_scaling"]["high_freq_factor"] = config.ropeHighFreqFactor;
                json["rope_scaling"]["original_max_position_embeddings"] = config.ropeOriginalMaxPositions;
            }
        }
    }
    if (config.bosId) json["bos_token_id"] = *config.bosId;
    if (!config.eosIds.empty()) json["eos_token_id"] = config.eosIds.size() == 1 ? nlohmann::json(config.eosIds[0]) : nlohmann::json(config.eosIds);
    if (config.padId) json["pad_token_id"] = *config.padId;
    return json.dump(2) + "\n";
}

std::vector<std::string> checkpointWeightFiles(const std::string& directory) {
    fs::path folder(directory);
    if (!fs::is_directory(folder)) throw Error(directory, "", "not a checkpoint directory");
    if (fs::exists(folder / "model.safetensors")) return {(folder / "model.safetensors").string()};
    const std::string indexPath = (folder / "model.safetensors.index.json").string();
    if (!fs::exists(indexPath)) {
        std::string hint = fs::exists(folder / "pytorch_model.bin") ? " (only pytorch_model.bin is present; convert it "
                                                                       "to safetensors first)"
                                                                     : "";
        throw Error(directory, "model.safetensors", "no model.safetensors or model.safetensors.index.json" + hint);
    }
    nlohmann::json index = readJsonObject(indexPath);
    auto map = index.find("weight_map");
    if (map == index.end() || !map->is_object() || map->empty())
        throw Error(indexPath, "weight_map", "expected an object mapping tensor names to files");
    std::set<std::string> files;
    for (const auto& [name, file] : map->items()) {
        if (!file.is_string()) throw Error(indexPath, "weight_map." + name, "expected a file name");
        std::string fileName = file.get<std::string>();
        if (fileName.find('/') != std::string::npos || fileName.empty() || fileName[0] == '.')
            throw Error(indexPath, "weight_map." + name, "file name must be a plain name in the checkpoint directory");
        files.insert(fileName);
    }
    std::vector<std::string> paths;
    for (const auto& file : files) {
        fs::path path = folder / file;
        if (!fs::exists(path)) throw Error(indexPath, "weight_map", "shard '" + file + "' does not exist");
        paths.push_back(path.string());
    }
    return paths;
}

long long availableMemoryBytes() {
    std::ifstream meminfo("/proc/meminfo");
    std::string key;
    long long kilobytes = 0;
    std::string unit;
    while (meminfo >> key >> kilobytes >> unit)
        if (key == "MemAvailable:") return kilobytes * 1024;
    return 0;
}

long long runMemoryBytes(const ModelConfig& config, long long batch, long long promptTokens, long long newTokens,
                         bool allLogits) {
    // In doubles: the point is to refuse absurd lengths, which would overflow 64-bit products.
    const double b = double(batch), prompt = double(promptTokens), total = double(promptTokens + newTokens);
    const double hidden = config.hiddenSize, heads = config.numHeads;
    double bytes = b * heads * prompt * prompt * 2          // one layer's scores and probabilities
                   + b * prompt * prompt * 2                 // attention bias and mask
                   + b * prompt * double(config.intermediateSize) * 3  // MLP activations
                   + b * prompt * hidden * 8                 // residual stream, q/k/v, attention output
                   + b * (allLogits ? prompt : 1.0) * double(config.vocabSize);
    if (newTokens > 0)
        bytes += 2.0 * config.numLayers * b * config.numKvHeads * config.headDim * total;
    bytes *= 4;
    return bytes > 9e18 ? std::numeric_limits<long long>::max() : static_cast<long long>(bytes);
}

void checkRunFits(const ModelConfig& config, const std::string& file, long long batch, long long promptTokens,
                  long long newTokens, bool allLogits) {
    const std::string context = std::to_string(config.maxPositions);
    const std::string contextKey = config.architecture == "gpt2" ? "n_positions" : "max_position_embeddings";
    if (promptTokens > config.maxPositions)
        throw Error(file, "prompt",
                    std::to_string(promptTokens) + " tokens are longer than the model's context of " + context +
                        " positions (config.json " + contextKey + "); shorten the prompt");
    // Every architecture: learned positions (GPT-2) have no row past the context, and rotary models were
    // never trained there (their output past max_position_embeddings is not the model's behaviour).
    // The last new token is never fed back, hence the - 1.
    if (promptTokens + newTokens - 1 > config.maxPositions)
        throw Error(file, "max_new_tokens",
                    "prompt (" + std::to_string(promptTokens) + " tokens) + " + std::to_string(newTokens) +
                        " new tokens exceed the model's " + context + " positions (config.json " + contextKey +
                        "); at most " + std::to_string(config.maxPositions - promptTokens + 1) + " new tokens fit");
    const long long needed = runMemoryBytes(config, batch, promptTokens, newTokens, allLogits);
    const long long available = availableMemoryBytes();
    if (available > 0 && needed > available)
        throw Error(file, newTokens > 0 ? "max_new_tokens" : "prompt",
                    std::to_string(batch) + " sequence(s) of " + std::to_string(promptTokens) + " prompt tokens" +
                        (newTokens > 0 ? " + " + std::to_string(newTokens) + " new tokens" : "") + " need about " +
                        std::to_string(needed >> 20) + " MiB of working memory but only " +
                        std::to_string(available >> 20) + " MiB are available");
}

CheckpointInfo inspectCheckpoint(const std::string& directory) {
    CheckpointInfo info;
    info.directory = directory;
    info.config = readModelConfig(directory);
    const nn::ArchitectureSpec& spec = nn::architectureFor(info.config);
    std::set<std::string> dtypes;
    for (const auto& file : checkpointWeightFiles(directory)) {
        SafetensorsHeader header = readSafetensorsHeader(file);
        for (auto& entry : header.tensors) {
            bool ignored = std::any_of(spec.ignoredSuffixes.begin(), spec.ignoredSuffixes.end(), [&](const auto& s) {
                return entry.name.size() >= s.size() && entry.name.compare(entry.name.size() - s.size(), s.size(), s) == 0;
            });
            if (!ignored) {
                long long count = 1;
                for (auto dim : entry.shape) count *= dim;
                info.parameterCount += count;
                info.storedBytes += static_cast<long long>(entry.dataEnd - entry.dataBegin);
                dtypes.insert(entry.dtype);
            }
            info.tensors.push_back(std::move(entry));
        }
    }
    checkConfigAgainstTensors(directory, spec, info.config, info.tensors);
    std::sort(info.tensors.begin(), info.tensors.end(), [](auto& a, auto& b) { return a.name < b.name; });
    info.config.storedDtype = dtypes.size() == 1 ? *dtypes.begin() : dtypes.empty() ? "" : "mixed";
    info.memory.weightBytes = info.parameterCount * 4;
    // Working margin: batch activations, logits and the KV cache of a few long generations.
    info.memory.activationBytes = info.memory.weightBytes / 10 + 256ll * 1024 * 1024;
    info.memory.totalBytes = info.memory.weightBytes + info.memory.activationBytes;
    // Stored mode: the mapped tensors, plus one conversion buffer (runtime/weights.h: the largest matrix in
    // float32, at most 64 MiB).
    long long largest = 0;
    for (const auto& entry : info.tensors) {
        long long count = 1;
        for (auto dim : entry.shape) count *= dim;
        largest = std::max(largest, count * 4);
    }
    info.memory.storedWeightBytes = info.storedBytes + std::min(largest, 64ll << 20);
    info.memory.storedTotalBytes = info.memory.storedWeightBytes + info.memory.activationBytes;
    info.memory.availableBytes = availableMemoryBytes();
    return info;
}

}  // namespace detox
