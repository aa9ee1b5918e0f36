// Chat formats: detection from a Jinja chat_template and the exact text that template renders for one
// user turn (optional system prompt) with add_generation_prompt=true. We do not run Jinja; the
// renderings below follow the published templates of each model family.
#include "tokenizer/tokenizer_internal.h"

namespace detox::tok {
namespace {

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// Python's str.strip() / Jinja's trim: whitespace at both ends.
std::string trimmed(const std::string& text) {
    const char* space = " \t\n\r\f\v";
    size_t begin = text.find_first_not_of(space);
    if (begin == std::string::npos) return {};
    size_t end = text.find_last_not_of(space);
    return text.substr(begin, end - begin + 1);
}

}  // namespace

ChatTemplate detectChatTemplate(const std::string& templateText) {
    if (contains(templateText, "<|start_header_id|>")) return ChatTemplate::Llama3;
    if (contains(templateText, "<|im_start|>")) return ChatTemplate::ChatML;
    if (contains(templateText, "[INST]"))
        return contains(templateText, "<<SYS>>") ? ChatTemplate::Llama2 : ChatTemplate::Mistral;
    if (contains(templateText, "<|user|>") && (contains(templateText, "</s>") || contains(templateText, "eos_token")))
        return ChatTemplate::Zephyr;
    return ChatTemplate::Plain;
}

void readTemplateDetails(const std::string& templateText, ChatTemplate format, ChatTokens& tokens) {
    if (format == ChatTemplate::ChatML) {
        // Qwen2-style templates insert a fixed system turn when the conversation has none.
        const std::string opening = "<|im_start|>system\\n";
        size_t start = templateText.find(opening);
        if (start != std::string::npos) {
            start += opening.size();
            size_t end = templateText.find("<|im_end|>", start);
            if (end != std::string::npos) {
                std::string text = templateText.substr(start, end - start);
                if (!text.empty() && text.find_first_of("'\"{}+") == std::string::npos) tokens.defaultSystemPrompt = text;
            }
        }
    }
    if (format == ChatTemplate::Mistral && contains(templateText, "[/INST]") && !contains(templateText, " [/INST]"))
        tokens.instClose = "[/INST]";
}

std::string renderChat(ChatTemplate format, const ChatTokens& tokens, const std::string& user, const std::string& system) {
    switch (format) {
        case ChatTemplate::Plain:
            return system.empty() ? user : system + "\n\n" + user;
        case ChatTemplate::Llama2: {
            // bos + '[INST] ' + content.strip() + ' [/INST]', the system block inside the first turn.
            std::string content = system.empty() ? user : "<<SYS>>\n" + system + "\n<</SYS>>\n\n" + user;
            return tokens.bos + "[INST] " + trimmed(content) + " [/INST]";
        }
        case ChatTemplate::Mistral: {
            std::string content = system.empty() ? user : system + "\n\n" + user;
            return tokens.bos + "[INST] " + content + tokens.instClose;
        }
        case ChatTemplate::ChatML: {
            std::string systemText = system.empty() ? tokens.defaultSystemPrompt : system;
            std::string text;
            if (!systemText.empty()) text += "<|im_start|>system\n" + systemText + "<|im_end|>\n";
            return text + "<|im_start|>user\n" + user + "<|im_end|>\n<|im_start|>assistant\n";
        }
        case ChatTemplate::Zephyr: {
            std::string text;
            if (!system.empty()) text += "<|system|>\n" + system + tokens.eos + "\n";
            return text + "<|user|>\n" + user + tokens.eos + "\n<|assistant|>\n";
        }
        case ChatTemplate::Llama3: {
            auto turn = [](const std::string& role, const std::string& content) {
                return "<|start_header_id|>" + role + "<|end_header_id|>\n\n" + trimmed(content) + "<|eot_id|>";
            };
            std::string text = tokens.bos;
            if (!system.empty()) text += turn("system", system);
            return text + turn("user", user) + "<|start_header_id|>assistant<|end_header_id|>\n\n";
        }
    }
    return user;
}

}  // namespace detox::tok

namespace detox {

std::string chatTemplateName(ChatTemplate format) {
    switch (format) {
        case ChatTemplate::Plain: return "plain";
        case ChatTemplate::Llama2: return "llama2";
        case ChatTemplate::Mistral: return "mistral";
        case ChatTemplate::ChatML: return "chatml";
        case ChatTemplate::Zephyr: return "zephyr";
        case ChatTemplate::Llama3: return "llama3";
    }
    return "plain";
}

std::optional<ChatTemplate> chatTemplateFromName(const std::string& name) {
    for (ChatTemplate format : allChatTemplates())
        if (chatTemplateName(format) == name) return format;
    return std::nullopt;
}

std::vector<ChatTemplate> allChatTemplates() {
    return {ChatTemplate::Plain, ChatTemplate::Llama2, ChatTemplate::Mistral,
            ChatTemplate::ChatML, ChatTemplate::Zephyr, ChatTemplate::Llama3};
}

}  // namespace detox
