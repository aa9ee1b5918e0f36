// Options shared by `detox evaluate` and `detox compare` (cli_evaluation_options.h).
#include "cli_evaluation_options.h"

#include <cstdio>
#include <tuple>

#include "detox/safeedit/judge_classifier.h"
#include "detox/safeedit/safeedit.h"

namespace detox::cli {
namespace {

uint64_t seedFrom(const std::string& text) {
    if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos)
        throw BadArguments("--seed expects a non-negative integer, got '" + text + "'");
    return std::stoull(text);
}

void checkGeneration(const EvaluationSettings& settings) {
    if (settings.maxNewTokens < 1) throw BadArguments("--max-new-tokens must be at least 1");
    if (settings.maxInputTokens < 0) throw BadArguments("--max-input-tokens must not be negative");
    if (settings.batchSize < 1) throw BadArguments("--batch-size must be at least 1");
    if (settings.temperature < 0) throw BadArguments("--temperature must not be negative");
    if (settings.topP <= 0 || settings.topP > 1) throw BadArguments("--top-p must be in (0, 1]");
}

void readSelection(const Arguments& args, EvaluationSettings& settings) {
    if (int(args.has("ids")) + int(args.has("positions")) + int(args.has("limit")) > 1)
        throw BadArguments("give one of --ids, --positions or --limit, not several");
    if (args.has("ids")) {
        settings.ids = args.intList("ids");
        if (settings.ids.empty()) throw BadArguments("--ids needs at least one id");
    }
    if (args.has("positions")) {
        settings.positions = args.intList("positions");
        if (settings.positions.empty()) throw BadArguments("--positions needs at least one position");
    }
    settings.limit = args.intValue("limit", 0);
    if (settings.limit < 0 || (args.has("limit") && settings.limit == 0)) throw BadArguments("--limit must be at least 1");
    if (args.has("shard")) std::tie(settings.shardIndex, settings.shardCount) = parseShard(args.value("shard"));
}

}  // namespace

std::pair<int, int> parseShard(const std::string& text) {
    int index = 0, count = 0;
    char slash = 0, extra = 0;
    if (std::sscanf(text.c_str(), "%d%c%d%c", &index, &slash, &count, &extra) != 3 || slash != '/' || count < 1 ||
        index < 1 || index > count)
        throw BadArguments("--shard expects i/N with 1 <= i <= N (e.g. 2/8), got '" + text + "'");
    return {index, count};
}

std::optional<ChatTemplate> chatTemplateArgument(const Arguments& args) {
    if (!args.has("chat-template")) return std::nullopt;
    const std::string name = args.value("chat-template");
    auto format = chatTemplateFromName(name);
    if (!format) throw BadArguments("--chat-template: unknown template '" + name + "' (plain, llama2, mistral, chatml, zephyr, llama3)");
    return format;
}

// --eval-protocol; --easyedit-compat means EasyEdit's unless --eval-protocol names one.
EvalProtocol evalProtocolArgument(const Arguments& args) {
    if (!args.has("eval-protocol")) return args.has("easyedit-compat") ? EvalProtocol::EasyEdit : EvalProtocol::Plain;
    const auto protocol = evalProtocolFromName(args.value("eval-protocol"));
    if (!protocol) throw BadArguments("--eval-protocol must be 'plain' or 'easyedit', got '" + args.value("eval-protocol") + "'");
    return *protocol;
}

EvaluationSettings evaluationSettingsFrom(const Arguments& args) {
    EvaluationSettings settings;
    settings.maxNewTokens = args.intValue("max-new-tokens", settings.maxNewTokens);
    settings.maxInputTokens = args.intValue("max-input-tokens", settings.maxInputTokens);
    settings.batchSize = args.intValue("batch-size", settings.batchSize);
    settings.temperature = args.doubleValue("temperature", settings.temperature);
    settings.topP = args.doubleValue("top-p", settings.topP);
    if (args.has("seed")) settings.seed = seedFrom(args.value("seed"));
    checkGeneration(settings);
    settings.chatTemplate = chatTemplateArgument(args);
    // EasyEdit feeds the raw prompt (evaluate_utils.py test_safety_gen).
    if (!settings.chatTemplate && args.has("easyedit-compat")) settings.chatTemplate = ChatTemplate::Plain;
    settings.protocol = evalProtocolArgument(args);
    readSelection(args, settings);
    return settings;
}

std::vector<OptionSpec> caseEvaluationOptions() {
    return {
        {"data", "FILE|demo", "a SafeEdit JSON file, or 'demo' for the demo test split"},
        {"demo", "", "the demo test split (same as --data demo)"},
        {"ids", "0,5,7", "only these record ids (the \"id\" field, in this order)"},
        {"positions", "0,1,2", "only the records at these 0-based places in the file (in this order)"},
        {"limit", "N", "only the first N records in file order"},
        {"shard", "i/N", "shard i of N (positions p with p % N == i-1); merge with detox merge"},
        {"judge", "rules|DIR", "safety judge: rules (default, heuristic) or a SafeEdit classifier directory"},
        {"max-new-tokens", "N", "tokens generated per response (default 600, as EasyEdit)"},
        {"max-input-tokens", "N", "longer prompts keep their last N tokens (default and most: the model's context - max new tokens)"},
        {"batch-size", "N", "cases per batch and prompts per generation call (default 8)"},
        {"seed", "S", "seed (default 0)"},
        {"temperature", "T", "0 = greedy (default), otherwise sampling"},
        {"top-p", "P", "nucleus sampling mass (default 1)"},
        {"chat-template", "NAME", "plain|llama2|mistral|chatml|zephyr|llama3 (default: the tokenizer's)"},
        {"eval-protocol", "plain|easyedit", "plain (default): the prompts as they are; easyedit: EasyEdit's evaluation of an edited model, "
                                            "the DINM suffix system prompt appended to the test and generalization prompts (compare: the "
                                            "repaired models only, the unedited baseline stays plain)"},
        {"easyedit-compat", "", "EasyEdit exactly: --eval-protocol easyedit and --chat-template plain unless given; compare: also EasyEdit's DINM "
                                "(docs/easyedit-deviations.md), the first record's toxic layer for every record"},
    };
}

std::string datasetPathFrom(const Arguments& args) {
    if (args.has("data") && args.has("demo")) throw BadArguments("give either --data FILE or --demo, not both");
    if (!args.has("data") && !args.has("demo")) throw BadArguments("missing required option --data FILE (or --demo)");
    const std::string data = args.valueOr("data", "demo");
    return data == "demo" ? demoDatasetPath("test") : data;
}

std::unique_ptr<SafetyJudge> judgeFrom(const Arguments& args, JobControl& job) {
    return makeJudge(args.valueOr("judge", "rules"), job);
}

}  // namespace detox::cli
