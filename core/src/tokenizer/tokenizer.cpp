// detox::Tokenizer: loading tokenizer.json (+ tokenizer_config.json) and the encode/decode pipeline.
#include <algorithm>
#include <filesystem>
#include <unordered_set>

#include "detox/error.h"
#include "detox/fileio.h"
#include "detox/tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_internal.h"

namespace detox {

using tok::Json;
using tok::JsonPlace;

namespace {

struct AddedToken {
    std::string content;
    int id = 0;
    bool special = false;
    bool lstrip = false;
    bool rstrip = false;
    bool singleWord = false;
};

Json parseJsonFile(const std::string& path) {
    std::string text = readFile(path);
    try {
        return Json::parse(text);
    } catch (const Json::exception& e) {  // parse_error, and out_of_range for a number like 1e1000
        throw Error(path, "", std::string("not valid JSON: ") + e.what());
    }
}

bool isSpaceByte(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
bool isWordByte(char c) {
    unsigned char u = static_cast<unsigned char>(c);
    return std::isalnum(u) || c == '_' || u >= 0x80;
}

// A special-token entry in tokenizer_config.json: "<s>" or {"content": "<s>", ...}.
std::optional<std::string> configTokenText(const Json& config, const std::string& key) {
    auto it = config.find(key);
    if (it == config.end()) return std::nullopt;
    if (it->is_string()) return it->get<std::string>();
    if (it->is_object() && it->contains("content") && (*it)["content"].is_string()) return (*it)["content"].get<std::string>();
    return std::nullopt;
}

}  // namespace

struct Tokenizer::Impl {
    std::string path;
    std::unique_ptr<tok::Normalizer> normalizer;
    std::unique_ptr<tok::PreTokenizer> preTokenizer;
    std::unique_ptr<tok::BpeModel> model;
    std::unique_ptr<tok::Decoder> decoder;
    tok::PostProcessor postProcessor;

    std::vector<AddedToken> added;                       // longest content first, for matching
    std::unordered_map<std::string, int> addedByContent;
    std::unordered_map<int, std::string> tokenById;      // model vocabulary and added tokens
    std::unordered_set<int> specialIds;
    int vocabSize = 0;

    std::optional<int> bos, eos, pad;
    ChatTemplate chatTemplate = ChatTemplate::Plain;
    tok::ChatTokens chatTokens;

    std::optional<int> lookup(const std::string& token) const {
        if (auto it = addedByContent.find(token); it != addedByContent.end()) return it->second;
        if (auto it = model->vocab().find(token); it != model->vocab().end()) return it->second;
        return std::nullopt;
    }

    void addToken(const AddedToken& token) {
        if (addedByContent.count(token.content)) return;
        addedByContent[token.content] = token.id;
        tokenById[token.id] = token.content;
        if (token.special) specialIds.insert(token.id);
        added.push_back(token);
        vocabSize = std::max(vocabSize, token.id + 1);
    }

