#include "checkpoint/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>

#include "detox/error.h"
#include "detox/fileio.h"

static_assert(std::endian::native == std::endian::little, "safetensors data is little-endian");

namespace detox::nn {
namespace {

constexpr uint64_t kMaxHeaderBytes = 100ull * 1024 * 1024;

std::string tensorField(const std::string& name) { return "tensor '" + name + "'"; }

uint64_t readLittleEndian64(const uint8_t* bytes) {
    uint64_t value = 0;
    std::memcpy(&value, bytes, 8);
    return value;
}

// Product of the shape times the element size, refusing overflow.
uint64_t expectedBytes(const std::string& path, const std::string& name, const std::vector<int64_t>& shape,
                       size_t elementBytes) {
    uint64_t total = elementBytes;
    for (int64_t dim : shape) {
        if (dim != 0 && total > std::numeric_limits<uint64_t>::max() / static_cast<uint64_t>(dim))
            throw Error(path, tensorField(name), "shape is too large");
        total *= static_cast<uint64_t>(dim);
    }
    return total;
}

TensorEntry parseEntry(const std::string& path, const std::string& name, const nlohmann::json& value,
                       uint64_t dataBytes) {
    if (!value.is_object()) throw Error(path, tensorField(name), "expected an object with dtype, shape, data_offsets");
    TensorEntry entry;
    entry.name = name;
    entry.file = path;
    auto dtype = value.find("dtype");
    if (dtype == value.end() || !dtype->is_string()) throw Error(path, tensorField(name), "missing string 'dtype'");
    entry.dtype = dtype->get<std::string>();
    if (entry.dtype != "F32" && entry.dtype != "F16" && entry.dtype != "BF16")
        throw Error(path, tensorField(name), "dtype '" + entry.dtype + "' is not supported (expected F32, F16 or BF16)");
    auto shape = value.find("shape");
    if (shape == value.end() || !shape->is_array()) throw Error(path, tensorField(name), "missing array 'shape'");
    for (const auto& dim : *shape) {
        if (!dim.is_number_integer() || dim.get<int64_t>() < 0)
            throw Error(path, tensorField(name), "shape must hold non-negative integers");
        entry.shape.push_back(dim.get<int64_t>());
    }
    auto offsets = value.find("data_offsets");
    if (offsets == value.end() || !offsets->is_array() || offsets->size() != 2 ||
        !(*offsets)[0].is_number_unsigned() || !(*offsets)[1].is_number_unsigned())
        throw Error(path, tensorField(name), "data_offsets must be two non-negative integers");
    entry.dataBegin = (*offsets)[0].get<uint64_t>();
    entry.dataEnd = (*offsets)[1].get<uint64_t>();
    if (entry.dataBegin > entry.dataEnd) throw Error(path, tensorField(name), "data_offsets begin after they end");
    if (entry.dataEnd > dataBytes)
        throw Error(path, tensorField(name),
                    "data_offsets end at byte " + std::to_string(entry.dataEnd) + " but the data section has only " +
                        std::to_string(dataBytes) + " bytes (file truncated?)");
    uint64_t expected = expectedBytes(path, name, entry.shape, dtypeBytes(entry.dtype));
    if (entry.dataEnd - entry.dataBegin != expected)
        throw Error(path, tensorField(name),
                    "holds " + std::to_string(entry.dataEnd - entry.dataBegin) + " bytes but shape x dtype needs " +
                        std::to_string(expected));
    return entry;
}

// Tensors must tile the data section exactly: sorted, no overlap, no gap, nothing left over.
void checkTiling(const std::string& path, std::vector<TensorEntry>& tensors, uint64_t dataBytes) {
    std::sort(tensors.begin(), tensors.end(), [](const TensorEntry& a, const TensorEntry& b) {
        return a.dataBegin != b.dataBegin ? a.dataBegin < b.dataBegin : a.dataEnd < b.dataEnd;
    });
    uint64_t expectedBegin = 0;
    for (const auto& entry : tensors) {
        if (entry.dataBegin < expectedBegin)
            throw Error(path, tensorField(entry.name), "data_offsets overlap the previous tensor");
        if (entry.dataBegin > expectedBegin)
            throw Error(path, tensorField(entry.name),
                        "gap of " + std::to_string(entry.dataBegin - expectedBegin) + " bytes before this tensor");
        expectedBegin = entry.dataEnd;
    }
    if (expectedBegin != dataBytes)
        throw Error(path, "data section",
                    std::to_string(dataBytes - expectedBegin) + " bytes after the last tensor belong to no tensor");
}

}  // namespace

size_t dtypeBytes(const std::string& dtype) {
    if (dtype == "F32") return 4;
    if (dtype == "F16" || dtype == "BF16") return 2;
    throw Error("", "dtype", "'" + dtype + "' is not supported (expected F32, F16 or BF16)");
}

torch::ScalarType scalarTypeOf(const std::string& dtype) {
    if (dtype == "F32") return torch::kFloat32;
    if (dtype == "F16") return torch::kFloat16;
    if (dtype == "BF16") return torch::kBFloat16;
    throw Error("", "dtype", "'" + dtype + "' is not supported (expected F32, F16 or BF16)");
}

std::string dtypeName(torch::ScalarType type) {
    if (type == torch::kFloat32) return "F32";
    if (type == torch::kFloat16) return "F16";
    if (type == torch::kBFloat16) return "BF16";
    throw Error("", "dtype", std::string("tensor type ") + c10::toString(type) + " cannot be stored");
}

SafetensorsHeader parseSafetensorsHeader(const std::string& path, const uint8_t* bytes, size_t available,
                                         uint64_t fileBytes) {
    if (fileBytes < 8 || available < 8)
        throw Error(path, "header", "file is too short for a safetensors header (" + std::to_string(fileBytes) + " bytes)");
    uint64_t headerBytes = readLittleEndian64(bytes);
    if (headerBytes > kMaxHeaderBytes)
        throw Error(path, "header", "header length " + std::to_string(headerBytes) + " is absurd (limit 100 MB)");
    if (headerBytes + 8 > fileBytes)
        throw Error(path, "header", "header length " + std::to_string(headerBytes) + " exceeds the file size " +
                                        std::to_string(fileBytes) + " (file truncated?)");
    if (available < headerBytes + 8) throw Error(path, "header", "could not read the whole header");
    nlohmann::json json;
    try {
        json = nlohmann::json::parse(bytes + 8, bytes + 8 + headerBytes);
    } catch (const std::exception& e) {
        throw Error(path, "header", std::string("header is not valid JSON: ") + e.what());
    }
    if (!json.is_object()) throw Error(path, "header", "header JSON must be an object");

    SafetensorsHeader header;
    header.path = path;
    header.headerBytes = headerBytes;
    header.fileBytes = fileBytes;
    uint64_t dataBytes = fileBytes - 8 - headerBytes;
    for (const auto& [name, value] : json.items()) {
        if (name == "__metadata__") {
            if (!value.is_object()) throw Error(path, "__metadata__", "expected an object of strings");
            for (const auto& [key, text] : value.items()) {
                if (!text.is_string()) throw Error(path, "__metadata__." + key, "expected a string");
                header.metadata[key] = text.get<std::string>();
            }
            continue;
        }
        header.tensors.push_back(parseEntry(path, name, value, dataBytes));
    }
    checkTiling(path, header.tensors, dataBytes);
    return header;
}

// ---- MappedFile ----

std::shared_ptr<MappedFile> MappedFile::open(const std::string& path) {
    InputFile input(path);  // a regular file only: a FIFO or device is refused, never waited on
    std::shared_ptr<MappedFile> file(new MappedFile());
    file->path_ = path;
    file->size_ = static_cast<size_t>(input.size());
    if (file->size_ > 0) {
        void* address = ::mmap(nullptr, file->size_, PROT_READ, MAP_PRIVATE, input.fd(), 0);
        if (address == MAP_FAILED) throw Error(path, "", std::string("cannot memory-map: ") + std::strerror(errno));
        file->data_ = static_cast<const uint8_t*>(address);
    }
    return file;
}

MappedFile::~MappedFile() {
    if (data_) ::munmap(const_cast<uint8_t*>(data_), size_);
}

void MappedFile::releasePages(size_t begin, size_t length) const {
    static const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
    size_t first = (begin + page - 1) / page * page;
    size_t last = (begin + length) / page * page;
    if (data_ && last > first) ::madvise(const_cast<uint8_t*>(data_) + first, last - first, MADV_DONTNEED);
}

// ---- SafetensorsFile ----

SafetensorsFile SafetensorsFile::open(const std::string& path) {
    SafetensorsFile file;
    file.mapping_ = MappedFile::open(path);
    file.header_ = parseSafetensorsHeader(path, file.mapping_->data(), file.mapping_->size(), file.mapping_->size());
    file.dataStart_ = 8 + file.header_.headerBytes;
    for (size_t i = 0; i < file.header_.tensors.size(); ++i) file.index_[file.header_.tensors[i].name] = i;
    return file;
}

const TensorEntry* SafetensorsFile::find(const std::string& name) const {
    auto it = index_.find(name);
    return it == index_.end() ? nullptr : &header_.tensors[it->second];
}

torch::Tensor SafetensorsFile::readRaw(const TensorEntry& entry) const {
    auto* address = const_cast<uint8_t*>(mapping_->data() + dataStart_ + entry.dataBegin);
    auto keepAlive = mapping_;
    auto options = torch::TensorOptions().dtype(scalarTypeOf(entry.dtype));
    if (reinterpret_cast<uintptr_t>(address) % dtypeBytes(entry.dtype) != 0)  // misaligned: copy
        return torch::from_blob(address, entry.shape, options).clone();
    return torch::from_blob(address, entry.shape, [keepAlive](void*) {}, options);
}

torch::Tensor SafetensorsFile::readAs(const TensorEntry& entry, torch::ScalarType dtype) const {
    torch::Tensor raw = readRaw(entry);
    if (raw.scalar_type() == dtype) return raw;
    torch::Tensor converted = raw.to(dtype);
    mapping_->releasePages(dataStart_ + entry.dataBegin, entry.dataEnd - entry.dataBegin);
    return converted;
}

// ---- public header reader (no mapping: reads just the header) ----

}  // namespace detox::nn

