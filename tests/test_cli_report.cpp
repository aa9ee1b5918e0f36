// The real `detox` binary end to end on a tiny random Llama and the demo data: locate, edit, info,
// evaluate, compare (unsharded, and as two shards merged), report; every figure of the report is
// opened as an image (PNG through QImage, PDF header and trailer, SVG parsed as XML).
#include <QCryptographicHash>
#include <QDir>
#include <QFile>
#include <QImage>
#include <QXmlStreamReader>
#include <QtTest>
#include <cmath>
#include <nlohmann/json.hpp>

#include "cli_run.h"
#include "detox/methods/registry.h"
#include "detox/safeedit/safeedit.h"
#include "fixtures.h"
#include "tiny_model.h"

namespace {

constexpr int kLayers = 3;

using Run = detox::test::CliRun;
using detox::test::runCli;

QByteArray readBytes(const QString& path) {
    QFile file(path);
    return file.open(QIODevice::ReadOnly) ? file.readAll() : QByteArray();
}

nlohmann::json readJson(const QString& path) { return nlohmann::json::parse(readBytes(path).toStdString()); }

void writeText(const QString& path, const QByteArray& text) {
    QFile file(path);
    QVERIFY(file.open(QIODevice::WriteOnly));
    file.write(text);
}

bool isSvg(const QByteArray& bytes) {
    QXmlStreamReader xml(bytes);
    bool sawSvgRoot = false;
    while (!xml.atEnd())
        if (xml.readNext() == QXmlStreamReader::StartElement && !sawSvgRoot) sawSvgRoot = xml.name() == u"svg";
    return sawSvgRoot && !xml.hasError();
}

int argmax(const nlohmann::json& values) {
    int best = 0;
    for (size_t i = 1; i < values.size(); ++i)
        if (values[i].get<double>() > values[size_t(best)].get<double>()) best = int(i);
    return best;
}

// The column of the parameter-shift matrix whose tensor at `layer` contains `nameFragment`.
int moduleColumn(const nlohmann::json& shift, int layer, const std::string& nameFragment) {
    const auto& tensors = shift.at("tensors").at(size_t(layer));
    for (size_t c = 0; c < tensors.size(); ++c)
        if (tensors[c].get<std::string>().find(nameFragment) != std::string::npos) return int(c);
    return -1;
}

// A report's figure: its PNG opens at the export size, its PDF and SVG are whole, report.md links it.
void verifyFigureFiles(const QString& out, const QString& figure, const QString& markdown) {
    const QString base = out + "/" + figure;
    const QImage image(base + ".png");
    QVERIFY2(!image.isNull() && image.width() == 1600 && image.height() == 1000, qPrintable(base + ".png"));
    const QByteArray pdf = readBytes(base + ".pdf");
    QVERIFY2(pdf.startsWith("%PDF-") && pdf.trimmed().endsWith("%%EOF"), qPrintable(base + ".pdf"));
    QVERIFY2(isSvg(readBytes(base + ".svg")), qPrintable(base + ".svg"));
    QVERIFY2(markdown.contains("(" + figure + ".png)"), qPrintable(figure));
}

QString fixed3(double value) { return QString::number(value, 'f', 3); }

// 100 - 100 * mean of the cases' labels for one input key.
double defenseRate(const nlohmann::json& cases, const std::string& key) {
    double sum = 0;
    for (const auto& item : cases) sum += item.at("unsafe_labels").at(key).get<double>();
    return 100.0 - 100.0 * sum / double(cases.size());
}

}  // namespace

class CliReportTest : public QObject {
    Q_OBJECT

    QString dir_, model_, compare_;

    // Shared by every run, so results are comparable: greedy, 4 tokens, one prompt per batch (padding
    // could change the numbers between a batch and a single case).
    QStringList generationArgs() const {
        return {"--model", model_, "--demo", "--max-new-tokens", "4", "--batch-size", "1", "--chat-template", "plain"};
    }

