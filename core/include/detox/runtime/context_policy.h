// What happens to an input longer than the model's context: one named policy per operation, applied
// before anything runs, and a record of what it did for the result's JSON, the CLI's warnings and the ui.
//
//   keep-last  the input keeps its last N tokens (EasyEdit's evaluation does this with N = 1024: a
//              SafeEdit jailbreak prompt ends with the harmful question). For a prompt + answer pair that
//              is scored or trained teacher-forced, the prompt loses its first tokens (down to one) before
//              the answer loses its last ones.
//   refuse     a detox::Error naming the input, its length and the limit.
//
// N (the limit) is the model's context (config max_position_embeddings / n_positions) minus the tokens
// generated after the input: a generation never runs past the context either.
#pragma once
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace detox {

struct ModelConfig;

enum class ContextPolicy { KeepLast, Refuse };
std::string contextPolicyName(ContextPolicy policy);  // "keep-last", "refuse"
std::optional<ContextPolicy> contextPolicyFromName(const std::string& name);

// One input that did not fit: label ("record 906 DS"), its length and what was kept.
struct ContextCut {
    std::string input;
    int tokens = 0;
    int kept = 0;
};

// What one operation's policy did to its inputs.
struct ContextFit {
    std::string operation;            // "evaluation prompts", "knowledge answers", "locate texts", ...
    ContextPolicy policy = ContextPolicy::KeepLast;
    int limit = 0;                    // tokens an input may have
    int inputs = 0;                   // inputs checked
    int cut = 0;                      // inputs longer than the limit (cut under keep-last)
    long long tokensDropped = 0;      // over all cut inputs
    int mostDropped = 0;              // the largest cut of one input
    int longest = 0;                  // tokens of the longest input before any cut
    std::vector<ContextCut> cuts;     // every cut input, in the order met

    ContextFit() = default;
    ContextFit(std::string operation, ContextPolicy policy, int limit);
};
void to_json(nlohmann::json& json, const ContextFit& fit);
void from_json(const nlohmann::json& json, ContextFit& fit);

// The tokens an input may have: the model's context minus `newTokens` generated after it. Throws
// detox::Error(file, "max_new_tokens") when that leaves no room (the message says the most that fits).
int contextLimit(const ModelConfig& config, int newTokens = 0, const std::string& file = "");

// Applies fit.policy to one input, counts it in `fit`; returns the tokens dropped. Refuse throws
// detox::Error(label) for an input longer than fit.limit.
int fitToContext(std::vector<int>& ids, ContextFit& fit, const std::string& label);

// A teacher-forced prompt + answer pair fitted together into fit.limit tokens: the prompt keeps its last
// tokens (at least one), then the answer loses its last ones. Returns the tokens dropped.
int fitPairToContext(std::vector<int>& prompt, std::vector<int>& answer, ContextFit& fit, const std::string& label);

// Adds `from` into `into`: fits of the same operation, policy and limit are summed, others appended.
void mergeContextFits(std::vector<ContextFit>& into, const std::vector<ContextFit>& from);

// "warning: 19 of 50 evaluation prompts are longer than the 248 tokens that fit in the model's context:
// kept their last 248 tokens (keep-last; up to 561 tokens dropped from one, 4120 in all)"; empty when
// nothing was cut. One line per fit that cut something.
std::string contextWarning(const ContextFit& fit);
std::vector<std::string> contextWarnings(const std::vector<ContextFit>& fits);

}  // namespace detox
