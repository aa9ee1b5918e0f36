// Normalizers: text -> text before pre-tokenization (tokenizer.json "normalizer").
#include "tokenizer_internal.h"

namespace detox::tok {
namespace {

// Unicode NFC/NFKC is not implemented: the text passes through unchanged. Text that is already in
// NFC (nearly all real text, and everything the workbench feeds in) is unaffected by NFC; NFKC would
// additionally fold compatibility characters (full-width forms, ligatures) that this leaves as they are.
class PassThrough : public Normalizer {
public:
    void normalize(std::string&) const override {}
};

// Lower-cases ASCII, Latin-1, Latin Extended-A, Greek and Cyrillic capitals; other scripts are unchanged.
char32_t lowerCase(char32_t c) {
    if (c >= 'A' && c <= 'Z') return c + 32;
    if ((c >= 0xC0 && c <= 0xDE && c != 0xD7)) return c + 32;
    if (c >= 0x100 && c <= 0x17E && c != 0x130 && c != 0x138 && c != 0x149 && c != 0x178) {
        bool evenIsUpper = (c < 0x139) || (c >= 0x14A && c < 0x179);
        if (evenIsUpper ? (c % 2 == 0) : (c % 2 == 1)) return c + 1;
        return c;
    }
    if (c == 0x178) return 0xFF;
    if (c >= 0x391 && c <= 0x3AB && c != 0x3A2) return c + 32;
    if (c >= 0x410 && c <= 0x42F) return c + 32;
    if (c >= 0x400 && c <= 0x40F) return c + 80;
    return c;
}

class Lowercase : public Normalizer {
public:
    void normalize(std::string& text) const override {
        std::string out;
        out.reserve(text.size());
        char32_t c;
        for (size_t pos = 0; pos < text.size();) {
            size_t length = utf8Decode(text, pos, c);
            if (c == 0xFFFD && length == 1)
                out.append(text, pos, 1);
            else
                out += utf8Encode(lowerCase(c));
            pos += length;
        }
        text = std::move(out);
    }
};

class Prepend : public Normalizer {
public:
    explicit Prepend(std::string prefix) : prefix_(std::move(prefix)) {}
    void normalize(std::string& text) const override {
        if (!text.empty()) text.insert(0, prefix_);
    }

private:
    std::string prefix_;
};

class Replace : public Normalizer {
public:
    Replace(const Json& spec, const JsonPlace& place)
        : regex_(patternOf(spec, place), place.at("pattern")), content_(requireString(spec, place, "content")) {}
    void normalize(std::string& text) const override {
        auto matches = regex_.findAll(text);
        if (matches.empty()) return;
        std::string out;
        size_t last = 0;
        for (auto [begin, end] : matches) {
            out.append(text, last, begin - last);
            out += content_;
            last = end;
        }
        out.append(text, last, std::string::npos);
        text = std::move(out);
    }

    // {"String": "literal"} or {"Regex": "pattern"}, as Replace and Split write their patterns.
    static std::string patternOf(const Json& spec, const JsonPlace& place) {
        const Json& pattern = requireField(spec, place, "pattern");
        JsonPlace where = place.at("pattern");
        if (pattern.is_object() && pattern.contains("String") && pattern["String"].is_string())
            return escapeRegex(pattern["String"].get<std::string>());
        if (pattern.is_object() && pattern.contains("Regex") && pattern["Regex"].is_string())
            return pattern["Regex"].get<std::string>();
        where.fail("expected {\"String\": ...} or {\"Regex\": ...}");
    }

private:
    Regex regex_;
    std::string content_;
};

bool isUnicodeSpace(char32_t c) {
    return c == ' ' || (c >= 0x09 && c <= 0x0D) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

class Strip : public Normalizer {
public:
    Strip(bool left, bool right) : left_(left), right_(right) {}
    void normalize(std::string& text) const override {
        size_t begin = 0, end = text.size();
        char32_t c;
        if (left_) {
            while (begin < end) {
                size_t length = utf8Decode(text, begin, c);
                if (!isUnicodeSpace(c)) break;
                begin += length;
            }
        }
        if (right_) {
            while (end > begin) {
                size_t start = end - 1;
                while (start > begin && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
                utf8Decode(text, start, c);
                if (!isUnicodeSpace(c)) break;
                end = start;
            }
        }
        text = text.substr(begin, end - begin);
    }

private:
    bool left_, right_;
};

class Sequence : public Normalizer {
public:
    Sequence(const Json& spec, const JsonPlace& place) {
        const Json& list = requireField(spec, place, "normalizers");
        if (!list.is_array()) place.at("normalizers").fail("expected an array of normalizers");
        for (size_t i = 0; i < list.size(); ++i)
            if (!list[i].is_null()) parts_.push_back(makeNormalizer(list[i], place.at("normalizers").at(i)));
    }
    void normalize(std::string& text) const override {
        for (const auto& part : parts_) part->normalize(text);
    }

private:
    std::vector<std::unique_ptr<Normalizer>> parts_;
};

}  // namespace

std::unique_ptr<Normalizer> makeNormalizer(const Json& spec, const JsonPlace& place) {
    const std::string type = componentType(spec, place);
    if (type == "Sequence") return std::make_unique<Sequence>(spec, place);
    if (type == "NFC" || type == "NFKC") return std::make_unique<PassThrough>();
    if (type == "Lowercase") return std::make_unique<Lowercase>();
    if (type == "Prepend") return std::make_unique<Prepend>(requireString(spec, place, "prepend"));
    if (type == "Replace") return std::make_unique<Replace>(spec, place);
    if (type == "Strip")
        return std::make_unique<Strip>(boolOr(spec, place, "strip_left", true), boolOr(spec, place, "strip_right", true));
    place.at("type").fail("unsupported normalizer \"" + type +
                          "\" (supported: Sequence, NFC, NFKC, Lowercase, Prepend, Replace, Strip)");
}

}  // namespace detox::tok
