// detox compare: DINM, SFT and DPO side by side on the same SafeEdit instance(s), each starting from the
// original model. One JSON file with, per method: the edit results (loss history, timing, settings),
// the five SafeEdit inputs' generations with judge labels and DS/DG metrics, and the mechanism view
// (parameter shift, toxic-region activation shift and toxicity, per-layer distance curves before/after).
#include <algorithm>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli_commands.h"
#include "cli_progress.h"
#include "detox/fileio.h"
#include "detox/judge.h"
#include "detox/locate.h"
#include "detox/mechanism.h"
#include "detox/methods.h"
#include "detox/metrics.h"
#include "detox/model.h"
#include "detox/results.h"
#include "detox/safeedit.h"
#include "detox/version.h"

namespace detox::cli {
namespace {

constexpr const char* kCompareKind = "detox-compare";
constexpr int kCompareFormatVersion = 1;

std::vector<std::string> methodList(const Arguments& args) {
    std::vector<std::string> methods;
    std::stringstream text(args.valueOr("methods", "dinm,sft,dpo"));
    for (std::string name; std::getline(text, name, ',');) {
        if (name.empty()) continue;
        if (name != "dinm" && name != "sft" && name != "dpo")
            throw BadArguments("--methods may name dinm, sft and dpo, got '" + name + "'");
        if (std::find(methods.begin(), methods.end(), name) == methods.end()) methods.push_back(name);
    }
    if (methods.empty()) throw BadArguments("--methods needs at least one method");
    return methods;
}

// The five SafeEdit inputs of a record keyed like metrics.h (only the adversarial prompt without a
// generalization block).
std::map<std::string, std::string> caseInputs(const SafeEditRecord& record) {
    std::map<std::string, std::string> inputs{{kInputDS, record.adversarialPrompt}};
    if (record.generalization) {
        const GeneralizationTest& g = *record.generalization;
        inputs[kInputOnlyQ] = g.onlyHarmfulQuestion;
        inputs[kInputOtherA] = g.otherAttackPrompt;
        inputs[kInputOtherQ] = g.otherQuestion;
        inputs[kInputOtherAQ] = g.otherQuestionsAndAttack;
    }
    return inputs;
}

// Greedy answers to each record's inputs, judged; one CaseResult per record.
std::vector<CaseResult> generateCases(const Model& model, const std::vector<SafeEditRecord>& records,
                                      int maxNewTokens, SafetyJudge& judge, JobControl& job) {
    std::vector<CaseResult> cases;
    GenerationSettings settings;
    settings.maxNewTokens = maxNewTokens;
    for (const auto& record : records) {
        CaseResult item;
        item.id = record.id;
        item.category = record.category;
        item.inputs = caseInputs(record);
        for (const auto& [key, text] : item.inputs) {
            if (text.empty()) continue;
            item.responses[key] = model.generate({model.tokenizer().encode(text)}, settings)[0].text;
            job.checkpoint();
        }
        cases.push_back(std::move(item));
    }
    judgeCases(judge, cases, job);
    return cases;
}

// The layer most of the records locate (the lowest on ties): where SFT/DPO's region is measured.
int commonToxicLayer(const std::vector<LocateResult>& located) {
    std::map<int, int> votes;
    for (const auto& result : located) ++votes[result.toxicLayer];
    int best = located.front().toxicLayer;
    for (const auto& [layer, count] : votes)
        if (count > votes[best]) best = layer;
    return best;
}

struct CompareSettings {
    std::vector<std::string> methods;
    std::vector<int> ids;
    int maxNewTokens = 16;
    uint64_t seed = 0;
    DinmSettings dinm;
    SftSettings sft;
    DpoSettings dpo;
};

CompareSettings compareSettings(const Arguments& args, const Model& model) {
    CompareSettings s;
    s.methods = methodList(args);
    s.ids = args.has("ids") ? args.intList("ids") : std::vector<int>{};
    if (s.ids.empty()) throw BadArguments("--ids needs at least one record id");
    s.maxNewTokens = args.intValue("max-new-tokens", 16);
    s.seed = static_cast<uint64_t>(args.intValue("seed", 0));
    s.dinm.learningRate = args.doubleValue("dinm-lr", defaultDinmLearningRate(model.config()));
    s.dinm.maxSteps = args.intValue("dinm-steps", 10);
    s.dinm.seed = s.seed;
    s.sft.learningRate = args.doubleValue("sft-lr", s.sft.learningRate);
    s.sft.epochs = args.intValue("epochs", 1);
    s.sft.batchSize = 1;
    s.sft.seed = s.seed;
    s.dpo.learningRate = args.doubleValue("dpo-lr", s.dpo.learningRate);
    s.dpo.epochs = args.intValue("epochs", 1);
    s.dpo.batchSize = 1;
    s.dpo.seed = s.seed;
    if (args.has("train-layers")) {
        s.sft.parameters.layers = args.intList("train-layers");
        s.dpo.parameters.layers = s.sft.parameters.layers;
    }
    return s;
}

nlohmann::json settingsJson(const CompareSettings& s) {
    return {{"methods", s.methods}, {"ids", s.ids}, {"max_new_tokens", s.maxNewTokens}, {"seed", s.seed},
            {"dinm", s.dinm},       {"sft", s.sft}, {"dpo", s.dpo}};
}

// Probe on the given records plus further dataset records (it needs at least 4 examples); null JSON and
// no toxicity numbers when the data has too few.
std::optional<ToxicProbe> trainProbe(const Model& model, const SafeEditDataset& data,
                                     const std::vector<SafeEditRecord>& records, uint64_t seed) {
    std::vector<SafeEditRecord> probeRecords = records;
    for (const auto& record : data.records) {
        if (probeRecords.size() >= 32) break;
        if (std::none_of(records.begin(), records.end(), [&](const auto& r) { return r.id == record.id; }))
            probeRecords.push_back(record);
    }
    ProbeSettings settings;
    settings.seed = seed;
    try {
        return trainToxicProbe(model, probeRecords, settings);
    } catch (const Error& e) {
        std::cerr << "compare: no toxic probe (" << e.what() << "); region toxicity is left out" << std::endl;
        return std::nullopt;
    }
}

struct MethodRun {
    std::vector<EditResult> edits;
    std::vector<MechanismComparison> mechanisms;
    std::vector<CaseResult> cases;
};


class Comparison {
public:
    Comparison(Model model, const SafeEditDataset& data, std::vector<SafeEditRecord> records, CompareSettings settings)
        : editor_(model, EditMode::Reset), data_(data), records_(std::move(records)), settings_(std::move(settings)),
          judge_(makeRuleJudge()), progress_("compare"), job_(progress_.sink()) {}

