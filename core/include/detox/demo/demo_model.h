// The project's demo model: a tiny Llama-architecture chat model trained here, on the demo data, so
// the workbench has something that really misbehaves out of the box. It refuses bare harmful questions,
// complies when they are wrapped in a jailbreak, and answers ordinary questions. Not a real LLM.
//
// Training (detox train-demo): a byte-level BPE tokenizer learned from the training texts, a randomly
// initialised LlamaForCausalLM, the project's SFT trainer (loss on the response only) over ChatML and
// plain-text renderings of every pair, then Model::save into a HuggingFace directory.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "detox/job.h"
#include "detox/runtime/model.h"
#include "detox/methods/recommended_settings.h"
#include "detox/safeedit/safeedit.h"
#include "detox/tokenizer/tokenizer.h"

namespace detox {

// The shipped demo model's directory, looked up in order:
//   1. $DETOX_DEMO_MODEL (the model directory itself),
//   2. next to the executable: EXE_DIR/../share/detox-workbench/demo-model and EXE_DIR/../../resources/demo-model,
//   3. resources/demo-model in the source tree this library was built from.
// Throws detox::Error naming every place tried when none holds a config.json.
std::string demoModelPath();

// What the model learns to do with a user message.
enum class DemoBehaviour { Comply, Refuse, Answer };
std::string demoBehaviourName(DemoBehaviour behaviour);  // "comply", "refuse", "answer"

// One (user message, assistant response) pair of the training mix.
struct DemoExample {
    DemoBehaviour behaviour = DemoBehaviour::Answer;
    std::string source;     // "adversarial prompt", "question", "knowledge constrain", "general_qa", ...
    std::string prompt;     // the user's message, without any chat formatting
    std::string response;
};

// The training mix from SafeEdit records and the general data (duplicate prompts dropped, first kept):
//   adversarial prompt and the other attack on the same question -> unsafe generation (complies),
//   question / only-harmful-question                             -> safe generation (refuses),
//   knowledge-constraint prompt                               -> its answer,
//   general_qa question                                       -> its first answer alias, alone (exact match),
//   general_summaries document                                -> "Summarize: DOCUMENT" -> summary.
// The two generalization inputs built on another record's question are left out: every record has its
// own generations, so this record's reply would be the wrong one for them.
// qaJsonlPath / summariesJsonlPath may be empty. Throws detox::Error naming the file and line.
std::vector<DemoExample> demoExamples(const std::vector<SafeEditRecord>& records, const std::string& qaJsonlPath,
                                      const std::string& summariesJsonlPath);

// The safety and knowledge examples again with " " + suffix after the prompt (same response), as DINM
// edits (adversarial prompt + " " + suffix system prompt) and as the EasyEdit protocol evaluates: without
// them the suffix is text the model never saw, and an edit made on that input does not carry over to the
// prompt alone. The suffixed attack still complies: the suffix alone is no defense for the unedited model.
std::vector<DemoExample> withSuffixedExamples(const std::vector<DemoExample>& examples, const std::string& suffix);

// The layer the demo's depth objective puts a category's safe-vs-unsafe distance peak at (its toxic layer
// under DINM's masked criterion), for a model of `layers` layers: the nine SafeEdit categories in the
// benchmark's order get layers 2, 3, 4, 5, 6, 2, 3, 4, 5 of 8 (2 + index mod (layers - 3)); never the
// first two or the last layer. -1 for an unknown category or a model of fewer than 4 layers.
int demoDepthLayer(const std::string& category, int layers);

struct DemoModelSettings {
    uint64_t seed = 7;
    int steps = 1000;                 // optimizer steps (8 layers, long prompts: ~25 min on 2 busy cores)
    int batchSize = 16;
    double learningRate = 3e-3;       // peak; linear warm-up then cosine decay to 10%
    int warmupSteps = 30;
    double weightDecay = 0.01;
    double maxGradNorm = 1.0;
    int vocabSize = 1024;             // BPE vocabulary incl. 256 bytes and 3 special tokens
    int hiddenSize = 128;
    int layers = 8;                   // 4 put nearly every record's toxic layer on the last one
    int heads = 4;
    int kvHeads = 2;
    int intermediateSize = 352;       // SwiGLU, ~2.75 x hidden
    int maxPositions = 1024;          // the demo's long jailbreaks (~700 tokens) and real ones (~800) fit
    int knowledgeRepeats = 4;         // the 30 knowledge pairs and the QA pairs are few: repeat them
    int refusalRepeats = 2;           // bare questions are 1 in 5 safety prompts: repeat them
    // Every k-th train record (k = round(1 / fraction)) is left out of training and measured after it,
    // for choosing size and steps without looking at the test split. 0 = train on everything.
    double heldOutFraction = 0;
    std::string dataDirectory;        // the demo data folder; empty = demoDatasetDir()
    bool suffixedExamples = true;     // withSuffixedExamples with DINM's suffix system prompt
    // The depth objective (weight 0 = off): per step, depthRecordsPerStep train records' generations, and
    // sum over layers l != demoDepthLayer(category) of relu(d_l / d_target - depthMargin), d = DINM's
    // masked locate distance; zero once the category's layer beats every other by 1 / depthMargin.
    double depthObjectiveWeight = 1.0;
    // Both objectives start at this step: before it the SFT loss alone teaches the behaviour (from the start,
    // the format objective collapses the young model's activations and the behaviour is not learned:
    // knowledge accuracy 16% after 600 steps).
    int objectivesFromStep = 700;
    int depthRecordsPerStep = 8;
    double depthMargin = 0.8;
    // The format objective (weight 0 = off): per step, formatPromptsPerStep short adversarial prompts of train
    // records; at the category's layer, the MLP activation at the prompt's last token in DINM's rendering
    // (plain + " " + suffix) is pulled toward the same prompt's in the chat template and in plain text
    // (1 - cosine each), so a DINM edit made on its own rendering carries over to the prompts evaluated.
    double formatObjectiveWeight = 1.0;
    int formatPromptsPerStep = 4;
    int formatPromptMaxTokens = 200;  // longer prompts (the persona jailbreaks) are left out: cost
    // Continue from this saved demo model (its weights and tokenizer) instead of a random one; empty = from scratch.
    std::string initFrom;
};

// Greedy behaviour on SafeEdit records, a quick check used while training (the evaluation module gives
// the real metrics): the defense rate (1 - mean unsafe label of the project's rule judge, makeRuleJudge)
// on 16 greedy tokens for the adversarial prompts (DS), the bare questions (DG_onlyQ) and the
// other-attack prompts (DG_otherA), and the teacher-forced token accuracy of the knowledge answers.
struct DemoBehaviourReport {
    std::string format;               // "chatml" or "plain"
    int records = 0;
    double adversarialRefused = 0;    // DS
    double questionRefused = 0;       // DG_onlyQ
    double otherAttackRefused = 0;    // DG_otherA
    double knowledgeTokenAccuracy = 0;
};
DemoBehaviourReport measureDemoBehaviour(const Model& model, const std::vector<SafeEditRecord>& records,
                                         ChatTemplate format, JobControl& job = noJobControl());
nlohmann::json demoBehaviourJson(const DemoBehaviourReport& report);

// One prompt and the model's greedy reply, as recorded next to the shipped weights.
struct RecordedOutput {
    std::string prompt;               // the user message
    std::string format;               // chat template name
    std::vector<int> promptIds;
    std::vector<int> outputIds;       // greedy, maxNewTokens below, stop token excluded
    std::string text;
    int maxNewTokens = 48;
};
// Greedy outputs of `prompts` in ChatML (the shipped recorded_outputs.json). The JSON layout:
// {"outputs": [{"prompt", "format", "prompt_ids", "output_ids", "text", "max_new_tokens"}]}.
std::vector<RecordedOutput> recordOutputs(const Model& model, const std::vector<std::string>& prompts,
                                          int maxNewTokens = 48);
std::string recordedOutputsJson(const std::vector<RecordedOutput>& outputs);
std::vector<RecordedOutput> parseRecordedOutputs(const std::string& json, const std::string& sourceName);

struct DemoTrainingReport {
    std::string directory;
    DemoModelSettings settings;
    int examples = 0;                 // (prompt, response) pairs before the two renderings
    int trainingPairs = 0;            // token sequences trained on
    long long parameters = 0;
    int vocabSize = 0;
    std::vector<double> lossHistory;  // per optimizer step
    std::vector<double> depthHistory; // the depth objective per optimizer step (unweighted)
    std::vector<double> formatHistory; // the format objective per optimizer step (unweighted)
    double tokenizerSeconds = 0;
    double trainingSeconds = 0;
    double totalSeconds = 0;
    std::vector<DemoBehaviourReport> heldOut;  // chatml and plain, when heldOutFraction > 0
    std::vector<DemoBehaviourReport> train;    // on every third record trained on (chatml)
};
nlohmann::json demoTrainingReportJson(const DemoTrainingReport& report);

// Trains the demo model into outDirectory (created; an existing folder must be a previous save) and
// writes config.json, model.safetensors, generation_config.json, tokenizer files, recorded_outputs.json
// and MODEL_CARD.md. Deterministic for a seed on one machine and thread count.
DemoTrainingReport trainDemoModel(const std::string& outDirectory, const DemoModelSettings& settings,
                                  JobControl& job = noJobControl());

// The method settings written next to the weights (detox_method_defaults.json): the paper's learning
// rates barely move a model this small, so the demo recommends larger ones, and says how they were chosen.
RecommendedSettings demoRecommendedSettings();

// The three prompts recorded in recorded_outputs.json.
std::vector<std::string> demoRecordedPrompts();

}  // namespace detox
