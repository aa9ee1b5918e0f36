// The method registry and the record study: resolveSettings' values and the source of each (paper,
// the model's detox_method_defaults.json, the user), and every registered method run through
// studyRecord on a tiny model, its before/after fields equal to the values computed directly.
#include <algorithm>
#include <QTemporaryDir>
#include <QtTest>

#include "detox/analysis/locate.h"
#include "detox/analysis/mechanism.h"
#include "detox/analysis/record_study.h"
#include "detox/demo/demo_model.h"
#include "detox/error.h"
#include "detox/fileio.h"
#include "detox/methods/methods.h"
#include "detox/methods/registry.h"
#include "detox/safeedit/evaluation.h"
#include "detox/safeedit/judge.h"
#include "detox/safeedit/metrics.h"
#include "reference_answers.h"
#include "test_methods_models.h"
#include "tiny_model.h"

using namespace detox;

namespace {

std::vector<double> ruleLabels(const std::vector<std::string>& answers) {
    std::vector<double> labels;
    for (const JudgeVerdict& verdict : makeRuleJudge()->judge(answers, noJobControl())) labels.push_back(verdict.unsafe);
    return labels;
}

void compareRegion(const std::vector<NeuronTokenActivations>& measured, const Model& model, int layer,
                   const SafeEditRecord& record, ChatTemplate format) {
    const auto ids = regionInputIds(model, record, 0, format);  // the study reads each input whole (within the context)
    QCOMPARE(measured.size(), ids.size());
    for (size_t i = 0; i < ids.size(); ++i) {
        const NeuronTokenActivations direct = neuronActivations(model, layer, ids[i]);
        QCOMPARE(measured[i].ids, direct.ids);
        QCOMPARE(measured[i].values, direct.values);
    }
}

}  // namespace

class MethodsRegistryTest : public QObject {
    Q_OBJECT

    QTemporaryDir dir_;
    SafeEditRecord record_;

private Q_SLOTS:
    void initTestCase() {
        test::writeByteLevelTokenizer(dir_.path().toStdString());
        const SafeEditDataset data = loadSafeEdit(demoDatasetPath("test"));
        record_ = data.records.at(0);
        QVERIFY(record_.knowledge && record_.generalization);
    }

    void registryListsEveryMethodOnce() {
        QCOMPARE(methodNames(), std::string("dinm, sft, dpo, self-reminder, suffix-prompt"));
        for (const Method& method : methodRegistry()) {
            QCOMPARE(&methodInfo(method.id), &method);
            QCOMPARE(findMethod(method.name), &method);
            QVERIFY(!method.plotRole.empty());
            for (const SettingField& field : method.form)
                QVERIFY2(method.paperDefaults(ModelConfig{}).contains(field.key), field.key.c_str());
        }
        QVERIFY(!findMethod("rome"));
        QVERIFY_THROWS_EXCEPTION(Error, methodByName("rome"));
        QVERIFY(!methodInfo(MethodId::SelfReminder).changesWeights);
        QVERIFY(!methodInfo(MethodId::SuffixPrompt).changesWeights);
    }

