// Direct preference optimisation baseline (Rafailov et al. 2023): chosen = safe generation, rejected =
// unsafe generation. The reference model is the model as it is when training starts; its response
// log-probabilities are computed once up front instead of keeping a frozen copy.
#include <cmath>

#include "detox/error.h"
#include "methods/method_training.h"
#include "methods/method_entries.h"

namespace detox {
using namespace detox::nn;

double dpoPairLoss(double policyChosen, double policyRejected, double referenceChosen, double referenceRejected,
                   double beta) {
    const double margin = beta * ((policyChosen - referenceChosen) - (policyRejected - referenceRejected));
    // -log(sigmoid(margin)), computed stably.
    return margin >= 0 ? std::log1p(std::exp(-margin)) : -margin + std::log1p(std::exp(margin));
}

std::vector<PreferencePair> preferencePairs(const Tokenizer& tokenizer, const std::vector<SafeEditRecord>& records) {
    std::vector<PreferencePair> pairs;
    const auto eos = tokenizer.eosId();
    for (const auto& record : records) {
        if (record.adversarialPrompt.empty() || record.safeGeneration.empty() || record.unsafeGeneration.empty())
            throw Error("", "record " + std::to_string(record.id),
                        "DPO needs an adversarial prompt, a safe and an unsafe generation");
        PreferencePair pair;
        pair.promptIds = tokenizer.encode(record.adversarialPrompt, true);
        pair.chosenIds = tokenizer.encode(" " + record.safeGeneration, false);
        pair.rejectedIds = tokenizer.encode(" " + record.unsafeGeneration, false);
        if (eos) {
            pair.chosenIds.push_back(*eos);
            pair.rejectedIds.push_back(*eos);
        }
        pairs.push_back(std::move(pair));
    }
    return pairs;
}

namespace {

// Chosen and rejected of the given pairs in one batch: the first half chosen, the second rejected.
ResponseBatch preferenceBatch(const std::vector<PreferencePair>& pairs, const std::vector<size_t>& indices, int padId,
                              int vocabSize) {
    std::vector<std::vector<int>> prompts, responses;
    for (size_t i : indices) prompts.push_back(pairs[i].promptIds), responses.push_back(pairs[i].chosenIds);
    for (size_t i : indices) prompts.push_back(pairs[i].promptIds), responses.push_back(pairs[i].rejectedIds);
    return makeResponseBatch(prompts, responses, padId, vocabSize);
}

}  // namespace

EditResult trainDpo(Model& model, const std::vector<PreferencePair>& pairs, const DpoSettings& settings, JobControl& job) {
    const auto start = std::chrono::steady_clock::now();
    Model::Impl& impl = model.impl();
    // Trim both responses against the same prompt.
    std::vector<PreferencePair> examples;
    ContextFit fit("DPO prompt+response pairs", ContextPolicy::KeepLast, contextLimit(model.config(), 0, model.directory()));
    for (size_t i = 0; i < pairs.size(); ++i) {
        PreferencePair pair = pairs[i];
        std::vector<int> promptForChosen = pair.promptIds, promptForRejected = pair.promptIds;
        bool keepChosen = trimToLength(promptForChosen, pair.chosenIds, settings.maxLength);
        bool keepRejected = trimToLength(promptForRejected, pair.rejectedIds, settings.maxLength);
        fitPairToContext(promptForChosen, pair.chosenIds, fit, "pair " + std::to_string(i + 1) + " chosen");
        fitPairToContext(promptForRejected, pair.rejectedIds, fit, "pair " + std::to_string(i + 1) + " rejected");
        keepChosen = keepChosen && !pair.chosenIds.empty();
        keepRejected = keepRejected && !pair.rejectedIds.empty();
        pair.promptIds = promptForChosen.size() < promptForRejected.size() ? promptForChosen : promptForRejected;
        if (keepChosen && keepRejected) examples.push_back(std::move(pair));
    }
    nlohmann::json settingsJson = settings;
    settingsJson["examples"] = examples.size();
    EditResult result;
    result.method = "dpo";
    result.settings = settingsJson;
    result.provenance = makeProvenance(model, "dpo", settingsJson, settings.seed);
    result.provenance.context = {fit};
    const std::vector<std::string> names = canonicalNames(selectParameters(model, settings.parameters), impl);
    const int padId = paddingId(impl);
    const int64_t batchSize = std::max(1, settings.batchSize);

    // Reference log-probabilities, once, without gradient.
    torch::Tensor referenceChosen = torch::zeros({static_cast<int64_t>(examples.size())},
                                                 torch::TensorOptions().dtype(torch::kFloat64).device(impl.device));
    torch::Tensor referenceRejected = torch::zeros_like(referenceChosen);
    {
        c10::InferenceMode inference;
        for (size_t begin = 0; begin < examples.size(); begin += static_cast<size_t>(batchSize)) {
            job.checkpoint();
            std::vector<size_t> indices;
            for (size_t i = begin; i < std::min(examples.size(), begin + static_cast<size_t>(batchSize)); ++i)
                indices.push_back(i);
            torch::Tensor sums = responseLogProbSums(impl, preferenceBatch(examples, indices, padId, impl.config.vocabSize))
                                     .to(torch::kFloat64);
            const int64_t n = static_cast<int64_t>(indices.size());
            referenceChosen.narrow(0, static_cast<int64_t>(begin), n).copy_(sums.narrow(0, 0, n));
            referenceRejected.narrow(0, static_cast<int64_t>(begin), n).copy_(sums.narrow(0, n, n));
        }
    }

    SnapshotGuard guard(impl, names);
    {
        TrainableScope trainable(impl, names);
        TrainingLoopSettings loop;
        loop.examples = examples.size();
        loop.epochs = settings.epochs;
        loop.batchSize = settings.batchSize;
        loop.gradientAccumulation = settings.gradientAccumulation;
        loop.shuffle = settings.shuffle;
        loop.seed = settings.seed;
        loop.learningRate = settings.learningRate;
        loop.weightDecay = settings.weightDecay;
        loop.maxGradNorm = settings.maxGradNorm;
        loop.label = "DPO";
        auto batchLoss = [&](const std::vector<size_t>& indices) {
            torch::Tensor sums = responseLogProbSums(impl, preferenceBatch(examples, indices, padId, impl.config.vocabSize));
            const int64_t n = static_cast<int64_t>(indices.size());
            torch::Tensor index = torch::tensor(std::vector<int64_t>(indices.begin(), indices.end()), torch::kInt64)
                                      .to(impl.device);
            torch::Tensor chosenShift = sums.narrow(0, 0, n) - referenceChosen.index_select(0, index).to(torch::kFloat32);
            torch::Tensor rejectedShift = sums.narrow(0, n, n) - referenceRejected.index_select(0, index).to(torch::kFloat32);
            return -torch::log_sigmoid(settings.beta * (chosenShift - rejectedShift)).mean();
        };
        result.lossHistory = runTrainingLoop(loop, trainable.tensors(), batchLoss, job);
    }
    guard.commit();
    result.changedTensors = names;
    result.durationSeconds = secondsSince(start);
    return result;
}

// ---------------------------------------------------------------- registry entry

const Method& dpoMethod() {
    static const Method method{
        MethodId::Dpo,
        "dpo",
        "DPO",
        "direct preference optimisation, safe over unsafe generation",
        "dpo",
        true,
        {learningRateField(), countField("epochs", "Epochs"), {"beta", "beta", false, 0, 100, 4}},
        "epochs",
        "epochs",
        [](const ModelConfig&) { return nlohmann::json(DpoSettings{}); },
        [](ModelEditor& editor, const MethodInput& input, const nlohmann::json& values, JobControl& job) {
            const auto& records = input.trainingRecords.empty() ? std::vector<SafeEditRecord>{input.record}
                                                                : input.trainingRecords;
            return editor.dpo(preferencePairs(editor.model().tokenizer(), records), values.get<DpoSettings>(), job);
        },
        [](const std::string& prompt, const nlohmann::json&) { return prompt; },
    };
    return method;
}

}  // namespace detox
