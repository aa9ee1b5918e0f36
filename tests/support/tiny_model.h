// A tiny random Llama with a byte-level tokenizer, saved as a HuggingFace checkpoint directory, for
// tests that run the real CLI on a model without shipping one. Header-only: it needs LibTorch's
// headers (core tests only). The tokenizer maps each byte to one token (GPT-2's byte-to-unicode
// alphabet, no merges) plus <|endoftext|> = 256 as EOS.
#pragma once
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "detox/runtime/model.h"
#include "runtime/transformer.h"

namespace detox::test {

// GPT-2 bytes_to_unicode: printable bytes keep their code point, the others map to 256 + n.
inline std::string byteLevelSymbol(int byte) {
    auto printable = [](int b) { return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF); };
    int codePoint = byte;
    if (!printable(byte)) {
        int n = 0;
        for (int b = 0; b < byte; ++b) n += printable(b) ? 0 : 1;
        codePoint = 256 + n;
    }
    std::string utf8;
    if (codePoint < 0x80) {
        utf8 += char(codePoint);
    } else {
        utf8 += char(0xC0 | (codePoint >> 6));
        utf8 += char(0x80 | (codePoint & 0x3F));
    }
    return utf8;
}

// tokenizer.json + tokenizer_config.json of the byte-level tokenizer; <|endoftext|> is also BOS when asked.
inline void writeByteLevelTokenizer(const std::string& directory, bool endOfTextIsBos = false) {
    nlohmann::json vocab = nlohmann::json::object();
    for (int byte = 0; byte < 256; ++byte) vocab[byteLevelSymbol(byte)] = byte;
    vocab["<|endoftext|>"] = 256;
    const nlohmann::json byteLevel = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true},
                                      {"use_regex", true}};
    nlohmann::json tokenizer = {
        {"version", "1.0"},
        {"added_tokens",
         {{{"id", 256}, {"content", "<|endoftext|>"}, {"single_word", false}, {"lstrip", false}, {"rstrip", false},
           {"normalized", false}, {"special", true}}}},
        {"normalizer", nullptr},
        {"pre_tokenizer", byteLevel},
        {"post_processor", nullptr},
        {"decoder", byteLevel},
        {"model",
         {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr}, {"continuing_subword_prefix", ""},
          {"end_of_word_suffix", ""}, {"fuse_unk", false}, {"byte_fallback", false}, {"vocab", vocab},
          {"merges", nlohmann::json::array()}}}};
    std::ofstream(directory + "/tokenizer.json") << tokenizer.dump();
    nlohmann::json config = {{"eos_token", "<|endoftext|>"}};
    if (endOfTextIsBos) config["bos_token"] = "<|endoftext|>";
    std::ofstream(directory + "/tokenizer_config.json") << config.dump();
}

inline ModelConfig tinyLlamaConfig(int layers) {
    ModelConfig config;
    config.architecture = "llama";
    config.hfArchitecture = "LlamaForCausalLM";
    config.modelType = "llama";
    config.vocabSize = 260;
    config.hiddenSize = 32;
    config.numLayers = layers;
    config.numHeads = 4;
    config.numKvHeads = 2;
    config.headDim = 8;
    config.intermediateSize = 48;
    config.maxPositions = 2048;
    config.activation = "silu";
    config.eosId = 256;
    config.eosIds = {256};
    return config;
}

// An in-memory random tiny Llama, with the tokenizer of `tokenizerDirectory` when it is not empty.
// weightScale > 1 enlarges the matrices (the runtime draws them at 0.02) so outputs vary with the input.
inline Model tinyLlama(uint64_t seed, const std::string& tokenizerDirectory = {}, int layers = 2, double weightScale = 1.0) {
    auto impl = randomModelImpl(tinyLlamaConfig(layers), seed);
    if (weightScale != 1.0) {
        torch::NoGradGuard noGrad;
        for (auto& [name, slot] : impl->parameters)
            if (slot.value->dim() == 2) slot.value->mul_(weightScale);
    }
    if (!tokenizerDirectory.empty()) impl->tokenizer = Tokenizer::fromDirectory(tokenizerDirectory);
    return modelFromImpl(impl);
}

// Saves a random tiny Llama (weights from `seed`) with the byte-level tokenizer into `directory`.
inline void writeTinyLlama(const std::string& directory, uint64_t seed, int layers = 2) {
    tinyLlama(seed, {}, layers).save(directory);
    writeByteLevelTokenizer(directory);
}

}  // namespace detox::test
