// Supervised fine-tuning baseline: NLL of the response tokens given the prompt, AdamW on a chosen set of
// parameters. Generic (any (prompt, response) ids), so it also trains the project's demo model.
#include "detox/error.h"
#include "methods/method_training.h"
#include "methods/method_entries.h"

namespace detox {
using namespace detox::nn;

std::vector<TrainingPair> tokenizePairs(const Tokenizer& tokenizer,
                                        const std::vector<std::pair<std::string, std::string>>& pairs) {
    std::vector<TrainingPair> result;
    const auto eos = tokenizer.eosId();
    for (size_t i = 0; i < pairs.size(); ++i) {
        TrainingPair pair;
        pair.promptIds = tokenizer.encode(pairs[i].first, true);
        pair.responseIds = tokenizer.encode(" " + pairs[i].second, false);
        if (eos) pair.responseIds.push_back(*eos);
        if (pair.promptIds.empty() || pair.responseIds.empty())
            throw Error("", "training pair " + std::to_string(i), "prompt or response tokenized to nothing");
        result.push_back(std::move(pair));
    }
    return result;
}

std::vector<std::pair<std::string, std::string>> safeResponsePairs(const std::vector<SafeEditRecord>& records) {
    std::vector<std::pair<std::string, std::string>> pairs;
    for (const auto& record : records) {
        if (record.adversarialPrompt.empty() || record.safeGeneration.empty())
            throw Error("", "record " + std::to_string(record.id), "SFT needs an adversarial prompt and a safe generation");
        pairs.emplace_back(record.adversarialPrompt, record.safeGeneration);
    }
    return pairs;
}

EditResult trainSft(Model& model, const std::vector<TrainingPair>& pairs, const SftSettings& settings, JobControl& job) {
    const auto start = std::chrono::steady_clock::now();
    Model::Impl& impl = model.impl();
    std::vector<TrainingPair> examples;
    ContextFit fit("SFT prompt+response pairs", ContextPolicy::KeepLast, contextLimit(model.config(), 0, model.directory()));
    for (size_t i = 0; i < pairs.size(); ++i) {
        TrainingPair pair = pairs[i];
        if (!trimToLength(pair.promptIds, pair.responseIds, settings.maxLength)) continue;
        fitPairToContext(pair.promptIds, pair.responseIds, fit, "pair " + std::to_string(i + 1));
        if (!pair.responseIds.empty()) examples.push_back(std::move(pair));
    }
    nlohmann::json settingsJson = settings;
    settingsJson["examples"] = examples.size();
    EditResult result;
    result.method = "sft";
    result.settings = settingsJson;
    result.provenance = makeProvenance(model, "sft", settingsJson, settings.seed);
    result.provenance.context = {fit};
    const std::vector<std::string> names = canonicalNames(selectParameters(model, settings.parameters), impl);
    const int padId = paddingId(impl);

    SnapshotGuard guard(impl, names);
    {
        TrainableScope trainable(impl, names);
        TrainingLoopSettings loop{examples.size(), settings.epochs,      settings.batchSize,
                                  settings.gradientAccumulation,          settings.shuffle,
                                  settings.seed,   settings.learningRate, settings.weightDecay,
                                  settings.maxGradNorm, "SFT",
                                  settings.maxSteps,    settings.warmupSteps, settings.learningRateSchedule};
        auto batchLoss = [&](const std::vector<size_t>& indices) {
            std::vector<std::vector<int>> prompts, responses;
            for (size_t i : indices) {
                prompts.push_back(examples[i].promptIds);
                responses.push_back(examples[i].responseIds);
            }
            ResponseBatch batch = makeResponseBatch(prompts, responses, padId, impl.config.vocabSize);
            torch::Tensor logProbs = nextTokenLogProbs(impl, batch.tokens);
            const torch::Tensor mask = batch.targetMask.to(logProbs.device());  // built on the host
            return -(logProbs * mask).sum() / mask.sum().clamp_min(1);
        };
        result.lossHistory = runTrainingLoop(loop, trainable.tensors(), batchLoss, job);
    }
    guard.commit();
    result.changedTensors = names;
    result.durationSeconds = secondsSince(start);
    return result;
}

// ---------------------------------------------------------------- registry entry

const Method& sftMethod() {
    static const Method method{
        MethodId::Sft,
        "sft",
        "SFT",
        "supervised fine-tuning on the safe generation",
        "sft",
        true,
        {learningRateField(), countField("epochs", "Epochs")},
        "epochs",
        "epochs",
        [](const ModelConfig&) { return nlohmann::json(SftSettings{}); },
        [](ModelEditor& editor, const MethodInput& input, const nlohmann::json& values, JobControl& job) {
            const auto& records = input.trainingRecords.empty() ? std::vector<SafeEditRecord>{input.record}
                                                                : input.trainingRecords;
            return editor.sft(tokenizePairs(editor.model().tokenizer(), safeResponsePairs(records)),
                              values.get<SftSettings>(), job);
        },
        [](const std::string& prompt, const nlohmann::json&) { return prompt; },
    };
    return method;
}

}  // namespace detox
