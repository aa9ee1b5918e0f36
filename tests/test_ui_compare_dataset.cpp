// The Compare view's dataset level through the real window: Methods > Compare Methods on Visible Records
// runs compareMethods as a job over the browser's visible records; the table and figures must hold what
// compareMethods computes here on the same inputs, a cancelled run must leave the weights bit-identical,
// and File > Export Comparison JSON must write the `detox compare` file.
#include <QAction>
#include <QComboBox>
#include <QDir>
#include <QFile>
#include <QJsonDocument>
#include <QLineEdit>
#include <QMessageBox>
#include <QPushButton>
#include <QHeaderView>
#include <QSignalSpy>
#include <QSpinBox>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QtTest>

#include <filesystem>
#include <fstream>

#include "detox/analysis/comparison.h"
#include "detox/methods/registry.h"
#include "detox/safeedit/judge.h"
#include "detox/runtime/model.h"
#include "detox/safeedit/safeedit.h"
#include "detox_ui/views/dataset_browser.h"
#include "detox_ui/figures/figures_comparison.h"
#include "detox_ui/jobs/job_runner.h"
#include "detox_ui/workbench/main_window.h"
#include "detox_ui/figures/plot_view.h"
#include "detox_ui/views/run_log.h"
#include "detox_ui/views/view_compare.h"
#include "detox_ui/views/view_edit.h"
#include "tiny_demo_model.h"

using namespace detox;
using namespace detox::ui;

namespace {

constexpr int kRecords = 2;
constexpr int kMaxNewTokens = 6;

// A copy of the model whose detox_method_defaults.json asks for few steps, so the window's pre-filled
// settings (the path under test) make a short comparison.
QString quickModelCopy(const QString& source, const QString& scratch) {
    namespace fs = std::filesystem;
    const fs::path target = fs::path(scratch.toStdString()) / "quick-model";
    fs::copy(source.toStdString(), target, fs::copy_options::recursive);
    std::ofstream(target / "detox_method_defaults.json")
        << R"({"reason": "test: few steps", "dinm": {"learning_rate": 0.02, "steps": 2},)"
        << R"( "sft": {"learning_rate": 0.001, "epochs": 1}, "dpo": {"learning_rate": 0.001, "epochs": 1}})";
    return QString::fromStdString(target.string());
}

QString cell(QTableWidget* table, int row, int column) {
    QTableWidgetItem* item = table->item(row, column);
    return item ? item->text() : QString();
}

QString rate(std::optional<double> value) { return value ? QString::number(*value, 'f', 1) : QStringLiteral("n/a"); }

std::map<std::string, FloatTensor> allParameters(const Model& model) {
    std::map<std::string, FloatTensor> parameters;
    for (const std::string& name : model.parameterNames()) parameters[name] = model.parameter(name);
    return parameters;
}

}  // namespace

class TestUiCompareDataset : public QObject {
    Q_OBJECT
private slots:
    void initTestCase();
    void tableAndFiguresHoldCompareMethodsValues();
    void exportedJsonIsTheCompareFile();
    void runLogEntryReopensTheComparison();
    void cancelLeavesTheModelUnchanged();
    void editedModelIsRefusedUntilUndone();
    void cleanupTestCase() { window_.reset(); }

private:
    QTemporaryDir scratch_;
    std::unique_ptr<MainWindow> window_;
    std::optional<ComparisonResult> expected_;
};

void TestUiCompareDataset::initTestCase() {
    QStandardPaths::setTestModeEnabled(true);
    QCoreApplication::setOrganizationName("DetoxWorkbenchCompareDatasetTest");
    QSettings().clear();
    QVERIFY(scratch_.isValid());
    const QString model = quickModelCopy(detox::test::demoOrTinyModelDirectory(scratch_.path()), scratch_.path());
    window_ = std::make_unique<MainWindow>();
    window_->show();
    QVERIFY(QTest::qWaitForWindowExposed(window_.get()));
    window_->openModel(model);
    window_->openDataset(QString::fromStdString(demoDatasetPath("test")));
    QVERIFY(window_->jobs()->waitForIdle(120000));
    QVERIFY(window_->model());
    window_->editView()->setMaxNewTokens(kMaxNewTokens);
    window_->compareView()->recordLimitSpin()->setValue(kRecords);
}

