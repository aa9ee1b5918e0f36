// Causal analysis in the GUI: activation patching in the Toxic layers view (a job whose curve and map are
// read back from the plots and compared with core's patchRecord on the same model), its cancellation, the
// figure builders shared with `detox report`, and the Toxic region view's ablation panel (its table against
// core's ablateRecord, on the loaded and on an edited model state).
#include <QComboBox>
#include <QLabel>
#include <QProgressBar>
#include <QPushButton>
#include <QSignalSpy>
#include <QSpinBox>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QtTest>

#include <cmath>
#include <limits>
#include <qcustomplot.h>

#include "detox/analysis/ablation.h"
#include "detox/analysis/locate.h"
#include "detox/analysis/patching.h"
#include "detox/demo/demo_model.h"
#include "detox/error.h"
#include "detox/runtime/model.h"
#include "detox/safeedit/safeedit.h"
#include "detox_ui/figures/figures_causal.h"
#include "detox_ui/figures/plot_view.h"
#include "detox_ui/jobs/job_runner.h"
#include "detox_ui/views/method_run.h"
#include "detox_ui/views/view_toxic_layers.h"
#include "detox_ui/views/view_toxic_region.h"
#include "plot_values.h"
#include "tiny_demo_model.h"

using namespace detox;
using namespace detox::ui;
using detox::test::graphValues;

namespace {

bool waitForJob(JobRunner& runner) { return runner.waitForIdle(600000); }

// The worker thread may split reductions differently from the main thread: equal up to rounding.
bool closeTo(double a, double b) { return std::abs(a - b) <= 1e-5 * std::max(1.0, std::abs(b)); }

// The cells a plot's colour map draws, row-major (rows = the figure's rows).
QVector<double> colorMapCells(QCustomPlot* plot, int rows, int cols) {
    QVector<double> cells;
    for (int i = 0; i < plot->plottableCount(); ++i) {
        auto* map = qobject_cast<QCPColorMap*>(plot->plottable(i));
        if (!map) continue;
        for (int row = 0; row < rows; ++row)
            for (int col = 0; col < cols; ++col) cells.append(map->data()->cell(col, row));
    }
    return cells;
}

PatchingResult oneRecordResult(std::vector<std::optional<double>> curve, int best) {
    PatchingRecordResult record;
    record.recordId = 7;
    record.layerRecovered = std::move(curve);
    record.bestLayer = best;
    record.positions = {-2, -1};
    record.recovered = {{0.5, std::nullopt}, {-0.25, 1.5}, {0.0, 0.1}};
    PatchingResult result;
    result.point = "resid_post";
    result.lastPositions = 2;
    result.records = {record};
    result.meanLayerRecovered = record.layerRecovered;
    return result;
}

}  // namespace

class TestUiCausal : public QObject {
    Q_OBJECT
private slots:
    void initTestCase();
    void patchingFiguresFromResults();
    void patchingJobDrawsTheCoreResult();
    void cancelStopsPatching();
    void ablationPanelShowsTheCoreEffect();
    void ablationFiguresFromResults();

private:
    QTemporaryDir scratch_;
    std::shared_ptr<Model> model_;
    SafeEditRecord record_;
    JobRunner runner_;
};

void TestUiCausal::initTestCase() {
    QVERIFY(scratch_.isValid());
    model_ = std::make_shared<Model>(Model::load(detox::test::demoOrTinyModelDirectory(scratch_.path()).toStdString()));
    const SafeEditDataset dataset = loadSafeEdit(demoDatasetPath("test"));
    QVERIFY(!dataset.records.empty());
    record_ = dataset.records.front();
    QVERIFY(record_.generalization.has_value());
}

