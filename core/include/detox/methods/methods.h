// Detoxification methods on a loaded model: DINM (knowledge editing of the toxic region), the SFT and
// DPO baselines, and the Self-Reminder prompt transform. Every method is a cancellable job: progress per
// optimizer step, cancellation within one step, and a cancelled or failed job leaves the model exactly
// as it was (the touched tensors are restored from a snapshot) before it throws.
#pragma once
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "detox/job.h"
#include "detox/analysis/locate.h"
#include "detox/runtime/model.h"
#include "detox/results.h"
#include "detox/safeedit/safeedit.h"

namespace detox {

// ---------------------------------------------------------------- parameter selection

// Which parameters a trainer updates. Empty layers and empty patterns = every parameter.
// layers: every parameter inside those decoder layers; namePatterns: ECMAScript regexes searched in the
// HF name (e.g. "mlp\\.down_proj"). When both are given a parameter must satisfy both.
struct ParameterSelection {
    std::vector<int> layers;
    std::vector<std::string> namePatterns;
};
void to_json(nlohmann::json& json, const ParameterSelection& selection);
void from_json(const nlohmann::json& json, ParameterSelection& selection);  // every key optional
// The selected HF names in the model's order; throws detox::Error when nothing matches or a layer is
// outside the model.
std::vector<std::string> selectParameters(const Model& model, const ParameterSelection& selection);

// ---------------------------------------------------------------- DINM

constexpr const char* kDinmSuffixSystemPrompt = kEasyEditSuffixSystemPrompt;

struct DinmSettings {
    double learningRate = 5e-4;          // Mistral-type models: 1e-5 (defaultDinmLearningRate)
    double weightDecay = 0;
    int maxSteps = 10;
    double editLossWeight = 0.1;         // c_edit: total = c_edit * edit + constraint
    double stopLoss = 1e-4;              // stop before a step once the total loss is below this
    std::optional<double> normConstraint;  // clamp the edited matrix to W0 +- epsilon after each step
    // true: the constraint (KL to the unedited model on the knowledge-constraint answer) contributes
    // gradient. false: the reference computes the edited logits under no_grad, so only the edit loss trains.
    bool constraintGradient = true;
    // EasyEdit's DINM exactly (docs/easyedit-deviations.md): its strings and label alignment (dinmInputs),
    // no constraint gradient, GPT-2's c_proj bias trained with the weight, the easyedit-left locate
    // variant when masked was left, and in a comparison the first record's layer for every record.
    // What it switched is listed in the result's settings ("easyedit_compat_switched").
    bool easyeditCompat = false;
    std::string suffixSystemPrompt = kDinmSuffixSystemPrompt;
    LocateVariant locateVariant = LocateVariant::Masked;
    std::optional<int> layer;            // edit this layer instead of the located one
    // Layers below the toxic layer and the toxic layer's MLP input do not change during the edit:
    // compute them once and run each step from the edited matrix upward. false = full forward each step.
    bool cacheLowerLayers = true;
    uint64_t seed = 0;                   // recorded in provenance (the edit itself is deterministic)
};
void to_json(nlohmann::json& json, const DinmSettings& settings);
void from_json(const nlohmann::json& json, DinmSettings& settings);  // missing keys keep the defaults
double defaultDinmLearningRate(const ModelConfig& config);  // 1e-5 for Mistral, else 5e-4
// The variant DINM locates with: easyedit-left in compat mode when masked was left, else the setting's.
LocateVariant dinmLocateVariant(const DinmSettings& settings);
// What compat mode changes against the project's default, one line each (empty when compat is off).
std::vector<std::string> easyEditCompatSwitches(const DinmSettings& settings);

// Token ids of one DINM edit, built from a record (see dinmInputs) or given directly.
// Edit: editPromptIds followed by editTargetIds; the loss is the mean NLL of editTargetIds.
// Constraint: constraintPromptIds followed by constraintAnswerIds; the KL is taken over the next-token
// distributions that predict the answer tokens.
// EasyEdit alignment (easyEditAlignment): the edit loss scores editLabelIds (one per editTargetIds token;
// negative = left out, EasyEdit's -100 for pad) at the positions that predict editTargetIds, and the KL
// covers the positions OF the answer tokens (the last answer-count positions of the sequence).
struct DinmInputs {
    std::vector<int> editPromptIds, editTargetIds;
    std::vector<int> constraintPromptIds, constraintAnswerIds;
    bool easyEditAlignment = false;
    std::vector<int> editLabelIds;
};
// How text becomes ids (compared with EasyEdit in dinm.cpp and docs/easyedit-deviations.md):
//   edit prompt  = encode(adversarial prompt + " " + suffix system prompt), default special tokens
//   edit target  = encode(" " + safe generation), no special tokens, appended after the prompt ids
//   constraint   = encode(knowledge prompt) with default special tokens, then encode(" " + answer) without.
// With settings.easyeditCompat, EasyEdit's (easyEditDinmTexts, each encoded with default special tokens):
//   edit         = encode(prompt + " " + suffix + " " + " " + safe generation), split before its last n tokens,
//                  n = the label count; labels = encode(" " + safe generation) (BOS included for Llama:
//                  an extra -log p(BOS) term), tokens equal to EOS (EasyEdit's pad) left out
//   constraint   = encode(knowledge prompt + " " + suffix + " " + answer), split before its last m tokens,
//                  m = encode(answer)'s count (BOS included)
// Throws detox::Error when the record has no knowledge constraint or a text is empty.
DinmInputs dinmInputs(const Tokenizer& tokenizer, const SafeEditRecord& record, const DinmSettings& settings);

// EasyEdit's DINM strings for a record (examples/run_safety_editing.py, models/dinm/dinm_main.py).
struct EasyEditDinmTexts {
    std::string edit;              // prompt_with_systemPrompt + " " + (" " + target_new)
    std::string editLabels;        // " " + target_new
    std::string constraint;        // locality prompt + " " + suffix + " " + ground truth
    std::string constraintAnswer;  // ground truth
};
EasyEditDinmTexts easyEditDinmTexts(const SafeEditRecord& record, const std::string& suffixSystemPrompt);

// The DINM name of the tensor it tunes: the toxic layer's second MLP matrix
// (model.layers.L.mlp.down_proj.weight; GPT-2: transformer.h.L.mlp.c_proj.weight).
std::string toxicRegionTensorName(const Model& model, int layer);
// Every tensor DINM trains: that matrix, and in compat mode also its bias where the model has one
// (EasyEdit selects the parameters whose names contain the module's name: GPT-2's c_proj.bias too).
std::vector<std::string> dinmTrainedTensors(const Model& model, int layer, const DinmSettings& settings);

// Edits `layer` of the model in place (no reset, no locating). Reports {"loss","edit_loss",
// "constraint_loss"} per step. On cancellation or error restores the tensor and rethrows.
EditResult runDinm(Model& model, const DinmInputs& inputs, int layer, const DinmSettings& settings,
                   JobControl& job = noJobControl());

// ---------------------------------------------------------------- SFT

struct TrainingPair {
    std::vector<int> promptIds;
    std::vector<int> responseIds;        // the loss covers these tokens only
};

struct SftSettings {
    ParameterSelection parameters;
    double learningRate = 1e-5;
    double weightDecay = 0.0;            // AdamW decoupled weight decay
    int epochs = 1;
    int batchSize = 4;
    int gradientAccumulation = 1;        // batches per optimizer step
    int maxLength = 512;                 // tokens per example (prompt trimmed from the left first)
    double maxGradNorm = 0;              // 0 = no clipping
    bool shuffle = true;
    uint64_t seed = 0;                   // order of the examples
    // Step budget and learning-rate schedule (used to train the demo model from scratch).
    int maxSteps = 0;                    // > 0: stop after this many optimizer steps (epochs repeat as needed)
    int warmupSteps = 0;                 // linear warm-up from 0 to learningRate
    std::string learningRateSchedule = "constant";  // "constant", or "cosine" (decays to 10% at the end)
};
void to_json(nlohmann::json& json, const SftSettings& settings);
void from_json(const nlohmann::json& json, SftSettings& settings);

// (prompt, response) texts -> ids: prompt with the tokenizer's default special tokens, response = " " +
// text without special tokens, followed by EOS when the tokenizer has one.
std::vector<TrainingPair> tokenizePairs(const Tokenizer& tokenizer,
                                        const std::vector<std::pair<std::string, std::string>>& pairs);
// SafeEdit records -> (adversarial prompt, safe generation) pairs.
std::vector<std::pair<std::string, std::string>> safeResponsePairs(const std::vector<SafeEditRecord>& records);

// Supervised fine-tuning: mean NLL of the response tokens, AdamW on the selected parameters only
// (everything else has requires_grad off, no gradient and no optimizer state). lossHistory: one
// entry per optimizer step (the mean loss of the batches it accumulated).
EditResult trainSft(Model& model, const std::vector<TrainingPair>& pairs, const SftSettings& settings,
                    JobControl& job = noJobControl());

// ---------------------------------------------------------------- DPO

struct PreferencePair {
    std::vector<int> promptIds;
    std::vector<int> chosenIds;          // the safe generation
    std::vector<int> rejectedIds;        // the unsafe generation
};

struct DpoSettings {
    ParameterSelection parameters;
    double beta = 0.1;
    double learningRate = 5e-6;
    double weightDecay = 0.0;
    int epochs = 1;
    int batchSize = 2;
    int gradientAccumulation = 1;
    int maxLength = 512;
    double maxGradNorm = 0;
    bool shuffle = true;
    uint64_t seed = 0;
};
void to_json(nlohmann::json& json, const DpoSettings& settings);
void from_json(const nlohmann::json& json, DpoSettings& settings);

// SafeEdit records -> (adversarial prompt, safe generation, unsafe generation), tokenized like SFT pairs.
std::vector<PreferencePair> preferencePairs(const Tokenizer& tokenizer, const std::vector<SafeEditRecord>& records);

// Direct preference optimisation. The reference log-probabilities are those of the model as it is when
// the call starts, computed once before training (no frozen copy). lossHistory: total = edit = DPO loss.
EditResult trainDpo(Model& model, const std::vector<PreferencePair>& pairs, const DpoSettings& settings,
                    JobControl& job = noJobControl());

// The DPO loss of one pair from summed response log-probabilities (for tests and reports).
double dpoPairLoss(double policyChosen, double policyRejected, double referenceChosen, double referenceRejected,
                   double beta);

// ---------------------------------------------------------------- Self-Reminder

constexpr const char* kSelfReminderBefore =
    "You should be a responsible AI and not generate harmful, misleading content! Please answer the "
    "following user query in a responsible way.";
constexpr const char* kSelfReminderAfter =
    "Remember, you should be a responsible AI and should not generate harmful or misleading content!";
// before + "\n" + prompt + "\n\n" + after. No parameter changes.
std::string selfReminderPrompt(const std::string& userPrompt);

// ---------------------------------------------------------------- editing sessions with undo

enum class EditMode {
    Reset,       // every edit starts from the original model
    Sequential,  // edits accumulate
};
std::string editModeName(EditMode mode);  // "reset", "sequential"

// Owns the originals of every tensor its methods touched, so the model can go back to how it was
// loaded at any time without reading the checkpoint again. Holds the model by shared handle.
class ModelEditor {
public:
    explicit ModelEditor(Model model, EditMode mode = EditMode::Reset);
    ~ModelEditor();
    ModelEditor(const ModelEditor&) = delete;
    ModelEditor& operator=(const ModelEditor&) = delete;

    EditMode mode() const;
    void setMode(EditMode mode);
    Model& model();

    // Locates the record's toxic layer (unless settings.layer is set) and runs DINM on it.
    EditResult dinm(const SafeEditRecord& record, const DinmSettings& settings, JobControl& job = noJobControl());
    EditResult dinm(const DinmInputs& inputs, int layer, const DinmSettings& settings,
                    JobControl& job = noJobControl());
    EditResult sft(const std::vector<TrainingPair>& pairs, const SftSettings& settings,
                   JobControl& job = noJobControl());
    EditResult dpo(const std::vector<PreferencePair>& pairs, const DpoSettings& settings,
                   JobControl& job = noJobControl());

    // Back to the original values of every touched tensor.
    void undoAll();
    bool hasEdits() const;
    std::vector<std::string> touchedTensors() const;
    // The original (pre-edit) value of a touched tensor in the HF stored layout; nullopt if untouched.
    std::optional<FloatTensor> originalParameter(const std::string& hfName) const;

    struct State;
private:
    void beginEdit(const std::vector<std::string>& names);
    std::unique_ptr<State> state_;
};

}  // namespace detox
