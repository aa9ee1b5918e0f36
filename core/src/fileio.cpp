#include "detox/fileio.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

#include "detox/error.h"

namespace detox {

std::string readFile(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(path, "", std::string("cannot open file: ") + std::strerror(errno));
    std::ostringstream contents;
    contents << in.rdbuf();
    if (in.bad()) throw Error(path, "", "read error");
    return contents.str();
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
