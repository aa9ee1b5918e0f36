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

}  // namespace detox
