// Activation patching on SafeEdit records (see detox/analysis/patching.h).
#include "detox/analysis/patching.h"

#include <chrono>
#include <cmath>

#include "detox/error.h"
#include "detox/provenance.h"
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

std::vector<int> joined(const std::vector<int>& prompt, const std::vector<int>& generation) {
    std::vector<int> ids = prompt;
    ids.insert(ids.end(), generation.begin(), generation.end());
    return ids;
}

// Sum of log p(generation token | everything before) per row; the rows alternate safe, unsafe.
std::vector<double> generationLogProbs(const Model::Impl& model, const torch::Tensor& hidden, int promptLength,
                                       const std::vector<int>& safe, const std::vector<int>& unsafe) {
    std::vector<double> sums;
    for (int64_t row = 0; row < hidden.size(0); ++row) {
        const std::vector<int>& generation = row % 2 == 0 ? safe : unsafe;
        const auto count = static_cast<int64_t>(generation.size());
        torch::Tensor logits = model.logitLens(hidden[row].narrow(0, promptLength - 1, count));
        torch::Tensor logProbs = logits.to(torch::kCPU, torch::kFloat64).log_softmax(-1);
        torch::Tensor targets = torch::tensor(std::vector<int64_t>(generation.begin(), generation.end()), torch::kInt64);
        sums.push_back(logProbs.gather(1, targets.unsqueeze(1)).sum().item<double>());
    }
    return sums;
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
            {"patches_per_forward", settings.patchesPerForward}};
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
            {"tokens", {{"corrupt_prompt", r.corruptTokens}, {"clean_prompt", r.cleanTokens},
                        {"safe_generation", r.safeTokens}, {"unsafe_generation", r.unsafeTokens}}},
            {"clean", r.clean},
            {"corrupt", r.corrupt},
            {"positions", r.positions},
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
    const auto& tokens = json.at("tokens");
    r.corruptTokens = tokens.at("corrupt_prompt").get<int>();
    r.cleanTokens = tokens.at("clean_prompt").get<int>();
    r.safeTokens = tokens.at("safe_generation").get<int>();
    r.unsafeTokens = tokens.at("unsafe_generation").get<int>();
    r.clean = json.at("clean").get<PatchingScore>();
    r.corrupt = json.at("corrupt").get<PatchingScore>();
    r.positions = json.at("positions").get<std::vector<int>>();
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
    const TokenBatch clean = padTokens({joined(cleanPrompt, safeGeneration), joined(cleanPrompt, unsafeGeneration)},
                                       false, 0, vocab);
    const TokenBatch corrupt = padTokens(
        {joined(corruptPrompt, safeGeneration), joined(corruptPrompt, unsafeGeneration)}, false, 0, vocab);
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
    const Tokenizer& tokenizer = model.tokenizer();
    PatchingRecordResult result = patchTokens(
        model, tokenizer.encode(record.generalization->onlyHarmfulQuestion), tokenizer.encode(record.adversarialPrompt),
        tokenizer.encode(record.safeGeneration, false), tokenizer.encode(record.unsafeGeneration, false), settings, job);
    result.recordId = record.id;
    return result;
}

PatchingResult patchRecords(const Model& model, const SafeEditDataset& dataset, const std::vector<int>& ids,
                            const PatchingSettings& settings, JobControl& job) {
    std::vector<const SafeEditRecord*> records;
    for (int id : ids) {
        const SafeEditRecord* record = dataset.findById(id);
        if (!record) throw Error(dataset.path, "id " + std::to_string(id), "no record with this id");
        records.push_back(record);
    }
    PatchingResult result;
    result.point = captureName(settings.point);
    result.lastPositions = settings.lastPositions;
    result.provenance = makeProvenance(model, dataset, "patch", nlohmann::json(settings), 0);
    const int layers = model.config().numLayers;
    double work = 0, oneForward = 0;
    std::vector<double> sums(static_cast<size_t>(layers), 0.0);
    std::vector<int> counts(static_cast<size_t>(layers), 0);
    for (size_t i = 0; i < records.size(); ++i) {
        // Per record: layers patched, as steps of the whole run.
        // Progress per layer, as steps of the whole run; a cancel is noticed after the next layer.
        JobControl inner([&](const Progress& progress) {
            job.checkpoint();
            job.report({static_cast<int>(i) * layers + progress.step, static_cast<int>(records.size()) * layers,
                        "layers patched (record " + std::to_string(records[i]->id) + ")", {}});
        });
        job.checkpoint();
        PatchingRecordResult record = patchRecord(model, *records[i], settings, inner);
        job.checkpoint();
        const double one = 2.0 * double(std::max(record.corruptTokens + record.safeTokens,
                                                 record.corruptTokens + record.unsafeTokens)) * layers;
        work += record.forwardMultiple * one;
        oneForward += one;
        for (int layer = 0; layer < layers; ++layer)
            if (const auto& value = record.layerRecovered[static_cast<size_t>(layer)]) {
                sums[static_cast<size_t>(layer)] += *value;
                ++counts[static_cast<size_t>(layer)];
            }
        result.records.push_back(std::move(record));
    }
    for (int layer = 0; layer < layers; ++layer)
        result.meanLayerRecovered.push_back(counts[static_cast<size_t>(layer)]
                                                ? std::optional<double>(sums[static_cast<size_t>(layer)] /
                                                                        counts[static_cast<size_t>(layer)])
                                                : std::nullopt);
    result.forwardMultiple = oneForward > 0 ? work / oneForward : 0;
    return result;
}

}  // namespace detox
