// The evaluation protocol in the GUI (issue 14): the Edit view's and the dataset comparison's choice must
// reach the core (the edited model is asked what the protocol says), be recorded in the result, and be
// named by every table that shows a result: the Compare view's runs, the dataset comparison's rows and its
// metrics figure. The EasyEdit-compatible check boxes choose the easyedit protocol, as --easyedit-compat.
#include <QCheckBox>
#include <QComboBox>
#include <QLabel>
#include <QSignalSpy>
#include <QSpinBox>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QTextBrowser>
#include <QtTest>

#include "detox/analysis/comparison.h"
#include "detox/methods/registry.h"
#include "detox/safeedit/safeedit.h"
#include "detox_ui/figures/plot_view.h"
#include "detox_ui/jobs/job_runner.h"
#include "detox_ui/views/dataset_browser.h"
#include "detox_ui/views/view_compare.h"
#include "detox_ui/views/view_edit.h"
#include "detox_ui/workbench/main_window.h"
#include "reference_answers.h"
#include "tiny_demo_model.h"

using namespace detox;
using namespace detox::ui;

namespace {

constexpr int kMaxNewTokens = 6;
constexpr int kJobMs = 180000;

const std::string kSuffix = std::string(" ") + kEasyEditSuffixSystemPrompt;

// The column of `table` headed `header` in `row`, or a text saying it is missing.
QString cell(QTableWidget* table, int row, const QString& header) {
    for (int col = 0; col < table->columnCount(); ++col)
        if (table->horizontalHeaderItem(col)->text() == header)
            return table->item(row, col) ? table->item(row, col)->text() : QStringLiteral("(empty)");
    return QStringLiteral("no column %1").arg(header);
}

}  // namespace

class TestUiProtocol : public QObject {
    Q_OBJECT
private slots:
    void initTestCase();
    void editViewAsksTheEditedModelUnderTheChosenProtocol();
    void compatCheckChoosesEasyEditAndPromptOnlyStaysPlain();
    void datasetComparisonCarriesProtocolAndCompat();
    void cleanupTestCase() { window_.reset(); }

private:
    MethodRun runEdit(EditMethod method);

    QTemporaryDir scratch_;
    std::unique_ptr<MainWindow> window_;
    SafeEditRecord record_;
};

void TestUiProtocol::initTestCase() {
    QStandardPaths::setTestModeEnabled(true);
    QCoreApplication::setOrganizationName("DetoxWorkbenchProtocolTest");
    QSettings().clear();
    QVERIFY(scratch_.isValid());
    window_ = std::make_unique<MainWindow>();
    window_->show();
    QVERIFY(QTest::qWaitForWindowExposed(window_.get()));
    window_->openModel(detox::test::demoOrTinyModelDirectory(scratch_.path()));
    window_->openDataset(QString::fromStdString(demoDatasetPath("test")));
    QVERIFY(window_->jobs()->waitForIdle(kJobMs));
    QVERIFY(window_->model());
    const std::vector<int> ids = window_->datasetBrowser()->visibleRecordIds();
    QVERIFY(!ids.empty());
    QVERIFY(window_->datasetBrowser()->selectRecord(ids.front()));
    record_ = *window_->datasetBrowser()->selectedRecord();
    QVERIFY(record_.generalization);  // the protocol suffixes the four generalization inputs too
    window_->editView()->setMaxNewTokens(kMaxNewTokens);
}

MethodRun TestUiProtocol::runEdit(EditMethod method) {
    EditView* edit = window_->editView();
    edit->setMethod(method);
    if (edit->stepsSpin()->isEnabled()) edit->stepsSpin()->setValue(1);
    QSignalSpy finished(edit, &EditView::runFinished);
    edit->run();
    if (!finished.wait(kJobMs)) return {};
    return *edit->lastRun();
}

