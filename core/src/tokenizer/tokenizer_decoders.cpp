// Decoders: vocabulary strings -> text (tokenizer.json "decoder"). Each step maps a token list to a
// token list, as HF's decode_chain does; the tokenizer joins the final list.
#include "tokenizer/tokenizer_internal.h"

namespace detox::tok {
namespace {

// Maps GPT-2's printable characters back to bytes; a token with a character outside the map keeps its bytes.
class ByteLevel : public Decoder {
public:
    std::vector<std::string> decode(std::vector<std::string> tokens) const override {
        std::string bytes;
        for (const auto& token : tokens) {
            std::string tokenBytes;
            bool mapped = true;
            for (const auto& character : utf8Characters(token)) {
                auto byte = unicodeToByte(character);
                if (!byte) {
                    mapped = false;
                    break;
                }
                tokenBytes += char(*byte);
            }
            bytes += mapped ? tokenBytes : token;
        }
        return {utf8Lossy(bytes)};
    }
};

class Metaspace : public Decoder {
public:
    Metaspace(const Json& spec, const JsonPlace& place) : replacement_(stringOr(spec, place, "replacement", "\xE2\x96\x81")) {
        std::string scheme = stringOr(spec, place, "prepend_scheme", "");
        stripFirst_ = scheme.empty() ? boolOr(spec, place, "add_prefix_space", true) : scheme != "never";
    }
    std::vector<std::string> decode(std::vector<std::string> tokens) const override {
        for (size_t i = 0; i < tokens.size(); ++i) {
            std::string text;
            for (size_t pos = 0; pos < tokens[i].size();) {
                if (tokens[i].compare(pos, replacement_.size(), replacement_) == 0) {
                    text += ' ';
                    pos += replacement_.size();
                } else {
                    text += tokens[i][pos++];
                }
            }
            if (i == 0 && stripFirst_ && !text.empty() && text[0] == ' ') text.erase(0, 1);
            tokens[i] = std::move(text);
        }
        return tokens;
    }

private:
    std::string replacement_;
    bool stripFirst_ = true;
};

class Replace : public Decoder {
public:
    Replace(const Json& spec, const JsonPlace& place)
        : regex_(patternOf(spec, place), place.at("pattern")), content_(requireString(spec, place, "content")) {}
    std::vector<std::string> decode(std::vector<std::string> tokens) const override {
        for (auto& token : tokens) {
            std::string out;
            size_t last = 0;
            for (auto [begin, end] : regex_.findAll(token)) {
                out.append(token, last, begin - last);
                out += content_;
                last = end;
            }
            out.append(token, last, std::string::npos);
            token = std::move(out);
        }
        return tokens;
    }

private:
    static std::string patternOf(const Json& spec, const JsonPlace& place) {
        const Json& pattern = requireField(spec, place, "pattern");
        if (pattern.is_object() && pattern.contains("String") && pattern["String"].is_string())
            return escapeRegex(pattern["String"].get<std::string>());
        if (pattern.is_object() && pattern.contains("Regex") && pattern["Regex"].is_string())
            return pattern["Regex"].get<std::string>();
        place.at("pattern").fail("expected {\"String\": ...} or {\"Regex\": ...}");
    }
    Regex regex_;
    std::string content_;
};

// Runs of <0xNN> tokens become the UTF-8 text they spell, or one U+FFFD per byte when they spell none.
class ByteFallback : public Decoder {
public:
    std::vector<std::string> decode(std::vector<std::string> tokens) const override {
        std::vector<std::string> out;
        std::string pending;
        auto flush = [&] {
            if (pending.empty()) return;
            if (utf8Lossy(pending) == pending) out.push_back(pending);
            else
                for (size_t i = 0; i < pending.size(); ++i) out.push_back("\xEF\xBF\xBD");
            pending.clear();
        };
        for (auto& token : tokens) {
            if (auto byte = byteToken(token)) {
                pending += char(*byte);
                continue;
            }
            flush();
            out.push_back(std::move(token));
        }
        flush();
        return out;
    }

private:
    static std::optional<uint8_t> byteToken(const std::string& token) {
        if (token.size() != 6 || token.compare(0, 3, "<0x") != 0 || token[5] != '>') return std::nullopt;
        auto hex = [](char c) -> int {
            if (c >= '0' && c <= '9') return c - '0';
            if (c >= 'A' && c <= 'F') return c - 'A' + 10;
            if (c >= 'a' && c <= 'f') return c - 'a' + 10;
            return -1;
        };
        int high = hex(token[3]), low = hex(token[4]);
        if (high < 0 || low < 0) return std::nullopt;
        return uint8_t(high * 16 + low);
    }
};

class Fuse : public Decoder {
public:
    std::vector<std::string> decode(std::vector<std::string> tokens) const override {
        std::string joined;
        for (const auto& token : tokens) joined += token;
        return {joined};
    }
};

// Removes up to `start` leading and `stop` trailing copies of one character from each token.
class Strip : public Decoder {
public:
    Strip(const Json& spec, const JsonPlace& place)
        : content_(requireString(spec, place, "content")),
          start_(intOr(spec, place, "start", 0)), stop_(intOr(spec, place, "stop", 0)) {
        if (utf8Characters(content_).size() != 1) place.at("content").fail("expected one character");
    }
    std::vector<std::string> decode(std::vector<std::string> tokens) const override {
        for (auto& token : tokens) {
            size_t begin = 0, end = token.size();
            for (int64_t i = 0; i < start_ && token.compare(begin, content_.size(), content_) == 0 && begin < end; ++i)
                begin += content_.size();
            for (int64_t i = 0; i < stop_ && end - begin >= content_.size() &&
                                token.compare(end - content_.size(), content_.size(), content_) == 0;
                 ++i)
                end -= content_.size();
            token = token.substr(begin, end - begin);
        }
        return tokens;
    }

private:
    std::string content_;
    int64_t start_, stop_;
};

class Sequence : public Decoder {
public:
    Sequence(const Json& spec, const JsonPlace& place) {
        const Json& list = requireField(spec, place, "decoders");
        if (!list.is_array()) place.at("decoders").fail("expected an array of decoders");
        for (size_t i = 0; i < list.size(); ++i)
            if (!list[i].is_null()) parts_.push_back(makeDecoder(list[i], place.at("decoders").at(i)));
    }
    std::vector<std::string> decode(std::vector<std::string> tokens) const override {
        for (const auto& part : parts_) tokens = part->decode(std::move(tokens));
        return tokens;
    }

private:
    std::vector<std::unique_ptr<Decoder>> parts_;
};

}  // namespace

std::unique_ptr<Decoder> makeDecoder(const Json& spec, const JsonPlace& place) {
    const std::string type = componentType(spec, place);
    if (type == "Sequence") return std::make_unique<Sequence>(spec, place);
    if (type == "ByteLevel") return std::make_unique<ByteLevel>();
    if (type == "Metaspace") return std::make_unique<Metaspace>(spec, place);
    if (type == "Replace") return std::make_unique<Replace>(spec, place);
    if (type == "ByteFallback") return std::make_unique<ByteFallback>();
    if (type == "Fuse") return std::make_unique<Fuse>();
    if (type == "Strip") return std::make_unique<Strip>(spec, place);
    place.at("type").fail("unsupported decoder \"" + type +
                          "\" (supported: Sequence, ByteLevel, Metaspace, Replace, ByteFallback, Fuse, Strip)");
}

}  // namespace detox::tok
