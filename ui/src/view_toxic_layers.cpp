#include <QCheckBox>
#include <QComboBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QPushButton>
#include <QVBoxLayout>

#include <nlohmann/json.hpp>

#include "detox_ui/figures_core.h"
#include "detox_ui/plot_view.h"
#include "detox_ui/views.h"
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

    auto* controls = new QHBoxLayout;
    controls->addWidget(new QLabel(tr("Variant:"), this));
    controls->addWidget(variantCombo_);
    controls->addWidget(overlayCheck_);
    controls->addWidget(locateButton_);
    controls->addStretch(1);
    auto* layout = new QVBoxLayout(this);
    layout->addLayout(controls);
    layout->addWidget(status_);
    layout->addWidget(plot_, 1);

    connect(locateButton_, &QPushButton::clicked, this, &ToxicLayersView::locate);
    updateEnabled();
}

void ToxicLayersView::setModel(std::shared_ptr<detox::Model> model) {
    model_ = std::move(model);
    results_.clear();
    plot_->clearFigure(tr("Select a record and press Locate"));
    updateEnabled();
}

void ToxicLayersView::setRecord(const detox::SafeEditRecord& record) {
    record_ = record;
    results_.clear();
    plot_->clearFigure(tr("Record %1: press Locate").arg(record.id));
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
    runner_->submit(
        options,
        [model, record, variant](detox::JobControl& job) {
            job.checkpoint();
            return detox::locateToxicLayer(*model, record, variant);
        },
        [this](detox::LocateResult& result) {
            running_ = false;
            showResult(result);
            updateEnabled();
        },
        [](const detox::LocateResult& result) {
            nlohmann::json json = result;
            return ResultDescription{QStringLiteral("toxic layer %1").arg(result.toxicLayer), toQJson(json)};
        },
        [this](const RunLogEntry& entry) {
            running_ = false;
            status_->setText(entry.message);
            updateEnabled();
        });
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

}  // namespace detox::ui
