// Ablation on SafeEdit records: knock out part of one layer and measure what changes.
//
// Targets (at one layer, at every position of every run: prompt, teacher-forced answer, new tokens):
//   top region neurons  the k toxic-region neurons (mlp_act, the input of the second MLP matrix) whose
//                       mean activation differs most between the record's unsafe and safe generation
//                       (mostDifferentNeurons, as the Toxic region view ranks them), on the model given
//   neurons             an explicit list of mlp_act neurons
//   direction           project out d = mean(unsafe generations) - mean(safe generations) at a capture
//                       point (resid_post by default): x <- x - (x . d / |d|^2) d
// Neurons are zero-ablated (set to 0) or mean-ablated (set to their mean activation). Every mean (the
// neuron means and the direction's two means) is over the safe and unsafe generations of a named set of
// records (MeanSource): each generation averaged over its tokens first, then the generations averaged, so
// each counts once. The set, its texts and tokens are recorded in the result.
//
// Effect: the teacher-forced metric after the adversarial prompt (as patching: log p(safe generation) -
// log p(unsafe generation), and each term), and a short greedy generation from the adversarial prompt with
// the judge's verdict, each without and with the ablation. Prompts are wrapped in the chat template and
// fitted to the context by the context policy (keep-last), as evaluate does; both are recorded.
// Works on any model state: it takes a Model (the loaded one, or an editor's edited model).
#pragma once
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "detox/analysis/patching.h"
#include "detox/job.h"
#include "detox/results.h"
#include "detox/runtime/context_policy.h"
#include "detox/runtime/model.h"
#include "detox/safeedit/safeedit.h"
#include "detox/tokenizer/tokenizer.h"

