#include "methods/method_training.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "detox/error.h"

namespace detox::nn {

namespace {

void validate(const TrainingLoopSettings& s) {
    if (s.examples == 0) throw Error("", s.label + " data", "there are no training examples");
    if (s.epochs < 1) throw Error("", s.label + " epochs", "must be at least 1");
    if (s.batchSize < 1) throw Error("", s.label + " batch size", "must be at least 1");
    if (s.gradientAccumulation < 1) throw Error("", s.label + " gradient accumulation", "must be at least 1");
    if (!(s.learningRate > 0)) throw Error("", s.label + " learning rate", "must be positive");
    if (s.maxSteps < 0 || s.warmupSteps < 0) throw Error("", s.label + " steps", "must not be negative");
    if (s.schedule != "constant" && s.schedule != "cosine")
        throw Error("", s.label + " learning rate schedule", "expected 'constant' or 'cosine', got '" + s.schedule + "'");
}

std::vector<std::vector<size_t>> epochBatches(const TrainingLoopSettings& s, int epoch) {
    std::vector<size_t> order(s.examples);
    std::iota(order.begin(), order.end(), size_t{0});
    if (s.shuffle) {
        std::mt19937_64 random(s.seed * 1000003ULL + static_cast<uint64_t>(epoch));
        std::shuffle(order.begin(), order.end(), random);
    }
    std::vector<std::vector<size_t>> batches;
    for (size_t begin = 0; begin < order.size(); begin += static_cast<size_t>(s.batchSize)) {
        size_t end = std::min(order.size(), begin + static_cast<size_t>(s.batchSize));
        batches.emplace_back(order.begin() + static_cast<long>(begin), order.begin() + static_cast<long>(end));
    }
    return batches;
}

}  // namespace

double scheduledLearningRate(const TrainingLoopSettings& s, int step, int totalSteps) {
    if (step < s.warmupSteps) return s.learningRate * (step + 1) / s.warmupSteps;
    if (s.schedule != "cosine") return s.learningRate;
    const int decaySteps = std::max(1, totalSteps - s.warmupSteps);
    const double progress = std::min(1.0, static_cast<double>(step - s.warmupSteps) / decaySteps);
    constexpr double kFloor = 0.1;
    return s.learningRate * (kFloor + (1 - kFloor) * 0.5 * (1 + std::cos(progress * 3.14159265358979323846)));
}

int trainingSteps(const TrainingLoopSettings& s) {
    if (s.maxSteps > 0) return s.maxSteps;
    const size_t batches = (s.examples + static_cast<size_t>(s.batchSize) - 1) / static_cast<size_t>(s.batchSize);
    const size_t perEpoch = (batches + static_cast<size_t>(s.gradientAccumulation) - 1) /
                            static_cast<size_t>(s.gradientAccumulation);
    return static_cast<int>(perEpoch) * s.epochs;
}

std::vector<LossRecord> runTrainingLoop(const TrainingLoopSettings& settings, const std::vector<torch::Tensor>& parameters,
                                        const std::function<torch::Tensor(const std::vector<size_t>&)>& batchLoss,
                                        JobControl& job) {
    validate(settings);
    torch::optim::AdamW optimizer(
        parameters, torch::optim::AdamWOptions(settings.learningRate).weight_decay(settings.weightDecay));
    const int totalSteps = trainingSteps(settings);
    std::vector<LossRecord> history;
    const bool stepBudget = settings.maxSteps > 0;
    for (int epoch = 0; stepBudget ? static_cast<int>(history.size()) < totalSteps : epoch < settings.epochs; ++epoch) {
        auto batches = epochBatches(settings, epoch);
        for (size_t groupBegin = 0; groupBegin < batches.size() && static_cast<int>(history.size()) < totalSteps;
             groupBegin += static_cast<size_t>(settings.gradientAccumulation)) {
            const size_t groupEnd =
                std::min(batches.size(), groupBegin + static_cast<size_t>(settings.gradientAccumulation));
            const double groupSize = static_cast<double>(groupEnd - groupBegin);
            optimizer.zero_grad();
            double stepLoss = 0;
            for (size_t b = groupBegin; b < groupEnd; ++b) {
                job.checkpoint();
                torch::Tensor loss = batchLoss(batches[b]);
                stepLoss += loss.item<double>() / groupSize;
                (loss / groupSize).backward();
            }
            job.checkpoint();
            if (!std::isfinite(stepLoss))  // diverged: stop; the caller's snapshot guard restores the weights
                throw Error("", settings.label + " step " + std::to_string(history.size() + 1),
                            "the loss is " + std::to_string(stepLoss) + ", not a finite number (the learning rate " +
                                std::to_string(settings.learningRate) + " is probably too high); the weights were restored");
            if (settings.maxGradNorm > 0) torch::nn::utils::clip_grad_norm_(parameters, settings.maxGradNorm);
            const double learningRate = scheduledLearningRate(settings, static_cast<int>(history.size()), totalSteps);
            for (auto& group : optimizer.param_groups())
                static_cast<torch::optim::AdamWOptions&>(group.options()).lr(learningRate);
            optimizer.step();
            LossRecord record{static_cast<int>(history.size()), stepLoss, stepLoss, 0};
            history.push_back(record);
            Progress progress;
            progress.step = record.step + 1;
            progress.total = totalSteps;
            progress.message = settings.label + " step " + std::to_string(record.step + 1) + " (epoch " +
                               std::to_string(epoch + 1) + ")";
            progress.values = {{"loss", stepLoss}, {"epoch", epoch + 1}};
            job.report(progress);
        }
    }
    for (const auto& parameter : parameters)
        if (!torch::isfinite(parameter).all().item<bool>())
            throw Error("", settings.label, "training left non-finite weights (the learning rate " +
                                                std::to_string(settings.learningRate) +
                                                " is probably too high); the weights were restored");
    return history;
}

}  // namespace detox::nn
