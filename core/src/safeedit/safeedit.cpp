// Loading and validating SafeEdit JSON files (see safeedit.h for the accepted layouts).
#include "detox/safeedit/safeedit.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <future>
#include <nlohmann/json.hpp>
#include <set>

#include "detox/error.h"
#include "detox/fileio.h"
#include "detox/hash.h"

namespace detox {
namespace {

using nlohmann::json;

// Where in the JSON text a byte offset falls: which record of the top-level list, which key inside it.
// Used to name the record and field when the text itself is broken (invalid UTF-8, truncation), where
// no parsed value exists to ask.
struct TextLocation {
    int recordIndex = -1;            // -1: not inside a record
    std::optional<long long> id;     // the record's "id" when it was read before the offset
    std::string field;               // "question", "generalization test.attack_name", ...
};

TextLocation locateInJsonText(std::string_view text, size_t offset) {
    TextLocation location;
    int depth = 0;
    bool inString = false, escaped = false;
    size_t stringStart = 0;
    std::string lastString;
    std::vector<std::string> keyAtDepth(8);  // keyAtDepth[d]: current key of the object at depth d
    bool readingId = false;
    std::string idDigits;
    const size_t end = std::min(offset, text.size());
    for (size_t i = 0; i < end; ++i) {
        const char c = text[i];
        if (inString) {
            if (escaped) escaped = false;
            else if (c == '\\') escaped = true;
            else if (c == '"') {
                inString = false;
                lastString.assign(text.substr(stringStart, i - stringStart));
            }
            continue;
        }
        if (readingId) {
            if (c >= '0' && c <= '9') {
                idDigits += c;
                continue;
            }
            if (!idDigits.empty() || (c != ' ' && c != '\n' && c != '\t' && c != '\r' && c != '"')) {
                readingId = false;
                if (!idDigits.empty()) location.id = std::stoll(idDigits.substr(0, 18));
            }
        }
        switch (c) {
        case '"':
            inString = true;
            stringStart = i + 1;
            break;
        case '{':
        case '[':
            ++depth;
            if (depth == 2 && c == '{') {
                ++location.recordIndex;
                location.id.reset();
            }
            if (depth >= 0 && depth < int(keyAtDepth.size())) keyAtDepth[depth].clear();  // text may close first
            break;
        case '}':
        case ']':
            --depth;
            break;
        case ':':
            if (depth >= 2 && depth < int(keyAtDepth.size())) {
                keyAtDepth[depth] = lastString;
                if (depth == 2 && lastString == "id") {
                    readingId = true;
                    idDigits.clear();
                }
            }
            break;
        case ',':
            if (depth >= 2 && depth < int(keyAtDepth.size())) keyAtDepth[depth].clear();
            break;
        default:
            break;
        }
    }
    if (readingId && !idDigits.empty()) location.id = std::stoll(idDigits.substr(0, 18));
    if (depth >= 2 && location.recordIndex >= 0) {
        for (int d = 2; d <= depth && d < int(keyAtDepth.size()); ++d) {
            if (keyAtDepth[d].empty()) break;
            location.field += (location.field.empty() ? "" : ".") + keyAtDepth[d];
        }
    } else {
        location.recordIndex = depth >= 2 ? location.recordIndex : -1;
    }
    return location;
}

std::string recordLabel(int index, const std::optional<long long>& id) {
    std::string label = "record #" + std::to_string(index);
    if (id) label += " (id " + std::to_string(*id) + ")";
    return label;
}

std::string describeLocation(const TextLocation& location) {
    if (location.recordIndex < 0) return "";
    std::string text = recordLabel(location.recordIndex, location.id);
    if (!location.field.empty()) text += ", field '" + location.field + "'";
    return text;
}

std::string typeName(const json& value) {
    if (value.is_number_integer() || value.is_number_unsigned()) return "an integer";
    if (value.is_number_float()) return "a number";
    if (value.is_string()) return "a string";
    if (value.is_boolean()) return "a boolean";
    if (value.is_null()) return "null";
    if (value.is_array()) return "a list";
    return "an object";
}

// Reads the fields of one record, naming the file, the record and the field in every error.
class RecordReader {
public:
    RecordReader(const std::string& file, json& record, int index)
        : file_(file), record_(record), index_(index) {}

