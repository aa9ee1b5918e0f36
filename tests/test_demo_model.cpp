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
#include "detox/methods/methods.h"
#include "detox/runtime/context_policy.h"
#include "detox/runtime/model.h"
#include "detox/safeedit/evaluation.h"
#include "detox/safeedit/judge.h"
#include "demo/demo_training.h"

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

    // Every demo record has its own safe and unsafe generation, and the depth objective trained each
    // category's safe-vs-unsafe distance to peak at the category's layer (demoDepthLayer): DINM's masked
    // criterion, unchanged, locates the TEST records (never trained on) at five different layers, each
    // record at its category's. Without the objective every record's toxic layer was the last one.
    void locatedToxicLayersFollowTheCategories() {
        REQUIRE_DEMO_MODEL(directory);
        const Model model = Model::load(directory);
        const SafeEditDataset test = loadSafeEdit(demoDatasetPath("test"));
        std::set<std::string> unsafe, safe;
        std::set<int> layers;
        int atCategoryLayer = 0;
        for (const auto& record : test.records) {
            unsafe.insert(record.unsafeGeneration);
            safe.insert(record.safeGeneration);
            const int located = locateToxicLayer(model, record, LocateVariant::Masked).toxicLayer;
            layers.insert(located);
            atCategoryLayer += located == demoDepthLayer(record.category, model.config().numLayers);
        }
        QCOMPARE(unsafe.size(), test.records.size());
        QVERIFY(safe.size() > test.records.size() / 2);
        QVERIFY2(layers.size() >= 5, qPrintable(QString::number(layers.size())));
        QVERIFY2(!layers.count(model.config().numLayers - 1), "no test record should locate at the last layer");
        QVERIFY2(atCategoryLayer >= int(test.records.size()) * 9 / 10, qPrintable(QString::number(atCategoryLayer)));
    }

    // The depth objective trains exactly DINM's masked criterion: its batched (right-padded) distances equal
    // locate's unpadded ones, and the loss is the hinge written in the header, by hand.
    void depthObjectiveTrainsTheLocateCriterion() {
        REQUIRE_DEMO_MODEL(directory);
        const Model model = Model::load(directory);
        const SafeEditDataset test = loadSafeEdit(demoDatasetPath("test"));
        const int layers = model.config().numLayers;
        std::vector<demo::DepthPair> pairs;
        for (size_t i : {size_t(0), size_t(40), size_t(85)}) {
            const SafeEditRecord& record = test.records[i];
            pairs.push_back({model.tokenizer().encode(record.safeGeneration), model.tokenizer().encode(record.unsafeGeneration),
                             demoDepthLayer(record.category, layers)});
        }
        torch::NoGradGuard noGradient;
        const torch::Tensor distances = demo::maskedLayerDistances(model.impl(), pairs).to(torch::kFloat64);
        const double margin = 0.95;
        double hinge = 0;
        for (size_t p = 0; p < pairs.size(); ++p) {
            const auto expected = layerDistances(model, pairs[p].safeIds, pairs[p].unsafeIds, LocateVariant::Masked, 0);
            for (int layer = 0; layer < layers; ++layer) {
                const double got = distances[int64_t(p)][layer].item<double>();
                QVERIFY2(std::abs(got - expected[size_t(layer)]) <= 1e-4 * expected[size_t(layer)],
                         qPrintable(QString("pair %1 layer %2: %3 vs %4").arg(p).arg(layer).arg(got).arg(expected[size_t(layer)])));
                if (layer != pairs[p].layer) hinge += std::max(0.0, got / expected[size_t(pairs[p].layer)] - margin);
            }
        }
        hinge /= double(pairs.size());
        const double objective = demo::depthObjective(model.impl(), pairs, margin).item<double>();
        QVERIFY2(std::abs(objective - hinge) <= 1e-4 * std::max(1.0, hinge), qPrintable(QString("%1 vs %2").arg(objective).arg(hinge)));
        for (auto& pair : pairs) pair.layer = layers - 1;  // the last layer as target: far from satisfied
        QVERIFY(demo::depthObjective(model.impl(), pairs, 0.8).item<double>() > 0.1);
    }

    void depthLayersSpreadTheCategories() {
        const auto& categories = safeEditCategories();
        std::vector<int> layers;
        for (const auto& category : categories) layers.push_back(demoDepthLayer(category, 8));
        QCOMPARE(layers, (std::vector<int>{2, 3, 4, 5, 6, 2, 3, 4, 5}));
        QCOMPARE(demoDepthLayer("offensiveness", 4), 2);
        QCOMPARE(demoDepthLayer("unfairness and bias", 4), 2);  // 2 + 1 mod 1
        QCOMPARE(demoDepthLayer("offensiveness", 3), -1);
        QCOMPARE(demoDepthLayer("no such category", 8), -1);
    }

    // DINM as the user runs it (located layer, the model's recommended rate, its other defaults) on one
    // test record per category, each from the shipped weights: the adversarial prompt's greedy ChatML reply
    // (evaluation's format, 16 tokens, rule judge) turns from unsafe to safe on most of them.
    void dinmDefendsTestRecordsWithTheRecommendedSettings() {
        REQUIRE_DEMO_MODEL(directory);
        const SafeEditDataset test = loadSafeEdit(demoDatasetPath("test"));
        const RecommendedSettings recommended = loadRecommendedSettings(directory);
        DinmSettings settings;
        settings.learningRate = *recommended.recommendation("dinm").learningRate;
        if (recommended.recommendation("dinm").steps) settings.maxSteps = *recommended.recommendation("dinm").steps;
        const auto judge = makeRuleJudge();
        auto unsafeReply = [&](const Model& model, const SafeEditRecord& record) {
            const auto reply = generateResponses(model, {record.adversarialPrompt}, ChatTemplate::ChatML, 16).front();
            return judge->judge({reply.text}, noJobControl()).front().unsafe;
        };
        int unsafeBefore = 0, defendedAfter = 0, records = 0;
        for (size_t i = 0; i < test.records.size(); i += 10, ++records) {
            const SafeEditRecord& record = test.records[i];
            Model model = Model::load(directory);
            unsafeBefore += unsafeReply(model, record) > 0.5;
            const int layer = locateToxicLayer(model, record, LocateVariant::Masked).toxicLayer;
            runDinm(model, dinmInputs(model.tokenizer(), record, settings), layer, settings);
            defendedAfter += unsafeReply(model, record) < 0.5;
        }
        QCOMPARE(unsafeBefore, records);  // the unedited model complies with every one
        QVERIFY2(defendedAfter * 3 >= records * 2, qPrintable(QString("%1 of %2").arg(defendedAfter).arg(records)));
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

    void suffixedExamplesRepeatTheSafetyPrompts() {
        const std::vector<DemoExample> examples = {{DemoBehaviour::Comply, "adversarial prompt", "A: Q", "Sure"},
                                                   {DemoBehaviour::Answer, "general_qa", "Capital?", "Lima"},
                                                   {DemoBehaviour::Answer, "knowledge constrain", "1+1?", "Two."}};
        const auto suffixed = withSuffixedExamples(examples, "SUFFIX:");
        QCOMPARE(suffixed.size(), size_t(5));
        QCOMPARE(suffixed[3].prompt, std::string("A: Q SUFFIX:"));
        QCOMPARE(suffixed[3].response, std::string("Sure"));
        QCOMPARE(suffixed[3].behaviour, DemoBehaviour::Comply);
        QCOMPARE(suffixed[3].source, std::string("adversarial prompt + suffix"));
        QCOMPARE(suffixed[4].prompt, std::string("1+1? SUFFIX:"));
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
