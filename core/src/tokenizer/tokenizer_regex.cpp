// PCRE2 wrapper: UTF mode with Unicode properties, so \p{L}, \s and (?!\S) behave as in HF tokenizers.
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "tokenizer/tokenizer_internal.h"

namespace detox::tok {

struct Regex::Compiled {
    pcre2_code* code = nullptr;
    ~Compiled() { pcre2_code_free(code); }
};

Regex::Regex(const std::string& pattern, const JsonPlace& place) : compiled_(std::make_unique<Compiled>()) {
    int errorCode = 0;
    PCRE2_SIZE errorOffset = 0;
    compiled_->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                    PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &errorCode, &errorOffset, nullptr);
    if (!compiled_->code) {
        PCRE2_UCHAR message[256];
        pcre2_get_error_message(errorCode, message, sizeof(message));
        place.fail("a regular expression PCRE2 accepts; at offset " + std::to_string(errorOffset) + ": " +
                   reinterpret_cast<const char*>(message));
    }
    pcre2_jit_compile(compiled_->code, PCRE2_JIT_COMPLETE);  // optional speed-up; falls back to the interpreter
}

Regex::~Regex() = default;

std::vector<std::pair<size_t, size_t>> Regex::findAll(const std::string& text) const {
    std::vector<std::pair<size_t, size_t>> matches;
    pcre2_match_data* data = pcre2_match_data_create_from_pattern(compiled_->code, nullptr);
    const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
    size_t offset = 0;
    while (offset <= text.size()) {
        int rc = pcre2_match(compiled_->code, subject, text.size(), offset, 0, data, nullptr);
        if (rc < 0) break;
        PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(data);
        size_t begin = ovector[0], end = ovector[1];
        if (end == begin) {
            // An empty match splits nothing; step over one character and go on.
            if (begin >= text.size()) break;
            char32_t codepoint;
            offset = begin + utf8Decode(text, begin, codepoint);
            continue;
        }
        matches.emplace_back(begin, end);
        offset = end;
    }
    pcre2_match_data_free(data);
    return matches;
}

std::string escapeRegex(const std::string& literal) {
    // \Q...\E quotes everything except a literal "\E", which is spliced in separately.
    std::string out = "\\Q";
    for (size_t i = 0; i < literal.size(); ++i) {
        if (literal.compare(i, 2, "\\E") == 0) {
            out += "\\E\\\\E\\Q";
            ++i;
        } else {
            out += literal[i];
        }
    }
    return out + "\\E";
}

}  // namespace detox::tok
