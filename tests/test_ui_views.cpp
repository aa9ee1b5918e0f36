// The analysis views on a tiny model: Locate draws the computed distances, DINM runs as a job with a
// loss plot and changes the toxic region, Undo restores it, the Compare view collects the run, and
// every plot exports to PNG/PDF/SVG/CSV/JSON.
#include <QCheckBox>
#include <QComboBox>
#include <QFile>
#include <QImage>
#include <QJsonDocument>
#include <QPushButton>
#include <QSignalSpy>
#include <QSpinBox>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QTextBrowser>
#include <QtTest>

#include <qcustomplot.h>

#include <algorithm>

#include "detox/demo/demo_model.h"
#include "detox/safeedit/evaluation.h"
#include "detox/safeedit/metrics.h"
#include "plot_values.h"
#include "reference_answers.h"
#include "tiny_demo_model.h"
#include "detox/analysis/locate.h"
#include "detox/runtime/context_policy.h"
#include "detox/runtime/inspect.h"
#include "detox/runtime/model.h"
#include "detox/methods/recommended_settings.h"
#include "detox/safeedit/safeedit.h"
#include "detox_ui/figures/figures_core.h"
#include "detox_ui/jobs/job_runner.h"
#include "detox_ui/figures/plot_view.h"
#include "detox_ui/views/method_run.h"
#include "detox_ui/views/view_compare.h"
#include "detox_ui/views/view_edit.h"
#include "detox_ui/views/view_toxic_layers.h"
#include "detox_ui/views/view_toxic_region.h"

using namespace detox;
using namespace detox::ui;
using detox::test::graphValues;

namespace {

std::shared_ptr<Model> loadTestModel(const QString& scratch) {
    return std::make_shared<Model>(Model::load(detox::test::demoOrTinyModelDirectory(scratch).toStdString()));
}

bool waitForJob(JobRunner& runner) { return runner.waitForIdle(600000); }

// The worker thread may split reductions differently from the main thread: equal up to rounding.
bool closeTo(double a, double b) { return std::abs(a - b) <= 1e-5 * std::max(1.0, std::abs(b)); }

}  // namespace

class TestUiViews : public QObject {
    Q_OBJECT
private slots:
    void initTestCase();
    void figuresFromResults();
    void locateDrawsDistances();
    void layerTokenMapShowsEveryToken();
    void regionHeatmapSaysWhatTheContextCut();
    void regionPromptIsChatFormatted();
    void dinmRunsUndoesAndCompares();
    void editDefaultsFollowTheModelsRecommendation();
    void promptOnlyBaselineRunsInTheEditView();
    void editViewShowsEveryInputAtOnce();
    void plotsExport();

private:
    QTemporaryDir scratch_;
    std::shared_ptr<Model> model_;
    SafeEditRecord record_;
    JobRunner runner_;
    std::unique_ptr<ToxicLayersView> toxic_;
    std::unique_ptr<EditView> edit_;
    std::unique_ptr<CompareView> compare_;
};

void TestUiViews::initTestCase() {
    QVERIFY(scratch_.isValid());
    model_ = loadTestModel(scratch_.path());
    const SafeEditDataset dataset = loadSafeEdit(demoDatasetPath("test"));
    QVERIFY(!dataset.records.empty());
    record_ = dataset.records.front();
    QVERIFY(record_.knowledge.has_value());
}