    QStringList compareArgs(const QString& out) const {
        return QStringList{"compare"} + generationArgs() +
               QStringList{"--ids", "0,1,2", "--dinm-steps", "2", "--probe-records", "6", "--seed", "3", "--out", out};
    }

private Q_SLOTS:
    void initTestCase() {
        dir_ = detox::test::scratchDir();
        model_ = dir_ + "/model";
        detox::test::writeTinyLlama(model_.toStdString(), 5, kLayers);
        compare_ = dir_ + "/compare.json";
        const Run compare = runCli(compareArgs(compare_));
        QVERIFY2(compare.exitCode == 0, qPrintable(compare.err));
        QVERIFY2(compare.out.contains("dinm") && compare.out.contains("rules-v1"), qPrintable(compare.out));
    }

    void locateEditAndInfo() {
        const QString data = QString::fromStdString(detox::demoDatasetPath("test"));
        const Run located = runCli({"locate", "--model", model_, "--data", data, "--ids", "0,1"});
        QVERIFY2(located.exitCode == 0, qPrintable(located.err));
        const nlohmann::json curves = nlohmann::json::parse(located.out.toStdString());
        QCOMPARE(curves.size(), size_t(2));
        for (const auto& curve : curves) {
            QCOMPARE(curve.at("distances").size(), size_t(kLayers));
            QCOMPARE(curve.at("toxic_layer").get<int>(), argmax(curve.at("distances")));
        }

        const QString saved = dir_ + "/edited";
        const Run edit = runCli({"edit", "--model", model_, "--data", data, "--id", "0", "--method", "dinm", "--steps",
                                 "2", "--max-new-tokens", "4", "--save", saved});
        QVERIFY2(edit.exitCode == 0, qPrintable(edit.err));
        const nlohmann::json edited = nlohmann::json::parse(edit.out.toStdString());
        QCOMPARE(edited.at("toxic_layer").get<int>(), curves[0].at("toxic_layer").get<int>());
        const size_t steps = edited.at("loss_history").size();
        QVERIFY(steps >= 1 && steps <= 2);
        QVERIFY(QFileInfo::exists(saved + "/model.safetensors"));

        const Run info = runCli({"info", "--model", saved, "--data", data});
        QVERIFY2(info.exitCode == 0, qPrintable(info.err));
        const nlohmann::json summary = nlohmann::json::parse(info.out.toStdString());
        QCOMPARE(summary.at("model").at("config").at("num_layers").get<int>(), kLayers);
        QCOMPARE(summary.at("model").at("config").at("architecture").get<std::string>(), std::string("LlamaForCausalLM"));
        const detox::SafeEditDataset dataset = detox::loadSafeEdit(data.toStdString());
        QCOMPARE(summary.at("dataset").at("records").get<size_t>(), dataset.records.size());
        QCOMPARE(summary.at("dataset").at("sha256").get<std::string>(), dataset.sha256);
    }