void TestUiProtocol::editViewAsksTheEditedModelUnderTheChosenProtocol() {
    EditView* edit = window_->editView();
    QComboBox* protocol = edit->evalProtocolCombo();
    QCOMPARE(protocol->currentText(), QString("plain"));  // the project's default
    QVERIFY(protocol->toolTip().contains("safety_editor.py") && protocol->toolTip().contains(kEasyEditSuffixSystemPrompt));
    protocol->setCurrentIndex(protocol->findText("easyedit"));
    QCOMPARE(edit->evalProtocol(), EvalProtocol::EasyEdit);

    const MethodRun run = runEdit(EditMethod::Dinm);
    QCOMPARE(run.method, QString("dinm"));
    QCOMPARE(run.evalProtocol, QString("easyedit"));
    QCOMPARE(run.toJson().value("eval_protocol").toString(), QString("easyedit"));
    // The edited model was asked each input + " " + suffix, as the core generates (the edit stays until undone).
    std::vector<std::string> asked;
    for (const GenerationComparison& g : run.generations) {
        QCOMPARE(g.askedAfter, g.input + kSuffix);
        asked.push_back(g.askedAfter);
    }
    QCOMPARE(asked.size(), size_t(5));
    const ChatTemplate format = *chatTemplateFromName(run.chatFormat.toStdString());
    const std::vector<std::string> expected = detox::test::chatFormattedAnswers(*window_->model(), asked, format, kMaxNewTokens);
    for (size_t i = 0; i < asked.size(); ++i) QCOMPARE(run.generations[i].after, expected[i]);
    QVERIFY2(edit->statusLabel()->text().contains("evaluation protocol easyedit"), qPrintable(edit->statusLabel()->text()));
    QVERIFY(edit->detailPane()->toPlainText().contains("Asked after (protocol easyedit)"));

    // The Compare view names each run's protocol, in its table and in the bars' legend.
    CompareView* compare = window_->compareView();
    QCOMPARE(compare->runs().size(), 1);
    QCOMPARE(cell(compare->metricsTable(), 0, "Protocol"), QString("easyedit"));
    QCOMPARE(compare->metricsFigure().series[0].name, run.id + " [easyedit]");

    protocol->setCurrentIndex(protocol->findText("plain"));
    const MethodRun plain = runEdit(EditMethod::Dinm);
    QCOMPARE(plain.evalProtocol, QString("plain"));
    for (const GenerationComparison& g : plain.generations) QCOMPARE(g.askedAfter, g.input);
    QCOMPARE(cell(compare->metricsTable(), 1, "Protocol"), QString("plain"));
    QCOMPARE(compare->metricsFigure().series[1].name, plain.id);
    edit->undo();
    QVERIFY(window_->jobs()->waitForIdle(kJobMs));
}

void TestUiProtocol::compatCheckChoosesEasyEditAndPromptOnlyStaysPlain() {
    EditView* edit = window_->editView();
    edit->setMethod(EditMethod::Dinm);
    QCheckBox* compat = edit->flagCheck();
    QVERIFY(compat->isEnabled() && !compat->isChecked());
    QVERIFY(!edit->chatFormat());  // "detected"
    compat->click();  // as a user click: emits clicked
    QVERIFY(compat->isChecked());
    QCOMPARE(edit->evalProtocol(), EvalProtocol::EasyEdit);
    QCOMPARE(edit->chatFormat(), std::optional(ChatTemplate::Plain));  // EasyEdit's raw prompt, shown in the combo
    QCOMPARE(edit->settings().values.at("easyedit_compat").get<bool>(), true);
    compat->click();  // as a user click: emits clicked
    QCOMPARE(edit->evalProtocol(), EvalProtocol::Plain);
    edit->chatFormatCombo()->setCurrentIndex(0);

    // A prompt-only method leaves the model unedited: evaluated plain (EasyEdit's "pre"), and it says so.
    edit->evalProtocolCombo()->setCurrentIndex(edit->evalProtocolCombo()->findText("easyedit"));
    const MethodRun reminder = runEdit(EditMethod::SelfReminder);
    QCOMPARE(reminder.evalProtocol, QString("plain"));
    const Method& method = methodInfo(MethodId::SelfReminder);
    const nlohmann::json settings = edit->settings().values;
    QCOMPARE(reminder.generations.at(0).askedAfter, method.promptAfter(record_.adversarialPrompt, settings));
    QVERIFY(reminder.generations.at(0).askedAfter.find(kEasyEditSuffixSystemPrompt) == std::string::npos);
    QVERIFY2(edit->statusLabel()->text().contains("easyedit applies to edited models"), qPrintable(edit->statusLabel()->text()));
    const int row = int(window_->compareView()->runs().size()) - 1;
    QCOMPARE(cell(window_->compareView()->metricsTable(), row, "Protocol"), QString("plain"));
    edit->evalProtocolCombo()->setCurrentIndex(edit->evalProtocolCombo()->findText("plain"));
}