void TestUiViews::figuresFromResults() {
    const LocateResult masked{.recordId = 3, .variant = "masked", .distances = {1.0, 4.0, 2.0}, .toxicLayer = 1};
    const LocateResult easy{.recordId = 3, .variant = "easyedit", .distances = {5.0, 1.0, 0.5}, .toxicLayer = 0};
    QCOMPARE(toxicLayerFigure({masked}).series[0].y, (QVector<double>{1.0, 4.0, 2.0}));  // one variant: as measured
    // Two variants: each as a fraction of its own maximum, which its name gives.
    const FigureSpec figure = toxicLayerFigure({masked, easy});
    QCOMPARE(figure.id, QStringLiteral("toxic-layers-record-3"));
    QCOMPARE(figure.series.size(), 2);
    QCOMPARE(figure.series[0].y, (QVector<double>{0.25, 1.0, 0.5}));
    QCOMPARE(figure.series[0].x, (QVector<double>{0, 1, 2}));
    QCOMPARE(figure.series[0].markers.size(), 1);
    QCOMPARE(figure.series[0].markers[0].x, 1.0);
    QCOMPARE(figure.series[0].markers[0].y, 1.0);
    QCOMPARE(figure.series[0].name, QStringLiteral("masked (max 4)"));
    QCOMPARE(figure.series[1].name, QStringLiteral("easyedit (max 5)"));

    EditResult edit;
    edit.method = "dinm";
    edit.lossHistory = {{1, 3.0, 20.0, 1.0}, {2, 2.0, 10.0, 1.0}};
    const FigureSpec loss = lossFigure(edit);
    QCOMPARE(loss.series.size(), 3);
    QCOMPARE(loss.series[1].y, (QVector<double>{20.0, 10.0}));
    edit.method = "sft";
    QCOMPARE(lossFigure(edit).series.size(), 1);

    ParameterShiftMatrix shift;
    shift.layers = {0, 1};
    shift.modules = {"q", "down"};
    shift.relative = {{0.0, 0.5}, {0.25, 0.0}};
    const FigureSpec heat = parameterShiftFigure(shift, "dinm");
    QCOMPARE(heat.heatmap.rows, 2);
    QCOMPARE(heat.heatmap.at(1, 0), 0.25);
    QCOMPARE(heat.heatmap.rowLabels, (QStringList{"L0", "L1"}));
    heat.validate();

    const FigureSpec bars = metricsBarFigure({"a", "b"}, {"DS", "DG"}, {{10, 20}, {30, 40}});
    QCOMPARE(bars.series[1].y, (QVector<double>{30, 40}));
    QVERIFY_THROWS_EXCEPTION(detox::Error, metricsBarFigure({"a"}, {"DS"}, {{1, 2}}));
}

void TestUiViews::locateDrawsDistances() {
    toxic_ = std::make_unique<ToxicLayersView>();
    toxic_->setJobRunner(&runner_);
    QVERIFY(!toxic_->locateButton()->isEnabled());
    toxic_->setModel(model_);
    toxic_->setRecord(record_);
    QVERIFY(toxic_->locateButton()->isEnabled());

    QSignalSpy located(toxic_.get(), &ToxicLayersView::located);
    QSignalSpy results(toxic_.get(), &ToxicLayersView::resultReady);
    toxic_->variantCombo()->setCurrentIndex(toxic_->variantCombo()->findData("masked"));
    QTest::mouseClick(toxic_->locateButton(), Qt::LeftButton);
    QVERIFY(waitForJob(runner_));
    QCOMPARE(located.count(), 1);
    QCOMPARE(results.count(), 1);

    // Independently computed reference: the same call on the main thread.
    const LocateResult expected = locateToxicLayer(*model_, record_, LocateVariant::Masked);
    const QVector<double> drawn = graphValues(toxic_->plotView()->plot(), "masked");
    QCOMPARE(drawn.size(), int(expected.distances.size()));
    for (int i = 0; i < drawn.size(); ++i) QVERIFY2(closeTo(drawn[i], expected.distances[size_t(i)]), qPrintable(QString::number(i)));
    QCOMPARE(toxic_->results().front().toxicLayer, expected.toxicLayer);

    // The other variant overlays the first.
    toxic_->variantCombo()->setCurrentIndex(toxic_->variantCombo()->findData("easyedit"));
    QTest::mouseClick(toxic_->locateButton(), Qt::LeftButton);
    QVERIFY(waitForJob(runner_));
    QCOMPARE(toxic_->results().size(), size_t(2));
    QCOMPARE(toxic_->plotView()->figure().series.size(), 2);
    // Overlaid variants are drawn as fractions of each curve's maximum (their scales differ ~100x).
    const LocateResult easy = locateToxicLayer(*model_, record_, LocateVariant::EasyEdit);
    const double largest = *std::max_element(easy.distances.begin(), easy.distances.end());
    const QString easyName = toxic_->plotView()->figure().series[1].name;
    QVERIFY2(easyName.startsWith("easyedit (max "), qPrintable(easyName));
    const QVector<double> drawnEasy = graphValues(toxic_->plotView()->plot(), easyName);
    QCOMPARE(drawnEasy.size(), int(easy.distances.size()));
    for (int i = 0; i < drawnEasy.size(); ++i) QVERIFY(closeTo(drawnEasy[i], easy.distances[size_t(i)] / largest));
}