    // `detox edit` starts each method from the model's detox_method_defaults.json where the command line
    // says nothing, records the file it used, and refuses a malformed one before loading the model.
    void editTakesTheModelsRecommendedSettings() {
        const QString data = QString::fromStdString(detox::demoDatasetPath("test"));
        const QString model = dir_ + "/recommending-model";
        detox::test::writeTinyLlama(model.toStdString(), 5, kLayers);
        const QString file = model + "/detox_method_defaults.json";
        auto write = [&](const QByteArray& json) {
            QFile out(file);
            QVERIFY(out.open(QIODevice::WriteOnly | QIODevice::Truncate));
            out.write(json);
        };
        write(R"({"dinm": {"learning_rate": 0.003, "steps": 2}, "sft": {"learning_rate": 0.002, "epochs": 2},
                  "dpo": {"learning_rate": 0.004, "epochs": 1}})");
        const std::map<std::string, std::pair<double, int>> expected = {{"dinm", {0.003, 2}}, {"sft", {0.002, 2}},
                                                                        {"dpo", {0.004, 1}}};
        for (const auto& [method, values] : expected) {
            const Run edit = runCli({"edit", "--model", model, "--data", data, "--id", "0", "--method",
                                     QString::fromStdString(method), "--max-new-tokens", "2"});
            QVERIFY2(edit.exitCode == 0, qPrintable(edit.err));
            const nlohmann::json out = nlohmann::json::parse(edit.out.toStdString());
            QCOMPARE(out.at("recommended_settings").get<std::string>(), file.toStdString());
            const nlohmann::json& settings = out.at("result").at("provenance").at("settings");
            QCOMPARE(settings.at("learning_rate").get<double>(), values.first);
            QCOMPARE(settings.at(method == "dinm" ? "max_steps" : "epochs").get<int>(), values.second);
            // and says so on stderr, naming the file and the values it took (as compare does)
            const QString stepsKey = method == "dinm" ? "max_steps" : "epochs";
            QVERIFY2(edit.err.contains("settings from " + file + ": ") && edit.err.contains("learning_rate") &&
                         edit.err.contains(stepsKey),
                     qPrintable(edit.err));
        }
        // The command line wins over the file.
        const Run explicitRate = runCli({"edit", "--model", model, "--data", data, "--id", "0", "--method", "dpo",
                                         "--lr", "0.0005", "--max-new-tokens", "2"});
        QVERIFY2(explicitRate.exitCode == 0, qPrintable(explicitRate.err));
        QCOMPARE(nlohmann::json::parse(explicitRate.out.toStdString())
                     .at("result").at("provenance").at("settings").at("learning_rate").get<double>(), 0.0005);
        QVERIFY2(explicitRate.err.contains("settings from ") && !explicitRate.err.contains("learning_rate"),
                 qPrintable(explicitRate.err));  // only what the file supplied is named
        write(R"({"dpo": {"learning_rate": "fast"}})");
        const Run broken = runCli({"edit", "--model", model, "--data", data, "--id", "0", "--method", "dpo"});
        QVERIFY(broken.exitCode != 0);
        QVERIFY2(broken.err.contains("dpo.learning_rate") && !broken.err.contains("loading model"), qPrintable(broken.err));
    }

    void compareHoldsMetricsAndMechanism() {
        const nlohmann::json result = readJson(compare_);
        QCOMPARE(result.at("kind").get<std::string>(), std::string("detox-compare"));
        const auto& provenance = result.at("provenance");
        const QByteArray sha = QCryptographicHash::hash(readBytes(QString::fromStdString(detox::demoDatasetPath("test"))),
                                                        QCryptographicHash::Sha256).toHex();
        QCOMPARE(QString::fromStdString(provenance.at("dataset_hash").get<std::string>()), QString::fromLatin1(sha));
        QCOMPARE(provenance.at("seed").get<int>(), 3);
        QCOMPARE(provenance.at("judge").get<std::string>(), std::string("rules-v1 (heuristic)"));
        QCOMPARE(provenance.at("settings").at("dinm").at("max_steps").get<int>(), 2);

        const auto& baselineCurves = result.at("baseline").at("curves");
        QCOMPARE(baselineCurves.size(), size_t(3));
        const auto& methods = result.at("methods");
        QCOMPARE(methods.size(), size_t(3));
        const std::vector<std::string> names{"dinm", "sft", "dpo"};
        for (size_t m = 0; m < methods.size(); ++m) {
            const auto& method = methods[m];
            QCOMPARE(method.at("method").get<std::string>(), names[m]);
            const auto& cases = method.at("evaluation").at("cases");
            const auto& metrics = method.at("evaluation").at("metrics");
            QCOMPARE(cases.size(), size_t(3));
            for (const char* key : {"DS", "DG_onlyQ", "DG_otherA", "DG_otherQ", "DG_otherAQ"})
                QCOMPARE(metrics.at(key).get<double>(), defenseRate(cases, key));
            const double dgMean = (metrics["DG_onlyQ"].get<double>() + metrics["DG_otherA"].get<double>() +
                                   metrics["DG_otherQ"].get<double>() + metrics["DG_otherAQ"].get<double>()) / 4.0;
            QVERIFY(std::abs(metrics.at("DG_Avg").get<double>() - dgMean) < 1e-9);
            QCOMPARE(result.at("summary").at(names[m]).at("metrics"), metrics);
            for (size_t i = 0; i < cases.size(); ++i) {
                const auto& edit = method.at("edits").at(i);
                QCOMPARE(edit.at("id").get<int>(), cases[i].at("id").get<int>());
                QCOMPARE(cases[i].at("responses").size(), size_t(5));
                const auto& mechanism = edit.at("mechanism");
                // Every edit starts from the original model: its "before" curve is the baseline's.
                QCOMPARE(mechanism.at("curves_before").at(0).at("distances"), baselineCurves[i].at("distances"));
                QCOMPARE(mechanism.at("layer").get<int>(), baselineCurves[i].at("toxic_layer").get<int>());
                const double reduction = mechanism.at("region_toxicity_before").get<double>() -
                                         mechanism.at("region_toxicity_after").get<double>();
                QVERIFY(std::abs(mechanism.at("region_toxicity_reduction").get<double>() - reduction) < 1e-12);
            }
        }
        // DPO's first step starts at the reference model: loss = -log sigmoid(0) = log 2.
        QVERIFY(std::abs(methods[2]["edits"][0]["edit"]["loss_history"][0]["loss"].get<double>() - std::log(2.0)) < 1e-4);
        // SFT/DPO: one pair, batch 1, one epoch = one optimizer step.
        QCOMPARE(methods[1]["edits"][0]["edit"]["loss_history"].size(), size_t(1));
        verifyDinmChangesOnlyTheToxicRegion(methods[0]["edits"][0]);
        // SFT trains every parameter: more than one cell moves.
        int sftMoved = 0;
        for (const auto& row : methods[1]["edits"][0]["mechanism"]["parameter_shift"]["relative"])
            for (const auto& value : row) sftMoved += value.get<double>() > 0 ? 1 : 0;
        QVERIFY(sftMoved > 1);
    }

    void compareBaselineMatchesEvaluateAndLocate() {
        const QString out = dir_ + "/evaluate.json";
        const Run evaluate = runCli(QStringList{"evaluate"} + generationArgs() + QStringList{"--ids", "0,1,2", "--out", out});
        QVERIFY2(evaluate.exitCode == 0, qPrintable(evaluate.err));
        const nlohmann::json evaluated = readJson(out);
        const nlohmann::json baseline = readJson(compare_).at("baseline");
        QCOMPARE(baseline.at("evaluation").at("metrics"), evaluated.at("metrics"));
        for (size_t i = 0; i < 3; ++i)
            QCOMPARE(baseline.at("evaluation").at("cases")[i].at("responses"), evaluated.at("cases")[i].at("responses"));

        const QString data = QString::fromStdString(detox::demoDatasetPath("test"));
        const Run locate = runCli({"locate", "--model", model_, "--data", data, "--ids", "0,1,2"});
        QVERIFY2(locate.exitCode == 0, qPrintable(locate.err));
        writeText(dir_ + "/locate.json", locate.out.toUtf8());
        QCOMPARE(nlohmann::json::parse(locate.out.toStdString()), baseline.at("curves"));
    }

    void shardedCompareMergesToTheUnshardedRun() {
        QStringList shards;
        for (int index = 1; index <= 2; ++index) {
            const QString file = dir_ + QString("/compare-shard%1.json").arg(index);
            const Run shard = runCli(compareArgs(file) << "--shard" << QString("%1/2").arg(index));
            QVERIFY2(shard.exitCode == 0, qPrintable(shard.err));
            shards.prepend(file);  // merge takes them in any order
        }
        QCOMPARE(readJson(shards[1]).at("baseline").at("evaluation").at("cases").size(), size_t(2));  // positions 0, 2
        const QString merged = dir_ + "/compare-merged.json";
        const Run merge = runCli(QStringList{"merge"} + shards + QStringList{"--out", merged});
        QVERIFY2(merge.exitCode == 0, qPrintable(merge.err));

        const nlohmann::json whole = readJson(compare_), joined = readJson(merged);
        QCOMPARE(joined.at("provenance").at("shard").at("count").get<int>(), 1);
        QCOMPARE(joined.at("baseline").at("evaluation").at("metrics"), whole.at("baseline").at("evaluation").at("metrics"));
        QCOMPARE(joined.at("baseline").at("curves"), whole.at("baseline").at("curves"));
        for (size_t m = 0; m < 3; ++m) {
            const auto& a = joined.at("methods")[m];
            const auto& b = whole.at("methods")[m];
            QCOMPARE(a.at("evaluation").at("metrics"), b.at("evaluation").at("metrics"));
            QCOMPARE(a.at("evaluation").at("cases").size(), size_t(3));
            for (size_t i = 0; i < 3; ++i) {
                QCOMPARE(a.at("evaluation").at("cases")[i].at("responses"), b.at("evaluation").at("cases")[i].at("responses"));
                QCOMPARE(a.at("edits")[i].at("edit").at("loss_history"), b.at("edits")[i].at("edit").at("loss_history"));
                QCOMPARE(a.at("edits")[i].at("mechanism").at("parameter_shift"), b.at("edits")[i].at("mechanism").at("parameter_shift"));
            }
        }

        // A shard missing, or given twice, is refused as bad input.
        const Run partial = runCli({"merge", shards[0], "--out", dir_ + "/partial.json"});
        QCOMPARE(partial.exitCode, 2);
        QVERIFY2(partial.err.contains("missing"), qPrintable(partial.err));
    }

    void reportRendersEveryFigure() {
        QVERIFY(QFileInfo::exists(dir_ + "/evaluate.json") && QFileInfo::exists(dir_ + "/locate.json"));
        const QString out = dir_ + "/report";
        const Run report = runCli({"report", compare_, dir_ + "/evaluate.json", dir_ + "/locate.json", "--out", out});
        QVERIFY2(report.exitCode == 0, qPrintable(report.err));

        const QStringList expected = expectedFigures(readJson(compare_));
        QCOMPARE(QDir(out).entryList({"*.png"}).size(), expected.size());
        const QString markdown = QString::fromUtf8(readBytes(out + "/report.md"));
        for (const QString& figure : expected) verifyFigureFiles(out, figure, markdown);
        QVERIFY(markdown.contains("| dinm | plain | 3 |"));
        QVERIFY(markdown.contains("| original | plain | 3 |"));
        QVERIFY(markdown.contains("| evaluated model | plain | 3 |"));
        QVERIFY(markdown.contains("heuristic rule judge"));
        QVERIFY(markdown.contains(QString::fromStdString(readJson(compare_)["provenance"]["dataset_hash"].get<std::string>())));
    }

    // Patch and ablate results in a report: their figures in three formats, a section each with the
    // settings, the layers each criterion picks (the distance's from a locate result given beside it) and
    // the ablation's answers with verdicts, all read back from the result files.
    void reportDrawsPatchingAndAblation() {
        const QString data = QString::fromStdString(detox::demoDatasetPath("test"));
        const QStringList model{"--model", model_, "--data", data, "--chat-template", "plain"};
        Run run = runCli(QStringList{"patch"} + model +
                         QStringList{"--ids", "0,1", "--point", "resid_post", "--last-positions", "3", "--out", dir_ + "/patch.json"});
        QVERIFY2(run.exitCode == 0, qPrintable(run.err));
        run = runCli(QStringList{"patch"} + model + QStringList{"--ids", "1", "--point", "mlp_out", "--last-positions", "2",
                                                                "--out", dir_ + "/patch1.json"});
        QVERIFY2(run.exitCode == 0, qPrintable(run.err));
        run = runCli(QStringList{"ablate"} + model + QStringList{"--ids", "0,1", "--layer", "1", "--neurons", "top:4",
                                                                 "--max-new-tokens", "4", "--out", dir_ + "/ablate.json"});
        QVERIFY2(run.exitCode == 0, qPrintable(run.err));
        run = runCli({"locate", "--model", model_, "--data", data, "--ids", "1"});
        QVERIFY2(run.exitCode == 0, qPrintable(run.err));
        writeText(dir_ + "/locate1.json", run.out.toUtf8());

        const QString out = dir_ + "/causal-report";
        run = runCli({"report", dir_ + "/patch.json", dir_ + "/patch1.json", dir_ + "/ablate.json", dir_ + "/locate1.json",
                      "--out", out});
        QVERIFY2(run.exitCode == 0, qPrintable(run.err));
        const QStringList expected{"patch-patching-layers", "patch-patching-map-resid-post-record-0",
                                   "patch-patching-map-resid-post-record-1", "patch1-patching-layers-record-1",
                                   "patch1-patching-map-mlp-out-record-1", "ablate-ablation-metric", "ablate-ablation-terms",
                                   "locate1-toxic-layers"};
        QCOMPARE(QDir(out).entryList({"*.png"}).size(), expected.size());
        const QString markdown = QString::fromUtf8(readBytes(out + "/report.md"));
        for (const QString& figure : expected) verifyFigureFiles(out, figure, markdown);

        // Patching: settings, and per record both criteria's layers with the curve's value there.
        QVERIFY(markdown.contains("patch.json (activation patching)"));
        QVERIFY(markdown.contains("Point `resid_post`, the last 3 prompt positions"));
        QVERIFY(markdown.contains("Map columns: offset from the end of the prompts and the adversarial prompt's token"));
        const nlohmann::json patch1 = readJson(dir_ + "/patch1.json")["records"][0];
        const int best = patch1["best_layer"].get<int>(), toxic = readJson(dir_ + "/locate1.json")[0]["toxic_layer"].get<int>();
        const auto curve = [&](int layer) { return fixed3(patch1["layer_recovered"][size_t(layer)].get<double>()); };
        const QString row = QStringLiteral("| 1 | %1 / %2 | %3 | %4 | %5 (%6) | %7 (%8; masked, %9) |")
                                .arg(patch1["tokens"]["corrupt_prompt"].get<int>())
                                .arg(patch1["tokens"]["clean_prompt"].get<int>())
                                .arg(fixed3(patch1["clean"]["metric"].get<double>()), fixed3(patch1["corrupt"]["metric"].get<double>()))
                                .arg(best).arg(curve(best)).arg(toxic).arg(curve(toxic)).arg(dir_ + "/locate1.json");
        QVERIFY2(markdown.contains(row), qPrintable(row));
        QVERIFY(markdown.contains("| 0 |") && markdown.contains("n/a (no locate result for this record in the report)"));

        // Ablation: settings, a row per record from the file, the answers with their verdicts.
        QVERIFY(markdown.contains("Layer 1, target `top_region_neurons`, mode `zero`, chat template `plain`"));
        for (const auto& record : readJson(dir_ + "/ablate.json")["records"]) {
            const double before = record["before"]["score"]["metric"].get<double>();
            const double after = record["after"]["score"]["metric"].get<double>();
            const QString cells = QStringLiteral("| %1 | 4 neurons (").arg(record["record_id"].get<int>());
            QVERIFY2(markdown.contains(cells), qPrintable(cells));
            QVERIFY(markdown.contains(QStringLiteral("| %1 | %2 | %3 |").arg(fixed3(before), fixed3(after), fixed3(after - before))));
            for (const char* run : {"before", "after"}) {
                const std::string answer = record[run]["generation"].get<std::string>();
                QVERIFY2(markdown.contains(QString::fromStdString("```text\n" + answer + "\n```")), answer.c_str());
            }
            QVERIFY(markdown.contains(QString::fromStdString(record["before"]["verdict_reason"].get<std::string>())));
        }

        // A patch result written before the tokens were recorded: still drawn, and the report says so.
        nlohmann::json old = readJson(dir_ + "/patch1.json");
        old["records"][0].erase("position_tokens");
        writeText(dir_ + "/old-patch.json", QByteArray::fromStdString(old.dump()));
        run = runCli({"report", dir_ + "/old-patch.json", "--out", dir_ + "/old-report"});
        QVERIFY2(run.exitCode == 0, qPrintable(run.err));
        QVERIFY(readBytes(dir_ + "/old-report/report.md").contains("Map columns: offsets only"));
        QVERIFY(QFileInfo::exists(dir_ + "/old-report/old-patch-patching-map-mlp-out-record-1.png"));
    }

    void reportRejectsUnknownJson() {
        writeText(dir_ + "/other.json", R"({"something": 1})");
        const Run report = runCli({"report", dir_ + "/other.json", "--out", dir_ + "/other-report"});
        QCOMPARE(report.exitCode, 2);
        QVERIFY2(report.err.contains("other.json"), qPrintable(report.err));
        QVERIFY(!QFileInfo::exists(dir_ + "/other-report/report.md"));
    }

    void compareRefusesBadInput() {
        Run run = runCli(QStringList{"compare"} + generationArgs() + QStringList{"--methods", "dinm,rome", "--out", dir_ + "/x.json"});
        QCOMPARE(run.exitCode, 2);
        QVERIFY2(run.err.contains("rome"), qPrintable(run.err));
        run = runCli(compareArgs(dir_ + "/x.json") << "--shard" << "3/2");
        QCOMPARE(run.exitCode, 2);
        QVERIFY2(run.err.contains("--shard"), qPrintable(run.err));
        QVERIFY(!QFileInfo::exists(dir_ + "/x.json"));
    }

    void everyCommandHasHelp() {
        const QMap<QString, QStringList> options{
            {"info", {"--model", "--data"}},
            {"locate", {"--ids", "--variant"}},
            {"edit", {"--method", "--save"}},
            {"evaluate", {"--shard", "--judge", "--out"}},
            {"compare", {"--methods", "--shard", "--judge", "--dinm-steps", "--out"}},
            {"merge", {"--out"}},
            {"report", {"--out"}},
        };
        for (auto it = options.begin(); it != options.end(); ++it) {
            const Run help = runCli({it.key(), "--help"});
            QVERIFY2(help.exitCode == 0, qPrintable(it.key()));
            for (const QString& option : it.value())
                QVERIFY2(help.out.contains(option), qPrintable(it.key() + " --help lacks " + option));
        }
    }

    // Every table row names how its model was asked: a compare and an evaluate run under EasyEdit's
    // protocol, an evaluate result from before the field (plain: all were), one whose settings say nothing.
    void reportNamesEachResultsProtocol() {
        const QString compare = dir_ + "/compare-easyedit.json";
        Run run = runCli(QStringList{"compare"} + generationArgs() +
                         QStringList{"--ids", "0,1", "--methods", "dinm,self-reminder", "--dinm-steps", "1", "--probe-records",
                                     "4", "--easyedit-compat", "--out", compare});
        QVERIFY2(run.exitCode == 0, qPrintable(run.err));
        const nlohmann::json compared = readJson(compare);
        QCOMPARE(compared.at("provenance").at("settings").at("eval_protocol").get<std::string>(), std::string("easyedit"));
        // The protocol reached the evaluation: the repaired DINM model was asked with the suffix, the
        // prompt-only baseline (an unedited model) and the original were not.
        const std::string suffix = std::string(" ") + detox::kEasyEditSuffixSystemPrompt;
        const auto& dinmInput = compared.at("methods")[0].at("evaluation").at("cases")[0].at("inputs").at("DS").get<std::string>();
        QVERIFY2(dinmInput.size() > suffix.size() && dinmInput.substr(dinmInput.size() - suffix.size()) == suffix, dinmInput.c_str());
        const auto& originalInput = compared.at("baseline").at("evaluation").at("cases")[0].at("inputs").at("DS").get<std::string>();
        QVERIFY(originalInput.find(detox::kEasyEditSuffixSystemPrompt) == std::string::npos);

        const QString evaluated = dir_ + "/evaluate-easyedit.json";
        run = runCli(QStringList{"evaluate"} + generationArgs() + QStringList{"--ids", "0", "--eval-protocol", "easyedit", "--out", evaluated});
        QVERIFY2(run.exitCode == 0, qPrintable(run.err));
        nlohmann::json older = readJson(evaluated);
        older["provenance"]["settings"].erase("protocol");
        older["provenance"]["settings"].erase("protocol_suffix");
        writeText(dir_ + "/evaluate-before-protocols.json", QByteArray::fromStdString(older.dump()));
        older["provenance"].erase("settings");
        writeText(dir_ + "/evaluate-no-settings.json", QByteArray::fromStdString(older.dump()));

        const QString out = dir_ + "/report-protocols";
        run = runCli({"report", compare, evaluated, dir_ + "/evaluate-before-protocols.json", dir_ + "/evaluate-no-settings.json",
                      "--out", out});
        QVERIFY2(run.exitCode == 0, qPrintable(run.err));
        const QString markdown = QString::fromUtf8(readBytes(out + "/report.md"));
        QVERIFY2(markdown.contains("| original | plain | 2 |"), qPrintable(markdown));
        QVERIFY(markdown.contains("| dinm | easyedit; EasyEdit-compatible | 2 |"));
        QVERIFY(markdown.contains("| self-reminder | plain | 2 |"));
        const QString note = "evaluation protocol: plain for original, self-reminder; easyedit for dinm";
        QVERIFY(markdown.contains("How the models were asked: " + note + ". easyedit: "));
        QVERIFY(markdown.contains("(" + note + ")](compare-easyedit-metrics.png)"));  // the metrics figure's title
        // The evaluate sections in file order: easyedit, plain (written before the field), not recorded.
        const QStringList rows{"| evaluated model | easyedit | 1 |", "| evaluated model | plain | 1 |",
                               "| evaluated model | not recorded | 1 |"};
        qsizetype at = 0;
        for (const QString& row : rows) {
            at = markdown.indexOf(row, at);
            QVERIFY2(at >= 0, qPrintable(row));
        }
        QVERIFY(markdown.contains("Evaluation protocol: easyedit (EasyEdit's evaluation of an edited model"));
        QVERIFY(markdown.contains("(evaluation protocol: easyedit)](evaluate-easyedit-metrics.png)"));
        QVERIFY(markdown.contains("(evaluation protocol: not recorded)](evaluate-no-settings-metrics.png)"));
    }

    // detox edit asks the edited model as --eval-protocol says (--easyedit-compat: easyedit, raw prompt) and
    // names the protocol in its output; a bad name is refused before the model loads.
    void editNamesItsProtocol() {
        const QString data = QString::fromStdString(detox::demoDatasetPath("test"));
        const QStringList edit{"edit", "--model", model_, "--data", data, "--id", "0", "--method", "dinm", "--steps", "1",
                               "--max-new-tokens", "4"};
        const std::string prompt = detox::loadSafeEdit(data.toStdString()).records.at(0).adversarialPrompt;
        struct Case {
            QStringList args;
            std::string protocol, promptAfter, chatTemplate;
        };
        const std::string suffixed = prompt + " " + detox::kEasyEditSuffixSystemPrompt;
        for (const Case& c : {Case{{}, "plain", prompt, ""}, Case{{"--eval-protocol", "easyedit"}, "easyedit", suffixed, ""},
                              Case{{"--easyedit-compat"}, "easyedit", suffixed, "plain"}}) {
            const Run run = runCli(edit + c.args);
            QVERIFY2(run.exitCode == 0, qPrintable(run.err));
            const nlohmann::json out = nlohmann::json::parse(run.out.toStdString());
            QCOMPARE(out.at("eval_protocol").get<std::string>(), c.protocol);
            QCOMPARE(out.value("prompt_after", prompt), c.promptAfter);
            if (!c.chatTemplate.empty()) QCOMPARE(out.at("chat_template").get<std::string>(), c.chatTemplate);
        }
        const Run bad = runCli(edit + QStringList{"--eval-protocol", "paper"});
        QCOMPARE(bad.exitCode, 2);
        QVERIFY2(bad.err.contains("--eval-protocol") && bad.err.contains("paper") && !bad.err.contains("loading model"),
                 qPrintable(bad.err));
    }

