// Pre-tokenizers: a text segment -> the words BPE sees (tokenizer.json "pre_tokenizer").
#include "tokenizer/tokenizer_internal.h"

namespace detox::tok {
namespace {

// GPT-2's word pattern (HF ByteLevel with use_regex).
const char* kGpt2Pattern = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

class ByteLevel : public PreTokenizer {
public:
    ByteLevel(const Json& spec, const JsonPlace& place)
        : addPrefixSpace_(boolOr(spec, place, "add_prefix_space", true)), useRegex_(boolOr(spec, place, "use_regex", true)) {
        if (useRegex_) regex_ = std::make_unique<Regex>(kGpt2Pattern, place);
    }
    std::vector<std::string> split(const std::string& segment, bool) const override {
        std::string text = segment;
        if (addPrefixSpace_ && !text.empty() && text[0] != ' ') text.insert(0, " ");
        std::vector<std::string> words =
            useRegex_ ? splitByMatches(text, regex_->findAll(text), SplitBehavior::Isolated, false)
                      : std::vector<std::string>{text};
        for (auto& word : words) {
            std::string mapped;
            mapped.reserve(word.size() * 2);
            for (unsigned char byte : word) mapped += byteToUnicode(byte);
            word = std::move(mapped);
        }
        return words;
    }

private:
    bool addPrefixSpace_, useRegex_;
    std::unique_ptr<Regex> regex_;
};

SplitBehavior behaviorFrom(const std::string& name, const JsonPlace& place) {
    if (name == "Removed") return SplitBehavior::Removed;
    if (name == "Isolated") return SplitBehavior::Isolated;
    if (name == "MergedWithPrevious") return SplitBehavior::MergedWithPrevious;
    if (name == "MergedWithNext") return SplitBehavior::MergedWithNext;
    if (name == "Contiguous") return SplitBehavior::Contiguous;
    place.fail("one of Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous; found \"" + name + "\"");
}

class RegexSplit : public PreTokenizer {
public:
    RegexSplit(const std::string& pattern, const JsonPlace& place, SplitBehavior behavior, bool invert)
        : regex_(pattern, place), behavior_(behavior), invert_(invert) {}
    std::vector<std::string> split(const std::string& segment, bool) const override {
        return splitByMatches(segment, regex_.findAll(segment), behavior_, invert_);
    }

private:
    Regex regex_;
    SplitBehavior behavior_;
    bool invert_;
};

std::unique_ptr<PreTokenizer> makeSplit(const Json& spec, const JsonPlace& place) {
    const Json& pattern = requireField(spec, place, "pattern");
    std::string regex;
    if (pattern.is_object() && pattern.contains("String") && pattern["String"].is_string())
        regex = escapeRegex(pattern["String"].get<std::string>());
    else if (pattern.is_object() && pattern.contains("Regex") && pattern["Regex"].is_string())
        regex = pattern["Regex"].get<std::string>();
    else
        place.at("pattern").fail("expected {\"String\": ...} or {\"Regex\": ...}");
    SplitBehavior behavior = behaviorFrom(requireString(spec, place, "behavior"), place.at("behavior"));
    return std::make_unique<RegexSplit>(regex, place.at("pattern"), behavior, boolOr(spec, place, "invert", false));
}

class Metaspace : public PreTokenizer {
public:
    enum class Prepend { Always, First, Never };
    Metaspace(const Json& spec, const JsonPlace& place)
        : replacement_(stringOr(spec, place, "replacement", "\xE2\x96\x81")), split_(boolOr(spec, place, "split", true)) {
        if (spec.contains("prepend_scheme") && !spec["prepend_scheme"].is_null()) {
            std::string scheme = requireString(spec, place, "prepend_scheme");
            if (scheme == "always") prepend_ = Prepend::Always;
            else if (scheme == "first") prepend_ = Prepend::First;
            else if (scheme == "never") prepend_ = Prepend::Never;
            else place.at("prepend_scheme").fail("one of \"always\", \"first\", \"never\"; found \"" + scheme + "\"");
        } else {
            prepend_ = boolOr(spec, place, "add_prefix_space", true) ? Prepend::Always : Prepend::Never;
        }
        if (replacement_.empty()) place.at("replacement").fail("expected one character");
    }
    std::vector<std::string> split(const std::string& segment, bool isFirstSegment) const override {
        std::string text;
        text.reserve(segment.size() * 2);
        for (char c : segment) {
            if (c == ' ') text += replacement_;
            else text += c;
        }
        bool prepend = prepend_ == Prepend::Always || (prepend_ == Prepend::First && isFirstSegment);
        if (prepend && text.compare(0, replacement_.size(), replacement_) != 0) text.insert(0, replacement_);
        if (!split_) return {text};
        std::vector<std::pair<size_t, size_t>> matches;
        for (size_t pos = text.find(replacement_); pos != std::string::npos; pos = text.find(replacement_, pos + 1))
            matches.emplace_back(pos, pos + replacement_.size());
        return splitByMatches(text, matches, SplitBehavior::MergedWithNext, false);
    }

private:
    std::string replacement_;
    bool split_;
    Prepend prepend_ = Prepend::Always;
};

class Sequence : public PreTokenizer {
public:
    Sequence(const Json& spec, const JsonPlace& place) {
        const Json& list = requireField(spec, place, "pretokenizers");
        if (!list.is_array()) place.at("pretokenizers").fail("expected an array of pre-tokenizers");
        for (size_t i = 0; i < list.size(); ++i)
            if (!list[i].is_null()) parts_.push_back(makePreTokenizer(list[i], place.at("pretokenizers").at(i)));
    }
    std::vector<std::string> split(const std::string& segment, bool isFirstSegment) const override {
        std::vector<std::string> words{segment};
        for (const auto& part : parts_) {
            std::vector<std::string> next;
            for (size_t i = 0; i < words.size(); ++i) {
                // Only the very first word of the first segment counts as the start of the input.
                auto pieces = part->split(words[i], isFirstSegment && i == 0);
                for (auto& piece : pieces) next.push_back(std::move(piece));
            }
            words = std::move(next);
        }
        return words;
    }

private:
    std::vector<std::unique_ptr<PreTokenizer>> parts_;
};

}  // namespace

std::vector<std::string> splitByMatches(const std::string& text, const std::vector<std::pair<size_t, size_t>>& matches,
                                        SplitBehavior behavior, bool invert) {
    // Cover the text with spans, each flagged as delimiter (a match, or a gap when inverted) or not.
    struct Span {
        size_t begin, end;
        bool delimiter;
    };
    std::vector<Span> spans;
    size_t last = 0;
    for (auto [begin, end] : matches) {
        if (begin > last) spans.push_back({last, begin, invert});
        spans.push_back({begin, end, !invert});
        last = end;
    }
    if (last < text.size()) spans.push_back({last, text.size(), invert});

    std::vector<std::string> words;
    if (behavior == SplitBehavior::MergedWithNext) {
        // Right to left: a delimiter joins the word after it, unless that word is a delimiter too (as HF does).
        bool nextWasDelimiter = false;
        for (auto span = spans.rbegin(); span != spans.rend(); ++span) {
            std::string piece = text.substr(span->begin, span->end - span->begin);
            if (span->delimiter && !nextWasDelimiter && !words.empty()) words.back().insert(0, piece);
            else words.push_back(std::move(piece));
            nextWasDelimiter = span->delimiter;
        }
        return {words.rbegin(), words.rend()};
    }
    bool lastWasDelimiter = false;   // Contiguous: delimiters run together
    for (const Span& span : spans) {
        std::string piece = text.substr(span.begin, span.end - span.begin);
        switch (behavior) {
            case SplitBehavior::Removed:
                if (!span.delimiter) words.push_back(std::move(piece));
                break;
            case SplitBehavior::Isolated:
                words.push_back(std::move(piece));
                break;
            case SplitBehavior::MergedWithPrevious:
                if (span.delimiter && !words.empty() && !lastWasDelimiter) words.back() += piece;
                else words.push_back(std::move(piece));
                break;
            case SplitBehavior::MergedWithNext:
                break;  // handled below, right to left
            case SplitBehavior::Contiguous:
                if (span.delimiter && lastWasDelimiter) words.back() += piece;
                else words.push_back(std::move(piece));
                break;
        }
        lastWasDelimiter = span.delimiter;
    }
    return words;
}

std::unique_ptr<PreTokenizer> makePreTokenizer(const Json& spec, const JsonPlace& place) {
    const std::string type = componentType(spec, place);
    if (type == "Sequence") return std::make_unique<Sequence>(spec, place);
    if (type == "ByteLevel") return std::make_unique<ByteLevel>(spec, place);
    if (type == "Split") return makeSplit(spec, place);
    if (type == "Metaspace") return std::make_unique<Metaspace>(spec, place);
    if (type == "Whitespace") return std::make_unique<RegexSplit>(R"(\w+|[^\w\s]+)", place, SplitBehavior::Removed, true);
    if (type == "WhitespaceSplit") return std::make_unique<RegexSplit>(R"(\s+)", place, SplitBehavior::Removed, false);
    if (type == "Digits") {
        bool individual = boolOr(spec, place, "individual_digits", false);
        return std::make_unique<RegexSplit>(R"(\p{N})", place,
                                            individual ? SplitBehavior::Isolated : SplitBehavior::Contiguous, false);
    }
    place.at("type").fail("unsupported pre_tokenizer \"" + type +
                          "\" (supported: Sequence, ByteLevel, Split, Metaspace, Whitespace, WhitespaceSplit, Digits)");
}

}  // namespace detox::tok
