// A fast test for NaN and infinite values in a weight tensor (before editing and saving), and the load's
// one read of each stored tensor: its digest for contentHash and the same test, together.
#pragma once
#include <optional>
#include <string>

#include "torch_pch.h"

namespace detox::nn {

// True when every value is finite. F32/BF16/F16 tensors on the CPU are read once as bits (an exponent of
// all ones is Inf or NaN), in parallel, with no allocation: at memory speed, so a load can afford it.
// Other dtypes and devices go through torch::isfinite.
bool allFinite(const torch::Tensor& tensor);

// A stored tensor's bytes as its file holds them (`dtype` as safetensors names it), read once: their
// digest (4 MiB chunks digested in parallel, then the chunks' digests: memory speed, where SHA-256 over a
// 7B's 13.5 GB would take a minute) and, while each piece is in cache, whether every value is finite
// (F32, BF16 and F16; unset for other dtypes: the caller tests the loaded value). Converting to float32
// keeps finiteness, so the test holds for the converted weight too.
struct StoredBytesScan {
    uint64_t digest = 0;
    std::optional<bool> finite;
};
StoredBytesScan scanStoredBytes(const void* data, size_t bytes, const std::string& dtype);

}  // namespace detox::nn
