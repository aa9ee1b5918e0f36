// detox generate / logits / info: the model runtime from the command line (JSON on stdout).
#include <algorithm>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli_commands.h"
#include "cli_model_options.h"
#include "cli_summaries.h"
#include "detox/checkpoint/checkpoint.h"
#include "detox/error.h"
#include "detox/runtime/model.h"
#include "detox/safeedit/safeedit.h"

namespace detox::cli {
namespace {

int runGenerate(const Arguments& args) {
    Model model = Model::load(args.value("model"), loadOptionsFrom(args));
    const std::string prompt = args.value("prompt");
    std::vector<int> promptIds;
    if (args.has("no-chat-template")) {
        promptIds = model.tokenizer().encode(prompt, true);
    } else {
        ChatTemplate format = model.tokenizer().detectedChatTemplate();
        if (args.has("chat-template")) {
            auto chosen = chatTemplateFromName(args.value("chat-template"));
            if (!chosen) throw BadArguments("unknown chat template '" + args.value("chat-template") + "'");
            format = *chosen;
        }
        promptIds = model.tokenizer().encode(model.tokenizer().applyChatTemplate(prompt, format), false);
    }
    GenerationSettings settings;
    settings.maxNewTokens = args.intValue("max-new-tokens", 64);
    settings.temperature = args.doubleValue("temperature", 0.0);
    settings.topP = args.doubleValue("top-p", 1.0);
    settings.seed = static_cast<uint64_t>(args.intValue("seed", 0));
    if (settings.maxNewTokens < 0) throw BadArguments("--max-new-tokens must not be negative");
    if (settings.temperature < 0) throw BadArguments("--temperature must not be negative");
    Generation generation = model.generate({promptIds}, settings).at(0);
    nlohmann::json out = {{"prompt_ids", generation.promptIds},
                          {"output_ids", generation.outputIds},
                          {"text", generation.text},
                          {"stopped_at_eos", generation.stoppedAtEos},
                          {"weights", model.weightsDescription()}};
    std::cout << out.dump(2) << "\n";
    return kExitOk;
}

int runLogits(const Arguments& args) {
    std::vector<int> ids = args.intList("ids");
    if (ids.empty()) throw BadArguments("--ids needs at least one token id");
    Model model = Model::load(args.value("model"), loadOptionsFrom(args));
    FloatTensor logits = model.forward({ids}).logits;
    const int64_t positions = logits.shape[1], vocab = logits.shape[2];
    nlohmann::json argmax = nlohmann::json::array(), logsumexp = nlohmann::json::array(), rows = nlohmann::json::array();
    for (int64_t t = 0; t < positions; ++t) {
        const float* row = logits.values.data() + t * vocab;
        int64_t best = 0;
        for (int64_t v = 1; v < vocab; ++v)
            if (row[v] > row[best]) best = v;
        double sum = 0;
        for (int64_t v = 0; v < vocab; ++v) sum += std::exp(double(row[v]) - row[best]);
        argmax.push_back(best);
        logsumexp.push_back(row[best] + std::log(sum));
        rows.push_back(std::vector<float>(row, row + vocab));
    }
    std::cout << nlohmann::json{{"argmax", argmax}, {"logsumexp", logsumexp}, {"logits", rows}}.dump() << "\n";
    return kExitOk;
}

// The memory of one run on top of the weights: batch x (input + new tokens), with the KV cache and the
// activations apart (the same estimate generate and evaluate check before they allocate), and the context
// check. Input tokens default to what fits next to the new tokens (64 by default), as evaluate does.
nlohmann::json runEstimateJson(const CheckpointInfo& info, const Arguments& args) {
    const ModelConfig& c = info.config;
    const long long newTokens = args.intValue("max-new-tokens", 64);
    const int askedInput = args.intValue("max-input-tokens", 0);  // 0: what fits, as in evaluate
    const long long inputTokens = askedInput > 0 ? askedInput : std::max(1, c.maxPositions - int(newTokens));
    const long long batch = args.intValue("batch-size", 1);
    const long long run = runMemoryBytes(c, batch, inputTokens, newTokens, false);
    const long long kvCache = run - runMemoryBytes(c, batch, inputTokens, 0, false);
    const long long available = info.memory.availableBytes;
    auto fits = [&](long long weights) { return available == 0 || weights + run <= available; };
    nlohmann::json out = {{"batch", batch},
                          {"input_tokens", inputTokens},
                          {"new_tokens", newTokens},
                          {"kv_cache_bytes", kvCache},
                          {"activation_bytes", run - kvCache},
                          {"total_bytes", info.memory.weightBytes + run},
                          {"stored_total_bytes", info.memory.storedWeightBytes + run},
                          {"fits_f32", fits(info.memory.weightBytes)},
                          {"fits_stored", fits(info.memory.storedWeightBytes)}};
    try {
        checkRunFits(c, info.directory, batch, inputTokens, newTokens, false);
        out["refusal"] = nullptr;
    } catch (const Error& refusal) {  // what generate would say before allocating
        out["refusal"] = refusal.what();
    }
    return out;
}

nlohmann::json checkpointJson(const Arguments& args) {
    const LoadOptions options = loadOptionsFrom(args);
    CheckpointInfo info = inspectCheckpoint(args.value("model"));
    const ModelConfig& c = info.config;
    nlohmann::json config = {{"architecture", c.hfArchitecture}, {"family", c.architecture},
                             {"model_type", c.modelType},       {"vocab_size", c.vocabSize},
                             {"hidden_size", c.hiddenSize},     {"num_layers", c.numLayers},
                             {"num_heads", c.numHeads},         {"num_kv_heads", c.numKvHeads},
                             {"head_dim", c.headDim},           {"intermediate_size", c.intermediateSize},
                             {"max_positions", c.maxPositions}, {"norm_eps", c.normEps},
                             {"activation", c.activation},      {"tied_embeddings", c.tiedEmbeddings},
                             {"eos_ids", c.eosIds}};
    if (c.architecture == "llama") {
        config["rope_theta"] = c.ropeTheta;
        if (!c.ropeScalingType.empty()) config["rope_scaling"] = c.ropeScalingType;
    }
    if (c.bosId) config["bos_id"] = *c.bosId;
    nlohmann::json out = {{"directory", info.directory},
                          {"config", config},
                          {"parameter_count", info.parameterCount},
                          {"stored_dtype", c.storedDtype},
                          {"stored_bytes", info.storedBytes},
                          {"memory_estimate",
                           {{"weight_bytes", info.memory.weightBytes},
                            {"activation_bytes", info.memory.activationBytes},
                            {"total_bytes", info.memory.totalBytes},
                            {"stored_weight_bytes", info.memory.storedWeightBytes},
                            {"stored_total_bytes", info.memory.storedTotalBytes},
                            {"available_bytes", info.memory.availableBytes},
                            {"fits", info.memory.fits()},
                            {"fits_f32", info.memory.fitsF32()},
                            {"fits_stored", info.memory.fitsStored()}}},
                          {"tensor_count", info.tensors.size()}};
    // The mode a load with these options would use (f32 or stored), or why none fits.
    try {
        out["memory_estimate"]["weights"] = weightModeName(resolveWeightMode(info, options.weights, options.device != "cpu"));
    } catch (const Error& refusal) {
        out["memory_estimate"]["weights"] = nullptr;
        out["memory_estimate"]["refusal"] = refusal.what();
    }
    out["memory_estimate"]["device"] = options.device;
    out["memory_estimate"]["run"] = runEstimateJson(info, args);
    if (args.has("tensors")) {
        nlohmann::json tensors = nlohmann::json::array();
        for (const auto& t : info.tensors) tensors.push_back({{"name", t.name}, {"dtype", t.dtype}, {"shape", t.shape}});
        out["tensors"] = tensors;
    }
    return out;
}

// The model's summary, the dataset's, or both (one object keyed "model" / "dataset" then).
int runInfo(const Arguments& args) {
    if (!args.has("model") && !args.has("data")) throw BadArguments("give --model DIR, --data FILE or both");
    nlohmann::json out;
    if (args.has("model")) out = checkpointJson(args);
    if (args.has("data")) {
        const nlohmann::json dataset = datasetSummaryJson(loadSafeEdit(args.value("data")));
        out = args.has("model") ? nlohmann::json{{"model", out}, {"dataset", dataset}} : dataset;
    }
    std::cout << out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return kExitOk;
}

const bool kGenerateRegistered = registerCommand({
    "generate",
    "generate text from a prompt with a checkpoint",
    withModelLoadOptions({{"model", "DIR", "HF checkpoint directory"},
     {"prompt", "TEXT", "the user's prompt"},
     {"max-new-tokens", "N", "tokens to generate (default 64)"},
     {"temperature", "T", "sampling temperature (default 0 = greedy)"},
     {"top-p", "P", "nucleus sampling mass (default 1)"},
     {"seed", "S", "random seed for sampling (default 0)"},
     {"no-chat-template", "", "encode the prompt as plain text with default special tokens"},
     {"chat-template", "NAME", "plain, llama2, mistral, chatml, zephyr or llama3 (default: detected)"}}),
    runGenerate,
});

const bool kLogitsRegistered = registerCommand({
    "logits",
    "logits, argmax and logsumexp per position for token ids",
    withModelLoadOptions({{"model", "DIR", "HF checkpoint directory"}, {"ids", "1,2,3", "comma-separated token ids"}}),
    runLogits,
});

const bool kInfoRegistered = registerCommand({
    "info",
    "checkpoint and/or dataset summary: config, parameters, dtype, memory estimate; records, categories, attacks",
    withModelLoadOptions({{"model", "DIR", "HF checkpoint directory"},
     {"data", "FILE", "a SafeEdit JSON file (summarised as by detox data)"},
     {"tensors", "", "list every tensor"},
     {"max-new-tokens", "N", "memory_estimate.run: tokens to generate (default 64)"},
     {"max-input-tokens", "N", "memory_estimate.run: prompt tokens (default: the context minus the new tokens)"},
     {"batch-size", "N", "memory_estimate.run: sequences at once (default 1)"}}),
    runInfo,
});

}  // namespace
}  // namespace detox::cli
