// A deterministic mutation engine for the fuzz driver: the same seed and corpus give the same inputs on
// every machine (its own generator, no std::uniform_*_distribution, whose output differs between
// standard libraries). Mutations know a little about our formats: JSON numbers, strings and values are
// swapped for hostile ones (ids past int32, 1e308, NaN, wrong types), and 8-byte little-endian fields
// (the safetensors header length) for hostile sizes.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace detox::fuzz {

// splitmix64: tiny, fast, well distributed, identical everywhere.
class Random {
public:
    explicit Random(uint64_t seed) : state_(seed) {}
    uint64_t next();
    size_t below(size_t bound) { return bound == 0 ? 0 : size_t(next() % bound); }
    bool chance(unsigned percent) { return below(100) < percent; }

private:
    uint64_t state_;
};

class Mutator {
public:
    explicit Mutator(uint64_t seed) : random_(seed) {}
    // One to four stacked mutations of `input`; `others` feeds splices and cross-overs. maxBytes caps the result.
    std::string mutate(const std::string& input, const std::vector<std::string>& others, size_t maxBytes);
    Random& random() { return random_; }

private:
    void mutateOnce(std::string& data, const std::vector<std::string>& others);
    void flipBit(std::string& data);
    void setInterestingByte(std::string& data);
    void eraseRange(std::string& data);
    void insertBytes(std::string& data);
    void duplicateRange(std::string& data);
    void replaceNumber(std::string& data);
    void replaceString(std::string& data);
    void replaceValue(std::string& data);
    void writeInterestingU64(std::string& data);
    void splice(std::string& data, const std::vector<std::string>& others);
    void truncate(std::string& data);
    void nest(std::string& data);

    Random random_;
};

}  // namespace detox::fuzz
