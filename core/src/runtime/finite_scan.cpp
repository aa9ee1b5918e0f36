#include "runtime/finite_scan.h"

#include <ATen/Parallel.h>
#include <atomic>
#include <cstring>
#include <vector>

#include "detox/hash.h"

namespace detox::nn {
namespace {

// Elements whose exponent bits (`mask`) are all set are Inf or NaN.
template <typename Bits>
bool exponentsFinite(const Bits* data, int64_t count, Bits mask) {
    std::atomic<bool> finite{true};
    at::parallel_for(0, count, int64_t(1) << 18, [&](int64_t begin, int64_t end) {
        if (!finite.load(std::memory_order_relaxed)) return;
        bool chunkFinite = true;
        for (int64_t i = begin; i < end; ++i) chunkFinite &= (data[i] & mask) != mask;
        if (!chunkFinite) finite.store(false, std::memory_order_relaxed);
    });
    return finite.load();
}

// The exponent mask of a stored dtype's values (0: no bit test for it) and its element size.
struct ExponentBits {
    uint32_t mask = 0;
    size_t elementBytes = 0;
};
ExponentBits exponentBitsOf(const std::string& dtype) {
    if (dtype == "F32") return {0x7F800000u, 4};
    if (dtype == "BF16") return {0x7F80u, 2};
    if (dtype == "F16") return {0x7C00u, 2};
    return {};
}

template <typename Bits>
bool piecesFinite(const uint8_t* data, size_t bytes, Bits mask) {
    bool finite = true;
    for (size_t offset = 0; offset + sizeof(Bits) <= bytes; offset += sizeof(Bits)) {
        Bits value;
        std::memcpy(&value, data + offset, sizeof(Bits));
        finite &= (value & mask) != mask;
    }
    return finite;
}

}  // namespace

StoredBytesScan scanStoredBytes(const void* data, size_t bytes, const std::string& dtype) {
    constexpr size_t kChunk = size_t(4) << 20;  // the digest's definition: changing it changes every hash
    constexpr size_t kPiece = size_t(64) << 10;  // read once by the digest, again from L2 by the test
    const ExponentBits exponent = exponentBitsOf(dtype);
    const int64_t chunks = int64_t((bytes + kChunk - 1) / kChunk);
    std::vector<uint64_t> digests(size_t(chunks), 0);
    std::atomic<bool> finite{true};
    at::parallel_for(0, chunks, 1, [&](int64_t begin, int64_t end) {
        for (int64_t c = begin; c < end; ++c) {
            const auto* chunk = static_cast<const uint8_t*>(data) + size_t(c) * kChunk;
            const size_t chunkBytes = std::min(kChunk, bytes - size_t(c) * kChunk);
            FastDigest64 digest{uint64_t(c)};
            bool chunkFinite = true;
            for (size_t offset = 0; offset < chunkBytes; offset += kPiece) {
                const size_t pieceBytes = std::min(kPiece, chunkBytes - offset);
                digest.update(chunk + offset, pieceBytes);
                if (exponent.elementBytes == 4)
                    chunkFinite &= piecesFinite<uint32_t>(chunk + offset, pieceBytes, exponent.mask);
                else if (exponent.elementBytes == 2)
                    chunkFinite &= piecesFinite<uint16_t>(chunk + offset, pieceBytes, uint16_t(exponent.mask));
            }
            digests[size_t(c)] = digest.finish();
            if (!chunkFinite) finite.store(false, std::memory_order_relaxed);
        }
    });
    StoredBytesScan scan;
    scan.digest = fastDigest64(digests.data(), digests.size() * sizeof(uint64_t), bytes);
    if (exponent.mask != 0) scan.finite = finite.load();
    return scan;
}

bool allFinite(const torch::Tensor& tensor) {
    if (!tensor.defined() || tensor.numel() == 0) return true;
    // A transposed view (GPT-2's Conv1D weights) is a contiguous tensor read the other way round.
    const torch::Tensor dense = tensor.is_contiguous() ? tensor : tensor.t().is_contiguous() ? tensor.t() : torch::Tensor();
    if (!tensor.device().is_cpu() || !dense.defined()) return torch::isfinite(tensor).all().item<bool>();
    switch (dense.scalar_type()) {
    case torch::kFloat32:
        return exponentsFinite(static_cast<const uint32_t*>(dense.data_ptr()), dense.numel(), uint32_t(0x7F800000));
    case torch::kBFloat16:
        return exponentsFinite(static_cast<const uint16_t*>(dense.data_ptr()), dense.numel(), uint16_t(0x7F80));
    case torch::kHalf:
        return exponentsFinite(static_cast<const uint16_t*>(dense.data_ptr()), dense.numel(), uint16_t(0x7C00));
    default:
        return torch::isfinite(tensor).all().item<bool>();
    }
}

}  // namespace detox::nn
