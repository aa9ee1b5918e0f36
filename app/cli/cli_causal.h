// `detox merge`: the shards of one evaluate, compare, patch or ablate run combined (cmd_evaluate.cpp
// dispatches; the causal results, cmd_patch.cpp and cmd_ablate.cpp, are told apart by the files' "kind").
#pragma once
#include <string>
#include <vector>

#include "cli_commands.h"
#include "cli_summaries.h"

namespace detox::cli {

// The "kind" of a result file ("" when it has none); throws detox::Error when it is not JSON.
std::string resultFileKind(const std::string& path);

// What merging one kind of result takes: its file reader and writer, its merge and its summary.
template <class Result>
struct ShardMerge {
    Result (*load)(const std::string& path);
    Result (*merge)(const std::vector<Result>& shards);
    void (*save)(const std::string& path, const Result& result);
    void (*printSummary)(const Result& result, const std::string& outPath);
};

// Loads every shard, merges them (the merge refuses shards of different runs, missing or repeated ones),
// writes outPath atomically, prints what the context policy cut and the summary; exit code.
template <class Result>
int mergeShardFiles(const std::vector<std::string>& paths, const std::string& outPath, const ShardMerge<Result>& kind) {
    std::vector<Result> shards;
    for (const auto& path : paths) shards.push_back(kind.load(path));
    const Result merged = kind.merge(shards);
    kind.save(outPath, merged);
    printContextWarnings(merged.provenance.context);
    kind.printSummary(merged, outPath);
    return kExitOk;
}

int mergeAblationFiles(const std::vector<std::string>& paths, const std::string& outPath);
int mergePatchingFiles(const std::vector<std::string>& paths, const std::string& outPath);

}  // namespace detox::cli
