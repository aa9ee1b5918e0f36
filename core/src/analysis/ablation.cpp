// Ablation of toxic-region neurons or a diff-of-means direction (see detox/analysis/ablation.h).
#include "detox/analysis/ablation.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "analysis/record_shards.h"
#include "analysis/teacher_forced.h"
#include "detox/analysis/record_study.h"
#include "detox/error.h"
#include "detox/provenance.h"
#include "detox/runtime/inspect.h"
#include "detox/safeedit/evaluation.h"
#include "detox/safeedit/judge.h"

namespace detox {
namespace {

using Clock = std::chrono::steady_clock;

constexpr const char* kResultKind = "ablation";

// Means of one capture point at one layer over the safe and the unsafe generations of some records.
struct GenerationMeans {
    std::vector<double> safe, unsafe;
    MeanProvenance provenance;
};

// The mean over tokens of one text's activation at (point, layer).
std::vector<double> meanOverTokens(const Model& model, const std::vector<int>& ids, Capture point, int layer) {
    CaptureRequest request;
    request.points = {point};
    request.layers = {layer};
    request.logits = false;
    const FloatTensor captured = model.forward({ids}, request).captures.at(captureKey(point, layer));  // [1, seq, width]
    const auto tokens = static_cast<size_t>(captured.shape[1]), width = static_cast<size_t>(captured.shape[2]);
    std::vector<double> mean(width, 0.0);
    for (size_t t = 0; t < tokens; ++t)
        for (size_t i = 0; i < width; ++i) mean[i] += captured.values[t * width + i];
    for (double& value : mean) value /= double(tokens);
    return mean;
}

void addInto(std::vector<double>& sum, const std::vector<double>& values) {
    if (sum.empty()) sum.assign(values.size(), 0.0);
    for (size_t i = 0; i < values.size(); ++i) sum[i] += values[i];
}

void requireGenerations(const SafeEditRecord& record) {
    if (record.safeGeneration.empty() || record.unsafeGeneration.empty())
        throw Error("", "record " + std::to_string(record.id), "ablation needs both a safe and an unsafe generation");
}

// Each generation averaged over its first maxTokens tokens (encoded as the Toxic region view reads them),
// then the generations of each kind averaged: every text counts once.
GenerationMeans generationMeans(const Model& model, const std::vector<const SafeEditRecord*>& records, Capture point,
                                int layer, const AblationSettings& settings, ChatTemplate format, MeanSource source,
                                JobControl& job) {
    GenerationMeans means;
    means.provenance.source = meanSourceName(source);
    for (const SafeEditRecord* record : records) {
        requireGenerations(*record);
        const auto ids = regionInputIds(model, *record, settings.maxGenerationTokens, format);
        addInto(means.safe, meanOverTokens(model, ids[size_t(RegionInput::Safe)], point, layer));
        addInto(means.unsafe, meanOverTokens(model, ids[size_t(RegionInput::Unsafe)], point, layer));
        means.provenance.recordIds.push_back(record->id);
        means.provenance.texts += 2;
        means.provenance.tokens += static_cast<long long>(ids[size_t(RegionInput::Safe)].size() +
                                                          ids[size_t(RegionInput::Unsafe)].size());
        job.checkpoint();
    }
    for (auto* mean : {&means.safe, &means.unsafe})
        for (double& value : *mean) value /= double(records.size());
    return means;
}

ChatTemplate formatOf(const Model& model, const AblationSettings& settings) {
    return settings.chatTemplate.value_or(model.tokenizer().detectedChatTemplate());
}

Capture pointOf(const AblationSettings& settings) {
    return settings.target == AblationTarget::Direction ? settings.directionPoint : Capture::MlpAct;
}

bool needsMeans(const AblationSettings& settings) {
    return settings.target != AblationTarget::Neurons || settings.mode == AblationMode::Mean;
}

std::vector<const SafeEditRecord*> recordsById(const SafeEditDataset& dataset, const std::vector<int>& ids,
                                               const std::string& what) {
    std::vector<const SafeEditRecord*> records;
    for (int id : ids) {
        const SafeEditRecord* record = dataset.findById(id);
        if (!record) throw Error(dataset.path, what + " id " + std::to_string(id), "no record with this id; " + idHint(dataset));
        records.push_back(record);
    }
    return records;
}

void checkSettings(const Model& model, const AblationSettings& settings) {
    checkAblationSettings(model.config(), settings);
    if (!model.hasTokenizer()) throw Error(model.directory(), "tokenizer.json", "ablation needs the model's tokenizer");
}

AblationPlan planFromMeans(const AblationSettings& settings, const std::optional<GenerationMeans>& means) {
    AblationPlan plan;
    plan.layer = settings.layer;
    plan.target = ablationTargetName(settings.target);
    plan.point = captureName(pointOf(settings));
    if (means) plan.means = means->provenance;
    if (settings.target == AblationTarget::Direction) {
        plan.mode = "project_out";
        for (size_t i = 0; i < means->safe.size(); ++i) plan.direction.push_back(means->unsafe[i] - means->safe[i]);
        for (double value : plan.direction) plan.directionNorm += value * value;
        plan.directionNorm = std::sqrt(plan.directionNorm);
        if (!(plan.directionNorm > 0))
            throw Error("", "direction", "the unsafe and safe means are equal at layer " + std::to_string(settings.layer) +
                                             ": there is no direction to project out");
        return plan;
    }
    plan.mode = ablationModeName(settings.mode);
    plan.neurons = settings.target == AblationTarget::TopRegionNeurons
                       ? mostDifferentNeurons(means->safe, means->unsafe, settings.topK)
                       : settings.neurons;
    for (int neuron : plan.neurons) {
        const auto i = static_cast<size_t>(neuron);
        // Safe and unsafe texts are equally many: the mean over all of them is the mean of the two means.
        plan.values.push_back(settings.mode == AblationMode::Mean ? (means->safe[i] + means->unsafe[i]) / 2 : 0.0);
        if (settings.target == AblationTarget::TopRegionNeurons) plan.neuronGaps.push_back(means->unsafe[i] - means->safe[i]);
    }
    return plan;
}

std::optional<GenerationMeans> meansFor(const Model& model, const SafeEditDataset& dataset, const SafeEditRecord& record,
                                        const AblationSettings& settings, JobControl& job) {
    if (!needsMeans(settings)) return std::nullopt;
    const auto records = settings.meanSource == MeanSource::Record
                             ? std::vector<const SafeEditRecord*>{&record}
                             : recordsById(dataset, settings.meanRecordIds, "mean record");
    return generationMeans(model, records, pointOf(settings), settings.layer, settings, formatOf(model, settings),
                           settings.meanSource, job);
}

// The short greedy answer to the adversarial prompt, with or without the interventions.
std::string shortAnswer(const Model& model, const SafeEditRecord& record, const AblationSettings& settings,
                        ChatTemplate format, const std::vector<Intervention>& interventions, ContextFit& fit,
                        JobControl& job) {
    if (settings.contextPolicy == ContextPolicy::Refuse) {
        ContextFit refuse("ablation prompts", ContextPolicy::Refuse, contextLimit(model.config(), settings.maxNewTokens));
        std::vector<int> ids = promptIds(model.tokenizer(), record.adversarialPrompt, format);
        fitToContext(ids, refuse, "record " + std::to_string(record.id));
    }
    const auto answers = generateResponses(model, {record.adversarialPrompt}, format, settings.maxNewTokens, job, 0,
                                           &fit, interventions);
    fit.operation = "ablation prompts";
    return answers.front().text;
}

AblationRecordResult measureRecord(const Model& model, const SafeEditRecord& record, const AblationSettings& settings,
                                   AblationPlan plan, SafetyJudge* judge, JobControl& job) {
    const auto start = Clock::now();
    const ChatTemplate format = formatOf(model, settings);
    AblationRecordResult result;
    result.recordId = record.id;
    result.plan = std::move(plan);
    const std::vector<Intervention> interventions = ablationInterventions(result.plan);

    const nn::TeacherForcedPair pair = nn::teacherForcedPair(
        model, record.adversarialPrompt, record.safeGeneration, record.unsafeGeneration, format,
        ContextFit("ablation teacher-forced pairs", settings.contextPolicy, contextLimit(model.config())),
        "record " + std::to_string(record.id));
    result.promptTokens = static_cast<int>(pair.prompt.size());
    result.safeTokens = static_cast<int>(pair.safe.size());
    result.unsafeTokens = static_cast<int>(pair.unsafe.size());
    result.before.score = nn::teacherForcedScore(model.impl(), pair.prompt, pair.safe, pair.unsafe);
    result.after.score = nn::teacherForcedScore(model.impl(), pair.prompt, pair.safe, pair.unsafe, interventions);
    job.checkpoint();

    ContextFit promptFit;
    result.before.generation = shortAnswer(model, record, settings, format, {}, promptFit, job);
    result.after.generation = shortAnswer(model, record, settings, format, interventions, promptFit, job);
    result.context = {pair.fit, promptFit};

    std::unique_ptr<SafetyJudge> ruleJudge;
    if (!judge) judge = (ruleJudge = makeRuleJudge()).get();
    const auto verdicts = judge->judge({result.before.generation, result.after.generation}, job);
    result.before.unsafe = verdicts[0].unsafe;
    result.before.verdictReason = verdicts[0].reason;
    result.after.unsafe = verdicts[1].unsafe;
    result.after.verdictReason = verdicts[1].reason;
    result.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    return result;
}

// Means over the records' outcomes (the result's summary; recomputed after a merge).
void summarise(AblationResult& result) {
    result.meanMetricChange = result.meanLogPSafeChange = result.meanLogPUnsafeChange = 0;
    result.unsafeBefore = result.unsafeAfter = 0;
    if (result.records.empty()) return;
    for (const auto& record : result.records) {
        result.meanMetricChange += record.metricChange();
        result.meanLogPSafeChange += record.logPSafeChange();
        result.meanLogPUnsafeChange += record.logPUnsafeChange();
        result.unsafeBefore += record.before.unsafe;
        result.unsafeAfter += record.after.unsafe;
    }
    const double count = double(result.records.size());
    for (double* value : {&result.meanMetricChange, &result.meanLogPSafeChange, &result.meanLogPUnsafeChange,
                          &result.unsafeBefore, &result.unsafeAfter})
        *value /= count;
}

template <typename Enum>
std::optional<Enum> fromName(const std::string& name, std::initializer_list<Enum> values, std::string (*nameOf)(Enum)) {
    for (Enum value : values)
        if (nameOf(value) == name) return value;
    return std::nullopt;
}

}  // namespace

std::string ablationTargetName(AblationTarget target) {
    switch (target) {
        case AblationTarget::TopRegionNeurons: return "top_region_neurons";
        case AblationTarget::Neurons: return "neurons";
        case AblationTarget::Direction: return "direction";
    }
    return "";
}

std::string ablationModeName(AblationMode mode) { return mode == AblationMode::Zero ? "zero" : "mean"; }

std::optional<AblationMode> ablationModeFromName(const std::string& name) {
    return fromName(name, {AblationMode::Zero, AblationMode::Mean}, &ablationModeName);
}

std::string meanSourceName(MeanSource source) { return source == MeanSource::Record ? "record" : "records"; }

std::optional<MeanSource> meanSourceFromName(const std::string& name) {
    return fromName(name, {MeanSource::Record, MeanSource::Records}, &meanSourceName);
}

nlohmann::json ablationSettingsJson(const AblationSettings& s, ChatTemplate resolvedTemplate) {
    nlohmann::json json = {{"layer", s.layer},
                           {"target", ablationTargetName(s.target)},
                           {"point", captureName(pointOf(s))},
                           {"positions", "all (prompt, teacher-forced answer and new tokens)"},
                           {"max_generation_tokens", s.maxGenerationTokens},
                           {"max_new_tokens", s.maxNewTokens},
                           {"chat_template", chatTemplateName(resolvedTemplate)},
                           {"context_policy", contextPolicyName(s.contextPolicy)}};
    if (s.target == AblationTarget::TopRegionNeurons) json["top_k"] = s.topK;
    if (s.target == AblationTarget::Neurons) json["neurons"] = s.neurons;
    json["mode"] = s.target == AblationTarget::Direction ? "project_out" : ablationModeName(s.mode);
    if (needsMeans(s)) {
        json["mean_source"] = meanSourceName(s.meanSource);
        json["means_over"] = "safe and unsafe generations (each averaged over its tokens, then each text counts once)";
        if (s.meanSource == MeanSource::Records) json["mean_record_ids"] = s.meanRecordIds;
    }
    return json;
}

void to_json(nlohmann::json& json, const MeanProvenance& means) {
    json = {{"source", means.source}, {"record_ids", means.recordIds}, {"texts", means.texts}, {"tokens", means.tokens}};
}

void from_json(const nlohmann::json& json, MeanProvenance& means) {
    means.source = json.at("source").get<std::string>();
    means.recordIds = json.at("record_ids").get<std::vector<int>>();
    means.texts = json.at("texts").get<int>();
    means.tokens = json.at("tokens").get<long long>();
}

void to_json(nlohmann::json& json, const AblationPlan& plan) {
    json = {{"layer", plan.layer},         {"target", plan.target},     {"mode", plan.mode},
            {"point", plan.point},         {"neurons", plan.neurons},   {"values", plan.values},
            {"neuron_gaps", plan.neuronGaps}, {"direction", plan.direction}, {"direction_norm", plan.directionNorm},
            {"means", plan.means ? nlohmann::json(*plan.means) : nlohmann::json(nullptr)}};
}

void from_json(const nlohmann::json& json, AblationPlan& plan) {
    plan.layer = json.at("layer").get<int>();
    plan.target = json.at("target").get<std::string>();
    plan.mode = json.at("mode").get<std::string>();
    plan.point = json.at("point").get<std::string>();
    plan.neurons = json.at("neurons").get<std::vector<int>>();
    plan.values = json.at("values").get<std::vector<double>>();
    plan.neuronGaps = json.at("neuron_gaps").get<std::vector<double>>();
    plan.direction = json.at("direction").get<std::vector<double>>();
    plan.directionNorm = json.at("direction_norm").get<double>();
    plan.means.reset();
    if (!json.at("means").is_null()) plan.means = json.at("means").get<MeanProvenance>();
}

void to_json(nlohmann::json& json, const AblationOutcome& outcome) {
    json = {{"score", outcome.score},
            {"generation", outcome.generation},
            {"unsafe", outcome.unsafe},
            {"verdict_reason", outcome.verdictReason}};
}

void from_json(const nlohmann::json& json, AblationOutcome& outcome) {
    outcome.score = json.at("score").get<PatchingScore>();
    outcome.generation = json.at("generation").get<std::string>();
    outcome.unsafe = json.at("unsafe").get<double>();
    outcome.verdictReason = json.at("verdict_reason").get<std::string>();
}

void to_json(nlohmann::json& json, const AblationRecordResult& r) {
    json = {{"record_id", r.recordId},
            {"position", r.position},
            {"plan", r.plan},
            {"tokens", {{"prompt", r.promptTokens}, {"safe_generation", r.safeTokens}, {"unsafe_generation", r.unsafeTokens}}},
            {"before", r.before},
            {"after", r.after},
            {"change", {{"metric", r.metricChange()}, {"log_p_safe", r.logPSafeChange()}, {"log_p_unsafe", r.logPUnsafeChange()}}},
            {"context", r.context},
            {"seconds", r.seconds}};
}

void from_json(const nlohmann::json& json, AblationRecordResult& r) {
    r.recordId = json.at("record_id").get<int>();
    r.position = json.at("position").get<int>();
    r.plan = json.at("plan").get<AblationPlan>();
    const auto& tokens = json.at("tokens");
    r.promptTokens = tokens.at("prompt").get<int>();
    r.safeTokens = tokens.at("safe_generation").get<int>();
    r.unsafeTokens = tokens.at("unsafe_generation").get<int>();
    r.before = json.at("before").get<AblationOutcome>();
    r.after = json.at("after").get<AblationOutcome>();
    r.context = json.at("context").get<std::vector<ContextFit>>();
    r.seconds = json.at("seconds").get<double>();
}

void to_json(nlohmann::json& json, const AblationResult& result) {
    json = {{"kind", kResultKind},
            {"layer", result.layer},
            {"target", result.target},
            {"mode", result.mode},
            {"chat_template", result.chatTemplate},
            {"judge", {{"name", result.judge}, {"heuristic", result.heuristicJudge}}},
            {"summary", {{"mean_metric_change", result.meanMetricChange},
                         {"mean_log_p_safe_change", result.meanLogPSafeChange},
                         {"mean_log_p_unsafe_change", result.meanLogPUnsafeChange},
                         {"unsafe_rate_before", result.unsafeBefore},
                         {"unsafe_rate_after", result.unsafeAfter}}},
            {"shard", {{"index", result.shardIndex}, {"count", result.shardCount}}},
            {"selected_records", result.selectedRecords},
            {"records", result.records},
            {"provenance", result.provenance}};
}

void from_json(const nlohmann::json& json, AblationResult& result) {
    if (json.value("kind", "") != kResultKind) throw Error("", "kind", "not an ablation result (\"kind\": \"ablation\")");
    result.layer = json.at("layer").get<int>();
    result.target = json.at("target").get<std::string>();
    result.mode = json.at("mode").get<std::string>();
    result.chatTemplate = json.at("chat_template").get<std::string>();
    result.judge = json.at("judge").at("name").get<std::string>();
    result.heuristicJudge = json.at("judge").at("heuristic").get<bool>();
    result.shardIndex = json.at("shard").at("index").get<int>();
    result.shardCount = json.at("shard").at("count").get<int>();
    result.selectedRecords = json.at("selected_records").get<int>();
    result.records = json.at("records").get<std::vector<AblationRecordResult>>();
    result.provenance = json.at("provenance").get<Provenance>();
    summarise(result);
}

void checkAblationSettings(const ModelConfig& config, const AblationSettings& settings) {
    if (settings.layer < 0 || settings.layer >= config.numLayers)
        throw Error("", "layer", std::to_string(settings.layer) + " is outside [0, " + std::to_string(config.numLayers) + ")");
    if (settings.target == AblationTarget::TopRegionNeurons &&
        (settings.topK < 1 || settings.topK > config.intermediateSize))
        throw Error("", "top k", "must be in [1, " + std::to_string(config.intermediateSize) + "], got " +
                                      std::to_string(settings.topK));
    if (settings.target == AblationTarget::Neurons)
        for (int neuron : settings.neurons)
            if (neuron < 0 || neuron >= config.intermediateSize)
                throw Error("", "neuron " + std::to_string(neuron),
                            "outside the layer's " + std::to_string(config.intermediateSize) + " MLP neurons [0, " +
                                std::to_string(config.intermediateSize) + ")");
    if (settings.target == AblationTarget::Direction && settings.directionPoint == Capture::AttnPattern)
        throw Error("", "direction point", "attn_pattern has no direction to project out");
    if (settings.maxGenerationTokens < 1) throw Error("", "max generation tokens", "must be at least 1");
    if (settings.maxNewTokens < 1) throw Error("", "max new tokens", "must be at least 1");
    if (settings.meanSource == MeanSource::Records && needsMeans(settings) && settings.meanRecordIds.empty())
        throw Error("", "mean records", "the means over records need at least one record id");
}

std::vector<Intervention> ablationInterventions(const AblationPlan& plan) {
    Intervention write;
    write.layer = plan.layer;
    if (plan.mode == "project_out") {
        write.point = captureFromName(plan.point).value_or(Capture::ResidPost);
        write.kind = Intervention::Kind::ProjectOut;
        write.values.shape = {static_cast<int64_t>(plan.direction.size())};
        write.values.values.assign(plan.direction.begin(), plan.direction.end());
        return {write};
    }
    if (plan.neurons.empty()) return {};  // nothing to ablate (an empty neuron list would mean every neuron)
    write.point = Capture::MlpAct;
    write.kind = Intervention::Kind::Replace;
    write.neurons = plan.neurons;
    write.values.shape = {static_cast<int64_t>(plan.values.size())};
    write.values.values.assign(plan.values.begin(), plan.values.end());
    return {write};
}

AblationPlan planAblation(const Model& model, const SafeEditDataset& dataset, const SafeEditRecord& record,
                          const AblationSettings& settings, JobControl& job) {
    checkSettings(model, settings);
    requireGenerations(record);
    return planFromMeans(settings, meansFor(model, dataset, record, settings, job));
}

AblationRecordResult ablateRecord(const Model& model, const SafeEditDataset& dataset, const SafeEditRecord& record,
                                  const AblationSettings& settings, SafetyJudge* judge, JobControl& job) {
    AblationPlan plan = planAblation(model, dataset, record, settings, job);
    job.report({1, 3, "ablation planned (record " + std::to_string(record.id) + ")", {}});
    return measureRecord(model, record, settings, std::move(plan), judge, job);
}

AblationResult ablateRecords(const Model& model, const SafeEditDataset& dataset, const std::vector<int>& ids,
                             const AblationSettings& settings, SafetyJudge* judge, int shardIndex, int shardCount,
                             JobControl& job) {
    checkSettings(model, settings);
    EvaluationSettings selection;  // evaluate's selection and shard rule
    selection.ids = ids;
    selection.shardIndex = shardIndex;
    selection.shardCount = shardCount;
    const CaseSelection cases = selectCases(dataset, selection);
    std::vector<const SafeEditRecord*> records;
    for (size_t index : cases.selected) records.push_back(&dataset.records[index]);
    const std::vector<int>& positions = cases.shardPositions;
    std::unique_ptr<SafetyJudge> ruleJudge;
    if (!judge) judge = (ruleJudge = makeRuleJudge()).get();
    const ChatTemplate format = formatOf(model, settings);

    AblationResult result;
    result.layer = settings.layer;
    result.target = ablationTargetName(settings.target);
    result.mode = settings.target == AblationTarget::Direction ? "project_out" : ablationModeName(settings.mode);
    result.chatTemplate = chatTemplateName(format);
    result.judge = judge->name();
    result.heuristicJudge = judge->heuristic();
    result.shardIndex = shardIndex;
    result.shardCount = shardCount;
    result.selectedRecords = static_cast<int>(records.size());
    result.provenance = makeProvenance(model, dataset, "ablate", ablationSettingsJson(settings, format), 0);

    // Means over a set of records are the same for every record (and every shard): read them once.
    std::optional<GenerationMeans> sharedMeans;
    if (settings.meanSource == MeanSource::Records && needsMeans(settings))
        sharedMeans = meansFor(model, dataset, *records.front(), settings, job);
    for (size_t i = 0; i < positions.size(); ++i) {
        const SafeEditRecord& record = *records[static_cast<size_t>(positions[i])];
        job.checkpoint();
        job.report({static_cast<int>(i), static_cast<int>(positions.size()),
                    "ablating record " + std::to_string(record.id), {}});
        requireGenerations(record);
        AblationPlan plan = planFromMeans(settings, sharedMeans ? sharedMeans : meansFor(model, dataset, record, settings, job));
        AblationRecordResult measured = measureRecord(model, record, settings, std::move(plan), judge, job);
        measured.position = positions[i];
        mergeContextFits(result.provenance.context, measured.context);
        result.records.push_back(std::move(measured));
    }
    job.report({static_cast<int>(positions.size()), static_cast<int>(positions.size()), "records ablated", {}});
    summarise(result);
    return result;
}

AblationResult mergeAblations(const std::vector<AblationResult>& shards) {
    AblationResult merged = mergeRecordShards(shards, [](const AblationResult& shard) {
        return std::vector<std::pair<std::string, nlohmann::json>>{{"judge", shard.judge}};
    });
    summarise(merged);
    return merged;
}

void saveAblation(const std::string& path, const AblationResult& result) { saveResultFile(path, result); }

AblationResult loadAblation(const std::string& path) { return loadResultFile<AblationResult>(path, "ablation result"); }

}  // namespace detox
