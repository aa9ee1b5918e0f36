#include "detox_ui/views/model_panel.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDir>
#include <QFormLayout>
#include <QGroupBox>
#include <QLabel>
#include <QPushButton>
#include <QStandardItemModel>
#include <QVBoxLayout>

#include <exception>

namespace detox::ui {

QString formatBytes(long long bytes) {
    const double value = double(bytes);
    if (value >= 1e9) return QStringLiteral("%1 GB").arg(value / 1e9, 0, 'f', 2);
    if (value >= 1e6) return QStringLiteral("%1 MB").arg(value / 1e6, 0, 'f', 1);
    if (value >= 1e3) return QStringLiteral("%1 KB").arg(value / 1e3, 0, 'f', 0);
    return QStringLiteral("%1 B").arg(bytes);
}

QString formatCount(long long count) {
    const double value = double(count);
    if (value >= 1e9) return QStringLiteral("%1 B").arg(value / 1e9, 0, 'f', 2);
    if (value >= 1e6) return QStringLiteral("%1 M").arg(value / 1e6, 0, 'f', 1);
    if (value >= 1e3) return QStringLiteral("%1 K").arg(value / 1e3, 0, 'f', 1);
    return QString::number(count);
}

QString nonFiniteWarning(const detox::Model& model) {
    const auto& names = model.nonFiniteWeightsAtLoad();
    if (names.empty()) return {};
    QStringList shown;
    for (size_t i = 0; i < names.size() && i < 5; ++i) shown << QString::fromStdString(names[i]);
    if (names.size() > 5) shown << QObject::tr("and %1 more").arg(names.size() - 5);
    const QString found = QObject::tr("%n tensor(s) hold NaN or infinite values: %1. Outputs are not meaningful.", nullptr,
                                      int(names.size()))
                              .arg(shown.join(", "));
    return found + " " + (model.nonFiniteWeightsAllowed()
                              ? QObject::tr("Allowed at load: edits and saves go ahead, and every result records it.")
                              : QObject::tr("Editing and saving are refused: check 'Allow NaN/Inf weights' below and "
                                            "reload to go on anyway."));
}

ModelPanel::ModelPanel(QWidget* parent) : QWidget(parent) {
    setObjectName("modelPanel");
    headline_ = new QLabel(this);
    headline_->setObjectName("modelHeadline");
    headline_->setWordWrap(true);
    headline_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    details_ = new QWidget(this);
    form_ = new QFormLayout(details_);
    form_->setContentsMargins(0, 0, 0, 0);
    form_->setLabelAlignment(Qt::AlignRight);
    addField("architecture", tr("Architecture"));
    addField("layers", tr("Layers"));
    addField("hidden", tr("Hidden size"));
    addField("parameters", tr("Parameters"));
    addField("dtype", tr("Stored dtype"));
    addField("weights", tr("Weights"));
    addField("memory", tr("Memory"));
    addField("state", tr("State"));
    addField("path", tr("Path"));
    fields_["path"]->setWordWrap(true);
    addField("warning", tr("Warning"));
    fields_["warning"]->setWordWrap(true);
    fields_["warning"]->setStyleSheet("color: #c0392b;");
    form_->setRowVisible(fields_["warning"], false);
    auto* layout = new QVBoxLayout(this);
    layout->addWidget(headline_);
    layout->addWidget(details_);
    layout->addWidget(buildLoadOptions());
    layout->addStretch(1);
    details_->hide();
    headline_->setText(tr("<b>No model loaded</b><br>File &gt; Open Model (Ctrl+Shift+O)"));
}

QWidget* ModelPanel::buildLoadOptions() {
    auto* box = new QGroupBox(tr("Load options (next Open Model)"), this);
    weightMode_ = new QComboBox(box);
    weightMode_->setObjectName("loadWeightMode");
    weightMode_->addItem(tr("auto: F32 if it fits, else as stored"), "auto");
    weightMode_->addItem(tr("f32: convert every weight at load (fastest)"), "f32");
    weightMode_->addItem(tr("stored: keep BF16/F16 mapped, convert per layer"), "stored");
    weightMode_->setToolTip(tr("How the weights are held in memory; compute is F32 on the CPU either way. A 7B BF16 "
                               "model needs about 27 GB as F32 and 13.5 GB as stored."));
    device_ = new QComboBox(box);
    device_->setObjectName("loadDevice");
    device_->addItem("cpu", "cpu");
    device_->addItem("cuda", "cuda");
    try {
        detox::checkDevice("cuda");
    } catch (const std::exception& error) {
        // This LibTorch has no CUDA: say so on the item instead of failing at load time.
        auto* items = static_cast<QStandardItemModel*>(device_->model());
        items->item(1)->setEnabled(false);
        items->item(1)->setToolTip(QString::fromStdString(error.what()));
        device_->setToolTip(QString::fromStdString(error.what()));
    }
    allowNonFinite_ = new QCheckBox(tr("Allow NaN/Inf weights (edit and save anyway)"), box);
    allowNonFinite_->setObjectName("loadAllowNonFinite");
    allowNonFinite_->setToolTip(tr("A checkpoint with NaN or infinite weights always loads, with a warning naming the "
                                   "tensors; editing and saving it are refused unless this is set, and then every "
                                   "result records it."));
    reload_ = new QPushButton(tr("Reload with these options"), box);
    reload_->setObjectName("reloadModel");
    reload_->setEnabled(false);
    connect(reload_, &QPushButton::clicked, this, &ModelPanel::reloadRequested);
    auto* form = new QFormLayout(box);
    form->addRow(tr("Weights:"), weightMode_);
    form->addRow(tr("Device:"), device_);
    form->addRow(allowNonFinite_);
    form->addRow(reload_);
    return box;
}

detox::LoadOptions ModelPanel::loadOptions() const {
    detox::LoadOptions options;
    options.weights = *detox::weightModeFromName(weightMode_->currentData().toString().toStdString());
    options.device = device_->currentData().toString().toStdString();
    options.allowNonFiniteWeights = allowNonFinite_->isChecked();
    return options;
}

QLabel* ModelPanel::addField(const QString& key, const QString& title) {
    auto* value = new QLabel(details_);
    value->setObjectName(QStringLiteral("modelField_%1").arg(key));
    value->setTextInteractionFlags(Qt::TextSelectableByMouse);
    form_->addRow(title + QLatin1Char(':'), value);
    fields_[key] = value;
    return value;
}

QString ModelPanel::field(const QString& key) const {
    const auto found = fields_.find(key);
    return found == fields_.end() ? QString() : found.value()->text();
}

void ModelPanel::showLoading(const QString& directory) {
    headline_->setText(tr("<b>Loading...</b><br>%1").arg(QDir::toNativeSeparators(directory).toHtmlEscaped()));
}

void ModelPanel::showModel(const detox::CheckpointInfo& info, const detox::Model& model) {
    const detox::ModelConfig& config = info.config;
    headline_->setText(tr("<b>%1</b>").arg(QDir(QString::fromStdString(info.directory)).dirName().toHtmlEscaped()));
    fields_["architecture"]->setText(QString::fromStdString(config.hfArchitecture));
    fields_["layers"]->setText(QString::number(config.numLayers));
    fields_["hidden"]->setText(tr("%1 (MLP %2, %3 heads)")
                                   .arg(config.hiddenSize)
                                   .arg(config.intermediateSize)
                                   .arg(config.numHeads));
    fields_["parameters"]->setText(formatCount(model.parameterCount()));
    fields_["dtype"]->setText(QString::fromStdString(config.storedDtype));
    fields_["weights"]->setText(QString::fromStdString(model.weightsDescription()));
    fields_["weights"]->setWordWrap(true);
    QString memory =
        tr("%1 weights as held, %2 total").arg(formatBytes(model.weightBytes()), formatBytes(info.memory.totalBytes));
    if (info.memory.availableBytes > 0) memory += tr(" of %1 free").arg(formatBytes(info.memory.availableBytes));
    fields_["memory"]->setText(memory);
    fields_["path"]->setText(QDir::toNativeSeparators(QString::fromStdString(info.directory)));
    fields_["path"]->setToolTip(fields_["path"]->text());
    const QString warning = nonFiniteWarning(model);
    fields_["warning"]->setText(warning);
    form_->setRowVisible(fields_["warning"], !warning.isEmpty());
    setEdited(false);
    details_->show();
    reload_->setEnabled(true);
}

void ModelPanel::showFailure(const QString& directory, const QString& message) {
    headline_->setText(tr("<b>Could not load</b> %1<br>%2")
                           .arg(QDir::toNativeSeparators(directory).toHtmlEscaped(), message.toHtmlEscaped()));
}

void ModelPanel::setEdited(bool edited) {
    fields_["state"]->setText(edited ? tr("edited (unsaved)") : tr("as loaded"));
}

}  // namespace detox::ui
