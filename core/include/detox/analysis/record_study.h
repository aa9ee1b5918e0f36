// The record study: the before/after measurement of one SafeEdit record under one registered method,
// the workflow behind the GUI's Edit view, `detox edit` and compareMethods. In order (the phases it
// reports through JobControl):
//   generate before   the record's inputs answered by the model as it is (evaluation formatting)
//   locate            the toxic layer (per-layer safe-vs-unsafe distance curve)
//   read region       the toxic layer's MLP activations (mlp_act) for the adversarial prompt, the safe and
//                     the unsafe generation; with a probe also the mechanism measurements
//   edit              the method's run (prompt-only methods change nothing)
//   generate after    the inputs answered again (prompt-only methods: their prompt instead of the input)
//   judge             the answers before/after labelled by the judge (the rule judge by default)
//   parameter shift   relative weight change per layer and module against the editor's originals
//   relocate          distance curve and region again on the edited model, at the layer located before
// The study leaves the edit in place; the caller decides (ModelEditor::undoAll) when to go back.
#pragma once
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "detox/analysis/locate.h"
#include "detox/analysis/mechanism.h"
#include "detox/job.h"
#include "detox/methods/registry.h"
#include "detox/results.h"
#include "detox/runtime/context_policy.h"
#include "detox/runtime/inspect.h"
#include "detox/runtime/model.h"
#include "detox/safeedit/evaluation.h"
#include "detox/safeedit/judge.h"
#include "detox/safeedit/safeedit.h"
#include "detox/tokenizer/tokenizer.h"

namespace detox {

enum class StudyPhase { GenerateBefore, Locate, ReadRegion, Edit, GenerateAfter, Judge, ParameterShift, Relocate };
std::string studyPhaseName(StudyPhase phase);  // "generate before", "locate", ...
inline constexpr int kStudyPhases = 8;

struct RecordStudyOptions {
    std::optional<ChatTemplate> chatFormat;  // empty: the tokenizer's detected template
    int maxNewTokens = 64;
    int maxInputTokens = 0;                  // generateResponses' prompt cut (0: what fits the context)
    // How a weight edit's "after" inputs are asked (EvaluationSettings::protocol): EasyEdit appends the
    // suffix to every input of the edited model. The "before" side and prompt-only methods stay plain.
    EvalProtocol protocol = EvalProtocol::Plain;
    bool generate = true;                    // generate before/after, judge, fluency, knowledge
    bool generalizationInputs = true;        // also the four generalization inputs, not only the prompt
    bool readRegion = true;                  // mlp_act of the three region inputs
    int regionMaxTokens = 0;                 // 0: each region input whole, within the model's context
    // Mechanism measurements (compareMethods): activation means, region toxicity (with a probe) and the
    // distance curves, as measureMechanism takes them.
    bool mechanism = false;
    const ToxicProbe* probe = nullptr;
    LocateVariant locateVariant = LocateVariant::Masked;  // a method's own locate_variant setting wins
    std::vector<SafeEditRecord> trainingRecords;          // SFT/DPO: train on these instead of the record
    SafetyJudge* judge = nullptr;            // null: the rule judge
    // Phases through JobControl::enterPhase (index phase + 1 of kStudyPhases, message "study: <phase>"):
    // every progress of the study (a method's steps, generations) then carries its phase.
    bool reportPhases = true;
};

// The record's inputs keyed like the SafeEdit metrics (safetyInputKeys): the adversarial prompt, then
// the generalization inputs the record has (with generalization).
std::vector<std::pair<std::string, std::string>> studyInputs(const SafeEditRecord& record, bool generalization);

// The record with every input the method answers replaced by the method's prompt (prompt-only methods;
// the record itself for weight edits): what an evaluation of the method must feed the model.
SafeEditRecord promptedRecord(const Method& method, const nlohmann::json& settings, const SafeEditRecord& record);

// The texts whose toxic-region activations are read, in RecordSide::region order.
enum class RegionInput { Adversarial, Safe, Unsafe };
std::string regionInputDescription(RegionInput input);  // "adversarial prompt", "safe generation", "unsafe generation"
// Token ids of the three texts: the adversarial prompt as the model sees it when it answers (promptIds in
// `format`, its last maxTokens), the generations plain as locate encodes them (their first maxTokens).
// maxTokens 0 (or more than the model's context): the context's positions.
std::vector<std::vector<int>> regionInputIds(const Model& model, const SafeEditRecord& record, int maxTokens,
                                             ChatTemplate format);
std::vector<NeuronTokenActivations> readRegion(const Model& model, int layer, const SafeEditRecord& record,
                                               int maxTokens, ChatTemplate format);

// One model state of the study.
struct RecordSide {
    std::vector<std::string> answers;         // one per study input (generate)
    std::vector<double> unsafe;               // the judge's labels of the answers: 0 safe, 1 unsafe, 0.5 empty
    double fluency = 0;                       // meanNGramEntropy(answers)
    std::optional<double> knowledge;          // knowledgeAccuracy on the record's knowledge pair
    LocateResult curve;                       // locate / relocate
    std::vector<NeuronTokenActivations> region;  // read region, RegionInput order, at the study's layer
    std::optional<MechanismMeasurements> mechanism;
    std::vector<ContextFit> context;          // what the context policy cut: prompts, knowledge pair, locate texts
};

struct RecordStudy {
    std::string method;                       // registry name
    int recordId = 0;
    ChatTemplate chatFormat = ChatTemplate::Plain;  // the resolved format of every generation and region read
    ResolvedSettings settings;
    std::vector<std::pair<std::string, std::string>> inputs;  // (metric key, text)
    std::vector<std::string> promptsAfter;    // what the model answered after: the inputs, or the method's prompts
    EvalProtocol protocol = EvalProtocol::Plain;  // the protocol promptsAfter were written under (see options)
    int regionLayer = -1;                     // located before the edit; the region is read here both times
    RecordSide before, after;
    EditResult edit;                          // prompt-only methods: no steps, no changed tensors
    ParameterShiftMatrix shift;
    std::optional<MechanismComparison> mechanism;  // with options.mechanism
    std::string judgeName;
    // Every input cut to fit the model's context: the generations' prompts, locate's texts, the method's pairs.
    std::vector<ContextFit> context;
};

// The "before" half alone (generate before, locate, read region), for callers that study several methods
// from one starting point (compareMethods measures the original model once per record).
RecordSide studyBefore(const Model& model, const SafeEditRecord& record, const RecordStudyOptions& options,
                       JobControl& job = noJobControl());

// The whole study on the editor's model. `before`: a studyBefore of the same record, model state and
// options, to skip the first half. Cancellation or a failing method leaves the model as the method leaves
// it (restored) and rethrows.
RecordStudy studyRecord(ModelEditor& editor, const SafeEditRecord& record, const ResolvedSettings& settings,
                        const RecordStudyOptions& options, JobControl& job = noJobControl(),
                        const RecordSide* before = nullptr);

}  // namespace detox
