// The real `detox` binary as separate processes: evaluate unsharded and as three shards, merge, and
// compare; bad input exits 2 with a one-line message.
#include <QtTest>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli_run.h"
#include "detox/safeedit/safeedit.h"
#include "fixtures.h"
#include "tiny_model.h"

namespace {

using Run = detox::test::CliRun;
using detox::test::runCli;

nlohmann::json readJson(const QString& path) {
    std::ifstream in(path.toStdString());
    return nlohmann::json::parse(in);
}

}  // namespace

class CliEvaluateTest : public QObject {
    Q_OBJECT

    QString dir_, model_;

    QStringList evaluateArgs(const QString& out) const {
        return {"evaluate", "--model", model_, "--data", "demo", "--limit", "5", "--max-new-tokens", "3",
                "--batch-size", "1", "--chat-template", "plain", "--out", out};
    }

    void expectBadInput(const QStringList& arguments, const QString& fragment) {
        const Run run = runCli(arguments);
        QVERIFY2(run.exitCode == 2, qPrintable(QString("exit %1: %2").arg(run.exitCode).arg(run.err)));
        const QString message = run.err.trimmed();
        QVERIFY2(!message.isEmpty() && !message.contains('\n'), qPrintable(run.err));
        QVERIFY2(message.contains(fragment), qPrintable(message));
    }

private Q_SLOTS:
    void initTestCase() {
        dir_ = detox::test::scratchDir();
        model_ = dir_ + "/model";
        detox::test::writeTinyLlama(model_.toStdString(), 11);
    }

    void mergedShardsEqualTheUnshardedRun() {
        const Run whole = runCli(evaluateArgs(dir_ + "/whole.json"));
        QVERIFY2(whole.exitCode == 0, qPrintable(whole.err));
        QVERIFY2(whole.out.contains("DS ") && whole.out.contains("DG_Avg") && whole.out.contains("rules-v1"),
                 qPrintable(whole.out));
        // Not a terminal: plain progress lines.
        QVERIFY2(whole.err.contains("evaluate: 5/5 cases (100%)"), qPrintable(whole.err));

        QStringList shardFiles;
        for (int index = 1; index <= 3; ++index) {
            const QString file = dir_ + QString("/shard%1.json").arg(index);
            const Run shard = runCli(evaluateArgs(file) << "--shard" << QString("%1/3").arg(index));
            QVERIFY2(shard.exitCode == 0, qPrintable(shard.err));
            shardFiles.prepend(file);  // merge takes them in any order
        }
        const nlohmann::json second = readJson(shardFiles[1]);
        QCOMPARE(second.at("provenance").at("shard").at("index").get<int>(), 2);
        QCOMPARE(second.at("cases").size(), size_t(2));  // positions 1 and 4

        const Run merge = runCli(QStringList{"merge"} << shardFiles << "--out" << dir_ + "/merged.json");
        QVERIFY2(merge.exitCode == 0, qPrintable(merge.err));

        const nlohmann::json unsharded = readJson(dir_ + "/whole.json");
        const nlohmann::json merged = readJson(dir_ + "/merged.json");
        QCOMPARE(merged.at("metrics").dump(), unsharded.at("metrics").dump());
        QCOMPARE(merged.at("cases").dump(), unsharded.at("cases").dump());
        QCOMPARE(merged.at("cases").size(), size_t(5));
        QCOMPARE(merged.at("provenance").at("model_hash"), unsharded.at("provenance").at("model_hash"));
        QCOMPARE(merged.at("provenance").at("shard").at("count").get<int>(), 1);
        for (const char* key : {"DS", "DG_onlyQ", "DG_otherA", "DG_otherQ", "DG_otherAQ", "DG_Avg", "fluency"})
            QVERIFY2(merged.at("metrics").contains(key), key);

        // Provenance: the demo data file and its hash, the settings.
        const auto demo = detox::loadSafeEdit(detox::demoDatasetPath("test"));
        QCOMPARE(unsharded.at("provenance").at("dataset_hash").get<std::string>(), demo.sha256);
        QCOMPARE(unsharded.at("provenance").at("settings").at("max_new_tokens").get<int>(), 3);
        QCOMPARE(unsharded.at("cases").at(0).at("id").get<int>(), demo.records.at(0).id);

        // A shard does not merge with a run of a different shape.
        expectBadInput({"merge", dir_ + "/whole.json", shardFiles[0], "--out", dir_ + "/bad.json"}, "differs");
    }

