#include "runtime/linear.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <vector>

#include "runtime/weights.h"

// The vector helpers below are always inlined into target-specific functions: no ABI crosses them.
#pragma GCC diagnostic ignored "-Wpsabi"

namespace detox::nn {
namespace {

// GCC vectors of W lanes (unaligned loads through memcpy). A struct member, since GCC drops vector
// attributes written directly on an alias template.
template <int W>
struct Lanes {
    typedef float Float __attribute__((vector_size(W * sizeof(float)), aligned(sizeof(float))));
    typedef uint32_t Bits32 __attribute__((vector_size(W * sizeof(uint32_t)), aligned(sizeof(uint32_t))));
    typedef uint16_t Bits16 __attribute__((vector_size(W * sizeof(uint16_t)), aligned(sizeof(uint16_t))));
};
template <int W>
using FloatVector = typename Lanes<W>::Float;
template <int W>
using Bits32Vector = typename Lanes<W>::Bits32;
template <int W>
using Bits16Vector = typename Lanes<W>::Bits16;

// Weight elements: float, or bfloat16 as its raw bits (the upper half of a float: widen, shift by 16).
struct BFloat16Bits {
    uint16_t bits;
};

template <int W>
__attribute__((always_inline)) inline FloatVector<W> loadVector(const float* p) {
    FloatVector<W> v;
    __builtin_memcpy(&v, p, sizeof(v));
    return v;
}
template <int W>
__attribute__((always_inline)) inline FloatVector<W> loadVector(const BFloat16Bits* p) {
    Bits16Vector<W> half;
    __builtin_memcpy(&half, p, sizeof(half));
    Bits32Vector<W> widened = __builtin_convertvector(half, Bits32Vector<W>) << 16;
    FloatVector<W> v;
    __builtin_memcpy(&v, &widened, sizeof(v));
    return v;
}
inline float loadScalar(const float* p) { return *p; }
inline float loadScalar(const BFloat16Bits* p) {
    const uint32_t widened = uint32_t(p->bits) << 16;
    float v;
    std::memcpy(&v, &widened, sizeof(v));
    return v;
}

// y[m, n] = sum_k weight[n, k] x[m, k] (+ bias[n]) for n in [n0, n1): R weight rows at a time against all
// M input rows, so each weight row is read once from memory; x (M * in floats) stays in L1/L2.
// Written once in GCC vector extensions and inlined into the per-ISA entry points below.
template <int W, int M, int R, typename T>
__attribute__((always_inline)) inline void rowBlock(const T* weight, const float* x, const float* bias,
                                                    float* y, int64_t out, int64_t in, int64_t n0, int64_t n1) {
    using V = FloatVector<W>;
    const int64_t vectorEnd = in - in % W;
    auto scalarTail = [&](int64_t n, int m, float sum) {
        for (int64_t k = vectorEnd; k < in; ++k) sum += loadScalar(weight + n * in + k) * x[m * in + k];
        y[m * out + n] = sum + (bias ? bias[n] : 0.f);
    };
    int64_t n = n0;
    for (; n + R <= n1; n += R) {
        V acc[R][M];
        for (int r = 0; r < R; ++r)
            for (int m = 0; m < M; ++m) acc[r][m] = V{};
        for (int64_t k = 0; k < vectorEnd; k += W) {
            V w[R];
            for (int r = 0; r < R; ++r) w[r] = loadVector<W>(weight + (n + r) * in + k);
            if (n + 2 * R <= n1)  // the next R rows, into L2: twice the reads in flight (+20 % on one thread)
                for (int r = 0; r < R; ++r) __builtin_prefetch(weight + (n + R + r) * in + k, 0, 2);
            for (int m = 0; m < M; ++m) {
                const V xv = loadVector<W>(x + m * in + k);
                for (int r = 0; r < R; ++r) acc[r][m] += w[r] * xv;
            }
        }
        for (int r = 0; r < R; ++r)
            for (int m = 0; m < M; ++m) {
                float sum = 0;
                for (int i = 0; i < W; ++i) sum += acc[r][m][i];
                scalarTail(n + r, m, sum);
            }
    }
    for (; n < n1; ++n)
        for (int m = 0; m < M; ++m) {
            V acc{};
            for (int64_t k = 0; k < vectorEnd; k += W) acc += loadVector<W>(weight + n * in + k) * loadVector<W>(x + m * in + k);
            float sum = 0;
            for (int i = 0; i < W; ++i) sum += acc[i];
            scalarTail(n, m, sum);
        }
}

// The transposed layout (GPT-2's Conv1D stores [in, out]; the weight is its transposed view):
// partial[m, :] += sum over k in [k0, k1) of x[m, k] * stored[k, :]: one chunk of stored rows, read front
// to back (four rows a pass), into the chunk's own partial output (M * out floats, in L1/L2).
template <int W, int M, typename T>
__attribute__((always_inline)) inline void columnBlock(const T* stored, const float* x, float* partial, int64_t out,
                                                       int64_t in, int64_t k0, int64_t k1) {
    using V = FloatVector<W>;
    constexpr int K = 4;
    const int64_t vectorEnd = out - out % W;
    for (int64_t k = k0; k < k1; k += K) {
        const int rows = int(std::min<int64_t>(K, k1 - k));
        float a[M][K] = {};
        for (int m = 0; m < M; ++m)
            for (int r = 0; r < rows; ++r) a[m][r] = x[m * in + k + r];
        const T* s0 = stored + k * out;
        for (int64_t n = 0; n < vectorEnd; n += W) {
            V w[K];
            for (int r = 0; r < K; ++r) w[r] = r < rows ? loadVector<W>(s0 + r * out + n) : V{};
            for (int m = 0; m < M; ++m) {
                V acc = loadVector<W>(partial + m * out + n);
                for (int r = 0; r < K; ++r) acc += w[r] * a[m][r];
                __builtin_memcpy(partial + m * out + n, &acc, sizeof(acc));
            }
        }
        for (int64_t n = vectorEnd; n < out; ++n)
            for (int m = 0; m < M; ++m)
                for (int r = 0; r < rows; ++r) partial[m * out + n] += loadScalar(s0 + r * out + n) * a[m][r];
    }
}

// Register blocking (rows R per pass): AVX-512 has 32 vector registers, AVX2 16.
template <int M, typename T>
__attribute__((target("avx512f,avx512bw"), optimize("fp-contract=fast"))) void rowsAvx512(
    const T* weight, const float* x, const float* bias, float* y, int64_t out, int64_t in, int64_t n0, int64_t n1) {
    rowBlock<16, M, (M <= 2 ? 4 : M <= 4 ? 3 : 2)>(weight, x, bias, y, out, in, n0, n1);
}
template <int M, typename T>
__attribute__((target("avx512f,avx512bw"), optimize("fp-contract=fast"))) void columnsAvx512(
    const T* stored, const float* x, float* partial, int64_t out, int64_t in, int64_t k0, int64_t k1) {
    columnBlock<16, M>(stored, x, partial, out, in, k0, k1);
}
template <int M, typename T>
__attribute__((target("avx2,fma"), optimize("fp-contract=fast"))) void columnsAvx2(
    const T* stored, const float* x, float* partial, int64_t out, int64_t in, int64_t k0, int64_t k1) {
    columnBlock<8, M>(stored, x, partial, out, in, k0, k1);
}
template <int M, typename T>
__attribute__((target("avx2,fma"), optimize("fp-contract=fast"))) void rowsAvx2(
    const T* weight, const float* x, const float* bias, float* y, int64_t out, int64_t in, int64_t n0, int64_t n1) {
    rowBlock<8, M, 4>(weight, x, bias, y, out, in, n0, n1);
}

Isa detectIsa() {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")) return Isa::Avx512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::Avx2;
    return Isa::None;
}

// Function-local statics, not namespace-scope ones: code that runs during static initialization (the
// benchmarks' child processes measure before main) would otherwise find the kernel still "None" and
// silently take torch::linear (detox-bench's scale decode read 2.3 instead of 11 tokens/s).
Isa detectedIsa() {
    static const Isa detected = detectIsa();
    return detected;
}
std::atomic<Isa>& selected() {
    static std::atomic<Isa> current{detectedIsa()};
    return current;
}

// Rows the kernel handles: AVX2's 16 registers only pay off up to two rows (measured: at 3+ rows it
// falls to torch::linear's rate).
int64_t maxRows() {
    const Isa current = selected().load(std::memory_order_relaxed);
    return current == Isa::Avx512 ? kMaxFastRows : current == Isa::Avx2 ? 2 : 0;
}

// Splits [0, total) into chunks handed out one at a time to whichever thread is free: with a static
// split, a thread slowed by another process leaves the other waiting at the end of every matrix.
// body(chunkIndex, begin, end); one thread runs every chunk when called inside a parallel region.
struct ChunkedParallel {
    int64_t total, chunk, chunks, workers;
    explicit ChunkedParallel(int64_t total)
        : total(total),
          chunk(std::max<int64_t>(16, total / (8 * at::get_num_threads()))),
          chunks((total + chunk - 1) / chunk),
          workers(std::min<int64_t>(at::get_num_threads(), chunks)) {}

