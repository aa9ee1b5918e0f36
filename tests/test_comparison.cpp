// compareMethods in process on a tiny random Llama and the demo data: the model is the original again
// after a comparison and after a cancelled one, results survive a JSON round trip, and merging refuses
// shards that do not belong together.
#include <QTemporaryDir>
#include <QtTest>

#include "detox/analysis/comparison.h"
#include "detox/safeedit/safeedit.h"
#include "fixtures.h"
#include "test_methods_models.h"
#include "tiny_model.h"

namespace {

detox::ComparisonSettings smallSettings(std::vector<std::string> methods) {
    detox::ComparisonSettings settings;
    settings.methods = std::move(methods);
    settings.evaluation.ids = {0, 1};
    settings.evaluation.maxNewTokens = 3;
    settings.evaluation.batchSize = 1;
    settings.evaluation.chatTemplate = detox::ChatTemplate::Plain;
    settings.methodSettings = {{"dinm", {{"max_steps", 2}}}, {"sft", {{"batch_size", 1}}}, {"dpo", {{"batch_size", 1}}}};
    settings.probeRecords = 4;
    return settings;
}

}  // namespace

class ComparisonTest : public QObject {
    Q_OBJECT

    QTemporaryDir tokenizerDir_;
    detox::SafeEditDataset data_;
    std::unique_ptr<detox::SafetyJudge> judge_ = detox::makeRuleJudge();

    detox::Model model() const { return detox::test::tinyLlama(7, tokenizerDir_.path().toStdString(), 2, 5.0); }

private Q_SLOTS:
    void initTestCase() {
        detox::test::writeByteLevelTokenizer(tokenizerDir_.path().toStdString());
        data_ = detox::loadSafeEdit(detox::demoDatasetPath("test"));
    }

    void compareRestoresTheModel() {
        detox::Model tiny = model();
        const auto original = detox::test::parameterCopies(tiny);
        const auto result = detox::compareMethods(tiny, data_, *judge_, smallSettings({"sft", "dinm"}));
        QCOMPARE(detox::test::differingParameters(tiny, original), std::vector<std::string>{});
        QCOMPARE(result.methods.size(), size_t(2));
        QCOMPARE(result.methods[0].method, std::string("sft"));
        // SFT moved the weights while it ran: the restore above is not vacuous.
        double largest = 0;
        for (const auto& row : result.methods[0].edits.at(0).mechanism.parameterShift.relative)
            for (double value : row) largest = std::max(largest, value);
        QVERIFY(largest > 0);
        QCOMPARE(result.methods[1].edits.size(), size_t(2));
        QCOMPARE(result.methods[1].edits[1].recordId, 1);
    }

    // A prompt-only baseline goes through the same comparison: the evaluation reads the method's prompts, the
    // weights never change, and its settings are in the provenance.
    void promptOnlyBaselineIsCompared() {
        detox::Model tiny = model();
        const auto original = detox::test::parameterCopies(tiny);
        const auto result = detox::compareMethods(tiny, data_, *judge_, smallSettings({"self-reminder", "dinm"}));
        QCOMPARE(detox::test::differingParameters(tiny, original), std::vector<std::string>{});
        const detox::MethodComparison& reminder = result.methods.at(0);
        QCOMPARE(reminder.method, std::string("self-reminder"));
        const detox::EvaluationCase& item = reminder.evaluation.cases.at(0);
        const detox::SafeEditRecord* record = data_.findById(item.safety.id);
        QCOMPARE(item.safety.inputs.at("DS"), detox::selfReminderPrompt(record->adversarialPrompt));
        QCOMPARE(result.baseline.cases.at(0).safety.inputs.at("DS"), record->adversarialPrompt);
        QCOMPARE(item.position, result.baseline.cases.at(0).position);
        QVERIFY(reminder.edits.at(0).edit.changedTensors.empty());
        for (const auto& row : reminder.edits.at(0).mechanism.parameterShift.relative)
            for (double value : row) QCOMPARE(value, 0.0);
        QCOMPARE(result.provenance.settings.at("self-reminder").at("reminder_before").get<std::string>(),
                 std::string(detox::kSelfReminderBefore));
        QCOMPARE(result.provenance.settings.at("dinm").at("max_steps").get<int>(), 2);
        QVERIFY(!result.provenance.settings.contains("sft"));  // only the methods compared
    }

