#include "detox/fileio.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <sys/stat.h>
#include <unistd.h>

#include "detox/error.h"

namespace detox {

namespace {

// What a non-regular file is, for the refusal.
std::string kindOf(mode_t mode) {
    if (S_ISDIR(mode)) return "is a directory";
    if (S_ISFIFO(mode)) return "is a named pipe (FIFO)";
    if (S_ISSOCK(mode)) return "is a socket";
    if (S_ISCHR(mode) || S_ISBLK(mode)) return "is a device";
    return "is not a regular file";
}

}  // namespace

InputFile::InputFile(const std::string& path) : path_(path) {
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd_ < 0) throw Error(path, "", std::string("cannot open file: ") + std::strerror(errno));
    struct stat info {};
    if (::fstat(fd_, &info) != 0) {
        int saved = errno;
        ::close(fd_);
        throw Error(path, "", std::string("cannot stat: ") + std::strerror(saved));
    }
    if (!S_ISREG(info.st_mode)) {
        ::close(fd_);
        throw Error(path, "", kindOf(info.st_mode) + ", expected a regular file");
    }
    ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) & ~O_NONBLOCK);
    size_ = static_cast<uint64_t>(info.st_size);
}

InputFile::~InputFile() {
    if (fd_ >= 0) ::close(fd_);
}

size_t InputFile::readAt(char* into, size_t length, uint64_t offset) const {
    size_t done = 0;
    while (done < length) {
        ssize_t n = ::pread(fd_, into + done, length - done, static_cast<off_t>(offset + done));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw Error(path_, "", std::string("read error: ") + std::strerror(errno));
        if (n == 0) break;
        done += static_cast<size_t>(n);
    }
    return done;
}

std::string InputFile::readAll(uint64_t maxBytes) const {
    if (size_ > maxBytes)
        throw Error(path_, "", "is " + std::to_string(size_ >> 20) + " MiB; files read whole are limited to " +
                                   std::to_string(maxBytes >> 20) + " MiB");
    std::string contents(static_cast<size_t>(size_), '\0');
    contents.resize(readAt(contents.data(), contents.size(), 0));
    return contents;
}

void requireRegularFile(const std::string& path) { InputFile check(path); }

std::string readFile(const std::string& path) { return InputFile(path).readAll(); }

namespace {

// Permission bits do not tell (root passes access() on /proc, a read-only mount has them too): creates
// and removes a temporary entry in `folder`.
void probeWritable(const std::string& path, const std::string& folder) {
    std::string probe = (std::filesystem::path(folder) / ".detox-write-probe-XXXXXX").string();
    if (!::mkdtemp(probe.data()))
        throw Error(path, "", "cannot write here: folder " + folder + " is not writable (" + std::strerror(errno) + ")");
    ::rmdir(probe.c_str());
}

}  // namespace

void checkOutputFile(const std::string& path) {
    namespace fs = std::filesystem;
    if (path.empty()) throw Error("", "output", "an empty path; expected a file name");
    struct stat info {};
    if (::stat(path.c_str(), &info) == 0 && !S_ISREG(info.st_mode))
        throw Error(path, "", kindOf(info.st_mode) + "; expected a file path to write");
    const fs::path target(path);
    const std::string folder = target.has_parent_path() ? target.parent_path().string() : ".";
    if (::stat(folder.c_str(), &info) != 0)
        throw Error(path, "", "cannot write here: folder " + folder + ": " + std::strerror(errno));
    if (!S_ISDIR(info.st_mode)) throw Error(path, "", "cannot write here: " + folder + " is not a folder");
    probeWritable(path, folder);
}

void checkOutputFolder(const std::string& path) {
    namespace fs = std::filesystem;
    if (path.empty()) throw Error("", "output", "an empty path; expected a folder name");
    fs::path at = fs::absolute(fs::path(path)).lexically_normal();
    struct stat info {};
    if (::stat(at.c_str(), &info) == 0 && !S_ISDIR(info.st_mode))
        throw Error(path, "", (S_ISREG(info.st_mode) ? std::string("is a file") : kindOf(info.st_mode)) + "; expected a folder");
    while (::stat(at.c_str(), &info) != 0) {
        if ((errno != ENOENT && errno != ENOTDIR) || !at.has_parent_path() || at.parent_path() == at)
            throw Error(path, "", std::string("cannot create this folder: ") + std::strerror(errno));
        at = at.parent_path();
    }
    if (!S_ISDIR(info.st_mode)) throw Error(path, "", "cannot create this folder: " + at.string() + " is not a folder");
    probeWritable(path, at.string());
}

void writeFileAtomically(const std::string& path, std::string_view contents) {
    namespace fs = std::filesystem;
    fs::path target(path);
    fs::path folder = target.has_parent_path() ? target.parent_path() : fs::path(".");
    std::string pattern = (folder / ("." + target.filename().string() + ".tmp-XXXXXX")).string();
    int fd = ::mkstemp(pattern.data());
    if (fd < 0) throw Error(path, "", std::string("cannot create a temporary file next to it: ") + std::strerror(errno));
    auto fail = [&](const std::string& what) {
        int saved = errno;
        ::close(fd);
        ::unlink(pattern.c_str());
        throw Error(path, "", what + ": " + std::strerror(saved));
    };
    size_t written = 0;
    while (written < contents.size()) {
        ssize_t n = ::write(fd, contents.data() + written, contents.size() - written);
        if (n < 0) {
            if (errno == EINTR) continue;
            fail("write failed");
        }
        written += static_cast<size_t>(n);
    }
    if (::fsync(fd) != 0) fail("fsync failed");
    ::fchmod(fd, 0644);
    if (::close(fd) != 0) {
        ::unlink(pattern.c_str());
        throw Error(path, "", std::string("close failed: ") + std::strerror(errno));
    }
    if (::rename(pattern.c_str(), path.c_str()) != 0) {
        int saved = errno;
        ::unlink(pattern.c_str());
        throw Error(path, "", std::string("rename failed: ") + std::strerror(saved));
    }
}

}  // namespace detox
