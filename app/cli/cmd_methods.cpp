// detox locate / detox edit: toxic-layer location and the detoxification methods (DINM, SFT, DPO,
// Self-Reminder) from the command line. JSON on stdout, plain progress lines on stderr.
#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>

#include "cli_commands.h"
#include "cli_evaluation_options.h"
#include "detox/safeedit/evaluation.h"
#include "detox/analysis/locate.h"
#include "detox/methods/methods.h"
#include "detox/runtime/model.h"
#include "detox/methods/recommended_settings.h"
#include "detox/safeedit/safeedit.h"

namespace detox::cli {
namespace {

JobControl::ProgressSink stderrProgress(const std::string& label) {
    return [label](const Progress& progress) {
        std::cerr << label << " " << progress.step;
        if (progress.total > 0) std::cerr << "/" << progress.total;
        if (!progress.message.empty()) std::cerr << " " << progress.message;
        for (const auto& [key, value] : progress.values) std::cerr << " " << key << "=" << value;
        std::cerr << std::endl;
    };
}

LocateVariant variantArgument(const Arguments& args) {
    const std::string name = args.valueOr("variant", "masked");
    auto variant = locateVariantFromName(name);
    if (!variant) throw BadArguments("--variant must be 'masked' or 'easyedit', got '" + name + "'");
    return *variant;
}

std::vector<SafeEditRecord> recordsById(const SafeEditDataset& data, const std::vector<int>& ids) {
    std::vector<SafeEditRecord> records;
    for (int id : ids) {
        const SafeEditRecord* record = data.findById(id);
        if (!record) throw Error(data.path, "id " + std::to_string(id), "no record with this id");
        records.push_back(*record);
    }
    return records;
}

void printJson(const nlohmann::json& json) {
    std::cout << json.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
}

int runLocate(const Arguments& args) {
    std::cerr << "loading model " << args.value("model") << std::endl;
    Model model = Model::load(args.value("model"));
    SafeEditDataset data = loadSafeEdit(args.value("data"));
    std::vector<int> ids = args.has("ids") ? args.intList("ids") : std::vector<int>{};
    if (ids.empty()) throw BadArguments("--ids needs at least one record id");
    JobControl job(stderrProgress("locate"));
    auto results = locateToxicLayers(model, recordsById(data, ids), variantArgument(args), job);
    printJson(results);
    return kExitOk;
}

ParameterSelection selectionArgument(const Arguments& args) {
    ParameterSelection selection;
    if (args.has("train-layers")) selection.layers = args.intList("train-layers");
    if (args.has("train-pattern")) selection.namePatterns = {args.value("train-pattern")};
    return selection;
}

// SFT/DPO train on --train-ids (a list, or "all" records of --data); by default only on --id's record.
std::vector<SafeEditRecord> trainingRecords(const Arguments& args, const SafeEditDataset& data,
                                            const SafeEditRecord& record) {
    if (!args.has("train-ids")) return {record};
    if (args.value("train-ids") == "all") return data.records;
    return recordsById(data, args.intList("train-ids"));
}

// The edit's before/after answers, formatted and stopped as the SafeEdit evaluation does it.
std::string answer(const Model& model, const std::string& message, ChatTemplate format, int maxNewTokens) {
    return generateResponses(model, {message}, format, maxNewTokens).front().text;
}

int runEdit(const Arguments& args) {
    const std::string method = args.value("method");
    if (method != "dinm" && method != "sft" && method != "dpo" && method != "self-reminder")
        throw BadArguments("--method must be dinm, sft, dpo or self-reminder, got '" + method + "'");
    // Defaults the model recommends for itself (detox_method_defaults.json) come before the paper's; read
    // first, so a malformed file fails before the slow load.
    const RecommendedSettings recommended = loadRecommendedSettings(args.value("model"));
    std::cerr << "loading model " << args.value("model") << std::endl;
    Model model = Model::load(args.value("model"));
    SafeEditDataset data = loadSafeEdit(args.value("data"));
    if (!args.has("id")) throw BadArguments("--id is required");
    const int id = args.intValue("id", 0);
    const SafeEditRecord record = recordsById(data, {id})[0];
    const Tokenizer& tokenizer = model.tokenizer();
    const int maxNewTokens = args.intValue("max-new-tokens", 64);
    const uint64_t seed = static_cast<uint64_t>(args.intValue("seed", 0));
    const ChatTemplate format = chatTemplateArgument(args).value_or(tokenizer.detectedChatTemplate());

    std::cerr << "generating before the edit" << std::endl;
    const std::string before = answer(model, record.adversarialPrompt, format, maxNewTokens);
    JobControl job(stderrProgress(method));
    nlohmann::json out = {{"id", id}, {"method", method}, {"chat_template", chatTemplateName(format)}};
    const MethodRecommendation none;
    const MethodRecommendation& recommendation =
        method == "dinm" ? recommended.dinm : method == "sft" ? recommended.sft : method == "dpo" ? recommended.dpo : none;
    if (!recommended.empty()) out["recommended_settings"] = recommended.path;
    std::optional<EditResult> result;
    std::string afterPrompt = record.adversarialPrompt;

    if (method == "dinm") {
        DinmSettings settings;
        settings.learningRate =
            args.doubleValue("lr", recommendation.learningRate.value_or(defaultDinmLearningRate(model.config())));
        settings.maxSteps = args.intValue("steps", recommendation.steps.value_or(settings.maxSteps));
        settings.editLossWeight = args.doubleValue("c-edit", settings.editLossWeight);
        settings.locateVariant = variantArgument(args);
        settings.constraintGradient = !args.has("easyedit-compat");
        settings.cacheLowerLayers = !args.has("no-cache");
        settings.seed = seed;
        if (args.has("norm-constraint")) settings.normConstraint = args.doubleValue("norm-constraint", 0);
        if (args.has("layer")) settings.layer = args.intValue("layer", 0);
        ModelEditor editor(model);
        LocateResult located = locateToxicLayer(model, record, settings.locateVariant);
        std::cerr << "toxic layer " << located.toxicLayer << std::endl;
        out["locate"] = located;
        if (!settings.layer) settings.layer = located.toxicLayer;
        result = editor.dinm(record, settings, job);
    } else if (method == "sft") {
        SftSettings settings;
        settings.parameters = selectionArgument(args);
        settings.learningRate = args.doubleValue("lr", recommendation.learningRate.value_or(settings.learningRate));
        settings.epochs = args.intValue("steps", recommendation.steps.value_or(settings.epochs));
        settings.batchSize = args.intValue("batch-size", 1);
        settings.seed = seed;
        const auto pairs = tokenizePairs(tokenizer, safeResponsePairs(trainingRecords(args, data, record)));
        result = trainSft(model, pairs, settings, job);
    } else if (method == "dpo") {
        DpoSettings settings;
        settings.parameters = selectionArgument(args);
        settings.learningRate = args.doubleValue("lr", recommendation.learningRate.value_or(settings.learningRate));
        settings.beta = args.doubleValue("beta", settings.beta);
        settings.epochs = args.intValue("steps", recommendation.steps.value_or(settings.epochs));
        settings.batchSize = args.intValue("batch-size", 1);
        settings.seed = seed;
        result = trainDpo(model, preferencePairs(tokenizer, trainingRecords(args, data, record)), settings, job);
    } else {
        afterPrompt = selfReminderPrompt(record.adversarialPrompt);
        out["prompt_after"] = selfReminderPrompt(record.adversarialPrompt);
    }
    if (result) {
        result->provenance.datasetPath = data.path;
        result->provenance.datasetHash = data.sha256;
        out["result"] = *result;
        out["toxic_layer"] = result->toxicLayer;
        out["loss_history"] = result->lossHistory;
        out["duration_seconds"] = result->durationSeconds;
    }
    std::cerr << "generating after the edit" << std::endl;
    out["generation_before"] = before;
    out["generation_after"] = answer(model, afterPrompt, format, maxNewTokens);
    if (args.has("save")) {
        std::cerr << "saving to " << args.value("save") << std::endl;
        model.save(args.value("save"));
        out["saved_to"] = args.value("save");
    }
    printJson(out);
    return kExitOk;
}

const bool kLocateRegistered = registerCommand({
    "locate",
    "find each record's toxic layer (per-layer safe-vs-unsafe hidden-state distance)",
    {
        {"model", "DIR", "HF checkpoint folder (with tokenizer.json)"},
        {"data", "FILE", "SafeEdit JSON file"},
        {"ids", "IDS", "comma-separated record ids"},
        {"variant", "NAME", "masked (default) or easyedit (the reference code's padded batch)"},
    },
    runLocate,
});

const bool kEditRegistered = registerCommand({
    "edit",
    "detoxify one record with DINM, SFT, DPO or Self-Reminder; generations before/after",
    {
        {"model", "DIR", "HF checkpoint folder (with tokenizer.json)"},
        {"data", "FILE", "SafeEdit JSON file"},
        {"id", "N", "the record to edit with"},
        {"method", "NAME", "dinm, sft, dpo or self-reminder"},
        {"save", "OUT_DIR", "write the edited checkpoint here"},
        {"steps", "N", "DINM: optimizer steps (10); SFT/DPO: epochs (1)"},
        {"lr", "X", "learning rate (DINM 5e-4, Mistral 1e-5; SFT 1e-5; DPO 5e-6)"},
        {"c-edit", "X", "DINM: weight of the edit loss (0.1)"},
        {"layer", "N", "DINM: edit this layer instead of the located one"},
        {"variant", "NAME", "DINM: locate variant, masked (default) or easyedit"},
        {"norm-constraint", "X", "DINM: keep the edited matrix within W0 +- X"},
        {"easyedit-compat", "", "DINM: constraint without gradient (as the reference code)"},
        {"no-cache", "", "DINM: run the full model every step (for comparison)"},
        {"beta", "X", "DPO: beta (0.1)"},
        {"train-ids", "IDS|all", "SFT/DPO: train on these records of --data, or all (default: --id only)"},
        {"batch-size", "N", "SFT/DPO: pairs per step (1)"},
        {"train-layers", "IDS", "SFT/DPO: train only these layers"},
        {"train-pattern", "REGEX", "SFT/DPO: train only parameters whose name matches"},
        {"seed", "S", "seed (provenance; SFT/DPO example order)"},
        {"max-new-tokens", "N", "greedy generation length (64)"},
        {"chat-template", "NAME", "before/after answers: plain|llama2|mistral|chatml|zephyr|llama3 (default: the tokenizer's)"},
    },
    runEdit,
});

}  // namespace
}  // namespace detox::cli
