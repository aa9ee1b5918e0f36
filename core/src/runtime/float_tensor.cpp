#include "runtime/float_tensor.h"

#include "detox/error.h"

namespace detox::nn {

FloatTensor toFloatTensor(const torch::Tensor& tensor) {
    torch::Tensor values = tensor.detach().to(torch::kCPU, torch::kFloat32).contiguous();  // host data
    FloatTensor result;
    result.shape = values.sizes().vec();
    result.values.assign(values.data_ptr<float>(), values.data_ptr<float>() + values.numel());
    return result;
}

torch::Tensor fromFloatTensor(const FloatTensor& tensor, const std::string& what) {
    if (static_cast<int64_t>(tensor.values.size()) != tensor.numel())
        throw Error("", what, "holds " + std::to_string(tensor.values.size()) + " values but its shape needs " +
                                  std::to_string(tensor.numel()));
    return torch::from_blob(const_cast<float*>(tensor.values.data()), tensor.shape, torch::kFloat32).clone();
}

}  // namespace detox::nn