    // A piece of input: ordinary text, or one added token.
    struct Segment {
        std::string text;
        std::optional<int> addedId;
        bool atStart = false;
    };
    std::vector<Segment> splitOnAddedTokens(const std::string& text) const;
    void encodeText(const std::string& text, bool atStart, std::vector<int>& ids) const;
};

std::vector<Tokenizer::Impl::Segment> Tokenizer::Impl::splitOnAddedTokens(const std::string& text) const {
    std::vector<Segment> segments;
    size_t textStart = 0;  // start of the pending ordinary text
    size_t pos = 0;
    while (pos < text.size()) {
        const AddedToken* match = nullptr;
        for (const auto& token : added) {  // longest first, so the first hit is the longest
            if (text.compare(pos, token.content.size(), token.content) != 0) continue;
            if (token.singleWord) {
                bool wordBefore = pos > 0 && isWordByte(text[pos - 1]);
                size_t after = pos + token.content.size();
                bool wordAfter = after < text.size() && isWordByte(text[after]);
                if (wordBefore || wordAfter) continue;
            }
            match = &token;
            break;
        }
        if (!match) {
            ++pos;
            continue;
        }
        size_t textEnd = pos;
        if (match->lstrip)
            while (textEnd > textStart && isSpaceByte(text[textEnd - 1])) --textEnd;
        if (textEnd > textStart) segments.push_back({text.substr(textStart, textEnd - textStart), {}, textStart == 0});
        segments.push_back({match->content, match->id, false});
        pos += match->content.size();
        if (match->rstrip)
            while (pos < text.size() && isSpaceByte(text[pos])) ++pos;
        textStart = pos;
    }
    if (textStart < text.size()) segments.push_back({text.substr(textStart), {}, textStart == 0});
    return segments;
}

void Tokenizer::Impl::encodeText(const std::string& text, bool atStart, std::vector<int>& ids) const {
    std::string normalized = text;
    if (normalizer) normalizer->normalize(normalized);
    if (!preTokenizer) {
        model->tokenize(normalized, ids);
        return;
    }
    for (const auto& word : preTokenizer->split(normalized, atStart)) model->tokenize(word, ids);
}

Tokenizer Tokenizer::fromDirectory(const std::string& directory) {
    namespace fs = std::filesystem;
    fs::path dir(directory);
    fs::path tokenizerJson = dir / "tokenizer.json";
    if (!fs::is_directory(dir)) throw Error(directory, "", "not a directory (expected a model folder with tokenizer.json)");
    if (!fs::exists(tokenizerJson))
        throw Error(tokenizerJson.string(), "", "not found (only HuggingFace tokenizer.json tokenizers are supported)");
    fs::path config = dir / "tokenizer_config.json";
    return fromFiles(tokenizerJson.string(), fs::exists(config) ? config.string() : std::string());
}

Tokenizer Tokenizer::fromFiles(const std::string& tokenizerJsonPath, const std::string& configJsonPath) {
    auto impl = std::make_shared<Impl>();
    impl->path = tokenizerJsonPath;
    const Json root = parseJsonFile(tokenizerJsonPath);
    const JsonPlace top{impl->path, ""};
    if (!root.is_object()) top.fail("expected a JSON object (a HuggingFace tokenizer.json)");

    impl->model = std::make_unique<tok::BpeModel>(tok::requireField(root, top, "model"), top.at("model"));
    for (const auto& [token, id] : impl->model->vocab()) {
        impl->tokenById[id] = token;
        impl->vocabSize = std::max(impl->vocabSize, id + 1);
    }
    if (root.contains("normalizer") && !root["normalizer"].is_null())
        impl->normalizer = tok::makeNormalizer(root["normalizer"], top.at("normalizer"));
    if (root.contains("pre_tokenizer") && !root["pre_tokenizer"].is_null())
        impl->preTokenizer = tok::makePreTokenizer(root["pre_tokenizer"], top.at("pre_tokenizer"));
    if (root.contains("decoder") && !root["decoder"].is_null())
        impl->decoder = tok::makeDecoder(root["decoder"], top.at("decoder"));

    if (root.contains("added_tokens") && !root["added_tokens"].is_null()) {
        const Json& list = root["added_tokens"];
        if (!list.is_array()) top.at("added_tokens").fail("expected an array of added tokens");
        for (size_t i = 0; i < list.size(); ++i) {
            JsonPlace where = top.at("added_tokens").at(i);
            AddedToken token;
            token.content = tok::requireString(list[i], where, "content");
            const Json& id = tok::requireField(list[i], where, "id");
            // Compared as a JSON number, never narrowed first: 4294967297 must not wrap to 1.
            if (!id.is_number_integer() || (id.is_number_unsigned() ? id.get<uint64_t>() >= uint64_t(INT32_MAX)
                                                                     : id.get<int64_t>() < 0 || id.get<int64_t>() >= INT32_MAX))
                where.at("id").fail("expected a token id in [0, 2^31 - 1), got " + id.dump());
            token.id = id.get<int>();
            if (token.content.empty()) where.at("content").fail("expected a non-empty string");
            token.special = tok::boolOr(list[i], where, "special", false);
            token.lstrip = tok::boolOr(list[i], where, "lstrip", false);
            token.rstrip = tok::boolOr(list[i], where, "rstrip", false);
            token.singleWord = tok::boolOr(list[i], where, "single_word", false);
            impl->addToken(token);
        }
    }

    Json config = Json::object();
    if (!configJsonPath.empty()) {
        config = parseJsonFile(configJsonPath);
        if (!config.is_object()) throw Error(configJsonPath, "", "expected a JSON object (tokenizer_config.json)");
        const JsonPlace configTop{configJsonPath, ""};
        if (config.contains("added_tokens_decoder") && config["added_tokens_decoder"].is_object()) {
            for (const auto& [idText, entry] : config["added_tokens_decoder"].items()) {
                JsonPlace where = configTop.at("added_tokens_decoder").at(idText);
                AddedToken token;
                // Only plain digits: "-4", "+4" or "4abc" are not token ids.
                if (idText.empty() || idText.size() > 10 || idText.find_first_not_of("0123456789") != std::string::npos ||
                    std::stoll(idText) >= INT32_MAX)
                    where.fail("expected a token id in [0, 2^31 - 1) as the key, got \"" + idText + "\"");
                token.id = int(std::stoll(idText));
                token.content = tok::requireString(entry, where, "content");
                token.special = tok::boolOr(entry, where, "special", false);
                token.lstrip = tok::boolOr(entry, where, "lstrip", false);
                token.rstrip = tok::boolOr(entry, where, "rstrip", false);
                token.singleWord = tok::boolOr(entry, where, "single_word", false);
                impl->addToken(token);
            }
        }
    }
    std::stable_sort(impl->added.begin(), impl->added.end(),
                     [](const AddedToken& a, const AddedToken& b) { return a.content.size() > b.content.size(); });

    // Post-processor from tokenizer.json; Llama-family tokenizer classes in transformers rebuild it from
    // add_bos_token/add_eos_token, and a missing one is taken from them too.
    const Json postSpec = root.contains("post_processor") ? root["post_processor"] : Json();
    impl->postProcessor = tok::makePostProcessor(postSpec, top.at("post_processor"),
                                                 [&](const std::string& name) { return impl->lookup(name); });
    const std::string tokenizerClass = config.contains("tokenizer_class") && config["tokenizer_class"].is_string()
                                           ? config["tokenizer_class"].get<std::string>() : "";
    const bool llamaClass = tokenizerClass.rfind("Llama", 0) == 0 || tokenizerClass.rfind("CodeLlama", 0) == 0 ||
                            tokenizerClass.rfind("Gemma", 0) == 0;

    auto tokenIdFromConfig = [&](const std::string& key) -> std::optional<int> {
        auto text = configTokenText(config, key);
        return text ? impl->lookup(*text) : std::nullopt;
    };
    auto firstKnown = [&](std::initializer_list<const char*> names) -> std::optional<int> {
        for (const char* name : names)
            if (auto id = impl->lookup(name)) return id;
        return std::nullopt;
    };
    impl->bos = config.contains("bos_token") ? tokenIdFromConfig("bos_token")
                                             : firstKnown({"<s>", "<|begin_of_text|>", "<|endoftext|>"});
    impl->eos = config.contains("eos_token") ? tokenIdFromConfig("eos_token")
                                             : firstKnown({"</s>", "<|end_of_text|>", "<|endoftext|>"});
    impl->pad = tokenIdFromConfig("pad_token");

    if (postSpec.is_null() || llamaClass) {
        auto flag = [&](const char* key, bool fallback) {
            return config.contains(key) && config[key].is_boolean() ? config[key].get<bool>() : fallback;
        };
        bool hasFlags = config.contains("add_bos_token") || config.contains("add_eos_token");
        if (llamaClass || hasFlags) {
            impl->postProcessor = {};
            if (flag("add_bos_token", llamaClass) && impl->bos) impl->postProcessor.prefix.push_back(*impl->bos);
            if (flag("add_eos_token", false) && impl->eos) impl->postProcessor.suffix.push_back(*impl->eos);
        }
    }

    // Chat template: tokenizer_config.json's chat_template (a string, or a list of named templates).
    std::string templateText;
    if (config.contains("chat_template")) {
        const Json& chat = config["chat_template"];
        if (chat.is_string()) templateText = chat.get<std::string>();
        else if (chat.is_array())
            for (const auto& entry : chat)
                if (entry.is_object() && entry.value("name", "") == "default" && entry.contains("template") &&
                    entry["template"].is_string())
                    templateText = entry["template"].get<std::string>();
    }
    namespace fs = std::filesystem;
    fs::path jinja = fs::path(tokenizerJsonPath).parent_path() / "chat_template.jinja";
    if (templateText.empty() && fs::exists(jinja)) templateText = readFile(jinja.string());
    impl->chatTemplate = tok::detectChatTemplate(templateText);
    tok::readTemplateDetails(templateText, impl->chatTemplate, impl->chatTokens);
    const bool llama3Style = impl->chatTemplate == ChatTemplate::Llama3;
    impl->chatTokens.bos = impl->bos ? impl->tokenById[*impl->bos] : (llama3Style ? "<|begin_of_text|>" : "<s>");
    impl->chatTokens.eos = impl->eos ? impl->tokenById[*impl->eos] : "</s>";
    return Tokenizer(std::move(impl));
}

std::vector<int> Tokenizer::encode(const std::string& text, bool addSpecialTokens) const {
    std::vector<int> ids;
    if (addSpecialTokens) ids = impl_->postProcessor.prefix;
    for (const auto& segment : impl_->splitOnAddedTokens(text)) {
        if (segment.addedId) ids.push_back(*segment.addedId);
        else impl_->encodeText(segment.text, segment.atStart, ids);
    }
    if (addSpecialTokens) ids.insert(ids.end(), impl_->postProcessor.suffix.begin(), impl_->postProcessor.suffix.end());
    return ids;
}

std::string Tokenizer::decode(const std::vector<int>& ids, bool skipSpecialTokens) const {
    std::vector<std::string> tokens;
    tokens.reserve(ids.size());
    for (int id : ids) {
        auto it = impl_->tokenById.find(id);
        if (it == impl_->tokenById.end()) continue;  // ids past the vocabulary (padded embeddings) decode to nothing
        if (skipSpecialTokens && impl_->specialIds.count(id)) continue;
        tokens.push_back(it->second);
    }
    if (impl_->decoder) tokens = impl_->decoder->decode(std::move(tokens));
    else if (tokens.size() > 1) {
        std::string joined;
        for (size_t i = 0; i < tokens.size(); ++i) joined += (i ? " " : "") + tokens[i];
        return joined;
    }
    std::string text;
    for (const auto& token : tokens) text += token;
    return text;
}

std::string Tokenizer::idToToken(int id) const {
    auto it = impl_->tokenById.find(id);
    if (it == impl_->tokenById.end())
        throw Error(impl_->path, "id " + std::to_string(id), "outside the vocabulary (size " + std::to_string(impl_->vocabSize) + ")");
    return it->second;
}

std::optional<int> Tokenizer::tokenToId(const std::string& token) const { return impl_->lookup(token); }
int Tokenizer::vocabSize() const { return impl_->vocabSize; }
bool Tokenizer::isSpecial(int id) const { return impl_->specialIds.count(id) > 0; }
std::optional<int> Tokenizer::bosId() const { return impl_->bos; }
std::optional<int> Tokenizer::eosId() const { return impl_->eos; }
std::optional<int> Tokenizer::padId() const { return impl_->pad; }
ChatTemplate Tokenizer::detectedChatTemplate() const { return impl_->chatTemplate; }
const std::string& Tokenizer::sourcePath() const { return impl_->path; }

std::string Tokenizer::applyChatTemplate(const std::string& userMessage, ChatTemplate format,
                                         const std::string& systemPrompt) const {
    tok::ChatTokens tokens = impl_->chatTokens;
    if (format != impl_->chatTemplate) {
        // Another family's format: its own default tokens, not details read from this model's template.
        tokens.defaultSystemPrompt.clear();
        tokens.instClose = " [/INST]";
        if (format == ChatTemplate::Llama3 && tokens.bos == "<s>") tokens.bos = "<|begin_of_text|>";
    }
    return tok::renderChat(format, tokens, userMessage, systemPrompt);
}

}  // namespace detox
