#include "mutator.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <string_view>

namespace detox::fuzz {
namespace {

// Numbers that broke readers before (issue 16) or sit on a type's edge.
constexpr std::array<std::string_view, 26> kNumbers = {
    "0", "-1", "1", "2", "-0", "0.5", "255", "256", "65535", "65536", "2147483647", "2147483648",
    "-2147483648", "-2147483649", "4294967296", "1099511627776", "9223372036854775807", "9223372036854775808",
    "18446744073709551615", "1e308", "-1e308", "1e-320", "3.5e38", "1e1000", "NaN", "Infinity"};

// Strings that make a reader decide something: empty, huge, control and invalid bytes, numbers as text.
constexpr std::array<std::string_view, 14> kStrings = {
    "\"\"", "\"-4\"", "\"NaN\"", "\"\\u0000\"", "\"\\ud800\"", "\"\xff\xfe\"", "\"\xc0\xaf\"", "\"F32\"", "\"BF16\"",
    "\"I64\"", "\"llama\"", "\"gpt2\"", "\"a\\\"b\"", "\"\\\\\""};

// Values of every JSON type, for type confusion.
constexpr std::array<std::string_view, 12> kValues = {
    "null", "true", "false", "[]", "{}", "\"x\"", "0", "-1", "[1,2,3]", "{\"a\":1}", "[[]]", "1e308"};

constexpr std::array<uint64_t, 14> kSizes = {0,          1,          7,          8,          0x7fffffffull,
                                              0x80000000ull, 0xffffffffull, 0x100000000ull, 100000000ull, 1ull << 40,
                                              (1ull << 63) - 1, 1ull << 63, ~0ull, ~0ull - 7};

constexpr std::array<unsigned char, 16> kBytes = {0, 0xff, 0x7f, 0x80, '"', '{', '}', '[', ']', ',', ':', '\\', '0', '-',
                                                  'e', '.'};

bool isNumberChar(char c) { return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E'; }

}  // namespace

uint64_t Random::next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

std::string Mutator::mutate(const std::string& input, const std::vector<std::string>& others, size_t maxBytes) {
    std::string data = input;
    const size_t count = 1 + random_.below(4);
    for (size_t i = 0; i < count; ++i) mutateOnce(data, others);
    if (data.size() > maxBytes) data.resize(maxBytes);
    return data;
}

void Mutator::mutateOnce(std::string& data, const std::vector<std::string>& others) {
    switch (random_.below(13)) {
        case 0: flipBit(data); break;
        case 1: setInterestingByte(data); break;
        case 2: eraseRange(data); break;
        case 3: insertBytes(data); break;
        case 4: duplicateRange(data); break;
        case 5: case 6: replaceNumber(data); break;  // numbers decide allocations: twice as often
        case 7: replaceString(data); break;
        case 8: replaceValue(data); break;
        case 9: writeInterestingU64(data); break;
        case 10: splice(data, others); break;
        case 11: truncate(data); break;
        default: nest(data); break;
    }
}

void Mutator::flipBit(std::string& data) {
    if (data.empty()) return;
    data[random_.below(data.size())] ^= char(1u << random_.below(8));
}

void Mutator::setInterestingByte(std::string& data) {
    if (data.empty()) return;
    data[random_.below(data.size())] = char(kBytes[random_.below(kBytes.size())]);
}

void Mutator::eraseRange(std::string& data) {
    if (data.empty()) return;
    const size_t at = random_.below(data.size());
    const size_t length = 1 + random_.below(random_.chance(20) ? data.size() - at : std::min<size_t>(16, data.size() - at));
    data.erase(at, length);
}

void Mutator::insertBytes(std::string& data) {
    const size_t at = random_.below(data.size() + 1);
    std::string bytes(1 + random_.below(8), '\0');
    for (char& c : bytes) c = char(random_.next());
    data.insert(at, bytes);
}

void Mutator::duplicateRange(std::string& data) {
    if (data.empty()) return;
    const size_t from = random_.below(data.size());
    const size_t length = 1 + random_.below(std::min<size_t>(256, data.size() - from));
    data.insert(random_.below(data.size() + 1), data.substr(from, length));
}

// A run of number characters starting at a random place (searching forward) becomes a hostile number.
void Mutator::replaceNumber(std::string& data) {
    if (data.empty()) return;
    size_t at = random_.below(data.size());
    while (at < data.size() && !(data[at] >= '0' && data[at] <= '9')) ++at;
    if (at == data.size()) return;
    while (at > 0 && isNumberChar(data[at - 1])) --at;
    size_t end = at;
    while (end < data.size() && isNumberChar(data[end])) ++end;
    data.replace(at, end - at, kNumbers[random_.below(kNumbers.size())]);
}

// A quoted string (from a random quote onwards) becomes a hostile one, or a copy of another in the input.
void Mutator::replaceString(std::string& data) {
    if (data.empty()) return;
    const size_t open = data.find('"', random_.below(data.size()));
    if (open == std::string::npos) return;
    const size_t close = data.find('"', open + 1);
    if (close == std::string::npos) return;
    std::string replacement;
    if (random_.chance(15))
        replacement = "\"" + std::string(1 + random_.below(70000), 'A') + "\"";
    else
        replacement = kStrings[random_.below(kStrings.size())];
    data.replace(open, close - open + 1, replacement);
}

// The value after a ':' (up to the next ',' or '}') becomes a value of another type.
void Mutator::replaceValue(std::string& data) {
    if (data.empty()) return;
    const size_t colon = data.find(':', random_.below(data.size()));
    if (colon == std::string::npos) return;
    const size_t end = data.find_first_of(",}", colon + 1);
    if (end == std::string::npos) return;
    data.replace(colon + 1, end - colon - 1, kValues[random_.below(kValues.size())]);
}

// An 8-byte little-endian field (at offset 0, the safetensors header length, half of the time).
void Mutator::writeInterestingU64(std::string& data) {
    if (data.size() < 8) return;
    const size_t at = random_.chance(50) ? 0 : random_.below(data.size() - 7);
    const uint64_t value = kSizes[random_.below(kSizes.size())];
    for (int i = 0; i < 8; ++i) data[at + i] = char((value >> (8 * i)) & 0xff);
}

void Mutator::splice(std::string& data, const std::vector<std::string>& others) {
    if (others.empty()) return;
    const std::string& other = others[random_.below(others.size())];
    const size_t keep = random_.below(data.size() + 1);
    const size_t from = random_.below(other.size() + 1);
    if (random_.chance(50)) {
        data = data.substr(0, keep) + other.substr(from);
    } else {  // a chunk of the other input inserted here
        data.insert(keep, other.substr(from, 1 + random_.below(512)));
    }
}

void Mutator::truncate(std::string& data) { data.resize(random_.below(data.size() + 1)); }

void Mutator::nest(std::string& data) {
    const size_t depth = 1 + random_.below(random_.chance(10) ? 100000 : 64);
    const bool array = random_.chance(50);
    std::string open, close;
    for (size_t i = 0; i < depth; ++i) {
        open += array ? "[" : "{\"a\":";
        close += array ? "]" : "}";
    }
    const size_t at = random_.below(data.size() + 1);
    data.insert(at, open + "1" + close);
}

}  // namespace detox::fuzz
