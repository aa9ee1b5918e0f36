// detox compare: the listed methods (default DINM, SFT, DPO) each repair every selected SafeEdit instance
// from the original model;
// one JSON file with the baseline and per-method evaluations, the edits and the mechanism numbers
// (detox/comparison.h). Shards like evaluate (--shard i/N) and merges with `detox merge`.
#include <algorithm>
#include <functional>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "cli_commands.h"
#include "cli_evaluation_options.h"
#include "cli_model_options.h"
#include "cli_progress.h"
#include "cli_summaries.h"
#include "detox/checkpoint/checkpoint.h"
#include "detox/analysis/comparison.h"
#include "detox/fileio.h"
#include "detox/methods/recommended_settings.h"
#include "detox/methods/registry.h"

namespace detox::cli {

namespace {

std::vector<std::string> methodList(const Arguments& args) {
    std::vector<std::string> methods;
    std::stringstream text(args.valueOr("methods", "dinm,sft,dpo"));
    for (std::string name; std::getline(text, name, ',');) {
        if (name.empty()) continue;
        if (!findMethod(name)) throw BadArguments("--methods may name " + methodNames() + ", got '" + name + "'");
        methods.push_back(name);
    }
    return methods;
}

// A method's settings given on the command line, keyed as its settings are: --NAME-lr, --NAME-steps
// (its steps or epochs), and the shared --epochs, --c-edit, --beta, --train-layers for every method
// whose settings have that key. One instance gives one pair: SFT/DPO batches of one.
nlohmann::json userSettings(const Arguments& args, const Method& method, uint64_t seed) {
    const nlohmann::json keys = method.paperDefaults(ModelConfig{});
    nlohmann::json user = nlohmann::json::object();
    auto put = [&](const std::string& flag, const std::string& key, const std::function<nlohmann::json()>& value) {
        if (args.has(flag) && !key.empty() && keys.contains(key)) user[key] = value();
    };
    put("epochs", "epochs", [&] { return args.intValue("epochs", 1); });
    put(method.name + "-steps", method.stepsKey, [&] { return args.intValue(method.name + "-steps", 1); });
    put(method.name + "-lr", "learning_rate", [&] { return args.doubleValue(method.name + "-lr", 0); });
    put("c-edit", "edit_loss_weight", [&] { return args.doubleValue("c-edit", 0); });
    put("beta", "beta", [&] { return args.doubleValue("beta", 0); });
    put("train-layers", "parameters", [&] { return nlohmann::json{{"layers", args.intList("train-layers")}}; });
    put("easyedit-compat", "easyedit_compat", [] { return true; });
    if (keys.contains("seed")) user["seed"] = seed;
    if (keys.contains("batch_size")) user["batch_size"] = 1;
    if (!method.stepsKey.empty() && user.contains(method.stepsKey) && user[method.stepsKey].get<int>() < 1)
        throw BadArguments("--" + std::string(method.stepsKey == "epochs" ? "epochs" : method.name + "-steps") +
                           " must be at least 1");
    return user;
}

ComparisonSettings comparisonSettingsFrom(const Arguments& args) {
    ComparisonSettings s;
    s.methods = methodList(args);
    s.evaluation = evaluationSettingsFrom(args);
    s.seed = s.evaluation.seed;
    if (args.has("variant")) {
        auto variant = locateVariantFromName(args.value("variant"));
        if (!variant) throw BadArguments("--variant must be " + locateVariantChoices() + ", got '" + args.value("variant") + "'");
        s.locateVariant = *variant;
    }
    for (const auto& name : s.methods) s.methodSettings[name] = userSettings(args, methodByName(name), s.seed);
    s.probeRecords = args.intValue("probe-records", s.probeRecords);
    return s;
}

// Each method's settings for this model: the paper's, the model's detox_method_defaults.json where the
// command line says nothing, the command line.
void resolveMethodSettings(const ModelConfig& config, const RecommendedSettings& recommended, ComparisonSettings& s) {
    for (const auto& name : s.methods)
        s.methodSettings[name] = resolveSettings(config, recommended, methodByName(name).id, s.methodSettings[name]).values;
    if (!recommended.empty())
        std::cerr << "settings not given on the command line come from " << recommended.path << std::endl;
}

std::string number(double value, int decimals) {
    std::ostringstream text;
    text << std::fixed << std::setprecision(decimals) << value;
    return text.str();
}

std::string metricsLine(const SafetyMetrics& m) {
    return "DS " + formatRate(m.DS) + "  DG_Avg " + formatRate(m.DG_Avg) + "  fluency " + number(m.fluency, 3);
}

int runCompare(const Arguments& args) {
    if (!args.positional().empty()) throw BadArguments("unexpected argument '" + args.positional().front() + "'");
    const std::string modelDir = args.value("model");
    const std::string outPath = args.value("out");
    const LoadOptions loadOptions = loadOptionsFrom(args);
    ComparisonSettings settings = comparisonSettingsFrom(args);
    // Inputs are checked before any model is loaded, so mistakes fail fast with exit 2.
    const SafeEditDataset dataset = loadSafeEdit(datasetPathFrom(args));
    selectCases(dataset, settings.evaluation);
    resolveMethodSettings(readModelConfig(modelDir), loadRecommendedSettings(modelDir), settings);

    ProgressReporter progress("compare");
    JobControl job(progress.sink());
    auto judge = judgeFrom(args, job);
    Model model = Model::load(modelDir, loadOptions, job);
    const ComparisonResult result = compareMethods(model, dataset, *judge, settings, job);
    progress.finish();
    saveComparison(outPath, result);
    printContextWarnings(result.provenance.context);
    printComparisonSummary(result, outPath);
    return kExitOk;
}

std::vector<OptionSpec> compareOptions() {
    std::vector<OptionSpec> options = withModelLoadOptions({{"model", "DIR", "the model checkpoint directory (HF layout, with tokenizer.json)"}});
    for (auto& option : caseEvaluationOptions()) options.push_back(std::move(option));
    options.insert(options.end(), {
        {"methods", "LIST", "any of " + methodNames(",") + " (default dinm,sft,dpo, in the order given)"},
        {"variant", "NAME", "toxic-layer location: masked (default), easyedit (EasyEdit 2024-05..11: right padding) or easyedit-left (EasyEdit 2024-03 and current: left padding)"},
        {"c-edit", "X", "DINM: weight of the edit loss (0.1)"},
        {"epochs", "N", "SFT/DPO epochs over the instance's pair (1)"},
        {"beta", "X", "DPO beta (0.1)"},
        {"train-layers", "IDS", "SFT/DPO: train only these layers (default all parameters)"},
        {"probe-records", "N", "records the toxic probe is trained on (32)"},
        {"out", "FILE.json", "where to write the result (atomically)"},
    });
    // Per method: its learning rate and step count, with the paper's values (a model's
    // detox_method_defaults.json comes before these; Mistral-type models: DINM 1e-5).
    for (const Method& method : methodRegistry()) {
        const nlohmann::json paper = method.paperDefaults(ModelConfig{});
        if (paper.contains("learning_rate"))
            options.push_back({method.name + "-lr", "X", method.label + " learning rate (" + paper["learning_rate"].dump() + ")"});
        if (!method.stepsKey.empty())
            options.push_back({method.name + "-steps", "N", method.label + " " + method.stepsKey + " (" +
                                                                paper[method.stepsKey].dump() + ")"});
    }
    return options;
}

const bool kCompareRegistered = registerCommand({
    "compare",
    "the methods on the same instances, each from the original model: metrics and mechanism as JSON",
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
              << "protocol " << result.provenance.settings.value("eval_protocol", std::string("plain"))
              << " for the weight-edited models; the original and prompt-only baselines: plain\n"
              << "original " << metricsLine(baseline.metrics.safety) << "  [" << evaluationProtocol(baseline) << "]\n";
    for (const auto& method : result.methods)
        std::cout << std::left << std::setw(std::max<int>(9, int(method.method.size()) + 1)) << method.method
                  << metricsLine(method.evaluation.metrics.safety) << "  [" << evaluationProtocol(method.evaluation) << "]\n";
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
