// detox train-demo: trains the project's demo model (tokenizer + tiny Llama + SFT) into a HF directory.
// detox demo-check: the quick refusal check the demo model was tuned with, on any model and SafeEdit file.
// JSON on stdout, progress lines on stderr.
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli_commands.h"
#include "cli_model_options.h"
#include "cli_progress.h"
#include "detox/demo/demo_model.h"
#include "detox/runtime/model.h"
#include "detox/safeedit/safeedit.h"

namespace detox::cli {
namespace {

int runTrainDemo(const Arguments& args) {
    DemoModelSettings settings;
    const std::string seed = args.valueOr("seed", std::to_string(settings.seed));
    try {
        settings.seed = std::stoull(seed);
    } catch (const std::exception&) {
        throw BadArguments("--seed expects a non-negative integer, got '" + seed + "'");
    }
    settings.steps = args.intValue("steps", settings.steps);
    settings.batchSize = args.intValue("batch-size", settings.batchSize);
    settings.learningRate = args.doubleValue("lr", settings.learningRate);
    settings.warmupSteps = args.intValue("warmup", settings.warmupSteps);
    settings.vocabSize = args.intValue("vocab", settings.vocabSize);
    settings.hiddenSize = args.intValue("hidden", settings.hiddenSize);
    settings.layers = args.intValue("layers", settings.layers);
    settings.heads = args.intValue("heads", settings.heads);
    settings.kvHeads = args.intValue("kv-heads", settings.kvHeads);
    settings.intermediateSize = args.intValue("intermediate", settings.intermediateSize);
    settings.maxPositions = args.intValue("max-positions", settings.maxPositions);
    settings.heldOutFraction = args.doubleValue("held-out", settings.heldOutFraction);
    settings.dataDirectory = args.valueOr("data-dir", "");
    settings.depthObjectiveWeight = args.doubleValue("depth-weight", settings.depthObjectiveWeight);
    settings.depthRecordsPerStep = args.intValue("depth-records", settings.depthRecordsPerStep);
    settings.depthMargin = args.doubleValue("depth-margin", settings.depthMargin);
    settings.formatObjectiveWeight = args.doubleValue("format-weight", settings.formatObjectiveWeight);
    settings.formatPromptsPerStep = args.intValue("format-prompts", settings.formatPromptsPerStep);
    settings.objectivesFromStep = args.intValue("objectives-from", settings.objectivesFromStep);
    settings.suffixedExamples = !args.has("no-suffixed-examples");
    settings.initFrom = args.valueOr("init-from", "");
    ProgressReporter progress("train-demo");
    progress.setEverySteps(args.intValue("progress-every", 25));
    progress.setShowValues(true);
    JobControl job(progress.sink());
    DemoTrainingReport report = trainDemoModel(args.value("out"), settings, job);
    progress.finish();
    std::cout << demoTrainingReportJson(report).dump(2) << "\n";
    return kExitOk;
}

int runDemoCheck(const Arguments& args) {
    Model model = Model::load(args.value("model"), loadOptionsFrom(args));
    SafeEditDataset data = loadSafeEdit(args.value("data"));
    nlohmann::json reports = nlohmann::json::array();
    for (const std::string& name : {std::string("chatml"), std::string("plain")})
        reports.push_back(demoBehaviourJson(measureDemoBehaviour(model, data.records, *chatTemplateFromName(name))));
    std::cout << nlohmann::json({{"model", args.value("model")}, {"data", data.path}, {"behaviour", reports}}).dump(2) << "\n";
    return kExitOk;
}

const bool kTrainDemoRegistered = registerCommand({
    "train-demo",
    "train the demo model (BPE tokenizer + tiny Llama, SFT on the demo data)",
    {{"out", "DIR", "output model directory (required)"},
     {"seed", "S", "random seed (default 7)"},
     {"steps", "N", "optimizer steps (default 1000)"},
     {"batch-size", "N", "sequences per step (default 16)"},
     {"lr", "X", "peak learning rate (default 3e-3)"},
     {"warmup", "N", "warm-up steps (default 30)"},
     {"vocab", "N", "tokenizer vocabulary size (default 1024)"},
     {"hidden", "H", "hidden size (default 128)"},
     {"layers", "L", "decoder layers (default 8)"},
     {"heads", "N", "attention heads (default 4)"},
     {"kv-heads", "N", "key/value heads (default 2)"},
     {"intermediate", "N", "MLP intermediate size (default 352)"},
     {"max-positions", "N", "max positions (default 1024)"},
     {"held-out", "F", "fraction of train records held out and measured (default 0)"},
     {"data-dir", "DIR", "demo data folder (default: the project's datasets/demo)"},
     {"depth-weight", "X", "weight of the depth objective (default 1; 0 = off: every record's toxic layer is then the last)"},
     {"depth-records", "N", "train records per step in the depth objective (default 8)"},
     {"depth-margin", "X", "the category's layer must beat every other layer's distance by 1/X (default 0.8)"},
     {"format-weight", "X", "weight of the format objective (default 1; 0 = off)"},
     {"format-prompts", "N", "adversarial prompts per step in the format objective (default 4)"},
     {"objectives-from", "N", "the depth and format objectives join the SFT loss at this step (default 700)"},
     {"no-suffixed-examples", "", "leave out the examples with DINM's suffix system prompt after the prompt"},
     {"init-from", "DIR", "continue from this saved demo model (weights and tokenizer) instead of a random one"},
     {"progress-every", "N", "a progress line every N steps (default 25; a terminal gets a redrawn bar)"}},
    runTrainDemo,
});

const bool kDemoCheckRegistered = registerCommand({
    "demo-check",
    "greedy refusal check of a model on SafeEdit records (chatml and plain)",
    withModelLoadOptions({{"model", "DIR", "model directory (required)"}, {"data", "FILE", "SafeEdit JSON file (required)"}}),
    runDemoCheck,
});

}  // namespace
}  // namespace detox::cli
