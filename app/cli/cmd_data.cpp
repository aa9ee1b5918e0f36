// detox data: validate a SafeEdit JSON file and print a summary (records, categories, attacks, sha256).
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli_commands.h"
#include "cli_summaries.h"
#include "detox/safeedit/safeedit.h"

namespace detox::cli {

nlohmann::json datasetSummaryJson(const SafeEditDataset& dataset) {
    const SafeEditSummary summary = summarize(dataset);
    return {{"file", dataset.path},
            {"sha256", dataset.sha256},
            {"records", summary.records},
            {"with_generalization", summary.withGeneralization},
            {"with_knowledge", summary.withKnowledge},
            {"categories", summary.categories},
            {"attack_categories", summary.attackCategories},
            {"attack_names", summary.attackNames},
            {"warnings", dataset.warnings}};
}

namespace {

int runData(const Arguments& args) {
    if (args.has("data") == args.has("demo")) throw BadArguments("give either --data FILE or --demo");
    if (args.has("split") && !args.has("demo")) throw BadArguments("--split goes with --demo");
    const std::string split = args.valueOr("split", "test");
    if (split != "train" && split != "test") throw BadArguments("--split expects train or test, got '" + split + "'");
    const std::string path = args.has("demo") ? demoDatasetPath(split) : args.value("data");

    const SafeEditDataset dataset = loadSafeEdit(path);  // detox::Error -> exit 2 with the message
    std::cout << datasetSummaryJson(dataset).dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return kExitOk;
}

const bool kRegistered = registerCommand({
    "data",
    "check a SafeEdit JSON file and print a summary",
    {
        {"data", "FILE", "a SafeEdit JSON file (a list of records)"},
        {"demo", "", "use the project's demo dataset instead of --data"},
        {"split", "train|test", "with --demo: which split (default test)"},
    },
    runData,
});

}  // namespace
}  // namespace detox::cli
