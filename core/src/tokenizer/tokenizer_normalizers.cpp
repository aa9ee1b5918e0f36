// Normalizers: text -> text before pre-tokenization (tokenizer.json "normalizer").
#include <unicode/unorm2.h>
#include <unicode/ustring.h>

#include <algorithm>

#include "detox/error.h"
#include "tokenizer/tokenizer_internal.h"

namespace detox::tok {
namespace {

bool isAscii(const std::string& text) {
    return std::all_of(text.begin(), text.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

// Runs an ICU call that fills a buffer twice: once to learn the length, once to fill it.
template <typename Char, typename Fill>
std::basic_string<Char> icuFilled(Fill fill, const char* what) {
    UErrorCode status = U_ZERO_ERROR;
    const int32_t needed = fill(nullptr, 0, &status);
    if (U_FAILURE(status) && status != U_BUFFER_OVERFLOW_ERROR)
        throw Error(std::string("Unicode normalization failed (") + what + "): " + u_errorName(status));
    std::basic_string<Char> out(static_cast<size_t>(needed), Char{});
    status = U_ZERO_ERROR;
    fill(out.data(), needed, &status);
    if (U_FAILURE(status)) throw Error(std::string("Unicode normalization failed (") + what + "): " + u_errorName(status));
    return out;
}

// The Unicode normalization forms (NFC, NFD, NFKC, NFKD) with ICU's tables, as HF tokenizers apply them
// (Qwen2 uses NFC; some BERT-era tokenizers NFKC/NFD). Invalid UTF-8 becomes U+FFFD, as it cannot reach
// HF tokenizers (Rust strings) at all.
class UnicodeNormalForm : public Normalizer {
public:
    UnicodeNormalForm(const std::string& form, const JsonPlace& place) {
        UErrorCode status = U_ZERO_ERROR;
        normalizer_ = form == "NFC"    ? unorm2_getNFCInstance(&status)
                      : form == "NFD"  ? unorm2_getNFDInstance(&status)
                      : form == "NFKC" ? unorm2_getNFKCInstance(&status)
                                       : unorm2_getNFKDInstance(&status);
        if (U_FAILURE(status)) place.at("type").fail(form + " tables are not available: " + u_errorName(status));
    }
    void normalize(std::string& text) const override {
        if (isAscii(text)) return;  // ASCII is the same in every normalization form
        const auto utf16 = icuFilled<UChar>([&](UChar* out, int32_t capacity, UErrorCode* status) {
            int32_t length = 0;
            u_strFromUTF8WithSub(out, capacity, &length, text.data(), static_cast<int32_t>(text.size()), 0xFFFD, nullptr, status);
            return length;
        }, "reading UTF-8");
        const auto normalized = icuFilled<UChar>([&](UChar* out, int32_t capacity, UErrorCode* status) {
            return unorm2_normalize(normalizer_, utf16.data(), static_cast<int32_t>(utf16.size()), out, capacity, status);
        }, "normalizing");
        text = icuFilled<char>([&](char* out, int32_t capacity, UErrorCode* status) {
            int32_t length = 0;
            u_strToUTF8(out, capacity, &length, normalized.data(), static_cast<int32_t>(normalized.size()), status);
            return length;
        }, "writing UTF-8");
    }

private:
    const UNormalizer2* normalizer_ = nullptr;  // owned by ICU
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
    if (type == "NFC" || type == "NFD" || type == "NFKC" || type == "NFKD") return std::make_unique<UnicodeNormalForm>(type, place);
    if (type == "Lowercase") return std::make_unique<Lowercase>();
    if (type == "Prepend") return std::make_unique<Prepend>(requireString(spec, place, "prepend"));
    if (type == "Replace") return std::make_unique<Replace>(spec, place);
    if (type == "Strip")
        return std::make_unique<Strip>(boolOr(spec, place, "strip_left", true), boolOr(spec, place, "strip_right", true));
    place.at("type").fail("unsupported normalizer \"" + type +
                          "\" (supported: Sequence, NFC, NFD, NFKC, NFKD, Lowercase, Prepend, Replace, Strip)");
}

}  // namespace detox::tok
