// Internal pieces of the HuggingFace tokenizer pipeline (see detox/tokenizer.h):
//   added-token split -> normalizer -> pre-tokenizer -> BPE model -> post-processor;  ids -> decoder.
// Each stage is built from its tokenizer.json object by a make* function that throws detox::Error
// naming the file and the JSON field.
#pragma once
#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "detox/tokenizer/tokenizer.h"

namespace detox::tok {

using Json = nlohmann::json;

// Where a JSON value sits, for error messages: the file and a path like "model.merges[12]".
struct JsonPlace {
    const std::string& file;
    std::string path;

    JsonPlace at(const std::string& key) const { return {file, path.empty() ? key : path + "." + key}; }
    JsonPlace at(size_t index) const { return {file, path + "[" + std::to_string(index) + "]"}; }
    [[noreturn]] void fail(const std::string& expected) const;
};

const Json& requireField(const Json& object, const JsonPlace& place, const std::string& key);
std::string requireString(const Json& object, const JsonPlace& place, const std::string& key);
std::string stringOr(const Json& object, const JsonPlace& place, const std::string& key, const std::string& fallback);
bool boolOr(const Json& object, const JsonPlace& place, const std::string& key, bool fallback);
int64_t intOr(const Json& object, const JsonPlace& place, const std::string& key, int64_t fallback);
// The "type" of a component object, or fails with the list of supported types.
std::string componentType(const Json& object, const JsonPlace& place);

// ---- UTF-8 ----
// Splits text into UTF-8 characters; a byte that starts no valid sequence is a character of its own.
std::vector<std::string> utf8Characters(const std::string& text);
std::string utf8Encode(char32_t codepoint);
// Decodes one character at text[pos]; returns its length (1 for an invalid byte, codepoint U+FFFD).
size_t utf8Decode(const std::string& text, size_t pos, char32_t& codepoint);
// Replaces invalid sequences by U+FFFD, like Rust's String::from_utf8_lossy.
std::string utf8Lossy(const std::string& bytes);
// GPT-2's reversible byte <-> printable-character map.
const std::string& byteToUnicode(uint8_t byte);
std::optional<uint8_t> unicodeToByte(const std::string& character);

// ---- regex (PCRE2, UTF + Unicode properties) ----
class Regex {
public:
    Regex(const std::string& pattern, const JsonPlace& place);
    ~Regex();
    Regex(const Regex&) = delete;
    Regex& operator=(const Regex&) = delete;
    // Non-overlapping matches as [begin, end) byte ranges, left to right.
    std::vector<std::pair<size_t, size_t>> findAll(const std::string& text) const;

private:
    struct Compiled;
    std::unique_ptr<Compiled> compiled_;
};
std::string escapeRegex(const std::string& literal);

// ---- normalizers ----
class Normalizer {
public:
    virtual ~Normalizer() = default;
    virtual void normalize(std::string& text) const = 0;
};
std::unique_ptr<Normalizer> makeNormalizer(const Json& spec, const JsonPlace& place);

// ---- pre-tokenizers ----
// split() gets one text segment between added tokens; isFirstSegment: it starts the input
// (Metaspace prepend_scheme "first").
class PreTokenizer {
public:
    virtual ~PreTokenizer() = default;
    virtual std::vector<std::string> split(const std::string& piece, bool isFirstSegment) const = 0;
};
std::unique_ptr<PreTokenizer> makePreTokenizer(const Json& spec, const JsonPlace& place);

// How a Split pre-tokenizer treats the delimiters it finds.
enum class SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };
std::vector<std::string> splitByMatches(const std::string& text, const std::vector<std::pair<size_t, size_t>>& matches,
                                        SplitBehavior behavior, bool invert);

// ---- BPE model ----
class BpeModel {
public:
    BpeModel(const Json& spec, const JsonPlace& place);
    void tokenize(const std::string& word, std::vector<int>& out) const;
    const std::unordered_map<std::string, int>& vocab() const { return vocab_; }
    std::optional<int> unkId() const { return unkId_; }

private:
    struct PairHash {
        size_t operator()(uint64_t key) const { return std::hash<uint64_t>()(key * 0x9E3779B97F4A7C15ull); }
    };
    struct Merge {
        int rank;
        int newId;
    };
    void initialSymbols(const std::string& word, std::vector<int>& symbols) const;
    void applyMerges(std::vector<int>& symbols) const;
    static uint64_t pairKey(int left, int right) { return (uint64_t(uint32_t(left)) << 32) | uint32_t(right); }

    std::unordered_map<std::string, int> vocab_;
    std::unordered_map<uint64_t, Merge, PairHash> merges_;
    std::optional<int> unkId_;
    bool byteFallback_ = false;
    bool fuseUnk_ = false;
    bool ignoreMerges_ = false;
    std::string continuingSubwordPrefix_;
    std::string endOfWordSuffix_;
    // byte_fallback: the id of each "<0xNN>" token, or -1 where the vocabulary lacks it (a character
    // with a missing byte token falls back to unk, as HF decides per character).
    std::array<int, 256> byteTokenIds_{};
    bool byteTokens(const std::string& symbol, std::vector<int>& ids) const;

    mutable std::mutex cacheMutex_;
    mutable std::unordered_map<std::string, std::vector<int>> cache_;
};

// ---- decoders ----
class Decoder {
public:
    virtual ~Decoder() = default;
    virtual std::vector<std::string> decode(std::vector<std::string> tokens) const = 0;
};
std::unique_ptr<Decoder> makeDecoder(const Json& spec, const JsonPlace& place);

// ---- post-processors: special tokens around one sequence ----
struct PostProcessor {
    std::vector<int> prefix;
    std::vector<int> suffix;
};
// Resolves token names through lookup; nullopt spec = no post-processor.
PostProcessor makePostProcessor(const Json& spec, const JsonPlace& place,
                                const std::function<std::optional<int>(const std::string&)>& lookup);

// ---- chat templates ----
struct ChatTokens {
    std::string bos;
    std::string eos;
    std::string defaultSystemPrompt;  // e.g. Qwen2's "You are a helpful assistant."
    std::string instClose = " [/INST]";  // Mistral v0.3 writes "[/INST]" without the space
};
ChatTemplate detectChatTemplate(const std::string& templateText);
// Details of the detected template that the fixed renderings need (default system prompt, [/INST] spacing).
void readTemplateDetails(const std::string& templateText, ChatTemplate format, ChatTokens& tokens);
std::string renderChat(ChatTemplate format, const ChatTokens& tokens, const std::string& user, const std::string& system);

}  // namespace detox::tok
