// EasyEdit's suffix system prompt as a prompt-only baseline: the adversarial prompt followed by the
// suffix DINM trains with (kDinmSuffixSystemPrompt, joined with a space as dinmInputs joins it), no
// parameter changes. It separates what the suffix alone does from what DINM's edit does.
#include "detox/methods/methods.h"
#include "methods/method_entries.h"

namespace detox {

const Method& suffixPromptMethod() {
    static const Method method{
        MethodId::SuffixPrompt,
        "suffix-prompt",
        "Suffix prompt",
        "prompt-only baseline: the message followed by EasyEdit's DINM suffix system prompt",
        "suffix-prompt",
        false,
        {},
        "",
        "",
        [](const ModelConfig&) { return nlohmann::json{{"suffix_system_prompt", kDinmSuffixSystemPrompt}}; },
        [](ModelEditor& editor, const MethodInput&, const nlohmann::json& values, JobControl& job) {
            job.checkpoint();
            return promptOnlyResult(editor.model(), "suffix-prompt", values);
        },
        [](const std::string& prompt, const nlohmann::json& values) {
            const std::string suffix = values.at("suffix_system_prompt").get<std::string>();
            return suffix.empty() ? prompt : prompt + " " + suffix;
        },
    };
    return method;
}

}  // namespace detox
