// Decode on one checkpoint in both weight modes (`detox-bench --filter decode [--checkpoint DIR]`):
// the checkpoint is loaded F32-resident and again in stored mode (its own dtype, memory-mapped), and
// each load decodes batch 1 and 4 with the row kernel, as tokens/s and as a fraction of the same-run
// bandwidth bound. Without --checkpoint: a random TinyLlama-1.1B-shaped BF16 checkpoint in a temporary
// folder (removed afterwards). With --checkpoint, the figures are comparable with another tool's decode
// on the same files (scripts/llamacpp-compare.sh).
#include <unistd.h>

#include <filesystem>

#include "bench_model.h"
#include "detox/checkpoint/checkpoint.h"
#include "detox/runtime/model.h"

namespace fs = std::filesystem;

namespace detox::bench {

nlohmann::json decodeInMode(const std::string& directory, WeightMode mode, const Context& context) {
    const WeightMode fitting = resolveWeightMode(inspectCheckpoint(directory), WeightMode::Auto);
    if (mode == WeightMode::F32 && fitting != WeightMode::F32)
        return {{"skipped", "the F32 weights do not fit this machine's memory (the auto policy picks stored)"}};
    LoadOptions options;
    options.weights = mode;
    Model model = Model::load(directory, options);
    model.impl().config.eosIds.clear();  // random weights: never stop early
    model.impl().config.eosId.reset();
    model.forward({{1, 2, 3, 4}});  // pages mapped weights in
    nlohmann::json result = measureDecode(model.impl(), context, false);
    result["weights"] = model.weightsDescription();
    return result;
}

namespace {

nlohmann::json benchDecode(const Context& context) {
    std::string directory = context.checkpoint;
    const bool temporary = directory.empty();
    nlohmann::json result;
    if (temporary) {
        directory = (fs::temp_directory_path() / ("detox-bench-decode-" + std::to_string(::getpid()))).string();
        result["checkpoint"] = writeRandomCheckpoint(tinyLlamaShape(context.quick), directory);
        result["checkpoint"]["shape"] = context.quick ? "TinyLlama-1.1B, 2 layers (--quick)" : "TinyLlama-1.1B";
    } else {
        result["checkpoint"] = {{"directory", directory}};
    }
    try {
        result["f32"] = decodeInMode(directory, WeightMode::F32, context);
        result["stored"] = decodeInMode(directory, WeightMode::Stored, context);
    } catch (const std::exception& e) {
        result["error"] = e.what();
    }
    if (temporary) fs::remove_all(directory);
    return result;
}

const bool kRegistered = registerBenchmark({
    "decode",
    "decode tokens/s against the bandwidth bound in both weight modes, on --checkpoint DIR or a random "
    "TinyLlama-1.1B-shaped BF16 checkpoint",
    benchDecode,
});

}  // namespace
}  // namespace detox::bench
