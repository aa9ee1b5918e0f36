// The mini-batch loop shared by SFT and DPO: shuffling by seed, gradient accumulation, AdamW steps,
// optional clipping, progress per optimizer step and cancellation before every batch.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "methods/method_common.h"

namespace detox::nn {

struct TrainingLoopSettings {
    size_t examples = 0;
    int epochs = 1;
    int batchSize = 1;
    int gradientAccumulation = 1;
    bool shuffle = true;
    uint64_t seed = 0;
    double learningRate = 1e-5;
    double weightDecay = 0;
    double maxGradNorm = 0;
    std::string label;  // "SFT", "DPO" (progress messages)
    int maxSteps = 0;      // > 0: exactly this many optimizer steps, epochs repeating as needed
    int warmupSteps = 0;   // linear warm-up
    std::string schedule = "constant";  // or "cosine": from learningRate down to 10% of it
};

// The learning rate of optimizer step `step` (0-based) of `totalSteps`.
double scheduledLearningRate(const TrainingLoopSettings& settings, int step, int totalSteps);

// batchLoss gets the example indices of one batch and returns its mean loss (graph attached).
// Returns one LossRecord per optimizer step (total = edit = mean batch loss of the step).
std::vector<LossRecord> runTrainingLoop(const TrainingLoopSettings& settings, const std::vector<torch::Tensor>& parameters,
                                        const std::function<torch::Tensor(const std::vector<size_t>&)>& batchLoss,
                                        JobControl& job);

// Number of optimizer steps the loop will take.
int trainingSteps(const TrainingLoopSettings& settings);

}  // namespace detox::nn