    void setId(long long id) { id_ = id; }

    [[noreturn]] void fail(const std::string& field, const std::string& what) const {
        throw Error(file_, recordLabel(index_, id_) + ", field '" + field + "'", what);
    }

    bool has(const char* key) const { return record_.contains(key); }

    long long id() const {
        auto it = record_.find("id");
        if (it == record_.end()) fail("id", "missing; expected an integer");
        if (it->is_number_unsigned() && it->get<uint64_t>() > uint64_t(INT64_MAX))
            fail("id", "expected an integer that fits in 32 bits, got " + it->dump());
        if (it->is_number_unsigned() || it->is_number_integer()) return it->get<long long>();
        if (it->is_string()) {
            const auto& text = it->get_ref<const std::string&>();
            if (!text.empty() && text.size() < 19 && text.find_first_not_of("0123456789") == std::string::npos)
                return std::stoll(text);
        }
        fail("id", "expected an integer, got " + typeName(*it));
    }

    // required: missing is an error; otherwise missing or null reads as "" (null also when nullAsEmpty).
    // Moves the string out of the parsed document (discarded afterwards): copying costs a third of the load.
    std::string text(json& object, const std::string& key, bool required, const std::string& path,
                     bool nullAsEmpty = false) const {
        auto it = object.find(key);
        if (it == object.end()) {
            if (required) fail(path, "missing; expected a string");
            return {};
        }
        if (it->is_string()) return std::move(it->get_ref<std::string&>());
        if (it->is_null() && (!required || nullAsEmpty)) return {};
        fail(path, "expected a string, got " + typeName(*it));
    }
    std::string text(const std::string& key, bool required) const { return text(record_, key, required, key); }

