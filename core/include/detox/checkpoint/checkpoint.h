// HuggingFace checkpoint directories: config.json, safetensors files (single or sharded), memory estimate.
// Plain data only; the tensors themselves are read by the model runtime (detox/model.h).
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace detox {

// The architecture-relevant part of config.json (+ generation_config.json), normalised across families.
struct ModelConfig {
    std::string architecture;         // the runtime's family name: "gpt2" or "llama" (Llama, Mistral, Qwen2)
    std::string hfArchitecture;       // as in config.json "architectures"[0] (or derived from model_type)
    std::string modelType;            // config.json "model_type"
    int vocabSize = 0;
    int hiddenSize = 0;
    int numLayers = 0;
    int numHeads = 0;
    int numKvHeads = 0;
    int headDim = 0;
    int intermediateSize = 0;
    int maxPositions = 0;             // learned positions (GPT-2) are a hard limit; RoPE models only a hint
    double normEps = 1e-5;
    std::string activation;           // "gelu_new", "gelu", "silu", "relu"
    double ropeTheta = 10000.0;
    std::string ropeScalingType;      // "", "linear" or "llama3"
    double ropeScalingFactor = 1.0;
    double ropeLowFreqFactor = 1.0;   // llama3 scaling
    double ropeHighFreqFactor = 4.0;
    int ropeOriginalMaxPositions = 0;
    bool attentionBias = false;       // q/k/v (and o for Llama's attention_bias) biases
    bool outputBias = false;          // o_proj bias
    bool mlpBias = false;
    bool scaleAttnByInverseLayerIdx = false;  // GPT-2 option
    int slidingWindow = 0;            // Mistral; 0 = none
    bool tiedEmbeddings = false;
    std::optional<int> bosId;
    std::optional<int> eosId;         // the first of eosIds
    std::vector<int> eosIds;          // config.json and generation_config.json eos_token_id (int or list), merged
    std::optional<int> padId;
    std::string storedDtype;          // "F32", "BF16", "F16" or "mixed" (from the safetensors headers)
};

// Reads DIR/config.json (and DIR/generation_config.json when present). Throws detox::Error naming the
// file and key on anything missing, mistyped or unsupported (e.g. an unknown architecture, listing the
// supported ones).
ModelConfig readModelConfig(const std::string& directory);

// A config.json (HF keys) describing `config`, for models built in memory (benchmarks, tests).
std::string modelConfigJson(const ModelConfig& config);

// Architectures the runtime can run, as HF class names.
std::vector<std::string> supportedArchitectures();

// One tensor entry of a safetensors header.
struct TensorEntry {
    std::string name;
    std::string dtype;                // "F32", "F16", "BF16"
    std::vector<int64_t> shape;
    uint64_t dataBegin = 0;           // byte offsets inside the data section
    uint64_t dataEnd = 0;
    std::string file;                 // the safetensors file holding it
};

// A validated safetensors header (see safetensors.cpp for the checks).
struct SafetensorsHeader {
    std::string path;
    uint64_t headerBytes = 0;         // the JSON's length (the 8-byte prefix)
    uint64_t fileBytes = 0;
    std::map<std::string, std::string> metadata;
    std::vector<TensorEntry> tensors; // in data-offset order
};
SafetensorsHeader readSafetensorsHeader(const std::string& path);

// The safetensors files of a checkpoint: model.safetensors, or the shards of model.safetensors.index.json.
std::vector<std::string> checkpointWeightFiles(const std::string& directory);

// What loading needs in each weight mode (detox/runtime/model.h WeightMode).
struct MemoryEstimate {
    long long weightBytes = 0;        // f32 mode: every parameter in float32
    long long storedWeightBytes = 0;  // stored mode: the tensors as stored (mapped) + the scratch buffer
    long long activationBytes = 0;    // working margin for activations and KV cache (both modes)
    long long totalBytes = 0;         // f32 mode: weightBytes + activationBytes
    long long storedTotalBytes = 0;   // stored mode: storedWeightBytes + activationBytes
    long long availableBytes = 0;     // MemAvailable from /proc/meminfo (0 when unknown)
    bool fitsF32() const { return availableBytes == 0 || totalBytes <= availableBytes; }
    bool fitsStored() const { return availableBytes == 0 || storedTotalBytes <= availableBytes; }
    bool fits() const { return fitsF32() || fitsStored(); }  // in some mode
    // Auto's choice: f32 only with headroom left (a sixth of what is available) for everything else.
    bool prefersF32() const { return availableBytes == 0 || totalBytes <= availableBytes - availableBytes / 6; }
};

// Everything `detox info` shows, without loading any weights.
struct CheckpointInfo {
    std::string directory;
    ModelConfig config;
    std::vector<TensorEntry> tensors; // all files, sorted by name
    long long parameterCount = 0;
    long long storedBytes = 0;        // tensor bytes as stored
    MemoryEstimate memory;
};
CheckpointInfo inspectCheckpoint(const std::string& directory);

long long availableMemoryBytes();     // MemAvailable, 0 when unknown

// Working memory (bytes, float32) of one run on `batch` sequences: the prefill's activations for
// `promptTokens` positions (attention scores of a layer, MLP activations, logits of every position when
// allLogits) plus the KV cache of promptTokens + newTokens positions when newTokens > 0.
long long runMemoryBytes(const ModelConfig& config, long long batch, long long promptTokens, long long newTokens,
                         bool allLogits);
// Refuses, before anything is allocated, a run whose prompt is longer than the model's context
// (maxPositions; for learned positions also prompt + new tokens) or whose working memory exceeds the
// memory available: detox::Error(file, "prompt" or "max_new_tokens", what was asked and what fits).
void checkRunFits(const ModelConfig& config, const std::string& file, long long batch, long long promptTokens,
                  long long newTokens, bool allLogits);

}  // namespace detox
