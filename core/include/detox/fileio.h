// File helpers every reader and writer in the project uses: only regular files are read (never a FIFO,
// device or directory, which would block or make no sense), and nothing is ever half-written.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace detox {

// Largest file readFile reads whole (JSON, text): anything bigger is refused before it is read.
constexpr uint64_t kMaxWholeFileBytes = 1ull << 30;

// An existing regular file opened read-only. The open never blocks: it uses O_NONBLOCK, then fstat on the
// descriptor refuses a directory, FIFO, socket or device by name (detox::Error(path, "", "is a
// directory, expected a file") ...); only then is O_NONBLOCK cleared. Closes on destruction.
class InputFile {
public:
    explicit InputFile(const std::string& path);
    ~InputFile();
    InputFile(const InputFile&) = delete;
    InputFile& operator=(const InputFile&) = delete;

    int fd() const { return fd_; }
    uint64_t size() const { return size_; }
    const std::string& path() const { return path_; }
    // Reads up to `length` bytes at `offset` (fewer only at the end of the file); throws on a read error.
    size_t readAt(char* into, size_t length, uint64_t offset) const;
    // The whole file; refuses one larger than maxBytes before reading it.
    std::string readAll(uint64_t maxBytes = kMaxWholeFileBytes) const;

private:
    std::string path_;
    int fd_ = -1;
    uint64_t size_ = 0;
};

// Throws detox::Error naming `path` unless it is an existing regular file (symlinks followed).
void requireRegularFile(const std::string& path);

// Reads a whole regular file (at most kMaxWholeFileBytes); throws detox::Error(path, "", reason) when it cannot.
std::string readFile(const std::string& path);

// Checks, before any work starts, that a file can be written at `path`: it is not a folder or another
// non-regular file, and its folder exists and is writable. Throws detox::Error naming the path.
void checkOutputFile(const std::string& path);

// The same for a folder to be created or filled: an existing `path` must be a folder, and the nearest
// existing folder at or above it must be writable.
void checkOutputFolder(const std::string& path);

// Writes to a temporary file in the target's folder, flushes it, then renames it over the target,
// so a reader sees either the old file or the complete new one. Throws detox::Error on failure and
// leaves the old file untouched.
void writeFileAtomically(const std::string& path, std::string_view contents);

}  // namespace detox
