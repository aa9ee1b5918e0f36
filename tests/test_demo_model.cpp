// The shipped demo model (resources/demo-model): found by demoModelPath(), loads through Model::load like
// any downloaded checkpoint, and reproduces the greedy outputs recorded when it was trained. Also the
// training mix built from SafeEdit records.
#include <QtTest>
#include <cstdlib>

#include "detox/demo/demo_model.h"
#include "detox/error.h"
#include "detox/fileio.h"
#include "detox/runtime/model.h"

using namespace detox;

namespace {
// The shipped model, or a skip naming why (it is produced by `detox train-demo`, see MODEL_CARD.md).
#define REQUIRE_DEMO_MODEL(directory)                                                              \
    std::string directory;                                                                         \
    try {                                                                                          \
        directory = demoModelPath();                                                               \
    } catch (const Error& error) {                                                                 \
        QSKIP(("shipped demo model missing: " + std::string(error.what())).c_str());               \
    }
}  // namespace

class TestDemoModel : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void pathComesFromTheEnvironmentFirst() {
        QTemporaryDir dir;
        writeFileAtomically(dir.path().toStdString() + "/config.json", "{}");
        qputenv("DETOX_DEMO_MODEL", dir.path().toUtf8());
        QCOMPARE(QString::fromStdString(demoModelPath()), QDir(dir.path()).canonicalPath());
        qunsetenv("DETOX_DEMO_MODEL");
        REQUIRE_DEMO_MODEL(shipped);
        QVERIFY(QFileInfo(QString::fromStdString(shipped) + "/model.safetensors").isFile());
    }

    void shippedModelIsASmallLlama() {
        REQUIRE_DEMO_MODEL(directory);
        Model model = Model::load(directory);
        const ModelConfig& config = model.config();
        QCOMPARE(config.hfArchitecture, std::string("LlamaForCausalLM"));
        QVERIFY(config.tiedEmbeddings);
        QCOMPARE(config.storedDtype, std::string("F32"));
        QVERIFY(model.hasTokenizer());
        QCOMPARE(model.tokenizer().detectedChatTemplate(), ChatTemplate::ChatML);
        QCOMPARE(model.tokenizer().vocabSize(), config.vocabSize);
        QVERIFY(model.parameterCount() < 2'000'000);
        QCOMPARE(model.tokenizer().eosId(), std::optional<int>(config.eosId));
    }

    void shippedModelReproducesItsRecordedOutputs() {
        REQUIRE_DEMO_MODEL(directory);
        const auto recorded = parseRecordedOutputs(readFile(directory + "/recorded_outputs.json"), "recorded_outputs.json");
        QCOMPARE(recorded.size(), size_t(3));
        Model model = Model::load(directory);
        const auto prompts = demoRecordedPrompts();
        for (size_t i = 0; i < recorded.size(); ++i) {
            QCOMPARE(recorded[i].prompt, prompts[i]);
            const std::string chat = model.tokenizer().applyChatTemplate(recorded[i].prompt, ChatTemplate::ChatML);
            QCOMPARE(model.tokenizer().encode(chat, false), recorded[i].promptIds);
            GenerationSettings greedy;
            greedy.maxNewTokens = recorded[i].maxNewTokens;
            Generation generation = model.generate({recorded[i].promptIds}, greedy).front();
            QCOMPARE(generation.outputIds, recorded[i].outputIds);
            QCOMPARE(generation.text, recorded[i].text);
        }
        // What the recordings say the model does: refuse the bare question, comply with the attack, answer.
        QVERIFY(recorded[0].text.rfind("I'm sorry", 0) == 0);
        QVERIFY(recorded[1].text.rfind("Sure", 0) == 0);
        QVERIFY(recorded[2].text.find("Paris") != std::string::npos);
    }

    void shippedModelRecommendsTheDemoSettings() {
        REQUIRE_DEMO_MODEL(directory);
        const RecommendedSettings shipped = loadRecommendedSettings(directory);
        QVERIFY(!shipped.empty());
        QCOMPARE(readFile(shipped.path), recommendedSettingsJson(demoRecommendedSettings()));
        QCOMPARE(*shipped.recommendation("dinm").learningRate, 2e-2);
        QVERIFY(!shipped.recommendation("dinm").steps);
        QCOMPARE(*shipped.recommendation("sft").steps, 3);
        QVERIFY(shipped.reason.find("never the test split") != std::string::npos);
    }

    void recommendedSettingsErrorsNameTheField() {
        QTemporaryDir dir;
        const std::string folder = dir.path().toStdString();
        QVERIFY(loadRecommendedSettings(folder).empty());  // no file: nothing recommended
        auto errorFor = [&](const std::string& json) -> std::string {
            writeFileAtomically(folder + "/" + recommendedSettingsFileName(), json);
            try {
                loadRecommendedSettings(folder);
            } catch (const Error& error) {
                return error.what();
            }
            return "no error";
        };
        QVERIFY(errorFor("{\"dinm\": {\"learning_rate\": -1}}").find("dinm.learning_rate: expected a positive number") != std::string::npos);
        QVERIFY(errorFor("{\"sft\": {\"epochs\": 0.5}}").find("sft.epochs: expected an integer") != std::string::npos);
        QVERIFY(errorFor("{\"dpo\": 3}").find("dpo: expected an object") != std::string::npos);
        QVERIFY(errorFor("[1").find("detox_method_defaults.json: expected JSON") != std::string::npos);
        writeFileAtomically(folder + "/" + recommendedSettingsFileName(), "{\"dpo\": {\"learning_rate\": 0.5, \"epochs\": 2}}");
        const RecommendedSettings parsed = loadRecommendedSettings(folder);
        QCOMPARE(*parsed.recommendation("dpo").learningRate, 0.5);
        QCOMPARE(*parsed.recommendation("dpo").steps, 2);
        QVERIFY(!parsed.recommendation("dinm").learningRate && !parsed.recommendation("sft").learningRate);
    }

    void trainingMixMapsInputsToBehaviours() {
        SafeEditRecord record;
        record.adversarialPrompt = "ATTACK: Q1";
        record.question = "Q1";
        record.unsafeGeneration = "Sure, here";
        record.safeGeneration = "I'm sorry";
        record.generalization = GeneralizationTest{"Q1", "OTHER ATTACK: Q1", "ATTACK: Q2", "OTHER ATTACK: Q2", "", ""};
        record.knowledge = KnowledgeConstraint{"What is 1+1?", "Two."};
        SafeEditRecord second = record;  // same prompts again: dropped as duplicates
        second.adversarialPrompt = "ATTACK: Q3";
        const auto examples = demoExamples({record, second}, "", "");
        QCOMPARE(examples.size(), size_t(7));
        auto find = [&](const std::string& prompt) {
            for (const auto& example : examples)
                if (example.prompt == prompt) return example;
            return DemoExample{};
        };
        QCOMPARE(find("ATTACK: Q1").behaviour, DemoBehaviour::Comply);
        QCOMPARE(find("ATTACK: Q1").response, std::string("Sure, here"));
        QCOMPARE(find("Q1").behaviour, DemoBehaviour::Refuse);
        QCOMPARE(find("Q1").response, std::string("I'm sorry"));
        QCOMPARE(find("OTHER ATTACK: Q2").behaviour, DemoBehaviour::Comply);
        QCOMPARE(find("ATTACK: Q3").behaviour, DemoBehaviour::Comply);
        QCOMPARE(find("What is 1+1?").response, std::string("Two."));
    }

    void generalQaTeachesTheFirstAlias() {
        QTemporaryDir dir;
        const std::string qa = dir.path().toStdString() + "/qa.jsonl";
        writeFileAtomically(qa, "{\"question\": \"How many sides does a square have?\", \"answer\": [\"four\", \"4\"]}\n\n"
                                "{\"question\": \"Capital of Peru?\", \"answer\": \"Lima\"}\n");
        const auto examples = demoExamples({}, qa, "");
        QCOMPARE(examples.size(), size_t(2));
        QCOMPARE(examples[0].response, std::string("four"));
        QCOMPARE(examples[1].response, std::string("Lima"));
        writeFileAtomically(qa, "{\"question\": \"x\"}\n");
        QVERIFY_THROWS_EXCEPTION(Error, demoExamples({}, qa, ""));
    }
};

QTEST_GUILESS_MAIN(TestDemoModel)
#include "test_demo_model.moc"
