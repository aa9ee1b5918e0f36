// Byte-level BPE training (see detox/bpe_trainer.h). The corpus is split into words by the same
// pre-tokenizer object the written tokenizer.json builds at load time, so training and encoding agree.
#include "detox/tokenizer/bpe_trainer.h"

#include <algorithm>
#include <map>
#include <unordered_map>

#include "detox/error.h"
#include "detox/fileio.h"
#include "tokenizer/tokenizer_internal.h"

namespace detox {
namespace {

using tok::Json;
using OrderedJson = nlohmann::ordered_json;

struct Word {
    std::vector<int> symbols;
    long long count = 0;
};

// Splits text around the special tokens (they never take part in merges).
std::vector<std::string> segmentsWithoutSpecials(const std::string& text, const std::vector<std::string>& specials) {
    std::vector<std::string> segments{text};
    for (const auto& special : specials) {
        std::vector<std::string> next;
        for (const auto& segment : segments) {
            size_t begin = 0, found;
            while ((found = segment.find(special, begin)) != std::string::npos) {
                if (found > begin) next.push_back(segment.substr(begin, found - begin));
                begin = found + special.size();
            }
            if (begin < segment.size()) next.push_back(segment.substr(begin));
        }
        segments = std::move(next);
    }
    return segments;
}

std::map<std::string, long long> countWords(const std::vector<std::string>& texts, const std::vector<std::string>& specials,
                                            JobControl& job) {
    const std::string source = "bpe trainer";
    const Json spec = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}};
    auto preTokenizer = tok::makePreTokenizer(spec, tok::JsonPlace{source, "pre_tokenizer"});
    std::map<std::string, long long> counts;  // ordered: word order (hence ties) never depends on hashing
    for (const auto& text : texts) {
        job.checkpoint();
        for (const auto& segment : segmentsWithoutSpecials(text, specials))
            for (const auto& word : preTokenizer->split(segment, true)) ++counts[word];
    }
    return counts;
}

uint64_t pairKey(int left, int right) { return (uint64_t(uint32_t(left)) << 32) | uint32_t(right); }

// Replaces every non-overlapping (left, right), scanning left to right, by merged.
void applyMerge(std::vector<int>& symbols, int left, int right, int merged) {
    size_t write = 0;
    for (size_t read = 0; read < symbols.size(); ++write) {
        if (read + 1 < symbols.size() && symbols[read] == left && symbols[read + 1] == right) {
            symbols[write] = merged;
            read += 2;
        } else {
            symbols[write] = symbols[read];
            read += 1;
        }
    }
    symbols.resize(write);
}

}  // namespace

std::string byteLevelSymbol(unsigned char byte) { return tok::byteToUnicode(byte); }

int BpeVocabulary::specialTokenId(const std::string& content) const {
    auto it = std::find(specialTokens.begin(), specialTokens.end(), content);
    if (it == specialTokens.end()) throw Error("", "special token " + content, "not in the vocabulary");
    return static_cast<int>(tokens.size() + static_cast<size_t>(it - specialTokens.begin()));
}

BpeVocabulary trainByteLevelBpe(const std::vector<std::string>& texts, const BpeTrainerSettings& settings, JobControl& job) {
    const int reserved = 256 + static_cast<int>(settings.specialTokens.size());
    if (settings.vocabSize < reserved)
        throw Error("", "vocab size", "must be at least " + std::to_string(reserved) +
                                          " (256 byte symbols + the special tokens), got " + std::to_string(settings.vocabSize));
    BpeVocabulary vocabulary;
    vocabulary.specialTokens = settings.specialTokens;
    std::unordered_map<std::string, int> idOf;
    for (int byte = 0; byte < 256; ++byte) {
        vocabulary.tokens.push_back(byteLevelSymbol(static_cast<unsigned char>(byte)));
        idOf[vocabulary.tokens.back()] = byte;
    }

    std::vector<Word> words;
    for (const auto& [text, count] : countWords(texts, settings.specialTokens, job)) {
        Word word;
        word.count = count;
        for (const auto& character : tok::utf8Characters(text)) word.symbols.push_back(idOf.at(character));
        words.push_back(std::move(word));
    }

    const int mergesWanted = settings.vocabSize - reserved;
    while (static_cast<int>(vocabulary.tokens.size()) - 256 < mergesWanted) {
        job.checkpoint();
        std::unordered_map<uint64_t, long long> pairCounts;
        for (const auto& word : words)
            for (size_t i = 0; i + 1 < word.symbols.size(); ++i) pairCounts[pairKey(word.symbols[i], word.symbols[i + 1])] += word.count;
        // Most frequent first; ties by the smaller left symbol, then the smaller right symbol.
        uint64_t best = 0;
        long long bestCount = 0;
        for (const auto& [key, count] : pairCounts) {
            if (count < bestCount) continue;
            if (count == bestCount) {
                const auto& tokens = vocabulary.tokens;
                auto candidate = std::tie(tokens[key >> 32], tokens[key & 0xFFFFFFFFu]);
                auto current = std::tie(tokens[best >> 32], tokens[best & 0xFFFFFFFFu]);
                if (!(candidate < current)) continue;
            }
            best = key;
            bestCount = count;
        }
        if (bestCount < std::max(1, settings.minPairFrequency)) break;
        const int left = static_cast<int>(best >> 32), right = static_cast<int>(best & 0xFFFFFFFFu);
        const std::string mergedText = vocabulary.tokens[left] + vocabulary.tokens[right];
        // A string reached by another merge path keeps its first id (a vocabulary maps strings to ids).
        auto [it, added] = idOf.emplace(mergedText, static_cast<int>(vocabulary.tokens.size()));
        if (added) vocabulary.tokens.push_back(mergedText);
        vocabulary.merges.emplace_back(vocabulary.tokens[left], vocabulary.tokens[right]);
        for (auto& word : words) applyMerge(word.symbols, left, right, it->second);
        job.report({static_cast<int>(vocabulary.tokens.size()) - 256, mergesWanted, "learning BPE merges", {}});
    }
    return vocabulary;
}

