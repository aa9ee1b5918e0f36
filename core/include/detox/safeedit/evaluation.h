// SafeEdit evaluation runs: a model answers the selected SafeEdit cases (the adversarial prompt and the
// four generalization inputs), a SafetyJudge labels the answers, and the knowledge-constraint answers are
// scored teacher-forced. Optional general-ability checks: perplexity on a text, QA exact match, summary
// ROUGE-1. The result keeps every case, the aggregate metrics and the provenance; shards of one run can be
// merged into exactly the unsharded result (metrics are recomputed from the cases, never averaged).
//
// Following EasyEdit's safety evaluation (safety_editor / test_safety_gen with the DINM hparams):
// greedy decoding, left padding, max_output_length = 600 new tokens, longer inputs keep their last tokens
// (EasyEdit: the last 1024 = max_length 1624 - 600; harmful questions sit at the end). Here the limit is
// what fits in the model's context: its positions minus the new tokens (context_policy.h, keep-last);
// the knowledge prompt + answer pairs fit in the whole context. What was cut is in provenance.context. Unlike
// EasyEdit, which feeds the raw prompt, the prompt is wrapped in the tokenizer's chat template by default
// (settings.chatTemplate = Plain reproduces EasyEdit's raw input).
#pragma once
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "detox/job.h"
#include "detox/safeedit/judge.h"
#include "detox/safeedit/metrics.h"
#include "detox/runtime/model.h"
#include "detox/results.h"
#include "detox/safeedit/safeedit.h"
#include "detox/tokenizer/tokenizer.h"

namespace detox {

// How the evaluated model's test prompts are written.
//   Plain     the dataset's prompts as they are (the project's default).
//   EasyEdit  as EasyEdit evaluates an edited model (safety_editor.py SafetyEditor.edit evaluates "post" on
//             request_with_systemPrompt, built in run_safety_editing.py): prompt + " " + suffix for the
//             adversarial prompt and the four generalization inputs (the knowledge pair stays as it is).
//             EasyEdit evaluates the unedited model plainly: compare applies it to the repaired models only.
enum class EvalProtocol { Plain, EasyEdit };
std::string evalProtocolName(EvalProtocol protocol);  // "plain", "easyedit"
std::optional<EvalProtocol> evalProtocolFromName(const std::string& name);

struct EvaluationSettings {
    // Generation (EasyEdit's defaults, see above).
    int maxNewTokens = 600;
    int maxInputTokens = 0;             // longer prompts keep their last tokens; 0 = all that fit in the
                                        // context (positions - maxNewTokens); more than that is refused
    double temperature = 0;             // 0 = greedy
    double topP = 1.0;
    uint64_t seed = 0;
    int batchSize = 8;                  // cases per batch; prompts per generate / forward call
    std::optional<ChatTemplate> chatTemplate;  // empty = the tokenizer's detected template
    EvalProtocol protocol = EvalProtocol::Plain;
    std::string protocolSuffix = kEasyEditSuffixSystemPrompt;  // what EvalProtocol::EasyEdit appends

    // Which cases: explicit dataset ids (in the order given) or the first `limit` records (0 = all), then
    // shard i of N (1-based): the records at 0-based positions p of that list with p % N == i - 1.
    std::vector<int> ids;
    std::vector<int> positions;         // or 0-based places in the file (in the order given)
    int limit = 0;
    int shardIndex = 1;
    int shardCount = 1;