void TestUiCausal::patchingFiguresFromResults() {
    const PatchingResult result = oneRecordResult({0.2, std::nullopt, 0.9}, 2);
    const FigureSpec curve = patchingLayerFigure({result}, 0);
    QCOMPARE(curve.id, QStringLiteral("patching-layers-record-7"));
    QCOMPARE(curve.series.size(), 1);
    QCOMPARE(curve.series[0].name, QStringLiteral("resid_post"));
    QCOMPARE(curve.series[0].y[0], 0.2);
    QVERIFY(std::isnan(curve.series[0].y[1]));   // not measured: a gap, never 0
    QCOMPARE(curve.series[0].y[2], 0.9);
    // Both criteria marked on the curve: patching's best layer and the distance's toxic layer.
    QCOMPARE(curve.series[0].markers.size(), 2);
    QCOMPARE(curve.series[0].markers[0].x, 2.0);
    QCOMPARE(curve.series[0].markers[0].label, QStringLiteral("patching picks layer 2"));
    QCOMPARE(curve.series[0].markers[1].x, 0.0);
    QCOMPARE(curve.series[0].markers[1].y, 0.2);
    QCOMPARE(curve.series[0].markers[1].label, QStringLiteral("distance picks layer 0"));
    curve.validate();
    // A distance layer where patching measured nothing gets no marker.
    QCOMPARE(patchingLayerFigure({result}, 1).series[0].markers.size(), 1);

    // Several records: the mean curve, named so.
    PatchingResult two = result;
    two.records.push_back(two.records.front());
    two.meanLayerRecovered = {0.1, 0.3, std::nullopt};
    const FigureSpec mean = patchingLayerFigure({two});
    QCOMPARE(mean.id, QStringLiteral("patching-layers"));
    QCOMPARE(mean.series[0].name, QStringLiteral("resid_post (mean of 2 records)"));
    QCOMPARE(mean.series[0].y[1], 0.3);
    QCOMPARE(mean.series[0].markers[0].label, QStringLiteral("patching picks layer 1"));

    PatchingRecordResult withTokens = result.records.front();
    withTokens.positionTokens = {"how", "?"};
    const FigureSpec map = patchingMapFigure(withTokens, "attn_out");
    withTokens.positionTokens = {"<|im_start|>", "?"};
    QCOMPARE(patchingMapFigure(withTokens, "attn_out").heatmap.colLabels.front(), QStringLiteral("-2\n<|im_st") + QChar(0x2026));
    QCOMPARE(map.id, QStringLiteral("patching-map-attn-out-record-7"));
    QCOMPARE(map.heatmap.rows, 3);
    QCOMPARE(map.heatmap.cols, 2);
    QCOMPARE(map.heatmap.colLabels, (QStringList{"-2\nhow", "-1\n?"}));
    QVERIFY(map.xLabel.contains("token"));
    QCOMPARE(map.heatmap.rowLabels, (QStringList{"L0", "L1", "L2"}));
    QCOMPARE(map.heatmap.at(1, 0), -0.25);
    QVERIFY(std::isnan(map.heatmap.at(0, 1)));
    // Symmetric, at least [-1, 1], widened by the overshoot 1.5.
    QCOMPARE(map.heatmap.rangeMin, -1.5);
    QCOMPARE(map.heatmap.rangeMax, 1.5);
    // A result written before the tokens were recorded: offsets only, and the axis says why.
    const FigureSpec old = patchingMapFigure(result.records.front(), "mlp_out");
    QCOMPARE(old.heatmap.colLabels, (QStringList{"-2", "-1"}));
    QVERIFY2(old.xLabel.contains("tokens not recorded"), qPrintable(old.xLabel));
    map.validate();
}

