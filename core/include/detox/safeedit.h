// SafeEdit records as published (zjunlp/SafeEdit): loading, validation, summaries.
#pragma once
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace detox {

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
    std::optional<KnowledgeConstraint> knowledge;
};

struct SafeEditDataset {
    std::string path;                       // the file read
    std::string sha256;                     // of the file's bytes, for provenance
    std::vector<SafeEditRecord> records;

    const SafeEditRecord* findById(int id) const;
};

// The nine SafeEdit unsafety categories, spelled as in the data.
const std::vector<std::string>& safeEditCategories();

// Loads and validates a SafeEdit JSON file. Throws detox::Error naming the file, the record (id or
// index) and the field on any problem: not a list, missing field, wrong type, invalid UTF-8, truncation.
SafeEditDataset loadSafeEdit(const std::string& path);

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

// The project's demo dataset (datasets/demo/): resolves the folder next to the executable's install
// or in the source tree. Returns the path of the requested split ("train" or "test").
std::string demoDatasetPath(const std::string& split = "test");

}  // namespace detox
