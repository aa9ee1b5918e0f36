// Model runtime speed and memory for random-weight models shaped like GPT-2 small and TinyLlama-1.1B:
// prefill as a fraction of the same-run GEMM rate on the model's own matrix shapes, decode tokens/s
// against the same-run bandwidth bound (with and without the row kernel; F32-resident, and again with the
// checkpoint loaded in stored mode: BF16 for the TinyLlama shape), and the peak resident memory of a
// checkpoint load relative to the weights' float32 size (measured in a child process).
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include <filesystem>
#include <fstream>
#include <limits>
#include <vector>

#include "bench_model.h"
#include "detox/runtime/model.h"
#include "runtime/linear.h"
#include "runtime/transformer.h"

namespace detox::bench {
namespace {

}  // namespace

ModelConfig gpt2Shape(bool quick) {
    ModelConfig c;
    c.architecture = "gpt2";
    c.hfArchitecture = "GPT2LMHeadModel";
    c.modelType = "gpt2";
    c.vocabSize = 50257;
    c.hiddenSize = 768;
    c.numLayers = quick ? 2 : 12;
    c.numHeads = c.numKvHeads = 12;
    c.headDim = 64;
    c.intermediateSize = 3072;
    c.maxPositions = 1024;
    c.activation = "gelu_new";
    c.tiedEmbeddings = true;
    c.attentionBias = c.outputBias = c.mlpBias = true;
    c.eosIds = {50256};
    c.eosId = 50256;
    return c;
}

ModelConfig tinyLlamaShape(bool quick) {
    ModelConfig c;
    c.architecture = "llama";
    c.hfArchitecture = "LlamaForCausalLM";
    c.modelType = "llama";
    c.vocabSize = 32000;
    c.hiddenSize = 2048;
    c.numLayers = quick ? 2 : 22;
    c.numHeads = 32;
    c.numKvHeads = 4;
    c.headDim = 64;
    c.intermediateSize = 5632;
    c.maxPositions = 2048;
    c.normEps = 1e-5;
    c.activation = "silu";
    c.eosIds = {2};
    c.eosId = 2;
    return c;
}

ModelConfig llama7bShape() {
    ModelConfig c = tinyLlamaShape(false);
    c.hiddenSize = 4096;
    c.intermediateSize = 11008;
    c.numLayers = 32;
    c.numHeads = c.numKvHeads = 32;
    c.headDim = 128;
    c.maxPositions = 4096;
    return c;
}

namespace {
// The model's weight matrices as it multiplies them (compute layout [out, in], held dtype and strides):
// one layer's (every layer has the same shapes) and the LM head.
struct Matrices {
    std::vector<torch::Tensor> layer;  // q, k, v (or fused qkv), o, up, (gate), down
    torch::Tensor lmHead;
};

Matrices modelMatrices(const Model::Impl& impl) {
    const nn::LayerWeights& w = impl.layers.at(0);
    Matrices m;
    for (const torch::Tensor* t : {&w.qkvWeight, &w.qWeight, &w.kWeight, &w.vWeight, &w.oWeight, &w.upWeight,
                                   &w.gateWeight, &w.downWeight})
        if (t->defined()) m.layer.push_back(*t);
    m.lmHead = impl.lmHead();
    return m;
}
}  // namespace

// Weight bytes a one-token decode step reads: every layer's matrices and the LM head, as held.
double decodeWeightBytes(const Model::Impl& impl) {
    Matrices m = modelMatrices(impl);
    double layer = 0;
    for (const auto& t : m.layer) layer += double(t.numel()) * double(t.element_size());
    return layer * impl.config.numLayers + double(m.lmHead.numel()) * double(m.lmHead.element_size());
}

// Multiply-adds x2 of the weight matrices over `rows` positions (the attention products excluded).
double matrixFlops(const Model::Impl& impl, int64_t rows) {
    Matrices m = modelMatrices(impl);
    double perRow = 0;
    for (const auto& t : m.layer) perRow += double(t.numel());
    perRow = perRow * impl.config.numLayers + double(m.lmHead.numel());
    return 2.0 * perRow * double(rows);
}

// The same-run GEMM reference for a prefill of `rows` positions: torch::linear on F32 copies of the
// model's own matrices (same shapes and strides) with [rows, in] inputs, LibTorch's threads, each
// shape best of 5 after a warm-up, summed over the layers. prefill / this = the fraction of the GEMM
// rate the whole forward (attention, norms, activations included) reaches; at most 1 up to noise.
double modelGemmSeconds(const Model::Impl& impl, int64_t rows) {
    c10::InferenceMode inference;
    Matrices m = modelMatrices(impl);
    auto timeOne = [&](const torch::Tensor& weight) {
        torch::Tensor w = weight.to(torch::kFloat32);  // keeps the layout (a Conv1D view stays transposed)
        torch::Tensor x = torch::randn({rows, w.size(1)});
        return bestSeconds([&] { torch::linear(x, w); }, 5, 1);
    };
    double layer = 0;
    for (const auto& t : m.layer) layer += timeOne(t);
    return layer * impl.config.numLayers + timeOne(m.lmHead);
}

// Seconds per one-token decode step for `batch` sequences after a 16-token prompt: the KV-cache path of
// generateTokens (attention inputs, all layers, final norm + LM head on the last position, argmax),
// best of `runs` runs of `steps` steps after one warm-up step.
double decodeStepSeconds(const Model::Impl& impl, int64_t batch, int steps, int runs) {
    c10::InferenceMode inference;
    const int64_t prompt = 16;
    torch::manual_seed(1);
    auto runSteps = [&] {
        torch::Tensor ids = torch::randint(0, impl.config.vocabSize, {batch, prompt}, torch::kInt64);
        torch::Tensor mask = torch::ones({batch, prompt}, torch::kInt64);
        nn::KVCache cache = impl.allocateCache(batch, prompt + steps + 1);
        auto step = [&](const torch::Tensor& input) {
            nn::AttentionInputs attention = impl.attentionInputs(mask, input.size(1));
            torch::Tensor hidden = impl.runLayers(impl.embed(input, attention.positions), 0, impl.config.numLayers,
                                                  attention, nullptr, &cache);
            return impl.logitLens(hidden.select(1, hidden.size(1) - 1)).argmax(-1).view({batch, 1});
        };
        torch::Tensor next = step(ids);  // prefill
        mask = torch::cat({mask, torch::ones({batch, 1}, torch::kInt64)}, 1);
        next = step(next);  // warm-up step
        auto start = std::chrono::steady_clock::now();
        for (int i = 0; i < steps; ++i) {
            mask = torch::cat({mask, torch::ones({batch, 1}, torch::kInt64)}, 1);
            next = step(next);
        }
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / steps;
    };
    double best = std::numeric_limits<double>::infinity();
    for (int run = 0; run < runs; ++run) best = std::min(best, runSteps());
    return best;
}

// Decode against the bound: the weights are read once per step, as held. Without the row kernel
// (nn::linear, runtime/linear.h), F32 weights go through torch::linear's sgemm: the old path. The
// bound's bandwidth is measured just before and just after (the larger of the two): the run's first
// probe can be minutes old, and the machine's rate moves.
nlohmann::json measureDecode(const Model::Impl& impl, const Context& context, bool withTorchLinear) {
    const double weightBytes = decodeWeightBytes(impl);
    const int steps = context.quick ? 4 : 16;
    const double bandwidthBefore = measureBandwidth()["gbs"];
    nlohmann::json result = {{"weight_bytes_per_step", weightBytes}, {"prompt_tokens", 16}, {"steps", steps}};
    struct Timing {
        int64_t batch;
        std::string path;  // "row_kernel" or "torch_linear"
        double tokensPerSecond;
    };
    std::vector<Timing> timings;
    const nn::Isa detected = nn::selectedRowKernel();
    for (int64_t batch : {1, 4})
        for (bool rowKernel : {false, true}) {
            if (!rowKernel && !withTorchLinear) continue;
            nn::selectRowKernel(rowKernel ? detected : nn::Isa::None);
            timings.push_back({batch, rowKernel ? "row_kernel" : "torch_linear",
                               batch / decodeStepSeconds(impl, batch, steps)});
        }
    nn::selectRowKernel(detected);
    const double bandwidthAfter = measureBandwidth()["gbs"];
    const double bandwidth = std::max(bandwidthBefore, bandwidthAfter);
    result["bandwidth_gbs"] = {{"before", bandwidthBefore}, {"after", bandwidthAfter}, {"bound_uses", bandwidth}};
    for (const Timing& timing : timings) {
        const double bound = double(timing.batch) * bandwidth * 1e9 / weightBytes;
        nlohmann::json& entry = result["batch_" + std::to_string(timing.batch)];
        entry["bound_tokens_per_second"] = bound;
        entry[timing.path + "_tokens_per_second"] = timing.tokensPerSecond;
        entry[timing.path + "_fraction_of_bound"] = timing.tokensPerSecond / bound;
    }
    return result;
}

namespace {

nlohmann::json measureSpeed(const Model& model, const Context& context) {
    const Model::Impl& impl = model.impl();
    const int64_t batch = context.quick ? 1 : 4, length = context.quick ? 64 : 128;
    torch::manual_seed(0);
    auto ids = torch::randint(0, impl.config.vocabSize, {batch, length}, torch::kInt64);
    nn::TokenBatch tokens{ids, torch::ones({batch, length}, torch::kInt64), std::vector<int>(size_t(batch), int(length))};
    const double prefill = bestSeconds([&] {
        c10::InferenceMode inference;
        impl.forwardLogits(tokens);
    }, context.quick ? 2 : 3, 1);
    const double gemm = modelGemmSeconds(impl, batch * length);
    const double flops = matrixFlops(impl, batch * length);
    return {{"prefill_shape", {batch, length}},
            {"prefill_seconds", prefill},
            {"prefill_tokens_per_second", batch * length / prefill},
            {"prefill_matrix_gflops", flops / prefill / 1e9},
            {"model_gemm_seconds", gemm},
            {"model_gemm_gflops", flops / gemm / 1e9},
            {"prefill_fraction_of_gemm", gemm / prefill},
            {"prefill_note", "GEMM reference: torch::linear on the model's own shapes, same run, best of 5 each"},
            {"decode", measureDecode(impl, context, true)}};
}

// The child side of measureLoadPeak: when the variable is set, this process only loads the checkpoint,
// prints its memory figures and exits (before main runs).
const char* const kLoadChildVariable = "DETOX_BENCH_RUNTIME_LOAD";
const bool kLoadChild = [] {
    const char* directory = std::getenv(kLoadChildVariable);
    if (!directory) return false;
    long long before = currentResidentBytes(), peak = -1, peakAfterForward = -1;
    try {
        Model model = Model::load(directory);
        peak = peakResidentBytes();
        model.forward({{1, 2, 3, 4}});  // touches every weight page (mapped F32 weights load lazily)
        peakAfterForward = peakResidentBytes();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "load failed: %s\n", e.what());
    }
    std::printf("%lld %lld %lld\n", before, peak, peakAfterForward);
    std::fflush(stdout);
    std::_Exit(0);
}();

// Loads `directory` in a fresh process (this executable re-run) and reports its peak resident memory
// during the load, relative to the weights' float32 size.
nlohmann::json measureLoadPeak(const std::string& directory, long long weightBytes) {
    std::string command = std::string(kLoadChildVariable) + "='" + directory + "' /proc/" + std::to_string(::getpid()) + "/exe";
    FILE* child = ::popen(command.c_str(), "r");
    if (!child) return {{"error", "cannot start the child process"}};
    long long before = 0, peak = -1, peakAfterForward = -1;
    int fields = std::fscanf(child, "%lld %lld %lld", &before, &peak, &peakAfterForward);
    ::pclose(child);
    if (fields != 3 || peak < 0) return {{"error", "load failed in the child process"}};
    return {{"rss_before_bytes", before},
            {"peak_rss_bytes", peak},
            {"weight_bytes_f32", weightBytes},
            {"peak_over_weights", double(peak - before) / double(weightBytes)},
            {"peak_after_first_forward_over_weights", double(peakAfterForward - before) / double(weightBytes)}};
}

nlohmann::json benchShape(const ModelConfig& config, const std::string& storedDtype, const Context& context) {
    nlohmann::json result;
    std::string directory = (std::filesystem::temp_directory_path() / ("detox-bench-" + std::to_string(::getpid()) +
                                                                       "-" + config.modelType))
                                .string();
    long long weightBytes = 0;
    {
        auto impl = randomModelImpl(config, 0);
        impl->config.eosIds.clear();  // random weights: never stop early
        impl->config.eosId.reset();
        Model model = modelFromImpl(impl);
        result["parameters"] = model.parameterCount();
        weightBytes = model.weightBytes();
        result["speed"] = measureSpeed(model, context);
        for (auto& [name, slot] : impl->parameters) slot.storedDtype = storedDtype;
        std::filesystem::remove_all(directory);
        model.save(directory);
    }
    result["load_memory"] = measureLoadPeak(directory, weightBytes);
    result["load_memory"]["stored_dtype"] = storedDtype;
    result["stored_decode"] = decodeInMode(directory, WeightMode::Stored, context);
    std::filesystem::remove_all(directory);
    return result;
}

const bool kRegistered = registerBenchmark({
    "runtime",
    "prefill/decode tokens per second (GPT-2 124M and TinyLlama-1.1B shapes) and load peak memory",
    [](const Context& context) {
        nlohmann::json result;
        result["gpt2_124m"] = benchShape(gpt2Shape(context.quick), "F32", context);
        result["llama_1b"] = benchShape(tinyLlamaShape(context.quick), "BF16", context);
        return result;
    },
});

}  // namespace
}  // namespace detox::bench
