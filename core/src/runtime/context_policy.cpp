// Context-length policy (detox/runtime/context_policy.h).
#include "detox/runtime/context_policy.h"

#include <algorithm>

#include "detox/checkpoint/checkpoint.h"
#include "detox/error.h"

namespace detox {

std::string contextPolicyName(ContextPolicy policy) {
    return policy == ContextPolicy::KeepLast ? "keep-last" : "refuse";
}

std::optional<ContextPolicy> contextPolicyFromName(const std::string& name) {
    if (name == "keep-last") return ContextPolicy::KeepLast;
    if (name == "refuse") return ContextPolicy::Refuse;
    return std::nullopt;
}

ContextFit::ContextFit(std::string operation_, ContextPolicy policy_, int limit_)
    : operation(std::move(operation_)), policy(policy_), limit(limit_) {}

int contextLimit(const ModelConfig& config, int newTokens, const std::string& file) {
    const long long room = (long long)config.maxPositions - std::max(0, newTokens);
    if (room < 1) {
        const std::string key = config.architecture == "gpt2" ? "n_positions" : "max_position_embeddings";
        throw Error(file, "max_new_tokens",
                    std::to_string(newTokens) + " new tokens leave no room for a prompt in the model's context of " +
                        std::to_string(config.maxPositions) + " positions (config.json " + key + "); at most " +
                        std::to_string(std::max(0, config.maxPositions - 1)) + " fit");
    }
    return int(room);
}

namespace {

void count(ContextFit& fit, const std::string& label, int tokens, int kept) {
    ++fit.inputs;
    fit.longest = std::max(fit.longest, tokens);
    if (kept >= tokens) return;
    ++fit.cut;
    fit.tokensDropped += tokens - kept;
    fit.mostDropped = std::max(fit.mostDropped, tokens - kept);
    fit.cuts.push_back({label, tokens, kept});
}

[[noreturn]] void refuse(const ContextFit& fit, const std::string& label, int tokens) {
    throw Error("", label,
                std::to_string(tokens) + " tokens are longer than the " + std::to_string(fit.limit) +
                    " that fit in the model's context for " + fit.operation + " (policy refuse); shorten the input");
}

}  // namespace

int fitToContext(std::vector<int>& ids, ContextFit& fit, const std::string& label) {
    const int tokens = int(ids.size());
    if (fit.limit > 0 && tokens > fit.limit) {
        if (fit.policy == ContextPolicy::Refuse) refuse(fit, label, tokens);
        ids.erase(ids.begin(), ids.end() - fit.limit);
    }
    count(fit, label, tokens, int(ids.size()));
    return tokens - int(ids.size());
}

int fitPairToContext(std::vector<int>& prompt, std::vector<int>& answer, ContextFit& fit, const std::string& label) {
    const int tokens = int(prompt.size() + answer.size());
    if (fit.limit > 0 && tokens > fit.limit) {
        if (fit.policy == ContextPolicy::Refuse) refuse(fit, label, tokens);
        int excess = tokens - fit.limit;
        const int fromPrompt = std::min(excess, std::max(0, int(prompt.size()) - 1));
        prompt.erase(prompt.begin(), prompt.begin() + fromPrompt);
        excess -= fromPrompt;
        answer.resize(size_t(std::max(0, int(answer.size()) - excess)));
    }
    const int kept = int(prompt.size() + answer.size());
    count(fit, label, tokens, kept);
    return tokens - kept;
}

void mergeContextFits(std::vector<ContextFit>& into, const std::vector<ContextFit>& from) {
    for (const ContextFit& fit : from) {
        auto same = std::find_if(into.begin(), into.end(), [&](const ContextFit& other) {
            return other.operation == fit.operation && other.policy == fit.policy && other.limit == fit.limit;
        });
        if (same == into.end()) {
            into.push_back(fit);
            continue;
        }
        same->inputs += fit.inputs;
        same->cut += fit.cut;
        same->tokensDropped += fit.tokensDropped;
        same->mostDropped = std::max(same->mostDropped, fit.mostDropped);
        same->longest = std::max(same->longest, fit.longest);
        same->cuts.insert(same->cuts.end(), fit.cuts.begin(), fit.cuts.end());
    }
}

std::string contextWarning(const ContextFit& fit) {
    if (fit.cut == 0) return "";
    const std::string limit = std::to_string(fit.limit);
    return std::to_string(fit.cut) + " of " + std::to_string(fit.inputs) + " " + fit.operation +
           " are longer than the " + limit + " tokens that fit in the model's context and were cut to " + limit + " (policy " +
           contextPolicyName(fit.policy) + ": their first tokens dropped; up to " + std::to_string(fit.mostDropped) +
           " tokens dropped from one, " + std::to_string(fit.tokensDropped) + " in all; longest " +
           std::to_string(fit.longest) + " tokens)";
}

std::vector<std::string> contextWarnings(const std::vector<ContextFit>& fits) {
    std::vector<std::string> lines;
    for (const ContextFit& fit : fits)
        if (fit.cut > 0) lines.push_back(contextWarning(fit));
    return lines;
}

void to_json(nlohmann::json& json, const ContextFit& fit) {
    nlohmann::json cuts = nlohmann::json::array();
    for (const ContextCut& cut : fit.cuts) cuts.push_back({{"input", cut.input}, {"tokens", cut.tokens}, {"kept", cut.kept}});
    json = {{"operation", fit.operation},
            {"policy", contextPolicyName(fit.policy)},
            {"limit", fit.limit},
            {"inputs", fit.inputs},
            {"cut", fit.cut},
            {"tokens_dropped", fit.tokensDropped},
            {"most_dropped", fit.mostDropped},
            {"longest", fit.longest},
            {"cuts", cuts}};
}

void from_json(const nlohmann::json& json, ContextFit& fit) {
    fit.operation = json.at("operation").get<std::string>();
    const std::string policy = json.at("policy").get<std::string>();
    auto parsed = contextPolicyFromName(policy);
    if (!parsed) throw Error("", "context.policy", "expected keep-last or refuse, got '" + policy + "'");
    fit.policy = *parsed;
    fit.limit = json.value("limit", 0);
    fit.inputs = json.value("inputs", 0);
    fit.cut = json.value("cut", 0);
    fit.tokensDropped = json.value("tokens_dropped", 0LL);
    fit.mostDropped = json.value("most_dropped", 0);
    fit.longest = json.value("longest", 0);
    fit.cuts.clear();
    for (const auto& cut : json.value("cuts", nlohmann::json::array()))
        fit.cuts.push_back({cut.value("input", std::string()), cut.value("tokens", 0), cut.value("kept", 0)});
}

}  // namespace detox
