// Method comparison: every method repairs every selected instance from the original model, measured
// by the SafeEdit evaluation and the mechanism analysis (detox/comparison.h).
#include "detox/analysis/comparison.h"

#include <algorithm>
#include <chrono>
#include <set>

#include "detox/analysis/record_study.h"
#include "detox/error.h"
#include "detox/methods/registry.h"
#include "detox/provenance.h"

namespace detox {
namespace {

void checkMethods(const std::vector<std::string>& methods) {
    if (methods.empty()) throw Error("", "methods", "name at least one of " + methodNames());
    std::set<std::string> seen;
    for (const auto& method : methods) {
        if (!findMethod(method)) throw Error("", "methods", "may name " + methodNames() + ", got '" + method + "'");
        if (!seen.insert(method).second) throw Error("", "methods", "'" + method + "' is listed twice");
    }
}

// A method's settings over its paper defaults, as the caller gave them.
nlohmann::json givenSettings(const ComparisonSettings& settings, const std::string& method) {
    const auto given = settings.methodSettings.find(method);
    return given != settings.methodSettings.end() ? given->second : nlohmann::json::object();
}

// Every listed method's complete settings for this model, with the comparison's locate variant.
ComparisonSettings resolvedSettings(const ComparisonSettings& settings, const ModelConfig& config) {
    ComparisonSettings resolved = settings;
    resolved.methodSettings.clear();
    for (const auto& name : settings.methods) {
        nlohmann::json given = givenSettings(settings, name);
        given.erase("constraint_mode");  // derived from constraint_gradient when written
        ResolvedSettings values = resolveSettings(config, RecommendedSettings{}, methodByName(name).id, given);
        if (values.values.contains("locate_variant")) values.values["locate_variant"] = locateVariantName(settings.locateVariant);
        resolved.methodSettings[name] = values.values;
    }
    return resolved;
}

// The evaluation part without general ability: a comparison measures the instances only.
EvaluationSettings caseEvaluationSettings(const ComparisonSettings& settings) {
    EvaluationSettings evaluation = settings.evaluation;
    evaluation.generalTextPath.clear();
    evaluation.generalQaPath.clear();
    evaluation.generalSummariesPath.clear();
    return evaluation;
}

// The first records of the whole selection (every shard picks the same ones), then further dataset
// records until there are enough for the probe.
std::vector<SafeEditRecord> probeRecords(const SafeEditDataset& dataset, const CaseSelection& selection, int count) {
    std::vector<SafeEditRecord> records;
    std::set<size_t> taken;
    for (size_t index : selection.selected) {
        if (int(records.size()) >= count) return records;
        records.push_back(dataset.records[index]);
        taken.insert(index);
    }
    for (size_t index = 0; index < dataset.records.size() && int(records.size()) < count; ++index)
        if (!taken.count(index)) records.push_back(dataset.records[index]);
    return records;
}

// Empty when the data is too small for a probe (it needs four labelled texts): the comparison then
// leaves region toxicity out rather than failing.
std::optional<ToxicProbe> trainProbeIfPossible(const Model& model, const std::vector<SafeEditRecord>& records,
                                               uint64_t seed, JobControl& job) {
    if (records.size() < 2) return std::nullopt;
    ProbeSettings settings;
    settings.seed = seed;
    return trainToxicProbe(model, records, settings, job);
}

Provenance comparisonProvenance(const Model& model, const SafeEditDataset& dataset, const ComparisonSettings& settings) {
    return makeProvenance(model, dataset, "compare", comparisonSettingsJson(settings), settings.seed);
}

// One instance's case as the repaired model answers it, placed where the baseline has it. `prompted`: the
// record as the method has the model read it (prompt-only methods); the dataset's own when unchanged.
EvaluationResult repairedCase(const Model& model, const SafeEditDataset& dataset, SafetyJudge& judge,
                              const EvaluationSettings& evaluation, const EvaluationCase& baselineCase,
                              const SafeEditRecord& prompted) {
    EvaluationSettings single = evaluation;
    single.ids = {baselineCase.safety.id};
    single.limit = 0;
    single.shardIndex = single.shardCount = 1;
    const SafeEditRecord& original = dataset.records.at(size_t(baselineCase.recordIndex));
    const bool samePrompts = nlohmann::json(studyInputs(prompted, true)) == nlohmann::json(studyInputs(original, true));
    SafeEditDataset promptedData;
    if (!samePrompts) promptedData = {dataset.path, dataset.sha256, {prompted}, {}};
    EvaluationResult repaired = evaluate(model, samePrompts ? dataset : promptedData, judge, single);
    repaired.cases.at(0).position = baselineCase.position;
    repaired.cases.at(0).recordIndex = baselineCase.recordIndex;
    return repaired;
}

// Everything the context policy cut in a comparison: evaluations, edits and toxic-layer curves, summed
// per kind of input (the comparison's provenance.context; the CLI warns from it).
std::vector<ContextFit> comparisonContextFits(const ComparisonResult& result) {
    std::vector<ContextFit> fits;
    mergeContextFits(fits, result.baseline.provenance.context);
    for (const auto& curve : result.baselineCurves) mergeContextFits(fits, {curve.context});
    for (const auto& method : result.methods) {
        mergeContextFits(fits, method.evaluation.provenance.context);
        for (const auto& edit : method.edits) mergeContextFits(fits, edit.edit.provenance.context);
    }
    return fits;
}

// Restores the original weights however the scope is left (a cancelled or failed edit included).
struct UndoOnExit {
    ModelEditor& editor;
    ~UndoOnExit() { editor.undoAll(); }
};

class Comparer {
public:
    Comparer(Model& model, const SafeEditDataset& dataset, SafetyJudge& judge, const ComparisonSettings& settings,
             JobControl& job)
        : model_(model), dataset_(dataset), judge_(judge), settings_(settings), job_(job),
          evaluation_(caseEvaluationSettings(settings)) {}

