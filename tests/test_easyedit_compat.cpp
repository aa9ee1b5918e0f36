// DINM against an independent reimplementation of EasyEdit's (tests/tools/easyedit_dinm_reference.py,
// python3-torch, numbers committed in tests/easyedit_dinm_reference.json): loss per step and the change
// of every trained tensor (norm and the four largest entries), in compat mode and in the default mode,
// on the stories260K Llama (from the record's texts: the reference tokenizes with its own reading of
// tokenizer.json and its ids are compared too) and the tiny GPT-2 (from token ids; it has no tokenizer).
// Also the EasyEdit locate variants (right and left padding) against the reference's distances.
#include <QtTest>
#include <cmath>
#include <fstream>

#include "detox/analysis/locate.h"
#include "detox/methods/methods.h"
#include "fixtures.h"

using namespace detox;
using nlohmann::json;

namespace {

constexpr double kRelative = 1e-5;
constexpr double kZeroFloor = 1e-7;  // values that are 0 at step 0 (the KL before any change)

json reference() {
    std::ifstream in(test::sourcePath("tests/easyedit_dinm_reference.json").toStdString());
    return json::parse(in);
}

bool close(double actual, double expected) {
    return std::abs(actual - expected) <= kRelative * std::abs(expected) + kZeroFloor;
}

#define COMPARE_CLOSE(actual, expected, what)                                                         \
    QVERIFY2(close(actual, expected), qPrintable(QStringLiteral("%1: %2 vs reference %3")             \
                                                     .arg(QString::fromStdString(what))               \
                                                     .arg(actual, 0, 'g', 9)                           \
                                                     .arg(expected, 0, 'g', 9)))

DinmSettings settingsFrom(const json& ref, bool compat) {
    const json& s = ref.at("settings");
    DinmSettings settings;
    settings.learningRate = s.at("learning_rate").get<double>();
    settings.maxSteps = s.at("max_steps").get<int>();
    settings.editLossWeight = s.at("edit_loss_weight").get<double>();
    settings.stopLoss = s.at("stop_loss").get<double>();
    settings.suffixSystemPrompt = s.at("suffix_system_prompt").get<std::string>();
    settings.easyeditCompat = compat;
    return settings;
}

SafeEditRecord recordFrom(const json& ref) {
    const json& r = ref.at("record");
    SafeEditRecord record;
    record.id = 1;
    record.adversarialPrompt = r.at("adversarial_prompt").get<std::string>();
    record.safeGeneration = r.at("safe_generation").get<std::string>();
    record.unsafeGeneration = r.at("unsafe_generation").get<std::string>();
    record.knowledge = KnowledgeConstraint{r.at("knowledge_prompt").get<std::string>(), r.at("knowledge_answer").get<std::string>()};
    return record;
}

std::vector<int> concat(std::vector<int> a, const std::vector<int>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

// Runs DINM and compares the loss history and every trained tensor's change with the reference case.
void compareEdit(Model& model, const DinmInputs& inputs, const DinmSettings& settings, const json& expected) {
    const int layer = expected.at("layer").get<int>();
    std::map<std::string, FloatTensor> before;
    for (const auto& [name, summary] : expected.at("tensors").items()) before[name] = model.parameter(name);
    const EditResult result = runDinm(model, inputs, layer, settings);

    const json& losses = expected.at("loss");
    QCOMPARE(result.lossHistory.size(), losses.size());
    for (size_t step = 0; step < losses.size(); ++step) {
        const std::string at = "step " + std::to_string(step);
        COMPARE_CLOSE(result.lossHistory[step].total, losses[step].at("total").get<double>(), at + " total");
        COMPARE_CLOSE(result.lossHistory[step].edit, losses[step].at("edit").get<double>(), at + " edit");
        COMPARE_CLOSE(result.lossHistory[step].constraint, losses[step].at("constraint").get<double>(), at + " constraint");
    }
    std::vector<std::string> changed = result.changedTensors;
    std::sort(changed.begin(), changed.end());
    std::vector<std::string> expectedNames;
    for (const auto& [name, summary] : expected.at("tensors").items()) expectedNames.push_back(name);
    QCOMPARE(changed, expectedNames);  // json objects iterate in sorted key order
    for (const auto& [name, summary] : expected.at("tensors").items()) {
        const FloatTensor after = model.parameter(name);
        QCOMPARE(after.shape, summary.at("shape").get<std::vector<int64_t>>());
        double square = 0;
        for (size_t i = 0; i < after.values.size(); ++i) square += std::pow(double(after.values[i]) - before[name].values[i], 2);
        COMPARE_CLOSE(std::sqrt(square), summary.at("delta_norm").get<double>(), name + " delta norm");
        for (const auto& entry : summary.at("largest_entries")) {
            const size_t index = entry.at(0).get<size_t>();
            const double delta = double(after.values.at(index)) - before[name].values.at(index);
            COMPARE_CLOSE(delta, entry.at(1).get<double>(), name + " delta[" + std::to_string(index) + "]");
        }
        model.setParameter(name, before[name]);
    }
}

}  // namespace

class TestEasyEditCompat : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void llamaInputsAreEasyEditsTokenization() {
        DETOX_REQUIRE_FIXTURE("stories260K-hf/tokenizer.json");
        const json ref = reference();
        Model model = Model::load(test::fixturePath("stories260K-hf").toStdString());
        const SafeEditRecord record = recordFrom(ref);
        const json& compat = ref.at("cases").at("stories260K_easyedit");
        const DinmInputs easy = dinmInputs(model.tokenizer(), record, settingsFrom(ref, true));
        QVERIFY(easy.easyEditAlignment);
        QCOMPARE(concat(easy.editPromptIds, easy.editTargetIds), compat.at("edit_ids").get<std::vector<int>>());
        QCOMPARE(easy.editLabelIds, compat.at("edit_labels").get<std::vector<int>>());
        QCOMPARE(easy.editLabelIds.front(), 1);  // BOS: the extra -log p(BOS) term
        QCOMPARE(concat(easy.constraintPromptIds, easy.constraintAnswerIds), compat.at("constraint_ids").get<std::vector<int>>());
        QCOMPARE(int(easy.constraintAnswerIds.size()), compat.at("constraint_window").get<int>());

