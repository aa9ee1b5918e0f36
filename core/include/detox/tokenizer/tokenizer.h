// Tokenizers read from HuggingFace tokenizer.json (+ optional tokenizer_config.json).
// Supports BPE with byte-level (GPT-2, Qwen2, Llama-3) and sentencepiece-style (Llama-2, Mistral) set-ups.
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace detox {

// Chat formats the workbench knows; detected from tokenizer_config.json's chat_template, user-selectable.
enum class ChatTemplate { Plain, Llama2, Mistral, ChatML, Zephyr, Llama3 };

std::string chatTemplateName(ChatTemplate format);                  // "plain", "llama2", "mistral", "chatml", "zephyr", "llama3"
std::optional<ChatTemplate> chatTemplateFromName(const std::string& name);
std::vector<ChatTemplate> allChatTemplates();

class Tokenizer {
public:
    // Reads DIR/tokenizer.json and, where present, DIR/tokenizer_config.json. Throws detox::Error.
    static Tokenizer fromDirectory(const std::string& directory);
    // configJsonPath may be empty.
    static Tokenizer fromFiles(const std::string& tokenizerJsonPath, const std::string& configJsonPath = {});

    // Text to ids. addSpecialTokens applies the tokenizer's post-processor (e.g. BOS for Llama-2).
    // Added/special tokens written literally in the text (e.g. "<|im_start|>") are recognised as such.
    std::vector<int> encode(const std::string& text, bool addSpecialTokens = true) const;
    std::string decode(const std::vector<int>& ids, bool skipSpecialTokens = true) const;

    std::string idToToken(int id) const;                        // the vocabulary string ("Ġthe", "▁the", "<0x0A>")
    std::optional<int> tokenToId(const std::string& token) const;
    int vocabSize() const;                                      // largest id + 1, added tokens included
    bool isSpecial(int id) const;

    std::optional<int> bosId() const;
    std::optional<int> eosId() const;
    std::optional<int> padId() const;                           // falls back to nothing; callers choose EOS

    ChatTemplate detectedChatTemplate() const;                  // Plain when nothing is recognised
    // One user turn (and optional system prompt) formatted for generation: the assistant's turn is open.
    // The result contains special tokens as text; encode it with addSpecialTokens = false.
    std::string applyChatTemplate(const std::string& userMessage, ChatTemplate format,
                                  const std::string& systemPrompt = {}) const;

    const std::string& sourcePath() const;                      // the tokenizer.json read

    struct Impl;
private:
    explicit Tokenizer(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
    std::shared_ptr<const Impl> impl_;
};

}  // namespace detox
