// SHA-256 as specified in FIPS 180-4, written for this project (no external crypto dependency).
#include "detox/hash.h"

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <vector>

#include "detox/error.h"
#include "detox/fileio.h"

namespace detox {
namespace {

constexpr std::array<uint32_t, 64> kRoundConstants = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

constexpr uint32_t rotateRight(uint32_t value, int bits) { return (value >> bits) | (value << (32 - bits)); }

// Incremental hasher: feed bytes in any chunk sizes, then finish once.
class Sha256 {
public:
    void update(const unsigned char* data, size_t size) {
        totalBytes_ += size;
        while (size > 0) {
            size_t take = std::min(size, block_.size() - blockUsed_);
            std::memcpy(block_.data() + blockUsed_, data, take);
            blockUsed_ += take;
            data += take;
            size -= take;
            if (blockUsed_ == block_.size()) {
                compress(block_.data());
                blockUsed_ = 0;
            }
        }
    }

    std::string finishHex() {
        const uint64_t totalBits = totalBytes_ * 8;
        const unsigned char marker = 0x80;
        update(&marker, 1);
        const unsigned char zero = 0;
        while (blockUsed_ != 56) update(&zero, 1);
        unsigned char length[8];
        for (int i = 0; i < 8; ++i) length[i] = static_cast<unsigned char>(totalBits >> (56 - 8 * i));
        update(length, 8);
        static const char* digits = "0123456789abcdef";
        std::string hex;
        hex.reserve(64);
        for (uint32_t word : state_)
            for (int shift = 28; shift >= 0; shift -= 4) hex += digits[(word >> shift) & 0xf];
        return hex;
    }

private:
    void compress(const unsigned char* chunk) {
        uint32_t schedule[64];
        for (int i = 0; i < 16; ++i)
            schedule[i] = (uint32_t(chunk[4 * i]) << 24) | (uint32_t(chunk[4 * i + 1]) << 16) |
                          (uint32_t(chunk[4 * i + 2]) << 8) | uint32_t(chunk[4 * i + 3]);
        for (int i = 16; i < 64; ++i) {
            uint32_t s0 = rotateRight(schedule[i - 15], 7) ^ rotateRight(schedule[i - 15], 18) ^ (schedule[i - 15] >> 3);
            uint32_t s1 = rotateRight(schedule[i - 2], 17) ^ rotateRight(schedule[i - 2], 19) ^ (schedule[i - 2] >> 10);
            schedule[i] = schedule[i - 16] + s0 + schedule[i - 7] + s1;
        }
        uint32_t a = state_[0], b = state_[1], c = state_[2], d = state_[3];
        uint32_t e = state_[4], f = state_[5], g = state_[6], h = state_[7];
        for (int i = 0; i < 64; ++i) {
            uint32_t s1 = rotateRight(e, 6) ^ rotateRight(e, 11) ^ rotateRight(e, 25);
            uint32_t choose = (e & f) ^ (~e & g);
            uint32_t temp1 = h + s1 + choose + kRoundConstants[i] + schedule[i];
            uint32_t s0 = rotateRight(a, 2) ^ rotateRight(a, 13) ^ rotateRight(a, 22);
            uint32_t majority = (a & b) ^ (a & c) ^ (b & c);
            uint32_t temp2 = s0 + majority;
            h = g;
            g = f;
            f = e;
            e = d + temp1;
            d = c;
            c = b;
            b = a;
            a = temp1 + temp2;
        }
        state_[0] += a; state_[1] += b; state_[2] += c; state_[3] += d;
        state_[4] += e; state_[5] += f; state_[6] += g; state_[7] += h;
    }

    std::array<uint32_t, 8> state_ = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                      0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    std::array<unsigned char, 64> block_{};
    size_t blockUsed_ = 0;
    uint64_t totalBytes_ = 0;
};

}  // namespace

std::string sha256Hex(std::string_view bytes) {
    Sha256 hasher;
    hasher.update(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
    return hasher.finishHex();
}

std::string sha256File(const std::string& path) {
    InputFile in(path);  // a regular file only
    Sha256 hasher;
    std::vector<char> buffer(1 << 20);
    uint64_t offset = 0;
    while (size_t got = in.readAt(buffer.data(), buffer.size(), offset)) {
        hasher.update(reinterpret_cast<const unsigned char*>(buffer.data()), got);
        offset += got;
    }
    return hasher.finishHex();
}

namespace {
// The xxHash64 primes and round (Yann Collet's public design), written here for this project.
constexpr uint64_t kPrime1 = 0x9E3779B185EBCA87ull, kPrime2 = 0xC2B2AE3D27D4EB4Full, kPrime3 = 0x165667B19E3779F9ull;
inline uint64_t rotate(uint64_t v, int r) { return (v << r) | (v >> (64 - r)); }
inline uint64_t round(uint64_t lane, uint64_t input) { return rotate(lane + input * kPrime2, 31) * kPrime1; }
}  // namespace

FastDigest64::FastDigest64(uint64_t seed) : lanes_{seed + kPrime1 + kPrime2, seed + kPrime2, seed, seed - kPrime1} {}

void FastDigest64::update(const void* data, size_t bytes) {
    const auto* p = static_cast<const uint8_t*>(data);
    size_t offset = 0;
    for (; offset + 32 <= bytes; offset += 32)
        for (int i = 0; i < 4; ++i) {
            uint64_t word;
            std::memcpy(&word, p + offset + 8 * i, 8);
            lanes_[i] = round(lanes_[i], word);
        }
    total_ += bytes;
    tail_ = p + offset;
    tailBytes_ = bytes - offset;
}

uint64_t FastDigest64::finish() const {
    uint64_t digest = rotate(lanes_[0], 1) + rotate(lanes_[1], 7) + rotate(lanes_[2], 12) + rotate(lanes_[3], 18);
    digest ^= total_ * kPrime3;
    for (size_t i = 0; i < tailBytes_; ++i) digest = rotate(digest ^ (tail_[i] * kPrime1), 11) * kPrime2;
    digest ^= digest >> 33;
    digest *= kPrime2;
    digest ^= digest >> 29;
    return digest;
}

uint64_t fastDigest64(const void* data, size_t bytes, uint64_t seed) {
    FastDigest64 digest(seed);
    digest.update(data, bytes);
    return digest.finish();
}

}  // namespace detox