void TestUiCausal::patchingJobDrawsTheCoreResult() {
    ToxicLayersView view;
    view.setJobRunner(&runner_);
    QVERIFY(!view.patchButton()->isEnabled());
    view.setModel(model_);
    view.setRecord(record_);
    QVERIFY(view.patchButton()->isEnabled());
    QVERIFY(!view.patchCancelButton()->isEnabled());

    // The distance criterion first, so its layer is marked on the patching curve.
    view.variantCombo()->setCurrentIndex(view.variantCombo()->findData("masked"));
    view.locate();
    QVERIFY(waitForJob(runner_));
    const int distanceLayer = locateToxicLayer(*model_, record_, LocateVariant::Masked).toxicLayer;
    QCOMPARE(view.distanceLayer(), std::optional<int>(distanceLayer));

    const int layers = model_->config().numLayers;
    view.patchPointCombo()->setCurrentIndex(view.patchPointCombo()->findData("attn_out"));
    view.patchPositionsSpin()->setValue(4);
    QSignalSpy patched(&view, &ToxicLayersView::patched);
    QSignalSpy progress(&runner_, &JobRunner::jobProgress);
    QTest::mouseClick(view.patchButton(), Qt::LeftButton);
    QVERIFY(view.isPatching());
    QVERIFY(!view.patchButton()->isEnabled());
    QVERIFY(view.patchCancelButton()->isEnabled());
    QVERIFY(waitForJob(runner_));
    QCOMPARE(patched.count(), 1);
    QVERIFY(!view.isPatching());
    QVERIFY(progress.count() >= 1);   // coalesced, but the phases were reported
    QCOMPARE(view.patchProgress()->value(), view.patchProgress()->maximum());

    // Independent reference: core's patchRecord on the main thread with the same settings.
    PatchingSettings settings;
    settings.point = Capture::AttnOut;
    settings.lastPositions = 4;
    const PatchingRecordResult expected = patchRecord(*model_, record_, settings);
    QCOMPARE(view.patchingResults().size(), size_t(1));
    const PatchingResult& shown = view.patchingResults().at("attn_out");
    QCOMPARE(shown.point, std::string("attn_out"));
    QCOMPARE(shown.lastPositions, 4);
    QCOMPARE(shown.provenance.method, std::string("patch"));
    const PatchingRecordResult& got = shown.records.front();
    QCOMPARE(got.bestLayer, expected.bestLayer);
    QVERIFY(closeTo(got.clean.metric(), expected.clean.metric()));
    QVERIFY(closeTo(got.corrupt.metric(), expected.corrupt.metric()));

    // The curve as drawn equals core's per-layer recovered fraction.
    const QVector<double> drawn = graphValues(view.patchCurveView()->plot(), "attn_out");
    QCOMPARE(drawn.size(), layers);
    for (int layer = 0; layer < layers; ++layer) {
        QVERIFY(expected.layerRecovered[size_t(layer)].has_value());
        QVERIFY2(closeTo(drawn[layer], *expected.layerRecovered[size_t(layer)]), qPrintable(QString::number(layer)));
    }
    const QVector<FigureMarker>& markers = view.patchCurveView()->figure().series.front().markers;
    QCOMPARE(markers.size(), 2);
    QCOMPARE(markers[0].label, QStringLiteral("patching picks layer %1").arg(expected.bestLayer));
    QCOMPARE(markers[1].label, QStringLiteral("distance picks layer %1").arg(distanceLayer));

    // The map as drawn: layers x the last 4 positions, core's recovered fractions cell by cell.
    const FigureSpec& mapFigure = view.patchMapView()->figure();
    QCOMPARE(mapFigure.heatmap.rows, layers);
    QCOMPARE(mapFigure.heatmap.cols, 4);
    QVERIFY(mapFigure.heatmap.colLabels.front().startsWith("-4\n"));   // offset and the prompt's token
    const QVector<double> cells = colorMapCells(view.patchMapView()->plot(), layers, 4);
    QCOMPARE(cells.size(), layers * 4);
    for (int layer = 0; layer < layers; ++layer)
        for (int column = 0; column < 4; ++column) {
            const auto& value = expected.recovered[size_t(layer)][size_t(column)];
            QVERIFY(value.has_value());
            QVERIFY2(closeTo(cells[layer * 4 + column], *value), qPrintable(QStringLiteral("%1,%2").arg(layer).arg(column)));
        }
    // The status names both criteria and the metric on both runs.
    const QString status = view.patchStatus()->text();
    QVERIFY2(status.contains(QStringLiteral("patching picks layer %1").arg(expected.bestLayer)), qPrintable(status));
    QVERIFY2(status.contains(QStringLiteral("distance picks layer %1").arg(distanceLayer)), qPrintable(status));
    QVERIFY2(status.contains(QString::number(expected.clean.metric(), 'f', 2)), qPrintable(status));

    // Another point overlays its curve; the map follows the point selector.
    view.patchPointCombo()->setCurrentIndex(view.patchPointCombo()->findData("resid_post"));
    QVERIFY(!view.patchMapView()->hasFigure());   // nothing measured there yet
    QCOMPARE(graphValues(view.patchCurveView()->plot(), "attn_out").size(), layers);
    view.patch();
    QVERIFY(waitForJob(runner_));
    QCOMPARE(view.patchingResults().size(), size_t(2));
    QCOMPARE(graphValues(view.patchCurveView()->plot(), "resid_post").size(), layers);
    QCOMPARE(graphValues(view.patchCurveView()->plot(), "attn_out").size(), layers);
    QVERIFY(view.patchMapView()->figure().id.startsWith("patching-map-resid-post"));

    // A new K starts over: curves over different K are not comparable.
    view.patchPositionsSpin()->setValue(3);
    QVERIFY(view.patchingResults().empty());
    QVERIFY(!view.patchCurveView()->hasFigure());
}

