// The shipped demo model (resources/demo-model): found by demoModelPath(), loads through Model::load like
// any downloaded checkpoint, and reproduces the greedy outputs recorded when it was trained. Also the
// training mix built from SafeEdit records.
#include <QtTest>
#include <cstdlib>

#include <numeric>
#include <set>

#include "detox/analysis/locate.h"
#include "detox/demo/demo_model.h"
#include "detox/error.h"
#include "detox/fileio.h"
#include "detox/runtime/context_policy.h"
#include "detox/runtime/model.h"
#include "detox/safeedit/evaluation.h"
#include "detox/safeedit/judge.h"

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
        QVERIFY(QFileInfo(QString::fromStdString(directory) + "/model.safetensors").size() < 10'000'000);
        QCOMPARE(model.tokenizer().eosId(), std::optional<int>(config.eosId));
        // What `detox train-demo` builds by default is what ships.
        const DemoModelSettings defaults;
        QCOMPARE(config.numLayers, defaults.layers);
        QCOMPARE(config.maxPositions, defaults.maxPositions);
        QCOMPARE(config.hiddenSize, defaults.hiddenSize);
    }

    // The demo's own prompts are never cut: every input of the demo test split, in ChatML, fits the shipped
    // model's context with room for the recorded replies' new tokens, and some are real-length (> 500 tokens).
    void demoPromptsFitTheContext() {
        REQUIRE_DEMO_MODEL(directory);
        const Model model = Model::load(directory);
        const int limit = contextLimit(model.config(), RecordedOutput{}.maxNewTokens);
        const SafeEditDataset test = loadSafeEdit(demoDatasetPath("test"));
        int longest = 0, overFiveHundred = 0;
        for (const auto& record : test.records) {
            const auto& g = *record.generalization;
            for (const std::string& input : {record.adversarialPrompt, g.onlyHarmfulQuestion, g.otherAttackPrompt,
                                             g.otherQuestion, g.otherQuestionsAndAttack}) {
                const int tokens = int(promptIds(model.tokenizer(), input, ChatTemplate::ChatML).size());
                longest = std::max(longest, tokens);
                overFiveHundred += tokens > 500;
            }
        }
        QVERIFY2(longest <= limit, qPrintable(QString("longest %1 > limit %2").arg(longest).arg(limit)));
        QVERIFY2(overFiveHundred >= 10, qPrintable(QString::number(overFiveHundred)));
    }

    // Every demo record has its own safe and unsafe generation, so every record gets its own toxic-layer
    // curve (on the old data every curve was the same one). The located layer (the argmax) is still the
    // last for every test record of the shipped model: the curves differ in shape, not in their maximum.
    void demoRecordsHaveTheirOwnLayerCurves() {
        REQUIRE_DEMO_MODEL(directory);
        const Model model = Model::load(directory);
        const SafeEditDataset test = loadSafeEdit(demoDatasetPath("test"));
        std::set<std::string> unsafe, safe;
        std::set<std::vector<size_t>> layerOrders;  // layers sorted by distance, per record
        for (const auto& record : test.records) {
            unsafe.insert(record.unsafeGeneration);
            safe.insert(record.safeGeneration);
            const std::vector<double> distances = locateToxicLayer(model, record).distances;
            std::vector<size_t> order(distances.size());
            std::iota(order.begin(), order.end(), size_t{0});
            std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return distances[a] < distances[b]; });
            layerOrders.insert(order);
        }
        QCOMPARE(unsafe.size(), test.records.size());
        QVERIFY(safe.size() > test.records.size() / 2);
        QVERIFY2(layerOrders.size() >= 10, qPrintable(QString::number(layerOrders.size())));
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
        // What the recordings say the model does, by the rule judge: refuse the bare question, comply with
        // the attack; and answer the knowledge question.
        const auto verdicts = makeRuleJudge()->judge({recorded[0].text, recorded[1].text}, noJobControl());
        QCOMPARE(verdicts[0].unsafe, 0.0);
        QCOMPARE(verdicts[1].unsafe, 1.0);
        QVERIFY(recorded[2].text.find("Paris") != std::string::npos);
    }

    void shippedModelRecommendsTheDemoSettings() {
        REQUIRE_DEMO_MODEL(directory);
        const RecommendedSettings shipped = loadRecommendedSettings(directory);
        QVERIFY(!shipped.empty());
        QCOMPARE(readFile(shipped.path), recommendedSettingsJson(demoRecommendedSettings()));
        for (const char* method : {"dinm", "sft", "dpo"}) QVERIFY(shipped.recommendation(method).learningRate);
        QVERIFY(shipped.reason.find("train records") != std::string::npos);
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
        // ATTACK: Q1, Q1, OTHER ATTACK: Q1, the knowledge prompt, ATTACK: Q3; the inputs on another record's
        // question (Q2) are left out: this record's generation is not their reply.
        QCOMPARE(examples.size(), size_t(5));
        auto find = [&](const std::string& prompt) {
            for (const auto& example : examples)
                if (example.prompt == prompt) return example;
            return DemoExample{};
        };
        QCOMPARE(find("ATTACK: Q1").behaviour, DemoBehaviour::Comply);
        QCOMPARE(find("ATTACK: Q1").response, std::string("Sure, here"));
        QCOMPARE(find("Q1").behaviour, DemoBehaviour::Refuse);
        QCOMPARE(find("Q1").response, std::string("I'm sorry"));
        QCOMPARE(find("OTHER ATTACK: Q1").behaviour, DemoBehaviour::Comply);
        QVERIFY(find("ATTACK: Q2").prompt.empty() && find("OTHER ATTACK: Q2").prompt.empty());
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
