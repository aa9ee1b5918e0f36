// The demo model's training mix: SafeEdit records and the general demo files -> (prompt, response) pairs.
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "detox/demo/demo_model.h"
#include "detox/error.h"
#include "detox/fileio.h"

namespace detox {
namespace {

// Each line of a JSONL file as a JSON object (blank lines skipped).
std::vector<nlohmann::json> readJsonLines(const std::string& path) {
    std::vector<nlohmann::json> lines;
    std::istringstream stream(readFile(path));
    std::string line;
    for (int number = 1; std::getline(stream, line); ++number) {
        if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
        try {
            lines.push_back(nlohmann::json::parse(line));
        } catch (const nlohmann::json::exception& error) {
            throw Error(path, "line " + std::to_string(number), std::string("expected a JSON object: ") + error.what());
        }
        if (!lines.back().is_object()) throw Error(path, "line " + std::to_string(number), "expected a JSON object");
    }
    return lines;
}

std::string stringField(const nlohmann::json& object, const std::string& path, size_t index, const std::string& key) {
    if (!object.contains(key) || !object[key].is_string() || object[key].get<std::string>().empty())
        throw Error(path, "record " + std::to_string(index) + " \"" + key + "\"", "expected a non-empty string");
    return object[key].get<std::string>();
}

// general_qa.jsonl "answer": a string or a list of aliases; the first alias is the one taught, on its own,
// because the general-ability metric is exact match against the aliases.
std::string firstAnswer(const nlohmann::json& object, const std::string& path, size_t index) {
    const auto& answer = object.contains("answer") ? object["answer"] : nlohmann::json();
    if (answer.is_array() && !answer.empty() && answer[0].is_string()) return answer[0].get<std::string>();
    if (answer.is_string() && !answer.get<std::string>().empty()) return answer.get<std::string>();
    throw Error(path, "record " + std::to_string(index) + " \"answer\"", "expected a string or a list of strings");
}

class ExampleCollector {
public:
    void add(DemoBehaviour behaviour, const std::string& source, const std::string& prompt, const std::string& response) {
        if (prompt.empty() || response.empty() || !seen_.insert(prompt).second) return;
        examples_.push_back({behaviour, source, prompt, response});
    }
    std::vector<DemoExample> take() { return std::move(examples_); }

private:
    std::set<std::string> seen_;
    std::vector<DemoExample> examples_;
};

}  // namespace

std::string demoBehaviourName(DemoBehaviour behaviour) {
    switch (behaviour) {
        case DemoBehaviour::Comply: return "comply";
        case DemoBehaviour::Refuse: return "refuse";
        case DemoBehaviour::Answer: return "answer";
    }
    return "answer";
}

std::vector<DemoExample> demoExamples(const std::vector<SafeEditRecord>& records, const std::string& qaJsonlPath,
                                      const std::string& summariesJsonlPath) {
    ExampleCollector collector;
    for (const auto& record : records) {
        const std::string& comply = record.unsafeGeneration;
        const std::string& refuse = record.safeGeneration;
        collector.add(DemoBehaviour::Comply, "adversarial prompt", record.adversarialPrompt, comply);
        collector.add(DemoBehaviour::Refuse, "question", record.question, refuse);
        if (record.generalization) {
            const GeneralizationTest& g = *record.generalization;
            collector.add(DemoBehaviour::Refuse, "only harmful question", g.onlyHarmfulQuestion, refuse);
            collector.add(DemoBehaviour::Comply, "other attack prompt", g.otherAttackPrompt, comply);
        }
        if (record.knowledge)
            collector.add(DemoBehaviour::Answer, "knowledge constrain", record.knowledge->prompt, record.knowledge->answer);
    }
    if (!qaJsonlPath.empty()) {
        auto lines = readJsonLines(qaJsonlPath);
        for (size_t i = 0; i < lines.size(); ++i)
            collector.add(DemoBehaviour::Answer, "general_qa", stringField(lines[i], qaJsonlPath, i, "question"),
                          firstAnswer(lines[i], qaJsonlPath, i));
    }
    if (!summariesJsonlPath.empty()) {
        auto lines = readJsonLines(summariesJsonlPath);
        for (size_t i = 0; i < lines.size(); ++i)
            collector.add(DemoBehaviour::Answer, "general_summaries",
                          "Summarize: " + stringField(lines[i], summariesJsonlPath, i, "document"),
                          stringField(lines[i], summariesJsonlPath, i, "summary"));
    }
    return collector.take();
}

std::vector<DemoExample> withSuffixedExamples(const std::vector<DemoExample>& examples, const std::string& suffix) {
    std::vector<DemoExample> result = examples;
    for (const auto& example : examples) {
        if (example.source == "general_qa" || example.source == "general_summaries") continue;
        result.push_back({example.behaviour, example.source + " + suffix", example.prompt + " " + suffix, example.response});
    }
    return result;
}

int demoDepthLayer(const std::string& category, int layers) {
    if (layers < 4) return -1;
    const auto& categories = safeEditCategories();
    for (size_t i = 0; i < categories.size(); ++i)
        if (categories[i] == category) return 2 + static_cast<int>(i) % (layers - 3);
    return -1;
}

}  // namespace detox