void TestUiCausal::cancelStopsPatching() {
    ToxicLayersView view;
    view.setJobRunner(&runner_);
    view.setModel(model_);
    view.setRecord(record_);
    view.patchPositionsSpin()->setValue(16);
    // Cancel as soon as the job reports its first phase (the clean and corrupt runs).
    QMetaObject::Connection cancelOnProgress =
        connect(&runner_, &JobRunner::jobProgress, &view, [&view] { view.patchCancelButton()->click(); });
    QSignalSpy patched(&view, &ToxicLayersView::patched);
    QSignalSpy cancelled(&runner_, &JobRunner::jobCancelled);
    view.patch();
    QVERIFY(waitForJob(runner_));
    disconnect(cancelOnProgress);
    QCOMPARE(cancelled.count(), 1);
    QCOMPARE(patched.count(), 0);
    QVERIFY(view.patchingResults().empty());
    QVERIFY(!view.isPatching());
    QVERIFY(view.patchButton()->isEnabled());
    QVERIFY(!view.patchCancelButton()->isEnabled());
    QVERIFY2(view.patchStatus()->text().contains("cancelled"), qPrintable(view.patchStatus()->text()));

    // After a cancel the next run works.
    view.patchPositionsSpin()->setValue(2);
    view.patch();
    QVERIFY(waitForJob(runner_));
    QCOMPARE(patched.count(), 1);
    QCOMPARE(view.patchingResults().at("resid_post").records.front().positions, (std::vector<int>{-2, -1}));
}