// The layer x token map reads each text whole (a 64-token cap cut an 81-token generation silently and
// paged it as "of 64"): more than 64 tokens give a map with every column, the pages' titles count them all
// and together show each column once; a prompt longer than the model's context keeps its last context
// tokens and the title says how many of how many.
void TestUiViews::layerTokenMapShowsEveryToken() {
    const Tokenizer& tokenizer = model_->tokenizer();
    const int context = contextLimit(model_->config());
    SafeEditRecord record = record_;
    while (tokenizer.encode(record.unsafeGeneration).size() <= 64) record.unsafeGeneration += " " + record_.unsafeGeneration;
    const std::vector<int> ids = tokenizer.encode(record.unsafeGeneration);
    QVERIFY(int(ids.size()) <= context);

    ToxicLayersView view;
    view.resize(1200, 900);
    view.show();
    QVERIFY(QTest::qWaitForWindowExposed(&view));
    view.setJobRunner(&runner_);
    view.setModel(model_);
    view.setRecord(record);
    view.computeMap();  // the default: hidden-state norm of the unsafe generation
    QVERIFY(waitForJob(runner_));
    const FigureSpec figure = view.mapView()->figure();
    QCOMPARE(figure.heatmap.cols, int(ids.size()));
    QCOMPARE(figure.heatmap.rows, model_->config().numLayers);
    QCOMPARE(figure.heatmap.colLabels.last(), QString::fromStdString(tokenLabels(tokenizer, ids).back()));
    const LayerTokenMap norms = hiddenNormMap(*model_, ids);
    QVERIFY(closeTo(figure.heatmap.at(figure.heatmap.rows - 1, figure.heatmap.cols - 1), norms.values.back().back()));
    QVERIFY2(!figure.title.contains("of its"), qPrintable(figure.title));  // nothing cut, nothing said
    PlotView* map = view.mapView();
    QVERIFY(map->pageCount() > 1);
    int shown = 0;
    for (int page = 0; page < map->pageCount(); ++page) {
        map->setPage(page);
        const FigureSpec& part = map->shownFigure();
        QVERIFY2(part.title.endsWith(QString("tokens %1-%2 of %3").arg(shown + 1).arg(shown + part.heatmap.cols).arg(ids.size())),
                 qPrintable(part.title));
        shown += part.heatmap.cols;
    }
    QCOMPARE(shown, int(ids.size()));

    // Past the context: the prompt's last `context` tokens (where the answer starts), said in the title.
    const ChatTemplate format = tokenizer.detectedChatTemplate();
    while (int(promptIds(tokenizer, record.adversarialPrompt, format).size()) <= context)
        record.adversarialPrompt += " " + record_.adversarialPrompt;
    const std::vector<int> whole = promptIds(tokenizer, record.adversarialPrompt, format);
    view.setRecord(record);
    view.textCombo()->setCurrentIndex(view.textCombo()->findData("adversarial"));
    view.computeMap();
    QVERIFY(waitForJob(runner_));
    const FigureSpec& cut = view.mapView()->figure();
    QCOMPARE(cut.heatmap.cols, context);
    QCOMPARE(cut.heatmap.colLabels.last(), QString::fromStdString(tokenLabels(tokenizer, {whole.back()}).front()));
    QVERIFY2(cut.title.contains(QString("the last %1 of its %2 tokens (the model's context)").arg(context).arg(whole.size())),
             qPrintable(cut.title));
    view.mapView()->setPage(1);
    QVERIFY2(view.mapView()->shownFigure().title.contains(QString("the last %1 of its %2 tokens").arg(context).arg(whole.size())),
             qPrintable(view.mapView()->shownFigure().title));
}

