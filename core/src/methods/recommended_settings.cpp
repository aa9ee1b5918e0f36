#include "detox/methods/recommended_settings.h"

#include <filesystem>
#include <nlohmann/json.hpp>

#include "detox/error.h"
#include "detox/fileio.h"
#include "detox/methods/registry.h"

namespace detox {
namespace {

// The registered methods that take a recommendation, in registry order.
std::vector<const Method*> recommendable() {
    std::vector<const Method*> methods;
    for (const Method& method : methodRegistry())
        if (!method.stepsKey.empty()) methods.push_back(&method);
    return methods;
}

MethodRecommendation parseMethod(const nlohmann::json& json, const std::string& file, const Method& entry) {
    const std::string& method = entry.name;
    if (!json.is_object()) throw Error(file, method, "expected an object");
    MethodRecommendation recommendation;
    if (json.contains("learning_rate")) {
        const auto& rate = json["learning_rate"];
        if (!rate.is_number() || rate.get<double>() <= 0)
            throw Error(file, method + ".learning_rate", "expected a positive number");
        recommendation.learningRate = rate.get<double>();
    }
    const std::string& key = entry.recommendationStepsName;
    if (json.contains(key)) {
        const auto& steps = json[key];
        if (!steps.is_number_integer() || steps.get<int>() < 1)
            throw Error(file, method + "." + key, "expected an integer of at least 1");
        recommendation.steps = steps.get<int>();
    }
    return recommendation;
}

}  // namespace

std::string recommendedSettingsFileName() { return "detox_method_defaults.json"; }

RecommendedSettings loadRecommendedSettings(const std::string& modelDirectory) {
    const std::string file = (std::filesystem::path(modelDirectory) / recommendedSettingsFileName()).string();
    RecommendedSettings settings;
    if (!std::filesystem::exists(file)) return settings;
    nlohmann::json json;
    try {
        json = nlohmann::json::parse(readFile(file));
    } catch (const nlohmann::json::exception& error) {
        throw Error(file, "", std::string("expected JSON: ") + error.what());
    }
    if (!json.is_object()) throw Error(file, "", "expected a JSON object");
    if (json.contains("reason")) {
        if (!json["reason"].is_string()) throw Error(file, "reason", "expected a string");
        settings.reason = json["reason"].get<std::string>();
    }
    for (const Method* method : recommendable())
        if (json.contains(method->name)) settings.methods[method->name] = parseMethod(json[method->name], file, *method);
    settings.path = file;
    return settings;
}

std::string recommendedSettingsJson(const RecommendedSettings& settings) {
    nlohmann::ordered_json json;
    if (!settings.reason.empty()) json["reason"] = settings.reason;
    for (const Method* method : recommendable()) {
        const MethodRecommendation recommendation = settings.recommendation(method->name);
        nlohmann::ordered_json entry = nlohmann::ordered_json::object();
        if (recommendation.learningRate) entry["learning_rate"] = *recommendation.learningRate;
        if (recommendation.steps) entry[method->recommendationStepsName] = *recommendation.steps;
        if (!entry.empty()) json[method->name] = entry;
    }
    return json.dump(2) + "\n";
}

}  // namespace detox