// Checks row `row` of the ablation table against core's result for the same model state and settings.
void compareAblationRow(const ToxicRegionView& view, int row, const QString& state, const AblationRecordResult& expected) {
    QTableWidget* table = view.ablationTable();
    QVERIFY(row < table->rowCount());
    auto cell = [&](int column) { return table->item(row, column)->text(); };
    QCOMPARE(cell(0), state);
    QCOMPARE(cell(2), QString::number(expected.plan.layer));
    QCOMPARE(cell(6), QString::fromStdString(expected.before.generation));
    QCOMPARE(cell(8), QString::fromStdString(expected.after.generation));
    QCOMPARE(cell(7), expected.before.unsafe >= 1.0 ? QStringLiteral("unsafe") : QStringLiteral("safe"));
    QCOMPARE(cell(9), expected.after.unsafe >= 1.0 ? QStringLiteral("unsafe") : QStringLiteral("safe"));
    const AblationRecordResult& got = view.ablations()[row].result.records.front();
    QCOMPARE(got.plan.neurons, expected.plan.neurons);
    QVERIFY(closeTo(got.before.score.metric(), expected.before.score.metric()));
    QVERIFY(closeTo(got.after.score.metric(), expected.after.score.metric()));
    QVERIFY2(closeTo(got.metricChange(), expected.metricChange()),
             qPrintable(QStringLiteral("%1 vs %2").arg(got.metricChange()).arg(expected.metricChange())));
    const QString change = cell(5);
    QVERIFY2(std::abs(change.toDouble() - expected.metricChange()) <= 0.0051, qPrintable(change));
}

void TestUiCausal::ablationPanelShowsTheCoreEffect() {
    // A model of its own: the test edits its weights.
    auto model = std::make_shared<Model>(Model::load(model_->directory()));
    ToxicRegionView view;
    view.setJobRunner(&runner_);
    QVERIFY(!view.ablateButton()->isEnabled());
    view.setModel(model);
    view.setRecord(record_);
    QVERIFY(view.ablateButton()->isEnabled());
    QCOMPARE(view.modelStateLabel(), QStringLiteral("loaded model"));
    const int layer = model->config().numLayers / 2;
    view.layerSpin()->setValue(layer);
    view.ablationTargetCombo()->setCurrentIndex(view.ablationTargetCombo()->findData("zero"));
    QCOMPARE(view.ablationTopKSpin()->value(), AblationSettings{}.topK);   // the default survives the model's range
    view.ablationTopKSpin()->setValue(5);

    QSignalSpy ablated(&view, &ToxicRegionView::ablated);
    QTest::mouseClick(view.ablateButton(), Qt::LeftButton);
    QVERIFY(view.isAblating());
    QVERIFY(view.ablateCancelButton()->isEnabled());
    QVERIFY(waitForJob(runner_));
    QCOMPARE(ablated.count(), 1);
    QVERIFY(!view.isAblating());

    // Independent reference: core's ablateRecord on the main thread, the same settings.
    AblationSettings settings;
    settings.layer = layer;
    settings.target = AblationTarget::TopRegionNeurons;
    settings.mode = AblationMode::Zero;
    settings.topK = 5;
    SafeEditDataset dataset;
    dataset.records = {record_};
    const AblationRecordResult loaded = ablateRecord(*model, dataset, record_, settings);
    QCOMPARE(loaded.plan.neurons.size(), size_t(5));
    QVERIFY(loaded.metricChange() != 0.0);   // zeroing 5 region neurons moves the metric
    compareAblationRow(view, 0, QStringLiteral("loaded model"), loaded);
    QVERIFY2(view.ablationStatus()->text().contains(QString::number(loaded.before.score.metric(), 'f', 2)),
             qPrintable(view.ablationStatus()->text()));

    // An edited state: a method run that changed the layer's down projection (done here by hand).
    const std::string down = "model.layers." + std::to_string(layer) + ".mlp.down_proj.weight";
    FloatTensor weight = model->parameter(down);
    for (float& value : weight.values) value *= 0.5f;
    model->setParameter(down, weight);
    MethodRun run;
    run.id = QStringLiteral("dinm-1");
    run.method = QStringLiteral("dinm");
    run.recordId = record_.id;
    run.edit.changedTensors = {down};
    view.addMethodRun(run);
    QCOMPARE(view.modelStateLabel(), QStringLiteral("after dinm-1"));
    view.ablate();
    QVERIFY(waitForJob(runner_));
    QCOMPARE(view.ablations().size(), 2);
    const AblationRecordResult edited = ablateRecord(*model, dataset, record_, settings);
    QVERIFY(edited.before.score.metric() != loaded.before.score.metric());   // really another state
    compareAblationRow(view, 1, QStringLiteral("after dinm-1"), edited);
    QCOMPARE(view.ablationTable()->item(0, 0)->text(), QStringLiteral("loaded model"));   // rows stay

    // The direction, projected out: its own row, equal to core's.
    view.ablationTargetCombo()->setCurrentIndex(view.ablationTargetCombo()->findData("direction"));
    QVERIFY(!view.ablationTopKSpin()->isEnabled());
    view.ablate();
    QVERIFY(waitForJob(runner_));
    settings.target = AblationTarget::Direction;
    const AblationRecordResult direction = ablateRecord(*model, dataset, record_, settings);
    QVERIFY(direction.plan.neurons.empty());
    compareAblationRow(view, 2, QStringLiteral("after dinm-1"), direction);

    // The panel's figure is detox report's ablation figure over the rows: a bar group per row, named by its
    // state, the metric without and with each ablation equal to core's.
    const FigureSpec figure = view.ablationPlot()->figure();
    QCOMPARE(figure.id, QStringLiteral("ablation-metric"));
    QCOMPARE(figure.categories.size(), 3);
    QVERIFY(figure.categories[0].startsWith("loaded model") && figure.categories[2].startsWith("after dinm-1"));
    const std::vector<AblationRecordResult> expected{loaded, edited, direction};
    for (int row = 0; row < 3; ++row) {
        QVERIFY(closeTo(figure.series[0].y[row], expected[size_t(row)].before.score.metric()));
        QVERIFY(closeTo(figure.series[1].y[row], expected[size_t(row)].after.score.metric()));
    }

    // Undo (the main window says so): the next ablation is on the loaded model again.
    view.setModelEdited(false);
    QCOMPARE(view.modelStateLabel(), QStringLiteral("loaded model"));
}

