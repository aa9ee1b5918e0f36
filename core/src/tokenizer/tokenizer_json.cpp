// JSON field access for tokenizer.json with errors that name the file and the field.
#include "detox/error.h"
#include "tokenizer/tokenizer_internal.h"

namespace detox::tok {

void JsonPlace::fail(const std::string& expected) const { throw Error(file, path, expected); }

const Json& requireField(const Json& object, const JsonPlace& place, const std::string& key) {
    if (!object.is_object()) place.fail("expected a JSON object");
    auto it = object.find(key);
    if (it == object.end()) place.at(key).fail("missing (required field)");
    return *it;
}

std::string requireString(const Json& object, const JsonPlace& place, const std::string& key) {
    const Json& value = requireField(object, place, key);
    if (!value.is_string()) place.at(key).fail("expected a string, found " + std::string(value.type_name()));
    return value.get<std::string>();
}

std::string stringOr(const Json& object, const JsonPlace& place, const std::string& key, const std::string& fallback) {
    auto it = object.find(key);
    if (it == object.end() || it->is_null()) return fallback;
    if (!it->is_string()) place.at(key).fail("expected a string, found " + std::string(it->type_name()));
    return it->get<std::string>();
}

bool boolOr(const Json& object, const JsonPlace& place, const std::string& key, bool fallback) {
    auto it = object.find(key);
    if (it == object.end() || it->is_null()) return fallback;
    if (!it->is_boolean()) place.at(key).fail("expected true or false, found " + std::string(it->type_name()));
    return it->get<bool>();
}

int64_t intOr(const Json& object, const JsonPlace& place, const std::string& key, int64_t fallback) {
    auto it = object.find(key);
    if (it == object.end() || it->is_null()) return fallback;
    if (!it->is_number_integer()) place.at(key).fail("expected an integer, found " + std::string(it->type_name()));
    return it->get<int64_t>();
}

std::string componentType(const Json& object, const JsonPlace& place) {
    if (!object.is_object()) place.fail("expected a JSON object with a \"type\"");
    return requireString(object, place, "type");
}

}  // namespace detox::tok
