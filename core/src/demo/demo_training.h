// The demo model's training loop (internal): the SFT loss on the training mix plus the depth objective,
// which makes each category's safe-vs-unsafe distance (DINM's masked locate criterion) largest at the
// category's own layer (demoDepthLayer), so located toxic layers differ between records.
#pragma once
#include <vector>

#include "detox/demo/demo_model.h"
#include "methods/method_common.h"

namespace detox::demo {

// One record's generations as locate reads them, and the layer the objective puts their distance peak at.
struct DepthPair {
    std::vector<int> safeIds, unsafeIds;
    int layer = 0;
};

// Per record and layer, the masked locate distance ||mean_t h_l(safe) - mean_t h_l(unsafe)|| [records, layers]
// (graph kept: the objective trains through it).
torch::Tensor maskedLayerDistances(const Model::Impl& model, const std::vector<DepthPair>& pairs);

// sum over layers l != target of relu(d_l / d_target - margin), averaged over the pairs: zero once the
// target layer's distance exceeds every other layer's by the factor 1 / margin.
torch::Tensor depthObjective(const Model::Impl& model, const std::vector<DepthPair>& pairs, double margin);

// One adversarial prompt in the renderings DINM edits and evaluation reads: plain + " " + suffix (DINM's edit
// prompt), the chat template, plain. The last token of each is where the reply's first token is decided.
struct FormatRenderings {
    std::vector<std::vector<int>> renderings;  // the first is DINM's
    int layer = 0;
};

// 1 - cos(a_DINM, a_other) summed over the other renderings, averaged over prompts; a = the toxic layer's
// MLP activation (the down projection's input, what DINM's edit multiplies) at the last prompt token.
torch::Tensor formatObjective(const Model::Impl& model, const std::vector<FormatRenderings>& prompts);

struct DemoTrainingLosses {
    std::vector<double> total, depth, format;  // per optimizer step; depth and format unweighted
};

// Trains every parameter: per step one batch of `schedule` (already ordered, batchSize pairs) with the
// response-only SFT loss, plus depthWeight x depthObjective on the next depthRecordsPerStep depth pairs.
DemoTrainingLosses trainDemoWeights(Model& model, const std::vector<TrainingPair>& schedule,
                                    const std::vector<DepthPair>& depthPairs,
                                    const std::vector<FormatRenderings>& formatPrompts, const DemoModelSettings& settings,
                                    JobControl& job);

}  // namespace detox::demo
