// The registry entries, one per method, each defined in the method's own source file
// (dinm.cpp, sft.cpp, dpo.cpp, self_reminder.cpp, suffix_prompt.cpp) and listed in registry.cpp.
#pragma once
#include "detox/methods/registry.h"

namespace detox {

const Method& dinmMethod();
const Method& sftMethod();
const Method& dpoMethod();
const Method& selfReminderMethod();
const Method& suffixPromptMethod();

// For prompt-only baselines: a result that records the method and its settings and changes nothing.
EditResult promptOnlyResult(const Model& model, const std::string& method, const nlohmann::json& settings);

// Form fields most methods share.
SettingField learningRateField();
SettingField countField(const std::string& key, const std::string& label);

}  // namespace detox
