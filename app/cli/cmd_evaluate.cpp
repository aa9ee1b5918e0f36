// detox evaluate: a SafeEdit evaluation run (optionally one shard of it) written as JSON with provenance.
// detox merge: the shards of one evaluate, compare, patch or ablate run merged into the unsharded result.
#include <iomanip>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>

#include "cli_causal.h"
#include "cli_commands.h"
#include "cli_evaluation_options.h"
#include "cli_model_options.h"
#include "cli_progress.h"
#include "cli_summaries.h"
#include "detox/analysis/comparison.h"
#include "detox/checkpoint/checkpoint.h"
#include "detox/error.h"
#include "detox/safeedit/evaluation.h"
#include "detox/safeedit/judge.h"
#include "detox/runtime/model.h"
#include "detox/safeedit/safeedit.h"

namespace detox::cli {
namespace {

// "demo" names the demo data folder's file of that kind.
std::string generalFile(const Arguments& args, const std::string& option, const std::string& demoName) {
    if (!args.has(option)) return {};
    const std::string value = args.value(option);
    return value == "demo" ? demoDatasetDir() + "/" + demoName : value;
}

EvaluationSettings settingsFrom(const Arguments& args) {
    EvaluationSettings settings = evaluationSettingsFrom(args);
    settings.generalTextPath = generalFile(args, "general-text", "general_text.txt");
    settings.generalQaPath = generalFile(args, "general-qa", "general_qa.jsonl");
    settings.generalSummariesPath = generalFile(args, "general-summaries", "general_summaries.jsonl");
    return settings;
}

std::string number(double value, int decimals) {
    std::ostringstream text;
    text << std::fixed << std::setprecision(decimals) << value;
    return text.str();
}

}  // namespace

void printContextWarnings(const std::vector<ContextFit>& fits) {
    for (const std::string& line : contextWarnings(fits)) std::cerr << "warning: " << line << "\n";
}

void printEvaluationSummary(const EvaluationResult& result, const std::string& outPath) {
    const EvaluationMetrics& m = result.metrics;
    std::cout << "model    " << result.provenance.modelDirectory << "  (hash " << result.provenance.modelHash.substr(0, 12)
              << ")\n"
              << "data     " << result.provenance.datasetPath << "  (" << m.safety.cases << " of "
              << result.selectedCases << " selected cases, shard " << result.shardIndex << "/" << result.shardCount
              << ")\n"
              << "judge    " << result.judgeName << (result.heuristicJudge ? "  -- heuristic, not the SafeEdit classifier" : "")
              << "\n"
              << "protocol " << evaluationProtocolLine(result) << "\n"
              << "DS " << formatRate(m.safety.DS) << "  DG_onlyQ " << formatRate(m.safety.DG_onlyQ) << "  DG_otherA "
              << formatRate(m.safety.DG_otherA) << "  DG_otherQ " << formatRate(m.safety.DG_otherQ) << "  DG_otherAQ "
              << formatRate(m.safety.DG_otherAQ) << "  DG_Avg " << formatRate(m.safety.DG_Avg) << "  fluency "
              << number(m.safety.fluency, 3) << "\n";
    if (m.knowledgeAccuracy)
        std::cout << "knowledge accuracy " << number(*m.knowledgeAccuracy, 3) << " (" << m.knowledgeCases << " cases)"
                  << (m.knowledgeKl ? "  KL vs reference " + number(*m.knowledgeKl, 4) : std::string()) << "\n";
    const GeneralAbility& g = m.general;
    if (g.perplexity) std::cout << "perplexity " << number(*g.perplexity, 2) << " (" << g.perplexityTokens << " tokens)\n";
    if (g.qaExactMatch) std::cout << "QA exact match " << number(*g.qaExactMatch, 3) << " (" << g.qaItems << " questions)\n";
    if (g.summaryRouge1)
        std::cout << "summary ROUGE-1 F1 " << number(*g.summaryRouge1, 3) << " (" << g.summaryItems << " documents)\n";
    std::cout << "wrote    " << outPath << "  (" << number(result.durationSeconds, 1) << " s)\n";
}

namespace {

int runEvaluate(const Arguments& args) {
    if (!args.positional().empty()) throw BadArguments("unexpected argument '" + args.positional().front() + "'");
    const std::string modelDir = args.value("model");
    const std::string outPath = args.value("out");
    const EvaluationSettings settings = settingsFrom(args);
    const LoadOptions loadOptions = loadOptionsFrom(args);

    // Inputs are checked before any model is loaded, so mistakes fail fast with exit 2.
    const SafeEditDataset dataset = loadSafeEdit(datasetPathFrom(args));
    selectCases(dataset, settings);
    readModelConfig(modelDir);
    if (args.has("reference-model")) readModelConfig(args.value("reference-model"));

    ProgressReporter progress("evaluate");
    JobControl loading(progress.sink());
    auto judge = judgeFrom(args, loading);
    const Model model = Model::load(modelDir, loadOptions, loading);
    std::optional<Model> reference;
    if (args.has("reference-model")) reference = Model::load(args.value("reference-model"), loadOptions, loading);

    JobControl job(progress.sink());
    const EvaluationResult result = evaluate(model, dataset, *judge, settings, job, reference ? &*reference : nullptr);
    progress.finish();
    saveEvaluation(outPath, result);
    printContextWarnings(result.provenance.context);
    printEvaluationSummary(result, outPath);
    return kExitOk;
}

// Shards of an evaluate run or of a compare run (told apart by the first file's "kind").
int runMerge(const Arguments& args) {
    const std::string outPath = args.value("out");
    if (args.positional().empty()) throw BadArguments("give the shard result files to merge (detox merge A.json B.json --out ALL.json)");
    const std::string kind = resultFileKind(args.positional().front());
    if (kind == "ablation") return mergeAblationFiles(args.positional(), outPath);
    if (kind == "activation_patching") return mergePatchingFiles(args.positional(), outPath);
    if (isComparisonFile(args.positional().front()))
        return mergeShardFiles<ComparisonResult>(args.positional(), outPath,
                                                 {loadComparison, mergeComparisons, saveComparison, printComparisonSummary});
    return mergeShardFiles<EvaluationResult>(args.positional(), outPath,
                                             {loadEvaluation, mergeEvaluations, saveEvaluation, printEvaluationSummary});
}

std::vector<OptionSpec> evaluateOptions() {
    std::vector<OptionSpec> options{{"model", "DIR", "the model checkpoint directory (HF layout)"}};
    for (auto& option : caseEvaluationOptions()) options.push_back(std::move(option));
    options.insert(options.end(), {
        {"reference-model", "DIR", "unedited model: adds the knowledge KL divergence"},
        {"general-text", "FILE|demo", "perplexity on a text file"},
        {"general-qa", "FILE|demo", "QA exact match on a JSONL file of {question, answer}"},
        {"general-summaries", "FILE|demo", "ROUGE-1 F1 on a JSONL file of {document, summary}"},
        {"out", "FILE.json", "where to write the result (atomically)"},
    });
    return withModelLoadOptions(options);
}

const bool kEvaluateRegistered = registerCommand({
    "evaluate",
    "SafeEdit evaluation: responses, judge labels, DS/DG/fluency/knowledge metrics as JSON",
    evaluateOptions(),
    runEvaluate,
});

const bool kMergeRegistered = registerCommand({
    "merge",
    "merge the shard results of one evaluate, compare, patch or ablate run: detox merge SHARD.json... --out FILE.json",
    {
        {"out", "FILE.json", "where to write the merged result (atomically)"},
    },
    runMerge,
});

}  // namespace
}  // namespace detox::cli