    template <typename Body>
    void run(const Body& body) const {
        std::atomic<int64_t> next{0};
        at::parallel_for(0, workers, 1, [&](int64_t, int64_t) {
            for (int64_t c; (c = next.fetch_add(1, std::memory_order_relaxed)) < chunks;)
                body(c, c * chunk, std::min(total, (c + 1) * chunk));
        });
    }
};

template <int M, typename T>
void rowKernel(const T* weight, const float* x, const float* bias, float* y, int64_t out, int64_t in) {
    const bool avx512 = selected().load(std::memory_order_relaxed) == Isa::Avx512;
    ChunkedParallel(out).run([&](int64_t, int64_t n0, int64_t n1) {
        if (avx512)
            rowsAvx512<M, T>(weight, x, bias, y, out, in, n0, n1);
        else
            rowsAvx2<M, T>(weight, x, bias, y, out, in, n0, n1);
    });
}

// `stored` is [in, out] (a transposed weight view's storage): each chunk of stored rows is summed into
// its own partial output, then the partials are added in chunk order: the result does not depend on
// which thread took which chunk, nor on how many input rows share the call.
template <int M, typename T>
void columnKernel(const T* stored, const float* x, const float* bias, float* y, int64_t out, int64_t in) {
    const bool avx512 = selected().load(std::memory_order_relaxed) == Isa::Avx512;
    const ChunkedParallel split(in);
    thread_local std::vector<float> partials;  // kept between calls: no page faults per token
    partials.assign(size_t(split.chunks * M * out), 0.f);
    float* const base = partials.data();  // the workers' own `partials` would be their thread's (empty) one
    split.run([&](int64_t chunk, int64_t k0, int64_t k1) {
        float* partial = base + chunk * M * out;
        if (avx512)
            columnsAvx512<M, T>(stored, x, partial, out, in, k0, k1);
        else
            columnsAvx2<M, T>(stored, x, partial, out, in, k0, k1);
    });
    for (int64_t i = 0; i < M * out; ++i) {
        float sum = 0.f;
        for (int64_t chunk = 0; chunk < split.chunks; ++chunk) sum += base[chunk * M * out + i];
        y[i] = sum + (bias ? bias[i % out] : 0.f);
    }
}

// transposed: weight is the [in, out] storage of a transposed view.
template <typename T, int... Ms>
void dispatchRows(std::integer_sequence<int, Ms...>, int64_t rows, bool transposed, const T* weight, const float* x,
                  const float* bias, float* y, int64_t out, int64_t in) {
    ((rows == Ms + 1 ? (transposed ? columnKernel<Ms + 1, T>(weight, x, bias, y, out, in)
                                   : rowKernel<Ms + 1, T>(weight, x, bias, y, out, in))
                     : void()),
     ...);
}

}  // namespace

bool selectRowKernel(Isa wanted) {
    const bool available = wanted == Isa::None || (wanted == Isa::Avx2 && detectedIsa() != Isa::None) ||
                           (wanted == Isa::Avx512 && detectedIsa() == Isa::Avx512);
    if (available) selected().store(wanted);
    return available;
}

Isa selectedRowKernel() { return selected().load(); }

namespace {

// The kernel's checks, except autograd's.
bool rowKernelFits(const torch::Tensor& input, const torch::Tensor& weight, const torch::Tensor& bias) {
    if (!input.defined() || !weight.defined() || weight.dim() != 2 || input.dim() < 1) return false;
    const int64_t out = weight.size(0), in = weight.size(1);
    if (input.size(-1) != in || in == 0 || out == 0) return false;
    const int64_t rows = input.numel() / in;
    if (rows < 1 || rows > maxRows()) return false;
    auto plainCpuFloat = [](const torch::Tensor& t) {
        return t.device().is_cpu() && t.scalar_type() == torch::kFloat32 && t.layout() == torch::kStrided;
    };
    const bool weightType = weight.scalar_type() == torch::kFloat32 || weight.scalar_type() == torch::kBFloat16;
    if (!plainCpuFloat(input) || !weightType || !weight.device().is_cpu() || weight.layout() != torch::kStrided ||
        !(weight.is_contiguous() || weight.t().is_contiguous()))
        return false;
    return !bias.defined() || (plainCpuFloat(bias) && bias.dim() == 1 && bias.size(0) == out);
}

bool recordsGraph(const torch::Tensor& input, const torch::Tensor& weight, const torch::Tensor& bias) {
    return torch::GradMode::is_enabled() &&
           (input.requires_grad() || weight.requires_grad() || (bias.defined() && bias.requires_grad()));
}

torch::Tensor rowKernelLinear(const torch::Tensor& input, const torch::Tensor& weight, const torch::Tensor& bias) {
    const int64_t out = weight.size(0), in = weight.size(1), rows = input.numel() / in;
    torch::Tensor x = input.contiguous();
    torch::Tensor b = bias.defined() ? bias.contiguous() : bias;
    std::vector<int64_t> shape(input.sizes().begin(), input.sizes().end());
    shape.back() = out;
    torch::Tensor y = torch::empty(shape, input.options());
    const float* biasData = b.defined() ? b.data_ptr<float>() : nullptr;
    constexpr auto rowCounts = std::make_integer_sequence<int, kMaxFastRows>{};
    const bool transposed = !weight.is_contiguous();  // rowKernelFits: then weight.t() is
    if (weight.scalar_type() == torch::kBFloat16)
        dispatchRows(rowCounts, rows, transposed, reinterpret_cast<const BFloat16Bits*>(weight.data_ptr()),
                     x.data_ptr<float>(), biasData, y.data_ptr<float>(), out, in);
    else
        dispatchRows(rowCounts, rows, transposed, weight.data_ptr<float>(), x.data_ptr<float>(), biasData,
                     y.data_ptr<float>(), out, in);
    return y;
}

// The row kernel under autograd (F32 weights): a value is then the same whether or not autograd records
// it (e.g. DINM's KL to the unedited model is exactly 0 at its first step). Backward in torch ops.
struct RowKernelFunction : public torch::autograd::Function<RowKernelFunction> {
    static torch::Tensor forward(torch::autograd::AutogradContext* context, const torch::Tensor& input,
                                 const torch::Tensor& weight, const torch::Tensor& bias) {
        context->save_for_backward({input, weight});
        const bool hasBias = bias.numel() > 0;  // apply() needs defined inputs: no bias = an empty tensor
        context->saved_data["has_bias"] = hasBias;
        return rowKernelLinear(input, weight, hasBias ? bias : torch::Tensor());
    }

