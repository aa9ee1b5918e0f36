// JSON forms of the method results and settings.
#include <ctime>

#include "detox/error.h"
#include "detox/analysis/locate.h"
#include "detox/methods/methods.h"
#include "detox/results.h"

namespace detox {

namespace {
template <typename T>
void readOptional(const nlohmann::json& json, const char* key, T& target) {
    if (json.contains(key) && !json.at(key).is_null()) target = json.at(key).get<T>();
}
}  // namespace

std::string utcTimestamp() {
    std::time_t now = std::time(nullptr);
    std::tm parts{};
    gmtime_r(&now, &parts);
    char text[32];
    std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &parts);
    return text;
}

void to_json(nlohmann::json& json, const Provenance& p) {
    json = {{"app_version", p.appVersion}, {"model_directory", p.modelDirectory}, {"model_hash", p.modelHash},
            {"model_weights", p.modelWeights},
            {"dataset_path", p.datasetPath}, {"dataset_hash", p.datasetHash},     {"method", p.method},
            {"settings", p.settings},        {"seed", p.seed},                    {"started_at", p.startedAt}};
    json["context"] = p.context;
}

void from_json(const nlohmann::json& json, Provenance& p) {
    readOptional(json, "app_version", p.appVersion);
    readOptional(json, "model_directory", p.modelDirectory);
    readOptional(json, "model_hash", p.modelHash);
    readOptional(json, "model_weights", p.modelWeights);
    readOptional(json, "dataset_path", p.datasetPath);
    readOptional(json, "dataset_hash", p.datasetHash);
    readOptional(json, "method", p.method);
    if (json.contains("settings")) p.settings = json.at("settings");
    readOptional(json, "seed", p.seed);
    readOptional(json, "started_at", p.startedAt);
    readOptional(json, "context", p.context);
}

void to_json(nlohmann::json& json, const LossRecord& r) {
    json = {{"step", r.step}, {"loss", r.total}, {"edit_loss", r.edit}, {"constraint_loss", r.constraint}};
}

void from_json(const nlohmann::json& json, LossRecord& r) {
    r.step = json.at("step").get<int>();
    r.total = json.at("loss").get<double>();
    readOptional(json, "edit_loss", r.edit);
    readOptional(json, "constraint_loss", r.constraint);
}

void to_json(nlohmann::json& json, const EditResult& r) {
    json = {{"method", r.method},
            {"settings", r.settings},
            {"provenance", r.provenance},
            {"toxic_layer", r.toxicLayer},
            {"loss_history", r.lossHistory},
            {"duration_seconds", r.durationSeconds},
            {"changed_tensors", r.changedTensors},
            {"cancelled", r.cancelled}};
}

void from_json(const nlohmann::json& json, EditResult& r) {
    r.method = json.at("method").get<std::string>();
    if (json.contains("settings")) r.settings = json.at("settings");
    readOptional(json, "provenance", r.provenance);
    readOptional(json, "toxic_layer", r.toxicLayer);
    readOptional(json, "loss_history", r.lossHistory);
    readOptional(json, "duration_seconds", r.durationSeconds);
    readOptional(json, "changed_tensors", r.changedTensors);
    readOptional(json, "cancelled", r.cancelled);
}

void to_json(nlohmann::json& json, const LocateResult& r) {
    json = {{"id", r.recordId}, {"variant", r.variant}, {"distances", r.distances}, {"toxic_layer", r.toxicLayer}};
    if (!r.padding.empty()) json["padding"] = r.padding;
    if (!r.easyeditVersion.empty()) json["easyedit_version"] = r.easyeditVersion;
    json["context"] = r.context;
}

void from_json(const nlohmann::json& json, LocateResult& r) {
    r.recordId = json.at("id").get<int>();
    r.variant = json.at("variant").get<std::string>();
    r.distances = json.at("distances").get<std::vector<double>>();
    r.toxicLayer = json.at("toxic_layer").get<int>();
    readOptional(json, "padding", r.padding);
    readOptional(json, "easyedit_version", r.easyeditVersion);
    readOptional(json, "context", r.context);
}

