// Methods benchmark: DINM step time with the cached lower layers against a full forward every step, and
// the peak memory of DINM, SFT and DPO on a random Llama-shaped model.
#include <fstream>

#include "bench_model.h"
#include "methods/method_dinm.h"

namespace detox::bench {

std::vector<int> benchIds(int count, int vocab, int offset) {
    std::vector<int> ids;
    for (int i = 0; i < count; ++i) ids.push_back(3 + (i * 7919 + offset * 104729) % (vocab - 3));
    return ids;
}

DinmInputs benchDinmInputs(int vocab, bool quick) {
    DinmInputs inputs;  // SafeEdit-like lengths: long adversarial prompt, shorter answers
    inputs.editPromptIds = benchIds(quick ? 96 : 256, vocab, 1);
    inputs.editTargetIds = benchIds(quick ? 32 : 96, vocab, 2);
    inputs.constraintPromptIds = benchIds(quick ? 24 : 48, vocab, 3);
    inputs.constraintAnswerIds = benchIds(quick ? 16 : 48, vocab, 4);
    return inputs;
}

namespace {

// Resets the process's peak resident size (VmHWM) so each method's peak is its own (Linux >= 4.0).
void resetPeakResident() { std::ofstream("/proc/self/clear_refs") << "5"; }

ModelConfig benchConfig(bool quick) {
    ModelConfig config;
    config.architecture = "llama";
    config.hfArchitecture = "LlamaForCausalLM";
    config.modelType = "llama";
    config.vocabSize = quick ? 4000 : 32000;
    config.hiddenSize = quick ? 256 : 768;
    config.numLayers = quick ? 6 : 12;
    config.numHeads = quick ? 4 : 12;
    config.numKvHeads = quick ? 4 : 12;
    config.headDim = 64;
    config.intermediateSize = quick ? 688 : 2048;
    config.maxPositions = 2048;
    config.activation = "silu";
    config.eosId = 2;
    config.eosIds = {2};
    return config;
}

nlohmann::json dinmStepTimes(Model& model, const DinmInputs& inputs, int layer) {
    auto& impl = model.impl();
    const std::string target = impl.mlpDownWeightName(layer);
    impl.setRequiresGrad({target}, true);
    nlohmann::json figures;
    double times[2] = {0, 0};
    for (int cached = 1; cached >= 0; --cached) {
        nn::DinmObjective objective(impl, inputs, layer, cached == 1);
        times[cached] = medianSeconds(
            [&] {
                auto terms = objective.evaluate(true);
                (0.1 * terms.edit + terms.constraint).backward();
                impl.slot(target).value->mutable_grad() = torch::Tensor();
            },
            5, 1);
    }
    impl.setRequiresGrad({target}, false);
    figures["layer"] = layer;
    figures["step_seconds_cached"] = times[1];
    figures["step_seconds_full"] = times[0];
    figures["speedup"] = times[0] / times[1];
    return figures;
}

nlohmann::json runMethodsBenchmark(const Context& context) {
    const ModelConfig config = benchConfig(context.quick);
    Model model = modelFromImpl(randomModelImpl(config, 1));
    const DinmInputs inputs = benchDinmInputs(config.vocabSize, context.quick);
    nlohmann::json out;
    out["model"] = {{"hidden", config.hiddenSize}, {"layers", config.numLayers},
                    {"intermediate", config.intermediateSize}, {"vocab", config.vocabSize},
                    {"parameters", model.parameterCount()}, {"weight_bytes", model.weightBytes()}};
    out["sequence_tokens"] = {{"edit_prompt", inputs.editPromptIds.size()}, {"edit_target", inputs.editTargetIds.size()},
                              {"constraint_prompt", inputs.constraintPromptIds.size()},
                              {"constraint_answer", inputs.constraintAnswerIds.size()}};
    // Per-step time of one DINM step (forward + backward) for a low, a middle and the top layer.
    nlohmann::json steps = nlohmann::json::array();
    for (int layer : {1, config.numLayers / 2, config.numLayers - 1}) steps.push_back(dinmStepTimes(model, inputs, layer));
    out["dinm_step"] = steps;
    const double stepFlops = 2.0 * model.parameterCount() *
                             static_cast<double>(inputs.editPromptIds.size() + inputs.editTargetIds.size());
    out["dinm_full_step_gemm_equivalent_seconds"] = stepFlops / (context.gemmGflops * 1e9);

    // Whole jobs with peak memory (RSS above the loaded model).
    DinmSettings dinm;
    dinm.maxSteps = 10;
    dinm.stopLoss = 0;
    std::vector<TrainingPair> sftPairs;
    std::vector<PreferencePair> dpoPairs;
    for (int i = 0; i < 4; ++i) {
        sftPairs.push_back({inputs.editPromptIds, benchIds(64, config.vocabSize, 10 + i)});
        dpoPairs.push_back({inputs.editPromptIds, benchIds(64, config.vocabSize, 20 + i),
                            benchIds(64, config.vocabSize, 30 + i)});
    }
    nlohmann::json jobs;
    auto measure = [&](const std::string& name, const std::function<EditResult()>& body) {
        resetPeakResident();
        const long long baseline = currentResidentBytes();
        auto start = std::chrono::steady_clock::now();
        EditResult result = body();
        double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        jobs[name] = {{"seconds", seconds},
                      {"steps", result.lossHistory.size()},
                      {"peak_rss_above_start_bytes", peakResidentBytes() - baseline},
                      {"trained_tensors", result.changedTensors.size()}};
    };
    const int middle = config.numLayers / 2;
    ModelEditor editor(model, EditMode::Reset);
    measure("dinm_cached", [&] { return editor.dinm(inputs, middle, dinm); });
    dinm.cacheLowerLayers = false;
    measure("dinm_full", [&] { return editor.dinm(inputs, middle, dinm); });
    SftSettings sft;
    sft.batchSize = 2;
    sft.parameters.layers = {middle};
    measure("sft_one_layer", [&] { return editor.sft(sftPairs, sft); });
    sft.parameters = {};
    measure("sft_all", [&] { return editor.sft(sftPairs, sft); });
    DpoSettings dpo;
    dpo.batchSize = 2;
    dpo.parameters.layers = {middle};
    measure("dpo_one_layer", [&] { return editor.dpo(dpoPairs, dpo); });
    dpo.parameters = {};
    measure("dpo_all", [&] { return editor.dpo(dpoPairs, dpo); });
    editor.undoAll();
    out["jobs"] = jobs;
    return out;
}

const bool kRegistered = registerBenchmark({
    "methods",
    "DINM step time (cached lower layers vs full forward), whole-job time and peak memory of DINM/SFT/DPO",
    runMethodsBenchmark,
});

}  // namespace
}  // namespace detox::bench
