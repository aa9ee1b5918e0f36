// Comparison results as JSON and files (detox/comparison.h). The mechanism types only had a JSON
// writer; their readers live here, next to the one file format that reads them back.

#include "detox/analysis/comparison.h"
#include "detox/error.h"
#include "detox/fileio.h"

namespace detox {

void from_json(const nlohmann::json& json, ParameterShiftMatrix& shift);
void from_json(const nlohmann::json& json, ActivationShift& shift);
void from_json(const nlohmann::json& json, ToxicProbe& probe);

namespace {

// 2: the probe-cosine keys are region_toxicity_* (format 1 called them toxicity_*, a name the Compare
// view's judge-based defense gain also claimed); format 1 files are still read.
constexpr int kFormatVersion = 2;

double numberOrZero(const nlohmann::json& json, const std::string& key) {
    return json.contains(key) && json.at(key).is_number() ? json.at(key).get<double>() : 0.0;
}

nlohmann::json mechanismJson(const MechanismComparison& mechanism, bool hasProbe) {
    nlohmann::json json = mechanism;
    // Without a probe there is no region toxicity to report: null, not a misleading 0.
    if (!hasProbe)
        json["region_toxicity_before"] = json["region_toxicity_after"] = json["region_toxicity_reduction"] = nullptr;
    return json;
}

nlohmann::json editJson(const ComparedEdit& edit, bool hasProbe) {
    return {{"position", edit.position}, {"id", edit.recordId}, {"edit", edit.edit},
            {"mechanism", mechanismJson(edit.mechanism, hasProbe)}};
}

// The numbers a reader looks for first: metrics and mean mechanism figures of each method (the region
// activation change as a fraction, x100 = %).
nlohmann::json methodSummary(const MethodComparison& method, bool hasProbe) {
    double seconds = 0, normChange = 0, reduction = 0, largestShift = 0;
    for (const auto& edit : method.edits) {
        seconds += edit.edit.durationSeconds;
        normChange += edit.mechanism.activationShift.relativeNormChange;
        reduction += edit.mechanism.regionToxicityReduction;
        for (const auto& row : edit.mechanism.parameterShift.relative)
            for (double value : row) largestShift = std::max(largestShift, value);
    }
    const double count = method.edits.empty() ? 1.0 : double(method.edits.size());
    nlohmann::json summary = {{"edits", method.edits.size()},
                              {"edit_seconds", seconds},
                              {"mean_region_activation_change", normChange / count},
                              {"largest_relative_parameter_shift", largestShift}};
    summary["mean_region_toxicity_reduction"] = hasProbe ? nlohmann::json(reduction / count) : nlohmann::json();
    return summary;
}

}  // namespace

void from_json(const nlohmann::json& json, ParameterShiftMatrix& shift) {
    shift.layers = json.at("layers").get<std::vector<int>>();
    shift.modules = json.at("modules").get<std::vector<std::string>>();
    shift.tensors = json.at("tensors").get<std::vector<std::vector<std::string>>>();
    shift.relative = json.at("relative").get<std::vector<std::vector<double>>>();
}

void from_json(const nlohmann::json& json, ActivationShift& shift) {
    shift.layer = json.at("layer").get<int>();
    shift.meanBefore = json.at("mean_before").get<std::vector<double>>();
    shift.meanAfter = json.at("mean_after").get<std::vector<double>>();
    shift.normBefore = json.at("norm_before").get<double>();
    shift.normAfter = json.at("norm_after").get<double>();
    shift.relativeNormChange = json.at("relative_norm_change").get<double>();
    shift.topNeurons = json.at("top_neurons").get<std::vector<int>>();
    shift.topChanges = json.at("top_changes").get<std::vector<double>>();
}

void from_json(const nlohmann::json& json, ToxicProbe& probe) {
    probe.weights = json.at("weights").get<std::vector<double>>();
    probe.bias = json.at("bias").get<double>();
    probe.trainAccuracy = json.at("train_accuracy").get<double>();
    probe.heldOutAccuracy = json.at("held_out_accuracy").get<double>();
    probe.trainCount = json.at("train_count").get<int>();
    probe.heldOutCount = json.at("held_out_count").get<int>();
}

namespace {

MechanismComparison readMechanism(const nlohmann::json& json, int formatVersion) {
    const std::string prefix = formatVersion >= 2 ? "region_toxicity_" : "toxicity_";
    MechanismComparison comparison;
    comparison.method = json.at("method").get<std::string>();
    comparison.layer = json.at("layer").get<int>();
    comparison.parameterShift = json.at("parameter_shift").get<ParameterShiftMatrix>();
    comparison.activationShift = json.at("activation_shift").get<ActivationShift>();
    comparison.regionToxicityBefore = numberOrZero(json, prefix + "before");
    comparison.regionToxicityAfter = numberOrZero(json, prefix + "after");
    comparison.regionToxicityReduction = numberOrZero(json, prefix + "reduction");
    comparison.curvesBefore = json.at("curves_before").get<std::vector<LocateResult>>();
    comparison.curvesAfter = json.at("curves_after").get<std::vector<LocateResult>>();
    return comparison;
}

}  // namespace

bool isComparisonJson(const nlohmann::json& json) {
    return json.is_object() && json.value("kind", std::string()) == kComparisonKind;
}

void to_json(nlohmann::json& json, const ComparisonResult& result) {
    const bool hasProbe = result.probe.has_value();
    nlohmann::json provenance = result.provenance;
    provenance["judge"] = result.baseline.judgeName;
    provenance["heuristic_judge"] = result.baseline.heuristicJudge;
    provenance["shard"] = {{"index", result.shardIndex}, {"count", result.shardCount}};
    provenance["duration_seconds"] = result.durationSeconds;
    nlohmann::json summary = {{"original", {{"metrics", result.baseline.metrics}}}};
    nlohmann::json methods = nlohmann::json::array();
    for (const auto& method : result.methods) {
        nlohmann::json edits = nlohmann::json::array();
        for (const auto& edit : method.edits) edits.push_back(editJson(edit, hasProbe));
        methods.push_back({{"method", method.method}, {"evaluation", method.evaluation}, {"edits", edits}});
        summary[method.method] = methodSummary(method, hasProbe);
        summary[method.method]["metrics"] = method.evaluation.metrics;
    }
    json = {{"kind", kComparisonKind},
            {"format_version", kFormatVersion},
            {"provenance", provenance},
            {"summary", summary},
            {"probe", hasProbe ? nlohmann::json(*result.probe) : nlohmann::json()},
            {"baseline", {{"evaluation", result.baseline}, {"curves", result.baselineCurves}}},
            {"methods", methods}};
}

void from_json(const nlohmann::json& json, ComparisonResult& result) {
    if (!isComparisonJson(json))
        throw Error("", "kind", std::string("expected \"") + kComparisonKind + "\" (a detox compare result)");
    const int formatVersion = json.value("format_version", 1);
    if (formatVersion > kFormatVersion)
        throw Error("", "format_version",
                    "expected " + std::to_string(kFormatVersion) + " or lower (written by a newer detox), got " +
                        std::to_string(formatVersion));
    const nlohmann::json& provenance = json.at("provenance");
    from_json(provenance, result.provenance);
    result.shardIndex = provenance.at("shard").at("index").get<int>();
    result.shardCount = provenance.at("shard").at("count").get<int>();
    result.durationSeconds = provenance.value("duration_seconds", 0.0);
    result.probe.reset();
    if (!json.at("probe").is_null()) result.probe = json.at("probe").get<ToxicProbe>();
    result.baseline = json.at("baseline").at("evaluation").get<EvaluationResult>();
    result.baselineCurves = json.at("baseline").at("curves").get<std::vector<LocateResult>>();
    result.methods.clear();
    for (const auto& item : json.at("methods")) {
        MethodComparison method;
        method.method = item.at("method").get<std::string>();
        method.evaluation = item.at("evaluation").get<EvaluationResult>();
        for (const auto& edit : item.at("edits"))
            method.edits.push_back({edit.at("position").get<int>(), edit.at("id").get<int>(),
                                    edit.at("edit").get<EditResult>(), readMechanism(edit.at("mechanism"), formatVersion)});
        result.methods.push_back(std::move(method));
    }
}

void saveComparison(const std::string& path, const ComparisonResult& result) {
    const nlohmann::json json = result;
    writeFileAtomically(path, json.dump(1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
}

ComparisonResult loadComparison(const std::string& path) {
    const std::string text = readFile(path);
    try {
        return nlohmann::json::parse(text).get<ComparisonResult>();
    } catch (const Error& e) {
        throw Error(path, "", e.what());
    } catch (const nlohmann::json::exception& e) {
        throw Error(path, "", std::string("not a valid compare result: ") + e.what());
    }
}

}  // namespace detox