    // SafeEdit's three editing instances have no "generalization test": DG_* were never measured, so they
    // are null in the JSON and "n/a" in the summary and in report.md -- never 0.0.
    void unmeasuredMetricsAreNullAndNa() {
        DETOX_REQUIRE_FIXTURE("safeedit-sample/three_instances_for_editing.json");
        const QString out = dir_ + "/three.json";
        const Run run = runCli({"evaluate", "--model", model_, "--data",
                                detox::test::fixturePath("safeedit-sample/three_instances_for_editing.json"),
                                "--max-new-tokens", "2", "--chat-template", "plain", "--out", out});
        QVERIFY2(run.exitCode == 0, qPrintable(run.err));
        QVERIFY2(run.out.contains("DG_onlyQ n/a") && run.out.contains("DG_Avg n/a") && !run.out.contains("DG_Avg 0.0"),
                 qPrintable(run.out));
        QVERIFY2(!run.out.contains("DS n/a"), qPrintable(run.out));  // DS was measured
        const nlohmann::json safety = readJson(out).at("metrics");
        for (const char* key : {"DG_onlyQ", "DG_otherA", "DG_otherQ", "DG_otherAQ", "DG_Avg"})
            QVERIFY2(safety.at(key).is_null(), key);
        QVERIFY(safety.at("DS").is_number());
        const Run report = runCli({"report", out, "--out", dir_ + "/three-report"});
        QVERIFY2(report.exitCode == 0, qPrintable(report.err));
        QFile markdown(dir_ + "/three-report/report.md");
        QVERIFY(markdown.open(QIODevice::ReadOnly));
        const QString text = QString::fromUtf8(markdown.readAll());
        QVERIFY2(text.contains(" | n/a | n/a | n/a | n/a | n/a | "), qPrintable(text.left(2000)));
    }

    // --ids are the records' "id" fields; an unknown one names the file's range and first ids; --positions
    // are places in the file. locate says the same.
    void idsStayIdsAndPositionsArePlaces() {
        DETOX_REQUIRE_FIXTURE("safeedit-sample/safeedit_test_sample.json");
        const QString data = detox::test::fixturePath("safeedit-sample/safeedit_test_sample.json");
        const QStringList base = {"evaluate", "--model", model_, "--data", data, "--max-new-tokens", "2",
                                  "--chat-template", "plain"};
        expectBadInput(QStringList(base) << "--ids" << "906" << "--out" << dir_ + "/x.json",
                       "no record has this id; the file's 7 ids run from 0 to 6 (in file order: 0, 1, 2, 3, 4, 5, 6)");
        expectBadInput(QStringList(base) << "--positions" << "7" << "--out" << dir_ + "/x.json", "outside the file's 7 records");
        expectBadInput(QStringList(base) << "--positions" << "1" << "--limit" << "2" << "--out" << dir_ + "/x.json",
                       "one of --ids, --positions or --limit");
        const Run run = runCli(QStringList(base) << "--positions" << "6,0" << "--out" << dir_ + "/positions.json");
        QVERIFY2(run.exitCode == 0, qPrintable(run.err));
        const nlohmann::json cases = readJson(dir_ + "/positions.json").at("cases");
        QCOMPARE(cases.size(), size_t(2));
        QCOMPARE(cases.at(0).at("record_index").get<int>(), 6);
        QCOMPARE(cases.at(1).at("record_index").get<int>(), 0);
        const Run locate = runCli({"locate", "--model", model_, "--data", data, "--ids", "906"});
        QCOMPARE(locate.exitCode, 2);
        QVERIFY2(locate.err.contains("ids run from 0 to 6"), qPrintable(locate.err));
    }

    void badInputExitsTwoWithOneLine() {
        expectBadInput(evaluateArgs(dir_ + "/x.json") << "--shard" << "4/3", "--shard");
        expectBadInput({"evaluate", "--model", model_, "--data", "demo", "--out", dir_ + "/x.json", "--ids", "1",
                        "--limit", "2"},
                       "not several");
        expectBadInput({"evaluate", "--model", dir_ + "/no-such-model", "--data", "demo", "--limit", "1", "--out",
                        dir_ + "/x.json"},
                       "no-such-model");
        expectBadInput({"evaluate", "--model", model_, "--data", dir_ + "/missing.json", "--out", dir_ + "/x.json"},
                       "missing.json");
        expectBadInput({"evaluate", "--model", model_, "--data", "demo", "--ids", "99999", "--out", dir_ + "/x.json"},
                       "99999");
        expectBadInput({"evaluate", "--model", model_, "--data", "demo", "--out", dir_ + "/x.json", "--max-new-tokens",
                        "zero"},
                       "--max-new-tokens");
        expectBadInput({"evaluate", "--data", "demo", "--out", dir_ + "/x.json"}, "--model");
        expectBadInput({"merge", "--out", dir_ + "/x.json"}, "shard result files");
        expectBadInput({"merge", dir_ + "/nothing.json", "--out", dir_ + "/x.json"}, "nothing.json");
        QVERIFY(!QFileInfo::exists(dir_ + "/x.json"));
    }
};

QTEST_GUILESS_MAIN(CliEvaluateTest)
#include "test_cli_evaluate.moc"
