// Summaries the commands print: evaluate, compare and merge after writing their JSON; data and info.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

#include "detox/analysis/comparison.h"
#include "detox/safeedit/evaluation.h"
#include "detox/safeedit/safeedit.h"

namespace detox::cli {

void printEvaluationSummary(const EvaluationResult& result, const std::string& outPath);
void printComparisonSummary(const ComparisonResult& result, const std::string& outPath);

// One "warning: ..." line on stderr per kind of input the context policy cut (context_policy.h).
void printContextWarnings(const std::vector<ContextFit>& fits);

// What `detox data` prints: records, categories, attacks, hash (also part of `detox info --data`).
nlohmann::json datasetSummaryJson(const SafeEditDataset& dataset);

// True when the file is a JSON object of kind "detox-compare" (throws detox::Error when unreadable).
bool isComparisonFile(const std::string& path);

}  // namespace detox::cli
