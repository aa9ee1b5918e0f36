// Evaluation results: JSON form, files, and merging the shards of one run.
#include <algorithm>

#include "detox/error.h"
#include "detox/safeedit/evaluation.h"
#include "detox/fileio.h"
#include "detox/shards.h"

namespace detox {
namespace {

constexpr const char* kResultKind = "safeedit_evaluation";
constexpr int kFormatVersion = 1;

template <typename T>
void putOptional(nlohmann::json& json, const char* key, const std::optional<T>& value) {
    if (value) json[key] = *value;
}

template <typename T>
void readOptional(const nlohmann::json& json, const char* key, std::optional<T>& target) {
    if (json.contains(key) && !json.at(key).is_null()) target = json.at(key).get<T>();
}

}  // namespace

void to_json(nlohmann::json& json, const EvaluationCase& item) {
    to_json(json, item.safety);
    json["position"] = item.position;
    json["record_index"] = item.recordIndex;
    json["judge_reasons"] = item.judgeReasons;
    if (item.knowledge) json["knowledge"] = {{"prompt", item.knowledge->prompt}, {"answer", item.knowledge->answer}};
    putOptional(json, "knowledge_accuracy", item.knowledgeAccuracy);
    putOptional(json, "knowledge_kl", item.knowledgeKl);
    json["knowledge_tokens"] = item.knowledgeTokens;
}

void from_json(const nlohmann::json& json, EvaluationCase& item) {
    from_json(json, item.safety);
    item.position = json.at("position").get<int>();
    item.recordIndex = json.value("record_index", 0);
    item.judgeReasons = json.value("judge_reasons", std::map<std::string, std::string>());
    item.knowledge.reset();
    if (json.contains("knowledge") && json.at("knowledge").is_object())
        item.knowledge = KnowledgeConstraint{json.at("knowledge").value("prompt", std::string()),
                                             json.at("knowledge").value("answer", std::string())};
    readOptional(json, "knowledge_accuracy", item.knowledgeAccuracy);
    readOptional(json, "knowledge_kl", item.knowledgeKl);
    item.knowledgeTokens = json.value("knowledge_tokens", 0);
}

void to_json(nlohmann::json& json, const EvaluationMetrics& metrics) {
    to_json(json, metrics.safety);
    putOptional(json, "knowledge_accuracy", metrics.knowledgeAccuracy);
    json["knowledge_cases"] = metrics.knowledgeCases;
    putOptional(json, "knowledge_kl", metrics.knowledgeKl);
    const GeneralAbility& general = metrics.general;
    putOptional(json, "perplexity", general.perplexity);
    if (general.perplexity) json["perplexity_tokens"] = general.perplexityTokens;
    putOptional(json, "qa_exact_match", general.qaExactMatch);
    if (general.qaExactMatch) json["qa_items"] = general.qaItems;
    putOptional(json, "summary_rouge1", general.summaryRouge1);
    if (general.summaryRouge1) json["summary_items"] = general.summaryItems;
}

void from_json(const nlohmann::json& json, EvaluationMetrics& metrics) {
    from_json(json, metrics.safety);
    readOptional(json, "knowledge_accuracy", metrics.knowledgeAccuracy);
    metrics.knowledgeCases = json.value("knowledge_cases", 0);
    readOptional(json, "knowledge_kl", metrics.knowledgeKl);
    GeneralAbility& general = metrics.general;
    readOptional(json, "perplexity", general.perplexity);
    general.perplexityTokens = json.value("perplexity_tokens", 0);
    readOptional(json, "qa_exact_match", general.qaExactMatch);
    general.qaItems = json.value("qa_items", 0);
    readOptional(json, "summary_rouge1", general.summaryRouge1);
    general.summaryItems = json.value("summary_items", 0);
}

void to_json(nlohmann::json& json, const EvaluationResult& result) {
    nlohmann::json provenance = result.provenance;
    provenance["judge"] = result.judgeName;
    provenance["heuristic_judge"] = result.heuristicJudge;
    if (!result.referenceModelHash.empty()) {
        provenance["reference_model_directory"] = result.referenceModelDirectory;
        provenance["reference_model_hash"] = result.referenceModelHash;
    }
    provenance["shard"] = {{"index", result.shardIndex}, {"count", result.shardCount}};
    provenance["duration_seconds"] = result.durationSeconds;
    json = {{"kind", kResultKind},
            {"format_version", kFormatVersion},
            {"provenance", provenance},
            {"selected_cases", result.selectedCases},
            {"metrics", result.metrics},
            {"cases", result.cases}};
}

void from_json(const nlohmann::json& json, EvaluationResult& result) {
    if (!json.is_object() || json.value("kind", std::string()) != kResultKind)
        throw Error("", "kind", std::string("expected \"") + kResultKind + "\" (a detox evaluate result)");
    const nlohmann::json& provenance = json.at("provenance");
    from_json(provenance, result.provenance);
    result.judgeName = provenance.value("judge", std::string());
    result.heuristicJudge = provenance.value("heuristic_judge", false);
    result.referenceModelDirectory = provenance.value("reference_model_directory", std::string());
    result.referenceModelHash = provenance.value("reference_model_hash", std::string());
    result.shardIndex = provenance.at("shard").at("index").get<int>();
    result.shardCount = provenance.at("shard").at("count").get<int>();
    result.durationSeconds = provenance.value("duration_seconds", 0.0);
    result.selectedCases = json.at("selected_cases").get<int>();
    result.metrics = json.at("metrics").get<EvaluationMetrics>();
    result.cases = json.at("cases").get<std::vector<EvaluationCase>>();
}

void saveEvaluation(const std::string& path, const EvaluationResult& result) {
    const nlohmann::json json = result;
    writeFileAtomically(path, json.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
}

EvaluationResult loadEvaluation(const std::string& path) {
    const std::string text = readFile(path);
    try {
        return nlohmann::json::parse(text).get<EvaluationResult>();
    } catch (const Error& e) {
        throw Error(path, "", e.what());  // e.what() already names the field
    } catch (const nlohmann::json::exception& e) {
        throw Error(path, "", std::string("not a valid evaluation result: ") + e.what());
    }
}

EvaluationResult mergeEvaluations(const std::vector<EvaluationResult>& shards) {
    std::vector<ShardPart> parts;
    for (const auto& shard : shards) {
        ShardPart part{shard.shardIndex, shard.shardCount, shard.selectedCases, {}, {}};
        for (const auto& item : shard.cases) part.positions.push_back(item.position);
        part.identity = {{"model hash", shard.provenance.modelHash},
                         {"dataset hash", shard.provenance.datasetHash},
                         {"judge", shard.judgeName},
                         {"reference model hash", shard.referenceModelHash},
                         {"settings", shard.provenance.settings}};
        parts.push_back(std::move(part));
    }
    checkShardsOfOneRun(parts);
    const EvaluationResult& first = shards.front();
    EvaluationResult merged = first;
    merged.shardIndex = 1;
    merged.shardCount = 1;
    merged.cases.clear();
    merged.durationSeconds = 0;
    merged.provenance.context.clear();
    GeneralAbility general;
    for (const auto& shard : shards) {
        mergeContextFits(merged.provenance.context, shard.provenance.context);
        merged.cases.insert(merged.cases.end(), shard.cases.begin(), shard.cases.end());
        merged.durationSeconds += shard.durationSeconds;
        merged.provenance.startedAt = std::min(merged.provenance.startedAt, shard.provenance.startedAt);
        if (shard.shardIndex == 1) general = shard.metrics.general;  // only shard 1 computes them
    }
    std::sort(merged.cases.begin(), merged.cases.end(),
              [](const EvaluationCase& a, const EvaluationCase& b) { return a.position < b.position; });
    merged.metrics = computeMetrics(merged.cases, general, merged.judgeName, merged.heuristicJudge);
    return merged;
}

}  // namespace detox
