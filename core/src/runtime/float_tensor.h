// Tensors to and from the torch-free FloatTensor of the public headers (runtime/model.h): the one copy
// for the runtime, the methods and the analyses.
#pragma once
#include <string>

#include <torch/torch.h>

#include "detox/runtime/model.h"

namespace detox::nn {

// A detached float32 copy in host memory (from any device and dtype).
FloatTensor toFloatTensor(const torch::Tensor& tensor);
// A float32 CPU tensor owning a copy of the values; throws detox::Error naming `what` when the values do
// not fill the shape.
torch::Tensor fromFloatTensor(const FloatTensor& tensor, const std::string& what = "tensor");

}  // namespace detox::nn
