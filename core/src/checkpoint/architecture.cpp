#include "checkpoint/architecture.h"

#include <cmath>

#include "detox/error.h"

namespace detox::nn {

const std::vector<ArchitectureSpec>& architectureTable() {
    static const std::vector<ArchitectureSpec> table = [] {
        ArchitectureSpec gpt2;
        gpt2.family = "gpt2";
        gpt2.hfArchitectures = {"GPT2LMHeadModel"};
        gpt2.modelTypes = {"gpt2"};
        gpt2.norm = NormKind::LayerNorm;
        gpt2.positions = PositionKind::Learned;
        gpt2.mlp = MlpKind::Plain;
        gpt2.conv1dWeights = true;
        gpt2.normHasBias = true;
        gpt2.embed = "transformer.wte";
        gpt2.positionEmbed = "transformer.wpe";
        gpt2.finalNorm = "transformer.ln_f";
        gpt2.lmHead = "lm_head";
        gpt2.layerPrefix = "transformer.h.{L}.";
        gpt2.attnNorm = "ln_1";
        gpt2.mlpNorm = "ln_2";
        gpt2.qkv = "attn.c_attn";
        gpt2.o = "attn.c_proj";
        gpt2.up = "mlp.c_fc";
        gpt2.down = "mlp.c_proj";
        gpt2.ignoredSuffixes = {".attn.bias", ".attn.masked_bias"};
        gpt2.alternativePrefix = "transformer.";

        ArchitectureSpec llama;
        llama.family = "llama";
        llama.hfArchitectures = {"LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM"};
        llama.modelTypes = {"llama", "mistral", "qwen2"};
        llama.embed = "model.embed_tokens";
        llama.finalNorm = "model.norm";
        llama.lmHead = "lm_head";
        llama.layerPrefix = "model.layers.{L}.";
        llama.attnNorm = "input_layernorm";
        llama.mlpNorm = "post_attention_layernorm";
        llama.q = "self_attn.q_proj";
        llama.k = "self_attn.k_proj";
        llama.v = "self_attn.v_proj";
        llama.o = "self_attn.o_proj";
        llama.up = "mlp.up_proj";
        llama.gate = "mlp.gate_proj";
        llama.down = "mlp.down_proj";
        llama.ignoredSuffixes = {".rotary_emb.inv_freq"};
        return std::vector<ArchitectureSpec>{gpt2, llama};
    }();
    return table;
}

std::vector<std::string> supportedArchitecturesList() {
    std::vector<std::string> names;
    for (const auto& spec : architectureTable())
        for (const auto& name : spec.hfArchitectures) names.push_back(name);
    return names;
}

const ArchitectureSpec& architectureForNames(const std::string& configPath, const std::string& hfArchitecture,
                                             const std::string& modelType) {
    for (const auto& spec : architectureTable()) {
        for (const auto& name : spec.hfArchitectures)
            if (name == hfArchitecture) return spec;
        if (hfArchitecture.empty())
            for (const auto& type : spec.modelTypes)
                if (type == modelType) return spec;
    }
    std::string supported;
    for (const auto& name : supportedArchitecturesList()) supported += (supported.empty() ? "" : ", ") + name;
    throw Error(configPath, "architectures",
                "unsupported architecture '" + (hfArchitecture.empty() ? modelType : hfArchitecture) +
                    "' (supported: " + supported + ")");
}

const ArchitectureSpec& architectureFor(const ModelConfig& config) {
    return architectureForNames("config.json", config.hfArchitecture, config.modelType);
}

std::string layerModule(const ArchitectureSpec& spec, int layer, const std::string& module) {
    std::string prefix = spec.layerPrefix;
    prefix.replace(prefix.find("{L}"), 3, std::to_string(layer));
    return prefix + module;
}

torch::Tensor applyNorm(NormKind kind, const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                        double eps) {
    if (kind == NormKind::LayerNorm) return torch::layer_norm(x, {x.size(-1)}, weight, bias, eps);
    // HF LlamaRMSNorm: x * rsqrt(mean(x^2) + eps), then the weight.
    torch::Tensor normalized = x * torch::rsqrt(x.pow(2).mean(-1, true) + eps);
    return weight * normalized;
}

torch::Tensor applyActivation(const std::string& activation, const torch::Tensor& x) {
    if (activation == "silu") return torch::silu(x);
    if (activation == "gelu_new" || activation == "gelu_pytorch_tanh") return torch::gelu(x, "tanh");
    if (activation == "gelu") return torch::gelu(x);
    if (activation == "relu") return torch::relu(x);
    throw Error("config.json", "activation", "unsupported activation '" + activation + "'");
}

torch::Tensor ropeInverseFrequencies(const ModelConfig& config) {
    const int64_t dim = config.headDim;
    // As HF: base ** (arange(0, dim, 2).float() / dim), in float32.
    torch::Tensor exponents = torch::arange(0, dim, 2, torch::kInt64).to(torch::kFloat32) / static_cast<double>(dim);
    torch::Tensor inverse = 1.0 / torch::pow(torch::scalar_tensor(config.ropeTheta, torch::kFloat32), exponents);
    if (config.ropeScalingType == "linear") return inverse / config.ropeScalingFactor;
    if (config.ropeScalingType != "llama3") return inverse;
    // Llama 3.1: long wavelengths divided by the factor, short ones kept, a smooth blend in between.
    const double factor = config.ropeScalingFactor;
    const double oldContext = config.ropeOriginalMaxPositions;
    const double lowFreqWavelength = oldContext / config.ropeLowFreqFactor;
    const double highFreqWavelength = oldContext / config.ropeHighFreqFactor;
    torch::Tensor wavelength = 2 * M_PI / inverse;
    torch::Tensor scaled = torch::where(wavelength > lowFreqWavelength, inverse / factor, inverse);
    torch::Tensor smooth = (oldContext / wavelength - config.ropeLowFreqFactor) /
                           (config.ropeHighFreqFactor - config.ropeLowFreqFactor);
    torch::Tensor smoothed = (1 - smooth) * scaled / factor + smooth * scaled;
    torch::Tensor medium = (wavelength >= highFreqWavelength).logical_and(wavelength <= lowFreqWavelength);
    return torch::where(medium, smoothed, scaled);
}

torch::Tensor applyRope(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
    const int64_t half = x.size(-1) / 2;
    torch::Tensor rotated = torch::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
    return x * cos + rotated * sin;
}

}  // namespace detox::nn