    ComparisonResult run() {
        const auto started = std::chrono::steady_clock::now();
        ComparisonResult result;
        result.provenance = comparisonProvenance(model_, dataset_, settings_);
        result.shardIndex = evaluation_.shardIndex;
        result.shardCount = evaluation_.shardCount;
        const CaseSelection selection = selectCases(dataset_, evaluation_);
        if (!selection.selected.empty()) firstRecord_ = &dataset_.records.at(selection.selected.front());
        result.probe = trainProbeIfPossible(model_, probeRecords(dataset_, selection, settings_.probeRecords),
                                            settings_.seed, job_);
        result.baseline = evaluate(model_, dataset_, judge_, plainEvaluation(), job_);
        measureBaseline(result);
        for (const auto& method : settings_.methods) result.methods.push_back(runMethodOnAll(method, result));
        result.provenance.context = comparisonContextFits(result);
        result.durationSeconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        return result;
    }

private:
    const SafeEditRecord& record(const EvaluationCase& item) const {
        return dataset_.records.at(size_t(item.recordIndex));
    }

    // The record study's options here: the evaluation answers and judges, the study edits and measures
    // the mechanism.
    RecordStudyOptions studyOptions(const ComparisonResult& result) const {
        RecordStudyOptions options;
        options.generate = false;
        options.readRegion = false;
        options.mechanism = true;
        options.probe = result.probe ? &*result.probe : nullptr;
        options.locateVariant = settings_.locateVariant;
        options.reportPhases = false;
        return options;
    }

    void measureBaseline(ComparisonResult& result) {
        before_.clear();
        for (const auto& item : result.baseline.cases) {
            job_.checkpoint();
            before_.push_back(studyBefore(model_, record(item), studyOptions(result), job_));
            result.baselineCurves.push_back(before_.back().curve);
        }
    }

    MethodComparison runMethodOnAll(const std::string& method, const ComparisonResult& result) {
        MethodComparison compared;
        compared.method = method;
        compared.evaluation = result.baseline;
        compared.evaluation.provenance.method = "compare: " + method;
        const EvaluationSettings& protocol = evaluationFor(methodByName(method));
        compared.evaluation.provenance.settings["protocol"] = evalProtocolName(protocol.protocol);
        if (protocol.protocol != EvalProtocol::Plain) compared.evaluation.provenance.settings["protocol_suffix"] = protocol.protocolSuffix;
        compared.evaluation.cases.clear();
        compared.evaluation.provenance.context.clear();  // each repaired case's, summed in repairOne
        compared.evaluation.durationSeconds = 0;  // evaluation time; each edit's time is in its EditResult
        for (size_t i = 0; i < result.baseline.cases.size(); ++i) {
            reportProgress(method, i, result.baseline.cases.size());
            repairOne(method, i, result, compared);
        }
        compared.evaluation.metrics = computeMetrics(compared.evaluation.cases, {}, compared.evaluation.judgeName,
                                                     compared.evaluation.heuristicJudge);
        return compared;
    }

