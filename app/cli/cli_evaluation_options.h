// Options shared by `detox evaluate` and `detox compare`: which cases (ids, limit, shard), how the
// answers are generated, which judge labels them, and the dataset.
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cli_commands.h"
#include "detox/safeedit/evaluation.h"
#include "detox/safeedit/judge.h"

namespace detox::cli {

// "i/N" with 1 <= i <= N; throws BadArguments otherwise.
std::pair<int, int> parseShard(const std::string& text);

// --chat-template NAME, if given; throws BadArguments naming the templates for an unknown name.
std::optional<ChatTemplate> chatTemplateArgument(const Arguments& args);

// --eval-protocol plain|easyedit; without it easyedit under --easyedit-compat, else plain. Throws BadArguments.
EvalProtocol evalProtocolArgument(const Arguments& args);

// Selection, shard and generation settings (no general-ability files); throws BadArguments.
EvaluationSettings evaluationSettingsFrom(const Arguments& args);

// The option table entries evaluationSettingsFrom reads, plus --data/--demo and --judge.
std::vector<OptionSpec> caseEvaluationOptions();

// --data FILE or --demo (the demo test split).
std::string datasetPathFrom(const Arguments& args);

// "rules" (the heuristic rule judge) or a SafeEdit classifier directory.
std::unique_ptr<SafetyJudge> judgeFrom(const Arguments& args, JobControl& job);

}  // namespace detox::cli