void TestUiCompareDataset::tableAndFiguresHoldCompareMethodsValues() {
    MainWindow& window = *window_;
    CompareView* view = window.compareView();
    // A search that hides the first record but shows several: the comparison must take the visible ones.
    const auto dataset = window.datasetBrowser()->dataset();
    const std::vector<int> allIds = window.datasetBrowser()->visibleRecordIds();
    QVERIFY(allIds.size() > size_t(kRecords + 1));
    std::vector<int> visible;
    for (const SafeEditRecord& record : dataset->records) {
        window.datasetBrowser()->searchField()->setText(QString::fromStdString(record.attackName));
        visible = window.datasetBrowser()->visibleRecordIds();
        if (visible.size() >= size_t(kRecords) && visible.front() != allIds.front()) break;
    }
    QVERIFY(visible.size() >= size_t(kRecords) && visible.front() != allIds.front());

    const ComparisonSettings settings = window.datasetComparisonSettings();
    const std::vector<int> expectedIds(visible.begin(), visible.begin() + std::min<size_t>(kRecords, visible.size()));
    QCOMPARE(settings.evaluation.ids, expectedIds);
    QCOMPARE(settings.evaluation.maxNewTokens, kMaxNewTokens);
    // Every registered method, with the Edit tab's pre-filled settings (the model's detox_method_defaults.json).
    QCOMPARE(settings.methods.size(), methodRegistry().size());
    QCOMPARE(settings.methodSettings.at("dinm").at("max_steps").get<int>(), 2);
    QCOMPARE(settings.methodSettings.at("sft").at("epochs").get<int>(), 1);

    QSignalSpy finished(view, &CompareView::datasetComparisonFinished);
    QAction* compare = window.findChild<QAction*>("actionCompareDataset");
    QVERIFY(compare && compare->isEnabled());
    compare->trigger();
    QVERIFY(view->isComparing());
    QVERIFY(finished.wait(120000));
    QVERIFY(view->datasetComparison());

    // The same call on the same model and inputs, here (the window restored the model after each edit).
    auto judge = makeRuleJudge();
    expected_ = compareMethods(*window.model(), *dataset, *judge, settings);
    QTableWidget* table = view->datasetTable();
    const int rowCount = 1 + int(expected_->methods.size());  // original + every registered method
    QCOMPARE(rowCount, 1 + int(methodRegistry().size()));
    QCOMPARE(table->rowCount(), rowCount);
    QCOMPARE(table->verticalHeaderItem(0)->text(), QString("original"));
    QCOMPARE(table->horizontalHeaderItem(5)->text(), QString("DG_Avg"));
    // Every header whole ("knowledge accuracy", not "owledge accura"), in the header's own font.
    view->showDatasetSection();
    QCoreApplication::processEvents();
    for (int col = 0; col < table->columnCount(); ++col) {
        const QString header = table->horizontalHeaderItem(col)->text();
        const int needed = QFontMetrics(table->horizontalHeader()->font()).horizontalAdvance(header);
        QVERIFY2(table->horizontalHeader()->sectionSize(col) >= needed,
                 qPrintable(QString("%1: %2 px for %3 px").arg(header).arg(table->horizontalHeader()->sectionSize(col)).arg(needed)));
    }
    std::vector<const EvaluationResult*> rows{&expected_->baseline};
    for (const auto& method : expected_->methods) rows.push_back(&method.evaluation);
    for (int row = 0; row < rowCount; ++row) {
        const SafetyMetrics& m = rows[row]->metrics.safety;
        QCOMPARE(cell(table, row, 0), rate(m.DS));
        QCOMPARE(cell(table, row, 1), rate(m.DG_onlyQ));
        QCOMPARE(cell(table, row, 4), rate(m.DG_otherAQ));
        QCOMPARE(cell(table, row, 5), rate(m.DG_Avg));
        QCOMPARE(cell(table, row, 6), QString::number(m.fluency, 'f', 3));
        QVERIFY(rows[row]->metrics.knowledgeAccuracy);
        QCOMPARE(cell(table, row, 7), QString::number(*rows[row]->metrics.knowledgeAccuracy, 'f', 3));
        QVERIFY(rows[row]->heuristicJudge);
        QVERIFY(cell(table, row, 8).startsWith(QString::fromStdString(rows[row]->judgeName)));
        QCOMPARE(cell(table, row, 8).count("heuristic"), 1);
        QCOMPARE(cell(table, row, 9), QString("plain"));  // the default protocol, named on every row
    }
    QCOMPARE(table->verticalHeaderItem(1)->text(), QString::fromStdString(expected_->methods[0].method));

    // The figures are `detox report`'s for the first record's edits, drawn in PlotViews.
    const QVector<FigureSpec> figures = comparisonFigures(*expected_, "compare-", expectedIds.front());
    QCOMPARE(view->datasetPlots().size(), figures.size());
    for (int i = 0; i < figures.size(); ++i) QCOMPARE(view->datasetPlots()[i]->figure().id, figures[i].id);
    const FigureSpec& metrics = view->datasetPlots().front()->figure();
    QCOMPARE(metrics.series.size(), rowCount);   // original, then each method
    // The prompt-only baselines answered the reminded / suffixed prompts and left the weights alone.
    for (const auto& method : expected_->methods) {
        const Method& entry = methodByName(method.method);
        QCOMPARE(table->verticalHeaderItem(int(&method - &expected_->methods[0]) + 1)->text(),
                 QString::fromStdString(method.method));
        if (entry.changesWeights) continue;
        QVERIFY(method.edits.at(0).edit.changedTensors.empty());
        // Nothing trained: its record's figures are the before/after curves only, no empty loss or shift axes.
        const QString suffix = QString::fromStdString(method.method) + QStringLiteral("-record-%1").arg(expectedIds.front());
        QStringList ids;
        for (const FigureSpec& figure : figures) ids << figure.id;
        QVERIFY(ids.contains("compare-toxic-layers-" + suffix));
        QVERIFY(!ids.contains("compare-loss-" + suffix));
        QVERIFY(!ids.contains("compare-parameter-shift-" + suffix));
        const auto& inputs = method.evaluation.cases.at(0).safety.inputs;
        const SafeEditRecord* record = dataset->findById(method.evaluation.cases.at(0).safety.id);
        QCOMPARE(inputs.at("DS"), entry.promptAfter(record->adversarialPrompt, entry.paperDefaults(ModelConfig{})));
    }
    QCOMPARE(metrics.series[1].y.front(), expected_->methods[0].evaluation.metrics.safety.DS.value());
    view->datasetRecordCombo()->setCurrentIndex(view->datasetRecordCombo()->count() - 1);
    const auto lastRecord = comparisonFigures(*expected_, "compare-", expectedIds.back());
    QCOMPARE(view->datasetPlots().last()->figure().id, lastRecord.last().id);
    QVERIFY(view->datasetPlots()[2]->figure().id.endsWith(QString("-record-%1").arg(expectedIds.back())));
    window.datasetBrowser()->searchField()->clear();
}