    // No detox_method_defaults.json: the paper's values, every one sourced "paper".
    void noRecommendationGivesThePapersDefaults() {
        const ModelConfig llama = test::tinyLlamaConfig(2);
        const ResolvedSettings dinm = resolveSettings(llama, {}, MethodId::Dinm);
        QCOMPARE(dinm.values.at("learning_rate").get<double>(), 5e-4);
        QCOMPARE(dinm.values.at("max_steps").get<int>(), 10);
        QCOMPARE(dinm.values.at("edit_loss_weight").get<double>(), 0.1);
        QVERIFY(!dinm.fromRecommendation());
        for (const auto& [key, value] : dinm.values.items()) QCOMPARE(dinm.source(key), SettingSource::Paper);
        ModelConfig mistral = llama;
        mistral.modelType = "mistral";
        QCOMPARE(resolveSettings(mistral, {}, MethodId::Dinm).values.at("learning_rate").get<double>(), 1e-5);
        const ResolvedSettings sft = resolveSettings(llama, {}, MethodId::Sft);
        QCOMPARE(sft.values.at("learning_rate").get<double>(), 1e-5);
        QCOMPARE(sft.values.at("epochs").get<int>(), 1);
        const ResolvedSettings dpo = resolveSettings(llama, {}, MethodId::Dpo);
        QCOMPARE(dpo.values.at("learning_rate").get<double>(), 5e-6);
        QCOMPARE(dpo.values.at("beta").get<double>(), 0.1);
        const ResolvedSettings reminder = resolveSettings(llama, {}, MethodId::SelfReminder);
        QCOMPARE(methodInfo(MethodId::SelfReminder).promptAfter("Tell me a joke.", reminder.values),
                 selfReminderPrompt("Tell me a joke."));
        const ResolvedSettings suffix = resolveSettings(llama, {}, MethodId::SuffixPrompt);
        QCOMPARE(methodInfo(MethodId::SuffixPrompt).promptAfter("Q?", suffix.values),
                 std::string("Q? ") + kDinmSuffixSystemPrompt);
        // The typed settings read back what the JSON holds.
        QCOMPARE(dinm.values.get<DinmSettings>().maxSteps, 10);
        QCOMPARE(nlohmann::json(dpo.values.get<DpoSettings>()), dpo.values);
        QCOMPARE(nlohmann::json(sft.values.get<SftSettings>()), sft.values);
        QCOMPARE(nlohmann::json(dinm.values.get<DinmSettings>()), dinm.values);
    }

    // The shipped demo model's recommendations (demoRecommendedSettings: DINM's rate, SFT/DPO rate x epochs)
    // come first; the rest stays the paper's.
    void modelRecommendationComesBeforeThePaper() {
        std::string demo;
        try {
            demo = demoModelPath();
        } catch (const Error&) {
            QSKIP("the demo model is not built");
        }
        const ModelConfig config = readModelConfig(demo);
        const RecommendedSettings recommended = loadRecommendedSettings(demo);
        const ResolvedSettings dinm = resolveSettings(config, recommended, MethodId::Dinm);
        const RecommendedSettings demoDefaults = demoRecommendedSettings();
        QCOMPARE(dinm.values.at("learning_rate").get<double>(), *demoDefaults.recommendation("dinm").learningRate);
        QCOMPARE(dinm.source("learning_rate"), SettingSource::ModelRecommendation);
        QCOMPARE(dinm.values.at("max_steps").get<int>(), 10);
        QCOMPARE(dinm.source("max_steps"), SettingSource::Paper);
        QCOMPARE(dinm.recommendationFile, recommended.path);
        QVERIFY(dinm.recommendationReason.find("never the test split") != std::string::npos);
        for (MethodId id : {MethodId::Sft, MethodId::Dpo}) {
            const ResolvedSettings trainer = resolveSettings(config, recommended, id);
            const auto& expected = demoDefaults.recommendation(id == MethodId::Sft ? "sft" : "dpo");
            QCOMPARE(trainer.values.at("learning_rate").get<double>(), *expected.learningRate);
            QCOMPARE(trainer.values.at("epochs").get<int>(), *expected.steps);
            QCOMPARE(trainer.source("epochs"), SettingSource::ModelRecommendation);
            QCOMPARE(trainer.source("batch_size"), SettingSource::Paper);
        }
        QCOMPARE(resolveSettings(config, recommended, MethodId::Dpo).values.at("beta").get<double>(), 0.1);
        // A prompt-only method takes no recommendation.
        QVERIFY(!resolveSettings(config, recommended, MethodId::SelfReminder).fromRecommendation());
    }

