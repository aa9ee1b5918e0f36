// Activation patching (causal tracing) on SafeEdit records. The corrupt run is the adversarial prompt
// (the model complies), the clean run the bare harmful question ("test input of only harmful question";
// the model refuses). The metric is teacher-forced after the prompt:
//   metric = log p(safe generation | prompt) - log p(unsafe generation | prompt)
// (each term is also kept). For each layer and each of the last K prompt positions (aligned from the end
// of each prompt: offset -1 is the last token of both), the clean run's activation at the chosen point is
// written into the corrupt run, and the fraction of the clean-vs-corrupt gap it recovers is reported:
//   recovered = (metric_patched - metric_corrupt) / (metric_clean - metric_corrupt)
// 0 = no effect, 1 = the clean run's metric. Null where the gap is zero or the clean prompt is shorter
// than the offset. The layer curve patches all K aligned positions of a layer at once.
//
// Cost: one clean and one corrupt forward with captures, then per layer one run of the corrupt batch from
// that layer up (the prefix below is shared: the corrupt run's residual entering the layer), K + 1
// patches (the K positions and the curve's all-positions patch) batched per forward.
#pragma once
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "detox/job.h"
#include "detox/results.h"
#include "detox/runtime/context_policy.h"
#include "detox/runtime/model.h"
#include "detox/safeedit/safeedit.h"
#include "detox/tokenizer/tokenizer.h"

namespace detox {

struct PatchingSettings {
    Capture point = Capture::ResidPost;  // resid_post, attn_out or mlp_out (any writable point works)
    int lastPositions = 8;               // K: the last K prompt positions
    int patchesPerForward = 9;           // patches batched in one forward (each is 2 rows: safe, unsafe)
    // Records: both prompts in the chat template (empty = the tokenizer's detected one, as evaluate), each
    // prompt + generation pair fitted into the context by the policy (the prompt keeps its last tokens).
    std::optional<ChatTemplate> chatTemplate;
    ContextPolicy contextPolicy = ContextPolicy::KeepLast;
};
// The template is written as resolved by patchRecords ("tokenizer default" when unresolved).
void to_json(nlohmann::json& json, const PatchingSettings& settings);

// log p of the safe and the unsafe generation after a prompt (natural log, summed over the generation's
// tokens), and their difference.
struct PatchingScore {
    double logPSafe = 0;
    double logPUnsafe = 0;
    double metric() const { return logPSafe - logPUnsafe; }
};

// One record's patching result.
struct PatchingRecordResult {
    int recordId = 0;
    int position = 0;                        // in the selected id list (before sharding): merge order
    int corruptTokens = 0, cleanTokens = 0;  // prompt lengths
    int safeTokens = 0, unsafeTokens = 0;    // generation lengths
    PatchingScore clean, corrupt;
    std::vector<int> positions;              // offsets from the end of the prompts: -K .. -1
    // The corrupt prompt's token at each offset (readable labels, as tokenLabels; set by patchRecord), so
    // every reader labels the map's columns alike; empty from patchTokens and in results written before it
    // was recorded (JSON "position_tokens").
    std::vector<std::string> positionTokens;
    // [layer][position]: the patched run's scores, and the recovered fraction of the metric and of each term
    // (nullopt: zero gap, or no clean token at that offset).
    std::vector<std::vector<std::optional<PatchingScore>>> patched;
    std::vector<std::vector<std::optional<double>>> recovered, recoveredSafe, recoveredUnsafe;
    // [layer]: all K aligned positions patched at once.
    std::vector<std::optional<PatchingScore>> layerPatched;
    std::vector<std::optional<double>> layerRecovered;
    int bestLayer = -1;                      // layer with the largest curve value (-1: none measured)
    // Work done, in units of one forward of the corrupt pair (token-layers counted), and wall time.
    double forwardMultiple = 0;
    double seconds = 0;
    double oneForwardSeconds = 0;            // the corrupt pair's forward with captures, timed
    std::vector<ContextFit> context;         // what the context policy did to the clean and corrupt pairs
};

struct PatchingResult {
    std::string point;                       // "resid_post", ...
    int lastPositions = 0;
    std::vector<PatchingRecordResult> records;
    std::vector<std::optional<double>> meanLayerRecovered;  // per layer, over the records that measured it
    double forwardMultiple = 0;              // summed work / summed one-forward work over the records
    std::string chatTemplate;                // as resolved
    int shardIndex = 1, shardCount = 1, selectedRecords = 0;
    Provenance provenance;                   // method "patch", settings = PatchingSettings; context
};

void to_json(nlohmann::json& json, const PatchingScore& score);
void from_json(const nlohmann::json& json, PatchingScore& score);
void to_json(nlohmann::json& json, const PatchingRecordResult& result);
void from_json(const nlohmann::json& json, PatchingRecordResult& result);
void to_json(nlohmann::json& json, const PatchingResult& result);
void from_json(const nlohmann::json& json, PatchingResult& result);

// The recovered fraction (patched - corrupt) / (clean - corrupt); nullopt when clean == corrupt.
std::optional<double> recoveredFraction(double clean, double corrupt, double patched);

// Patching on token ids (the prompts and generations already tokenised; generations without special
// tokens). The record id is left 0. Throws detox::Error on empty inputs.
PatchingRecordResult patchTokens(const Model& model, const std::vector<int>& cleanPrompt,
                                 const std::vector<int>& corruptPrompt, const std::vector<int>& safeGeneration,
                                 const std::vector<int>& unsafeGeneration, const PatchingSettings& settings,
                                 JobControl& job = noJobControl());

// One record with the model's tokenizer: prompts in the settings' chat template (promptIds, as evaluate),
// generations plain, each pair fitted into the context (context policy). Throws detox::Error when the
// record lacks the bare question or a generation.
PatchingRecordResult patchRecord(const Model& model, const SafeEditRecord& record, const PatchingSettings& settings,
                                 JobControl& job = noJobControl());

// Several records of a dataset (evaluate's selection: ids in order, all records when empty); shard i of N
// keeps the positions p with p % N == i - 1. Progress per layer, cancellable between layers.
PatchingResult patchRecords(const Model& model, const SafeEditDataset& dataset, const std::vector<int>& ids,
                            const PatchingSettings& settings, JobControl& job = noJobControl());
PatchingResult patchRecords(const Model& model, const SafeEditDataset& dataset, const std::vector<int>& ids,
                            const PatchingSettings& settings, int shardIndex, int shardCount,
                            JobControl& job = noJobControl());

// The shards of one patch run merged into the unsharded result (same checks as evaluate's merge; the
// per-layer means and the cost multiple recomputed from the records).
PatchingResult mergePatchings(const std::vector<PatchingResult>& shards);

// JSON files (written atomically; a file of another kind is a detox::Error naming it).
void savePatching(const std::string& path, const PatchingResult& result);
PatchingResult loadPatching(const std::string& path);

}  // namespace detox
