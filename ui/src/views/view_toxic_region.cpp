// Toxic region: the toxic layer's MLP neurons (mlp_act) for the adversarial prompt, the safe and the
// unsafe generation, on the loaded model and after each method run.
#include <QComboBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QGroupBox>
#include <QHeaderView>
#include <QProgressBar>
#include <QPushButton>
#include <QSpinBox>
#include <QSplitter>
#include <QTableWidget>
#include <QVBoxLayout>

#include <algorithm>
#include <cmath>

#include <nlohmann/json.hpp>

#include "detox_ui/figures/figures_causal.h"
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

QString verdictName(double unsafe) {
    return unsafe >= 1.0 ? QObject::tr("unsafe") : unsafe <= 0.0 ? QObject::tr("safe") : QObject::tr("empty");
}

// "top 20 neurons, zero", "direction (resid_post diff of means)": what a plan knocked out.
QString ablationName(const detox::AblationPlan& plan) {
    if (plan.target == detox::ablationTargetName(detox::AblationTarget::Direction))
        return QObject::tr("%1 diff-of-means direction projected out").arg(QString::fromStdString(plan.point));
    return QObject::tr("%1 neurons %2-ablated").arg(plan.neurons.size()).arg(QString::fromStdString(plan.mode));
}

QString signedNumber(double value) { return QStringLiteral("%1%2").arg(value >= 0 ? "+" : "").arg(value, 0, 'f', 2); }

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
    plots->addWidget(buildAblationPanel());
    plots->setStretchFactor(0, 3);
    plots->setStretchFactor(1, 3);
    plots->setStretchFactor(2, 2);
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

QWidget* ToxicRegionView::buildAblationPanel() {
    auto* panel = new QGroupBox(tr("Ablation: knock the region out and measure what changes"), this);
    ablationTarget_ = new QComboBox(panel);
    ablationTarget_->addItem(tr("top-k region neurons, zero-ablated"), QStringLiteral("zero"));
    ablationTarget_->addItem(tr("top-k region neurons, mean-ablated"), QStringLiteral("mean"));
    ablationTarget_->addItem(tr("diff-of-means direction (unsafe - safe), projected out"), QStringLiteral("direction"));
    ablationTarget_->setToolTip(tr("Neurons: the layer's mlp_act channels whose mean differs most between the unsafe and "
                                   "the safe generation, ranked on the state measured; means over this record's "
                                   "generations. Direction: resid_post, mean(unsafe) - mean(safe)."));
    ablationTopK_ = new QSpinBox(panel);
    ablationTopK_->setRange(1, 1 << 20);  // the model's width once one is loaded
    ablationTopK_->setValue(detox::AblationSettings{}.topK);
    ablateButton_ = new QPushButton(tr("Ablate"), panel);
    ablateCancelButton_ = new QPushButton(tr("Cancel"), panel);
    ablationProgress_ = new QProgressBar(panel);
    ablationProgress_->setRange(0, 1);
    ablationProgress_->setValue(0);
    ablationProgress_->setMaximumWidth(200);
    ablationStatus_ = new QLabel(panel);
    ablationStatus_->setWordWrap(true);
    ablationStatus_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    ablationTable_ = new QTableWidget(0, 10, panel);
    ablationTable_->setHorizontalHeaderLabels({tr("model state"), tr("ablation"), tr("layer"), tr("metric before"),
                                               tr("metric after"), tr("change"), tr("answer before"), tr("verdict"),
                                               tr("answer with the ablation"), tr("verdict")});
    ablationTable_->horizontalHeaderItem(3)->setToolTip(
        tr("log p(safe generation) - log p(unsafe generation) after the adversarial prompt, teacher-forced"));
    ablationTable_->setEditTriggers(QAbstractItemView::NoEditTriggers);
    ablationTable_->setWordWrap(true);
    ablationTable_->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
    for (int column : {6, 8}) ablationTable_->horizontalHeader()->setSectionResizeMode(column, QHeaderView::Stretch);
    ablationTable_->verticalHeader()->setVisible(false);
    ablationPlot_ = new PlotView(panel);
    auto* results = new QSplitter(Qt::Horizontal, panel);
    results->addWidget(ablationTable_);
    results->addWidget(ablationPlot_);
    results->setStretchFactor(0, 2);
    results->setStretchFactor(1, 1);

    auto* controls = new QHBoxLayout;
    controls->addWidget(ablationTarget_);
    controls->addWidget(new QLabel(tr("k:"), panel));
    controls->addWidget(ablationTopK_);
    controls->addWidget(ablateButton_);
    controls->addWidget(ablateCancelButton_);
    controls->addWidget(ablationProgress_);
    controls->addStretch(1);
    auto* layout = new QVBoxLayout(panel);
    layout->addLayout(controls);
    layout->addWidget(ablationStatus_);
    layout->addWidget(results, 1);

    connect(ablateButton_, &QPushButton::clicked, this, &ToxicRegionView::ablate);
    connect(ablateCancelButton_, &QPushButton::clicked, this, &ToxicRegionView::cancelAblation);
    connect(ablationTarget_, &QComboBox::currentIndexChanged, this,
            [this] { ablationTopK_->setEnabled(ablationTarget_->currentData().toString() != "direction"); });
    return panel;
}