    static torch::autograd::variable_list backward(torch::autograd::AutogradContext* context,
                                                   torch::autograd::variable_list outputGradients) {
        const auto saved = context->get_saved_variables();
        const torch::Tensor &input = saved[0], &weight = saved[1];
        const torch::Tensor gradient = outputGradients[0];
        const int64_t out = weight.size(0), in = weight.size(1);
        torch::Tensor inputGradient, weightGradient, biasGradient;
        if (context->needs_input_grad(0)) inputGradient = gradient.matmul(weight);
        if (context->needs_input_grad(1))
            weightGradient = gradient.reshape({-1, out}).t().mm(input.reshape({-1, in}));
        if (context->saved_data["has_bias"].toBool() && context->needs_input_grad(2))
            biasGradient = gradient.reshape({-1, out}).sum(0);
        return {inputGradient, weightGradient, biasGradient};
    }
};

}  // namespace

bool linearTakesRowKernel(const torch::Tensor& input, const torch::Tensor& weight, const torch::Tensor& bias) {
    return rowKernelFits(input, weight, bias) &&
           (weight.scalar_type() == torch::kFloat32 || !recordsGraph(input, weight, bias));
}

torch::Tensor linear(const torch::Tensor& input, const torch::Tensor& weight, const torch::Tensor& bias) {
    // Stored-dtype weights (BF16/F16, transposed views; BF16 under autograd) are converted there; F32 goes
    // to torch::linear.
    if (!linearTakesRowKernel(input, weight, bias)) return storedLinear(input, weight, bias);
    if (!recordsGraph(input, weight, bias)) return rowKernelLinear(input, weight, bias);
    return RowKernelFunction::apply(input, weight, bias.defined() ? bias : torch::empty({0}, input.options()));
}

}  // namespace detox::nn
