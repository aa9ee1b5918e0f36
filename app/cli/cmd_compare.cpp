// detox compare: DINM, SFT and DPO each repair every selected SafeEdit instance from the original model;
// one JSON file with the baseline and per-method evaluations, the edits and the mechanism numbers
// (detox/comparison.h). Shards like evaluate (--shard i/N) and merges with `detox merge`.
#include <iomanip>
#include <iostream>
#include <sstream>

#include "cli_commands.h"
#include "cli_evaluation_options.h"
#include "cli_progress.h"
#include "cli_summaries.h"
#include "detox/checkpoint/checkpoint.h"
#include "detox/analysis/comparison.h"
#include "detox/fileio.h"
#include "detox/methods/recommended_settings.h"

namespace detox::cli {

namespace {

std::vector<std::string> methodList(const Arguments& args) {
    std::vector<std::string> methods;
    std::stringstream text(args.valueOr("methods", "dinm,sft,dpo"));
    for (std::string name; std::getline(text, name, ',');)
        if (!name.empty()) methods.push_back(name);
    return methods;
}

// SFT and DPO share these: one instance gives one pair, so batches of one.
template <typename TrainerSettings>
void readTrainerOptions(const Arguments& args, TrainerSettings& trainer, uint64_t seed) {
    trainer.epochs = args.intValue("epochs", 1);
    trainer.batchSize = 1;
    trainer.seed = seed;
    if (args.has("train-layers")) trainer.parameters.layers = args.intList("train-layers");
}

ComparisonSettings comparisonSettingsFrom(const Arguments& args) {
    ComparisonSettings s;
    s.methods = methodList(args);
    s.evaluation = evaluationSettingsFrom(args);
    s.seed = s.evaluation.seed;
    if (args.has("variant")) {
        auto variant = locateVariantFromName(args.value("variant"));
        if (!variant) throw BadArguments("--variant must be 'masked' or 'easyedit', got '" + args.value("variant") + "'");
        s.locateVariant = *variant;
    }
    s.dinm.maxSteps = args.intValue("dinm-steps", s.dinm.maxSteps);
    s.dinm.editLossWeight = args.doubleValue("c-edit", s.dinm.editLossWeight);
    s.dinm.seed = s.seed;
    readTrainerOptions(args, s.sft, s.seed);
    readTrainerOptions(args, s.dpo, s.seed);
    s.sft.learningRate = args.doubleValue("sft-lr", s.sft.learningRate);
    s.dpo.learningRate = args.doubleValue("dpo-lr", s.dpo.learningRate);
    s.dpo.beta = args.doubleValue("beta", s.dpo.beta);
    s.probeRecords = args.intValue("probe-records", s.probeRecords);
    if (s.dinm.maxSteps < 1) throw BadArguments("--dinm-steps must be at least 1");
    if (s.sft.epochs < 1) throw BadArguments("--epochs must be at least 1");
    return s;
}

// Values left off the command line come from the model's detox_method_defaults.json, when it has one.
void applyRecommended(const Arguments& args, const RecommendedSettings& recommended, ComparisonSettings& s) {
    if (recommended.empty()) return;
    auto take = [&args](const char* flag, const auto& value, auto& target) {
        if (!args.has(flag) && value) target = *value;
    };
    take("dinm-lr", recommended.dinm.learningRate, s.dinm.learningRate);
    take("dinm-steps", recommended.dinm.steps, s.dinm.maxSteps);
    take("sft-lr", recommended.sft.learningRate, s.sft.learningRate);
    take("dpo-lr", recommended.dpo.learningRate, s.dpo.learningRate);
    take("epochs", recommended.sft.steps, s.sft.epochs);
    take("epochs", recommended.dpo.steps, s.dpo.epochs);
    std::cerr << "settings not given on the command line come from " << recommended.path << std::endl;
}

std::string number(double value, int decimals) {
    std::ostringstream text;
    text << std::fixed << std::setprecision(decimals) << value;
    return text.str();
}

std::string metricsLine(const SafetyMetrics& m) {
    return "DS " + number(m.DS, 1) + "  DG_Avg " + number(m.DG_Avg, 1) + "  fluency " + number(m.fluency, 3);
}

int runCompare(const Arguments& args) {
    if (!args.positional().empty()) throw BadArguments("unexpected argument '" + args.positional().front() + "'");
    const std::string modelDir = args.value("model");
    const std::string outPath = args.value("out");
    ComparisonSettings settings = comparisonSettingsFrom(args);
    // Inputs are checked before any model is loaded, so mistakes fail fast with exit 2.
    const SafeEditDataset dataset = loadSafeEdit(datasetPathFrom(args));
    selectCases(dataset, settings.evaluation);
    readModelConfig(modelDir);
    const RecommendedSettings recommended = loadRecommendedSettings(modelDir);

    ProgressReporter progress("compare");
    JobControl job(progress.sink());
    auto judge = judgeFrom(args, job);
    Model model = Model::load(modelDir, job);
    if (!args.has("dinm-lr")) settings.dinm.learningRate = defaultDinmLearningRate(model.config());
    else settings.dinm.learningRate = args.doubleValue("dinm-lr", settings.dinm.learningRate);
    applyRecommended(args, recommended, settings);
    const ComparisonResult result = compareMethods(model, dataset, *judge, settings, job);
    progress.finish();
    saveComparison(outPath, result);
    printComparisonSummary(result, outPath);
    return kExitOk;
}

std::vector<OptionSpec> compareOptions() {
    std::vector<OptionSpec> options{{"model", "DIR", "the model checkpoint directory (HF layout, with tokenizer.json)"}};
    for (auto& option : caseEvaluationOptions()) options.push_back(std::move(option));
    options.insert(options.end(), {
        {"methods", "LIST", "any of dinm,sft,dpo (default all three, in this order)"},
        {"variant", "NAME", "toxic-layer location: masked (default) or easyedit"},
        {"dinm-steps", "N", "DINM optimizer steps (10)"},
        {"dinm-lr", "X", "DINM learning rate (5e-4; Mistral 1e-5)"},
        {"c-edit", "X", "DINM: weight of the edit loss (0.1)"},
        {"epochs", "N", "SFT/DPO epochs over the instance's pair (1)"},
        {"sft-lr", "X", "SFT learning rate (1e-5)"},
        {"dpo-lr", "X", "DPO learning rate (5e-6)"},
        {"beta", "X", "DPO beta (0.1)"},
        {"train-layers", "IDS", "SFT/DPO: train only these layers (default all parameters)"},
        {"probe-records", "N", "records the toxic probe is trained on (32)"},
        {"out", "FILE.json", "where to write the result (atomically)"},
    });
    return options;
}

const bool kCompareRegistered = registerCommand({
    "compare",
    "DINM, SFT and DPO on the same instances, each from the original model: metrics and mechanism as JSON",
    compareOptions(),
    runCompare,
});

}  // namespace

void printComparisonSummary(const ComparisonResult& result, const std::string& outPath) {
    const EvaluationResult& baseline = result.baseline;
    std::cout << "model    " << result.provenance.modelDirectory << "  (hash " << result.provenance.modelHash.substr(0, 12)
              << ")\n"
              << "data     " << result.provenance.datasetPath << "  (" << baseline.cases.size() << " of "
              << baseline.selectedCases << " selected cases, shard " << result.shardIndex << "/" << result.shardCount
              << ")\n"
              << "judge    " << baseline.judgeName << (baseline.heuristicJudge ? "  -- heuristic, not the SafeEdit classifier" : "")
              << "\n"
              << "original " << metricsLine(baseline.metrics.safety) << "\n";
    for (const auto& method : result.methods)
        std::cout << std::left << std::setw(9) << method.method << metricsLine(method.evaluation.metrics.safety) << "\n";
    std::cout << "wrote    " << outPath << "  (" << number(result.durationSeconds, 1) << " s)\n";
}

bool isComparisonFile(const std::string& path) {
    try {
        return isComparisonJson(nlohmann::json::parse(readFile(path)));
    } catch (const nlohmann::json::exception& e) {
        throw Error(path, "", std::string("not valid JSON: ") + e.what());
    }
}

}  // namespace detox::cli