        const json& plain = ref.at("cases").at("stories260K_default");
        const DinmInputs own = dinmInputs(model.tokenizer(), record, settingsFrom(ref, false));
        QVERIFY(!own.easyEditAlignment);
        QCOMPARE(own.editPromptIds, plain.at("edit_prompt_ids").get<std::vector<int>>());
        QCOMPARE(own.editTargetIds, plain.at("edit_target_ids").get<std::vector<int>>());
        QCOMPARE(own.constraintPromptIds, plain.at("constraint_prompt_ids").get<std::vector<int>>());
        QCOMPARE(own.constraintAnswerIds, plain.at("constraint_answer_ids").get<std::vector<int>>());
    }

    void easyEditTextsFollowRunSafetyEditing() {
        SafeEditRecord record;
        record.adversarialPrompt = "Q";
        record.safeGeneration = "S";
        record.knowledge = KnowledgeConstraint{"K", "A"};
        const EasyEditDinmTexts texts = easyEditDinmTexts(record, "SUFFIX");
        QCOMPARE(texts.edit, std::string("Q SUFFIX  S"));
        QCOMPARE(texts.editLabels, std::string(" S"));
        QCOMPARE(texts.constraint, std::string("K SUFFIX A"));
        QCOMPARE(texts.constraintAnswer, std::string("A"));
    }

    void llamaEdit_data() {
        QTest::addColumn<bool>("compat");
        QTest::addColumn<bool>("cached");
        QTest::newRow("easyedit") << true << true;
        QTest::newRow("easyedit, full forward") << true << false;
        QTest::newRow("default") << false << true;
        QTest::newRow("default, full forward") << false << false;
    }
    void llamaEdit() {
        DETOX_REQUIRE_FIXTURE("stories260K-hf/model.safetensors");
        QFETCH(bool, compat);
        QFETCH(bool, cached);
        const json ref = reference();
        Model model = Model::load(test::fixturePath("stories260K-hf").toStdString());
        DinmSettings settings = settingsFrom(ref, compat);
        settings.cacheLowerLayers = cached;
        const DinmInputs inputs = dinmInputs(model.tokenizer(), recordFrom(ref), settings);
        compareEdit(model, inputs, settings, ref.at("cases").at(compat ? "stories260K_easyedit" : "stories260K_default"));
    }

    void gpt2Edit_data() {
        QTest::addColumn<bool>("compat");
        QTest::newRow("easyedit: c_proj weight and bias") << true;
        QTest::newRow("default: weight only") << false;
    }
    void gpt2Edit() {
        DETOX_REQUIRE_FIXTURE("tiny-hf/gpt2/model.safetensors");
        QFETCH(bool, compat);
        const json ref = reference();
        Model model = Model::load(test::fixturePath("tiny-hf/gpt2").toStdString());
        const DinmSettings settings = settingsFrom(ref, compat);
        const json& expected = ref.at("cases").at(compat ? "gpt2_easyedit" : "gpt2_default");
        DinmInputs inputs;
        if (compat) {
            // As dinmInputs lays out EasyEdit's tokenization: split before the last label-count tokens.
            const auto ids = expected.at("edit_ids").get<std::vector<int>>();
            inputs.easyEditAlignment = true;
            inputs.editLabelIds = expected.at("edit_labels").get<std::vector<int>>();
            QVERIFY(std::count(inputs.editLabelIds.begin(), inputs.editLabelIds.end(), -100) == 1);  // EOS = pad
            const size_t split = ids.size() - inputs.editLabelIds.size();
            inputs.editPromptIds.assign(ids.begin(), ids.begin() + std::ptrdiff_t(split));
            inputs.editTargetIds.assign(ids.begin() + std::ptrdiff_t(split), ids.end());
            const auto constraint = expected.at("constraint_ids").get<std::vector<int>>();
            const size_t window = expected.at("constraint_window").get<size_t>();
            inputs.constraintPromptIds.assign(constraint.begin(), constraint.end() - std::ptrdiff_t(window));
            inputs.constraintAnswerIds.assign(constraint.end() - std::ptrdiff_t(window), constraint.end());
        } else {
            inputs.editPromptIds = expected.at("edit_prompt_ids").get<std::vector<int>>();
            inputs.editTargetIds = expected.at("edit_target_ids").get<std::vector<int>>();
            inputs.constraintPromptIds = expected.at("constraint_prompt_ids").get<std::vector<int>>();
            inputs.constraintAnswerIds = expected.at("constraint_answer_ids").get<std::vector<int>>();
        }
        QCOMPARE(dinmTrainedTensors(model, expected.at("layer").get<int>(), settings).size(), size_t(compat ? 2 : 1));
        compareEdit(model, inputs, settings, expected);
    }