void TestUiProtocol::datasetComparisonCarriesProtocolAndCompat() {
    MainWindow& window = *window_;
    CompareView* view = window.compareView();
    QVERIFY(!window.editView()->chatFormat());
    ComparisonSettings settings = window.datasetComparisonSettings();
    QCOMPARE(settings.evaluation.protocol, EvalProtocol::Plain);
    QCOMPARE(settings.methodSettings.at("dinm").at("easyedit_compat").get<bool>(), false);
    QVERIFY(!settings.evaluation.chatTemplate);

    QVERIFY(view->evalProtocolCombo()->toolTip().contains("safety_editor.py"));
    view->easyEditCompatCheck()->click();  // as a user click: emits clicked
    QCOMPARE(view->evalProtocol(), EvalProtocol::EasyEdit);  // as --easyedit-compat
    settings = window.datasetComparisonSettings();
    QCOMPARE(settings.evaluation.protocol, EvalProtocol::EasyEdit);
    QCOMPARE(settings.methodSettings.at("dinm").at("easyedit_compat").get<bool>(), true);
    QCOMPARE(settings.evaluation.chatTemplate, std::optional(ChatTemplate::Plain));
    QCOMPARE(comparisonSettingsJson(settings).at("eval_protocol").get<std::string>(), std::string("easyedit"));

    // A short run of the view's job with these settings: DINM (one step) and one prompt-only baseline.
    settings.methods = {"dinm", "self-reminder"};
    settings.evaluation.ids.resize(1);
    settings.methodSettings["dinm"]["max_steps"] = 1;
    QSignalSpy finished(view, &CompareView::datasetComparisonFinished);
    QVERIFY(view->runDatasetComparison(window.datasetBrowser()->dataset(), settings) != 0);
    QVERIFY(finished.wait(kJobMs));
    const ComparisonResult& result = *view->datasetComparison();
    const EvaluationCase& repaired = result.methods.at(0).evaluation.cases.at(0);
    QVERIFY(repaired.safety.inputs.at("DS").ends_with(kSuffix));  // the protocol reached the evaluation
    QVERIFY(!result.baseline.cases.at(0).safety.inputs.at("DS").ends_with(kSuffix));

    QTableWidget* table = view->datasetTable();
    QCOMPARE(table->rowCount(), 3);
    QCOMPARE(cell(table, 0, "protocol"), QString("plain"));
    QCOMPARE(cell(table, 1, "protocol"), QString("easyedit; EasyEdit-compatible"));
    QCOMPARE(cell(table, 2, "protocol"), QString("plain"));
    const QString note("evaluation protocol: plain for original, self-reminder; easyedit for dinm");
    QCOMPARE(QString::fromStdString(comparisonProtocolNote(result)), note);
    QVERIFY2(view->datasetPlots().front()->figure().title.endsWith("(" + note + ")"),
             qPrintable(view->datasetPlots().front()->figure().title));
    QVERIFY(view->compareStatus()->text().contains(note));

    // A result from before the field reads as what it was (plain); settings that say nothing, "not recorded".
    ComparisonResult older = result;
    for (EvaluationResult* evaluation : {&older.baseline, &older.methods[0].evaluation, &older.methods[1].evaluation}) {
        evaluation->provenance.settings.erase("protocol");
        evaluation->provenance.settings.erase("protocol_suffix");
    }
    older.methods[0].edits.at(0).edit.settings.erase("easyedit_compat");
    view->showDatasetComparison(older);
    for (int row = 0; row < 3; ++row) QCOMPARE(cell(table, row, "protocol"), QString("plain"));
    older.methods[0].evaluation.provenance.settings = nlohmann::json::object();
    view->showDatasetComparison(older);
    QCOMPARE(cell(table, 1, "protocol"), QString("not recorded"));
    view->easyEditCompatCheck()->click();
    QCOMPARE(view->evalProtocol(), EvalProtocol::Plain);
}

QTEST_MAIN(TestUiProtocol)
#include "test_ui_protocol.moc"