void TestUiCausal::ablationFiguresFromResults() {
    // Two ablations: one changes nothing (a change of exactly 0 is a bar at 0), one has a term that is not
    // finite (log p = -inf: drawn "n/a", never as 0).
    std::vector<AblationRecordResult> records(2);
    records[0].before.score = {-3.0, -1.0};
    records[0].after.score = {-3.0, -1.0};
    records[1].before.score = {-2.0, -0.5};
    records[1].after.score = {-std::numeric_limits<double>::infinity(), -0.25};
    const QStringList labels{"record 4", "after dinm-1"};
    const FigureSpec metric = ablationMetricFigure(labels, records);
    QCOMPARE(metric.id, QStringLiteral("ablation-metric"));
    QCOMPARE(metric.kind, FigureKind::Bar);
    QCOMPARE(metric.categories, labels);
    QCOMPARE(metric.series.size(), 2);
    QCOMPARE(metric.series[0].y, (QVector<double>{-2.0, -1.5}));   // without: log p(safe) - log p(unsafe)
    QCOMPARE(metric.series[1].y[0], -2.0);
    QVERIFY(std::isnan(metric.series[1].y[1]));
    metric.validate();

    const FigureSpec terms = ablationTermsFigure(labels, records);
    QCOMPARE(terms.id, QStringLiteral("ablation-terms"));
    QCOMPARE(terms.series.size(), 3);
    QCOMPARE(terms.series[0].y[0], 0.0);   // a zero change stays a zero
    QCOMPARE(terms.series[1].y[0], 0.0);
    QCOMPARE(terms.series[2].y[0], 0.0);
    QVERIFY(std::isnan(terms.series[0].y[1]) && std::isnan(terms.series[1].y[1]));
    QCOMPARE(terms.series[2].y[1], 0.25);   // log p(unsafe): -0.25 - (-0.5)
    terms.validate();
    QVERIFY_THROWS_EXCEPTION(detox::Error, ablationMetricFigure({"one label"}, records));
}

QTEST_MAIN(TestUiCausal)
#include "test_ui_causal.moc"