void ToxicRegionView::setModel(std::shared_ptr<detox::Model> model) {
    model_ = std::move(model);
    layerSpin_->setRange(-1, model_ ? model_->config().numLayers - 1 : 0);
    layerSpin_->setValue(-1);
    ablationTopK_->setRange(1, model_ ? std::max(1, model_->config().intermediateSize) : 1);
    snapshots_.clear();
    stateCombo_->clear();
    modelEdited_ = false;
    lastEditRun_.clear();
    cancelAblation();
    clearAblations();
    redraw();
    updateEnabled();
}

void ToxicRegionView::setRecord(const detox::SafeEditRecord& record, const detox::SafeEditDataset* source) {
    record_ = record;
    source_.reset();
    if (source) source_ = detox::SafeEditDataset{source->path, source->sha256, {}, {}};
    snapshots_.clear();
    stateCombo_->clear();
    cancelAblation();
    clearAblations();
    redraw();
    updateEnabled();
}

void ToxicRegionView::setJobRunner(JobRunner* runner) {
    if (runner_) disconnect(runner_, &JobRunner::jobProgress, this, &ToxicRegionView::onAblationProgress);
    runner_ = runner;
    if (runner_) connect(runner_, &JobRunner::jobProgress, this, &ToxicRegionView::onAblationProgress);
    updateEnabled();
}

void ToxicRegionView::setToxicLayer(int layer) {
    if (!model_ || layer < 0 || layer >= model_->config().numLayers) return;
    layerSpin_->setValue(layer);
}

void ToxicRegionView::updateEnabled() {
    const bool ready = model_ && record_ && runner_;
    analyseButton_->setEnabled(ready && !running_);
    ablateButton_->setEnabled(ready && ablationJob_ == 0);
    ablateCancelButton_->setEnabled(ablationJob_ != 0);
}