void to_json(nlohmann::json& json, const DinmSettings& s) {
    json = {{"learning_rate", s.learningRate},
            {"weight_decay", s.weightDecay},
            {"max_steps", s.maxSteps},
            {"edit_loss_weight", s.editLossWeight},
            {"stop_loss", s.stopLoss},
            {"norm_constraint", s.normConstraint ? nlohmann::json(*s.normConstraint) : nlohmann::json(nullptr)},
            {"constraint_gradient", s.constraintGradient},
            {"constraint_mode", s.constraintGradient && !s.easyeditCompat ? "kl with gradient"
                                                                          : "constraint without gradient (EasyEdit)"},
            {"easyedit_compat", s.easyeditCompat},
            {"suffix_system_prompt", s.suffixSystemPrompt},
            {"locate_variant", locateVariantName(s.locateVariant)},
            {"layer", s.layer ? nlohmann::json(*s.layer) : nlohmann::json(nullptr)},
            {"cache_lower_layers", s.cacheLowerLayers},
            {"seed", s.seed}};
}

namespace {

// The training-loop settings SFT and DPO share (same member names in both structs).
template <typename TrainingSettings>
nlohmann::json sharedTrainingJson(const TrainingSettings& s) {
    return {{"parameters", s.parameters},   {"learning_rate", s.learningRate},
            {"weight_decay", s.weightDecay}, {"epochs", s.epochs},
            {"batch_size", s.batchSize},     {"gradient_accumulation", s.gradientAccumulation},
            {"max_length", s.maxLength},     {"max_grad_norm", s.maxGradNorm},
            {"shuffle", s.shuffle},          {"seed", s.seed}};
}

template <typename TrainingSettings>
void readSharedTrainingSettings(const nlohmann::json& json, TrainingSettings& s) {
    readOptional(json, "parameters", s.parameters);
    readOptional(json, "learning_rate", s.learningRate);
    readOptional(json, "weight_decay", s.weightDecay);
    readOptional(json, "epochs", s.epochs);
    readOptional(json, "batch_size", s.batchSize);
    readOptional(json, "gradient_accumulation", s.gradientAccumulation);
    readOptional(json, "max_length", s.maxLength);
    readOptional(json, "max_grad_norm", s.maxGradNorm);
    readOptional(json, "shuffle", s.shuffle);
    readOptional(json, "seed", s.seed);
}

}  // namespace

void to_json(nlohmann::json& json, const SftSettings& s) {
    json = sharedTrainingJson(s);
    if (s.maxSteps > 0) json["max_steps"] = s.maxSteps;
    if (s.warmupSteps > 0) json["warmup_steps"] = s.warmupSteps;
    if (s.learningRateSchedule != "constant") json["learning_rate_schedule"] = s.learningRateSchedule;
}

void to_json(nlohmann::json& json, const DpoSettings& s) {
    json = sharedTrainingJson(s);
    json["beta"] = s.beta;
}

void from_json(const nlohmann::json& json, ParameterSelection& s) {
    readOptional(json, "layers", s.layers);
    readOptional(json, "name_patterns", s.namePatterns);
}

void from_json(const nlohmann::json& json, DinmSettings& s) {
    readOptional(json, "learning_rate", s.learningRate);
    readOptional(json, "weight_decay", s.weightDecay);
    readOptional(json, "max_steps", s.maxSteps);
    readOptional(json, "edit_loss_weight", s.editLossWeight);
    readOptional(json, "stop_loss", s.stopLoss);
    s.normConstraint.reset();
    if (json.contains("norm_constraint") && !json.at("norm_constraint").is_null())
        s.normConstraint = json.at("norm_constraint").get<double>();
    readOptional(json, "constraint_gradient", s.constraintGradient);
    readOptional(json, "easyedit_compat", s.easyeditCompat);
    readOptional(json, "suffix_system_prompt", s.suffixSystemPrompt);
    if (json.contains("locate_variant")) {
        const std::string name = json.at("locate_variant").get<std::string>();
        const auto variant = locateVariantFromName(name);
        if (!variant) throw Error("", "locate_variant", "must be " + locateVariantChoices() + ", got '" + name + "'");
        s.locateVariant = *variant;
    }
    s.layer.reset();
    if (json.contains("layer") && !json.at("layer").is_null()) s.layer = json.at("layer").get<int>();
    readOptional(json, "cache_lower_layers", s.cacheLowerLayers);
    readOptional(json, "seed", s.seed);
}

void from_json(const nlohmann::json& json, SftSettings& s) {
    readSharedTrainingSettings(json, s);
    readOptional(json, "max_steps", s.maxSteps);
    readOptional(json, "warmup_steps", s.warmupSteps);
    readOptional(json, "learning_rate_schedule", s.learningRateSchedule);
}

void from_json(const nlohmann::json& json, DpoSettings& s) {
    readSharedTrainingSettings(json, s);
    readOptional(json, "beta", s.beta);
}

std::string editModeName(EditMode mode) { return mode == EditMode::Reset ? "reset" : "sequential"; }

}  // namespace detox