// The toxic region's neuron x token map of a prompt past the model's context: its last `context` tokens,
// and the title says how many of how many; a text that fits says nothing.
void TestUiViews::regionHeatmapSaysWhatTheContextCut() {
    const Tokenizer& tokenizer = model_->tokenizer();
    const int context = contextLimit(model_->config());
    SafeEditRecord record = record_;
    const ChatTemplate format = tokenizer.detectedChatTemplate();
    while (int(promptIds(tokenizer, record.adversarialPrompt, format).size()) <= context)
        record.adversarialPrompt += " " + record_.adversarialPrompt;
    const int whole = int(promptIds(tokenizer, record.adversarialPrompt, format).size());

    ToxicRegionView view;
    view.setJobRunner(&runner_);
    view.setModel(model_);
    view.setRecord(record);
    view.setToxicLayer(0);
    view.analyse();
    QVERIFY(waitForJob(runner_));
    QCOMPARE(view.snapshots().size(), 1);
    view.inputCombo()->setCurrentIndex(view.inputCombo()->findData(int(RegionInput::Adversarial)));
    const FigureSpec cut = view.heatmapFigure();
    QCOMPARE(cut.heatmap.cols, context);
    QVERIFY2(cut.title.endsWith(QString(": the last %1 of its %2 tokens (the model's context)").arg(context).arg(whole)),
             qPrintable(cut.title));
    view.inputCombo()->setCurrentIndex(view.inputCombo()->findData(int(RegionInput::Unsafe)));
    const FigureSpec fits = view.heatmapFigure();
    QCOMPARE(fits.heatmap.cols, int(tokenizer.encode(record.unsafeGeneration).size()));
    QVERIFY2(!fits.title.contains("of its"), qPrintable(fits.title));
}

// The toxic region reads the adversarial prompt as the model sees it when answering (detected template,
// last tokens kept) and the generations plain, as locate encodes them.
void TestUiViews::regionPromptIsChatFormatted() {
    const Tokenizer& tokenizer = model_->tokenizer();
    const ChatTemplate detected = tokenizer.detectedChatTemplate();
    const std::vector<int> formatted = promptIds(tokenizer, record_.adversarialPrompt, detected);
    QVERIFY(formatted != tokenizer.encode(record_.adversarialPrompt));
    const auto ids = regionInputIds(*model_, record_, 1000);
    QCOMPARE(ids[size_t(RegionInput::Adversarial)], formatted);
    QCOMPARE(ids[size_t(RegionInput::Safe)], tokenizer.encode(record_.safeGeneration));
    QCOMPARE(regionInputIds(*model_, record_, 1000, ChatTemplate::Plain)[0], tokenizer.encode(record_.adversarialPrompt));
    const auto cut = regionInputIds(*model_, record_, 5);
    QCOMPARE(cut[0], std::vector<int>(formatted.end() - 5, formatted.end()));
}

