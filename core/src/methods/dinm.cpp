// DINM (Wang et al. 2024): tune the toxic layer's second MLP matrix so that the adversarial prompt (+ a
// suffix system prompt) leads to the safe generation, while a KL term keeps the model's answer to the
// instance's knowledge-constraint prompt.
//
// Differences from EasyEdit's dinm_main.py, on purpose (docs/easyedit-deviations.md lists them all;
// DinmSettings::easyeditCompat switches every one back):
//  * Tokenization. EasyEdit tokenizes prompt + " " + (" " + target) as one string and takes the labels
//    from a separate tokenization of " " + target (with BOS for Llama), aligned from the end of the
//    sequence; the KL window is likewise taken from the end with the answer's separate token count. Here
//    the prompt ids and the target ids (" " + text, no special tokens) are concatenated, so the loss
//    covers exactly the target tokens, each predicted from everything before it.
//  * The constraint has gradient (EasyEdit computes the edited logits under no_grad, so its KL term never
//    trains).
//  * Only the layers above the edited matrix are recomputed per step (cacheLowerLayers).
#include <algorithm>
#include <cmath>
#include <numeric>

#include "detox/error.h"
#include "methods/method_dinm.h"
#include "methods/method_entries.h"

namespace detox {
using namespace detox::nn;

namespace nn {

DinmObjective::DinmObjective(const Model::Impl& model, const DinmInputs& inputs, int layer, bool cacheLowerLayers)
    : model_(model), layer_(layer), cached_(cacheLowerLayers) {
    if (layer < 0 || layer >= model.config.numLayers)
        throw Error(model.directory, "toxic layer",
                    std::to_string(layer) + " is outside the model's " + std::to_string(model.config.numLayers) +
                        " layers");
    if (inputs.editPromptIds.empty() || inputs.editTargetIds.empty())
        throw Error("", "DINM edit input", "needs a non-empty prompt and target");
    if (inputs.constraintPromptIds.empty() || inputs.constraintAnswerIds.empty())
        throw Error("", "DINM knowledge constraint", "needs a non-empty prompt and answer");
    const bool easyEdit = inputs.easyEditAlignment;
    if (easyEdit && inputs.editLabelIds.size() != inputs.editTargetIds.size())
        throw Error("", "DINM edit labels", "need one label per target token");
    // Position t predicts token t + 1: the targets [first, first + count) are predicted at [first - 1, ...).
    // EasyEdit's KL window is the answer tokens' own positions (the last ones of the sequence).
    const int64_t editFirst = int64_t(inputs.editPromptIds.size()) - 1;
    const int64_t constraintFirst = int64_t(inputs.constraintPromptIds.size()) - (easyEdit ? 0 : 1);
    edit_ = prepare(inputs.editPromptIds, inputs.editTargetIds, editFirst);
    edit_.labels = easyEdit ? inputs.editLabelIds : inputs.editTargetIds;
    constraint_ = prepare(inputs.constraintPromptIds, inputs.constraintAnswerIds, constraintFirst);
    torch::NoGradGuard noGrad;
    baseConstraintLogProbs_ = scoredLogProbabilities(constraint_).detach();
}

DinmObjective::Sequence DinmObjective::prepare(const std::vector<int>& prompt, const std::vector<int>& target,
                                               int64_t firstScored) const {
    Sequence sequence;
    std::vector<int> ids = prompt;
    ids.insert(ids.end(), target.begin(), target.end());
    sequence.tokens = padTokens({ids}, false, 0, model_.config.vocabSize);
    sequence.firstScored = firstScored;
    sequence.scoredCount = static_cast<int64_t>(target.size());
    sequence.attention = model_.attentionInputs(sequence.tokens.mask, sequence.tokens.ids.size(1));
    if (cached_) {
        torch::NoGradGuard noGrad;
        torch::Tensor hidden = model_.runLayers(model_.embed(sequence.tokens.ids, sequence.attention.positions), 0,
                                                layer_, sequence.attention);
        sequence.residualMid = hidden + model_.attentionBlock(layer_, hidden, sequence.attention);
        sequence.activation = model_.mlpActivation(layer_, sequence.residualMid);
    }
    return sequence;
}

torch::Tensor DinmObjective::scoredLogProbabilities(const Sequence& sequence) const {
    torch::Tensor hidden;
    if (cached_) {
        // Only the edited matrix and what lies above it.
        hidden = sequence.residualMid + model_.mlpDown(layer_, sequence.activation);
        hidden = model_.runLayers(hidden, layer_ + 1, model_.config.numLayers, sequence.attention);
    } else {
        hidden = model_.runLayers(model_.embed(sequence.tokens.ids, sequence.attention.positions), 0,
                                  model_.config.numLayers, sequence.attention);
    }
    torch::Tensor scored = hidden.select(0, 0).narrow(0, sequence.firstScored, sequence.scoredCount);
    return torch::log_softmax(model_.logitLens(scored), -1);
}

torch::Tensor DinmObjective::editNll() const {
    torch::Tensor logProbs = scoredLogProbabilities(edit_);
    // Negative labels (EasyEdit's -100 for pad) are left out of the mean.
    std::vector<int64_t> rows, labels;
    for (size_t i = 0; i < edit_.labels.size(); ++i)
        if (edit_.labels[i] >= 0) {
            rows.push_back(int64_t(i));
            labels.push_back(edit_.labels[i]);
        }
    if (rows.empty()) throw Error("", "DINM edit labels", "every label is padding");
    const auto longs = torch::TensorOptions().dtype(torch::kInt64).device(logProbs.device());
    torch::Tensor picked = logProbs.index_select(0, torch::tensor(rows, longs));
    return -picked.gather(-1, torch::tensor(labels, longs).unsqueeze(-1)).mean();
}

DinmObjective::Terms DinmObjective::evaluate(bool constraintGradient) const {
    Terms terms;
    terms.edit = editNll();
    auto constraintTerm = [&] {
        torch::Tensor edited = scoredLogProbabilities(constraint_);
        // KL(unedited || edited), summed over the vocabulary, mean over the scored positions.
        return (baseConstraintLogProbs_.exp() * (baseConstraintLogProbs_ - edited)).sum(-1).mean();
    };
    if (constraintGradient) {
        terms.constraint = constraintTerm();
    } else {
        torch::NoGradGuard noGrad;
        terms.constraint = constraintTerm();
    }
    return terms;
}

}  // namespace nn

double defaultDinmLearningRate(const ModelConfig& config) {
    std::string type = config.modelType + " " + config.hfArchitecture;
    std::transform(type.begin(), type.end(), type.begin(), [](unsigned char c) { return std::tolower(c); });
    return type.find("mistral") != std::string::npos ? 1e-5 : 5e-4;
}

std::string toxicRegionTensorName(const Model& model, int layer) {
    const Model::Impl& impl = model.impl();
    if (layer < 0 || layer >= impl.config.numLayers)
        throw Error(impl.directory, "toxic layer",
                    std::to_string(layer) + " is outside the model's " + std::to_string(impl.config.numLayers) +
                        " layers");
    return impl.mlpDownWeightName(layer);
}

namespace {

void checkDinmRecord(const SafeEditRecord& record) {
    const std::string where = "record " + std::to_string(record.id);
    if (record.adversarialPrompt.empty()) throw Error("", where, "has an empty adversarial prompt");
    if (record.safeGeneration.empty()) throw Error("", where, "has an empty safe generation");
    if (!record.knowledge || record.knowledge->prompt.empty() || record.knowledge->answer.empty())
        throw Error("", where + " \"knowledge constrain\"", "DINM needs the knowledge-constraint prompt and answer");
}

// `ids` split before its last `tail` tokens; throws when nothing would be left before them.
std::pair<std::vector<int>, std::vector<int>> splitBeforeLast(const std::vector<int>& ids, size_t tail,
                                                              const std::string& what) {
    if (tail == 0 || tail >= ids.size())
        throw Error("", what, std::to_string(tail) + " scored tokens do not fit after a prompt in " +
                                  std::to_string(ids.size()) + " tokens");
    const auto cut = ids.end() - std::ptrdiff_t(tail);
    return {std::vector<int>(ids.begin(), cut), std::vector<int>(cut, ids.end())};
}

// EasyEdit's inputs: each text encoded whole with the tokenizer's special tokens (Metaspace tokenizers
// then see EasyEdit's single spaces), labels and KL window aligned from the end of the sequence.
DinmInputs easyEditDinmInputs(const Tokenizer& tokenizer, const SafeEditRecord& record, const DinmSettings& settings) {
    const EasyEditDinmTexts texts = easyEditDinmTexts(record, settings.suffixSystemPrompt);
    const std::string where = "record " + std::to_string(record.id);
    DinmInputs inputs;
    inputs.easyEditAlignment = true;
    inputs.editLabelIds = tokenizer.encode(texts.editLabels, true);
    // get_edit_labels: the pad token (EasyEdit sets pad = EOS) becomes -100.
    if (const auto eos = tokenizer.eosId())
        for (int& label : inputs.editLabelIds)
            if (label == *eos) label = -100;
    std::tie(inputs.editPromptIds, inputs.editTargetIds) =
        splitBeforeLast(tokenizer.encode(texts.edit, true), inputs.editLabelIds.size(), where + " edit text");
    std::tie(inputs.constraintPromptIds, inputs.constraintAnswerIds) =
        splitBeforeLast(tokenizer.encode(texts.constraint, true), tokenizer.encode(texts.constraintAnswer, true).size(),
                        where + " knowledge constraint text");
    return inputs;
}

}  // namespace

EasyEditDinmTexts easyEditDinmTexts(const SafeEditRecord& record, const std::string& suffixSystemPrompt) {
    checkDinmRecord(record);
    // run_safety_editing.py appends the suffix with one space; an empty suffix adds nothing here.
    auto withSuffix = [&](const std::string& text) {
        return suffixSystemPrompt.empty() ? text : text + " " + suffixSystemPrompt;
    };
    EasyEditDinmTexts texts;
    texts.editLabels = " " + record.safeGeneration;  // execute_dinm: target_new = " " + target_new
    texts.edit = withSuffix(record.adversarialPrompt) + " " + texts.editLabels;
    texts.constraint = withSuffix(record.knowledge->prompt) + " " + record.knowledge->answer;
    texts.constraintAnswer = record.knowledge->answer;
    return texts;
}

DinmInputs dinmInputs(const Tokenizer& tokenizer, const SafeEditRecord& record, const DinmSettings& settings) {
    checkDinmRecord(record);
    if (settings.easyeditCompat) return easyEditDinmInputs(tokenizer, record, settings);
    DinmInputs inputs;
    std::string prompt = record.adversarialPrompt;
    if (!settings.suffixSystemPrompt.empty()) prompt += " " + settings.suffixSystemPrompt;
    inputs.editPromptIds = tokenizer.encode(prompt, true);
    inputs.editTargetIds = tokenizer.encode(" " + record.safeGeneration, false);
    inputs.constraintPromptIds = tokenizer.encode(record.knowledge->prompt, true);
    inputs.constraintAnswerIds = tokenizer.encode(" " + record.knowledge->answer, false);
    if (inputs.editTargetIds.empty() || inputs.constraintAnswerIds.empty())
        throw Error("", "record " + std::to_string(record.id), "a target text tokenized to nothing");
    return inputs;
}

LocateVariant dinmLocateVariant(const DinmSettings& settings) {
    if (settings.easyeditCompat && settings.locateVariant == LocateVariant::Masked) return LocateVariant::EasyEditLeft;
    return settings.locateVariant;
}

std::vector<std::string> easyEditCompatSwitches(const DinmSettings& settings) {
    if (!settings.easyeditCompat) return {};
    std::vector<std::string> switches{
        "edit text: prompt + ' ' + suffix + '  ' + safe generation tokenized whole; labels tok(' ' + target) "
        "with special tokens (BOS: extra -log p(BOS) term), aligned from the end",
        "constraint text: knowledge prompt + ' ' + suffix + ' ' + answer tokenized whole; KL over the last "
        "len(tok(answer)) positions",
        "constraint without gradient",
        "GPT-2-style models: the MLP output bias trained with the weight",
        "in a comparison: the first record's toxic layer edited for every record",
    };
    if (settings.locateVariant == LocateVariant::Masked)
        switches.push_back("locate variant easyedit-left (" + locateVariantEasyEditVersion(LocateVariant::EasyEditLeft) +
                           ") instead of masked");
    return switches;
}

std::vector<std::string> dinmTrainedTensors(const Model& model, int layer, const DinmSettings& settings) {
    std::vector<std::string> names{toxicRegionTensorName(model, layer)};
    const Model::Impl& impl = model.impl();
    const std::string bias = impl.layerParameterName(layer, impl.spec->down, "bias");
    if (settings.easyeditCompat && impl.parameters.count(bias)) names.push_back(bias);
    return names;
}

EditResult runDinm(Model& model, const DinmInputs& given, int layer, const DinmSettings& settings, JobControl& job) {
    const auto start = std::chrono::steady_clock::now();
    // Both teacher-forced pairs fit in the context: the prompt loses its first tokens first (keep-last).
    DinmInputs inputs = given;
    ContextFit fit("DINM prompt+target pairs", ContextPolicy::KeepLast, contextLimit(model.config(), 0, model.directory()));
    fitPairToContext(inputs.editPromptIds, inputs.editTargetIds, fit, "adversarial prompt+safe generation");
    fitPairToContext(inputs.constraintPromptIds, inputs.constraintAnswerIds, fit, "knowledge prompt+answer");
    if (inputs.editTargetIds.empty() || inputs.constraintAnswerIds.empty())
        throw Error(model.directory(), "context", "a DINM target does not fit in the model's context");
    Model::Impl& impl = model.impl();
    nlohmann::json settingsJson = settings;
    settingsJson["layer"] = layer;
    if (settings.easyeditCompat) settingsJson["easyedit_compat_switched"] = easyEditCompatSwitches(settings);
    EditResult result;
    result.method = "dinm";
    result.settings = settingsJson;
    result.provenance = makeProvenance(model, "dinm", settingsJson, settings.seed);
    result.provenance.context = {fit};
    result.toxicLayer = layer;
    const std::string target = toxicRegionTensorName(model, layer);
    const std::vector<std::string> trained = dinmTrainedTensors(model, layer, settings);

    SnapshotGuard guard(impl, trained);
    {
        TrainableScope trainable(impl, trained);
        std::vector<torch::Tensor> tensors, originals;
        for (const auto& name : trained) {
            tensors.push_back(*impl.slot(name).value);
            originals.push_back(tensors.back().detach().clone());
        }
        DinmObjective objective(impl, inputs, layer, settings.cacheLowerLayers);
        if (settings.cacheLowerLayers) {  // the steps never read the cached layers: their pages may go
            std::vector<int> below(static_cast<size_t>(layer));
            std::iota(below.begin(), below.end(), 0);
            releaseMappedLayerPages(impl, below);
        }
        // Stored-dtype models: the layers every step runs (above the toxic one) and the LM head held in F32
        // while the edit lasts, within the memory nobody else needs, instead of converted four times a step.
        // After the cache, so the two never add up (a 7B at layer 16 peaked at 18 GiB the other way round).
        std::vector<int> stepping;
        for (int above = layer + 1; above < impl.config.numLayers; ++above) stepping.push_back(above);
        PinnedWeights pinned(impl, stepping, true, pinningBudgetBytes(impl));
        result.settings["pinned_f32_bytes"] = pinned.bytes();
        torch::optim::Adam optimizer(tensors,
                                     torch::optim::AdamOptions(settings.learningRate).weight_decay(settings.weightDecay));
        for (int step = 0; step < settings.maxSteps; ++step) {
            job.checkpoint();
            optimizer.zero_grad();
            DinmObjective::Terms terms = objective.evaluate(settings.constraintGradient && !settings.easyeditCompat);
            torch::Tensor total = settings.editLossWeight * terms.edit + terms.constraint;
            LossRecord record{step, total.item<double>(), terms.edit.item<double>(), terms.constraint.item<double>()};
            if (!std::isfinite(record.total))  // diverged: stop; the snapshot guard restores the weights
                throw Error("", "DINM step " + std::to_string(step + 1),
                            "the loss is " + std::to_string(record.total) + ", not a finite number (the learning rate " +
                                std::to_string(settings.learningRate) + " is probably too high); the weights were restored");
            result.lossHistory.push_back(record);
            Progress progress;
            progress.step = step + 1;
            progress.total = settings.maxSteps;
            progress.message = "DINM step " + std::to_string(step + 1) + " on " + target;
            progress.values = {{"loss", record.total}, {"edit_loss", record.edit}, {"constraint_loss", record.constraint}};
            job.report(progress);
            if (record.total < settings.stopLoss) break;
            total.backward();
            job.checkpoint();
            optimizer.step();
            if (settings.normConstraint) {
                torch::NoGradGuard noGrad;
                const double epsilon = *settings.normConstraint;
                for (size_t i = 0; i < tensors.size(); ++i)
                    tensors[i].copy_(torch::min(torch::max(tensors[i], originals[i] - epsilon), originals[i] + epsilon));
            }
        }
        for (size_t i = 0; i < tensors.size(); ++i)
            if (!torch::isfinite(tensors[i]).all().item<bool>())
                throw Error("", trained[i], "DINM left non-finite weights (the learning rate " +
                                                std::to_string(settings.learningRate) +
                                                " is probably too high); the weights were restored");
    }
    guard.commit();
    result.changedTensors = trained;
    result.durationSeconds = secondsSince(start);
    return result;
}

// ---------------------------------------------------------------- registry entry

const Method& dinmMethod() {
    static const Method method{
        MethodId::Dinm,
        "dinm",
        "DINM",
        "knowledge editing of the toxic region (Wang et al. 2024)",
        "dinm",
        true,
        {learningRateField(), countField("max_steps", "Steps"), {"edit_loss_weight", "c_edit", false, 0, 100, 4},
         {"easyedit_compat", "EasyEdit-compatible", false, 0, 1, 0, true}},
        "max_steps",
        "steps",
        [](const ModelConfig& config) {
            DinmSettings settings;
            settings.learningRate = defaultDinmLearningRate(config);
            return nlohmann::json(settings);
        },
        [](ModelEditor& editor, const MethodInput& input, const nlohmann::json& values, JobControl& job) {
            DinmSettings settings = values.get<DinmSettings>();
            if (!settings.layer && input.locatedLayer >= 0) settings.layer = input.locatedLayer;
            return editor.dinm(input.record, settings, job);
        },
        [](const std::string& prompt, const nlohmann::json&) { return prompt; },
    };
    return method;
}

}  // namespace detox
