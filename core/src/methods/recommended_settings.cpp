#include "detox/methods/recommended_settings.h"

#include <filesystem>
#include <nlohmann/json.hpp>

#include "detox/error.h"
#include "detox/fileio.h"

namespace detox {
namespace {

const char* kMethods[] = {"dinm", "sft", "dpo"};

MethodRecommendation RecommendedSettings::*memberOf(const std::string& method) {
    return method == "dinm" ? &RecommendedSettings::dinm : method == "sft" ? &RecommendedSettings::sft : &RecommendedSettings::dpo;
}

const char* stepsKey(const std::string& method) { return method == "dinm" ? "steps" : "epochs"; }

MethodRecommendation parseMethod(const nlohmann::json& json, const std::string& file, const std::string& method) {
    if (!json.is_object()) throw Error(file, method, "expected an object");
    MethodRecommendation recommendation;
    if (json.contains("learning_rate")) {
        const auto& rate = json["learning_rate"];
        if (!rate.is_number() || rate.get<double>() <= 0)
            throw Error(file, method + ".learning_rate", "expected a positive number");
        recommendation.learningRate = rate.get<double>();
    }
    const std::string key = stepsKey(method);
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
    for (const std::string method : kMethods)
        if (json.contains(method)) settings.*memberOf(method) = parseMethod(json[method], file, method);
    settings.path = file;
    return settings;
}

std::string recommendedSettingsJson(const RecommendedSettings& settings) {
    nlohmann::ordered_json json;
    if (!settings.reason.empty()) json["reason"] = settings.reason;
    for (const std::string method : kMethods) {
        const MethodRecommendation& recommendation = settings.*memberOf(method);
        nlohmann::ordered_json entry = nlohmann::ordered_json::object();
        if (recommendation.learningRate) entry["learning_rate"] = *recommendation.learningRate;
        if (recommendation.steps) entry[stepsKey(method)] = *recommendation.steps;
        if (!entry.empty()) json[method] = entry;
    }
    return json.dump(2) + "\n";
}

}  // namespace detox
