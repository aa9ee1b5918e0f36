// detox tokenize: text -> ids and tokens (or ids -> text) with a model folder's tokenizer.json.
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli_commands.h"
#include "detox/tokenizer/tokenizer.h"

namespace detox::cli {
namespace {

int runTokenize(const Arguments& args) {
    Tokenizer tokenizer = Tokenizer::fromDirectory(args.value("model"));
    if (args.has("decode")) {
        if (args.has("text")) throw BadArguments("give either --text or --decode, not both");
        std::vector<int> ids = args.intList("decode");
        for (int id : ids)
            if (id < 0 || id >= tokenizer.vocabSize())
                throw BadArguments("--decode: id " + std::to_string(id) + " is outside the vocabulary (size " +
                                   std::to_string(tokenizer.vocabSize()) + ")");
        nlohmann::json out = {{"text", tokenizer.decode(ids, !args.has("keep-special-tokens"))}};
        std::cout << out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
        return kExitOk;
    }
    std::vector<int> ids = tokenizer.encode(args.value("text"), !args.has("no-special-tokens"));
    nlohmann::json tokens = nlohmann::json::array();
    for (int id : ids) tokens.push_back(tokenizer.idToToken(id));
    nlohmann::json out = {{"ids", ids}, {"tokens", tokens}};
    std::cout << out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return kExitOk;
}

const bool kRegistered = registerCommand({
    "tokenize",
    "encode text (or decode ids) with a model folder's tokenizer.json",
    {
        {"model", "DIR", "folder with tokenizer.json (and optionally tokenizer_config.json)"},
        {"text", "TEXT", "text to encode; prints {\"ids\": [...], \"tokens\": [...]}"},
        {"no-special-tokens", "", "do not add BOS/EOS or other post-processor tokens"},
        {"decode", "IDS", "comma-separated ids to decode instead; prints {\"text\": ...}"},
        {"keep-special-tokens", "", "with --decode: keep special tokens in the text"},
    },
    runTokenize,
});

}  // namespace
}  // namespace detox::cli
