// detox locate / detox edit: toxic-layer location and the detoxification methods (every method of the
// registry, detox/methods/registry.h) from the command line. JSON on stdout, plain progress lines on stderr.
#include <chrono>
#include <functional>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>

#include "cli_commands.h"
#include "cli_evaluation_options.h"
#include "cli_model_options.h"
#include "cli_progress.h"
#include "cli_summaries.h"
#include "detox/safeedit/evaluation.h"
#include "detox/analysis/locate.h"
#include "detox/analysis/record_study.h"
#include "detox/methods/methods.h"
#include "detox/runtime/model.h"
#include "detox/methods/recommended_settings.h"
#include "detox/methods/registry.h"
#include "detox/provenance.h"
#include "detox/safeedit/safeedit.h"

namespace detox::cli {
namespace {

LocateVariant variantArgument(const Arguments& args) {
    const std::string name = args.valueOr("variant", "masked");
    auto variant = locateVariantFromName(name);
    if (!variant) throw BadArguments("--variant must be " + locateVariantChoices() + ", got '" + name + "'");
    return *variant;
}

std::vector<SafeEditRecord> recordsById(const SafeEditDataset& data, const std::vector<int>& ids) {
    std::vector<SafeEditRecord> records;
    for (int id : ids) {
        const SafeEditRecord* record = data.findById(id);
        if (!record) throw Error(data.path, "id " + std::to_string(id), "no record with this id; " + idHint(data));
        records.push_back(*record);
    }
    return records;
}

void printJson(const nlohmann::json& json) {
    std::cout << json.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
}

int runLocate(const Arguments& args) {
    const LoadOptions loadOptions = loadOptionsFrom(args);
    std::cerr << "loading model " << args.value("model") << std::endl;
    Model model = Model::load(args.value("model"), loadOptions);
    SafeEditDataset data = loadSafeEdit(args.value("data"));
    std::vector<int> ids = args.has("ids") ? args.intList("ids") : std::vector<int>{};
    if (ids.empty()) throw BadArguments("--ids needs at least one record id");
    ProgressReporter progress("locate");
    JobControl job(progress.sink());
    auto results = locateToxicLayers(model, recordsById(data, ids), variantArgument(args), job);
    progress.finish();
    std::vector<ContextFit> fits;
    for (const auto& result : results) mergeContextFits(fits, {result.context});
    printContextWarnings(fits);
    printJson(results);
    return kExitOk;
}

// SFT/DPO train on --train-ids (a list, or "all" records of --data); by default only on --id's record.
std::vector<SafeEditRecord> trainingRecords(const Arguments& args, const SafeEditDataset& data) {
    if (!args.has("train-ids")) return {};
    if (args.value("train-ids") == "all") return data.records;
    return recordsById(data, args.intList("train-ids"));
}

// The method settings given on the command line, keyed as the method's settings are; an option applies to
// every method whose settings have its key (--steps: DINM's steps, SFT/DPO's epochs).
nlohmann::json userSettings(const Arguments& args, const Method& method) {
    const nlohmann::json keys = method.paperDefaults(ModelConfig{});
    nlohmann::json user = nlohmann::json::object();
    auto put = [&](const char* flag, const std::string& key, const std::function<nlohmann::json()>& value) {
        if (args.has(flag) && !key.empty() && keys.contains(key)) user[key] = value();
    };
    put("lr", "learning_rate", [&] { return args.doubleValue("lr", 0); });
    put("steps", method.stepsKey, [&] { return args.intValue("steps", 0); });
    put("c-edit", "edit_loss_weight", [&] { return args.doubleValue("c-edit", 0); });
    put("beta", "beta", [&] { return args.doubleValue("beta", 0); });
    put("layer", "layer", [&] { return args.intValue("layer", 0); });
    put("variant", "locate_variant", [&] { return locateVariantName(variantArgument(args)); });
    put("norm-constraint", "norm_constraint", [&] { return args.doubleValue("norm-constraint", 0); });
    put("easyedit-compat", "easyedit_compat", [] { return true; });
    put("no-cache", "cache_lower_layers", [] { return false; });
    put("seed", "seed", [&] { return args.intValue("seed", 0); });
    put("train-layers", "parameters", [&] { return nlohmann::json{{"layers", args.intList("train-layers")}}; });
    if (args.has("train-pattern") && keys.contains("parameters"))
        user["parameters"]["name_patterns"] = std::vector<std::string>{args.value("train-pattern")};
    // One record gives one pair: batches of one unless asked otherwise (the trainers' default is 4).
    if (keys.contains("batch_size")) user["batch_size"] = args.intValue("batch-size", 1);
    return user;
}

nlohmann::json sourcesJson(const ResolvedSettings& settings) {
    nlohmann::json sources = nlohmann::json::object();
    for (const auto& [key, source] : settings.sources) sources[key] = settingSourceName(source);
    return sources;
}

// Says on stderr which values came from the model's detox_method_defaults.json (as compare does).
void reportRecommendedSettings(const ResolvedSettings& settings) {
    if (!settings.fromRecommendation()) return;
    std::string keys;
    for (const auto& [key, source] : settings.sources)
        if (source == SettingSource::ModelRecommendation) keys += (keys.empty() ? "" : ", ") + key;
    std::cerr << "settings from " << settings.recommendationFile << ": " << keys
              << " (not given on the command line)" << std::endl;
}

int runEdit(const Arguments& args) {
    const Method* found = findMethod(args.value("method"));
    if (!found) throw BadArguments("--method must be one of " + methodNames() + ", got '" + args.value("method") + "'");
    const Method& method = *found;
    const LoadOptions loadOptions = loadOptionsFrom(args);
    // Defaults the model recommends for itself (detox_method_defaults.json) come before the paper's; read
    // first, so a malformed file fails before the slow load.
    const RecommendedSettings recommended = loadRecommendedSettings(args.value("model"));
    const nlohmann::json user = userSettings(args, method);
    const EvalProtocol protocol = evalProtocolArgument(args);
    const std::optional<ChatTemplate> chosenFormat = chatTemplateArgument(args);
    std::cerr << "loading model " << args.value("model") << std::endl;
    Model model = Model::load(args.value("model"), loadOptions);
    SafeEditDataset data = loadSafeEdit(args.value("data"));
    if (!args.has("id")) throw BadArguments("--id is required");
    const int id = args.intValue("id", 0);
    const SafeEditRecord record = recordsById(data, {id})[0];
    const ResolvedSettings settings = resolveSettings(model.config(), recommended, method.id, user);
    reportRecommendedSettings(settings);

    // The record study on the adversarial prompt: answers formatted and stopped as the SafeEdit evaluation
    // does it, the toxic layer before/after, the parameter shift.
    RecordStudyOptions options;
    // --easyedit-compat: EasyEdit's raw prompt and its evaluation of the edited model, as evaluate/compare.
    const ChatTemplate detected = args.has("easyedit-compat") ? ChatTemplate::Plain : model.tokenizer().detectedChatTemplate();
    options.chatFormat = chosenFormat.value_or(detected);
    options.protocol = protocol;
    options.maxNewTokens = args.intValue("max-new-tokens", 64);
    options.generalizationInputs = false;
    options.readRegion = false;
    options.locateVariant = variantArgument(args);
    options.trainingRecords = trainingRecords(args, data);
    ProgressReporter progress(method.name);
    progress.setShowValues(true);  // the losses
    JobControl job(progress.sink());
    ModelEditor editor(model);
    RecordStudy study = studyRecord(editor, record, settings, options, job);
    progress.finish();
    EditResult& result = study.edit;
    setProvenanceDataset(result.provenance, data);

    nlohmann::json out = {{"id", id}, {"method", method.name}, {"chat_template", chatTemplateName(study.chatFormat)},
                          {"eval_protocol", evalProtocolName(study.protocol)},
                          {"settings_sources", sourcesJson(settings)}};
    if (!recommended.empty()) out["recommended_settings"] = recommended.path;
    out["locate"] = study.before.curve;
    out["result"] = result;
    out["toxic_layer"] = result.toxicLayer;
    out["loss_history"] = result.lossHistory;
    out["duration_seconds"] = result.durationSeconds;
    if (study.promptsAfter[0] != record.adversarialPrompt) out["prompt_after"] = study.promptsAfter[0];
    out["generation_before"] = study.before.answers.at(0);
    out["generation_after"] = study.after.answers.at(0);
    out["judge"] = study.judgeName;
    out["unsafe_before"] = study.before.unsafe.at(0);
    out["unsafe_after"] = study.after.unsafe.at(0);
    out["knowledge_before"] = study.before.knowledge ? nlohmann::json(*study.before.knowledge) : nlohmann::json();
    out["knowledge_after"] = study.after.knowledge ? nlohmann::json(*study.after.knowledge) : nlohmann::json();
    out["locate_after"] = study.after.curve;
    out["parameter_shift"] = study.shift;
    out["context"] = study.context;  // every cut of this run: prompts, locate texts, the method's training pairs
    printContextWarnings(study.context);
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
    withModelLoadOptions({
        {"model", "DIR", "HF checkpoint folder (with tokenizer.json)"},
        {"data", "FILE", "SafeEdit JSON file"},
        {"ids", "IDS", "comma-separated record ids"},
        {"variant", "NAME", "masked (default), easyedit (EasyEdit 2024-05..11: right padding) or easyedit-left (EasyEdit 2024-03 and current: left padding)"},
    }),
    runLocate,
});

const bool kEditRegistered = registerCommand({
    "edit",
    "detoxify one record with a registered method (" + methodNames(", ") + "); generations before/after",
    withModelLoadOptions({
        {"model", "DIR", "HF checkpoint folder (with tokenizer.json)"},
        {"data", "FILE", "SafeEdit JSON file"},
        {"id", "N", "the record to edit with"},
        {"method", "NAME", methodNames(", ")},
        {"save", "OUT_DIR", "write the edited checkpoint here"},
        {"steps", "N", "DINM: optimizer steps (10); SFT/DPO: epochs (1)"},
        {"lr", "X", "learning rate (DINM 5e-4, Mistral 1e-5; SFT 1e-5; DPO 5e-6)"},
        {"c-edit", "X", "DINM: weight of the edit loss (0.1)"},
        {"layer", "N", "DINM: edit this layer instead of the located one"},
        {"variant", "NAME", "DINM: locate variant, masked (default), easyedit (right padding) or easyedit-left (left padding; the --easyedit-compat default)"},
        {"norm-constraint", "X", "DINM: keep the edited matrix within W0 +- X"},
        {"easyedit-compat", "", "DINM: EasyEdit's DINM exactly (its texts, label alignment, no constraint gradient, GPT-2 bias, easyedit-left location); see docs/easyedit-deviations.md"},
        {"no-cache", "", "DINM: run the full model every step (for comparison)"},
        {"beta", "X", "DPO: beta (0.1)"},
        {"train-ids", "IDS|all", "SFT/DPO: train on these records of --data, or all (default: --id only)"},
        {"batch-size", "N", "SFT/DPO: pairs per step (1)"},
        {"train-layers", "IDS", "SFT/DPO: train only these layers"},
        {"train-pattern", "REGEX", "SFT/DPO: train only parameters whose name matches"},
        {"seed", "S", "seed (provenance; SFT/DPO example order)"},
        {"max-new-tokens", "N", "greedy generation length (64)"},
        {"chat-template", "NAME", "before/after answers: plain|llama2|mistral|chatml|zephyr|llama3 (default: the tokenizer's; plain with --easyedit-compat)"},
        {"eval-protocol", "plain|easyedit", "the answer after a weight edit: plain (default; easyedit with --easyedit-compat) or "
                                            "EasyEdit's evaluation of an edited model, the DINM suffix system prompt appended "
                                            "(prompt_after; eval_protocol in the output)"},
    }),
    runEdit,
});

}  // namespace
}  // namespace detox::cli