void ToxicRegionView::analyse(bool modelEdited) {
    if (!model_ || !record_ || !runner_ || running_) return;
    if (!modelEdited) setModelEdited(false);  // the caller knows: no edits in the weights now
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
    if (!run.edit.changedTensors.empty()) {  // its edit is in the weights now (a prompt-only run changes none)
        lastEditRun_ = run.id;
        modelEdited_ = true;
    }
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
    if (model_ && record_) {  // never cut silently: what the model's context left out
        const QString cut = contextCutNote(int(activations.tokens.size()), wholeRegionInputLengths(*model_, *record_)[size_t(input)],
                                           input == RegionInput::Adversarial);
        if (!cut.isEmpty()) figure.title += QStringLiteral(": ") + cut;
    }
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

// ---- ablation ----

void ToxicRegionView::setModelEdited(bool edited) {
    modelEdited_ = edited;
    if (!edited) lastEditRun_.clear();
}

QString ToxicRegionView::modelStateLabel() const {
    if (!modelEdited_) return tr("loaded model");
    return lastEditRun_.isEmpty() ? tr("current (edited) model") : tr("after %1").arg(lastEditRun_);
}

detox::AblationSettings ToxicRegionView::ablationSettings() const {
    detox::AblationSettings settings;
    settings.layer = layerSpin_->value();
    const QString target = ablationTarget_->currentData().toString();
    if (target == "direction") {
        settings.target = detox::AblationTarget::Direction;
    } else {
        settings.target = detox::AblationTarget::TopRegionNeurons;
        settings.mode = target == "mean" ? detox::AblationMode::Mean : detox::AblationMode::Zero;
        settings.topK = ablationTopK_->value();
    }
    return settings;
}

void ToxicRegionView::ablate() {
    if (!model_ || !record_ || !runner_ || ablationJob_ != 0) return;
    detox::AblationSettings settings = ablationSettings();
    const QString state = modelStateLabel();
    JobOptions options;
    options.name = tr("Ablation (record %1, %2, %3)").arg(record_->id).arg(ablationTarget_->currentText(), state);
    options.settings = QJsonObject{{"record", record_->id},
                                   {"layer", settings.layer},
                                   {"target", ablationTarget_->currentData().toString()},
                                   {"top_k", settings.topK},
                                   {"model_state", state}};
    options.queue = modelQueue(*model_);
    auto model = model_;
    const detox::SafeEditRecord record = *record_;
    detox::SafeEditDataset dataset = source_.value_or(detox::SafeEditDataset{});
    dataset.records = {record};
    const int request = ++ablationRequest_;
    ablationProgress_->setRange(0, 0);  // busy: the phases report as they come
    ablationStatus_->setText(tr("Ablating on the %1...").arg(state));
    ablationJob_ = runner_->submit(JobSpec<AblationRow>{
        .options = options,
        .work = [model, dataset, settings, state](detox::JobControl& job) mutable {
            if (settings.layer < 0) {  // "located": the masked locate's toxic layer, as Analyse does
                job.report({0, 0, "locating the toxic layer", {}});
                settings.layer = detox::locateToxicLayer(*model, dataset.records.front(), LocateVariant::Masked).toxicLayer;
            }
            job.checkpoint();
            return AblationRow{state, detox::ablateRecords(*model, dataset, {dataset.records.front().id}, settings,
                                                           nullptr, 1, 1, job)};
        },
        .onSuccess = [this, request](AblationRow& row) {
            ablationJob_ = 0;
            if (request == ablationRequest_) addAblationRow(row);
            updateEnabled();
        },
        .describe = [](const AblationRow& row) {
            nlohmann::json json = row.result;
            json["model_state"] = row.state.toStdString();
            const detox::AblationRecordResult& record = row.result.records.front();
            return ResultDescription{QStringLiteral("%1, %2: metric %3")
                                         .arg(row.state, ablationName(record.plan))
                                         .arg(signedNumber(record.metricChange())),
                                     toQJson(json)};
        },
        .onFailure = [this, request](const RunLogEntry& entry) {
            ablationJob_ = 0;
            showJobStopped(ablationProgress_, ablationStatus_, entry, tr("Ablation"), request == ablationRequest_);
            updateEnabled();
        },
        .receiver = this});
    updateEnabled();
}

void ToxicRegionView::cancelAblation() {
    if (runner_ && ablationJob_ != 0) runner_->cancel(ablationJob_);
}

void ToxicRegionView::onAblationProgress(JobId id, const detox::Progress& progress) {
    if (id != ablationJob_ || ablationJob_ == 0) return;
    showJobProgress(ablationProgress_, progress);
    ablationStatus_->setText(QString::fromStdString(progress.message) + QStringLiteral("..."));
}

void ToxicRegionView::clearAblations() {
    ++ablationRequest_;  // a result still on its way belongs to what was cleared
    ablations_.clear();
    ablationTable_->setRowCount(0);
    ablationProgress_->setRange(0, 1);
    ablationProgress_->setValue(0);
    ablationStatus_->setText(tr("Each ablation runs on the model as it is now (loaded, or the latest method run's "
                                "edit); rows stay, so ablate, run a method in the Edit tab and ablate again to compare."));
    ablationPlot_->clearFigure(tr("The metric without and with each ablation appears after Ablate"));
}

void ToxicRegionView::redrawAblationFigure() {
    QStringList labels;
    std::vector<detox::AblationRecordResult> records;
    for (const AblationRow& row : ablations_) {
        const detox::AblationRecordResult& record = row.result.records.front();
        labels << QStringLiteral("%1\n%2, L%3").arg(row.state, ablationName(record.plan)).arg(record.plan.layer);
        records.push_back(record);
    }
    ablationPlot_->setFigure(ablationMetricFigure(labels, records));
}

void ToxicRegionView::addAblationRow(const AblationRow& row) {
    ablations_.append(row);
    redrawAblationFigure();
    const detox::AblationRecordResult& record = row.result.records.front();
    const QStringList cells{row.state,
                            ablationName(record.plan),
                            QString::number(record.plan.layer),
                            QString::number(record.before.score.metric(), 'f', 2),
                            QString::number(record.after.score.metric(), 'f', 2),
                            signedNumber(record.metricChange()),
                            QString::fromStdString(record.before.generation),
                            verdictName(record.before.unsafe),
                            QString::fromStdString(record.after.generation),
                            verdictName(record.after.unsafe)};
    const int rowIndex = ablationTable_->rowCount();
    ablationTable_->insertRow(rowIndex);
    for (int column = 0; column < cells.size(); ++column) {
        auto* item = new QTableWidgetItem(cells[column]);
        ablationTable_->setItem(rowIndex, column, item);
    }
    QStringList neurons;
    for (int neuron : record.plan.neurons) neurons << neuronLabel(neuron);
    ablationTable_->item(rowIndex, 1)->setToolTip(neurons.isEmpty() ? tr("|d| = %1").arg(record.plan.directionNorm)
                                                                    : neurons.join(QStringLiteral(", ")));
    ablationTable_->item(rowIndex, 7)->setToolTip(QString::fromStdString(record.before.verdictReason));
    ablationTable_->item(rowIndex, 9)->setToolTip(QString::fromStdString(record.after.verdictReason));
    ablationTable_->resizeRowsToContents();
    ablationProgress_->setRange(0, 1);
    ablationProgress_->setValue(1);
    ablationStatus_->setText(
        tr("%1, layer %2, %3: log p(safe) - log p(unsafe) %4 -> %5 (%6; log p(safe) %7, log p(unsafe) %8); "
           "verdicts by the %9 judge.")
            .arg(row.state)
            .arg(record.plan.layer)
            .arg(ablationName(record.plan))
            .arg(record.before.score.metric(), 0, 'f', 2)
            .arg(record.after.score.metric(), 0, 'f', 2)
            .arg(signedNumber(record.metricChange()), signedNumber(record.logPSafeChange()),
                 signedNumber(record.logPUnsafeChange()), QString::fromStdString(row.result.judge)));
    emit ablated(row);
    nlohmann::json json = row.result;
    json["model_state"] = row.state.toStdString();
    emit resultReady(QStringLiteral("ablation-%1-layer-%2").arg(record.recordId).arg(record.plan.layer), toQJson(json));
}

}  // namespace detox::ui
