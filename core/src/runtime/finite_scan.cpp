#include "runtime/finite_scan.h"

#include <ATen/Parallel.h>
#include <atomic>

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

}  // namespace

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