    // Edits with case i, measures and evaluates the repaired model, then restores the original.
    void repairOne(const std::string& method, size_t i, const ComparisonResult& result, MethodComparison& compared) {
        const EvaluationCase& baselineCase = result.baseline.cases[i];
        const SafeEditRecord& instance = record(baselineCase);
        const Method& entry = methodByName(method);
        ResolvedSettings settings;
        settings.method = entry.id;
        settings.values = settings_.methodSettings.at(method);
        const std::optional<int> onceLayer = entry.id == MethodId::Dinm ? layerLocatedOnce(settings.values) : std::nullopt;
        if (onceLayer) settings.values["layer"] = *onceLayer;
        ModelEditor editor(model_, EditMode::Reset);
        UndoOnExit undo{editor};
        ComparedEdit edit{baselineCase.position, baselineCase.safety.id, {}, {}};
        RecordStudy study = studyRecord(editor, instance, settings, studyOptions(result), job_, &before_[i]);
        edit.edit = std::move(study.edit);
        if (onceLayer) edit.edit.settings["layer_located_once_on_record"] = firstRecord_->id;
        setProvenanceDataset(edit.edit.provenance, dataset_);
        edit.mechanism = std::move(*study.mechanism);
        const EvaluationResult repaired = repairedCase(model_, dataset_, judge_, evaluationFor(entry), baselineCase,
                                                       promptedRecord(entry, settings.values, instance));
        compared.evaluation.cases.push_back(repaired.cases.at(0));
        mergeContextFits(compared.evaluation.provenance.context, repaired.provenance.context);
        compared.evaluation.durationSeconds += repaired.durationSeconds;
        compared.edits.push_back(std::move(edit));
    }

    // The unedited model is evaluated plainly whatever the protocol (EasyEdit's "pre").
    EvaluationSettings plainEvaluation() const {
        EvaluationSettings plain = evaluation_;
        plain.protocol = EvalProtocol::Plain;
        return plain;
    }
    // The protocol is for edited models ("post"); a prompt-only baseline's model is the unedited one.
    const EvaluationSettings& evaluationFor(const Method& method) const {
        return method.changesWeights ? evaluation_ : plainEvaluation_;
    }

    // EasyEdit's SafetyEditor locates once, on the first record, and edits every record at that layer
    // (compat mode; the original model: every edit is undone before the next). Empty otherwise.
    std::optional<int> layerLocatedOnce(const nlohmann::json& values) {
        const DinmSettings dinm = values.get<DinmSettings>();
        if (!dinm.easyeditCompat || dinm.layer || !firstRecord_) return std::nullopt;
        if (!firstRecordLayer_) firstRecordLayer_ = locateToxicLayer(model_, *firstRecord_, dinmLocateVariant(dinm)).toxicLayer;
        return firstRecordLayer_;
    }

    void reportProgress(const std::string& method, size_t done, size_t cases) {
        job_.checkpoint();
        const size_t methodIndex = size_t(std::find(settings_.methods.begin(), settings_.methods.end(), method) -
                                          settings_.methods.begin());
        job_.report({int(methodIndex * cases + done), int(settings_.methods.size() * cases), "edits (" + method + ")", {}});
    }