    void cancelledCompareLeavesTheModelUnchanged() {
        detox::Model tiny = model();
        const auto original = detox::test::parameterCopies(tiny);
        int editSteps = 0;
        detox::JobControl cancelling([&](const detox::Progress& progress) {
            // Cancel inside the first DINM edit once its first optimizer step has changed the weights.
            if (progress.message.find("DINM step") != std::string::npos && ++editSteps == 2) cancelling.requestCancel();
        });
        QVERIFY_THROWS_EXCEPTION(detox::Cancelled,
                                 detox::compareMethods(tiny, data_, *judge_, smallSettings({"dinm"}), cancelling));
        QCOMPARE(editSteps, 2);
        QCOMPARE(detox::test::differingParameters(tiny, original), std::vector<std::string>{});
    }

    void resultSurvivesJsonRoundTrip() {
        detox::Model tiny = model();
        const auto result = detox::compareMethods(tiny, data_, *judge_, smallSettings({"dpo"}));
        const nlohmann::json written = result;
        const auto read = written.get<detox::ComparisonResult>();
        QCOMPARE(nlohmann::json(read), written);
        QVERIFY(read.probe.has_value());
        QCOMPARE(read.methods.at(0).edits.at(0).mechanism.regionToxicityReduction,
                 result.methods.at(0).edits.at(0).mechanism.regionToxicityReduction);
    }

    // Format 1 called the probe cosine toxicity_*; such files still read, with the same numbers. A file
    // from a newer format is refused naming format_version.
    void olderFormatReadsAndNewerIsRefused() {
        detox::Model tiny = model();
        const auto result = detox::compareMethods(tiny, data_, *judge_, smallSettings({"sft"}));
        nlohmann::json written = result;
        QCOMPARE(written.at("format_version").get<int>(), 2);
        nlohmann::json older = written;
        older["format_version"] = 1;
        for (auto& edit : older["methods"][0]["edits"]) {
            auto& mechanism = edit["mechanism"];
            for (const std::string part : {"before", "after", "reduction"}) {
                mechanism["toxicity_" + part] = mechanism.at("region_toxicity_" + part);
                mechanism.erase("region_toxicity_" + part);
            }
        }
        const auto& expected = result.methods.at(0).edits.at(0).mechanism;
        const auto read = older.get<detox::ComparisonResult>().methods.at(0).edits.at(0).mechanism;
        QVERIFY(expected.regionToxicityBefore != 0);
        QCOMPARE(read.regionToxicityBefore, expected.regionToxicityBefore);
        QCOMPARE(read.regionToxicityAfter, expected.regionToxicityAfter);
        QCOMPARE(read.regionToxicityReduction, expected.regionToxicityReduction);

        nlohmann::json newer = written;
        newer["format_version"] = 3;
        try {
            (void)newer.get<detox::ComparisonResult>();
            QFAIL("a newer format was read");
        } catch (const detox::Error& e) {
            QVERIFY2(std::string(e.what()).find("format_version") != std::string::npos, e.what());
        }
    }

    void mergeRefusesShardsThatDoNotBelongTogether() {
        detox::Model tiny = model();
        auto settings = smallSettings({"dinm"});
        settings.evaluation.shardCount = 2;
        settings.evaluation.shardIndex = 1;
        const auto first = detox::compareMethods(tiny, data_, *judge_, settings);
        settings.evaluation.shardIndex = 2;
        const auto second = detox::compareMethods(tiny, data_, *judge_, settings);
        settings.methodSettings["dinm"]["max_steps"] = 1;
        const auto otherRun = detox::compareMethods(tiny, data_, *judge_, settings);

        QCOMPARE(detox::mergeComparisons({second, first}).methods.at(0).edits.size(), size_t(2));
        const auto refusal = [&](const std::vector<detox::ComparisonResult>& shards) -> std::string {
            try {
                detox::mergeComparisons(shards);
            } catch (const detox::Error& e) {
                return e.what();
            }
            return "merged";
        };
        QVERIFY2(refusal({first, otherRun}).find("settings") != std::string::npos, refusal({first, otherRun}).c_str());
        QVERIFY2(refusal({first}).find("missing") != std::string::npos, refusal({first}).c_str());
        QVERIFY2(refusal({first, first}).find("twice") != std::string::npos, refusal({first, first}).c_str());
    }
};

QTEST_GUILESS_MAIN(ComparisonTest)
#include "test_comparison.moc"