    json* object(const std::string& key, bool required) const {
        auto it = record_.find(key);
        if (it == record_.end() || (it->is_null() && !required)) {
            if (required) fail(key, "missing; expected an object");
            return nullptr;
        }
        if (!it->is_object()) fail(key, "expected an object, got " + typeName(*it));
        return &*it;
    }

private:
    const std::string& file_;
    json& record_;
    int index_;
    std::optional<long long> id_;
};

std::optional<GeneralizationTest> readGeneralization(const RecordReader& reader) {
    json* block = reader.object("generalization test", false);
    if (!block) return std::nullopt;
    const std::string prefix = "generalization test.";
    // Inputs must be present; null reads as empty, like the train split's empty strings.
    auto field = [&](const char* key, bool required) { return reader.text(*block, key, required, prefix + key, true); };
    GeneralizationTest test;
    test.onlyHarmfulQuestion = field("test input of only harmful question", true);
    test.otherAttackPrompt = field("test input of other attack prompt input", true);
    test.otherQuestion = field("test input of other question input", true);
    test.otherQuestionsAndAttack = field("test input of other questions and attack prompts", true);
    test.attackCategory = field("attack_category", false);
    test.attackName = field("attack_name", false);
    // The train split keeps the block with empty inputs: nothing to evaluate, so treat it as absent.
    if (test.onlyHarmfulQuestion.empty() && test.otherAttackPrompt.empty() && test.otherQuestion.empty() &&
        test.otherQuestionsAndAttack.empty())
        return std::nullopt;
    return test;
}

SafeEditRecord readRecord(const std::string& file, json& value, int index) {
    if (!value.is_object())
        throw Error(file, recordLabel(index, std::nullopt), "expected a JSON object, got " + typeName(value));
    RecordReader reader(file, value, index);
    SafeEditRecord record;
    const long long id = reader.id();
    if (id < INT32_MIN || id > INT32_MAX) reader.fail("id", "expected an integer that fits in 32 bits");
    record.id = int(id);
    reader.setId(id);

    // SafeEdit_test_ALL names the prompt "malicious input" and carries only the evaluation fields.
    const bool evaluationLayout = !reader.has("adversarial prompt") && reader.has("malicious input");
    const bool full = !evaluationLayout;
    record.promptField = evaluationLayout ? "malicious input" : "adversarial prompt";
    record.category = reader.text("unsafety category", true);
    record.adversarialPrompt = reader.text(record.promptField, true);
    record.question = reader.text("question", true);
    record.attackCategory = reader.text("attack category", full);
    record.attackName = reader.text("attack name", full);
    record.unsafeGeneration = reader.text("unsafe generation", full);
    record.safeGeneration = reader.text("safe generation", full);
    record.generalization = readGeneralization(reader);
    if (json* knowledge = reader.object("knowledge constrain", full)) {
        record.knowledge = KnowledgeConstraint{reader.text(*knowledge, "prompt", true, "knowledge constrain.prompt"),
                                               reader.text(*knowledge, "answer", true, "knowledge constrain.answer")};
    }
    return record;
}

void addWarnings(SafeEditDataset& dataset) {
    std::map<int, size_t> firstIndexOfId;
    const std::set<std::string> known(safeEditCategories().begin(), safeEditCategories().end());
    std::set<std::string> reportedCategories;
    for (size_t i = 0; i < dataset.records.size(); ++i) {
        const auto& record = dataset.records[i];
        auto [it, inserted] = firstIndexOfId.emplace(record.id, i);
        if (!inserted)
            dataset.warnings.push_back("record #" + std::to_string(i) + ": duplicate id " + std::to_string(record.id) +
                                       " (first used by record #" + std::to_string(it->second) + ")");
        if (!known.count(record.category) && reportedCategories.insert(record.category).second)
            dataset.warnings.push_back("record #" + std::to_string(i) + ": unknown unsafety category '" +
                                       record.category + "'");
    }
}

}  // namespace

size_t findInvalidUtf8(std::string_view bytes) {
    const auto* data = reinterpret_cast<const unsigned char*>(bytes.data());
    const size_t size = bytes.size();
    size_t i = 0;
    while (i < size) {
        const unsigned char lead = data[i];
        if (lead < 0x80) {
            ++i;
            continue;
        }
        size_t length;
        uint32_t codePoint;
        if (lead >= 0xC2 && lead <= 0xDF) length = 2, codePoint = lead & 0x1F;
        else if (lead >= 0xE0 && lead <= 0xEF) length = 3, codePoint = lead & 0x0F;
        else if (lead >= 0xF0 && lead <= 0xF4) length = 4, codePoint = lead & 0x07;
        else return i;  // continuation byte without a lead, overlong 0xC0/0xC1, or 0xF5..0xFF
        if (i + length > size) return i;
        for (size_t k = 1; k < length; ++k) {
            if ((data[i + k] & 0xC0) != 0x80) return i;
            codePoint = (codePoint << 6) | (data[i + k] & 0x3F);
        }
        const bool overlong = (length == 3 && codePoint < 0x800) || (length == 4 && codePoint < 0x10000);
        const bool surrogate = codePoint >= 0xD800 && codePoint <= 0xDFFF;
        if (overlong || surrogate || codePoint > 0x10FFFF) return i;
        i += length;
    }
    return std::string_view::npos;
}

const std::vector<std::string>& safeEditCategories() {
    static const std::vector<std::string> categories = {
        "offensiveness",      "unfairness and bias", "physical harm",        "mental harm",          "illegal activities",
        "ethics and morality", "privacy and property", "Pornography", "Political Sensitivity"};
    return categories;
}

const SafeEditRecord* SafeEditDataset::findById(int id) const {
    for (const auto& record : records)
        if (record.id == id) return &record;
    return nullptr;
}

std::string idHint(const SafeEditDataset& dataset) {
    if (dataset.records.empty()) return "the file has no records";
    int lowest = dataset.records.front().id, highest = lowest;
    for (const auto& record : dataset.records) {
        lowest = std::min(lowest, record.id);
        highest = std::max(highest, record.id);
    }
    std::string first;
    const size_t shown = std::min<size_t>(dataset.records.size(), 8);
    for (size_t i = 0; i < shown; ++i) first += (i ? ", " : "") + std::to_string(dataset.records[i].id);
    if (shown < dataset.records.size()) first += ", ...";
    return "the file's " + std::to_string(dataset.records.size()) + " ids run from " + std::to_string(lowest) + " to " +
           std::to_string(highest) + " (in file order: " + first + "); --ids takes ids, --positions 0-based places in the file";
}

SafeEditDataset parseSafeEdit(std::string_view bytes, const std::string& sourceName) {
    if (bytes.find_first_not_of(" \t\r\n") == std::string_view::npos)
        throw Error(sourceName, "", "the file is empty; expected a JSON list of SafeEdit records");
    if (size_t bad = findInvalidUtf8(bytes); bad != std::string_view::npos) {
        char byteText[8];
        std::snprintf(byteText, sizeof byteText, "0x%02X", unsigned(static_cast<unsigned char>(bytes[bad])));
        throw Error(sourceName, describeLocation(locateInJsonText(bytes, bad)),
                    "invalid UTF-8 (byte " + std::string(byteText) + " at byte offset " + std::to_string(bad) +
                        "); expected UTF-8 text");
    }
    // Hashing takes about a third of the parse time; do it on a second core meanwhile.
    auto digest = std::async(std::launch::async, [bytes] { return sha256Hex(bytes); });
    json document;
    try {
        document = json::parse(bytes.begin(), bytes.end());
    } catch (const json::parse_error& e) {
        const size_t at = e.byte == 0 ? 0 : e.byte - 1;
        const bool truncated = at + 1 >= bytes.size();
        std::string what = truncated ? "the JSON text ends early (truncated file?) at byte offset " + std::to_string(bytes.size())
                                     : "invalid JSON at byte offset " + std::to_string(at);
        throw Error(sourceName, describeLocation(locateInJsonText(bytes, at + 1)), what + " (" + e.what() + ")");
    } catch (const json::out_of_range& e) {  // a number beyond double, like 1e1000
        throw Error(sourceName, "", std::string("a number out of range: ") + e.what());
    }
    if (!document.is_array())
        throw Error(sourceName, "", "expected a JSON list of SafeEdit records at the top level, got " + typeName(document));
    if (document.empty()) throw Error(sourceName, "", "the list holds no records; expected at least one SafeEdit record");

    SafeEditDataset dataset;
    dataset.path = sourceName;
    dataset.sha256 = digest.get();
    dataset.records.reserve(document.size());
    for (size_t i = 0; i < document.size(); ++i) dataset.records.push_back(readRecord(sourceName, document[i], int(i)));
    addWarnings(dataset);
    return dataset;
}

SafeEditDataset loadSafeEdit(const std::string& path) {
    const std::string bytes = readFile(path);
    return parseSafeEdit(bytes, path);
}

SafeEditSummary summarize(const SafeEditDataset& dataset) {
    SafeEditSummary summary;
    summary.records = int(dataset.records.size());
    for (const auto& record : dataset.records) {
        if (record.generalization) ++summary.withGeneralization;
        if (record.knowledge) ++summary.withKnowledge;
        ++summary.categories[record.category];
        if (!record.attackCategory.empty()) ++summary.attackCategories[record.attackCategory];
        if (!record.attackName.empty()) ++summary.attackNames[record.attackName];
    }
    return summary;
}

}  // namespace detox