void TestUiViews::dinmRunsUndoesAndCompares() {
    edit_ = std::make_unique<EditView>();
    compare_ = std::make_unique<CompareView>();
    connect(edit_.get(), &EditView::runFinished, compare_.get(), &CompareView::addRun);
    edit_->setModel(model_);
    edit_->setRecord(record_);
    edit_->setJobRunner(&runner_);
    edit_->setMaxNewTokens(8);

    // Pre-filled: the paper's DINM defaults (non-Mistral model), except what the model's
    // detox_method_defaults.json recommends (the shipped demo model has one; its DINM lr is 2e-2).
    const RecommendedSettings recommended = loadRecommendedSettings(model_->directory());
    // The method choice is the registry's.
    QCOMPARE(edit_->methodCombo()->count(), int(methodRegistry().size()));
    edit_->setMethod(EditMethod::Dinm);
    auto value = [this](const char* key) { return edit_->settings().values.at(key).get<double>(); };
    QCOMPARE(value("learning_rate"), recommended.recommendation("dinm").learningRate.value_or(5e-4));
    QCOMPARE(value("max_steps"), double(recommended.recommendation("dinm").steps.value_or(10)));
    QCOMPARE(value("edit_loss_weight"), 0.1);
    QCOMPARE(edit_->settings().source("learning_rate"),
             recommended.empty() ? SettingSource::Paper : SettingSource::ModelRecommendation);
    QCOMPARE(edit_->defaultsSourceLabel()->text().contains("detox_method_defaults.json"), !recommended.empty());
    edit_->setMethod(EditMethod::Dpo);
    QCOMPARE(value("beta"), DpoSettings{}.beta);
    QCOMPARE(value("learning_rate"), recommended.recommendation("dpo").learningRate.value_or(DpoSettings{}.learningRate));
    edit_->editWeightSpin()->setValue(0.25);  // a changed value is the user's
    QCOMPARE(value("beta"), 0.25);
    QCOMPARE(edit_->settings().source("beta"), SettingSource::User);
    edit_->setMethod(EditMethod::Dinm);

    edit_->stepsSpin()->setValue(2);
    // Chat format: the model's detected template by default (as the evaluation), then every template.
    const ChatTemplate detected = model_->tokenizer().detectedChatTemplate();
    QVERIFY(detected != ChatTemplate::Plain);  // otherwise the check below could not tell the formats apart
    QCOMPARE(edit_->chatFormatCombo()->count(), int(allChatTemplates().size()) + 1);
    QCOMPARE(edit_->chatFormatCombo()->currentText(),
             QStringLiteral("detected (%1)").arg(QString::fromStdString(chatTemplateName(detected))));
    QVERIFY(!edit_->chatFormat().has_value());
    std::vector<std::string> inputTexts{record_.adversarialPrompt};
    if (record_.generalization)
        for (const std::string& text : {record_.generalization->onlyHarmfulQuestion, record_.generalization->otherAttackPrompt,
                                        record_.generalization->otherQuestion, record_.generalization->otherQuestionsAndAttack})
            inputTexts.push_back(text);
    const std::vector<std::string> expectedBefore = detox::test::chatFormattedAnswers(*model_, inputTexts, detected, 8);
    const std::optional<double> knowledgeBefore = knowledgeAccuracy(*model_, *record_.knowledge, detected);
    QVERIFY(knowledgeBefore.has_value());
    // The located layer's down projection is what DINM edits (masked variant = DINM's default).
    const int layer = locateToxicLayer(*model_, record_, LocateVariant::Masked).toxicLayer;
    const std::string target = toxicRegionTensorName(*model_, layer);
    const FloatTensor original = model_->parameter(target);

    QSignalSpy finished(edit_.get(), &EditView::runFinished);
    QTest::mouseClick(edit_->runButton(), Qt::LeftButton);
    QVERIFY(edit_->cancelButton()->isEnabled());
    QVERIFY(waitForJob(runner_));
    QCOMPARE(finished.count(), 1);
    const MethodRun run = *edit_->lastRun();
    QCOMPARE(run.edit.toxicLayer, layer);
    QCOMPARE(run.edit.changedTensors, std::vector<std::string>{target});

    // Loss plot: one point per step, the values of the result's loss history.
    QCOMPARE(run.edit.lossHistory.size(), size_t(2));
    const QVector<double> total = graphValues(edit_->lossPlot()->plot(), "total");
    QCOMPARE(total.size(), 2);
    QCOMPARE(total[1], run.edit.lossHistory[1].total);

    QVERIFY(model_->parameter(target).values != original.values);
    // The table's generations are core generate's on the chat-formatted prompts, before and after.
    QCOMPARE(run.chatFormat, QString::fromStdString(chatTemplateName(detected)));
    const std::vector<std::string> expectedAfter = detox::test::chatFormattedAnswers(*model_, inputTexts, detected, 8);
    QCOMPARE(run.generations.size(), inputTexts.size());
    for (size_t i = 0; i < inputTexts.size(); ++i) {
        QCOMPARE(run.generations[i].before, expectedBefore[i]);
        QCOMPARE(run.generations[i].after, expectedAfter[i]);
        QCOMPARE(edit_->generationTable()->item(int(i), 2)->text(), QString::fromStdString(expectedBefore[i]));
    }
    QVERIFY(edit_->hasEdits());
    QVERIFY(edit_->undoButton()->isEnabled());

    // Generations table: adversarial prompt + four generalization inputs.
    const int rows = 1 + (record_.generalization ? 4 : 0);
    QCOMPARE(edit_->generationTable()->rowCount(), rows);
    QCOMPARE(edit_->generationTable()->item(0, 0)->text(), QStringLiteral("DS"));
    for (const GenerationComparison& g : run.generations) {
        QVERIFY(g.unsafeBefore == 0 || g.unsafeBefore == 0.5 || g.unsafeBefore == 1);
        QVERIFY(g.unsafeAfter == 0 || g.unsafeAfter == 0.5 || g.unsafeAfter == 1);
    }

    // Fluency and knowledge retention, before and after, from the core functions on the same texts / model.
    QCOMPARE(run.fluencyBefore, meanNGramEntropy(expectedBefore));
    QCOMPARE(run.fluencyAfter, meanNGramEntropy(expectedAfter));
    QVERIFY(run.fluencyBefore > 0);
    QCOMPARE(run.knowledgeBefore, knowledgeBefore);
    QCOMPARE(run.knowledgeAfter, knowledgeAccuracy(*model_, *record_.knowledge, detected));
    QVERIFY(*run.knowledgeAfter >= 0 && *run.knowledgeAfter <= 1);

    // Compare: one row, the shift heatmap is non-zero only at the edited tensor's cell.
    QCOMPARE(compare_->runs().size(), 1);
    QCOMPARE(compare_->metricsTable()->rowCount(), 1);
    auto cell = [this](const QString& header) {
        QTableWidget* table = compare_->metricsTable();
        for (int col = 0; col < table->columnCount(); ++col)
            if (table->horizontalHeaderItem(col)->text() == header) return table->item(0, col)->text();
        return QStringLiteral("no column %1").arg(header);
    };
    QCOMPARE(cell("Fluency"), QStringLiteral("%1 → %2").arg(run.fluencyBefore, 0, 'f', 2).arg(run.fluencyAfter, 0, 'f', 2));
    QCOMPARE(cell("Knowledge (%)"), QStringLiteral("%1 → %2").arg(100 * *knowledgeBefore, 0, 'f', 0)
                                        .arg(100 * *run.knowledgeAfter, 0, 'f', 0));
    const QVector<FigureSpec> shifts = compare_->shiftFigures();
    QCOMPARE(shifts.size(), 1);
    const HeatmapData& heat = shifts[0].heatmap;
    int nonZero = 0;
    for (double value : heat.values) nonZero += value > 0 ? 1 : 0;
    QCOMPARE(nonZero, 1);
    QVERIFY(heat.at(layer, heat.colLabels.indexOf("down")) > 0);
    // Defense rates from the verdicts: 100 - 100 * mean unsafe label.
    const auto rates = runDefenseRates(run, true);
    QCOMPARE(rates.at("DS"), 100.0 - 100.0 * run.generations[0].unsafeAfter);

    // Undo runs as a job in the model's queue (other views may be reading the weights).
    QTest::mouseClick(edit_->undoButton(), Qt::LeftButton);
    QVERIFY(waitForJob(runner_));
    QCOMPARE(model_->parameter(target).values, original.values);
    QVERIFY(!edit_->hasEdits());
}