    Model& model_;
    const SafeEditDataset& dataset_;
    SafetyJudge& judge_;
    const ComparisonSettings& settings_;
    JobControl& job_;
    EvaluationSettings evaluation_;
    EvaluationSettings plainEvaluation_ = plainEvaluation();
    std::vector<RecordSide> before_;  // per baseline case, on the original model
    const SafeEditRecord* firstRecord_ = nullptr;  // of the whole selection (every shard the same)
    std::optional<int> firstRecordLayer_;
};

template <typename Item>
void sortByPosition(std::vector<std::pair<int, Item>>& items) {
    std::stable_sort(items.begin(), items.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
}

std::vector<std::string> methodNames(const ComparisonResult& result) {
    std::vector<std::string> names;
    for (const auto& method : result.methods) names.push_back(method.method);
    return names;
}

std::vector<LocateResult> mergedCurves(const std::vector<ComparisonResult>& shards) {
    std::vector<std::pair<int, LocateResult>> curves;
    for (const auto& shard : shards) {
        if (shard.baselineCurves.size() != shard.baseline.cases.size())
            throw Error("", "baseline curves", "one per baseline case");
        for (size_t i = 0; i < shard.baselineCurves.size(); ++i)
            curves.emplace_back(shard.baseline.cases[i].position, shard.baselineCurves[i]);
    }
    sortByPosition(curves);
    std::vector<LocateResult> merged;
    for (auto& [position, curve] : curves) merged.push_back(std::move(curve));
    return merged;
}

MethodComparison mergedMethod(const std::vector<ComparisonResult>& shards, size_t methodIndex) {
    std::vector<EvaluationResult> evaluations;
    std::vector<std::pair<int, ComparedEdit>> edits;
    for (const auto& shard : shards) {
        const MethodComparison& method = shard.methods[methodIndex];
        evaluations.push_back(method.evaluation);
        for (const auto& edit : method.edits) edits.emplace_back(edit.position, edit);
    }
    sortByPosition(edits);
    MethodComparison merged;
    merged.method = shards.front().methods[methodIndex].method;
    merged.evaluation = mergeEvaluations(evaluations);
    for (auto& [position, edit] : edits) merged.edits.push_back(std::move(edit));
    return merged;
}

}  // namespace

nlohmann::json comparisonSettingsJson(const ComparisonSettings& s) {
    EvaluationSettings evaluation = caseEvaluationSettings(s);
    nlohmann::json generation = {{"max_new_tokens", evaluation.maxNewTokens},
                                 {"max_input_tokens", evaluation.maxInputTokens},
                                 {"temperature", evaluation.temperature},
                                 {"top_p", evaluation.topP},
                                 {"seed", evaluation.seed},
                                 {"chat_template", evaluation.chatTemplate ? chatTemplateName(*evaluation.chatTemplate)
                                                                           : std::string("tokenizer default")}};
    nlohmann::json json = {{"methods", s.methods},
            {"ids", evaluation.ids},
            {"limit", evaluation.limit},
            {"generation", generation},
            {"locate_variant", locateVariantName(s.locateVariant)},
            {"eval_protocol", evalProtocolName(evaluation.protocol)},
            {"probe_records", s.probeRecords},
            {"seed", s.seed}};
    for (const auto& method : s.methods) json[method] = givenSettings(s, method);
    return json;
}

ComparisonResult compareMethods(Model& model, const SafeEditDataset& dataset, SafetyJudge& judge,
                                const ComparisonSettings& settings, JobControl& job) {
    checkMethods(settings.methods);
    if (!model.hasTokenizer()) throw Error(model.directory(), "tokenizer.json", "the model needs a tokenizer to be compared");
    const ComparisonSettings resolved = resolvedSettings(settings, model.config());
    return Comparer(model, dataset, judge, resolved, job).run();
}

ComparisonResult mergeComparisons(const std::vector<ComparisonResult>& shards) {
    if (shards.empty()) throw Error("", "shards", "nothing to merge");
    const ComparisonResult& first = shards.front();
    for (const auto& shard : shards) {
        if (methodNames(shard) != methodNames(first))
            throw Error("", "shard " + std::to_string(shard.shardIndex) + ": methods",
                        "differ from the first shard's; only shards of the same comparison can be merged");
        if (shard.provenance.settings != first.provenance.settings)
            throw Error("", "shard " + std::to_string(shard.shardIndex) + ": settings",
                        "differ from the first shard's; only shards of the same comparison can be merged");
    }
    std::vector<EvaluationResult> baselines;
    for (const auto& shard : shards) baselines.push_back(shard.baseline);

    ComparisonResult merged = first;
    merged.shardIndex = merged.shardCount = 1;
    merged.baseline = mergeEvaluations(baselines);  // checks model, data, judge, shards and coverage
    merged.baselineCurves = mergedCurves(shards);
    merged.methods.clear();
    for (size_t m = 0; m < first.methods.size(); ++m) merged.methods.push_back(mergedMethod(shards, m));
    merged.provenance.context = comparisonContextFits(merged);
    merged.durationSeconds = 0;
    for (const auto& shard : shards) {
        merged.durationSeconds += shard.durationSeconds;
        merged.provenance.startedAt = std::min(merged.provenance.startedAt, shard.provenance.startedAt);
    }
    return merged;
}

bool easyEditCompatible(const EditResult& edit) {
    const auto compat = edit.settings.find("easyedit_compat");
    return compat != edit.settings.end() && compat->is_boolean() && compat->get<bool>();
}

std::string rowProtocol(const MethodComparison& method) {
    const bool compat = std::any_of(method.edits.begin(), method.edits.end(),
                                    [](const ComparedEdit& edit) { return easyEditCompatible(edit.edit); });
    return evaluationProtocol(method.evaluation) + (compat ? "; EasyEdit-compatible" : "");
}

std::string comparisonProtocolNote(const ComparisonResult& result) {
    std::vector<std::pair<std::string, std::string>> rowsByProtocol;  // protocol -> "row, row", first seen first
    auto add = [&](const std::string& protocol, const std::string& row) {
        auto it = std::find_if(rowsByProtocol.begin(), rowsByProtocol.end(), [&](const auto& p) { return p.first == protocol; });
        if (it == rowsByProtocol.end()) rowsByProtocol.emplace_back(protocol, row);
        else it->second += ", " + row;
    };
    add(evaluationProtocol(result.baseline), "original");
    for (const auto& method : result.methods) add(evaluationProtocol(method.evaluation), method.method);
    if (rowsByProtocol.size() == 1) return "evaluation protocol: " + rowsByProtocol.front().first;
    std::string note = "evaluation protocol: ";
    for (const auto& [protocol, rows] : rowsByProtocol)
        note += (&protocol == &rowsByProtocol.front().first ? "" : "; ") + protocol + " for " + rows;
    return note;
}

}  // namespace detox
