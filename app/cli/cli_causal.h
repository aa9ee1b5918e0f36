// `detox merge` for the causal-analysis results: the shards of one patch or ablate run (cmd_patch.cpp,
// cmd_ablate.cpp), told apart by the files' "kind".
#pragma once
#include <string>
#include <vector>

namespace detox::cli {

// The "kind" of a result file ("" when it has none); throws detox::Error when it is not JSON.
std::string resultFileKind(const std::string& path);

// Merge, write --out, print the summary; exit code.
int mergeAblationFiles(const std::vector<std::string>& paths, const std::string& outPath);
int mergePatchingFiles(const std::vector<std::string>& paths, const std::string& outPath);

}  // namespace detox::cli