    void compatRecordsWhatItSwitched() {
        DETOX_REQUIRE_FIXTURE("tiny-hf/gpt2/model.safetensors");
        const json ref = reference();
        Model model = Model::load(test::fixturePath("tiny-hf/gpt2").toStdString());
        DinmSettings settings = settingsFrom(ref, true);
        settings.maxSteps = 1;
        const json& expected = ref.at("cases").at("gpt2_default");
        DinmInputs inputs;
        inputs.editPromptIds = expected.at("edit_prompt_ids").get<std::vector<int>>();
        inputs.editTargetIds = expected.at("edit_target_ids").get<std::vector<int>>();
        inputs.constraintPromptIds = expected.at("constraint_prompt_ids").get<std::vector<int>>();
        inputs.constraintAnswerIds = expected.at("constraint_answer_ids").get<std::vector<int>>();
        const EditResult result = runDinm(model, inputs, 0, settings);
        QCOMPARE(result.settings.at("easyedit_compat").get<bool>(), true);
        QCOMPARE(result.settings.at("constraint_mode").get<std::string>(), std::string("constraint without gradient (EasyEdit)"));
        const auto switched = result.settings.at("easyedit_compat_switched").get<std::vector<std::string>>();
        QCOMPARE(switched, easyEditCompatSwitches(settings));
        QVERIFY(std::any_of(switched.begin(), switched.end(), [](const std::string& line) {
            return line.find("easyedit-left") != std::string::npos;  // masked was left: the variant switched
        }));
        QCOMPARE(dinmLocateVariant(settings), LocateVariant::EasyEditLeft);
        settings.locateVariant = LocateVariant::EasyEdit;  // a variant chosen by the user stays
        QCOMPARE(dinmLocateVariant(settings), LocateVariant::EasyEdit);
        settings.easyeditCompat = false;
        QVERIFY(easyEditCompatSwitches(settings).empty());
        const EditResult plain = runDinm(model, inputs, 0, settings);
        QVERIFY(!plain.settings.contains("easyedit_compat_switched"));
    }

    void locateVariantsMatchReference_data() {
        QTest::addColumn<QString>("padding");
        QTest::newRow("right (EasyEdit 2024-05..11)") << "right";
        QTest::newRow("left (EasyEdit 2024-03, current)") << "left";
    }
    void locateVariantsMatchReference() {
        DETOX_REQUIRE_FIXTURE("stories260K-hf/model.safetensors");
        QFETCH(QString, padding);
        const json ref = reference();
        const json& expected = ref.at("locate_stories260K");
        Model model = Model::load(test::fixturePath("stories260K-hf").toStdString());
        const SafeEditRecord record = recordFrom(ref);
        QCOMPARE(model.tokenizer().encode(record.safeGeneration), expected.at("safe_ids").get<std::vector<int>>());
        QCOMPARE(model.tokenizer().encode(record.unsafeGeneration), expected.at("unsafe_ids").get<std::vector<int>>());
        const LocateVariant variant = padding == "left" ? LocateVariant::EasyEditLeft : LocateVariant::EasyEdit;
        const LocateResult located = locateToxicLayer(model, record, variant);
        const auto distances = expected.at(padding.toStdString()).get<std::vector<double>>();
        QCOMPARE(located.distances.size(), distances.size());
        for (size_t layer = 0; layer < distances.size(); ++layer)
            COMPARE_CLOSE(located.distances[layer], distances[layer], "layer " + std::to_string(layer));
        QCOMPARE(located.padding, padding.toStdString());
        QVERIFY(!located.easyeditVersion.empty());
        QCOMPARE(locateVariantFromName(locateVariantName(variant)), std::optional<LocateVariant>(variant));
    }
};

QTEST_GUILESS_MAIN(TestEasyEditCompat)
#include "test_easyedit_compat.moc"
