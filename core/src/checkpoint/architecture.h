// The one table of per-architecture differences: tensor names and the kinds of norm, MLP and positions.
// Everything else (the transformer itself) is shared by all families.
#pragma once
#include <string>
#include <vector>

#include "detox/checkpoint/checkpoint.h"
#include "torch_pch.h"

namespace detox::nn {

enum class NormKind { LayerNorm, RmsNorm };
enum class PositionKind { Learned, Rotary };
enum class MlpKind { Plain, Gated };  // Plain: down(act(up x)); Gated: down(act(gate x) * up x)

// Module names without ".weight"/".bias". Layer modules are relative to layerPrefix, in which "{L}" is the
// layer index. Empty = the family has no such module.
struct ArchitectureSpec {
    std::string family;                        // "gpt2", "llama"
    std::vector<std::string> hfArchitectures;  // config.json "architectures" values
    std::vector<std::string> modelTypes;       // config.json "model_type" values
    NormKind norm = NormKind::RmsNorm;
    PositionKind positions = PositionKind::Rotary;
    MlpKind mlp = MlpKind::Gated;
    bool conv1dWeights = false;                // HF Conv1D: weights stored [in, out]
    bool normHasBias = false;
    std::string embed, positionEmbed, finalNorm, lmHead;
    std::string layerPrefix;
    std::string attnNorm, mlpNorm;
    std::string qkv;                           // fused q/k/v projection (GPT-2 c_attn)
    std::string q, k, v, o;
    std::string up, gate, down;
    std::vector<std::string> ignoredSuffixes;  // stored buffers that are not parameters
    std::string alternativePrefix;             // also accepted in front of names (GPT-2 "transformer.")
};

const std::vector<ArchitectureSpec>& architectureTable();
// Throws detox::Error(configPath, "architectures", ...) listing the supported ones.
const ArchitectureSpec& architectureForNames(const std::string& configPath, const std::string& hfArchitecture,
                                             const std::string& modelType);
const ArchitectureSpec& architectureFor(const ModelConfig& config);

std::string layerModule(const ArchitectureSpec& spec, int layer, const std::string& module);

// The few per-family functions.
torch::Tensor applyNorm(NormKind kind, const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                        double eps);
torch::Tensor applyActivation(const std::string& activation, const torch::Tensor& x);
// RoPE inverse frequencies [headDim/2] (float32), with linear or llama3 scaling, as HF computes them.
torch::Tensor ropeInverseFrequencies(const ModelConfig& config);
// q or k laid out [batch, seq, heads, headDim]; cos/sin [batch, seq, 1, headDim]. HF's rotate_half convention.
torch::Tensor applyRope(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin);

}  // namespace detox::nn