    // The Model overload reads the model's own file; the user's values win over it, and an unknown key is refused.
    void userSettingsWin() {
        const std::string folder = dir_.path().toStdString() + "/recommending";
        test::writeTinyLlama(folder, 3);
        writeFileAtomically(folder + "/" + recommendedSettingsFileName(),
                            R"({"dinm": {"learning_rate": 0.003, "steps": 4}, "dpo": {"learning_rate": 0.004}})");
        const Model model = Model::load(folder);
        const ResolvedSettings fromFile = resolveSettings(model, MethodId::Dinm);
        QCOMPARE(fromFile.values.at("learning_rate").get<double>(), 0.003);
        QCOMPARE(fromFile.values.at("max_steps").get<int>(), 4);
        const ResolvedSettings user = resolveSettings(model, MethodId::Dinm, {{"learning_rate", 0.5}, {"edit_loss_weight", 2.0}});
        QCOMPARE(user.values.at("learning_rate").get<double>(), 0.5);
        QCOMPARE(user.source("learning_rate"), SettingSource::User);
        QCOMPARE(user.values.at("max_steps").get<int>(), 4);
        QCOMPARE(user.source("max_steps"), SettingSource::ModelRecommendation);
        QCOMPARE(user.values.at("edit_loss_weight").get<double>(), 2.0);
        QCOMPARE(user.source("edit_loss_weight"), SettingSource::User);
        // DPO: the file's learning rate (the bug fixed in c1ff022 took the paper's 5e-6 here), the paper's epochs.
        const ResolvedSettings dpo = resolveSettings(model, MethodId::Dpo);
        QCOMPARE(dpo.values.at("learning_rate").get<double>(), 0.004);
        QCOMPARE(dpo.source("epochs"), SettingSource::Paper);
        QCOMPARE(settingSourceName(SettingSource::ModelRecommendation), std::string("model recommendation"));
        try {
            resolveSettings(model, MethodId::Sft, {{"beta", 0.2}});
            QFAIL("an SFT setting 'beta' was accepted");
        } catch (const Error& error) {
            QVERIFY2(std::string(error.what()).find("sft.beta") != std::string::npos, error.what());
        }
    }