    // General ability, each off when its path is empty. Computed by shard 1 only (they do not depend
    // on the cases), so a merged run carries them exactly once.
    std::string generalTextPath;        // perplexity over the text's tokens
    std::string generalQaPath;          // JSONL {"question", "answer"} -> exact match of a greedy answer
    std::string generalSummariesPath;   // JSONL {"document", "summary"} -> ROUGE-1 F1 of "Summarize: ..."
    int perplexityWindow = 256;         // tokens per forward window (non-overlapping)
    int qaMaxNewTokens = 16;
    int summaryMaxNewTokens = 64;
};

// The settings as JSON (everything that changes the numbers, without the shard), for provenance and for
// checking that shards belong together. resolvedTemplate is the template actually used.
nlohmann::json evaluationSettingsJson(const EvaluationSettings& settings, ChatTemplate resolvedTemplate);

// A test prompt as the settings' protocol has the model read it.
std::string protocolPrompt(const std::string& prompt, const EvaluationSettings& settings);

// The selected list before sharding and this shard's part of it. Throws detox::Error for an id not in the
// dataset (naming the file's id range and first ids), a position outside it, more than one of ids /
// positions / limit, or a shard outside 1..N.
struct CaseSelection {
    std::vector<size_t> selected;       // record indices in the dataset, in selection order
    std::vector<int> shardPositions;    // positions in `selected` that belong to this shard
};
CaseSelection selectCases(const SafeEditDataset& dataset, const EvaluationSettings& settings);

// The user message wrapped in the chat template, as token ids (special tokens as the template writes
// them; a template of Plain is the message encoded with the tokenizer's special tokens, e.g. BOS).
std::vector<int> promptIds(const Tokenizer& tokenizer, const std::string& message, ChatTemplate format);

// The chat template's end-of-turn token ids, where the evaluation's generation stops (EOS stops it anyway).
std::vector<int> templateStopIds(const Tokenizer& tokenizer, ChatTemplate format);

// Greedy answers to user messages, formatted and stopped as the evaluation does it: promptIds in `format`,
// the template's stop ids, prompts cut to their last maxInputTokens (0 = all that fit in the context before
// maxNewTokens; keep-last). One batch. `fit` (optional) receives what the cut did ("prompt 1", ...).
// `interventions` are written at every step (ablation's steered answers).
std::vector<Generation> generateResponses(const Model& model, const std::vector<std::string>& messages,
                                          ChatTemplate format, int maxNewTokens, JobControl& job = noJobControl(),
                                          int maxInputTokens = 0, ContextFit* fit = nullptr,
                                          const std::vector<Intervention>& interventions = {});

// Teacher-forced token accuracy in [0, 1] of the knowledge answer after its prompt (promptIds in `format`),
// scored as the evaluation scores a case (the pair fitted into the context; `fit` receives what was cut);
// empty when the answer has no tokens.
std::optional<double> knowledgeAccuracy(const Model& model, const KnowledgeConstraint& knowledge, ChatTemplate format,
                                        ContextFit* fit = nullptr);

// One evaluated case.
struct EvaluationCase {
    int position = 0;                   // in the selected list (before sharding): the merge order
    int recordIndex = 0;                // in the dataset file
    CaseResult safety;                  // inputs, responses, unsafe labels, fluency
    std::map<std::string, std::string> judgeReasons;
    std::optional<KnowledgeConstraint> knowledge;
    std::optional<double> knowledgeAccuracy;  // teacher-forced token accuracy of the answer, in [0, 1]
    std::optional<double> knowledgeKl;        // mean KL(reference || model) over the answer positions, nats
    int knowledgeTokens = 0;                  // answer tokens scored
};

struct GeneralAbility {
    std::optional<double> perplexity;
    int perplexityTokens = 0;           // tokens predicted
    std::optional<double> qaExactMatch; // in [0, 1]
    int qaItems = 0;
    std::optional<double> summaryRouge1;  // mean ROUGE-1 F1 in [0, 1]
    int summaryItems = 0;
};

struct EvaluationMetrics {
    SafetyMetrics safety;               // DS, DG_*, DG_Avg, fluency (x100 / entropy), judge
    std::optional<double> knowledgeAccuracy;  // mean over cases with a knowledge pair, in [0, 1]
    int knowledgeCases = 0;
    std::optional<double> knowledgeKl;  // mean over those cases, when a reference model was given
    GeneralAbility general;
};

// Aggregates from the cases (and the general-ability figures as they are).
EvaluationMetrics computeMetrics(const std::vector<EvaluationCase>& cases, const GeneralAbility& general,
                                 const std::string& judgeName, bool heuristicJudge);

struct EvaluationResult {
    Provenance provenance;              // method "evaluate"; settings = evaluationSettingsJson
    std::string judgeName;
    bool heuristicJudge = false;
    std::string referenceModelDirectory;  // empty without a reference model
    std::string referenceModelHash;
    int shardIndex = 1;
    int shardCount = 1;
    int selectedCases = 0;              // size of the selected list before sharding
    double durationSeconds = 0;         // summed over shards after a merge
    std::vector<EvaluationCase> cases;  // in selection order
    EvaluationMetrics metrics;
};

// Runs the evaluation. `reference` (optional) is the unedited model for the knowledge KL; it must share
// the model's vocabulary. Progress is reported per batch of cases, cancellation is checked between
// batches (detox::Cancelled). Throws detox::Error when the model has no tokenizer, a general-ability file
// is malformed, or the selection is invalid.
EvaluationResult evaluate(const Model& model, const SafeEditDataset& dataset, SafetyJudge& judge,
                          const EvaluationSettings& settings, JobControl& job = noJobControl(),
                          const Model* reference = nullptr);

// The protocol a result was evaluated under, from its provenance: "plain" or "easyedit"; "plain" too for
// evaluations written before protocols were recorded (all were plain), "not recorded" when the settings
// are not an evaluation's. And a line saying what it means, for summaries and reports.
std::string evaluationProtocol(const EvaluationResult& result);
std::string evaluationProtocolLine(const EvaluationResult& result);

// Merges the shards of one run. Refuses (detox::Error) results that differ in model hash, dataset hash,
// judge, reference model, settings or shard count, repeat a shard or a case, or leave cases out. The
// merged result is unsharded (1/1) with the cases in selection order and metrics recomputed from them.
EvaluationResult mergeEvaluations(const std::vector<EvaluationResult>& shards);

void to_json(nlohmann::json& json, const EvaluationCase& item);
void from_json(const nlohmann::json& json, EvaluationCase& item);
void to_json(nlohmann::json& json, const EvaluationMetrics& metrics);
void from_json(const nlohmann::json& json, EvaluationMetrics& metrics);
void to_json(nlohmann::json& json, const EvaluationResult& result);
void from_json(const nlohmann::json& json, EvaluationResult& result);

// Files: atomic write; reading throws detox::Error naming the file and the field.
void saveEvaluation(const std::string& path, const EvaluationResult& result);
EvaluationResult loadEvaluation(const std::string& path);

}  // namespace detox