// A copy of the test model with its own detox_method_defaults.json (or none, or a broken one).
void TestUiViews::editDefaultsFollowTheModelsRecommendation() {
    const QString copy = scratch_.path() + "/recommending-model";
    QDir().mkpath(copy);
    for (const QFileInfo& file : QDir(QString::fromStdString(model_->directory())).entryInfoList(QDir::Files))
        if (file.fileName() != QString::fromStdString(recommendedSettingsFileName()))
            QVERIFY(QFile::copy(file.filePath(), copy + "/" + file.fileName()));
    std::unique_ptr<EditView> view;  // its own: plotsExport still needs edit_'s loss plot
    auto editViewOn = [&](const char* recommendation) {
        QFile json(copy + "/" + QString::fromStdString(recommendedSettingsFileName()));
        json.remove();
        if (recommendation) {
            QVERIFY(json.open(QIODevice::WriteOnly));
            json.write(recommendation);
            json.close();
        }
        view = std::make_unique<EditView>();
        view->setModel(std::make_shared<Model>(Model::load(copy.toStdString())));
    };

    auto value = [&view](const char* key) { return view->settings().values.at(key).get<double>(); };
    editViewOn(nullptr);  // none: the paper's settings
    view->setMethod(EditMethod::Sft);
    QCOMPARE(value("learning_rate"), SftSettings{}.learningRate);
    QVERIFY(view->defaultsSourceLabel()->text().contains("paper"));

    editViewOn(R"({"reason": "tiny model", "dinm": {"learning_rate": 0.03, "steps": 4}, "sft": {"epochs": 2}})");
    view->setMethod(EditMethod::Dinm);
    QCOMPARE(value("learning_rate"), 0.03);
    QCOMPARE(value("max_steps"), 4.0);
    QVERIFY(view->defaultsSourceLabel()->text().contains("tiny model"));
    view->setMethod(EditMethod::Sft);  // only the epochs are recommended: the paper's learning rate stays
    QCOMPARE(value("learning_rate"), SftSettings{}.learningRate);
    QCOMPARE(view->settings().source("learning_rate"), SettingSource::Paper);
    QCOMPARE(value("epochs"), 2.0);
    QCOMPARE(view->settings().source("epochs"), SettingSource::ModelRecommendation);

    editViewOn(R"({"dinm": {"learning_rate": "fast"}})");  // broken: paper defaults, and the label says why
    view->setMethod(EditMethod::Dinm);
    QCOMPARE(value("learning_rate"), 5e-4);
    QVERIFY(view->defaultsSourceLabel()->text().contains("dinm.learning_rate"));
}