    // Every registered method through the record study on a tiny model: each field equals the value
    // computed directly on the model before and after.
    void everyMethodRunsThroughTheRecordStudy() {
        const ChatTemplate format = ChatTemplate::Plain;
        const int tokens = 4;
        for (const Method& method : methodRegistry()) {
            Model model = test::tinyLlama(11, dir_.path().toStdString(), 2, 5.0);
            const auto original = test::parameterCopies(model);
            const auto inputs = studyInputs(record_, true);
            QCOMPARE(inputs.size(), size_t(5));
            std::vector<std::string> messages;
            for (const auto& [key, text] : inputs) messages.push_back(text);
            const std::vector<std::string> before = detox::test::chatFormattedAnswers(model, messages, format, tokens);
            const LocateResult curveBefore = locateToxicLayer(model, record_, LocateVariant::Masked);
            const std::optional<double> knowledgeBefore = knowledgeAccuracy(model, *record_.knowledge, format);

            nlohmann::json user = nlohmann::json::object();
            if (method.stepsKey == "max_steps") user = {{"max_steps", 2}, {"learning_rate", 0.05}};
            if (method.stepsKey == "epochs") user = {{"batch_size", 1}, {"learning_rate", 1e-3}};
            const ResolvedSettings settings = resolveSettings(model.config(), {}, method.id, user);
            RecordStudyOptions options;
            options.chatFormat = format;
            options.maxNewTokens = tokens;
            std::vector<std::string> phases;
            std::vector<Progress> reports;
            JobControl job([&](const Progress& progress) {
                if (progress.message.rfind("study: ", 0) == 0) phases.push_back(progress.message.substr(7));
                reports.push_back(progress);
            });
            ModelEditor editor(model);
            const RecordStudy study = studyRecord(editor, record_, settings, options, job);
            const QByteArray name = QByteArray::fromStdString(method.name);

            QCOMPARE(study.method, method.name);
            QCOMPARE(phases.size(), size_t(kStudyPhases));
            QCOMPARE(phases.front(), std::string("generate before"));
            QCOMPARE(phases.back(), std::string("relocate"));
            // Every report carries its phase by name, and the done fraction never goes back: the method's
            // last step is not 100 %, the after-edit generations are past the edit and not done either.
            double done = 0;
            for (const Progress& progress : reports) {
                QCOMPARE(progress.phaseCount, kStudyPhases);
                QCOMPARE(progress.phase, studyPhaseName(StudyPhase(progress.phaseIndex - 1)));
                QVERIFY(doneFraction(progress) >= done);
                done = doneFraction(progress);
                if (progress.phase == "edit") QVERIFY(done <= double(int(StudyPhase::Edit) + 1) / kStudyPhases);
                if (progress.phase == "generate after") QVERIFY(done >= double(int(StudyPhase::Edit) + 1) / kStudyPhases && done < 1.0);
            }
            const bool stepsInEdit = std::any_of(reports.begin(), reports.end(), [](const Progress& progress) {
                return progress.phase == "edit" && progress.total > 0;
            });
            if (!method.stepsKey.empty()) QVERIFY2(stepsInEdit, name.constData());  // the weight edits' steps
            QCOMPARE(study.before.answers, before);
            QCOMPARE(study.before.fluency, meanNGramEntropy(before));
            QCOMPARE(study.before.knowledge, knowledgeBefore);
            QCOMPARE(study.before.curve.distances, curveBefore.distances);
            QCOMPARE(study.regionLayer, curveBefore.toxicLayer);
            QCOMPARE(study.before.unsafe, ruleLabels(before));

            // After: the same measurements on the model as the method left it, with the method's prompts.
            std::vector<std::string> promptsAfter;
            for (const std::string& message : messages) promptsAfter.push_back(method.promptAfter(message, settings.values));
            QCOMPARE(study.promptsAfter, promptsAfter);
            const std::vector<std::string> after = detox::test::chatFormattedAnswers(model, promptsAfter, format, tokens);
            QCOMPARE(study.after.answers, after);
            QCOMPARE(study.after.fluency, meanNGramEntropy(after));
            QCOMPARE(study.after.unsafe, ruleLabels(after));
            QCOMPARE(study.after.knowledge, knowledgeAccuracy(model, *record_.knowledge, format));
            QCOMPARE(study.after.curve.distances, locateToxicLayer(model, record_, LocateVariant::Masked).distances);
            compareRegion(study.before.region, test::tinyLlama(11, dir_.path().toStdString(), 2, 5.0), study.regionLayer,
                          record_, format);
            compareRegion(study.after.region, model, study.regionLayer, record_, format);
            const ParameterShiftMatrix shift = parameterShift(editor);
            QCOMPARE(study.shift.relative, shift.relative);

            const std::vector<std::string> changed = test::differingParameters(model, original);
            QCOMPARE(study.edit.method, method.name);
            if (method.changesWeights) {
                QVERIFY2(!changed.empty(), name);
                QVERIFY2(!study.edit.lossHistory.empty(), name);
                QCOMPARE(study.edit.settings.at("learning_rate"), settings.values.at("learning_rate"));
            } else {
                QVERIFY2(changed.empty(), name);
                QVERIFY2(study.edit.changedTensors.empty() && study.edit.lossHistory.empty(), name);
                QVERIFY2(promptsAfter[0] != messages[0] && promptsAfter[0].find(messages[0]) != std::string::npos, name);
                QCOMPARE(study.after.curve.distances, curveBefore.distances);
            }
            if (method.id == MethodId::Dinm) {
                QCOMPARE(study.edit.toxicLayer, curveBefore.toxicLayer);  // the study's located layer is edited
                QCOMPARE(changed, std::vector<std::string>{toxicRegionTensorName(model, curveBefore.toxicLayer)});
            }
            editor.undoAll();
            QCOMPARE(test::differingParameters(model, original), std::vector<std::string>{});
        }
    }

    // The comparison's first half alone equals the study's, and a prompted record changes only the inputs.
    void promptedRecordChangesOnlyTheInputs() {
        const Method& reminder = methodInfo(MethodId::SelfReminder);
        const nlohmann::json settings = reminder.paperDefaults(ModelConfig{});
        const SafeEditRecord prompted = promptedRecord(reminder, settings, record_);
        QCOMPARE(prompted.adversarialPrompt, selfReminderPrompt(record_.adversarialPrompt));
        QCOMPARE(prompted.generalization->otherQuestion, selfReminderPrompt(record_.generalization->otherQuestion));
        QCOMPARE(prompted.safeGeneration, record_.safeGeneration);
        QCOMPARE(prompted.knowledge->prompt, record_.knowledge->prompt);
        const SafeEditRecord same = promptedRecord(methodInfo(MethodId::Dinm), {}, record_);
        QCOMPARE(same.adversarialPrompt, record_.adversarialPrompt);
    }
};

QTEST_GUILESS_MAIN(MethodsRegistryTest)
#include "test_methods_registry.moc"
