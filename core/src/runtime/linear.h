// Row-aware linear layer: y = x W^T + b, as torch::linear, with a fast path for the one-token decode.
//
// With one row per sequence (KV-cache decode: [batch, 1, in]) torch::linear runs through OpenBLAS's
// sgemm, which packs the whole weight matrix on every call and reads it at a third of the memory
// bandwidth. For up to kMaxFastRows rows of float32 input on the CPU and an F32 or BF16 weight
// (stored-dtype mode: converted in registers, read at 2 bytes a weight), linear() reads each weight
// once (AVX-512 or AVX2, chosen at run time; LibTorch's threads):
// - a contiguous [out, in] weight row by row, each row dotted with every input row, the next rows
//   prefetched;
// - GPT-2's Conv1D view (the transpose of a contiguous [in, out]) by the column kernel: each stored row
//   scaled into per-chunk partial outputs, added in a fixed order (the same bits on every run).
// Under autograd (F32 weights) the same kernels run forward, with a torch-op backward, so a value does
// not depend on whether autograd records it. Everything else (prefill, training, F16, strided views,
// other devices) goes to nn::storedLinear (runtime/weights.h: torch::linear for F32 weights). Results
// equal torch::linear up to float rounding (another summation order). Decode speed:
// `detox-bench --filter decode` (and `--filter runtime`).
#pragma once
#include "torch_pch.h"

namespace detox::nn {

inline constexpr int64_t kMaxFastRows = 8;

// input [..., in], weight [out, in], bias [out] or undefined -> [..., out].
torch::Tensor linear(const torch::Tensor& input, const torch::Tensor& weight, const torch::Tensor& bias = {});

// The row kernel's instruction set: detected at start (AVX-512 F+BW, else AVX2+FMA, else none).
// selectRowKernel switches it for the whole process (benchmarks: None = the torch::linear baseline;
// tests: the AVX2 path on an AVX-512 CPU); false, and nothing changes, when the CPU lacks it.
enum class Isa { None, Avx2, Avx512 };
bool selectRowKernel(Isa isa);
Isa selectedRowKernel();

// Whether linear() would take the row kernel for these arguments (for tests and benchmarks).
bool linearTakesRowKernel(const torch::Tensor& input, const torch::Tensor& weight, const torch::Tensor& bias = {});

}  // namespace detox::nn
