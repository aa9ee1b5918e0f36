// File helpers every writer in the project uses: nothing is ever half-written.
#pragma once
#include <string>
#include <string_view>

namespace detox {

// Reads a whole file; throws detox::Error(path, "", reason) when it cannot.
std::string readFile(const std::string& path);

// Writes to a temporary file in the target's folder, flushes it, then renames it over the target,
// so a reader sees either the old file or the complete new one. Throws detox::Error on failure and
// leaves the old file untouched.
void writeFileAtomically(const std::string& path, std::string_view contents);

}  // namespace detox
