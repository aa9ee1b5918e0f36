// Causal analysis benchmark: the cost of activation patching as a multiple of one forward, both timed in
// the same run. One forward = the corrupt pair (adversarial prompt + safe generation, + unsafe generation)
// scored teacher-forced, as patching scores every patched run. Patching = one clean and one corrupt forward
// with captures, then per layer the corrupt pair from that layer up (the layers below are shared), K + 1
// patches per layer. forward_multiple_counted is the work patching counts (token-layers, core's
// PatchingRecordResult::forwardMultiple); without_prefix_sharing is what a forward per patch would cost;
// batch_forward_over_one_forward is one plain forward of a patch batch's pairs (ideally batch_of_pairs).
//   demo model: the shipped model (resources/demo-model) on the demo test record with the longest
//               adversarial prompt and on the one with the shortest, K = 8, resid_post;
//   gpt2 shape: random GPT-2 124M weights (12 layers; quick: 2) on a 128-token prompt and 32-token
//               generations, timed once each after no warm-up (the demo model's runs warm the code).
#include <cstdio>

#include "analysis/teacher_forced.h"
#include "bench_model.h"
#include "detox/analysis/patching.h"
#include "detox/demo/demo_model.h"
#include "detox/safeedit/safeedit.h"

namespace detox::bench {
namespace {

constexpr int kLastPositions = 8;

PatchingSettings patchSettings() {
    PatchingSettings settings;
    settings.point = Capture::ResidPost;
    settings.lastPositions = kLastPositions;
    return settings;
}

// One plain forward of as many pairs as a patch batch holds (no interventions), scored as patching scores:
// if it costs `pairs` one-forwards, batching is not what makes patching slower than its count.
double batchForwardSeconds(const Model::Impl& impl, const std::vector<int>& prompt, const std::vector<int>& safe,
                           const std::vector<int>& unsafe, int pairs) {
    std::vector<std::vector<int>> rows;
    for (int i = 0; i < pairs; ++i) {
        rows.push_back(nn::joinedTokens(prompt, safe));
        rows.push_back(nn::joinedTokens(prompt, unsafe));
    }
    const nn::TokenBatch batch = nn::padTokens(rows, false, 0, impl.config.vocabSize);
    return medianSeconds(
        [&] {
            const nn::AttentionInputs attention = impl.attentionInputs(batch.mask, batch.ids.size(1));
            const torch::Tensor hidden =
                impl.runLayers(impl.embed(batch.ids, attention.positions), 0, impl.config.numLayers, attention);
            nn::generationLogProbs(impl, hidden, int(prompt.size()), safe, unsafe);
        },
        3, 1);
}

// Seconds of patching and of one forward (medians), their ratio and the counted work multiple.
nlohmann::json costFigures(const Model& model, const std::function<PatchingRecordResult()>& patch,
                           const std::function<void()>& oneForward, const std::function<double()>& batchForward,
                           int repeats, int warmup) {
    PatchingRecordResult result;
    const double patchSeconds = medianSeconds([&] { result = patch(); }, repeats, warmup);
    const double forwardSeconds = medianSeconds(oneForward, 5, 1);
    const double batchSeconds = batchForward();
    std::fprintf(stderr, "causal: patching %.2f s, one forward %.3f s (%d layers, %d prompt tokens)\n", patchSeconds,
                 forwardSeconds, model.config().numLayers, result.corruptTokens);
    const int layers = model.config().numLayers;
    const int patches = int(result.positions.size()) + 1;
    return {{"layers", layers},
            {"last_positions", result.positions.size()},
            {"prompt_tokens", result.corruptTokens},
            {"generation_tokens", {result.safeTokens, result.unsafeTokens}},
            {"patch_seconds", patchSeconds},
            {"one_forward_seconds", forwardSeconds},
            {"patch_over_one_forward", patchSeconds / forwardSeconds},
            {"forward_multiple_counted", result.forwardMultiple},
            {"batch_of_pairs", patchSettings().patchesPerForward},
            {"batch_forward_over_one_forward", batchSeconds / forwardSeconds},
            {"without_prefix_sharing", 2.0 + double(patches) * layers}};
}

nlohmann::json demoRecordCost(const Model& model, const SafeEditRecord& record, int repeats) {
    const PatchingSettings settings = patchSettings();
    const ChatTemplate format = model.tokenizer().detectedChatTemplate();
    const nn::TeacherForcedPair corrupt =
        nn::teacherForcedPair(model, record.adversarialPrompt, record.safeGeneration, record.unsafeGeneration, format,
                              ContextFit("bench", settings.contextPolicy, contextLimit(model.config())), "bench");
    nlohmann::json figures = costFigures(
        model, [&] { return patchRecord(model, record, settings); },
        [&] { nn::teacherForcedScore(model.impl(), corrupt.prompt, corrupt.safe, corrupt.unsafe); },
        [&] { return batchForwardSeconds(model.impl(), corrupt.prompt, corrupt.safe, corrupt.unsafe, settings.patchesPerForward); },
        repeats, 1);
    figures["record_id"] = record.id;
    return figures;
}

nlohmann::json demoModelCost(const Context& context) {
    const Model model = Model::load(demoModelPath());
    const SafeEditDataset data = loadSafeEdit(demoDatasetPath("test"));
    const SafeEditRecord* longest = nullptr;
    const SafeEditRecord* shortest = nullptr;
    for (const SafeEditRecord& record : data.records) {
        if (!record.generalization || record.generalization->onlyHarmfulQuestion.empty()) continue;
        const size_t length = record.adversarialPrompt.size();
        if (!longest || length > longest->adversarialPrompt.size()) longest = &record;
        if (!shortest || length < shortest->adversarialPrompt.size()) shortest = &record;
    }
    if (!longest) return {{"skipped", "no demo record with the bare harmful question"}};
    return {{"model", demoModelPath()},
            {"longest_prompt", demoRecordCost(model, *longest, context.quick ? 1 : 3)},
            {"shortest_prompt", demoRecordCost(model, *shortest, context.quick ? 1 : 3)}};
}

nlohmann::json gpt2ShapeCost(const Context& context) {
    auto impl = randomModelImpl(gpt2Shape(context.quick), 0);
    const Model model = modelFromImpl(impl);
    const int vocab = model.config().vocabSize;
    const std::vector<int> corrupt = benchIds(128, vocab, 1);
    const std::vector<int> clean = benchIds(32, vocab, 2);
    const std::vector<int> safe = benchIds(32, vocab, 3), unsafe = benchIds(32, vocab, 4);
    const PatchingSettings settings = patchSettings();
    return costFigures(
        model, [&] { return patchTokens(model, clean, corrupt, safe, unsafe, settings); },
        [&] { nn::teacherForcedScore(*impl, corrupt, safe, unsafe); },
        [&] { return batchForwardSeconds(*impl, corrupt, safe, unsafe, settings.patchesPerForward); }, 1, 0);
}

const bool kRegistered = registerBenchmark({
    "causal",
    "activation patching (resid_post, last 8 positions) over one teacher-forced forward of the corrupt pair: the "
    "demo model on its longest and shortest demo prompt, a random GPT-2 124M shape",
    [](const Context& context) {
        c10::InferenceMode inference;
        return nlohmann::json{{"demo_model", demoModelCost(context)}, {"gpt2_shape", gpt2ShapeCost(context)}};
    },
});

}  // namespace
}  // namespace detox::bench