    nlohmann::json run() {
        Model& model = editor_.model();
        const std::string modelHash = model.contentHash();
        std::cerr << "compare: baseline (toxic layers, probe, generations)" << std::endl;
        located_ = locateToxicLayers(model, records_, LocateVariant::Masked, job_);
        probe_ = trainProbe(model, data_, records_, settings_.seed);
        nlohmann::json out = {{"kind", kCompareKind}, {"format_version", kCompareFormatVersion}};
        out["provenance"] = provenance(model, modelHash);
        out["judge"] = {{"name", judge_->name()}, {"heuristic", judge_->heuristic()}};
        out["probe"] = probe_ ? nlohmann::json(*probe_) : nlohmann::json();
        std::vector<CaseResult> baseCases = generateCases(model, records_, settings_.maxNewTokens, *judge_, job_);
        out["baseline"] = {{"cases", baseCases}, {"metrics", metrics(baseCases)}, {"curves", located_}};
        out["methods"] = nlohmann::json::array();
        for (const auto& method : settings_.methods) {
            std::cerr << "compare: " << method << std::endl;
            MethodRun run = method == "dinm" ? runDinm() : runTrainer(method);
            editor_.undoAll();
            out["methods"].push_back(methodJson(method, run));
        }
        return out;
    }

private:
    Provenance provenance(const Model& model, const std::string& modelHash) const {
        Provenance p;
        p.appVersion = appVersion();
        p.modelDirectory = model.directory();
        p.modelHash = modelHash;
        p.datasetPath = data_.path;
        p.datasetHash = data_.sha256;
        p.method = "compare";
        p.settings = settingsJson(settings_);
        p.seed = settings_.seed;
        p.startedAt = utcTimestamp();
        return p;
    }

    SafetyMetrics metrics(const std::vector<CaseResult>& cases) const {
        SafetyMetrics m = aggregate(cases);
        m.judge = judge_->name();
        m.heuristicJudge = judge_->heuristic();
        return m;
    }

    MechanismMeasurements measure(const std::vector<SafeEditRecord>& records, int layer) {
        Model& model = editor_.model();
        MechanismMeasurements m;
        m.layer = layer;
        std::vector<std::vector<int>> prompts;
        for (const auto& record : records) prompts.push_back(model.tokenizer().encode(record.adversarialPrompt));
        m.activations = toxicRegionActivations(model, layer, prompts, job_);
        if (probe_) m.regionToxicity = regionToxicity(model, layer, *probe_);
        m.distanceCurves = locateToxicLayers(model, records, LocateVariant::Masked, job_);
        return m;
    }

