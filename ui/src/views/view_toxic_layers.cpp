#include <QCheckBox>
#include <QComboBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QPushButton>
#include <QSplitter>
#include <QVBoxLayout>

#include <nlohmann/json.hpp>

#include "detox_ui/figures/figures_core.h"
#include "detox_ui/figures/plot_view.h"
#include "detox_ui/views/view_toxic_layers.h"
#include "detox_ui/views/method_run.h"
#include "view_support.h"

namespace detox::ui {

ToxicLayersView::ToxicLayersView(QWidget* parent) : QWidget(parent) {
    variantCombo_ = new QComboBox(this);
    variantCombo_->addItem(tr("masked (mean over tokens)"), QStringLiteral("masked"));
    variantCombo_->addItem(tr("easyedit (reference behaviour)"), QStringLiteral("easyedit"));
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

    auto* controls = new QHBoxLayout;
    controls->addWidget(new QLabel(tr("Variant:"), this));
    controls->addWidget(variantCombo_);
    controls->addWidget(overlayCheck_);
    controls->addWidget(locateButton_);
    controls->addStretch(1);
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
    auto* splitter = new QSplitter(Qt::Vertical, this);
    splitter->addWidget(plot_);
    splitter->addWidget(mapPane);
    splitter->setStretchFactor(0, 2);
    splitter->setStretchFactor(1, 3);
    auto* layout = new QVBoxLayout(this);
    layout->addLayout(controls);
    layout->addWidget(status_);
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
    updateEnabled();
}

void ToxicLayersView::setModel(std::shared_ptr<detox::Model> model) {
    model_ = std::move(model);
    results_.clear();
    map_.reset();
    plot_->clearFigure(tr("Select a record and press Locate"));
    mapPlot_->clearFigure(tr("The layer x token map appears after Locate"));
    updateEnabled();
}

void ToxicLayersView::setRecord(const detox::SafeEditRecord& record) {
    record_ = record;
    results_.clear();
    map_.reset();
    plot_->clearFigure(tr("Record %1: press Locate (Ctrl+L)").arg(record.id));
    mapPlot_->clearFigure(tr("The layer x token map appears after Locate"));
    updateEnabled();
}

void ToxicLayersView::setJobRunner(JobRunner* runner) {
    runner_ = runner;
    updateEnabled();
}

void ToxicLayersView::updateEnabled() {
    locateButton_->setEnabled(model_ && record_ && runner_ && !running_);
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
    runner_->submit(JobSpec<detox::LayerTokenMap>{
        .options = options,
        .work = [model, record, measure, text](detox::JobControl& job) {
            job.checkpoint();
            const auto ids = regionInputIds(*model, record, kMaxMapTokens);
            const auto& safe = ids[size_t(RegionInput::Safe)];
            const auto& unsafe = ids[size_t(RegionInput::Unsafe)];
            const auto& chosen = text == "safe" ? safe : text == "adversarial" ? ids[size_t(RegionInput::Adversarial)] : unsafe;
            switch (measure) {
                case LayerTokenMeasure::SafeUnsafeDistance: return safeUnsafeDistanceMap(*model, safe, unsafe);
                case LayerTokenMeasure::LogitLensTopProbability: return logitLensMap(*model, chosen);
                case LayerTokenMeasure::HiddenNorm: break;
            }
            return hiddenNormMap(*model, chosen);
        },
        .onSuccess = [this, textName](detox::LayerTokenMap& map) {
            mapRunning_ = false;
            showMap(map, textName);
            if (mapPending_) computeMap();
        },
        .describe = [](const detox::LayerTokenMap& map) {
            return ResultDescription{QStringLiteral("%1 layers x %2 tokens").arg(map.values.size()).arg(map.tokens.size()),
                                     QJsonObject{{"measure", QString::fromStdString(map.measure)}}};
        },
        .onFailure = [this](const RunLogEntry& entry) {
            mapRunning_ = false;
            mapPending_ = false;
            mapPlot_->clearFigure(tr("Layer x token map failed: %1").arg(entry.message));
        },
        .receiver = this});
}

void ToxicLayersView::showMap(const detox::LayerTokenMap& map, const QString& textName) {
    map_ = map;
    QString measureTitle = tr("Hidden-state norm");
    if (map.measure == layerTokenMeasureName(LayerTokenMeasure::SafeUnsafeDistance))
        measureTitle = tr("Safe vs unsafe hidden-state distance per token");
    else if (map.measure == layerTokenMeasureName(LayerTokenMeasure::LogitLensTopProbability))
        measureTitle = tr("Logit-lens top-token probability");
    const QString title = tr("%1, %2 (record %3)").arg(measureTitle, textName).arg(record_ ? record_->id : 0);
    mapPlot_->setFigure(layerTokenFigure(map, title));
    emit mapReady(map);
}

}  // namespace detox::ui