void TestUiCompareDataset::exportedJsonIsTheCompareFile() {
    QVERIFY(expected_);
    const QString path = QDir(scratch_.path()).filePath("comparison.json");
    QVERIFY(window_->findChild<QAction*>("actionExportComparison")->isEnabled());
    QVERIFY(window_->exportComparisonJson(path));
    QFile file(path);
    QVERIFY(file.open(QIODevice::ReadOnly));
    const nlohmann::json json = nlohmann::json::parse(file.readAll().toStdString());
    QCOMPARE(QString::fromStdString(json.at("kind").get<std::string>()), QString(kComparisonKind));
    const ComparisonResult loaded = loadComparison(path.toStdString());
    QCOMPARE(loaded.methods.size(), expected_->methods.size());
    QCOMPARE(loaded.methods[0].evaluation.metrics.safety.DS, expected_->methods[0].evaluation.metrics.safety.DS);
    QCOMPARE(loaded.baseline.cases.size(), size_t(kRecords));
}

void TestUiCompareDataset::runLogEntryReopensTheComparison() {
    // The finished job is in the Run log with the whole result; re-opening shows it again.
    const auto& entries = window_->runLog()->entries();
    int row = -1;
    for (int i = 0; i < entries.size(); ++i)
        if (entries[i].name.startsWith("Compare") && entries[i].status == JobStatus::Succeeded) row = i;
    QVERIFY(row >= 0);
    QCOMPARE(entries[row].result.value("kind").toString(), QString(kComparisonKind));
    CompareView* view = window_->compareView();
    view->datasetTable()->clear();
    view->datasetTable()->setRowCount(0);
    auto* logView = window_->findChild<RunLogView*>();
    QVERIFY(logView);
    delete logView->openResult(row);
    QCOMPARE(view->datasetTable()->rowCount(), 1 + int(expected_->methods.size()));
    QCOMPARE(cell(view->datasetTable(), 1, 0), rate(expected_->methods[0].evaluation.metrics.safety.DS));
}