// Self-Reminder from the registry in the Edit view: no settings to fill, the answers after are the model's
// answers to the reminded prompts, and the model is not touched.
void TestUiViews::promptOnlyBaselineRunsInTheEditView() {
    EditView view;
    view.setModel(model_);
    view.setRecord(record_);
    view.setJobRunner(&runner_);
    view.setMaxNewTokens(6);
    view.setMethod(EditMethod::SelfReminder);
    QCOMPARE(view.methodCombo()->currentText(), QStringLiteral("Self-Reminder"));
    QVERIFY(!view.learningRateSpin()->isEnabled() && !view.stepsSpin()->isEnabled());
    QVERIFY(view.defaultsSourceLabel()->text().contains("prompt-only"));
    const ChatTemplate detected = model_->tokenizer().detectedChatTemplate();
    std::vector<std::string> inputs{record_.adversarialPrompt}, reminded{selfReminderPrompt(record_.adversarialPrompt)};
    if (record_.generalization)
        for (const std::string& text : {record_.generalization->onlyHarmfulQuestion, record_.generalization->otherAttackPrompt,
                                        record_.generalization->otherQuestion, record_.generalization->otherQuestionsAndAttack}) {
            inputs.push_back(text);
            reminded.push_back(selfReminderPrompt(text));
        }
    const std::vector<std::string> before = detox::test::chatFormattedAnswers(*model_, inputs, detected, 6);
    const std::vector<std::string> after = detox::test::chatFormattedAnswers(*model_, reminded, detected, 6);
    QTest::mouseClick(view.runButton(), Qt::LeftButton);
    QVERIFY(waitForJob(runner_));
    QVERIFY(view.lastRun());
    const MethodRun& run = *view.lastRun();
    QCOMPARE(run.method, QStringLiteral("self-reminder"));
    QCOMPARE(run.generations.size(), inputs.size());
    for (size_t i = 0; i < inputs.size(); ++i) {
        QCOMPARE(run.generations[i].before, before[i]);
        QCOMPARE(run.generations[i].after, after[i]);
    }
    QVERIFY(!view.hasEdits());
    QVERIFY(run.edit.changedTensors.empty() && run.edit.lossHistory.empty());
    for (const auto& row : run.shift.relative)
        for (double shift : row) QCOMPARE(shift, 0.0);
}

