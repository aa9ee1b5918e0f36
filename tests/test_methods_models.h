// Tiny random models and a byte-level tokenizer for the methods tests (test_methods, test_locate,
// test_mechanism). The tokenizer maps each byte to one token (GPT-2's byte-to-unicode alphabet, no
// merges) plus <|endoftext|> = 256 as BOS/EOS.
#pragma once
#include <QDir>
#include <QTemporaryDir>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "detox/runtime/model.h"
#include "runtime/transformer.h"
#include "tiny_model.h"

namespace detox::test {

// Writes tokenizer.json + tokenizer_config.json into `directory` (<|endoftext|> is BOS and EOS).
inline void writeByteTokenizer(const std::string& directory) { writeByteLevelTokenizer(directory, true); }

inline ModelConfig tinyConfig(const std::string& family) {
    ModelConfig config;
    config.vocabSize = 260;
    config.hiddenSize = 32;
    config.numLayers = 4;
    config.intermediateSize = 48;
    config.maxPositions = 1024;
    config.eosId = 256;
    config.eosIds = {256};
    config.bosId = 256;
    if (family == "gpt2") {
        config.architecture = "gpt2";
        config.hfArchitecture = "GPT2LMHeadModel";
        config.modelType = "gpt2";
        config.numHeads = 4;
        config.numKvHeads = 4;
        config.headDim = 8;
        config.activation = "gelu_new";
        config.tiedEmbeddings = true;
        config.attentionBias = config.outputBias = config.mlpBias = true;
    } else {
        config.architecture = "llama";
        config.hfArchitecture = "LlamaForCausalLM";
        config.modelType = "llama";
        config.numHeads = 4;
        config.numKvHeads = 2;
        config.headDim = 8;
        config.activation = "silu";
    }
    return config;
}

// A random model; weights scaled up from the runtime's 0.02 so that layers differ visibly.
// With a tokenizer when `tokenizerDirectory` is not empty (a folder holding writeByteTokenizer's files).
inline Model tinyModel(const std::string& family, uint64_t seed, const std::string& tokenizerDirectory = {},
                       double weightScale = 5.0) {
    auto impl = randomModelImpl(tinyConfig(family), seed);
    {
        torch::NoGradGuard noGrad;
        for (auto& [name, slot] : impl->parameters)
            if (slot.value->dim() == 2) slot.value->mul_(weightScale);
    }
    if (!tokenizerDirectory.empty()) impl->tokenizer = Tokenizer::fromDirectory(tokenizerDirectory);
    return modelFromImpl(impl);
}

// Every parameter's bytes, for bit-exact comparisons.
inline std::map<std::string, torch::Tensor> parameterCopies(const Model& model) {
    std::map<std::string, torch::Tensor> copies;
    torch::NoGradGuard noGrad;
    for (const auto& name : model.impl().parameterNames()) copies[name] = model.impl().parameter(name).detach().clone();
    return copies;
}

inline std::vector<std::string> differingParameters(const Model& model, const std::map<std::string, torch::Tensor>& copies) {
    std::vector<std::string> differing;
    torch::NoGradGuard noGrad;
    for (const auto& [name, value] : copies)
        if (!torch::equal(model.impl().parameter(name), value)) differing.push_back(name);
    return differing;
}

}  // namespace detox::test
