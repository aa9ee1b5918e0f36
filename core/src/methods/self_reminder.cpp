// Self-Reminder (Xie et al. 2023), a prompt-only baseline: the user's message is wrapped in a system
// reminder to answer responsibly; no parameter changes.
#include "detox/methods/methods.h"
#include "methods/method_entries.h"

namespace detox {
namespace {

std::string remind(const std::string& before, const std::string& prompt, const std::string& after) {
    return before + "\n" + prompt + "\n\n" + after;
}

}  // namespace

std::string selfReminderPrompt(const std::string& userPrompt) {
    return remind(kSelfReminderBefore, userPrompt, kSelfReminderAfter);
}

const Method& selfReminderMethod() {
    static const Method method{
        MethodId::SelfReminder,
        "self-reminder",
        "Self-Reminder",
        "prompt-only baseline: the message wrapped in a reminder to answer responsibly",
        "self-reminder",
        false,
        {},
        "",
        "",
        [](const ModelConfig&) {
            return nlohmann::json{{"reminder_before", kSelfReminderBefore}, {"reminder_after", kSelfReminderAfter}};
        },
        [](ModelEditor& editor, const MethodInput&, const nlohmann::json& values, JobControl& job) {
            job.checkpoint();
            return promptOnlyResult(editor.model(), "self-reminder", values);
        },
        [](const std::string& prompt, const nlohmann::json& values) {
            return remind(values.at("reminder_before").get<std::string>(), prompt,
                          values.at("reminder_after").get<std::string>());
        },
    };
    return method;
}

}  // namespace detox
