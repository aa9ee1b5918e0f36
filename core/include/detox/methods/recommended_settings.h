// Method settings a checkpoint recommends for itself, read from DIR/detox_method_defaults.json.
//
// The paper's defaults (DINM lr 5e-4, SFT 1e-5, DPO 5e-6) were chosen for 7B models; a tiny model such
// as the demo model moves far less per step at those rates and needs larger ones. Such a model says so
// in this file, with the reason, and the GUI and CLI start from it (and show where each value came from).
// Explicit user settings always win.
//
// Layout: {"reason": "...", "dinm": {"learning_rate": X, "steps": N},
//          "sft": {"learning_rate": X, "epochs": N}, "dpo": {"learning_rate": X, "epochs": N}}
// Every key is optional. Which methods take a recommendation, and the name of their step count, is the
// method registry's (detox/methods/registry.h); other keys are ignored.
#pragma once
#include <map>
#include <optional>
#include <string>

namespace detox {

struct MethodRecommendation {
    std::optional<double> learningRate;
    std::optional<int> steps;        // DINM: optimizer steps; SFT/DPO: epochs
};

struct RecommendedSettings {
    std::map<std::string, MethodRecommendation> methods;  // by method name ("dinm", "sft", ...)
    std::string reason;
    std::string path;                // the file read; empty when the model has none
    bool empty() const { return path.empty(); }
    // The method's entry; empty when the file says nothing about it.
    MethodRecommendation recommendation(const std::string& method) const {
        const auto found = methods.find(method);
        return found == methods.end() ? MethodRecommendation{} : found->second;
    }
};

std::string recommendedSettingsFileName();   // "detox_method_defaults.json"

// No file: an empty result. A malformed file: detox::Error naming the file and the field.
RecommendedSettings loadRecommendedSettings(const std::string& modelDirectory);
// The file's JSON text for `settings` (path is not written).
std::string recommendedSettingsJson(const RecommendedSettings& settings);

}  // namespace detox
