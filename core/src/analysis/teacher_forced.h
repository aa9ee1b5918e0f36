// Teacher-forced scoring of a record's two generations after one prompt, shared by activation patching
// and ablation (internal: torch types).
#pragma once
#include <vector>

#include "detox/analysis/patching.h"
#include "detox/runtime/context_policy.h"
#include "runtime/transformer.h"

namespace detox::nn {

std::vector<int> joinedTokens(const std::vector<int>& prompt, const std::vector<int>& generation);

// Sum of log p(generation token | everything before) per row of `hidden` (the last layer's residual,
// [rows, seq, width]); the rows alternate safe, unsafe, each sequence's prompt promptLength tokens long.
std::vector<double> generationLogProbs(const Model::Impl& model, const torch::Tensor& hidden, int promptLength,
                                       const std::vector<int>& safe, const std::vector<int>& unsafe);

// log p(safe | prompt) and log p(unsafe | prompt) with the interventions applied at every step of the
// teacher-forced pair (rows 0 = safe, 1 = unsafe; negative positions count from the end of the prompt).
PatchingScore teacherForcedScore(const Model::Impl& model, const std::vector<int>& prompt,
                                 const std::vector<int>& safe, const std::vector<int>& unsafe,
                                 const std::vector<Intervention>& interventions = {});

// A prompt (in the chat template) with a record's two generations (plain, no special tokens), fitted
// together into the model's context by `policy`: the prompt is cut for the longer generation (keep-last,
// at least one token), the shorter one then fits after it unless the longer was cut too. `fit` records it.
struct TeacherForcedPair {
    std::vector<int> prompt, safe, unsafe;
    ContextFit fit;
};
TeacherForcedPair teacherForcedPair(const Model& model, const std::string& prompt, const std::string& safe,
                                    const std::string& unsafe, ChatTemplate format, ContextFit fit,
                                    const std::string& label);

}  // namespace detox::nn
