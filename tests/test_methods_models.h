// Tiny random models and a byte-level tokenizer for the methods tests (test_methods, test_locate,
// test_mechanism). The tokenizer maps each byte to one token (GPT-2's byte-to-unicode alphabet, no
// merges) plus <|endoftext|> = 256 as BOS/EOS.
#pragma once
#include <QDir>
#include <QTemporaryDir>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "detox/model.h"
#include "nn/transformer.h"

namespace detox::test {

inline std::string byteSymbol(int byte) {
    // GPT-2 bytes_to_unicode: printable bytes keep their code point, the others map to 256 + n.
    auto printable = [](int b) { return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF); };
    int codePoint = byte;
    if (!printable(byte)) {
        int n = 0;
        for (int b = 0; b < byte; ++b)
            if (!printable(b)) ++n;
        codePoint = 256 + n;
    }
    std::string utf8;
    if (codePoint < 0x80) {
        utf8 += static_cast<char>(codePoint);
    } else {
        utf8 += static_cast<char>(0xC0 | (codePoint >> 6));
        utf8 += static_cast<char>(0x80 | (codePoint & 0x3F));
    }
    return utf8;
}

// Writes tokenizer.json + tokenizer_config.json into `directory`.
inline void writeByteTokenizer(const std::string& directory) {
    nlohmann::json vocab = nlohmann::json::object();
    for (int byte = 0; byte < 256; ++byte) vocab[byteSymbol(byte)] = byte;
    vocab["<|endoftext|>"] = 256;
    nlohmann::json tokenizer = {
        {"version", "1.0"},
        {"truncation", nullptr},
        {"padding", nullptr},
        {"added_tokens",
         {{{"id", 256}, {"content", "<|endoftext|>"}, {"single_word", false}, {"lstrip", false}, {"rstrip", false},
           {"normalized", false}, {"special", true}}}},
        {"normalizer", nullptr},
        {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}}},
        {"post_processor", nullptr},
        {"decoder", {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}}},
        {"model",
         {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr}, {"continuing_subword_prefix", ""},
          {"end_of_word_suffix", ""}, {"fuse_unk", false}, {"byte_fallback", false}, {"vocab", vocab},
          {"merges", nlohmann::json::array()}}}};
    std::ofstream(directory + "/tokenizer.json") << tokenizer.dump();
    nlohmann::json config = {{"eos_token", "<|endoftext|>"}, {"bos_token", "<|endoftext|>"}};
    std::ofstream(directory + "/tokenizer_config.json") << config.dump();
}

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