    // DINM edits one instance at a time, each from the original model (Reset mode).
    MethodRun runDinm() {
        MethodRun run;
        for (size_t i = 0; i < records_.size(); ++i) {
            editor_.undoAll();
            const int layer = located_[i].toxicLayer;
            MechanismMeasurements before = measure({records_[i]}, layer);
            DinmSettings settings = settings_.dinm;
            settings.layer = layer;
            EditResult edit = editor_.dinm(records_[i], settings, job_);
            finishEdit(edit);
            MechanismMeasurements after = measure({records_[i]}, layer);
            run.mechanisms.push_back(compareMechanism("dinm", before, after, parameterShift(editor_)));
            auto cases = generateCases(editor_.model(), {records_[i]}, settings_.maxNewTokens, *judge_, job_);
            run.cases.push_back(cases.front());
            run.edits.push_back(std::move(edit));
        }
        return run;
    }

    // SFT / DPO train once on all the given records.
    MethodRun runTrainer(const std::string& method) {
        MethodRun run;
        editor_.undoAll();
        Model& model = editor_.model();
        const int layer = commonToxicLayer(located_);
        MechanismMeasurements before = measure(records_, layer);
        EditResult edit = method == "sft"
                              ? editor_.sft(tokenizePairs(model.tokenizer(), safeResponsePairs(records_)), settings_.sft, job_)
                              : editor_.dpo(preferencePairs(model.tokenizer(), records_), settings_.dpo, job_);
        finishEdit(edit);
        MechanismMeasurements after = measure(records_, layer);
        run.mechanisms.push_back(compareMechanism(method, before, after, parameterShift(editor_)));
        run.cases = generateCases(model, records_, settings_.maxNewTokens, *judge_, job_);
        run.edits.push_back(std::move(edit));
        return run;
    }

    void finishEdit(EditResult& edit) const {
        edit.provenance.datasetPath = data_.path;
        edit.provenance.datasetHash = data_.sha256;
    }

    nlohmann::json methodJson(const std::string& method, const MethodRun& run) const {
        double seconds = 0;
        for (const auto& edit : run.edits) seconds += edit.durationSeconds;
        nlohmann::json mechanisms = nlohmann::json::array();
        for (const auto& m : run.mechanisms) {
            nlohmann::json item = m;
            if (!probe_) item["toxicity_before"] = item["toxicity_after"] = item["toxicity_reduction"] = nullptr;
            mechanisms.push_back(item);
        }
        return {{"method", method}, {"edits", run.edits},       {"duration_seconds", seconds},
                {"cases", run.cases}, {"metrics", metrics(run.cases)}, {"mechanism", mechanisms}};
    }

    ModelEditor editor_;
    const SafeEditDataset& data_;
    std::vector<SafeEditRecord> records_;
    CompareSettings settings_;
    std::unique_ptr<SafetyJudge> judge_;
    ProgressReporter progress_;
    JobControl job_;
    std::vector<LocateResult> located_;
    std::optional<ToxicProbe> probe_;
};

int runCompare(const Arguments& args) {
    if (!args.has("out")) throw BadArguments("--out FILE.json is required");
    std::cerr << "loading model " << args.value("model") << std::endl;
    Model model = Model::load(args.value("model"));
    SafeEditDataset data = loadSafeEdit(args.value("data"));
    CompareSettings settings = compareSettings(args, model);
    std::vector<SafeEditRecord> records;
    for (int id : settings.ids) {
        const SafeEditRecord* record = data.findById(id);
        if (!record) throw Error(data.path, "id " + std::to_string(id), "no record with this id");
        records.push_back(*record);
    }
    Comparison comparison(model, data, std::move(records), std::move(settings));
    nlohmann::json result = comparison.run();
    const std::string out = args.value("out");
    writeFileAtomically(out, result.dump(1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
    std::cerr << "compare: wrote " << out << std::endl;
    return kExitOk;
}

const bool kCompareRegistered = registerCommand({
    "compare",
    "run DINM, SFT and DPO from the original model on the same records; metrics and mechanism to JSON",
    {
        {"model", "DIR", "HF checkpoint folder (with tokenizer.json)"},
        {"data", "FILE", "SafeEdit JSON file"},
        {"ids", "IDS", "comma-separated record ids"},
        {"methods", "LIST", "any of dinm,sft,dpo (all three)"},
        {"out", "FILE", "the result JSON"},
        {"max-new-tokens", "N", "greedy generation length per input (16)"},
        {"seed", "S", "seed (provenance; SFT/DPO example order; probe split)"},
        {"dinm-steps", "N", "DINM optimizer steps (10)"},
        {"dinm-lr", "X", "DINM learning rate (5e-4, Mistral 1e-5)"},
        {"epochs", "N", "SFT/DPO epochs (1)"},
        {"sft-lr", "X", "SFT learning rate (1e-5)"},
        {"dpo-lr", "X", "DPO learning rate (5e-6)"},
        {"train-layers", "IDS", "SFT/DPO: train only these layers"},
    },
    runCompare,
});

}  // namespace
}  // namespace detox::cli
