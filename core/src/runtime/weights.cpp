#include "runtime/weights.h"

#include <algorithm>

namespace detox::nn {
namespace {

thread_local torch::Tensor scratchBuffer;  // flat, one dtype/device; grows to the largest request

// A [rows, cols]-shaped tensor in the scratch buffer (a normal tensor, writable in and outside InferenceMode).
torch::Tensor scratch(int64_t rows, int64_t cols, torch::ScalarType dtype, const torch::Device& device) {
    const int64_t count = rows * cols;
    if (!scratchBuffer.defined() || scratchBuffer.scalar_type() != dtype || scratchBuffer.device() != device ||
        scratchBuffer.numel() < count) {
        c10::InferenceMode normalTensor(false);
        torch::NoGradGuard noGrad;
        scratchBuffer = torch::Tensor();  // free the old one first
        scratchBuffer = torch::empty({count}, torch::TensorOptions().dtype(dtype).device(device));
    }
    return scratchBuffer.narrow(0, 0, count).view({rows, cols});
}

// Stored [in, out] and viewed transposed as [out, in] (GPT-2's Conv1D weights).
bool transposedView(const torch::Tensor& weight) {
    return weight.dim() == 2 && weight.size(0) > 1 && weight.stride(0) == 1 && !weight.is_contiguous();
}

// Rows [first, first + count) of weight [out, in] converted into the scratch buffer, as [count, in].
torch::Tensor convertRows(const torch::Tensor& weight, int64_t first, int64_t count, torch::ScalarType dtype) {
    torch::NoGradGuard noGrad;
    if (transposedView(weight)) {
        torch::Tensor source = weight.t().narrow(1, first, count);  // [in, count] of the stored layout
        torch::Tensor target = scratch(source.size(0), count, dtype, weight.device());
        target.copy_(source);
        return target.t();
    }
    torch::Tensor source = weight.narrow(0, first, count);
    torch::Tensor target = scratch(count, weight.size(1), dtype, weight.device());
    target.copy_(source);
    return target;
}

int64_t rowsPerChunk(const torch::Tensor& weight, torch::ScalarType dtype) {
    const int64_t rowBytes = weight.size(1) * static_cast<int64_t>(c10::elementSize(dtype));
    return std::max<int64_t>(1, kMaxScratchChunkBytes / std::max<int64_t>(rowBytes, 1));
}

// Forward without autograd: output rows computed a chunk of converted weight rows at a time.
torch::Tensor chunkedLinear(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias) {
    const auto dtype = x.scalar_type();
    const int64_t out = weight.size(0), step = rowsPerChunk(weight, dtype);
    if (step >= out) return torch::linear(x, convertRows(weight, 0, out, dtype), bias);
    std::vector<int64_t> shape = x.sizes().vec();
    shape.back() = out;
    torch::Tensor result = torch::empty(shape, x.options());
    for (int64_t first = 0; first < out; first += step) {
        const int64_t count = std::min(step, out - first);
        torch::Tensor part = torch::linear(x, convertRows(weight, first, count, dtype),
                                           bias.defined() ? bias.narrow(0, first, count) : torch::Tensor());
        result.narrow(-1, first, count).copy_(part);
    }
    return result;
}

// Autograd for a frozen stored-dtype weight: keeps the stored tensor only and converts again in backward.
struct StoredLinearFunction : public torch::autograd::Function<StoredLinearFunction> {
    static torch::Tensor forward(torch::autograd::AutogradContext* context, const torch::Tensor& x,
                                 const torch::Tensor& weight, const torch::Tensor& bias) {
        context->saved_data["weight"] = weight;
        context->saved_data["input_sizes"] = x.sizes().vec();
        const bool hasBias = bias.numel() > 0;  // apply() needs defined inputs: no bias = an empty tensor
        context->saved_data["has_bias"] = hasBias;
        return chunkedLinear(x, weight, hasBias ? bias : torch::Tensor());
    }

    static torch::autograd::variable_list backward(torch::autograd::AutogradContext* context,
                                                   torch::autograd::variable_list outputGradients) {
        const torch::Tensor weight = context->saved_data["weight"].toTensor();
        const torch::Tensor gradient = outputGradients[0];
        const auto dtype = gradient.scalar_type();
        const int64_t out = weight.size(0), step = rowsPerChunk(weight, dtype);
        torch::Tensor inputGradient = torch::zeros(context->saved_data["input_sizes"].toIntVector(), gradient.options());
        for (int64_t first = 0; first < out; first += step) {
            const int64_t count = std::min(step, out - first);
            inputGradient.add_(gradient.narrow(-1, first, count).matmul(convertRows(weight, first, count, dtype)));
        }
        torch::Tensor biasGradient;
        if (context->saved_data["has_bias"].toBool()) biasGradient = gradient.reshape({-1, out}).sum(0);
        return {inputGradient, torch::Tensor(), biasGradient};
    }
};

}  // namespace

torch::Tensor storedLinear(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias) {
    if (weight.scalar_type() == x.scalar_type()) return torch::linear(x, weight, bias);
    if (weight.requires_grad()) return torch::linear(x, weight.to(x.scalar_type()), bias);  // trained: autograd as usual
    const bool recorded = torch::GradMode::is_enabled() && (x.requires_grad() || (bias.defined() && bias.requires_grad()));
    if (!recorded) return chunkedLinear(x, weight, bias);
    return StoredLinearFunction::apply(x, weight, bias.defined() ? bias : torch::empty({0}, x.options()));
}

torch::Tensor convertIntoScratch(const torch::Tensor& weight, torch::ScalarType dtype) {
    if (weight.scalar_type() == dtype) return weight;
    if (weight.dim() != 2) {
        torch::Tensor flat = convertRows(weight.reshape({1, -1}), 0, 1, dtype);
        return flat.view(weight.sizes());
    }
    return convertRows(weight, 0, weight.size(0), dtype);
}

torch::Tensor embeddingRows(const torch::Tensor& table, const torch::Tensor& ids, torch::ScalarType dtype) {
    torch::Tensor rows = torch::embedding(table, ids);
    return rows.scalar_type() == dtype ? rows : rows.to(dtype);
}

int64_t scratchBytes() { return scratchBuffer.defined() ? scratchBuffer.numel() * scratchBuffer.element_size() : 0; }

void releaseScratch() { scratchBuffer = torch::Tensor(); }

}  // namespace detox::nn
