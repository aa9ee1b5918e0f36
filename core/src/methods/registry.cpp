// The method registry and the one place method settings are resolved (detox/methods/registry.h).
#include "detox/methods/registry.h"

#include "detox/error.h"
#include "detox/methods/methods.h"
#include "methods/method_common.h"
#include "methods/method_entries.h"

namespace detox {

const std::vector<Method>& methodRegistry() {
    // In MethodId order.
    static const std::vector<Method> registry{dinmMethod(), sftMethod(), dpoMethod(), selfReminderMethod(),
                                              suffixPromptMethod()};
    return registry;
}

const Method& methodInfo(MethodId id) { return methodRegistry().at(size_t(id)); }

const Method* findMethod(const std::string& name) {
    for (const Method& method : methodRegistry())
        if (method.name == name) return &method;
    return nullptr;
}

std::string methodNames(const std::string& separator) {
    std::string names;
    for (const Method& method : methodRegistry()) names += (names.empty() ? "" : separator) + method.name;
    return names;
}

const Method& methodByName(const std::string& name) {
    if (const Method* method = findMethod(name)) return *method;
    throw Error("", "method", "'" + name + "' is not one of " + methodNames());
}

std::string settingSourceName(SettingSource source) {
    switch (source) {
        case SettingSource::Paper: return "paper";
        case SettingSource::ModelRecommendation: return "model recommendation";
        case SettingSource::User: return "user";
    }
    return "";
}

SettingSource ResolvedSettings::source(const std::string& key) const {
    const auto found = sources.find(key);
    return found == sources.end() ? SettingSource::Paper : found->second;
}

ResolvedSettings resolveSettings(const ModelConfig& config, const RecommendedSettings& recommended, MethodId id,
                                 const nlohmann::json& userSettings) {
    const Method& method = methodInfo(id);
    ResolvedSettings resolved;
    resolved.method = id;
    resolved.values = method.paperDefaults(config);
    for (const auto& [key, value] : resolved.values.items()) resolved.sources[key] = SettingSource::Paper;
    auto set = [&](const std::string& key, const nlohmann::json& value, SettingSource source) {
        resolved.values[key] = value;
        resolved.sources[key] = source;
    };
    if (!method.stepsKey.empty()) {
        const MethodRecommendation recommendation = recommended.recommendation(method.name);
        if (recommendation.learningRate) set("learning_rate", *recommendation.learningRate, SettingSource::ModelRecommendation);
        if (recommendation.steps) set(method.stepsKey, *recommendation.steps, SettingSource::ModelRecommendation);
        if (recommendation.learningRate || recommendation.steps) {
            resolved.recommendationFile = recommended.path;
            resolved.recommendationReason = recommended.reason;
        }
    }
    if (!userSettings.is_null() && !userSettings.is_object()) throw Error("", "settings", "expected an object");
    if (userSettings.is_object())
        for (const auto& [key, value] : userSettings.items()) {
            if (!resolved.values.contains(key))
                throw Error("", method.name + "." + key, "is not a setting of " + method.label);
            set(key, value, SettingSource::User);
        }
    return resolved;
}

ResolvedSettings resolveSettings(const Model& model, MethodId method, const nlohmann::json& userSettings) {
    return resolveSettings(model.config(), loadRecommendedSettings(model.directory()), method, userSettings);
}

EditResult promptOnlyResult(const Model& model, const std::string& method, const nlohmann::json& settings) {
    EditResult result;
    result.method = method;
    result.settings = settings;
    result.provenance = makeProvenance(model, method, settings, 0);
    return result;
}

SettingField learningRateField() { return {"learning_rate", "Learning rate", false, 1e-8, 1.0, 8}; }

SettingField countField(const std::string& key, const std::string& label) { return {key, label, true, 1, 100000, 0}; }

}  // namespace detox
