#include <QCheckBox>
#include <QComboBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QProgressBar>
#include <QPushButton>
#include <QSpinBox>
#include <QSplitter>
#include <QVBoxLayout>

#include <algorithm>
#include <array>

#include <nlohmann/json.hpp>

#include "detox/safeedit/evaluation.h"
#include "detox_ui/figures/figures_causal.h"
#include "detox_ui/figures/figures_core.h"
#include "detox_ui/figures/plot_view.h"
#include "detox_ui/views/view_toxic_layers.h"
#include "detox_ui/views/method_run.h"
#include "view_support.h"

namespace detox::ui {

namespace {

QString percent(std::optional<double> fraction) {
    return fraction ? QStringLiteral("%1%").arg(100.0 * *fraction, 0, 'f', 1) : QStringLiteral("n/a");
}

// A layer x token map job's result: the map and what it covers of its texts (empty: all of them).
struct MapRun {
    detox::LayerTokenMap map;
    QString coverage;
};

RegionInput mapInput(const QString& text) {
    return text == "safe" ? RegionInput::Safe : text == "adversarial" ? RegionInput::Adversarial : RegionInput::Unsafe;
}

// What the map's columns cover of its text; the distance map has the positions both generations have.
QString mapCoverage(const detox::LayerTokenMap& map, LayerTokenMeasure measure, RegionInput input,
                    const std::array<int, 3>& whole) {
    const int shown = int(map.tokens.size());
    if (measure != LayerTokenMeasure::SafeUnsafeDistance)
        return contextCutNote(shown, whole[size_t(input)], input == RegionInput::Adversarial);
    const int safe = whole[size_t(RegionInput::Safe)], unsafe = whole[size_t(RegionInput::Unsafe)];
    if (shown >= std::max(safe, unsafe)) return {};
    return QObject::tr("the first %1 positions, which both generations have (safe %2, unsafe %3 tokens%4)")
        .arg(shown)
        .arg(safe)
        .arg(unsafe)
        .arg(std::min(safe, unsafe) > shown ? QObject::tr("; cut at the model's context") : QString());
}

}  // namespace

ToxicLayersView::ToxicLayersView(QWidget* parent) : QWidget(parent) {
    variantCombo_ = new QComboBox(this);
    variantCombo_->addItem(tr("masked (mean over tokens)"), QStringLiteral("masked"));
    // The EasyEdit variants name the EasyEdit code each one matches (its padding changed over time).
    for (detox::LocateVariant variant : {detox::LocateVariant::EasyEdit, detox::LocateVariant::EasyEditLeft}) {
        const QString name = QString::fromStdString(detox::locateVariantName(variant));
        variantCombo_->addItem(tr("%1: %2").arg(name, QString::fromStdString(detox::locateVariantEasyEditVersion(variant))), name);
    }
    overlayCheck_ = new QCheckBox(tr("Overlay variants"), this);
    overlayCheck_->setChecked(true);
    locateButton_ = new QPushButton(tr("Locate"), this);
    status_ = new QLabel(this);
    plot_ = new PlotView(this);
    plot_->clearFigure(tr("Select a record and press Locate"));
    measureCombo_ = new QComboBox(this);
    measureCombo_->addItem(tr("hidden-state norm"), int(LayerTokenMeasure::HiddenNorm));
    measureCombo_->addItem(tr("safe vs unsafe distance per token"), int(LayerTokenMeasure::SafeUnsafeDistance));
    measureCombo_->addItem(tr("logit-lens top-token probability"), int(LayerTokenMeasure::LogitLensTopProbability));
    textCombo_ = new QComboBox(this);
    textCombo_->addItem(tr("unsafe generation"), QStringLiteral("unsafe"));
    textCombo_->addItem(tr("safe generation"), QStringLiteral("safe"));
    textCombo_->addItem(tr("adversarial prompt"), QStringLiteral("adversarial"));
    mapPlot_ = new PlotView(this);
    mapPlot_->clearFigure(tr("The layer x token map appears after Locate"));
    pointCombo_ = new QComboBox(this);
    for (Capture point : {Capture::ResidPost, Capture::AttnOut, Capture::MlpOut})
        pointCombo_->addItem(QString::fromStdString(captureName(point)), QString::fromStdString(captureName(point)));
    pointCombo_->setToolTip(tr("The activation copied from the clean run (bare harmful question) into the corrupt "
                               "run (adversarial prompt)"));
    positionsSpin_ = new QSpinBox(this);
    positionsSpin_->setRange(1, 64);
    positionsSpin_->setValue(detox::PatchingSettings{}.lastPositions);
    positionsSpin_->setToolTip(tr("K: the last K prompt positions, aligned from the end of both prompts"));
    patchButton_ = new QPushButton(tr("Patch"), this);
    patchCancelButton_ = new QPushButton(tr("Cancel"), this);
    patchProgress_ = new QProgressBar(this);
    patchProgress_->setRange(0, 1);
    patchProgress_->setValue(0);
    patchProgress_->setMaximumWidth(220);
    patchStatus_ = new QLabel(this);
    patchStatus_->setWordWrap(true);
    patchStatus_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    patchCurvePlot_ = new PlotView(this);
    patchMapPlot_ = new PlotView(this);

    auto* controls = new QHBoxLayout;
    controls->addWidget(new QLabel(tr("Variant:"), this));
    controls->addWidget(variantCombo_);
    controls->addWidget(overlayCheck_);
    controls->addWidget(locateButton_);
    controls->addStretch(1);
    auto* patchControls = new QHBoxLayout;
    patchControls->addWidget(new QLabel(tr("Activation patching at"), this));
    patchControls->addWidget(pointCombo_);
    patchControls->addWidget(new QLabel(tr("last positions:"), this));
    patchControls->addWidget(positionsSpin_);
    patchControls->addWidget(patchButton_);
    patchControls->addWidget(patchCancelButton_);
    patchControls->addWidget(patchProgress_);
    patchControls->addStretch(1);
    auto* mapControls = new QHBoxLayout;
    mapControls->addWidget(new QLabel(tr("Layer x token map:"), this));
    mapControls->addWidget(measureCombo_);
    mapControls->addWidget(new QLabel(tr("of the"), this));
    mapControls->addWidget(textCombo_);
    mapControls->addStretch(1);
    auto* mapPane = new QWidget(this);
    auto* mapLayout = new QVBoxLayout(mapPane);
    mapLayout->setContentsMargins(0, 0, 0, 0);
    mapLayout->addLayout(mapControls);
    mapLayout->addWidget(mapPlot_, 1);
    // Correlation next to intervention: the distance curve beside the patching curve, the layer x token map
    // beside the patching map.
    auto* curves = new QSplitter(Qt::Horizontal, this);
    curves->addWidget(plot_);
    curves->addWidget(patchCurvePlot_);
    auto* maps = new QSplitter(Qt::Horizontal, this);
    maps->addWidget(mapPane);
    maps->addWidget(patchMapPlot_);
    maps->setStretchFactor(0, 1);
    maps->setStretchFactor(1, 1);
    auto* splitter = new QSplitter(Qt::Vertical, this);
    splitter->addWidget(curves);
    splitter->addWidget(maps);
    splitter->setStretchFactor(0, 2);
    splitter->setStretchFactor(1, 3);
    auto* layout = new QVBoxLayout(this);
    layout->addLayout(controls);
    layout->addWidget(status_);
    layout->addLayout(patchControls);
    layout->addWidget(patchStatus_);
    layout->addWidget(splitter, 1);

    connect(locateButton_, &QPushButton::clicked, this, &ToxicLayersView::locate);
    connect(measureCombo_, &QComboBox::currentIndexChanged, this, [this] {
        // The distance compares the two generations: the text choice does not apply.
        textCombo_->setEnabled(LayerTokenMeasure(measureCombo_->currentData().toInt()) !=
                               LayerTokenMeasure::SafeUnsafeDistance);
        if (map_) computeMap();
    });
    connect(textCombo_, &QComboBox::currentIndexChanged, this, [this] {
        if (map_) computeMap();
    });
    connect(patchButton_, &QPushButton::clicked, this, &ToxicLayersView::patch);
    connect(patchCancelButton_, &QPushButton::clicked, this, &ToxicLayersView::cancelPatching);
    connect(pointCombo_, &QComboBox::currentIndexChanged, this, &ToxicLayersView::redrawPatching);
    connect(positionsSpin_, &QSpinBox::valueChanged, this, [this] {
        // Curves over different K are not comparable: a new K starts over.
        if (patching_.empty() && patchJob_ == 0) return;
        cancelPatching();
        clearPatching(tr("K changed: press Patch"));
    });
    clearPatching(tr("Select a record and press Patch"));
    updateEnabled();
}

void ToxicLayersView::setModel(std::shared_ptr<detox::Model> model) {
    model_ = std::move(model);
    results_.clear();
    map_.reset();
    plot_->clearFigure(tr("Select a record and press Locate"));
    mapPlot_->clearFigure(tr("The layer x token map appears after Locate"));
    cancelPatching();
    clearPatching(tr("Select a record and press Patch"));
    updateEnabled();
}

void ToxicLayersView::setRecord(const detox::SafeEditRecord& record, const detox::SafeEditDataset* source) {
    record_ = record;
    source_.reset();
    if (source) source_ = detox::SafeEditDataset{source->path, source->sha256, {}, {}};
    results_.clear();
    map_.reset();
    plot_->clearFigure(tr("Record %1: press Locate (Ctrl+L)").arg(record.id));
    mapPlot_->clearFigure(tr("The layer x token map appears after Locate"));
    cancelPatching();
    clearPatching(tr("Record %1: press Patch").arg(record.id));
    updateEnabled();
}

void ToxicLayersView::setJobRunner(JobRunner* runner) {
    if (runner_) disconnect(runner_, &JobRunner::jobProgress, this, &ToxicLayersView::onPatchProgress);
    runner_ = runner;
    if (runner_) connect(runner_, &JobRunner::jobProgress, this, &ToxicLayersView::onPatchProgress);
    updateEnabled();
}

void ToxicLayersView::updateEnabled() {
    const bool ready = model_ && record_ && runner_;
    locateButton_->setEnabled(ready && !running_);
    patchButton_->setEnabled(ready && patchJob_ == 0);
    patchCancelButton_->setEnabled(patchJob_ != 0);
}

void ToxicLayersView::locate() {
    if (!model_ || !record_ || !runner_ || running_) return;
    const QString variantName = variantCombo_->currentData().toString();
    const auto variant = detox::locateVariantFromName(variantName.toStdString()).value_or(LocateVariant::Masked);
    JobOptions options;
    options.name = tr("Locate toxic layer (record %1, %2)").arg(record_->id).arg(variantName);
    options.settings = QJsonObject{{"record", record_->id}, {"variant", variantName}};
    options.queue = modelQueue(*model_);
    running_ = true;
    updateEnabled();
    status_->setText(tr("Locating..."));
    auto model = model_;
    const detox::SafeEditRecord record = *record_;
    runner_->submit(JobSpec<detox::LocateResult>{
        .options = options,
        .work = [model, record, variant](detox::JobControl& job) {
            job.checkpoint();
            return detox::locateToxicLayer(*model, record, variant);
        },
        .onSuccess = [this](detox::LocateResult& result) {
            running_ = false;
            showResult(result);
            updateEnabled();
            computeMap();
        },
        .describe = [](const detox::LocateResult& result) {
            nlohmann::json json = result;
            return ResultDescription{QStringLiteral("toxic layer %1").arg(result.toxicLayer), toQJson(json)};
        },
        .onFailure = [this](const RunLogEntry& entry) {
            running_ = false;
            status_->setText(entry.message);
            updateEnabled();
        },
        .receiver = this});
}

void ToxicLayersView::showResult(const detox::LocateResult& result) {
    // One curve per variant: a new result replaces the same variant's, and without overlay all others.
    std::erase_if(results_, [&](const detox::LocateResult& kept) {
        return !overlayCheck_->isChecked() || kept.variant == result.variant || kept.recordId != result.recordId;
    });
    results_.push_back(result);
    plot_->setFigure(toxicLayerFigure(results_));
    status_->setText(tr("Record %1, %2: toxic layer %3")
                         .arg(result.recordId)
                         .arg(QString::fromStdString(result.variant))
                         .arg(result.toxicLayer));
    nlohmann::json json = result;
    emit located(result);
    emit resultReady(QStringLiteral("locate-%1-%2").arg(result.recordId).arg(QString::fromStdString(result.variant)),
                     toQJson(json));
    redrawPatching();  // the distance criterion's layer is marked on the patching curve
}

FigureSpec layerTokenFigure(const detox::LayerTokenMap& map, const QString& title) {
    FigureSpec figure;
    figure.id = QStringLiteral("layer-token-%1").arg(QString::fromStdString(map.measure).replace('_', '-'));
    figure.title = title;
    figure.xLabel = QStringLiteral("token");
    figure.yLabel = QStringLiteral("layer");
    figure.kind = FigureKind::Heatmap;
    HeatmapData& heatmap = figure.heatmap;
    heatmap.rows = int(map.values.size());
    heatmap.cols = int(map.tokens.size());
    for (int layer = 0; layer < heatmap.rows; ++layer) heatmap.rowLabels.append(QStringLiteral("L%1").arg(layer));
    for (const std::string& token : map.tokens) heatmap.colLabels.append(QString::fromStdString(token));
    for (const std::vector<double>& row : map.values)
        for (double value : row) heatmap.values.append(value);
    if (map.measure == layerTokenMeasureName(LayerTokenMeasure::LogitLensTopProbability)) {
        heatmap.valueLabel = QStringLiteral("top-token p");
        heatmap.rangeMin = 0;
        heatmap.rangeMax = 1;
    } else {
        heatmap.valueLabel = map.measure == layerTokenMeasureName(LayerTokenMeasure::HiddenNorm)
                                 ? QStringLiteral("hidden-state norm")
                                 : QStringLiteral("distance");
    }
    return figure;
}

void ToxicLayersView::computeMap() {
    if (!model_ || !record_ || !runner_) return;
    if (mapRunning_) {
        mapPending_ = true;  // recomputed with the newest choice when the running one ends
        return;
    }
    const auto measure = LayerTokenMeasure(measureCombo_->currentData().toInt());
    const QString text = textCombo_->currentData().toString();
    const QString textName = measure == LayerTokenMeasure::SafeUnsafeDistance ? tr("safe vs unsafe generation")
                                                                               : textCombo_->currentText();
    JobOptions options;
    options.name = tr("Layer x token map (record %1, %2)").arg(record_->id).arg(measureCombo_->currentText());
    options.settings = QJsonObject{{"record", record_->id},
                                   {"measure", QString::fromStdString(layerTokenMeasureName(measure))},
                                   {"text", text}};
    options.queue = modelQueue(*model_);
    mapRunning_ = true;
    mapPending_ = false;
    auto model = model_;
    const detox::SafeEditRecord record = *record_;
    runner_->submit(JobSpec<MapRun>{
        .options = options,
        .work = [model, record, measure, text](detox::JobControl& job) {
            job.checkpoint();
            const auto ids = regionInputIds(*model, record);  // each text whole, within the model's context
            const auto& safe = ids[size_t(RegionInput::Safe)];
            const auto& unsafe = ids[size_t(RegionInput::Unsafe)];
            const RegionInput input = mapInput(text);
            const auto& chosen = ids[size_t(input)];
            MapRun run;
            switch (measure) {
                case LayerTokenMeasure::SafeUnsafeDistance: run.map = safeUnsafeDistanceMap(*model, safe, unsafe); break;
                case LayerTokenMeasure::LogitLensTopProbability: run.map = logitLensMap(*model, chosen); break;
                case LayerTokenMeasure::HiddenNorm: run.map = hiddenNormMap(*model, chosen); break;
            }
            run.coverage = mapCoverage(run.map, measure, input, wholeRegionInputLengths(*model, record));
            return run;
        },
        .onSuccess = [this, textName](MapRun& run) {
            mapRunning_ = false;
            showMap(run.map, textName, run.coverage);
            if (mapPending_) computeMap();
        },
        .describe = [](const MapRun& run) {
            QJsonObject json{{"measure", QString::fromStdString(run.map.measure)}, {"tokens", int(run.map.tokens.size())}};
            if (!run.coverage.isEmpty()) json["coverage"] = run.coverage;
            return ResultDescription{
                QStringLiteral("%1 layers x %2 tokens").arg(run.map.values.size()).arg(run.map.tokens.size()), json};
        },
        .onFailure = [this](const RunLogEntry& entry) {
            mapRunning_ = false;
            mapPending_ = false;
            mapPlot_->clearFigure(tr("Layer x token map failed: %1").arg(entry.message));
        },
        .receiver = this});
}

void ToxicLayersView::showMap(const detox::LayerTokenMap& map, const QString& textName, const QString& coverage) {
    map_ = map;
    QString measureTitle = tr("Hidden-state norm");
    if (map.measure == layerTokenMeasureName(LayerTokenMeasure::SafeUnsafeDistance))
        measureTitle = tr("Safe vs unsafe hidden-state distance per token");
    else if (map.measure == layerTokenMeasureName(LayerTokenMeasure::LogitLensTopProbability))
        measureTitle = tr("Logit-lens top-token probability");
    const int recordId = record_ ? record_->id : 0;
    const QString title = coverage.isEmpty() ? tr("%1, %2 (record %3)").arg(measureTitle, textName).arg(recordId)
                                             : tr("%1, %2 (record %3: %4)").arg(measureTitle, textName).arg(recordId).arg(coverage);
    mapPlot_->setFigure(layerTokenFigure(map, title));
    emit mapReady(map);
}

std::optional<int> ToxicLayersView::distanceLayer() const {
    // The shown variant's toxic layer, else the latest located one.
    const QString variant = variantCombo_->currentData().toString();
    for (const detox::LocateResult& result : results_)
        if (QString::fromStdString(result.variant) == variant && result.toxicLayer >= 0) return result.toxicLayer;
    if (!results_.empty() && results_.back().toxicLayer >= 0) return results_.back().toxicLayer;
    return std::nullopt;
}

void ToxicLayersView::patch() {
    if (!model_ || !record_ || !runner_ || patchJob_ != 0) return;
    const QString point = pointCombo_->currentData().toString();
    detox::PatchingSettings settings;
    settings.point = detox::captureFromName(point.toStdString()).value_or(Capture::ResidPost);
    settings.lastPositions = positionsSpin_->value();
    JobOptions options;
    options.name = tr("Activation patching (record %1, %2, last %3 positions)")
                       .arg(record_->id)
                       .arg(point)
                       .arg(settings.lastPositions);
    options.settings = QJsonObject{{"record", record_->id}, {"point", point}, {"last_positions", settings.lastPositions}};
    options.queue = modelQueue(*model_);
    auto model = model_;
    const detox::SafeEditRecord record = *record_;
    detox::SafeEditDataset dataset = source_.value_or(detox::SafeEditDataset{});
    dataset.records = {record};
    const int request = ++patchRequest_;
    patchProgress_->setRange(0, 0);  // busy until the first layer is done
    patchStatus_->setText(tr("%1: clean and corrupt runs with captures...").arg(point));
    patchJob_ = runner_->submit(JobSpec<detox::PatchingResult>{
        .options = options,
        .work = [model, record, dataset, settings](detox::JobControl& job) {
            // Phases: the clean and the corrupt run with captures (step 0), then one step per layer patched.
            job.report({0, model->config().numLayers, "clean and corrupt runs with captures", {}});
            return detox::patchRecords(*model, dataset, {record.id}, settings, job);
        },
        .onSuccess = [this, request](detox::PatchingResult& result) {
            patchJob_ = 0;
            if (request == patchRequest_) showPatching(result);
            updateEnabled();
        },
        .describe = [](const detox::PatchingResult& result) {
            nlohmann::json json = result;
            return ResultDescription{QStringLiteral("%1: patching picks layer %2")
                                         .arg(QString::fromStdString(result.point))
                                         .arg(result.records.front().bestLayer),
                                     toQJson(json)};
        },
        .onFailure = [this, request](const RunLogEntry& entry) {
            patchJob_ = 0;
            showJobStopped(patchProgress_, patchStatus_, entry, tr("Patching"), request == patchRequest_);
            updateEnabled();
        },
        .receiver = this});
    updateEnabled();
}

void ToxicLayersView::cancelPatching() {
    if (runner_ && patchJob_ != 0) runner_->cancel(patchJob_);
}

void ToxicLayersView::onPatchProgress(JobId id, const detox::Progress& progress) {
    if (id != patchJob_ || patchJob_ == 0) return;
    showJobProgress(patchProgress_, progress);
    const QString steps = progress.total > 0 && progress.step > 0
                              ? QStringLiteral(" %1/%2").arg(progress.step).arg(progress.total)
                              : QString();
    patchStatus_->setText(
        tr("%1:%2 %3...").arg(pointCombo_->currentData().toString(), steps, QString::fromStdString(progress.message)));
}

void ToxicLayersView::clearPatching(const QString& hint) {
    ++patchRequest_;  // a result still on its way belongs to what was cleared
    patching_.clear();
    patchProgress_->setRange(0, 1);
    patchProgress_->setValue(0);
    patchStatus_->clear();
    patchCurvePlot_->clearFigure(hint);
    patchMapPlot_->clearFigure(tr("The patching layer x position map appears after Patch"));
}

void ToxicLayersView::showPatching(const detox::PatchingResult& result) {
    patching_[result.point] = result;
    patchProgress_->setRange(0, 1);
    patchProgress_->setValue(1);
    const int index = pointCombo_->findData(QString::fromStdString(result.point));
    if (index >= 0 && index != pointCombo_->currentIndex()) pointCombo_->setCurrentIndex(index);  // redraws
    else redrawPatching();
    nlohmann::json json = result;
    emit patched(result);
    emit resultReady(QStringLiteral("patching-%1-%2").arg(result.records.front().recordId).arg(
                         QString::fromStdString(result.point)),
                     toQJson(json));
}

void ToxicLayersView::redrawPatching() {
    if (patching_.empty()) return;
    const std::string point = pointCombo_->currentData().toString().toStdString();
    // The chosen point's curve first: it carries the criteria's markers.
    std::vector<detox::PatchingResult> curves;
    if (patching_.count(point)) curves.push_back(patching_.at(point));
    for (const auto& [name, result] : patching_)
        if (name != point) curves.push_back(result);
    const std::optional<int> distance = distanceLayer();
    patchCurvePlot_->setFigure(patchingLayerFigure(curves, distance));

    const auto shown = patching_.find(point);
    if (shown == patching_.end()) {
        patchMapPlot_->clearFigure(tr("No %1 result for this record yet: press Patch").arg(QString::fromStdString(point)));
        patchStatus_->setText(tr("Curves measured: %1. Press Patch for %2.")
                                  .arg(QString::fromStdString(curves.front().point), QString::fromStdString(point)));
        return;
    }
    const detox::PatchingRecordResult& record = shown->second.records.front();
    patchMapPlot_->setFigure(patchingMapFigure(record, QString::fromStdString(point)));
    QString criteria = tr("patching picks layer %1 (recovers %2)")
                           .arg(record.bestLayer)
                           .arg(percent(patchingCurveValue(shown->second, record.bestLayer)));
    if (distance)
        criteria += tr("; distance picks layer %1 (patching there recovers %2)%3")
                        .arg(*distance)
                        .arg(percent(patchingCurveValue(shown->second, *distance)))
                        .arg(*distance == record.bestLayer ? tr(": the criteria agree") : tr(": the criteria differ"));
    else
        criteria += tr("; press Locate for the distance criterion's layer");
    patchStatus_->setText(
        tr("%1, last %2 positions: log p(safe) - log p(unsafe) is %3 on the clean run (bare question), %4 on the "
           "corrupt run (adversarial prompt); %5. Cost %6 forwards (%7 s).")
            .arg(QString::fromStdString(point))
            .arg(record.positions.size())
            .arg(record.clean.metric(), 0, 'f', 2)
            .arg(record.corrupt.metric(), 0, 'f', 2)
            .arg(criteria)
            .arg(record.forwardMultiple, 0, 'f', 1)
            .arg(record.seconds, 0, 'f', 1));
}

}  // namespace detox::ui