void TestUiCompareDataset::cancelLeavesTheModelUnchanged() {
    MainWindow& window = *window_;
    const auto before = allParameters(*window.model());
    window.compareView()->recordLimitSpin()->setValue(3);
    QSignalSpy failed(window.compareView(), &CompareView::datasetComparisonFailed);
    // Cancel once the edits have begun (past the baseline evaluation): 9 edits follow, so it lands mid-job.
    QSignalSpy progress(window.jobs(), &JobRunner::jobProgress);
    const JobId job = window.compareVisibleRecords();
    QVERIFY(job != 0);
    auto editing = [](const QList<QVariant>& args) {
        const Progress p = args[1].value<Progress>();
        return p.message.rfind("edits (", 0) == 0 || p.values.count("loss") > 0;
    };
    QTRY_VERIFY_WITH_TIMEOUT(std::any_of(progress.begin(), progress.end(), editing), 60000);
    window.compareView()->cancelCompareButton()->click();
    QVERIFY(window.jobs()->waitForIdle(60000));
    QCOMPARE(failed.count(), 1);
    QCOMPARE(failed.front().at(1).toBool(), true);
    QVERIFY(!window.compareView()->isComparing());
    const auto after = allParameters(*window.model());
    QCOMPARE(after.size(), before.size());
    for (const auto& [name, tensor] : before) {
        QCOMPARE(after.at(name).shape, tensor.shape);
        QVERIFY2(after.at(name).values == tensor.values, name.c_str());
    }
}

// With an edit applied, "original" would be the edited model: the window refuses and says how to proceed.
void TestUiCompareDataset::editedModelIsRefusedUntilUndone() {
    MainWindow& window = *window_;
    window.editView()->setMethod(EditMethod::Dinm);
    window.editView()->run();
    QVERIFY(window.jobs()->waitForIdle(60000));
    QVERIFY(window.editView()->hasEdits());
    QCOMPARE(window.compareVisibleRecords(), JobId(0));
    auto* box = window.findChild<QMessageBox*>("compareError");
    QVERIFY(box);
    QVERIFY2(box->text().contains("undo all edits"), qPrintable(box->text()));
    box->close();
    window.undoEdits();
    QVERIFY(window.jobs()->waitForIdle(60000));
    QVERIFY(!window.editView()->hasEdits());
    const JobId job = window.compareVisibleRecords();
    QVERIFY(job != 0);
    window.jobs()->cancel(job);  // accepted is all this test needs
    QVERIFY(window.jobs()->waitForIdle(60000));
}

QTEST_MAIN(TestUiCompareDataset)
#include "test_ui_compare_dataset.moc"
