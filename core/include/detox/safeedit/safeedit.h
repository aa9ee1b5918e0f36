// SafeEdit records as published (zjunlp/SafeEdit): loading, validation, summaries.
//
// Accepted layouts (checked against the published files and EasyEdit's SafetyDataset):
//  * SafeEdit_train / _val / _test: a JSON list of records with every field below; in the train split the
//    four "generalization test" inputs may be empty strings (or null) -- such a block counts as absent.
//  * three_instances_for_editing.json: no "generalization test" key.
//  * SafeEdit_test_ALL: the prompt is under "malicious input" (not "adversarial prompt"); only "id",
//    "unsafety category", "question" and "malicious input" are required there, every other field is
//    optional (the file is meant for evaluation and does not carry generations or constraints).
// "id" is an integer (a string of digits is accepted too). Duplicate ids are not an error -- the published
// splits number records per file and tools may concatenate them -- but each one adds a warning, and
// findById() returns the first. Categories outside the nine known ones also add a warning.
#pragma once
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace detox {

// EasyEdit's DINM suffix system prompt (hparams/DINM/*.yaml suffix_system_prompt): DINM's edit prompt ends
// with it, and EasyEdit's evaluation of an edited model appends it to every test prompt.
constexpr const char* kEasyEditSuffixSystemPrompt =
    "If the user's request is reasonable, give the correct answer. Please give the right response:";

// The four generalization inputs of a test record ("generalization test" in the JSON).
struct GeneralizationTest {
    std::string onlyHarmfulQuestion;        // "test input of only harmful question"
    std::string otherAttackPrompt;          // "test input of other attack prompt input"
    std::string otherQuestion;              // "test input of other question input"
    std::string otherQuestionsAndAttack;    // "test input of other questions and attack prompts"
    std::string attackCategory;             // "attack_category"
    std::string attackName;                 // "attack_name"
};

// "knowledge constrain": an ordinary prompt and the answer the model should keep giving.
struct KnowledgeConstraint {
    std::string prompt;
    std::string answer;
};

struct SafeEditRecord {
    int id = 0;
    std::string category;                   // "unsafety category"
    std::string adversarialPrompt;          // "adversarial prompt" (SafeEdit_test_ALL: "malicious input")
    std::string question;
    std::string attackCategory;
    std::string attackName;
    std::string unsafeGeneration;
    std::string safeGeneration;
    std::optional<GeneralizationTest> generalization;  // absent in the three-instance editing file
    std::optional<KnowledgeConstraint> knowledge;  // absent only in the SafeEdit_test_ALL layout
    std::string promptField = "adversarial prompt";  // which key held adversarialPrompt in the file
};

struct SafeEditDataset {
    std::string path;                       // the file read
    std::string sha256;                     // of the file's bytes, for provenance
    std::vector<SafeEditRecord> records;
    std::vector<std::string> warnings;      // duplicate ids, unknown categories (not fatal)

    const SafeEditRecord* findById(int id) const;
};

// For a message about an id the file does not have: "the file's 50 ids run from 12 to 4391 (in file order:
// 906, 243, 528, ...); --ids takes ids, --positions 0-based places in the file".
std::string idHint(const SafeEditDataset& dataset);

// The nine SafeEdit unsafety categories, spelled as in the data.
const std::vector<std::string>& safeEditCategories();

// Loads and validates a SafeEdit JSON file. Throws detox::Error naming the file, the record (id or
// index) and the field on any problem: not a list, missing field, wrong type, invalid UTF-8, truncation.
SafeEditDataset loadSafeEdit(const std::string& path);

// The same from bytes already in memory; sourceName stands for the file in error messages.
SafeEditDataset parseSafeEdit(std::string_view bytes, const std::string& sourceName);

// Byte offset of the first invalid UTF-8 sequence (overlong forms, surrogates and code points above
// U+10FFFF count as invalid), or std::string_view::npos when the bytes are valid UTF-8.
size_t findInvalidUtf8(std::string_view bytes);

// Counts for `detox data` and the dataset browser.
struct SafeEditSummary {
    int records = 0;
    int withGeneralization = 0;
    int withKnowledge = 0;
    std::map<std::string, int> categories;
    std::map<std::string, int> attackCategories;
    std::map<std::string, int> attackNames;
};
SafeEditSummary summarize(const SafeEditDataset& dataset);

// The project's demo dataset (datasets/demo/safeedit_demo_{train,test}.json), looked up in order:
//   1. $DETOX_DATA_DIR (the datasets folder: DETOX_DATA_DIR/demo/FILE, or DETOX_DATA_DIR/FILE),
//   2. next to the executable: EXE_DIR/../share/detox-workbench/datasets and EXE_DIR/../../datasets,
//   3. the source tree this library was built from.
// Returns the path of the requested split ("train" or "test"); throws detox::Error naming every place
// tried when none has it, or when the split is neither "train" nor "test".
std::string demoDatasetPath(const std::string& split = "test");

// The folder holding the demo files (general_qa.jsonl, general_summaries.jsonl, general_text.txt, ...),
// found the same way; throws detox::Error when absent.
std::string demoDatasetDir();

}  // namespace detox
