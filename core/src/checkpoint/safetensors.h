// Our own safetensors reader (memory-mapped, validated) and streaming writer. Internal (torch types).
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "detox/checkpoint/checkpoint.h"
#include "torch_pch.h"

namespace detox::nn {

// A read-only, private memory mapping of a whole file. Tensors viewing it keep it alive (shared_ptr).
// PROT_READ: any write into a mapped tensor faults at once instead of silently corrupting a source file.
class MappedFile {
public:
    static std::shared_ptr<MappedFile> open(const std::string& path);
    ~MappedFile();
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;

    const uint8_t* data() const { return data_; }
    size_t size() const { return size_; }
    const std::string& path() const { return path_; }
    // Drops the resident pages of a byte range we no longer read (after a converting copy), so the
    // peak memory of a load stays near the converted weights' size.
    void releasePages(size_t begin, size_t length) const;

private:
    MappedFile() = default;
    std::string path_;
    const uint8_t* data_ = nullptr;
    size_t size_ = 0;
};

size_t dtypeBytes(const std::string& dtype);               // 4, 2, 2; throws for unknown names
torch::ScalarType scalarTypeOf(const std::string& dtype);  // F32 -> kFloat ...
std::string dtypeName(torch::ScalarType type);             // kFloat -> "F32"; throws for others

// Validates a header given the file's first bytes. `available` is what was read from the file
// (at least 8 bytes + the header when the file is long enough); fileBytes is the whole file's size.
SafetensorsHeader parseSafetensorsHeader(const std::string& path, const uint8_t* bytes, size_t available,
                                         uint64_t fileBytes);

class SafetensorsFile {
public:
    static SafetensorsFile open(const std::string& path);

    const SafetensorsHeader& header() const { return header_; }
    const TensorEntry* find(const std::string& name) const;
    // The tensor as float32. F32 data is a zero-copy, READ-ONLY view of the mapping (clone before any
    // in-place write); F16/BF16 are converted into fresh memory and their mapped pages released.
    torch::Tensor readAsFloat(const TensorEntry& entry) const { return readAs(entry, torch::kFloat32); }
    // The same for any dtype: a view when stored in it, else converted (mapped pages released).
    torch::Tensor readAs(const TensorEntry& entry, torch::ScalarType dtype) const;
    // Where the tensor's bytes are in the mapping (a tensor with this data_ptr views the file).
    const void* rawAddress(const TensorEntry& entry) const { return mapping_->data() + dataStart_ + entry.dataBegin; }
    // The tensor exactly as stored (view of the mapping, read-only).
    torch::Tensor readRaw(const TensorEntry& entry) const;

private:
    SafetensorsHeader header_;
    std::shared_ptr<MappedFile> mapping_;
    uint64_t dataStart_ = 0;
    std::map<std::string, size_t> index_;
};

struct TensorToWrite {
    std::string name;
    torch::Tensor value;   // any float dtype/layout; converted to `dtype` while streaming
    std::string dtype;     // "F32", "F16", "BF16"
};

// Writes a safetensors file: header with offsets in name order, padded with spaces to a multiple of 8
// (as HF does), then the data, streamed tensor by tensor into a temporary file that is renamed over
// `path` at the end. Throws detox::Error on failure and leaves no partial file behind.
void writeSafetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                      const std::map<std::string, std::string>& metadata = {{"format", "pt"}});

}  // namespace detox::nn
