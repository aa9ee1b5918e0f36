// A fast test for NaN and infinite values in a weight tensor, used at load and before saving.
#pragma once
#include "torch_pch.h"

namespace detox::nn {

// True when every value is finite. F32/BF16/F16 tensors on the CPU are read once as bits (an exponent of
// all ones is Inf or NaN), in parallel, with no allocation: at memory speed, so a load can afford it.
// Other dtypes and devices go through torch::isfinite.
bool allFinite(const torch::Tensor& tensor);

}  // namespace detox::nn
