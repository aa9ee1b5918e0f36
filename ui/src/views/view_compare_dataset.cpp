// The Compare view's dataset level: compareMethods over many records as a job, its metrics table and the
// figures `detox report` draws for it (figures_comparison.h).
#include <QCheckBox>
#include <QComboBox>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QProgressBar>
#include <QPushButton>
#include <QScrollArea>
#include <QSpinBox>
#include <QTabWidget>
#include <QTableWidget>
#include <QVBoxLayout>

#include <algorithm>

#include "detox/analysis/comparison.h"
#include "detox/safeedit/judge.h"
#include "detox_ui/figures/figures_comparison.h"
#include "detox_ui/figures/plot_view.h"
#include "detox_ui/views/eval_protocol_choice.h"
#include "detox_ui/views/view_compare.h"
#include "view_support.h"

namespace detox::ui {

namespace {

constexpr int kDatasetPlotColumns = 2;  // three a row clipped the report figures' long titles
constexpr int kDefaultRecordLimit = 10;

QStringList datasetTableHeaders() {
    return {QStringLiteral("DS"),         QStringLiteral("DG_onlyQ"), QStringLiteral("DG_otherA"),
            QStringLiteral("DG_otherQ"),  QStringLiteral("DG_otherAQ"), QStringLiteral("DG_Avg"),
            QStringLiteral("fluency"),    QStringLiteral("knowledge accuracy"), QStringLiteral("judge"),
            QStringLiteral("protocol")};
}

// One table row, formatted as `detox report`'s metrics table (rates x100 to 0.1, the rest to 0.001).
QStringList datasetTableRow(const detox::EvaluationResult& evaluation, const std::string& protocol) {
    const detox::SafetyMetrics& m = evaluation.metrics.safety;
    QStringList cells;
    for (const std::string& key : detox::safetyRateKeys())
        cells << QString::fromStdString(detox::formatRate(detox::safetyRate(m, key), 1));  // "n/a": not measured
    cells << QString::number(m.fluency, 'f', 3);
    const auto knowledge = evaluation.metrics.knowledgeAccuracy;
    cells << (knowledge ? QString::number(*knowledge, 'f', 3) : QStringLiteral("n/a"));  // not measured
    const QString judge = QString::fromStdString(evaluation.judgeName);
    // The rule judge's name may already say so ("rules-v1 (heuristic)").
    const bool named = judge.contains(QStringLiteral("heuristic"));
    cells << (evaluation.heuristicJudge && !named ? judge + QStringLiteral(" (heuristic)") : judge);
    cells << QString::fromStdString(protocol);
    return cells;
}

QString comparisonSummary(const detox::ComparisonResult& result) {
    QStringList parts{QStringLiteral("original DS %1").arg(QString::fromStdString(detox::formatRate(result.baseline.metrics.safety.DS)))};
    for (const auto& method : result.methods)
        parts << QStringLiteral("%1 DS %2").arg(QString::fromStdString(method.method))
                     .arg(QString::fromStdString(detox::formatRate(method.evaluation.metrics.safety.DS)));
    const size_t records = result.baseline.cases.size();
    return QStringLiteral("%1 %2: %3; %4")
        .arg(records)
        .arg(records == 1 ? QStringLiteral("record") : QStringLiteral("records"))
        .arg(parts.join(", "), QString::fromStdString(detox::comparisonProtocolNote(result)));
}

// The records edited, in selection order.
std::vector<int> comparedRecordIds(const detox::ComparisonResult& result) {
    std::vector<int> ids;
    for (const auto& method : result.methods)
        for (const auto& edit : method.edits)
            if (std::find(ids.begin(), ids.end(), edit.recordId) == ids.end()) ids.push_back(edit.recordId);
    return ids;
}

}  // namespace

QWidget* CompareView::buildDatasetSection() {
    auto* page = new QWidget(this);
    recordLimit_ = new QSpinBox(page);
    recordLimit_->setRange(1, 100000);
    recordLimit_->setValue(kDefaultRecordLimit);
    recordLimit_->setPrefix(tr("at most "));
    recordLimit_->setSuffix(tr(" records"));
    compareButton_ = new QPushButton(tr("Compare methods on visible records"), page);
    compareButton_->setObjectName("compareDatasetButton");
    cancelCompareButton_ = new QPushButton(tr("Cancel"), page);
    compareProgress_ = new QProgressBar(page);
    compareStatus_ = new QLabel(tr("Every method of the Edit tab (DINM, SFT, DPO and the prompt-only baselines) repairs "
                                   "every visible record (up to the limit) from the loaded model, as `detox compare` "
                                   "does; settings as the Edit tab pre-fills them."),
                                page);
    compareStatus_->setWordWrap(true);
    protocolCombo_ = makeEvalProtocolCombo(page);
    protocolCombo_->setObjectName("compareEvalProtocol");
    compatCheck_ = new QCheckBox(tr("EasyEdit-compatible DINM"), page);
    compatCheck_->setObjectName("compareEasyEditCompat");
    compatCheck_->setToolTip(tr("DINM exactly as EasyEdit runs it (its texts and label alignment, no constraint gradient, "
                                "GPT-2's bias, the easyedit-left toxic layer located once on the first record; "
                                "docs/easyedit-deviations.md). Checking it chooses the easyedit evaluation protocol and, "
                                "where the Edit tab's chat format is 'detected', the plain one, as --easyedit-compat does. "
                                "This box, not the Edit tab's, decides for the comparison."));
    // As --easyedit-compat: EasyEdit's evaluation with it; the combo shows it and may be changed back.
    connect(compatCheck_, &QCheckBox::clicked, this, [this](bool checked) {
        chooseEvalProtocol(protocolCombo_, checked ? detox::EvalProtocol::EasyEdit : detox::EvalProtocol::Plain);
    });
    auto* controls = new QHBoxLayout;
    controls->addWidget(recordLimit_);
    controls->addWidget(compatCheck_);
    auto* protocolLabel = new QLabel(tr("Evaluation protocol:"), page);
    protocolLabel->setSizePolicy(QSizePolicy::Fixed, QSizePolicy::Preferred);  // beside its combo, not spread out
    controls->addWidget(protocolLabel);
    controls->addWidget(protocolCombo_);
    controls->addWidget(compareButton_);
    controls->addWidget(cancelCompareButton_);
    controls->addWidget(compareProgress_, 1);

    datasetTable_ = new QTableWidget(0, 0, page);
    datasetTable_->setEditTriggers(QAbstractItemView::NoEditTriggers);
    // Sized whenever shown, with the header's own font: sized once while hidden, "knowledge accuracy"
    // came out as "owledge accura".
    datasetTable_->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
    datasetRecord_ = new QComboBox(page);
    datasetPlotHost_ = new QWidget(page);
    datasetPlotHost_->setLayout(new QGridLayout);
    auto* scroll = new QScrollArea(page);
    scroll->setWidgetResizable(true);
    scroll->setWidget(datasetPlotHost_);
    auto* recordRow = new QHBoxLayout;
    recordRow->addWidget(new QLabel(tr("Figures of the edits of:"), page));
    recordRow->addWidget(datasetRecord_);
    recordRow->addStretch(1);

    auto* layout = new QVBoxLayout(page);
    layout->addLayout(controls);
    layout->addWidget(compareStatus_);
    layout->addWidget(datasetTable_, 1);
    layout->addLayout(recordRow);
    layout->addWidget(scroll, 4);

    connect(compareButton_, &QPushButton::clicked, this, &CompareView::datasetComparisonRequested);
    connect(cancelCompareButton_, &QPushButton::clicked, this, &CompareView::cancelDatasetComparison);
    connect(datasetRecord_, &QComboBox::currentIndexChanged, this, [this] { redrawDatasetFigures(); });
    fillDatasetTable();
    updateCompareEnabled();
    return page;
}

detox::EvalProtocol CompareView::evalProtocol() const { return chosenEvalProtocol(protocolCombo_); }

bool CompareView::easyEditCompat() const { return compatCheck_->isChecked(); }

void CompareView::setModel(std::shared_ptr<detox::Model> model) {
    model_ = std::move(model);
    updateCompareEnabled();
}

void CompareView::setJobRunner(JobRunner* runner) {
    if (runner_) disconnect(runner_, nullptr, this, nullptr);
    runner_ = runner;
    if (runner_) connect(runner_, &JobRunner::jobProgress, this, &CompareView::onCompareProgress);
    updateCompareEnabled();
}

void CompareView::updateCompareEnabled() {
    compareButton_->setEnabled(model_ && runner_ && !isComparing());
    protocolCombo_->setEnabled(!isComparing());
    compatCheck_->setEnabled(!isComparing());
    cancelCompareButton_->setEnabled(isComparing());
    compareProgress_->setVisible(isComparing());
}

JobId CompareView::runDatasetComparison(std::shared_ptr<const detox::SafeEditDataset> dataset,
                                        const detox::ComparisonSettings& settings) {
    if (!model_ || !runner_ || !dataset || isComparing()) return 0;
    JobOptions options;
    QStringList methods;
    for (const std::string& method : settings.methods) methods << QString::fromStdString(method);
    const int records = int(settings.evaluation.ids.size());
    options.name = records == 1 ? tr("Compare %1 on 1 record").arg(methods.join(", "))
                                : tr("Compare %1 on %2 records").arg(methods.join(", ")).arg(records);
    options.settings = toQJson(detox::comparisonSettingsJson(settings));
    options.queue = modelQueue(*model_);
    auto model = model_;
    comparisonJob_ = runner_->submit(JobSpec<detox::ComparisonResult>{
        .options = options,
        .work = [model, dataset, settings](detox::JobControl& job) {
            auto judge = detox::makeRuleJudge();
            return detox::compareMethods(*model, *dataset, *judge, settings, job);
        },
        .onSuccess = [this](detox::ComparisonResult& result) {
            comparisonJob_ = 0;
            showDatasetComparison(result);
            updateCompareEnabled();
            emit datasetComparisonFinished();
        },
        .describe = [](const detox::ComparisonResult& result) {
            return ResultDescription{comparisonSummary(result), toQJson(nlohmann::json(result))};
        },
        .onFailure = [this](const RunLogEntry& entry) {
            comparisonJob_ = 0;
            updateCompareEnabled();
            compareStatus_->setText(entry.status == JobStatus::Cancelled
                                        ? tr("Comparison cancelled; the model is unchanged.")
                                        : tr("Comparison failed: %1").arg(entry.message));
            emit datasetComparisonFailed(entry.message, entry.status == JobStatus::Cancelled);
        },
        .receiver = this});
    compareProgress_->setRange(0, 0);
    compareStatus_->setText(tr("Comparing on %1 records...").arg(settings.evaluation.ids.size()));
    updateCompareEnabled();
    return comparisonJob_;
}

void CompareView::cancelDatasetComparison() {
    if (runner_ && isComparing()) runner_->cancel(comparisonJob_);
}

void CompareView::onCompareProgress(JobId id, const detox::Progress& progress) {
    if (id != comparisonJob_ || comparisonJob_ == 0) return;
    if (progress.total > 0) {
        compareProgress_->setRange(0, progress.total);
        compareProgress_->setValue(progress.step);
    }
    compareStatus_->setText(QString::fromStdString(progress.message));
}

void CompareView::showDatasetComparison(const detox::ComparisonResult& result) {
    comparison_ = result;
    compareStatus_->setText(comparisonSummary(result));
    datasetRecord_->blockSignals(true);
    datasetRecord_->clear();
    for (int recordId : comparedRecordIds(result)) datasetRecord_->addItem(tr("record %1").arg(recordId), recordId);
    datasetRecord_->blockSignals(false);
    fillDatasetTable();
    redrawDatasetFigures();
}

void CompareView::showDatasetSection() { sections_->setCurrentIndex(1); }

void CompareView::fillDatasetTable() {
    const QStringList headers = datasetTableHeaders();
    datasetTable_->clear();
    datasetTable_->setColumnCount(int(headers.size()));
    datasetTable_->setHorizontalHeaderLabels(headers);
    if (!comparison_) {
        datasetTable_->setRowCount(0);
        return;
    }
    QStringList rowNames{QStringLiteral("original")};
    QVector<QStringList> rows{datasetTableRow(comparison_->baseline, detox::evaluationProtocol(comparison_->baseline))};
    for (const auto& method : comparison_->methods) {
        rowNames << QString::fromStdString(method.method);
        rows.append(datasetTableRow(method.evaluation, detox::rowProtocol(method)));
    }
    datasetTable_->setRowCount(int(rows.size()));
    datasetTable_->setVerticalHeaderLabels(rowNames);
    for (int row = 0; row < rows.size(); ++row)
        for (int col = 0; col < rows[row].size(); ++col)
            datasetTable_->setItem(row, col, new QTableWidgetItem(rows[row][col]));
    for (int row = 0; row < rows.size(); ++row) datasetTable_->item(row, int(headers.size()) - 1)->setToolTip(evalProtocolToolTip());
}

QVector<FigureSpec> CompareView::datasetFigures() const {
    if (!comparison_) return {};
    // The per-edit figures of one record at a time: all of them would be hundreds of plots.
    std::optional<int> record;
    if (datasetRecord_->currentIndex() >= 0) record = datasetRecord_->currentData().toInt();
    return comparisonFigures(*comparison_, QStringLiteral("compare-"), record);
}

void CompareView::redrawDatasetFigures() {
    fillPlotGrid(datasetPlotHost_, datasetPlots_, datasetFigures(), kDatasetPlotColumns, QSize(420, 300));
}

}  // namespace detox::ui
