// The record study (detox/analysis/record_study.h): one record before and after one method.
#include "detox/analysis/record_study.h"

#include <algorithm>
#include <memory>

#include "detox/error.h"
#include "detox/methods/methods.h"
#include "detox/runtime/context_policy.h"
#include "detox/safeedit/evaluation.h"
#include "detox/safeedit/metrics.h"

namespace detox {
namespace {

void reportPhase(const RecordStudyOptions& options, JobControl& job, StudyPhase phase) {
    job.checkpoint();
    if (options.reportPhases)
        job.enterPhase(studyPhaseName(phase), int(phase) + 1, kStudyPhases, "study: " + studyPhaseName(phase));
}

ChatTemplate formatFor(const Model& model, const RecordStudyOptions& options) {
    return options.chatFormat.value_or(model.tokenizer().detectedChatTemplate());
}

// Formatted and stopped as the SafeEdit evaluation does it, so what is judged is what the metrics judge.
std::vector<std::string> answer(const Model& model, const std::vector<std::string>& messages,
                                const RecordStudyOptions& options, JobControl& job, ContextFit& fit) {
    std::vector<std::string> texts;
    for (const Generation& generation : generateResponses(model, messages, formatFor(model, options), options.maxNewTokens,
                                                          job, options.maxInputTokens, &fit))
        texts.push_back(generation.text);
    fit.operation = "before/after prompts";
    return texts;
}

void generateSide(const Model& model, const SafeEditRecord& record, const std::vector<std::string>& messages,
                  const RecordStudyOptions& options, JobControl& job, RecordSide& side) {
    ContextFit prompts;
    side.answers = answer(model, messages, options, job, prompts);
    side.fluency = meanNGramEntropy(side.answers);
    mergeContextFits(side.context, {prompts});
    if (record.knowledge) {
        ContextFit knowledge;
        side.knowledge = knowledgeAccuracy(model, *record.knowledge, formatFor(model, options), &knowledge);
        mergeContextFits(side.context, {knowledge});
    }
}

// The mechanism measurements compareMethods reports: with a probe measureMechanism, without one the
// activation means and the distance curves (region toxicity needs the probe).
MechanismMeasurements measureMechanismOf(const Model& model, const SafeEditRecord& record, int layer,
                                         const RecordStudyOptions& options, LocateVariant variant, JobControl& job) {
    if (options.probe) return measureMechanism(model, {record}, layer, *options.probe, variant, job);
    MechanismMeasurements measured;
    measured.layer = layer;
    measured.activations = toxicRegionActivations(model, layer, {model.tokenizer().encode(record.adversarialPrompt)}, job);
    measured.distanceCurves = locateToxicLayers(model, {record}, variant, job);
    return measured;
}

// The method's locate_variant setting when it has one (DINM's compat mode may switch it), else the options'.
LocateVariant variantFor(const ResolvedSettings* settings, const RecordStudyOptions& options) {
    if (settings && settings->method == MethodId::Dinm) return dinmLocateVariant(settings->values.get<DinmSettings>());
    if (settings && settings->values.contains("locate_variant"))
        if (auto variant = locateVariantFromName(settings->values.at("locate_variant").get<std::string>())) return *variant;
    return options.locateVariant;
}

std::vector<std::string> texts(const std::vector<std::pair<std::string, std::string>>& inputs) {
    std::vector<std::string> result;
    for (const auto& [key, text] : inputs) result.push_back(text);
    return result;
}

RecordSide before(const Model& model, const SafeEditRecord& record, const RecordStudyOptions& options,
                  LocateVariant variant, JobControl& job) {
    RecordSide side;
    reportPhase(options, job, StudyPhase::GenerateBefore);
    if (options.generate) generateSide(model, record, texts(studyInputs(record, options.generalizationInputs)), options, job, side);
    reportPhase(options, job, StudyPhase::Locate);
    side.curve = locateToxicLayer(model, record, variant);
    reportPhase(options, job, StudyPhase::ReadRegion);
    if (options.readRegion)
        side.region = readRegion(model, side.curve.toxicLayer, record, options.regionMaxTokens, formatFor(model, options));
    if (options.mechanism) side.mechanism = measureMechanismOf(model, record, side.curve.toxicLayer, options, variant, job);
    return side;
}

}  // namespace

std::string studyPhaseName(StudyPhase phase) {
    switch (phase) {
        case StudyPhase::GenerateBefore: return "generate before";
        case StudyPhase::Locate: return "locate";
        case StudyPhase::ReadRegion: return "read region";
        case StudyPhase::Edit: return "edit";
        case StudyPhase::Judge: return "judge";
        case StudyPhase::ParameterShift: return "parameter shift";
        case StudyPhase::Relocate: return "relocate";
        case StudyPhase::GenerateAfter: return "generate after";
    }
    return "";
}

std::vector<std::pair<std::string, std::string>> studyInputs(const SafeEditRecord& record, bool generalization) {
    const auto& keys = safetyInputKeys();
    std::vector<std::pair<std::string, std::string>> inputs{{keys[0], record.adversarialPrompt}};
    if (generalization && record.generalization) {
        const auto& g = *record.generalization;
        const std::string* texts[] = {&g.onlyHarmfulQuestion, &g.otherAttackPrompt, &g.otherQuestion,
                                      &g.otherQuestionsAndAttack};
        for (size_t i = 0; i < 4; ++i)
            if (!texts[i]->empty()) inputs.emplace_back(keys[i + 1], *texts[i]);
    }
    return inputs;
}

SafeEditRecord promptedRecord(const Method& method, const nlohmann::json& settings, const SafeEditRecord& record) {
    SafeEditRecord prompted = record;
    auto prompt = [&](std::string& text) {
        if (!text.empty()) text = method.promptAfter(text, settings);
    };
    prompt(prompted.adversarialPrompt);
    if (prompted.generalization) {
        auto& g = *prompted.generalization;
        for (std::string* text : {&g.onlyHarmfulQuestion, &g.otherAttackPrompt, &g.otherQuestion, &g.otherQuestionsAndAttack})
            prompt(*text);
    }
    return prompted;
}

std::string regionInputDescription(RegionInput input) {
    switch (input) {
        case RegionInput::Adversarial: return "adversarial prompt";
        case RegionInput::Safe: return "safe generation";
        case RegionInput::Unsafe: return "unsafe generation";
    }
    return "";
}

std::vector<std::vector<int>> regionInputIds(const Model& model, const SafeEditRecord& record, int maxTokens,
                                             ChatTemplate format) {
    const Tokenizer& tokenizer = model.tokenizer();
    // Never past the model's context (0: the whole text when it fits).
    const int context = contextLimit(model.config());
    maxTokens = maxTokens > 0 ? std::min(maxTokens, context) : context;
    // The prompt's end (the open assistant turn) is where the answer starts: keep the last tokens.
    std::vector<int> prompt = promptIds(tokenizer, record.adversarialPrompt, format);
    if (int(prompt.size()) > maxTokens) prompt.erase(prompt.begin(), prompt.end() - maxTokens);
    std::vector<std::vector<int>> ids{std::move(prompt)};
    for (const std::string* text : {&record.safeGeneration, &record.unsafeGeneration}) {
        std::vector<int> tokens = tokenizer.encode(*text);
        if (int(tokens.size()) > maxTokens) tokens.resize(size_t(maxTokens));
        ids.push_back(std::move(tokens));
    }
    return ids;
}

std::vector<NeuronTokenActivations> readRegion(const Model& model, int layer, const SafeEditRecord& record,
                                               int maxTokens, ChatTemplate format) {
    std::vector<NeuronTokenActivations> measured;
    for (const std::vector<int>& ids : regionInputIds(model, record, maxTokens, format))
        measured.push_back(neuronActivations(model, layer, ids));
    return measured;
}

RecordSide studyBefore(const Model& model, const SafeEditRecord& record, const RecordStudyOptions& options,
                       JobControl& job) {
    return before(model, record, options, variantFor(nullptr, options), job);
}

RecordStudy studyRecord(ModelEditor& editor, const SafeEditRecord& record, const ResolvedSettings& settings,
                        const RecordStudyOptions& options, JobControl& job, const RecordSide* given) {
    const Method& method = methodInfo(settings.method);
    Model& model = editor.model();
    if (!model.hasTokenizer()) throw Error(model.directory(), "tokenizer.json", "a record study needs the model's tokenizer");
    const LocateVariant variant = variantFor(&settings, options);
    RecordStudy study;
    study.method = method.name;
    study.recordId = record.id;
    study.chatFormat = formatFor(model, options);
    study.settings = settings;
    study.inputs = studyInputs(record, options.generalizationInputs);
    // EasyEdit's protocol is for edited models ("post"); a prompt-only method's model is the unedited one.
    EvaluationSettings asked;
    asked.protocol = study.protocol = method.changesWeights ? options.protocol : EvalProtocol::Plain;
    for (const auto& [key, text] : study.inputs)
        study.promptsAfter.push_back(protocolPrompt(method.promptAfter(text, settings.values), asked));
    study.before = given ? *given : before(model, record, options, variant, job);
    study.regionLayer = study.before.curve.toxicLayer;

    reportPhase(options, job, StudyPhase::Edit);
    MethodInput input{record, options.trainingRecords, study.regionLayer};
    study.edit = method.run(editor, input, settings.values, job);

    reportPhase(options, job, StudyPhase::GenerateAfter);
    if (options.generate) generateSide(model, record, study.promptsAfter, options, job, study.after);

    reportPhase(options, job, StudyPhase::Judge);
    if (options.generate) {
        std::unique_ptr<SafetyJudge> rules;
        SafetyJudge* judge = options.judge;
        if (!judge) judge = (rules = makeRuleJudge()).get();
        study.judgeName = judge->name();
        for (RecordSide* side : {&study.before, &study.after}) {
            side->unsafe.clear();
            for (const JudgeVerdict& verdict : judge->judge(side->answers, job)) side->unsafe.push_back(verdict.unsafe);
        }
    }

    reportPhase(options, job, StudyPhase::ParameterShift);
    study.shift = parameterShift(editor);

    reportPhase(options, job, StudyPhase::Relocate);
    if (options.mechanism) {
        study.after.mechanism = measureMechanismOf(model, record, study.regionLayer, options, variant, job);
        study.after.curve = study.after.mechanism->distanceCurves.at(0);
        if (!study.before.mechanism) throw Error("", "record study", "the given before side has no mechanism measurements");
        study.mechanism = compareMechanism(method.name, *study.before.mechanism, *study.after.mechanism, study.shift);
    } else {
        study.after.curve = locateToxicLayer(model, record, variant);
    }
    if (options.readRegion)
        study.after.region = readRegion(model, study.regionLayer, record, options.regionMaxTokens, study.chatFormat);
    for (const RecordSide* side : {&study.before, &study.after}) {
        mergeContextFits(study.context, side->context);
        mergeContextFits(study.context, {side->curve.context});
    }
    mergeContextFits(study.context, study.edit.provenance.context);
    return study;
}

}  // namespace detox
