// Toxic region: the toxic layer's MLP neurons (mlp_act) for the adversarial prompt, the safe and the
// unsafe generation, on the loaded model and after each method run.
#include <QComboBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QPushButton>
#include <QSpinBox>
#include <QSplitter>
#include <QVBoxLayout>

#include <algorithm>
#include <cmath>

#include <nlohmann/json.hpp>

#include "detox_ui/figures/plot_view.h"
#include "detox_ui/views/view_toxic_region.h"
#include "view_support.h"

namespace detox::ui {

namespace {

const RegionInput kInputs[] = {RegionInput::Adversarial, RegionInput::Safe, RegionInput::Unsafe};

QString neuronLabel(int neuron) { return QStringLiteral("n%1").arg(neuron); }

// One bar series: the mean activation of each chosen neuron, in the order given.
FigureSeries neuronSeries(const QString& name, const detox::NeuronTokenActivations& input, const std::vector<int>& neurons) {
    FigureSeries series;
    series.name = name;
    const std::vector<double> mean = input.meanOverTokens();
    for (size_t i = 0; i < neurons.size(); ++i) {
        series.x.append(double(i));
        series.y.append(mean[size_t(neurons[i])]);
    }
    return series;
}

QJsonObject snapshotJson(const RegionSnapshot& snapshot) {
    nlohmann::json json;
    json["label"] = snapshot.label.toStdString();
    json["record"] = snapshot.recordId;
    json["layer"] = snapshot.layer;
    nlohmann::json inputs = nlohmann::json::object();
    for (size_t i = 0; i < snapshot.inputs.size(); ++i)
        inputs[regionInputName(kInputs[i]).toStdString()] = {{"tokens", snapshot.inputs[i].tokens},
                                                             {"mean", snapshot.inputs[i].meanOverTokens()}};
    json["inputs"] = inputs;
    return toQJson(json);
}

// The relative shift of the down projection (the toxic region's matrix) at the run's region layer.
double regionWeightShift(const MethodRun& run) {
    const auto& shift = run.shift;
    for (size_t row = 0; row < shift.layers.size(); ++row) {
        if (shift.layers[row] != run.regionLayer) continue;
        for (size_t column = 0; column < shift.modules.size(); ++column)
            if (shift.modules[column] == "down" || shift.modules[column] == "mlp.c_proj")
                return shift.relative[row][column];
    }
    return 0;
}

}  // namespace

ToxicRegionView::ToxicRegionView(QWidget* parent) : QWidget(parent) {
    qRegisterMetaType<detox::ui::RegionSnapshot>();
    layerSpin_ = new QSpinBox(this);
    layerSpin_->setRange(-1, 0);
    layerSpin_->setSpecialValueText(tr("located"));
    layerSpin_->setValue(-1);
    layerSpin_->setToolTip(tr("The layer whose MLP neurons are read; 'located' runs Locate (masked) first"));
    analyseButton_ = new QPushButton(tr("Analyse"), this);
    stateCombo_ = new QComboBox(this);
    inputCombo_ = new QComboBox(this);
    for (RegionInput input : kInputs) inputCombo_->addItem(regionInputName(input), int(input));
    inputCombo_->setCurrentIndex(int(RegionInput::Unsafe));
    status_ = new QLabel(this);
    summary_ = new QLabel(this);
    summary_->setWordWrap(true);
    summary_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    barPlot_ = new PlotView(this);
    methodPlot_ = new PlotView(this);
    heatmapPlot_ = new PlotView(this);

    auto* controls = new QHBoxLayout;
    controls->addWidget(new QLabel(tr("Layer:"), this));
    controls->addWidget(layerSpin_);
    controls->addWidget(analyseButton_);
    controls->addSpacing(16);
    controls->addWidget(new QLabel(tr("Model state:"), this));
    controls->addWidget(stateCombo_, 1);
    controls->addWidget(new QLabel(tr("Heatmap input:"), this));
    controls->addWidget(inputCombo_);
    controls->addStretch(1);
    auto* bars = new QSplitter(Qt::Horizontal, this);
    bars->addWidget(barPlot_);
    bars->addWidget(methodPlot_);
    auto* plots = new QSplitter(Qt::Vertical, this);
    plots->addWidget(bars);
    plots->addWidget(heatmapPlot_);
    auto* layout = new QVBoxLayout(this);
    layout->addLayout(controls);
    layout->addWidget(status_);
    layout->addWidget(summary_);
    layout->addWidget(plots, 1);

    connect(analyseButton_, &QPushButton::clicked, this, [this] { analyse(); });
    connect(stateCombo_, &QComboBox::currentIndexChanged, this, &ToxicRegionView::redraw);
    connect(inputCombo_, &QComboBox::currentIndexChanged, this, &ToxicRegionView::redraw);
    redraw();
    updateEnabled();
}

void ToxicRegionView::setModel(std::shared_ptr<detox::Model> model) {
    model_ = std::move(model);
    layerSpin_->setRange(-1, model_ ? model_->config().numLayers - 1 : 0);
    layerSpin_->setValue(-1);
    snapshots_.clear();
    stateCombo_->clear();
    redraw();
    updateEnabled();
}

void ToxicRegionView::setRecord(const detox::SafeEditRecord& record) {
    record_ = record;
    snapshots_.clear();
    stateCombo_->clear();
    redraw();
    updateEnabled();
}

void ToxicRegionView::setJobRunner(JobRunner* runner) {
    runner_ = runner;
    updateEnabled();
}

void ToxicRegionView::setToxicLayer(int layer) {
    if (!model_ || layer < 0 || layer >= model_->config().numLayers) return;
    layerSpin_->setValue(layer);
}

void ToxicRegionView::updateEnabled() { analyseButton_->setEnabled(model_ && record_ && runner_ && !running_); }

void ToxicRegionView::analyse(bool modelEdited) {
    if (!model_ || !record_ || !runner_ || running_) return;
    JobOptions options;
    options.name = tr("Toxic region (record %1)").arg(record_->id);
    options.settings = QJsonObject{{"record", record_->id}, {"layer", layerSpin_->value()}};
    options.queue = modelQueue(*model_);
    running_ = true;
    updateEnabled();
    status_->setText(tr("Reading the MLP neurons..."));
    auto model = model_;
    const detox::SafeEditRecord record = *record_;
    const int chosenLayer = layerSpin_->value();
    RegionSnapshot prepared;
    prepared.label = modelEdited ? tr("current (edited) model") : tr("loaded model");
    prepared.recordId = record.id;
    prepared.edited = modelEdited;
    runner_->submit(JobSpec<RegionSnapshot>{
        .options = options,
        .work = [model, record, chosenLayer, prepared](detox::JobControl& job) mutable {
            job.checkpoint();
            prepared.layer = chosenLayer >= 0 ? chosenLayer
                                              : detox::locateToxicLayer(*model, record, LocateVariant::Masked).toxicLayer;
            job.checkpoint();
            prepared.inputs = measureRegion(*model, prepared.layer, record);
            return prepared;
        },
        .onSuccess = [this](RegionSnapshot& snapshot) {
            running_ = false;
            // A fresh analysis replaces the measurements of the same state; method runs stay.
            for (int i = snapshots_.size() - 1; i >= 0; --i)
                if (snapshots_[i].label == snapshot.label || snapshots_[i].layer != snapshot.layer) snapshots_.remove(i);
            snapshots_.prepend(snapshot);
            addSnapshot(snapshot, true);
            status_->setText(tr("Record %1, layer %2").arg(snapshot.recordId).arg(snapshot.layer));
            updateEnabled();
            emit analysed(snapshot);
            emit resultReady(QStringLiteral("toxic-region-%1-layer-%2").arg(snapshot.recordId).arg(snapshot.layer),
                             snapshotJson(snapshot));
        },
        .describe = [](const RegionSnapshot& snapshot) {
            return ResultDescription{QStringLiteral("layer %1, %2 neurons")
                                         .arg(snapshot.layer)
                                         .arg(snapshot.inputs.empty() ? 0 : snapshot.inputs.front().neurons),
                                     snapshotJson(snapshot)};
        },
        .onFailure = [this](const RunLogEntry& entry) {
            running_ = false;
            status_->setText(entry.message);
            updateEnabled();
        },
        .receiver = this});
}

void ToxicRegionView::addMethodRun(const MethodRun& run) {
    if (run.regionBefore.empty() || run.regionAfter.empty()) return;
    if (!record_ || record_->id != run.recordId) return;  // measured on another record than shown
    // The run measured the loaded model too: it becomes the baseline unless one for its layer exists.
    const bool haveBaseline = !snapshots_.isEmpty() && snapshots_.front().layer == run.regionLayer;
    if (!haveBaseline) {
        snapshots_.clear();
        snapshots_.append({tr("loaded model"), run.recordId, run.regionLayer, run.regionBefore});
    }
    RegionSnapshot after{tr("after %1").arg(run.id), run.recordId, run.regionLayer, run.regionAfter};
    after.weightShift = regionWeightShift(run);
    after.method = run.method;
    snapshots_.append(after);
    layerSpin_->setValue(run.regionLayer);
    addSnapshot(after, true);
}

void ToxicRegionView::addSnapshot(const RegionSnapshot&, bool select) {
    const QSignalBlocker blocker(stateCombo_);
    stateCombo_->clear();
    for (const RegionSnapshot& snapshot : snapshots_) stateCombo_->addItem(snapshot.label);
    if (select) stateCombo_->setCurrentIndex(stateCombo_->count() - 1);
    redraw();
}

const RegionSnapshot* ToxicRegionView::selectedSnapshot() const {
    const int index = stateCombo_->currentIndex();
    return index >= 0 && index < snapshots_.size() ? &snapshots_[index] : nullptr;
}

std::vector<int> ToxicRegionView::topNeurons() const {
    if (snapshots_.isEmpty()) return {};
    const RegionSnapshot& baseline = snapshots_.front();
    return detox::mostDifferentNeurons(baseline.inputs[size_t(RegionInput::Safe)].meanOverTokens(),
                                       baseline.inputs[size_t(RegionInput::Unsafe)].meanOverTokens(), kTopNeurons);
}

FigureSpec ToxicRegionView::neuronBarFigure() const {
    const RegionSnapshot* snapshot = selectedSnapshot();
    FigureSpec figure;
    figure.id = QStringLiteral("toxic-region-neurons");
    figure.kind = FigureKind::Bar;
    figure.xLabel = QStringLiteral("neuron (sorted by |unsafe - safe|)");
    figure.yLabel = QStringLiteral("mean activation");
    if (!snapshot) return figure;
    figure.title = QStringLiteral("Layer %1 MLP neurons: safe vs unsafe (%2)").arg(snapshot->layer).arg(snapshot->label);
    const std::vector<int> neurons = topNeurons();
    for (int neuron : neurons) figure.categories << neuronLabel(neuron);
    for (RegionInput input : kInputs)
        figure.series.append(neuronSeries(regionInputName(input), snapshot->inputs[size_t(input)], neurons));
    return figure;
}

FigureSpec ToxicRegionView::methodBarFigure() const {
    FigureSpec figure;
    figure.id = QStringLiteral("toxic-region-per-method");
    figure.kind = FigureKind::Bar;
    figure.title = QStringLiteral("Adversarial prompt: these neurons per model state");
    figure.xLabel = QStringLiteral("neuron");
    figure.yLabel = QStringLiteral("mean activation");
    const std::vector<int> neurons = topNeurons();
    for (int neuron : neurons) figure.categories << neuronLabel(neuron);
    for (const RegionSnapshot& snapshot : snapshots_) {
        FigureSeries series = neuronSeries(snapshot.label, snapshot.inputs[size_t(RegionInput::Adversarial)], neurons);
        if (!snapshot.method.isEmpty()) series.as(SeriesRole::Method, snapshot.method);
        else if (!snapshot.edited) series.as(SeriesRole::Reference);
        figure.series.append(series);
    }
    return figure;
}

FigureSpec ToxicRegionView::heatmapFigure() const {
    const RegionSnapshot* snapshot = selectedSnapshot();
    const auto input = RegionInput(inputCombo_->currentData().toInt());
    FigureSpec figure;
    figure.id = QStringLiteral("toxic-region-neuron-token");
    figure.kind = FigureKind::Heatmap;
    figure.xLabel = QStringLiteral("token");
    figure.yLabel = QStringLiteral("neuron");
    if (!snapshot) return figure;
    const detox::NeuronTokenActivations& activations = snapshot->inputs[size_t(input)];
    figure.title = QStringLiteral("Layer %1 neurons x tokens: %2 (%3)")
                       .arg(snapshot->layer)
                       .arg(regionInputName(input), snapshot->label);
    const std::vector<int> neurons = topNeurons();
    HeatmapData& heatmap = figure.heatmap;
    heatmap.rows = int(neurons.size());
    heatmap.cols = int(activations.tokens.size());
    heatmap.scale = ColorScale::Diverging;
    heatmap.valueLabel = QStringLiteral("activation");
    for (int neuron : neurons) heatmap.rowLabels << neuronLabel(neuron);
    for (const std::string& token : activations.tokens) heatmap.colLabels << QString::fromStdString(token);
    for (int neuron : neurons)
        for (int token = 0; token < heatmap.cols; ++token) heatmap.values.append(activations.at(token, neuron));
    // One colour scale over every state, so a suppressed neuron looks suppressed.
    double largest = 0;
    for (const RegionSnapshot& state : snapshots_) {
        const auto& other = state.inputs[size_t(input)];
        for (int neuron : neurons)
            for (size_t token = 0; token < other.tokens.size(); ++token)
                largest = std::max(largest, double(std::abs(other.at(int(token), neuron))));
    }
    if (largest > 0) {
        heatmap.rangeMin = -largest;
        heatmap.rangeMax = largest;
    }
    return figure;
}

void ToxicRegionView::redraw() {
    if (snapshots_.isEmpty()) {
        const QString hint = model_ && record_ ? tr("Press Analyse (Ctrl+R), or run a method in the Edit tab")
                                               : tr("Load a model and select a record");
        barPlot_->clearFigure(hint);
        methodPlot_->clearFigure(tr("Each method run adds its activations here"));
        heatmapPlot_->clearFigure(tr("Neuron x token activations appear here"));
        summary_->clear();
        return;
    }
    barPlot_->setFigure(neuronBarFigure());
    methodPlot_->setFigure(methodBarFigure());
    heatmapPlot_->setFigure(heatmapFigure());
    // How much each method moved the region on the adversarial prompt.
    QStringList lines;
    const RegionSnapshot& baseline = snapshots_.front();
    const size_t adversarial = size_t(RegionInput::Adversarial);
    detox::ActivationMeans before{baseline.layer, 1, baseline.inputs[adversarial].meanOverTokens()};
    for (int i = 1; i < snapshots_.size(); ++i) {
        const RegionSnapshot& state = snapshots_[i];
        detox::ActivationMeans after{state.layer, 1, state.inputs[adversarial].meanOverTokens()};
        const detox::ActivationShift shift = detox::activationShift(before, after, 1);
        // DINM edits the matrix these activations feed: unchanged activations with changed weights
        // is its signature; SFT/DPO move the activations themselves.
        const QString activation = std::abs(shift.relativeNormChange) < 5e-4
                                       ? tr("activations unchanged")
                                       : tr("activation norm %1%2%")
                                             .arg(shift.relativeNormChange >= 0 ? "+" : "")
                                             .arg(100.0 * shift.relativeNormChange, 0, 'f', 1);
        lines << tr("%1: %2 on the adversarial prompt; the region's weights moved by %3% (||ΔW|| / ||W||)")
                     .arg(state.label, activation)
                     .arg(100.0 * state.weightShift, 0, 'f', 2);
    }
    summary_->setText(lines.isEmpty() ? tr("Run a method in the Edit tab to see whether it suppresses these neurons")
                                      : lines.join('\n'));
}

}  // namespace detox::ui
