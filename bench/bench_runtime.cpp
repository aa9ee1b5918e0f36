// Model runtime speed and memory: prefill and decode throughput for random-weight models shaped like
// GPT-2 small and TinyLlama-1.1B (fraction of the GEMM reference), and the peak resident memory of a
// checkpoint load relative to the weights' float32 size (measured in a child process).
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include <filesystem>
#include <fstream>

#include "bench_harness.h"
#include "detox/runtime/model.h"
#include "runtime/transformer.h"

namespace detox::bench {
namespace {

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

// Multiply-adds of one forward over `tokens` positions of sequences `length` long: every weight matrix
// once per token (the unembedding included, embeddings excluded) plus the attention products.
double forwardFlops(const ModelConfig& c, int64_t batch, int64_t length) {
    const double hidden = c.hiddenSize, kv = double(c.numKvHeads) * c.headDim, q = double(c.numHeads) * c.headDim;
    const double perLayer = hidden * (q + 2 * kv) + q * hidden + 3.0 * hidden * c.intermediateSize;
    const double matrices = c.numLayers * perLayer + double(c.vocabSize) * hidden;
    const double attention = c.numLayers * 2.0 * 2.0 * length * length * q;  // QK^T and PV, full square
    return batch * (2.0 * matrices * length + attention);
}

nlohmann::json measureSpeed(const Model& model, const Context& context) {
    const ModelConfig& config = model.config();
    const Model::Impl& impl = model.impl();
    const int64_t batch = context.quick ? 1 : 4, length = context.quick ? 64 : 128;
    torch::manual_seed(0);
    auto ids = torch::randint(0, config.vocabSize, {batch, length}, torch::kInt64);
    nn::TokenBatch tokens{ids, torch::ones({batch, length}, torch::kInt64), std::vector<int>(size_t(batch), int(length))};
    double prefill = medianSeconds([&] {
        c10::InferenceMode inference;
        impl.forwardLogits(tokens);
    }, context.quick ? 2 : 3, 1);
    const double prefillGflops = forwardFlops(config, batch, length) / prefill / 1e9;

    GenerationSettings settings;
    settings.maxNewTokens = context.quick ? 8 : 32;
    settings.stopIds = {};
    std::vector<int> prompt(16, 5);
    nlohmann::json decode = nlohmann::json::object();
    for (int decodeBatch : {1, 4}) {
        std::vector<std::vector<int>> prompts(size_t(decodeBatch), prompt);
        GenerationSettings noEos = settings;
        // Random weights may pick EOS; take it out of the stop set by generating through the internal API.
        double seconds = medianSeconds([&] { generateTokens(impl, prompts, noEos, noJobControl()); }, 1, 1);
        decode["batch_" + std::to_string(decodeBatch) + "_tokens_per_second"] =
            decodeBatch * settings.maxNewTokens / seconds;
    }
    return {{"prefill_shape", {batch, length}},
            {"prefill_seconds", prefill},
            {"prefill_tokens_per_second", batch * length / prefill},
            {"prefill_gflops", prefillGflops},
            {"prefill_fraction_of_gemm", prefillGflops / context.gemmGflops},
            {"decode", decode},
            {"decode_note", "prompt 16 tokens, includes the prefill; EOS may stop early on random weights"}};
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
