#include "detox_ui/views/model_panel.h"

#include <QDir>
#include <QFormLayout>
#include <QLabel>
#include <QVBoxLayout>

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
    addField("memory", tr("Memory (F32)"));
    addField("state", tr("State"));
    addField("path", tr("Path"));
    fields_["path"]->setWordWrap(true);
    auto* layout = new QVBoxLayout(this);
    layout->addWidget(headline_);
    layout->addWidget(details_);
    layout->addStretch(1);
    details_->hide();
    headline_->setText(tr("<b>No model loaded</b><br>File &gt; Open Model (Ctrl+Shift+O)"));
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

void ModelPanel::showModel(const detox::CheckpointInfo& info, long long parameters, long long weightBytes) {
    const detox::ModelConfig& config = info.config;
    headline_->setText(tr("<b>%1</b>").arg(QDir(QString::fromStdString(info.directory)).dirName().toHtmlEscaped()));
    fields_["architecture"]->setText(QString::fromStdString(config.hfArchitecture));
    fields_["layers"]->setText(QString::number(config.numLayers));
    fields_["hidden"]->setText(tr("%1 (MLP %2, %3 heads)")
                                   .arg(config.hiddenSize)
                                   .arg(config.intermediateSize)
                                   .arg(config.numHeads));
    fields_["parameters"]->setText(formatCount(parameters));
    fields_["dtype"]->setText(QString::fromStdString(config.storedDtype));
    QString memory = tr("%1 weights, %2 total").arg(formatBytes(weightBytes), formatBytes(info.memory.totalBytes));
    if (info.memory.availableBytes > 0) memory += tr(" of %1 free").arg(formatBytes(info.memory.availableBytes));
    fields_["memory"]->setText(memory);
    fields_["path"]->setText(QDir::toNativeSeparators(QString::fromStdString(info.directory)));
    fields_["path"]->setToolTip(fields_["path"]->text());
    setEdited(false);
    details_->show();
}

void ModelPanel::showFailure(const QString& directory, const QString& message) {
    headline_->setText(tr("<b>Could not load</b> %1<br>%2")
                           .arg(QDir::toNativeSeparators(directory).toHtmlEscaped(), message.toHtmlEscaped()));
}

void ModelPanel::setEdited(bool edited) {
    fields_["state"]->setText(edited ? tr("edited (unsaved)") : tr("as loaded"));
}

}  // namespace detox::ui
