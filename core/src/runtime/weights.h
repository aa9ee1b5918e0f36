// Weights kept in their stored dtype (BF16 / F16 views of the read-only file mapping) and computed in
// the activations' dtype (F32 on the CPU): each matrix is converted just before it is used.
//
//   inference (no autograd): the conversion goes into one reusable scratch buffer per thread, so a
//     forward holds at most one converted matrix (or one row chunk of a big one) at a time;
//   training (autograd records the op): a custom autograd function that keeps only the stored tensor
//     and converts again in backward, so no F32 copy of a frozen matrix outlives its use either.
// Weights already in the activations' dtype (F32 models, F32 edit overrides) go straight to torch::linear.
#pragma once
#include "torch_pch.h"

namespace detox::nn {

// x [..., in] times weight [out, in] (+ bias [out]). weight may be any floating dtype and any strides
// (GPT-2's Conv1D weights are transposed views); bias, when defined, is in x's dtype.
torch::Tensor storedLinear(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias = {});

// `weight` in `dtype`: the tensor itself when it already is, else a converted copy in this thread's
// scratch buffer (valid until the next convertIntoScratch call on this thread; never keep it, never
// let autograd record it). Same shape and the same layout (a transposed view stays transposed).
torch::Tensor convertIntoScratch(const torch::Tensor& weight, torch::ScalarType dtype);

// Rows of an embedding table in `dtype` (gathers first, converts only the gathered rows).
torch::Tensor embeddingRows(const torch::Tensor& table, const torch::Tensor& ids, torch::ScalarType dtype);

// Bytes of this thread's scratch buffer (0 after releaseScratch).
int64_t scratchBytes();
void releaseScratch();

// Output rows per chunk when a converted matrix would exceed this many bytes (the LM head of a 7B is
// 32000 x 4096: 500 MiB in F32, converted 64 MiB at a time).
constexpr int64_t kMaxScratchChunkBytes = 64ll << 20;

}  // namespace detox::nn