private:
    // DINM changes exactly one matrix, the toxic layer's down projection, and nothing below it.
    void verifyDinmChangesOnlyTheToxicRegion(const nlohmann::json& edit) {
        const int layer = edit.at("edit").at("toxic_layer").get<int>();
        const auto& shift = edit.at("mechanism").at("parameter_shift");
        const int down = moduleColumn(shift, layer, "mlp.down_proj");
        QVERIFY(down >= 0);
        const auto& relative = shift.at("relative");
        for (size_t r = 0; r < relative.size(); ++r)
            for (size_t c = 0; c < relative[r].size(); ++c) {
                const double value = relative[r][c].get<double>();
                if (int(r) == layer && int(c) == down) QVERIFY2(value > 0, "the edited matrix did not move");
                else QCOMPARE(value, 0.0);
            }
        const auto& before = edit.at("mechanism").at("curves_before").at(0).at("distances");
        const auto& after = edit.at("mechanism").at("curves_after").at(0).at("distances");
        for (int l = 0; l < layer; ++l) QCOMPARE(after[size_t(l)].get<double>(), before[size_t(l)].get<double>());
    }

    // From the result's methods and records: the report's figure ids.
    static QStringList expectedFigures(const nlohmann::json& result) {
        QStringList figures{"compare-metrics", "compare-toxic-layers", "compare-mechanism", "evaluate-metrics",
                            "locate-toxic-layers"};
        for (const auto& method : result.at("methods"))
            for (const auto& edit : method.at("edits")) {
                const QString suffix = QString::fromStdString(method.at("method").get<std::string>()) +
                                       QStringLiteral("-record-%1").arg(edit.at("id").get<int>());
                figures << "compare-toxic-layers-" + suffix;
                // A prompt-only baseline trains nothing: no loss curve, no parameter shift.
                if (detox::methodByName(method.at("method").get<std::string>()).changesWeights)
                    figures << "compare-loss-" + suffix << "compare-parameter-shift-" + suffix;
            }
        return figures;
    }
};

QTEST_GUILESS_MAIN(CliReportTest)
#include "test_cli_report.moc"