std::string bpeTokenizerJson(const BpeVocabulary& vocabulary) {
    OrderedJson vocab = OrderedJson::object();
    for (size_t id = 0; id < vocabulary.tokens.size(); ++id) vocab[vocabulary.tokens[id]] = id;
    OrderedJson merges = OrderedJson::array();
    for (const auto& [left, right] : vocabulary.merges) merges.push_back(left + " " + right);
    OrderedJson added = OrderedJson::array();
    for (const auto& special : vocabulary.specialTokens)
        added.push_back({{"id", vocabulary.specialTokenId(special)}, {"content", special}, {"single_word", false},
                         {"lstrip", false}, {"rstrip", false}, {"normalized", false}, {"special", true}});
    OrderedJson byteLevel = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", true}};
    OrderedJson root = {
        {"version", "1.0"},
        {"truncation", nullptr},
        {"padding", nullptr},
        {"added_tokens", added},
        {"normalizer", nullptr},
        {"pre_tokenizer", byteLevel},
        {"post_processor", byteLevel},
        {"decoder", byteLevel},
        {"model",
         {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr}, {"continuing_subword_prefix", ""},
          {"end_of_word_suffix", ""}, {"fuse_unk", false}, {"byte_fallback", false}, {"ignore_merges", false},
          {"vocab", vocab}, {"merges", merges}}}};
    return root.dump(2) + "\n";
}

const std::string& chatMlTemplate() {
    // Qwen2-Instruct's template; "\n" inside the Jinja string literals is an escape, as transformers stores it.
    static const std::string text =
        R"({% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %})";
    return text;
}

std::string chatMlTokenizerConfigJson(const BpeVocabulary& vocabulary, int modelMaxLength) {
    OrderedJson decoderEntries = OrderedJson::object();
    for (const auto& special : vocabulary.specialTokens)
        decoderEntries[std::to_string(vocabulary.specialTokenId(special))] = {
            {"content", special}, {"lstrip", false}, {"normalized", false}, {"rstrip", false},
            {"single_word", false}, {"special", true}};
    for (const char* needed : {"<|endoftext|>", "<|im_start|>", "<|im_end|>"})
        vocabulary.specialTokenId(needed);  // throws when a ChatML token is missing
    OrderedJson config = {
        {"add_prefix_space", false},
        {"added_tokens_decoder", decoderEntries},
        {"additional_special_tokens", {"<|im_start|>", "<|im_end|>"}},
        {"bos_token", nullptr},
        {"chat_template", chatMlTemplate()},
        {"clean_up_tokenization_spaces", false},
        {"eos_token", "<|im_end|>"},
        {"errors", "replace"},
        {"model_max_length", modelMaxLength},
        {"pad_token", "<|endoftext|>"},
        {"split_special_tokens", false},
        {"tokenizer_class", "PreTrainedTokenizerFast"},
        {"unk_token", nullptr}};
    return config.dump(2) + "\n";
}

void writeChatMlTokenizer(const std::string& directory, const BpeVocabulary& vocabulary, int modelMaxLength) {
    const std::string config = chatMlTokenizerConfigJson(vocabulary, modelMaxLength);
    writeFileAtomically(directory + "/tokenizer.json", bpeTokenizerJson(vocabulary));
    writeFileAtomically(directory + "/tokenizer_config.json", config);
}

}  // namespace detox
