// The demo model's training loop: SFT on the training mix plus the depth objective (demo_training.h).
#include "demo/demo_training.h"

#include "methods/method_training.h"

namespace detox::demo {
using namespace detox::nn;

namespace {

// Mean over each text's own tokens of the residual stream after every layer: [texts, layers, hidden].
torch::Tensor meanResidualsPerLayer(const Model::Impl& model, const std::vector<std::vector<int>>& texts) {
    const TokenBatch batch = padTokens(texts, false, paddingId(model), model.config.vocabSize);
    const AttentionInputs attention = model.attentionInputs(batch.mask, batch.ids.size(1));
    torch::Tensor hidden = model.embed(batch.ids, attention.positions);
    const torch::Tensor mask = batch.mask.to(hidden.scalar_type()).unsqueeze(-1);  // [texts, seq, 1]
    const torch::Tensor counts = mask.sum(1);                                       // [texts, 1]
    std::vector<torch::Tensor> means;
    for (int layer = 0; layer < model.config.numLayers; ++layer) {
        hidden = model.runLayer(layer, hidden, attention);
        means.push_back((hidden * mask).sum(1) / counts);
    }
    return torch::stack(means, 1);
}

// The SFT loss of one batch: mean negative log-probability of the response tokens.
torch::Tensor responseLoss(const Model::Impl& model, const std::vector<TrainingPair>& pairs) {
    std::vector<std::vector<int>> prompts, responses;
    double tokens = 0;
    for (const auto& pair : pairs) {
        prompts.push_back(pair.promptIds);
        responses.push_back(pair.responseIds);
        tokens += static_cast<double>(pair.responseIds.size());
    }
    const ResponseBatch batch = makeResponseBatch(prompts, responses, paddingId(model), model.config.vocabSize);
    return -responseLogProbSums(model, batch).sum() / std::max(1.0, tokens);
}

}  // namespace

torch::Tensor maskedLayerDistances(const Model::Impl& model, const std::vector<DepthPair>& pairs) {
    std::vector<std::vector<int>> safe, unsafe;
    for (const auto& pair : pairs) {
        safe.push_back(pair.safeIds);
        unsafe.push_back(pair.unsafeIds);
    }
    return (meanResidualsPerLayer(model, safe) - meanResidualsPerLayer(model, unsafe)).norm(2, {2});
}

torch::Tensor depthObjective(const Model::Impl& model, const std::vector<DepthPair>& pairs, double margin) {
    const torch::Tensor distances = maskedLayerDistances(model, pairs);  // [pairs, layers]
    std::vector<int64_t> layers;
    for (const auto& pair : pairs) layers.push_back(pair.layer);
    const torch::Tensor target = torch::tensor(layers, torch::kInt64).unsqueeze(1);
    const torch::Tensor ratio = distances / distances.gather(1, target).clamp_min(1e-6);
    const torch::Tensor others = torch::ones_like(ratio).scatter(1, target, 0.0);
    return (torch::relu(ratio - margin) * others).sum(1).mean();
}

// The down projection's input at `layer` for the last token of one unpadded sequence: [intermediate].
torch::Tensor lastTokenMlpActivation(const Model::Impl& model, const std::vector<int>& ids, int layer) {
    const TokenBatch batch = padTokens({ids}, false, paddingId(model), model.config.vocabSize);
    const AttentionInputs attention = model.attentionInputs(batch.mask, batch.ids.size(1));
    CaptureSet captures({Capture::MlpAct}, {layer}, model.config.numLayers);
    model.runLayers(model.embed(batch.ids, attention.positions), 0, layer + 1, attention, &captures);
    return captures.tensors.at(captureKey(Capture::MlpAct, layer))[0][-1];
}

torch::Tensor formatObjective(const Model::Impl& model, const std::vector<FormatRenderings>& prompts) {
    torch::Tensor total = torch::zeros({});
    for (const auto& prompt : prompts) {
        const torch::Tensor edited = lastTokenMlpActivation(model, prompt.renderings.front(), prompt.layer);
        for (size_t i = 1; i < prompt.renderings.size(); ++i) {
            const torch::Tensor other = lastTokenMlpActivation(model, prompt.renderings[i], prompt.layer);
            total = total + (1 - torch::cosine_similarity(edited, other, 0));
        }
    }
    return total / static_cast<double>(std::max<size_t>(1, prompts.size()));
}

DemoTrainingLosses trainDemoWeights(Model& model, const std::vector<TrainingPair>& schedule,
                                    const std::vector<DepthPair>& depthPairs,
                                    const std::vector<FormatRenderings>& formatPrompts, const DemoModelSettings& settings,
                                    JobControl& job) {
    Model::Impl& impl = model.impl();
    const std::vector<std::string> names = canonicalNames(selectParameters(model, ParameterSelection{}), impl);
    TrainableScope trainable(impl, names);
    TrainingLoopSettings loop;
    loop.examples = schedule.size();
    loop.batchSize = settings.batchSize;
    loop.shuffle = false;  // the schedule is already ordered (lengthGroupedSchedule)
    loop.seed = settings.seed;
    loop.learningRate = settings.learningRate;
    loop.weightDecay = settings.weightDecay;
    loop.maxGradNorm = settings.maxGradNorm;
    loop.label = "demo training";
    loop.maxSteps = settings.steps;
    loop.warmupSteps = settings.warmupSteps;
    loop.schedule = "cosine";
    DemoTrainingLosses losses;
    const bool depth = settings.depthObjectiveWeight > 0 && !depthPairs.empty();
    const bool format = settings.formatObjectiveWeight > 0 && !formatPrompts.empty();
    size_t nextDepthPair = 0, nextFormatPrompt = 0;
    int step = 0;  // batchLoss runs once per optimizer step (no accumulation)
    auto batchLoss = [&](const std::vector<size_t>& indices) {
        std::vector<TrainingPair> batch;
        for (size_t i : indices) batch.push_back(schedule[i]);
        torch::Tensor loss = responseLoss(impl, batch);
        if (step++ < settings.objectivesFromStep) return loss;
        if (depth) {
            std::vector<DepthPair> records;
            for (int k = 0; k < settings.depthRecordsPerStep; ++k)
                records.push_back(depthPairs[nextDepthPair++ % depthPairs.size()]);
            const torch::Tensor objective = depthObjective(impl, records, settings.depthMargin);
            losses.depth.push_back(objective.item<double>());
            loss = loss + settings.depthObjectiveWeight * objective;
        }
        if (format) {
            std::vector<FormatRenderings> prompts;
            for (int k = 0; k < settings.formatPromptsPerStep; ++k)
                prompts.push_back(formatPrompts[nextFormatPrompt++ % formatPrompts.size()]);
            const torch::Tensor objective = formatObjective(impl, prompts);
            losses.format.push_back(objective.item<double>());
            loss = loss + settings.formatObjectiveWeight * objective;
        }
        return loss;
    };
    for (const auto& step : runTrainingLoop(loop, trainable.tensors(), batchLoss, job)) losses.total.push_back(step.total);
    return losses;
}

}  // namespace detox::demo
