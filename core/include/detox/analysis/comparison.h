// Method comparison (`detox compare`): each registered method named (DINM, SFT, DPO, the prompt-only
// baselines) repairs every selected SafeEdit instance, starting from the original model each time
// (single-instance editing, as DINM is evaluated), through the record study (detox/analysis/record_study.h),
// and is measured the same way: the SafeEdit evaluation of the repaired model on that instance (responses,
// judge labels, DS/DG/fluency/knowledge) and the mechanism view (parameter shift, toxic-region
// activation shift and toxicity, per-layer safe-vs-unsafe distance before and after).
//
// Instances are independent, so a comparison shards like an evaluation (EvaluationSettings' ids /
// limit / shard) and the merged shards equal the unsharded run: metrics are recomputed from the cases.
// The toxic probe behind the region toxicity is trained on the original model from the first records
// of the whole selection (not the shard's), so every shard measures with the same probe.
#pragma once
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "detox/safeedit/evaluation.h"
#include "detox/job.h"
#include "detox/safeedit/judge.h"
#include "detox/analysis/locate.h"
#include "detox/analysis/mechanism.h"
#include "detox/methods/methods.h"
#include "detox/runtime/model.h"
#include "detox/results.h"
#include "detox/safeedit/safeedit.h"

namespace detox {

inline constexpr const char* kComparisonKind = "detox-compare";

struct ComparisonSettings {
    std::vector<std::string> methods{"dinm", "sft", "dpo"};  // registered method names (detox/methods/registry.h)
    EvaluationSettings evaluation;       // case selection, shard and generation (general ability unused)
    LocateVariant locateVariant = LocateVariant::Masked;  // also every method's locate_variant setting
    // Per method name: settings over the paper's defaults for the model (resolveSettings' userSettings;
    // the CLI and the GUI pass what they resolved, the model's recommendation included). A DINM layer is
    // left empty: each instance's located layer is edited.
    std::map<std::string, nlohmann::json> methodSettings;
    int probeRecords = 32;               // records the toxic probe is trained on (safe + unsafe text each)
    uint64_t seed = 0;                   // probe split; SFT/DPO example order
};

// Everything that changes the numbers (without the shard), for provenance and the merge check.
nlohmann::json comparisonSettingsJson(const ComparisonSettings& settings);

// One instance repaired by one method.
struct ComparedEdit {
    int position = 0;                    // in the selected list (before sharding): the merge order
    int recordId = 0;
    EditResult edit;
    MechanismComparison mechanism;
};

struct MethodComparison {
    std::string method;                  // registry name: "dinm", "sft", "dpo", "self-reminder", ...
    EvaluationResult evaluation;         // each case answered by the model repaired on that case
    std::vector<ComparedEdit> edits;     // same order as evaluation.cases
};

struct ComparisonResult {
    Provenance provenance;               // method "compare"; settings = comparisonSettingsJson
    int shardIndex = 1;
    int shardCount = 1;
    std::optional<ToxicProbe> probe;     // empty when the data had too few records for one
    EvaluationResult baseline;           // the original model on the same cases
    std::vector<LocateResult> baselineCurves;  // the original model's toxic layers, one per case
    std::vector<MethodComparison> methods;     // in settings.methods order
    double durationSeconds = 0;          // summed over shards after a merge
};

// Runs the comparison. The model is edited in place and restored after every edit (also when the job
// is cancelled or fails). Throws detox::Error for an unknown method or an invalid selection.
ComparisonResult compareMethods(Model& model, const SafeEditDataset& dataset, SafetyJudge& judge,
                                const ComparisonSettings& settings, JobControl& job = noJobControl());

// Merges the shards of one comparison (checks as mergeEvaluations, plus the same methods); the result
// is unsharded with every list in selection order and all metrics recomputed.
ComparisonResult mergeComparisons(const std::vector<ComparisonResult>& shards);

// True when the edit ran in DINM's EasyEdit-compatible mode (its settings' easyedit_compat).
bool easyEditCompatible(const EditResult& edit);
// How a row was measured, for tables and reports: its evaluation's protocol (evaluationProtocol), with
// "; EasyEdit-compatible" where its edits ran in that mode.
std::string rowProtocol(const MethodComparison& method);
// One line for captions and titles: "evaluation protocol: plain" when every row agrees, else each protocol
// with its rows ("evaluation protocol: easyedit for dinm, sft; plain for original, self-reminder").
std::string comparisonProtocolNote(const ComparisonResult& result);

// True for a JSON object written by saveComparison (its "kind").
bool isComparisonJson(const nlohmann::json& json);

void to_json(nlohmann::json& json, const ComparisonResult& result);
void from_json(const nlohmann::json& json, ComparisonResult& result);

// Files: atomic write; reading throws detox::Error naming the file and the field.
void saveComparison(const std::string& path, const ComparisonResult& result);
ComparisonResult loadComparison(const std::string& path);

}  // namespace detox
