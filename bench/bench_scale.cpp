// Real model sizes (`detox-bench --filter scale [--shape tinyllama|llama7b]`): a random BF16 checkpoint of
// TinyLlama-1.1B's or Llama-2-7B's shape is written one shard at a time into a temporary folder (removed
// afterwards; a 7B cannot go through an all-F32 model in memory), then a fresh child process (this
// executable re-run, so its peak RSS is the model's alone) loads it in stored mode and measures: load,
// peak RSS after load and after a first forward, a 128-token prefill against the same-run GEMM
// reference on the model's own matrices, decode against the bandwidth bound, locate on a 2 x 150-token
// pair, one DINM step at toxic layers 8, 16 and 30 with and without the layers above held in F32
// (PinnedWeights within pinningBudgetBytes, as runDinm does), and save. `detox-bench --write-checkpoint SHAPE DIR` only writes such a checkpoint (scripts/scale-7b.sh).
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <numeric>

#include "bench_model.h"
#include "checkpoint/safetensors.h"
#include "detox/analysis/locate.h"
#include "detox/checkpoint/checkpoint.h"
#include "detox/runtime/compute.h"
#include "methods/method_dinm.h"
#include "runtime/finite_scan.h"

namespace fs = std::filesystem;

namespace detox::bench {
namespace {

double secondsSince(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

// Normal(0, 0.02) matrices, norms at 1, stored as BF16 in shards of at most 2 GB (HF's layout: an index
// file names each tensor's shard). Memory: one shard's BF16 tensors and one F32 tensor at a time.
nlohmann::json writeRandomCheckpoint(const ModelConfig& config, const std::string& directory) {
    const auto start = std::chrono::steady_clock::now();
    fs::create_directories(directory);
    std::ofstream(directory + "/config.json") << modelConfigJson(config);
    Model::Impl shapes(config);  // parameter names and stored shapes only
    torch::manual_seed(1);
    std::vector<nn::TensorToWrite> shard;
    long long shardBytes = 0, totalBytes = 0;
    int shardCount = 0;
    nlohmann::json weightMap = nlohmann::json::object();
    auto flush = [&] {
        const std::string file = "model-" + std::to_string(++shardCount) + ".safetensors";
        nn::writeSafetensors(directory + "/" + file, shard);
        for (const auto& tensor : shard) weightMap[tensor.name] = file;
        shard.clear();
        shardBytes = 0;
    };
    for (const auto& [name, slot] : shapes.parameters) {
        torch::Tensor value = slot.storedShape.size() == 1 ? torch::ones(slot.storedShape)
                                                           : torch::randn(slot.storedShape).mul_(0.02);
        const long long bytes = value.numel() * 2;
        if (shardBytes > 0 && shardBytes + bytes > 2'000'000'000LL) flush();
        shard.push_back({name, value.to(torch::kBFloat16), "BF16"});
        shardBytes += bytes;
        totalBytes += bytes;
    }
    flush();
    nlohmann::json index = {{"metadata", {{"total_size", totalBytes}}}, {"weight_map", weightMap}};
    std::ofstream(directory + "/model.safetensors.index.json") << index.dump(1);
    return {{"bf16_bytes", totalBytes}, {"shards", shardCount}, {"write_seconds", secondsSince(start)}};
}

namespace {

// ---------------------------------------------------------------- child: the measurements

nlohmann::json rss(const std::string& phase) {
    return {{"phase", phase}, {"rss_bytes", currentResidentBytes()}, {"peak_rss_bytes", peakResidentBytes()}};
}

// One DINM step (forward of the edit and constraint pairs from the cached input of the toxic layer,
// backward to its down_proj), as runDinm runs it, without and with the layers above held in F32.
nlohmann::json dinmStep(Model::Impl& impl, const DinmInputs& inputs, int layer) {
    const std::string target = impl.mlpDownWeightName(layer);
    const nn::ParameterSnapshot original = impl.snapshot({target});
    impl.setRequiresGrad({target}, true);
    auto start = std::chrono::steady_clock::now();
    nn::DinmObjective objective(impl, inputs, layer, true);
    nlohmann::json result = {{"layer", layer}, {"setup_seconds", secondsSince(start)}};  // the cache + base KL
    std::vector<int> below(static_cast<size_t>(layer));
    std::iota(below.begin(), below.end(), 0);
    releaseMappedLayerPages(impl, below);  // as runDinm does: the steps never read them
    result["rss_after_releasing_lower_layers_bytes"] = currentResidentBytes();
    auto step = [&] {
        const auto begin = std::chrono::steady_clock::now();
        auto terms = objective.evaluate(true);
        (0.1 * terms.edit + terms.constraint).backward();
        impl.slot(target).value->mutable_grad() = torch::Tensor();
        return secondsSince(begin);
    };
    result["step_seconds_converted"] = step();
    std::vector<int> above;
    for (int l = layer + 1; l < impl.config.numLayers; ++l) above.push_back(l);
    start = std::chrono::steady_clock::now();
    {
        PinnedWeights pinned(impl, above, true, pinningBudgetBytes(impl));
        result["pin_seconds"] = secondsSince(start);
        result["pinned_f32_bytes"] = pinned.bytes();
        result["pinned_matrices"] = pinned.names().size();
        result["step_seconds_pinned"] = step();
        result["rss_while_pinned_bytes"] = currentResidentBytes();
    }
    impl.setRequiresGrad({target}, false);
    impl.restore(original);
    result["peak_rss_bytes"] = peakResidentBytes();
    return result;
}

// The scan every load runs (runtime/finite_scan.h: digest and NaN/Inf test in one read) over all weights
// as loaded, alone, with the pages already in memory: its rate, which addRatios compares with this run's memory bandwidth.
nlohmann::json finiteScanFigures(const Model::Impl& impl, bool quick) {
    auto safetensorsDtype = [](const torch::Tensor& t) {
        return t.scalar_type() == torch::kBFloat16 ? "BF16" : t.scalar_type() == torch::kHalf ? "F16" : "F32";
    };
    double bytes = 0;
    for (const auto& [name, slot] : impl.parameters) bytes += double(slot.value->nbytes());
    bool finite = true;
    const double seconds = bestSeconds([&] {
        for (const auto& [name, slot] : impl.parameters) {
            const torch::Tensor& value = *slot.value;  // as held: stored-mode matrices are the file's bytes
            finite = nn::scanStoredBytes(value.data_ptr(), size_t(value.nbytes()), safetensorsDtype(value)).finite.value_or(true) && finite;
        }
    }, quick ? 1 : 3, 0);
    return {{"bytes", bytes}, {"seconds", seconds}, {"all_finite", finite}, {"gbps", bytes / seconds / 1e9}};
}

nlohmann::json measureCheckpoint(const std::string& directory, bool quick) {
    initCompute();
    nlohmann::json out;
    out["compute"] = computeDescription();
    out["rss_start_bytes"] = currentResidentBytes();
    auto start = std::chrono::steady_clock::now();
    LoadOptions options;
    options.weights = WeightMode::Stored;
    Model model = Model::load(directory, options);
    out["load_seconds"] = secondsSince(start);
    out["weights"] = model.weightsDescription();
    out["after_load"] = rss("load");
    Model::Impl& impl = model.impl();
    const int vocab = impl.config.vocabSize;

    start = std::chrono::steady_clock::now();
    model.forward({benchIds(16, vocab, 5)});
    out["first_forward_16_seconds"] = secondsSince(start);  // pages read from the file + conversions
    out["after_first_forward"] = rss("first forward");
    out["finite_scan"] = finiteScanFigures(impl, quick);

    const int64_t rows = 128;
    nn::TokenBatch tokens = nn::padTokens({benchIds(int(rows), vocab, 6)}, false, 0, vocab);
    const double prefill = bestSeconds([&] {
        c10::InferenceMode inference;
        impl.forwardLogits(tokens);
    }, quick ? 1 : 2, 0);
    const double gemm = modelGemmSeconds(impl, rows);
    out["prefill"] = {{"tokens", rows},
                      {"seconds", prefill},
                      {"model_gemm_seconds", gemm},
                      {"matrix_gflops", matrixFlops(impl, rows) / prefill / 1e9},
                      {"model_gemm_gflops", matrixFlops(impl, rows) / gemm / 1e9},
                      {"fraction_of_gemm", gemm / prefill}};

    const int steps = quick ? 2 : 8;
    out["decode"] = {{"steps", steps},
                     {"seconds_per_token", decodeStepSeconds(impl, 1, steps, quick ? 1 : 2)},
                     {"weight_bytes_per_token", decodeWeightBytes(impl)}};

    start = std::chrono::steady_clock::now();
    std::vector<double> distances =
        layerDistances(model, benchIds(150, vocab, 7), benchIds(150, vocab, 8), LocateVariant::Masked, 0);
    out["locate"] = {{"tokens", {150, 150}}, {"seconds", secondsSince(start)}, {"toxic_layer", argmaxLayer(distances)}};
    out["after_locate"] = rss("locate");

    const DinmInputs inputs = benchDinmInputs(vocab, quick);
    out["dinm_tokens"] = {{"edit", inputs.editPromptIds.size() + inputs.editTargetIds.size()},
                          {"constraint", inputs.constraintPromptIds.size() + inputs.constraintAnswerIds.size()}};
    nlohmann::json dinm = nlohmann::json::array();
    for (int layer : {8, 16, 30})
        if (layer < impl.config.numLayers) dinm.push_back(dinmStep(impl, inputs, layer));
    if (dinm.empty()) dinm.push_back(dinmStep(impl, inputs, impl.config.numLayers / 2));
    out["dinm_step"] = dinm;

    const std::string saved = directory + "-saved";
    start = std::chrono::steady_clock::now();
    model.save(saved);
    out["save_seconds"] = secondsSince(start);
    fs::remove_all(saved);
    out["peak_rss_bytes"] = peakResidentBytes();
    return out;
}

// The child side: when the variable is set, this process only measures that checkpoint, prints the
// figures as one JSON line and exits (before main runs).
const char* const kChildVariable = "DETOX_BENCH_SCALE_CHECKPOINT";
const bool kChild = [] {
    const char* directory = std::getenv(kChildVariable);
    if (!directory) return false;
    nlohmann::json out;
    try {
        out = measureCheckpoint(directory, std::getenv("DETOX_BENCH_SCALE_QUICK") != nullptr);
    } catch (const std::exception& e) {
        out = {{"error", e.what()}};
    }
    std::printf("%s\n", out.dump().c_str());
    std::fflush(stdout);
    std::_Exit(0);
}();

nlohmann::json measureInChild(const std::string& directory, bool quick) {
    const std::string command = std::string(quick ? "DETOX_BENCH_SCALE_QUICK=1 " : "") + kChildVariable + "='" +
                                directory + "' /proc/" + std::to_string(::getpid()) + "/exe";
    FILE* child = ::popen(command.c_str(), "r");
    if (!child) return {{"error", "cannot start the child process"}};
    std::string text;
    char buffer[4096];
    while (std::fgets(buffer, sizeof buffer, child)) text += buffer;
    ::pclose(child);
    try {
        return nlohmann::json::parse(text);
    } catch (const std::exception&) {
        return {{"error", "the child process printed no figures"}, {"output", text}};
    }
}

// The ratios the issue asks for, from the child's figures and this run's bandwidth.
void addRatios(nlohmann::json& figures, double bf16Bytes, const Context& context) {
    if (figures.contains("error")) return;
    const double start = figures["rss_start_bytes"];
    auto overWeights = [&](const char* phase) {
        return (figures[phase]["peak_rss_bytes"].get<double>() - start) / bf16Bytes;
    };
    const double boundTokensPerSecond =
        context.bandwidthGBs * 1e9 / figures["decode"]["weight_bytes_per_token"].get<double>();
    const double tokensPerSecond = 1.0 / figures["decode"]["seconds_per_token"].get<double>();
    figures["ratios"] = {
        {"peak_rss_after_load_over_bf16_bytes", overWeights("after_load")},
        {"peak_rss_after_first_forward_over_bf16_bytes", overWeights("after_first_forward")},
        {"prefill_fraction_of_gemm", figures["prefill"]["fraction_of_gemm"]},
        {"decode_tokens_per_second", tokensPerSecond},
        {"decode_bound_tokens_per_second", boundTokensPerSecond},
        {"decode_fraction_of_bound", tokensPerSecond / boundTokensPerSecond},
        {"finite_scan_fraction_of_bandwidth", figures["finite_scan"]["gbps"].get<double>() / context.bandwidthGBs},
        {"finite_scan_over_load", figures["finite_scan"]["seconds"].get<double>() / figures["load_seconds"].get<double>()},
    };
}

ModelConfig shapeNamed(const std::string& name, bool quick) {
    if (name == "tinyllama") return tinyLlamaShape(quick);
    if (name == "llama7b") return llama7bShape();
    throw std::invalid_argument("unknown shape '" + name + "' (tinyllama or llama7b)");
}

nlohmann::json benchScaleShape(const std::string& name, const Context& context) {
    const ModelConfig config = shapeNamed(name, context.quick);
    const std::string directory =
        (fs::temp_directory_path() / ("detox-bench-scale-" + std::to_string(::getpid()) + "-" + name)).string();
    nlohmann::json result;
    try {
        result["checkpoint"] = writeRandomCheckpoint(config, directory);
        result["figures"] = measureInChild(directory, context.quick);
        addRatios(result["figures"], result["checkpoint"]["bf16_bytes"].get<double>(), context);
    } catch (const std::exception& e) {
        result["error"] = e.what();
    }
    fs::remove_all(directory);
    return result;
}

const bool kRegistered = registerBenchmark({
    "scale",
    "real sizes in stored BF16 (TinyLlama-1.1B and Llama-2-7B shapes; --shape picks one): load, RSS, prefill, "
    "decode, NaN/Inf scan, locate, DINM step at layers 8/16/30, save",
    [](const Context& context) {
        nlohmann::json result;
        for (const char* name : {"tinyllama", "llama7b"})
            if (context.shape.empty() || context.shape == name) result[name] = benchScaleShape(name, context);
        return result;
    },
});

}  // namespace

int writeCheckpointCommand(const std::string& shape, const std::string& directory) {
    if (fs::exists(directory)) {
        std::cerr << "detox-bench --write-checkpoint: " << directory << " exists; give a new folder\n";
        return 2;
    }
    if (shape != "tinyllama" && shape != "llama7b") {
        std::cerr << "detox-bench --write-checkpoint: unknown shape '" << shape << "' (tinyllama or llama7b)\n";
        return 2;
    }
    initCompute();
    std::cout << writeRandomCheckpoint(shapeNamed(shape, false), directory).dump() << "\n";
    return 0;
}

}  // namespace detox::bench
