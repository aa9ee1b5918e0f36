// detox evaluate: a SafeEdit evaluation run (optionally one shard of it) written as JSON with provenance.
// detox merge: the shards of one run merged into the unsharded result.
#include <cstdio>
#include <iomanip>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <tuple>

#include "cli_commands.h"
#include "cli_progress.h"
#include "detox/checkpoint.h"
#include "detox/error.h"
#include "detox/evaluation.h"
#include "detox/judge.h"
#include "detox/model.h"
#include "detox/safeedit.h"

namespace detox::cli {
namespace {

// "i/N" with 1 <= i <= N.
std::pair<int, int> parseShard(const std::string& text) {
    int index = 0, count = 0;
    char slash = 0, extra = 0;
    if (std::sscanf(text.c_str(), "%d%c%d%c", &index, &slash, &count, &extra) != 3 || slash != '/' || count < 1 ||
        index < 1 || index > count)
        throw BadArguments("--shard expects i/N with 1 <= i <= N (e.g. 2/8), got '" + text + "'");
    return {index, count};
}

// "demo" names the demo data folder's file of that kind.
std::string generalFile(const Arguments& args, const std::string& option, const std::string& demoName) {
    if (!args.has(option)) return {};
    const std::string value = args.value(option);
    return value == "demo" ? demoDatasetDir() + "/" + demoName : value;
}

std::unique_ptr<SafetyJudge> judgeFor(const std::string& spec) {
    if (spec == "rules") return makeRuleJudge();
    throw BadArguments("--judge " + spec +
                       ": only 'rules' is available in this build (the SafeEdit classifier judge is not built in yet)");
}

EvaluationSettings settingsFrom(const Arguments& args) {
    EvaluationSettings settings;
    settings.maxNewTokens = args.intValue("max-new-tokens", settings.maxNewTokens);
    settings.maxInputTokens = args.intValue("max-input-tokens", settings.maxInputTokens);
    settings.batchSize = args.intValue("batch-size", settings.batchSize);
    settings.temperature = args.doubleValue("temperature", settings.temperature);
    settings.topP = args.doubleValue("top-p", settings.topP);
    if (args.has("seed")) {
        const std::string text = args.value("seed");
        if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos)
            throw BadArguments("--seed expects a non-negative integer, got '" + text + "'");
        settings.seed = std::stoull(text);
    }
    if (settings.maxNewTokens < 1) throw BadArguments("--max-new-tokens must be at least 1");
    if (settings.maxInputTokens < 0) throw BadArguments("--max-input-tokens must not be negative");
    if (settings.batchSize < 1) throw BadArguments("--batch-size must be at least 1");
    if (settings.temperature < 0) throw BadArguments("--temperature must not be negative");
    if (settings.topP <= 0 || settings.topP > 1) throw BadArguments("--top-p must be in (0, 1]");
    if (args.has("chat-template")) {
        const std::string name = args.value("chat-template");
        auto format = chatTemplateFromName(name);
        if (!format) throw BadArguments("--chat-template: unknown template '" + name + "' (plain, llama2, mistral, chatml, zephyr, llama3)");
        settings.chatTemplate = format;
    }
    if (args.has("ids") && args.has("limit")) throw BadArguments("give either --ids or --limit, not both");
    if (args.has("ids")) {
        settings.ids = args.intList("ids");
        if (settings.ids.empty()) throw BadArguments("--ids needs at least one id");
    }
    settings.limit = args.intValue("limit", 0);
    if (settings.limit < 0 || (args.has("limit") && settings.limit == 0)) throw BadArguments("--limit must be at least 1");
    if (args.has("shard")) std::tie(settings.shardIndex, settings.shardCount) = parseShard(args.value("shard"));
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

void printSummary(const EvaluationResult& result, const std::string& outPath) {
    const EvaluationMetrics& m = result.metrics;
    std::cout << "model    " << result.provenance.modelDirectory << "  (hash " << result.provenance.modelHash.substr(0, 12)
              << ")\n"
              << "data     " << result.provenance.datasetPath << "  (" << m.safety.cases << " of "
              << result.selectedCases << " selected cases, shard " << result.shardIndex << "/" << result.shardCount
              << ")\n"
              << "judge    " << result.judgeName << (result.heuristicJudge ? "  -- heuristic, not the SafeEdit classifier" : "")
              << "\n"
              << "DS " << number(m.safety.DS, 1) << "  DG_onlyQ " << number(m.safety.DG_onlyQ, 1) << "  DG_otherA "
              << number(m.safety.DG_otherA, 1) << "  DG_otherQ " << number(m.safety.DG_otherQ, 1) << "  DG_otherAQ "
              << number(m.safety.DG_otherAQ, 1) << "  DG_Avg " << number(m.safety.DG_Avg, 1) << "  fluency "
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

int runEvaluate(const Arguments& args) {
    if (!args.positional().empty()) throw BadArguments("unexpected argument '" + args.positional().front() + "'");
    const std::string modelDir = args.value("model");
    const std::string outPath = args.value("out");
    if (args.has("data") && args.has("demo")) throw BadArguments("give either --data FILE or --demo, not both");
    if (!args.has("data") && !args.has("demo")) throw BadArguments("missing required option --data FILE (or --demo)");
    const std::string dataArg = args.valueOr("data", "demo");
    const EvaluationSettings settings = settingsFrom(args);
    auto judge = judgeFor(args.valueOr("judge", "rules"));

    // Inputs are checked before any model is loaded, so mistakes fail fast with exit 2.
    const SafeEditDataset dataset = loadSafeEdit(dataArg == "demo" ? demoDatasetPath("test") : dataArg);
    selectCases(dataset, settings);
    readModelConfig(modelDir);
    if (args.has("reference-model")) readModelConfig(args.value("reference-model"));

    ProgressReporter progress("evaluate");
    JobControl loading(progress.sink());
    const Model model = Model::load(modelDir, loading);
    std::optional<Model> reference;
    if (args.has("reference-model")) reference = Model::load(args.value("reference-model"), loading);

    JobControl job(progress.sink());
    const EvaluationResult result = evaluate(model, dataset, *judge, settings, job, reference ? &*reference : nullptr);
    progress.finish();
    saveEvaluation(outPath, result);
    printSummary(result, outPath);
    return kExitOk;
}

int runMerge(const Arguments& args) {
    const std::string outPath = args.value("out");
    if (args.positional().empty()) throw BadArguments("give the shard result files to merge (detox merge A.json B.json --out ALL.json)");
    std::vector<EvaluationResult> shards;
    for (const auto& path : args.positional()) shards.push_back(loadEvaluation(path));
    const EvaluationResult merged = mergeEvaluations(shards);
    saveEvaluation(outPath, merged);
    printSummary(merged, outPath);
    return kExitOk;
}

const bool kEvaluateRegistered = registerCommand({
    "evaluate",
    "SafeEdit evaluation: responses, judge labels, DS/DG/fluency/knowledge metrics as JSON",
    {
        {"model", "DIR", "the model checkpoint directory (HF layout)"},
        {"data", "FILE|demo", "a SafeEdit JSON file, or 'demo' for the demo test split"},
        {"demo", "", "the demo test split (same as --data demo)"},
        {"ids", "0,5,7", "evaluate only these record ids (in this order)"},
        {"limit", "N", "evaluate only the first N records"},
        {"judge", "rules|DIR", "safety judge (default rules: the heuristic rule judge)"},
        {"max-new-tokens", "N", "tokens generated per response (default 600, as EasyEdit)"},
        {"max-input-tokens", "N", "longer prompts keep their last N tokens (default 1024; 0 = all)"},
        {"batch-size", "N", "cases per batch and prompts per generation call (default 8)"},
        {"seed", "S", "sampling seed (default 0)"},
        {"temperature", "T", "0 = greedy (default), otherwise sampling"},
        {"top-p", "P", "nucleus sampling mass (default 1)"},
        {"chat-template", "NAME", "plain|llama2|mistral|chatml|zephyr|llama3 (default: the tokenizer's)"},
        {"shard", "i/N", "evaluate shard i of N (positions p with p % N == i-1); merge with detox merge"},
        {"reference-model", "DIR", "unedited model: adds the knowledge KL divergence"},
        {"general-text", "FILE|demo", "perplexity on a text file"},
        {"general-qa", "FILE|demo", "QA exact match on a JSONL file of {question, answer}"},
        {"general-summaries", "FILE|demo", "ROUGE-1 F1 on a JSONL file of {document, summary}"},
        {"out", "FILE.json", "where to write the result (atomically)"},
    },
    runEvaluate,
});

const bool kMergeRegistered = registerCommand({
    "merge",
    "merge the shard results of one evaluate run: detox merge SHARD.json... --out FILE.json",
    {
        {"out", "FILE.json", "where to write the merged result (atomically)"},
    },
    runMerge,
});

}  // namespace
}  // namespace detox::cli
