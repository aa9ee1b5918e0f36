// Activation patching on SafeEdit records (see detox/analysis/patching.h).
#include "detox/analysis/patching.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "analysis/record_shards.h"
#include "analysis/teacher_forced.h"
#include "detox/error.h"
#include "detox/provenance.h"
#include "detox/runtime/inspect.h"
#include "detox/safeedit/evaluation.h"
#include "runtime/float_tensor.h"
#include "runtime/interventions.h"
#include "runtime/transformer.h"

namespace detox {
using namespace detox::nn;

namespace {

using Clock = std::chrono::steady_clock;

double secondsSince(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

nlohmann::json optionalJson(const std::optional<double>& value) {
    return value && std::isfinite(*value) ? nlohmann::json(*value) : nlohmann::json(nullptr);
}

std::optional<double> optionalFrom(const nlohmann::json& json) {
    if (json.is_null()) return std::nullopt;
    return json.get<double>();
}

nlohmann::json optionalsJson(const std::vector<std::optional<double>>& values) {
    nlohmann::json array = nlohmann::json::array();
    for (const auto& value : values) array.push_back(optionalJson(value));
    return array;
}

std::vector<std::optional<double>> optionalsFrom(const nlohmann::json& json) {
    std::vector<std::optional<double>> values;
    for (const auto& value : json) values.push_back(optionalFrom(value));
    return values;
}

nlohmann::json mapJson(const std::vector<std::vector<std::optional<double>>>& map) {
    nlohmann::json array = nlohmann::json::array();
    for (const auto& row : map) array.push_back(optionalsJson(row));
    return array;
}

std::vector<std::vector<std::optional<double>>> mapFrom(const nlohmann::json& json) {
    std::vector<std::vector<std::optional<double>>> map;
    for (const auto& row : json) map.push_back(optionalsFrom(row));
    return map;
}

nlohmann::json scoreOrNull(const std::optional<PatchingScore>& score) {
    return score ? nlohmann::json(*score) : nlohmann::json(nullptr);
}

std::optional<PatchingScore> scoreFrom(const nlohmann::json& json) {
    if (json.is_null()) return std::nullopt;
    return json.get<PatchingScore>();
}

// The patch of one batch slot: which aligned offsets (negative, from the end of the prompts) it writes.
struct Patch {
    std::vector<int> offsets;
    int column = -1;  // the map's position column, or -1 for the layer curve's all-positions patch
};

}  // namespace

void to_json(nlohmann::json& json, const PatchingSettings& settings) {
    json = {{"point", captureName(settings.point)},
            {"last_positions", settings.lastPositions},
            {"patches_per_forward", settings.patchesPerForward},
            {"chat_template", settings.chatTemplate ? chatTemplateName(*settings.chatTemplate) : "tokenizer default"},
            {"context_policy", contextPolicyName(settings.contextPolicy)}};
}

void to_json(nlohmann::json& json, const PatchingScore& score) {
    json = {{"log_p_safe", score.logPSafe}, {"log_p_unsafe", score.logPUnsafe}, {"metric", score.metric()}};
}

void from_json(const nlohmann::json& json, PatchingScore& score) {
    score.logPSafe = json.at("log_p_safe").get<double>();
    score.logPUnsafe = json.at("log_p_unsafe").get<double>();
}

void to_json(nlohmann::json& json, const PatchingRecordResult& r) {
    nlohmann::json patched = nlohmann::json::array();
    for (const auto& row : r.patched) {
        nlohmann::json cells = nlohmann::json::array();
        for (const auto& cell : row) cells.push_back(scoreOrNull(cell));
        patched.push_back(cells);
    }
    nlohmann::json layerPatched = nlohmann::json::array();
    for (const auto& cell : r.layerPatched) layerPatched.push_back(scoreOrNull(cell));
    json = {{"record_id", r.recordId},
            {"position", r.position},
            {"context", r.context},
            {"tokens", {{"corrupt_prompt", r.corruptTokens}, {"clean_prompt", r.cleanTokens},
                        {"safe_generation", r.safeTokens}, {"unsafe_generation", r.unsafeTokens}}},
            {"clean", r.clean},
            {"corrupt", r.corrupt},
            {"positions", r.positions},
            {"position_tokens", r.positionTokens},
            {"layer_recovered", optionalsJson(r.layerRecovered)},
            {"layer_patched", layerPatched},
            {"best_layer", r.bestLayer},
            {"recovered", mapJson(r.recovered)},
            {"recovered_safe", mapJson(r.recoveredSafe)},
            {"recovered_unsafe", mapJson(r.recoveredUnsafe)},
            {"patched", patched},
            {"cost", {{"forward_multiple", r.forwardMultiple}, {"seconds", r.seconds},
                      {"one_forward_seconds", r.oneForwardSeconds}}}};
}

void from_json(const nlohmann::json& json, PatchingRecordResult& r) {
    r.recordId = json.at("record_id").get<int>();
    r.position = json.value("position", 0);
    r.context = json.value("context", std::vector<ContextFit>{});
    const auto& tokens = json.at("tokens");
    r.corruptTokens = tokens.at("corrupt_prompt").get<int>();
    r.cleanTokens = tokens.at("clean_prompt").get<int>();
    r.safeTokens = tokens.at("safe_generation").get<int>();
    r.unsafeTokens = tokens.at("unsafe_generation").get<int>();
    r.clean = json.at("clean").get<PatchingScore>();
    r.corrupt = json.at("corrupt").get<PatchingScore>();
    r.positions = json.at("positions").get<std::vector<int>>();
    r.positionTokens = json.value("position_tokens", std::vector<std::string>{});  // absent before it was recorded
    if (!r.positionTokens.empty() && r.positionTokens.size() != r.positions.size())
        throw Error("", "position_tokens", "one token per position (" + std::to_string(r.positions.size()) + ")");
    r.layerRecovered = optionalsFrom(json.at("layer_recovered"));
    r.layerPatched.clear();
    for (const auto& cell : json.at("layer_patched")) r.layerPatched.push_back(scoreFrom(cell));
    r.bestLayer = json.at("best_layer").get<int>();
    r.recovered = mapFrom(json.at("recovered"));
    r.recoveredSafe = mapFrom(json.at("recovered_safe"));
    r.recoveredUnsafe = mapFrom(json.at("recovered_unsafe"));
    r.patched.clear();
    for (const auto& row : json.at("patched")) {
        r.patched.emplace_back();
        for (const auto& cell : row) r.patched.back().push_back(scoreFrom(cell));
    }
    const auto& cost = json.at("cost");
    r.forwardMultiple = cost.at("forward_multiple").get<double>();
    r.seconds = cost.at("seconds").get<double>();
    r.oneForwardSeconds = cost.at("one_forward_seconds").get<double>();
}

void to_json(nlohmann::json& json, const PatchingResult& result) {
    json = {{"kind", "activation_patching"},
            {"point", result.point},
            {"last_positions", result.lastPositions},
            {"mean_layer_recovered", optionalsJson(result.meanLayerRecovered)},
            {"forward_multiple", result.forwardMultiple},
            {"chat_template", result.chatTemplate},
            {"shard", {{"index", result.shardIndex}, {"count", result.shardCount}}},
            {"selected_records", result.selectedRecords},
            {"records", result.records},
            {"provenance", result.provenance}};
}

void from_json(const nlohmann::json& json, PatchingResult& result) {
    if (json.value("kind", "") != "activation_patching")
        throw Error("", "kind", "not an activation patching result (\"kind\": \"activation_patching\")");
    result.point = json.at("point").get<std::string>();
    result.lastPositions = json.at("last_positions").get<int>();
    result.meanLayerRecovered = optionalsFrom(json.at("mean_layer_recovered"));
    result.forwardMultiple = json.at("forward_multiple").get<double>();
    result.records = json.at("records").get<std::vector<PatchingRecordResult>>();
    result.provenance = json.at("provenance").get<Provenance>();
    result.chatTemplate = json.value("chat_template", "");
    result.shardIndex = json.contains("shard") ? json.at("shard").at("index").get<int>() : 1;
    result.shardCount = json.contains("shard") ? json.at("shard").at("count").get<int>() : 1;
    result.selectedRecords = json.value("selected_records", static_cast<int>(result.records.size()));
}

std::optional<double> recoveredFraction(double clean, double corrupt, double patched) {
    const double gap = clean - corrupt;
    if (gap == 0 || !std::isfinite(gap) || !std::isfinite(patched)) return std::nullopt;
    return (patched - corrupt) / gap;
}

PatchingRecordResult patchTokens(const Model& model, const std::vector<int>& cleanPrompt,
                                 const std::vector<int>& corruptPrompt, const std::vector<int>& safeGeneration,
                                 const std::vector<int>& unsafeGeneration, const PatchingSettings& settings,
                                 JobControl& job) {
    if (cleanPrompt.empty() || corruptPrompt.empty()) throw Error("", "patching", "a prompt has no tokens");
    if (safeGeneration.empty() || unsafeGeneration.empty()) throw Error("", "patching", "a generation has no tokens");
    if (settings.point == Capture::AttnPattern) throw Error("", "patching point", "attn_pattern cannot be patched");
    if (settings.lastPositions < 1) throw Error("", "last positions", "must be at least 1");
    if (settings.patchesPerForward < 1) throw Error("", "patches per forward", "must be at least 1");
    c10::InferenceMode inference;
    const auto start = Clock::now();
    const Model::Impl& impl = model.impl();
    const int layers = impl.config.numLayers;
    const int vocab = impl.config.vocabSize;
    const int cleanLength = static_cast<int>(cleanPrompt.size());
    const int corruptLength = static_cast<int>(corruptPrompt.size());

    PatchingRecordResult result;
    result.cleanTokens = cleanLength;
    result.corruptTokens = corruptLength;
    result.safeTokens = static_cast<int>(safeGeneration.size());
    result.unsafeTokens = static_cast<int>(unsafeGeneration.size());

    // The clean and the corrupt pair (prompt + safe, prompt + unsafe), with captures.
    const TokenBatch clean = padTokens({joinedTokens(cleanPrompt, safeGeneration), joinedTokens(cleanPrompt, unsafeGeneration)},
                                       false, 0, vocab);
    const TokenBatch corrupt = padTokens(
        {joinedTokens(corruptPrompt, safeGeneration), joinedTokens(corruptPrompt, unsafeGeneration)}, false, 0, vocab);
    const int64_t cleanColumns = clean.ids.size(1), corruptColumns = corrupt.ids.size(1);
    CaptureSet cleanCaptures({settings.point}, {}, layers);
    const AttentionInputs cleanAttention = impl.attentionInputs(clean.mask, cleanColumns);
    torch::Tensor cleanHidden = impl.runLayers(impl.embed(clean.ids, cleanAttention.positions), 0, layers,
                                               cleanAttention, &cleanCaptures);
    const auto cleanScores = generationLogProbs(impl, cleanHidden, cleanLength, safeGeneration, unsafeGeneration);
    result.clean = {cleanScores[0], cleanScores[1]};

    const auto corruptStart = Clock::now();
    CaptureSet corruptCaptures({Capture::ResidPre}, {}, layers);
    const AttentionInputs corruptAttention = impl.attentionInputs(corrupt.mask, corruptColumns);
    torch::Tensor corruptHidden = impl.runLayers(impl.embed(corrupt.ids, corruptAttention.positions), 0, layers,
                                                 corruptAttention, &corruptCaptures);
    const auto corruptScores = generationLogProbs(impl, corruptHidden, corruptLength, safeGeneration, unsafeGeneration);
    result.corrupt = {corruptScores[0], corruptScores[1]};
    result.oneForwardSeconds = secondsSince(corruptStart);
    job.checkpoint();

    // Offsets from the end of both prompts; one column each, and the all-positions patch of the curve.
    const int positions = std::min(settings.lastPositions, corruptLength);
    for (int j = 0; j < positions; ++j) result.positions.push_back(j - positions);
    std::vector<Patch> patches;
    Patch all;
    for (int j = 0; j < positions; ++j) {
        const int offset = result.positions[static_cast<size_t>(j)];
        if (cleanLength + offset < 0) continue;  // the clean prompt is shorter
        patches.push_back({{offset}, j});
        all.offsets.push_back(offset);
    }
    if (!all.offsets.empty()) patches.push_back(all);

    result.patched.assign(static_cast<size_t>(layers), std::vector<std::optional<PatchingScore>>(static_cast<size_t>(positions)));
    result.layerPatched.assign(static_cast<size_t>(layers), std::nullopt);
    const double oneForwardWork = 2.0 * double(corruptColumns) * layers;
    double work = 2.0 * double(cleanColumns) * layers + oneForwardWork;
    for (int layer = 0; layer < layers; ++layer) {
        const torch::Tensor cleanValue = cleanCaptures.tensors.at(captureKey(settings.point, layer));  // [2, seq, width]
        const torch::Tensor entering = corruptCaptures.tensors.at(captureKey(Capture::ResidPre, layer));
        for (size_t first = 0; first < patches.size(); first += static_cast<size_t>(settings.patchesPerForward)) {
            const size_t count = std::min(patches.size() - first, static_cast<size_t>(settings.patchesPerForward));
            std::vector<Intervention> writes;
            for (size_t i = 0; i < count; ++i) {
                const Patch& patch = patches[first + i];
                for (int pair = 0; pair < 2; ++pair) {  // each row takes the clean run's row of the same generation
                    Intervention write;
                    write.point = settings.point;
                    write.layer = layer;
                    write.kind = Intervention::Kind::Replace;
                    write.rows = {static_cast<int>(2 * i) + pair};
                    std::vector<int64_t> cleanColumnsOf;
                    for (int offset : patch.offsets) {
                        write.positions.push_back(corruptLength + offset);
                        cleanColumnsOf.push_back(cleanLength + offset);
                    }
                    torch::Tensor rows = cleanValue[pair].index_select(
                        0, torch::tensor(cleanColumnsOf, torch::kInt64).to(cleanValue.device()));
                    write.values = toFloatTensor(rows);
                    writes.push_back(std::move(write));
                }
            }
            const auto batch = static_cast<int64_t>(count);
            torch::Tensor mask = corrupt.mask.repeat({batch, 1});
            InterventionSet interventions(impl, writes, std::vector<int>(static_cast<size_t>(2 * batch), corruptLength));
            CaptureSet captures;
            captures.interventions = interventions.step(mask, corruptColumns);
            const AttentionInputs attention = impl.attentionInputs(mask, corruptColumns);
            torch::Tensor hidden = impl.runLayers(entering.repeat({batch, 1, 1}), layer, layers, attention, &captures);
            const auto scores = generationLogProbs(impl, hidden, corruptLength, safeGeneration, unsafeGeneration);
            work += 2.0 * double(batch) * double(corruptColumns) * (layers - layer);
            for (size_t i = 0; i < count; ++i) {
                const PatchingScore score{scores[2 * i], scores[2 * i + 1]};
                const Patch& patch = patches[first + i];
                if (patch.column >= 0)
                    result.patched[static_cast<size_t>(layer)][static_cast<size_t>(patch.column)] = score;
                else
                    result.layerPatched[static_cast<size_t>(layer)] = score;
            }
            job.checkpoint();
        }
        job.report({layer + 1, layers, "layers patched", {}});
    }

    auto fractions = [&](auto term) {
        std::vector<std::vector<std::optional<double>>> map;
        for (const auto& row : result.patched) {
            map.emplace_back();
            for (const auto& cell : row)
                map.back().push_back(cell ? recoveredFraction(term(result.clean), term(result.corrupt), term(*cell))
                                          : std::nullopt);
        }
        return map;
    };
    result.recovered = fractions([](const PatchingScore& s) { return s.metric(); });
    result.recoveredSafe = fractions([](const PatchingScore& s) { return s.logPSafe; });
    result.recoveredUnsafe = fractions([](const PatchingScore& s) { return s.logPUnsafe; });
    for (int layer = 0; layer < layers; ++layer) {
        const auto& cell = result.layerPatched[static_cast<size_t>(layer)];
        result.layerRecovered.push_back(
            cell ? recoveredFraction(result.clean.metric(), result.corrupt.metric(), cell->metric()) : std::nullopt);
        const auto& value = result.layerRecovered.back();
        if (value && (result.bestLayer < 0 || *value > *result.layerRecovered[static_cast<size_t>(result.bestLayer)]))
            result.bestLayer = layer;
    }
    result.forwardMultiple = work / oneForwardWork;
    result.seconds = secondsSince(start);
    return result;
}

PatchingRecordResult patchRecord(const Model& model, const SafeEditRecord& record, const PatchingSettings& settings,
                                 JobControl& job) {
    const std::string what = "record " + std::to_string(record.id);
    if (!record.generalization || record.generalization->onlyHarmfulQuestion.empty())
        throw Error("", what, "patching needs the bare harmful question (\"test input of only harmful question\")");
    if (record.safeGeneration.empty() || record.unsafeGeneration.empty())
        throw Error("", what, "patching needs both a safe and an unsafe generation");
    const ChatTemplate format = settings.chatTemplate.value_or(model.tokenizer().detectedChatTemplate());
    const int limit = contextLimit(model.config());
    auto pairOf = [&](const std::string& prompt, const std::string& operation) {
        return teacherForcedPair(model, prompt, record.safeGeneration, record.unsafeGeneration, format,
                                 ContextFit(operation, settings.contextPolicy, limit), what);
    };
    TeacherForcedPair clean = pairOf(record.generalization->onlyHarmfulQuestion, "patching clean pairs");
    TeacherForcedPair corrupt = pairOf(record.adversarialPrompt, "patching corrupt pairs");
    // Both runs score the same generations: the shorter of the two fits where a cut reached them.
    for (auto member : {&TeacherForcedPair::safe, &TeacherForcedPair::unsafe}) {
        const size_t length = std::min((clean.*member).size(), (corrupt.*member).size());
        (clean.*member).resize(length);
        (corrupt.*member).resize(length);
    }
    PatchingRecordResult result =
        patchTokens(model, clean.prompt, corrupt.prompt, corrupt.safe, corrupt.unsafe, settings, job);
    result.recordId = record.id;
    result.context = {clean.fit, corrupt.fit};
    // The map's column labels, so readers of the result need no tokenizer (patchTokens runs without one).
    const auto patchedFrom = corrupt.prompt.end() - static_cast<std::ptrdiff_t>(result.positions.size());
    result.positionTokens = tokenLabels(model.tokenizer(), std::vector<int>(patchedFrom, corrupt.prompt.end()));
    return result;
}

namespace {

// Per-layer means over the records that measured a layer, and the cost multiple; recomputed after a merge.
void summarise(PatchingResult& result, int layers) {
    double work = 0, oneForward = 0;
    std::vector<double> sums(static_cast<size_t>(layers), 0.0);
    std::vector<int> counts(static_cast<size_t>(layers), 0);
    for (const auto& record : result.records) {
        const double one = 2.0 * double(std::max(record.corruptTokens + record.safeTokens,
                                                 record.corruptTokens + record.unsafeTokens)) * layers;
        work += record.forwardMultiple * one;
        oneForward += one;
        for (int layer = 0; layer < layers && layer < static_cast<int>(record.layerRecovered.size()); ++layer)
            if (const auto& value = record.layerRecovered[static_cast<size_t>(layer)]) {
                sums[static_cast<size_t>(layer)] += *value;
                ++counts[static_cast<size_t>(layer)];
            }
    }
    result.meanLayerRecovered.clear();
    for (int layer = 0; layer < layers; ++layer)
        result.meanLayerRecovered.push_back(counts[static_cast<size_t>(layer)]
                                                ? std::optional<double>(sums[static_cast<size_t>(layer)] /
                                                                        counts[static_cast<size_t>(layer)])
                                                : std::nullopt);
    result.forwardMultiple = oneForward > 0 ? work / oneForward : 0;
}

}  // namespace

PatchingResult patchRecords(const Model& model, const SafeEditDataset& dataset, const std::vector<int>& ids,
                            const PatchingSettings& settings, JobControl& job) {
    return patchRecords(model, dataset, ids, settings, 1, 1, job);
}

PatchingResult patchRecords(const Model& model, const SafeEditDataset& dataset, const std::vector<int>& ids,
                            const PatchingSettings& given, int shardIndex, int shardCount, JobControl& job) {
    EvaluationSettings selection;  // evaluate's selection and shard rule
    selection.ids = ids;
    selection.shardIndex = shardIndex;
    selection.shardCount = shardCount;
    const CaseSelection cases = selectCases(dataset, selection);
    PatchingSettings settings = given;
    settings.chatTemplate = given.chatTemplate.value_or(model.tokenizer().detectedChatTemplate());

    PatchingResult result;
    result.point = captureName(settings.point);
    result.lastPositions = settings.lastPositions;
    result.chatTemplate = chatTemplateName(*settings.chatTemplate);
    result.shardIndex = shardIndex;
    result.shardCount = shardCount;
    result.selectedRecords = static_cast<int>(cases.selected.size());
    result.provenance = makeProvenance(model, dataset, "patch", nlohmann::json(settings), 0);
    const int layers = model.config().numLayers;
    const auto& positions = cases.shardPositions;
    for (size_t i = 0; i < positions.size(); ++i) {
        const SafeEditRecord& record = dataset.records[cases.selected[static_cast<size_t>(positions[i])]];
        // Progress per layer, as steps of the whole run; a cancel is noticed after the next layer.
        JobControl inner([&](const Progress& progress) {
            job.checkpoint();
            job.report({static_cast<int>(i) * layers + progress.step, static_cast<int>(positions.size()) * layers,
                        "layers patched (record " + std::to_string(record.id) + ")", {}});
        });
        job.checkpoint();
        PatchingRecordResult measured = patchRecord(model, record, settings, inner);
        job.checkpoint();
        measured.position = positions[i];
        mergeContextFits(result.provenance.context, measured.context);
        result.records.push_back(std::move(measured));
    }
    summarise(result, layers);
    return result;
}

PatchingResult mergePatchings(const std::vector<PatchingResult>& shards) {
    PatchingResult merged = mergeRecordShards(shards, [](const PatchingResult&) { return std::vector<std::pair<std::string, nlohmann::json>>{}; });
    summarise(merged, static_cast<int>(merged.meanLayerRecovered.size()));
    return merged;
}

void savePatching(const std::string& path, const PatchingResult& result) { saveResultFile(path, result); }

PatchingResult loadPatching(const std::string& path) { return loadResultFile<PatchingResult>(path, "activation patching result"); }

}  // namespace detox
