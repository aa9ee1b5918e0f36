// detox patch: activation patching on SafeEdit records (detox/analysis/patching.h). The corrupt run is the
// adversarial prompt, the clean run the bare harmful question; per layer and last-K position, the
// fraction of the log p(safe) - log p(unsafe) gap recovered by the clean run's activation. JSON to --out.
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli_causal.h"
#include "cli_commands.h"
#include "cli_evaluation_options.h"
#include "cli_model_options.h"
#include "cli_progress.h"
#include "cli_summaries.h"
#include "detox/analysis/patching.h"
#include "detox/checkpoint/checkpoint.h"
#include "detox/error.h"
#include "detox/fileio.h"
#include "detox/runtime/model.h"
#include "detox/safeedit/safeedit.h"

namespace detox::cli {
namespace {

Capture patchPointArgument(const Arguments& args) {
    if (!args.has("point")) throw BadArguments("--point is required: resid_post, attn_out or mlp_out");
    const std::string name = args.value("point");
    const auto point = captureFromName(name);
    if (!point || (*point != Capture::ResidPost && *point != Capture::AttnOut && *point != Capture::MlpOut))
        throw BadArguments("--point must be resid_post, attn_out or mlp_out, got '" + name + "'");
    return *point;
}

std::string formatFraction(const std::optional<double>& value) {
    if (!value) return "  n/a";
    char text[32];
    std::snprintf(text, sizeof text, "%+.3f", *value);
    return text;
}

void printSummary(const PatchingResult& result, const std::string& outPath) {
    std::cout << "activation patching at " << result.point << ", last " << result.lastPositions
              << " positions, template " << result.chatTemplate << "\n";
    std::cout << "layer  recovered (mean over " << result.records.size() << " records, all positions patched)\n";
    for (size_t layer = 0; layer < result.meanLayerRecovered.size(); ++layer)
        std::cout << "  " << layer << "    " << formatFraction(result.meanLayerRecovered[layer]) << "\n";
    for (const auto& record : result.records)
        std::cout << "record " << record.recordId << ": metric clean " << record.clean.metric() << ", corrupt "
                  << record.corrupt.metric() << ", best layer " << record.bestLayer << "\n";
    std::cout << "cost     " << result.forwardMultiple << " x one forward\n";
    std::cout << "wrote    " << outPath << "\n";
}

int runPatch(const Arguments& args) {
    if (!args.positional().empty()) throw BadArguments("unexpected argument '" + args.positional().front() + "'");
    PatchingSettings settings;
    settings.point = patchPointArgument(args);
    settings.lastPositions = args.intValue("last-positions", 8);
    settings.patchesPerForward = args.intValue("patches-per-forward", settings.patchesPerForward);
    settings.chatTemplate = chatTemplateArgument(args);
    const std::vector<int> ids = args.has("ids") ? args.intList("ids") : std::vector<int>{};
    if (ids.empty()) throw BadArguments("--ids needs at least one record id");
    const auto [shardIndex, shardCount] = args.has("shard") ? parseShard(args.value("shard")) : std::pair{1, 1};
    const std::string outPath = args.value("out");
    const LoadOptions loadOptions = loadOptionsFrom(args);

    // Inputs checked before the slow load (evaluate's selection: ids known, none twice).
    const SafeEditDataset dataset = loadSafeEdit(datasetPathFrom(args));
    EvaluationSettings selection;
    selection.ids = ids;
    selectCases(dataset, selection);
    readModelConfig(args.value("model"));

    ProgressReporter progress("patch");
    JobControl loading(progress.sink());
    const Model model = Model::load(args.value("model"), loadOptions, loading);
    JobControl job(progress.sink());
    const PatchingResult result = patchRecords(model, dataset, ids, settings, shardIndex, shardCount, job);
    progress.finish();
    savePatching(outPath, result);
    printContextWarnings(result.provenance.context);
    printSummary(result, outPath);
    return kExitOk;
}

const bool kPatchRegistered = registerCommand({
    "patch",
    "activation patching: which layers and positions carry the jailbreak (clean = bare question)",
    withModelLoadOptions({
        {"model", "DIR", "HF checkpoint folder (with tokenizer.json)"},
        {"data", "FILE|demo", "SafeEdit JSON file (records with \"test input of only harmful question\")"},
        {"demo", "", "the demo test split (same as --data demo)"},
        {"ids", "IDS", "comma-separated record ids"},
        {"point", "NAME", "resid_post, attn_out or mlp_out"},
        {"last-positions", "K", "patch each of the last K prompt positions, aligned from the end (8)"},
        {"patches-per-forward", "N", "patches batched in one forward (9); lower it to save memory"},
        {"chat-template", "NAME", "prompt format: plain|llama2|mistral|chatml|zephyr|llama3 (default: the tokenizer's)"},
        {"shard", "i/N", "shard i of N (positions p with p % N == i-1); merge with detox merge"},
        {"out", "FILE.json", "where to write the result (atomically)"},
    }),
    runPatch,
});

}  // namespace

int mergePatchingFiles(const std::vector<std::string>& paths, const std::string& outPath) {
    return mergeShardFiles<PatchingResult>(paths, outPath, {loadPatching, mergePatchings, savePatching, printSummary});
}

std::string resultFileKind(const std::string& path) {
    try {
        const nlohmann::json json = nlohmann::json::parse(readFile(path));
        return json.is_object() && json.contains("kind") && json["kind"].is_string() ? json["kind"].get<std::string>() : "";
    } catch (const nlohmann::json::exception& e) {
        throw Error(path, "", std::string("not valid JSON: ") + e.what());
    }
}

}  // namespace detox::cli