namespace detox {

SafetensorsHeader readSafetensorsHeader(const std::string& path) {
    InputFile input(path);  // a regular file only: a FIFO or device is refused, never waited on
    uint64_t fileBytes = input.size();
    std::string buffer(std::min<uint64_t>(fileBytes, 8), '\0');
    size_t got = input.readAt(buffer.data(), buffer.size(), 0);
    if (got == 8) {
        uint64_t headerBytes = 0;
        std::memcpy(&headerBytes, buffer.data(), 8);
        if (headerBytes <= 100ull * 1024 * 1024 && headerBytes + 8 <= fileBytes) {
            buffer.resize(8 + headerBytes);
            got += input.readAt(buffer.data() + 8, headerBytes, 8);
        }
    }
    return nn::parseSafetensorsHeader(path, reinterpret_cast<const uint8_t*>(buffer.data()), got, fileBytes);
}

}  // namespace detox

namespace detox::nn {
namespace {

// A file written under a temporary name next to the target, renamed over it on commit().
class AtomicFileWriter {
public:
    explicit AtomicFileWriter(std::string path) : path_(std::move(path)) {
        std::filesystem::path target(path_);
        std::filesystem::path folder = target.has_parent_path() ? target.parent_path() : ".";
        temporary_ = (folder / ("." + target.filename().string() + ".tmp-XXXXXX")).string();
        fd_ = ::mkstemp(temporary_.data());
        if (fd_ < 0) throw Error(path_, "", std::string("cannot create a temporary file next to it: ") + std::strerror(errno));
    }
    ~AtomicFileWriter() {
        if (fd_ >= 0) {
            ::close(fd_);
            ::unlink(temporary_.c_str());
        }
    }
    void write(const void* data, size_t length) {
        const char* bytes = static_cast<const char*>(data);
        while (length > 0) {
            ssize_t n = ::write(fd_, bytes, length);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) throw Error(path_, "", std::string("write failed: ") + std::strerror(errno));
            bytes += n;
            length -= static_cast<size_t>(n);
        }
    }
    void commit() {
        if (::fsync(fd_) != 0) throw Error(path_, "", std::string("fsync failed: ") + std::strerror(errno));
        ::fchmod(fd_, 0644);
        int result = ::close(fd_);
        fd_ = -1;
        if (result != 0 || ::rename(temporary_.c_str(), path_.c_str()) != 0) {
            int saved = errno;
            ::unlink(temporary_.c_str());
            throw Error(path_, "", std::string("cannot finish writing: ") + std::strerror(saved));
        }
    }

private:
    std::string path_;
    std::string temporary_;
    int fd_ = -1;
};

}  // namespace

void writeSafetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                      const std::map<std::string, std::string>& metadata) {
    std::vector<const TensorToWrite*> ordered;
    for (const auto& tensor : tensors) ordered.push_back(&tensor);
    std::sort(ordered.begin(), ordered.end(), [](auto* a, auto* b) { return a->name < b->name; });

    nlohmann::ordered_json header = nlohmann::ordered_json::object();
    if (!metadata.empty()) header["__metadata__"] = metadata;
    uint64_t offset = 0;
    for (const auto* tensor : ordered) {
        if (header.contains(tensor->name)) throw Error(path, tensorField(tensor->name), "written twice");
        uint64_t bytes = static_cast<uint64_t>(tensor->value.numel()) * dtypeBytes(tensor->dtype);
        header[tensor->name] = {{"dtype", tensor->dtype},
                                {"shape", tensor->value.sizes().vec()},
                                {"data_offsets", {offset, offset + bytes}}};
        offset += bytes;
    }
    std::string headerText = header.dump();
    headerText.append((8 - headerText.size() % 8) % 8, ' ');  // HF pads so the data starts 8-byte aligned

    AtomicFileWriter out(path);
    uint64_t headerBytes = headerText.size();
    out.write(&headerBytes, 8);
    out.write(headerText.data(), headerText.size());
    for (const auto* tensor : ordered) {
        torch::Tensor stored = tensor->value.detach().to(torch::kCPU, scalarTypeOf(tensor->dtype)).contiguous();
        out.write(stored.data_ptr(), static_cast<size_t>(stored.numel()) * dtypeBytes(tensor->dtype));
    }
    out.commit();
}

}  // namespace detox::nn
