// A byte-level BPE trainer in the style of GPT-2: learns merges from a text corpus and writes the
// HuggingFace tokenizer.json / tokenizer_config.json that detox::Tokenizer (and transformers) read.
//
// Training: every text is split around the special tokens, pre-tokenized exactly as the written
// tokenizer will do it (ByteLevel, GPT-2 regex, no prefix space), each byte mapped to GPT-2's printable
// alphabet; word frequencies are counted and the most frequent adjacent symbol pair is merged until
// the vocabulary is full or no pair occurs at least minPairFrequency times. Ties: the pair whose left
// symbol, then right symbol, is smallest as a byte string wins -- so the result does not depend on
// hash-table order.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "detox/job.h"

namespace detox {

struct BpeTrainerSettings {
    int vocabSize = 1024;  // all ids: the 256 byte symbols + merges + special tokens
    int minPairFrequency = 2;
    std::vector<std::string> specialTokens = {"<|endoftext|>", "<|im_start|>", "<|im_end|>"};
};

// The trained vocabulary. Ids: 0..255 the byte symbols (by byte value), then one per merge in the order
// learned, then the special tokens.
struct BpeVocabulary {
    std::vector<std::string> tokens;                          // id -> symbol string (byte-level alphabet)
    std::vector<std::pair<std::string, std::string>> merges;  // in rank order
    std::vector<std::string> specialTokens;                   // ids tokens.size() ... in order

    int size() const { return static_cast<int>(tokens.size() + specialTokens.size()); }
    int specialTokenId(const std::string& content) const;     // throws detox::Error when absent
};

// GPT-2's printable symbol of one byte ("Ġ" for a space).
std::string byteLevelSymbol(unsigned char byte);

// Throws detox::Error when vocabSize leaves no room for the 256 bytes and the special tokens.
BpeVocabulary trainByteLevelBpe(const std::vector<std::string>& texts, const BpeTrainerSettings& settings,
                                JobControl& job = noJobControl());

// The HuggingFace tokenizer.json of a vocabulary: BPE model, ByteLevel pre-tokenizer (GPT-2 regex,
// add_prefix_space false), ByteLevel decoder and post-processor, the special tokens as added tokens.
std::string bpeTokenizerJson(const BpeVocabulary& vocabulary);

// The Qwen2-style ChatML chat template (with its default system prompt) as transformers stores it.
const std::string& chatMlTemplate();

// tokenizer_config.json for ChatML: eos <|im_end|>, pad <|endoftext|>, no bos (as Qwen2 writes it).
// Needs the three default special tokens in the vocabulary.
std::string chatMlTokenizerConfigJson(const BpeVocabulary& vocabulary, int modelMaxLength);

// Writes DIR/tokenizer.json and DIR/tokenizer_config.json (atomically; DIR must exist).
void writeChatMlTokenizer(const std::string& directory, const BpeVocabulary& vocabulary, int modelMaxLength);

}  // namespace detox
