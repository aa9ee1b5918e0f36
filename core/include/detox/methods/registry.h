// The detoxification methods as one registry: every front end (the GUI's Edit view and dataset
// comparison, `detox edit`, `detox compare`, `detox report`) and compareMethods list, configure and run a
// method through its entry here, never by comparing its name.
//
// An entry carries the method's name, its settings (as the JSON object its settings type writes, with
// the form a front end shows for them), the paper's defaults, how a model's detox_method_defaults.json
// applies to it, what it does to a record (an edit of the weights and/or a different prompt) and the
// semantic key plots colour it by. resolveSettings is the one place defaults are merged:
//     paper defaults  <  the model's recommendation  <  what the user gave,
// with the source of every value.
//
// Adding a method: its own source file in core/src/methods/ defines `const Method& xyzMethod()`
// (settings type, defaults, run), one MethodId value and one line in registry.cpp's table.
#pragma once
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "detox/checkpoint/checkpoint.h"
#include "detox/job.h"
#include "detox/methods/recommended_settings.h"
#include "detox/results.h"
#include "detox/safeedit/safeedit.h"

namespace detox {

class Model;
class ModelEditor;

// Registry order: the order front ends list the methods in.
enum class MethodId { Dinm, Sft, Dpo, SelfReminder, SuffixPrompt };

enum class SettingSource { Paper, ModelRecommendation, User };
std::string settingSourceName(SettingSource source);  // "paper", "model recommendation", "user"

// One method's settings: the JSON object of its settings type (the one written into EditResult::settings
// and the provenance) and where each value came from.
struct ResolvedSettings {
    MethodId method{};
    nlohmann::json values = nlohmann::json::object();
    std::map<std::string, SettingSource> sources;  // one per key of values
    std::string recommendationFile;                // the model's file when it supplied a value, else empty
    std::string recommendationReason;
    SettingSource source(const std::string& key) const;  // Paper for a key that is not listed
    bool fromRecommendation() const { return !recommendationFile.empty(); }
};

// One value of a method's settings form (GUI spin box, CLI option).
struct SettingField {
    std::string key;        // in ResolvedSettings::values
    std::string label;      // "Learning rate"
    bool integer = false;
    double minimum = 0, maximum = 1;
    int decimals = 0;       // spin box decimals (doubles)
    bool flag = false;      // a check box: the value is true or false (minimum/maximum/integer unused)
};

// What a method works on for one record.
struct MethodInput {
    const SafeEditRecord& record;
    std::vector<SafeEditRecord> trainingRecords;  // SFT/DPO pairs; empty = the record alone
    int locatedLayer = -1;                        // the record's toxic layer when already located
};

struct Method {
    MethodId id{};
    std::string name;            // "dinm": command lines, result files, settings keys
    std::string label;           // "DINM": tables, legends, menus
    std::string summary;         // one line for help texts
    std::string plotRole;        // colour key of its series: "method:dinm"
    bool changesWeights = true;  // false: a prompt-only baseline (the model is never touched)
    std::vector<SettingField> form;
    // The values key that a recommendation's steps/epochs sets ("max_steps", "epochs"); empty: the method
    // takes no recommendation. recommendationStepsName is that count's name in the file ("steps", "epochs").
    std::string stepsKey;
    std::string recommendationStepsName;
    std::function<nlohmann::json(const ModelConfig&)> paperDefaults;
    // Runs the method on the editor's model (prompt-only methods return a result without steps).
    std::function<EditResult(ModelEditor&, const MethodInput&, const nlohmann::json& settings, JobControl&)> run;
    // The message the model answers after the method instead of `prompt` (identity for weight edits).
    std::function<std::string(const std::string& prompt, const nlohmann::json& settings)> promptAfter;
};

const std::vector<Method>& methodRegistry();
const Method& methodInfo(MethodId id);
const Method* findMethod(const std::string& name);
// Throws detox::Error (field "method") naming every registered method.
const Method& methodByName(const std::string& name);
std::string methodNames(const std::string& separator = ", ");  // "dinm, sft, dpo, self-reminder, suffix-prompt"

// The settings `method` runs with: the paper's defaults for this model's configuration, what the model
// recommends (recommended: the model's detox_method_defaults.json, or empty) and userSettings on top
// (any subset of the values' keys; an unknown key throws detox::Error).
ResolvedSettings resolveSettings(const ModelConfig& config, const RecommendedSettings& recommended, MethodId method,
                                 const nlohmann::json& userSettings = nlohmann::json::object());
// The same for a loaded model, reading its detox_method_defaults.json (a malformed file throws).
ResolvedSettings resolveSettings(const Model& model, MethodId method,
                                 const nlohmann::json& userSettings = nlohmann::json::object());

}  // namespace detox