// A real-length jailbreak prompt (many lines) at 1600x1000: all five inputs are visible at once, each
// collapsed to its first and last line and top-aligned, the selected row's whole texts in the detail
// pane. The progress bar covers every phase: it is below 100 % while the after-edit answers are made,
// and the status gives the job's time.
void TestUiViews::editViewShowsEveryInputAtOnce() {
    QVERIFY(record_.generalization.has_value());
    SafeEditRecord longRecord = record_;
    QStringList lines;
    for (int i = 0; i < 40; ++i) lines << QStringLiteral("Line %1 of a role-play preamble that goes on and on.").arg(i);
    lines << QString::fromStdString(record_.adversarialPrompt);
    longRecord.adversarialPrompt = lines.join('\n').toStdString();
    QCOMPARE(collapsedText("short text"), QStringLiteral("short text"));
    const QString collapsed = collapsedText(lines.join('\n'));
    QVERIFY2(collapsed.startsWith("Line 0 of") && collapsed.contains("\n… ") && collapsed.count('\n') == 1,
             qPrintable(collapsed));
    QVERIFY(collapsed.endsWith(QString::fromStdString(record_.adversarialPrompt).trimmed().right(20)));

    EditView view;
    view.resize(1600, 1000);
    view.setModel(model_);
    view.setRecord(longRecord);
    view.setJobRunner(&runner_);
    view.setMaxNewTokens(6);
    view.setMethod(EditMethod::Dinm);
    view.stepsSpin()->setValue(1);
    view.show();
    QVERIFY(QTest::qWaitForWindowExposed(&view));
    int barWhileGeneratingAfter = -1, barMaximumThen = 0;
    QString phases;
    connect(&runner_, &JobRunner::jobProgress, &view, [&](JobId, const detox::Progress& progress) {
        phases += QString::fromStdString(progress.phase) + ";";
        if (progress.phase != "generate after") return;
        barWhileGeneratingAfter = view.progressBar()->value();
        barMaximumThen = view.progressBar()->maximum();
    });
    QTest::mouseClick(view.runButton(), Qt::LeftButton);
    QVERIFY(waitForJob(runner_));
    QVERIFY(view.lastRun());
    QVERIFY2(phases.contains("edit;") && phases.contains("generate after;"), qPrintable(phases));
    QVERIFY(barWhileGeneratingAfter >= 0);
    QVERIFY2(barWhileGeneratingAfter > 0 && barWhileGeneratingAfter < barMaximumThen,
             qPrintable(QString("%1 of %2").arg(barWhileGeneratingAfter).arg(barMaximumThen)));
    QCOMPARE(view.progressBar()->value(), view.progressBar()->maximum());
    const MethodRun& run = *view.lastRun();
    QVERIFY(run.jobSeconds >= run.edit.durationSeconds && run.jobSeconds > 0);

    QTableWidget* table = view.generationTable();
    QCOMPARE(table->rowCount(), 5);
    QCoreApplication::processEvents();
    const QRect viewport = table->viewport()->rect();
    for (int row = 0; row < 5; ++row) {
        const QRect cell = table->visualRect(table->model()->index(row, 1));
        QVERIFY2(viewport.contains(cell), qPrintable(QString("row %1 at %2,%3 %4x%5 outside the %6 px high table")
                                                        .arg(row).arg(cell.x()).arg(cell.y()).arg(cell.width())
                                                        .arg(cell.height()).arg(viewport.height())));
        QVERIFY(table->item(row, 2)->textAlignment() & Qt::AlignTop);
    }
    QCOMPARE(table->item(0, 1)->text(), collapsed);
    QCOMPARE(table->item(0, 1)->toolTip(), lines.join('\n').left(2000));  // the tooltip's share; the pane has it all
    QCOMPARE(table->currentRow(), 0);
    const QString detail = view.detailPane()->toPlainText();
    QVERIFY(detail.contains("Line 0 of") && detail.contains("Line 39 of"));
    QVERIFY(detail.contains(QString::fromStdString(run.generations[0].after).trimmed()));
    table->setCurrentCell(3, 1);
    QVERIFY(view.detailPane()->toPlainText().contains(QString::fromStdString(run.generations[3].input).trimmed()));
    QTest::mouseClick(view.undoButton(), Qt::LeftButton);  // the shared model as loaded for the tests after
    QVERIFY(waitForJob(runner_));
    QVERIFY(!view.hasEdits());
}

void TestUiViews::plotsExport() {
    QVERIFY(toxic_ && edit_ && compare_);
    const QString folder = scratch_.path() + "/export";
    QVERIFY(QDir().mkpath(folder));
    const QList<PlotView*> plots{toxic_->plotView(), edit_->lossPlot(), compare_->metricsPlot(),
                                 compare_->shiftPlots().front()};
    for (PlotView* plot : plots) {
        plot->resize(640, 400);
        const QString base = folder + "/" + plot->figure().id;
        const QStringList files = plot->exportTo(base, kAllExportFormats);
        QCOMPARE(files.size(), 5);
        QImage png(base + ".png");
        QVERIFY2(!png.isNull(), qPrintable(base));
        QFile pdf(base + ".pdf");
        QVERIFY(pdf.open(QIODevice::ReadOnly));
        QVERIFY(pdf.read(5) == "%PDF-");
        QFile svg(base + ".svg");
        QVERIFY(svg.open(QIODevice::ReadOnly));
        QVERIFY(svg.readAll().contains("<svg"));
        QFile csv(base + ".csv");
        QVERIFY(csv.open(QIODevice::ReadOnly));
        const QStringList lines = QString::fromUtf8(csv.readAll()).split('\n', Qt::SkipEmptyParts);
        QVERIFY(lines.size() > 1);
        QFile json(base + ".json");
        QVERIFY(json.open(QIODevice::ReadOnly));
        const FigureSpec back = FigureSpec::fromJson(QJsonDocument::fromJson(json.readAll()).object(), base);
        QCOMPARE(back, plot->figure());
    }
}

QTEST_MAIN(TestUiViews)
#include "test_ui_views.moc"
