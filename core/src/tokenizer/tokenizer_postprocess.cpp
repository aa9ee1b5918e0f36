// Post-processors: the special tokens put around one encoded sequence (tokenizer.json "post_processor").
#include "tokenizer/tokenizer_internal.h"

namespace detox::tok {
namespace {

int resolve(const std::string& name, const JsonPlace& place,
            const std::function<std::optional<int>(const std::string&)>& lookup) {
    auto id = lookup(name);
    if (!id) place.fail("token \"" + name + "\" is in neither the vocabulary nor the added tokens");
    return *id;
}

// TemplateProcessing "single": [SpecialToken..., Sequence A, SpecialToken...].
PostProcessor fromTemplate(const Json& spec, const JsonPlace& place,
                           const std::function<std::optional<int>(const std::string&)>& lookup) {
    const Json& single = requireField(spec, place, "single");
    if (!single.is_array()) place.at("single").fail("expected an array of template pieces");
    const Json* specialTokens = spec.contains("special_tokens") ? &spec["special_tokens"] : nullptr;
    PostProcessor result;
    bool afterSequence = false;
    for (size_t i = 0; i < single.size(); ++i) {
        JsonPlace where = place.at("single").at(i);
        const Json& piece = single[i];
        if (piece.is_object() && piece.contains("Sequence")) {
            afterSequence = true;
            continue;
        }
        if (!piece.is_object() || !piece.contains("SpecialToken"))
            where.fail("expected {\"SpecialToken\": ...} or {\"Sequence\": ...}");
        std::string name = requireString(piece["SpecialToken"], where.at("SpecialToken"), "id");
        std::vector<int> ids;
        if (specialTokens && specialTokens->is_object() && specialTokens->contains(name) &&
            (*specialTokens)[name].contains("ids") && (*specialTokens)[name]["ids"].is_array()) {
            for (const auto& id : (*specialTokens)[name]["ids"]) {
                if (!id.is_number_integer()) place.at("special_tokens").at(name).fail("expected integer ids");
                ids.push_back(id.get<int>());
            }
        } else {
            ids.push_back(resolve(name, where.at("SpecialToken").at("id"), lookup));
        }
        auto& target = afterSequence ? result.suffix : result.prefix;
        target.insert(target.end(), ids.begin(), ids.end());
    }
    return result;
}

// RobertaProcessing / BertProcessing: "cls": ["<s>", 0], "sep": ["</s>", 2]  ->  cls A sep.
PostProcessor fromClsSep(const Json& spec, const JsonPlace& place) {
    auto idOf = [&](const std::string& key) {
        const Json& pair = requireField(spec, place, key);
        if (!pair.is_array() || pair.size() != 2 || !pair[1].is_number_integer())
            place.at(key).fail("expected [\"token\", id]");
        return pair[1].get<int>();
    };
    return {{idOf("cls")}, {idOf("sep")}};
}

}  // namespace

PostProcessor makePostProcessor(const Json& spec, const JsonPlace& place,
                                const std::function<std::optional<int>(const std::string&)>& lookup) {
    if (spec.is_null()) return {};
    const std::string type = componentType(spec, place);
    if (type == "TemplateProcessing") return fromTemplate(spec, place, lookup);
    if (type == "RobertaProcessing" || type == "BertProcessing") return fromClsSep(spec, place);
    if (type == "ByteLevel") return {};  // only adjusts offsets
    if (type == "Sequence") {
        const Json& list = requireField(spec, place, "processors");
        if (!list.is_array()) place.at("processors").fail("expected an array of post-processors");
        PostProcessor combined;
        for (size_t i = 0; i < list.size(); ++i) {
            PostProcessor part = makePostProcessor(list[i], place.at("processors").at(i), lookup);
            combined.prefix.insert(combined.prefix.end(), part.prefix.begin(), part.prefix.end());
            combined.suffix.insert(combined.suffix.end(), part.suffix.begin(), part.suffix.end());
        }
        return combined;
    }
    place.at("type").fail("unsupported post_processor \"" + type +
                          "\" (supported: TemplateProcessing, RobertaProcessing, BertProcessing, ByteLevel, Sequence)");
}

}  // namespace detox::tok
