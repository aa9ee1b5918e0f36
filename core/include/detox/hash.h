// SHA-256 digests for provenance (datasets, checkpoints, results).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace detox {

// Lower-case hex SHA-256 of the bytes (64 characters).
std::string sha256Hex(std::string_view bytes);

// Lower-case hex SHA-256 of a file's bytes, read in chunks so large checkpoints need little memory.
// Throws detox::Error(path, "", reason) when the file cannot be read.
std::string sha256File(const std::string& path);

// A fast, non-cryptographic 64-bit digest of the bytes (four multiply-rotate lanes, about memory speed):
// tells a checkpoint's weights apart at load without SHA-256's cost over gigabytes. Not for hostile input.
uint64_t fastDigest64(const void* data, size_t bytes, uint64_t seed = 0);

// The same digest over bytes given in pieces (every piece but the last a multiple of 32 bytes; the last
// one read again by finish(), so it must stay readable until then), so a caller can read each piece once
// for the digest and for its own check while it is in cache.
class FastDigest64 {
public:
    explicit FastDigest64(uint64_t seed = 0);
    void update(const void* data, size_t bytes);
    uint64_t finish() const;

private:
    uint64_t lanes_[4];
    size_t total_ = 0;
    const uint8_t* tail_ = nullptr;  // the last piece's bytes past its last whole 32
    size_t tailBytes_ = 0;
};

}  // namespace detox
