// UTF-8 helpers and GPT-2's byte <-> character map.
#include <array>

#include "tokenizer/tokenizer_internal.h"

namespace detox::tok {

size_t utf8Decode(const std::string& text, size_t pos, char32_t& codepoint) {
    const auto byte = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
    unsigned char lead = byte(pos);
    size_t length = lead < 0x80 ? 1 : (lead >> 5) == 0x6 ? 2 : (lead >> 4) == 0xE ? 3 : (lead >> 3) == 0x1E ? 4 : 0;
    codepoint = 0xFFFD;
    if (length == 0 || pos + length > text.size()) return 1;
    if (length == 1) {
        codepoint = lead;
        return 1;
    }
    char32_t value = lead & (0x7F >> length);
    for (size_t i = 1; i < length; ++i) {
        if ((byte(pos + i) & 0xC0) != 0x80) return 1;
        value = (value << 6) | (byte(pos + i) & 0x3F);
    }
    static constexpr char32_t kSmallest[] = {0, 0, 0x80, 0x800, 0x10000};
    if (value < kSmallest[length] || value > 0x10FFFF || (value >= 0xD800 && value <= 0xDFFF)) return 1;
    codepoint = value;
    return length;
}

std::vector<std::string> utf8Characters(const std::string& text) {
    std::vector<std::string> characters;
    characters.reserve(text.size());
    char32_t codepoint;
    for (size_t pos = 0; pos < text.size();) {
        size_t length = utf8Decode(text, pos, codepoint);
        characters.emplace_back(text, pos, length);
        pos += length;
    }
    return characters;
}

std::string utf8Encode(char32_t c) {
    std::string out;
    if (c < 0x80) {
        out += char(c);
    } else if (c < 0x800) {
        out += char(0xC0 | (c >> 6));
        out += char(0x80 | (c & 0x3F));
    } else if (c < 0x10000) {
        out += char(0xE0 | (c >> 12));
        out += char(0x80 | ((c >> 6) & 0x3F));
        out += char(0x80 | (c & 0x3F));
    } else {
        out += char(0xF0 | (c >> 18));
        out += char(0x80 | ((c >> 12) & 0x3F));
        out += char(0x80 | ((c >> 6) & 0x3F));
        out += char(0x80 | (c & 0x3F));
    }
    return out;
}

std::string utf8Lossy(const std::string& bytes) {
    std::string out;
    out.reserve(bytes.size());
    char32_t codepoint;
    for (size_t pos = 0; pos < bytes.size();) {
        size_t length = utf8Decode(bytes, pos, codepoint);
        if (codepoint == 0xFFFD && length == 1)
            out += "\xEF\xBF\xBD";
        else
            out.append(bytes, pos, length);
        pos += length;
    }
    return out;
}

namespace {
// Printable bytes map to themselves; the others to U+0100 onwards, in byte order (GPT-2's bytes_to_unicode).
struct ByteMap {
    std::array<std::string, 256> toUnicode;
    std::unordered_map<std::string, uint8_t> toByte;
    ByteMap() {
        char32_t next = 256;
        for (int b = 0; b < 256; ++b) {
            bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
            toUnicode[b] = utf8Encode(printable ? char32_t(b) : next++);
            toByte[toUnicode[b]] = uint8_t(b);
        }
    }
};
const ByteMap& byteMap() {
    static const ByteMap map;
    return map;
}
}  // namespace

const std::string& byteToUnicode(uint8_t byte) { return byteMap().toUnicode[byte]; }

std::optional<uint8_t> unicodeToByte(const std::string& character) {
    const auto& table = byteMap().toByte;
    auto it = table.find(character);
    if (it == table.end()) return std::nullopt;
    return it->second;
}

}  // namespace detox::tok
