// SHA-256 digests for provenance (datasets, checkpoints, results).
#pragma once
#include <string>
#include <string_view>

namespace detox {

// Lower-case hex SHA-256 of the bytes (64 characters).
std::string sha256Hex(std::string_view bytes);

// Lower-case hex SHA-256 of a file's bytes, read in chunks so large checkpoints need little memory.
// Throws detox::Error(path, "", reason) when the file cannot be read.
std::string sha256File(const std::string& path);

}  // namespace detox