namespace detox {

class SafetyJudge;

enum class AblationTarget { TopRegionNeurons, Neurons, Direction };
std::string ablationTargetName(AblationTarget target);  // "top_region_neurons", "neurons", "direction"
enum class AblationMode { Zero, Mean };
std::string ablationModeName(AblationMode mode);        // "zero", "mean"
std::optional<AblationMode> ablationModeFromName(const std::string& name);
// Over which records' generations the means are taken.
enum class MeanSource { Record, Records };
std::string meanSourceName(MeanSource source);          // "record" (the ablated record's own), "records"
std::optional<MeanSource> meanSourceFromName(const std::string& name);

struct AblationSettings {
    int layer = 0;
    AblationTarget target = AblationTarget::TopRegionNeurons;
    int topK = 20;                                 // TopRegionNeurons
    std::vector<int> neurons;                      // Neurons: mlp_act channels
    AblationMode mode = AblationMode::Zero;        // neuron targets only (a direction is projected out)
    Capture directionPoint = Capture::ResidPost;   // Direction: where the means are read and d is removed
    MeanSource meanSource = MeanSource::Record;    // Records: the ids in meanRecordIds
    std::vector<int> meanRecordIds;                // MeanSource::Records (also ranks top neurons then)
    int maxGenerationTokens = 64;                  // first tokens of each generation read for the means and
                                                   // the ranking (recorded); the metric scores whole
                                                   // generations (within the context)
    int maxNewTokens = 32;                         // the short generation
    std::optional<ChatTemplate> chatTemplate;      // empty = the tokenizer's detected template
    ContextPolicy contextPolicy = ContextPolicy::KeepLast;
};
// Everything that changes the numbers, with the resolved template (for provenance and the merge check).
nlohmann::json ablationSettingsJson(const AblationSettings& settings, ChatTemplate resolvedTemplate);

// What the means were taken over.
struct MeanProvenance {
    std::string source;                            // meanSourceName
    std::vector<int> recordIds;
    int texts = 0;                                 // generations averaged (safe + unsafe)
    long long tokens = 0;                          // tokens read over all of them
};
void to_json(nlohmann::json& json, const MeanProvenance& means);
void from_json(const nlohmann::json& json, MeanProvenance& means);

// What is written into the model, resolved on one model state (plain data: the GUI can show it).
struct AblationPlan {
    int layer = 0;
    std::string target;                            // ablationTargetName
    std::string mode;                              // "zero", "mean" or "project_out"
    std::string point;                             // "mlp_act" for neurons, else the direction's point
    std::vector<int> neurons;                      // neuron targets, in ranking / given order
    std::vector<double> values;                    // the value each neuron is set to (0 or its mean)
    std::vector<double> neuronGaps;                // top neurons: mean(unsafe) - mean(safe) of each
    std::vector<double> direction;                 // Direction: d (unnormalised)
    double directionNorm = 0;                      // |d|
    std::optional<MeanProvenance> means;           // absent for zero-ablating given neurons
};
void to_json(nlohmann::json& json, const AblationPlan& plan);
void from_json(const nlohmann::json& json, AblationPlan& plan);

// One model run's outcome: the teacher-forced scores and the short generation with its verdict.
struct AblationOutcome {
    PatchingScore score;
    std::string generation;
    double unsafe = 0;                             // judge label: 0 safe, 1 unsafe, 0.5 empty
    std::string verdictReason;
};
void to_json(nlohmann::json& json, const AblationOutcome& outcome);
void from_json(const nlohmann::json& json, AblationOutcome& outcome);

struct AblationRecordResult {
    int recordId = 0;
    int position = 0;                              // in the selected id list (before sharding): merge order
    AblationPlan plan;
    int promptTokens = 0, safeTokens = 0, unsafeTokens = 0;  // after the context policy
    AblationOutcome before, after;
    std::vector<ContextFit> context;               // what the context policy did to the pair and the prompt
    double metricChange() const { return after.score.metric() - before.score.metric(); }
    double logPSafeChange() const { return after.score.logPSafe - before.score.logPSafe; }
    double logPUnsafeChange() const { return after.score.logPUnsafe - before.score.logPUnsafe; }
    double seconds = 0;
};
void to_json(nlohmann::json& json, const AblationRecordResult& result);
void from_json(const nlohmann::json& json, AblationRecordResult& result);

struct AblationResult {
    int layer = 0;
    std::string target, mode, chatTemplate, judge;
    bool heuristicJudge = true;
    std::vector<AblationRecordResult> records;     // in selection order
    // Over the records: mean metric change, and the judge's unsafe rate without / with the ablation.
    double meanMetricChange = 0, meanLogPSafeChange = 0, meanLogPUnsafeChange = 0;
    double unsafeBefore = 0, unsafeAfter = 0;
    int shardIndex = 1, shardCount = 1, selectedRecords = 0;
    Provenance provenance;                         // method "ablate", settings = ablationSettingsJson;
                                                   // context = what the policy cut
};
void to_json(nlohmann::json& json, const AblationResult& result);
void from_json(const nlohmann::json& json, AblationResult& result);  // kind "ablation"

// Throws detox::Error naming the setting that does not fit a model of this shape (layer, top k, a neuron,
// lengths, a missing mean record list). Every function below checks; callers may check before a slow load.
void checkAblationSettings(const ModelConfig& config, const AblationSettings& settings);

// The plan on this model state for one record (means and ranking from settings.meanSource). Throws
// detox::Error for a layer or neuron out of range, k < 1, a record without both generations.
AblationPlan planAblation(const Model& model, const SafeEditDataset& dataset, const SafeEditRecord& record,
                          const AblationSettings& settings, JobControl& job = noJobControl());

// The interventions that carry out a plan (every row, every position).
std::vector<Intervention> ablationInterventions(const AblationPlan& plan);

// One record: plan, then measure without and with it. judge = nullptr uses the rule judge.
AblationRecordResult ablateRecord(const Model& model, const SafeEditDataset& dataset, const SafeEditRecord& record,
                                  const AblationSettings& settings, SafetyJudge* judge = nullptr,
                                  JobControl& job = noJobControl());

// Records of a dataset (ids in order; shard i of N keeps positions p with p % N == i - 1); progress per
// record, cancellable between records and between the phases of one.
AblationResult ablateRecords(const Model& model, const SafeEditDataset& dataset, const std::vector<int>& ids,
                             const AblationSettings& settings, SafetyJudge* judge = nullptr, int shardIndex = 1,
                             int shardCount = 1, JobControl& job = noJobControl());

// The shards of one ablate run merged into the unsharded result (same checks as evaluate's merge).
AblationResult mergeAblations(const std::vector<AblationResult>& shards);

// JSON files (written atomically; a file of another kind is a detox::Error naming it).
void saveAblation(const std::string& path, const AblationResult& result);
AblationResult loadAblation(const std::string& path);

}  // namespace detox
