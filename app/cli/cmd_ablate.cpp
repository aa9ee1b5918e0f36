// detox ablate: knock out toxic-region neurons (zero or mean) or project out the diff-of-means direction at
// one layer, and measure the teacher-forced metric and a short answer without and with it
// (detox/analysis/ablation.h). JSON to --out; shards merge with `detox merge`.
#include <iostream>

#include "cli_causal.h"
#include "cli_commands.h"
#include "cli_evaluation_options.h"
#include "cli_model_options.h"
#include "cli_progress.h"
#include "cli_summaries.h"
#include "detox/analysis/ablation.h"
#include "detox/checkpoint/checkpoint.h"
#include "detox/runtime/model.h"
#include "detox/safeedit/evaluation.h"
#include "detox/safeedit/safeedit.h"

namespace detox::cli {
namespace {

// "12" -> 12, else BadArguments naming the option and what it expects.
int listNumber(const std::string& option, const std::string& text, const std::string& expected) {
    if (text.empty() || text.size() > 9 || text.find_first_not_of("0123456789") != std::string::npos)
        throw BadArguments("--" + option + " expects " + expected + ", got '" + text + "'");
    return std::stoi(text);
}

std::vector<int> numberList(const std::string& option, const std::string& text, const std::string& expected) {
    std::vector<int> numbers;
    size_t start = 0;
    while (true) {
        const size_t comma = text.find(',', start);
        numbers.push_back(listNumber(option, text.substr(start, comma - start), expected));
        if (comma == std::string::npos) return numbers;
        start = comma + 1;
    }
}

// --neurons top:K|i,j,k or --direction diff-of-means [--direction-point NAME], exactly one.
void readTarget(const Arguments& args, AblationSettings& settings) {
    if (args.has("neurons") == args.has("direction"))
        throw BadArguments(args.has("neurons") ? "give --neurons or --direction, not both"
                                               : "missing --neurons top:K|i,j,k or --direction diff-of-means");
    if (args.has("direction")) {
        if (args.value("direction") != "diff-of-means")
            throw BadArguments("--direction expects diff-of-means, got '" + args.value("direction") + "'");
        settings.target = AblationTarget::Direction;
        if (args.has("mode")) throw BadArguments("--mode applies to --neurons (a direction is projected out)");
        const std::string point = args.valueOr("direction-point", "resid_post");
        const auto capture = captureFromName(point);
        if (!capture || *capture == Capture::AttnPattern)
            throw BadArguments("--direction-point expects resid_pre, resid_mid, resid_post, attn_out, mlp_out or mlp_act, got '" +
                               point + "'");
        settings.directionPoint = *capture;
        return;
    }
    const std::string neurons = args.value("neurons");
    const std::string expected = "top:K (K >= 1) or a list of neuron indices i,j,k";
    if (neurons.rfind("top:", 0) == 0) {
        settings.target = AblationTarget::TopRegionNeurons;
        settings.topK = listNumber("neurons", neurons.substr(4), expected);
        if (settings.topK < 1) throw BadArguments("--neurons expects " + expected + ", got '" + neurons + "'");
    } else {
        settings.target = AblationTarget::Neurons;
        settings.neurons = numberList("neurons", neurons, expected);
    }
    if (args.has("mode")) {
        const auto mode = ablationModeFromName(args.value("mode"));
        if (!mode) throw BadArguments("--mode expects zero or mean, got '" + args.value("mode") + "'");
        settings.mode = *mode;
    }
}

// --mean-over record|ids|i,j,k: the record's own generations, all --ids records, or the records listed.
void readMeanSource(const Arguments& args, const std::vector<int>& ids, AblationSettings& settings) {
    const std::string source = args.valueOr("mean-over", "record");
    if (source == "record") return;
    settings.meanSource = MeanSource::Records;
    settings.meanRecordIds = source == "ids" ? ids : numberList("mean-over", source, "record, ids or a list of record ids");
}

AblationSettings settingsFrom(const Arguments& args, const std::vector<int>& ids) {
    AblationSettings settings;
    if (!args.has("layer")) throw BadArguments("--layer L is required (the layer to ablate, 0-based)");
    settings.layer = args.intValue("layer", 0);
    readTarget(args, settings);
    readMeanSource(args, ids, settings);
    settings.maxNewTokens = args.intValue("max-new-tokens", settings.maxNewTokens);
    settings.maxGenerationTokens = args.intValue("generation-tokens", settings.maxGenerationTokens);
    settings.chatTemplate = chatTemplateArgument(args);
    return settings;
}

void printSummary(const AblationResult& result, const std::string& outPath) {
    std::cout << "ablation at layer " << result.layer << ": " << result.target << " (" << result.mode << "), template "
              << result.chatTemplate << ", judge " << result.judge << "\n";
    for (const auto& record : result.records) {
        std::cout << "record " << record.recordId << ": metric " << record.before.score.metric() << " -> "
                  << record.after.score.metric() << " (metric change " << record.metricChange() << "), unsafe "
                  << record.before.unsafe << " -> " << record.after.unsafe;
        if (!record.plan.neurons.empty()) std::cout << ", " << record.plan.neurons.size() << " neurons";
        std::cout << "\n";
    }
    std::cout << "mean metric change " << result.meanMetricChange << " (log p safe " << result.meanLogPSafeChange
              << ", log p unsafe " << result.meanLogPUnsafeChange << "); unsafe rate " << result.unsafeBefore << " -> "
              << result.unsafeAfter << "\n";
    std::cout << "wrote    " << outPath << "\n";
}

int runAblate(const Arguments& args) {
    if (!args.positional().empty()) throw BadArguments("unexpected argument '" + args.positional().front() + "'");
    if (!args.has("ids")) throw BadArguments("--ids is required (comma-separated record ids)");
    const std::vector<int> ids = args.intList("ids");
    if (ids.empty()) throw BadArguments("--ids needs at least one record id");
    const AblationSettings settings = settingsFrom(args, ids);
    const auto [shardIndex, shardCount] = args.has("shard") ? parseShard(args.value("shard")) : std::pair{1, 1};
    const std::string outPath = args.value("out");
    const LoadOptions loadOptions = loadOptionsFrom(args);

    // Inputs checked before the slow load.
    const SafeEditDataset dataset = loadSafeEdit(datasetPathFrom(args));
    EvaluationSettings selection;
    selection.ids = settings.meanSource == MeanSource::Records ? settings.meanRecordIds : ids;
    selectCases(dataset, selection);
    selection.ids = ids;
    std::tie(selection.shardIndex, selection.shardCount) = std::pair{shardIndex, shardCount};
    selectCases(dataset, selection);
    checkAblationSettings(readModelConfig(args.value("model")), settings);

    ProgressReporter progress("ablate");
    JobControl loading(progress.sink());
    const Model model = Model::load(args.value("model"), loadOptions, loading);
    JobControl job(progress.sink());
    const auto judge = judgeFrom(args, job);
    const AblationResult result = ablateRecords(model, dataset, ids, settings, judge.get(), shardIndex, shardCount, job);
    progress.finish();
    saveAblation(outPath, result);
    printContextWarnings(result.provenance.context);
    printSummary(result, outPath);
    return kExitOk;
}

const bool kAblateRegistered = registerCommand({
    "ablate",
    "ablation: zero/mean-ablate toxic-region neurons or project out a direction; effect on metric and answer",
    withModelLoadOptions({
        {"model", "DIR", "HF checkpoint folder (with tokenizer.json)"},
        {"data", "FILE|demo", "SafeEdit JSON file (records with a safe and an unsafe generation)"},
        {"demo", "", "the demo test split (same as --data demo)"},
        {"ids", "IDS", "comma-separated record ids"},
        {"layer", "L", "the layer to ablate (0-based)"},
        {"neurons", "top:K|i,j,k", "the K region neurons with the largest |mean unsafe - mean safe| (mlp_act), or these"},
        {"direction", "diff-of-means", "project out mean(unsafe generations) - mean(safe generations) instead"},
        {"direction-point", "NAME", "where the direction is read and removed (resid_post)"},
        {"mode", "zero|mean", "neurons set to 0 (default) or to their mean over safe+unsafe generations"},
        {"mean-over", "record|ids|IDS", "means over the record's own generations (default), all --ids, or these records"},
        {"generation-tokens", "N", "first N tokens of each generation read for the means and the ranking (64)"},
        {"max-new-tokens", "N", "tokens of the short answer before/after (32)"},
        {"chat-template", "NAME", "plain|llama2|mistral|chatml|zephyr|llama3 (default: the tokenizer's)"},
        {"judge", "rules|DIR", "safety judge of the answers: rules (default, heuristic) or a SafeEdit classifier directory"},
        {"shard", "i/N", "shard i of N (positions p with p % N == i-1); merge with detox merge"},
        {"out", "FILE.json", "where to write the result (atomically)"},
    }),
    runAblate,
});

}  // namespace

int mergeAblationFiles(const std::vector<std::string>& paths, const std::string& outPath) {
    return mergeShardFiles<AblationResult>(paths, outPath, {loadAblation, mergeAblations, saveAblation, printSummary});
}

}  // namespace detox::cli
