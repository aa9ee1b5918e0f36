#include "detox_ui/views/run_log.h"

#include <QDialogButtonBox>
#include <QFontDatabase>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QJsonDocument>
#include <QLabel>
#include <QPlainTextEdit>
#include <QProgressBar>
#include <QTableView>
#include <QToolButton>
#include <QVBoxLayout>

#include <cmath>

namespace detox::ui {

namespace {

QString formatDuration(double seconds) {
    if (seconds < 1) return QString("%1 ms").arg(int(seconds * 1000));
    if (seconds < 120) return QString("%1 s").arg(seconds, 0, 'f', 1);
    return QString("%1 min %2 s").arg(int(seconds) / 60).arg(int(seconds) % 60);
}

QColor statusColor(JobStatus status) {
    switch (status) {
    case JobStatus::Succeeded: return QColor("#2e7d32");
    case JobStatus::Failed: return QColor("#c62828");
    case JobStatus::Cancelled: return QColor("#b26a00");
    default: return {};
    }
}

}  // namespace

RunLogModel::RunLogModel(QObject* parent) : QAbstractTableModel(parent) {}

void RunLogModel::addEntry(const RunLogEntry& entry) {
    beginInsertRows({}, entries_.size(), entries_.size());
    entries_.append(entry);
    endInsertRows();
}

void RunLogModel::setEntries(const QVector<RunLogEntry>& entries) {
    beginResetModel();
    entries_ = entries;
    endResetModel();
}

void RunLogModel::clear() { setEntries({}); }

int RunLogModel::rowCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : int(entries_.size()); }
int RunLogModel::columnCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : ColumnCount; }

QVariant RunLogModel::data(const QModelIndex& index, int role) const {
    if (!index.isValid() || index.row() >= entries_.size()) return {};
    const RunLogEntry& entry = entries_[index.row()];
    if (role == Qt::DisplayRole) {
        switch (index.column()) {
        case Name: return entry.name;
        case Status: return jobStatusName(entry.status);
        case Started: return entry.started.toLocalTime().toString("yyyy-MM-dd HH:mm:ss");
        // A view's result (main window's "results" queue) is no job: it has no duration of its own.
        case Duration: return entry.queue == QLatin1String("results") ? QString() : formatDuration(entry.durationSeconds);
        case Summary: return entry.status == JobStatus::Succeeded ? entry.resultSummary : entry.message;
        }
    }
    if (role == Qt::ForegroundRole && index.column() == Status) return statusColor(entry.status);
    if (role == Qt::ToolTipRole) return entry.message.isEmpty() ? entry.resultSummary : entry.message;
    if (role == Qt::TextAlignmentRole && index.column() == Duration) return int(Qt::AlignRight | Qt::AlignVCenter);
    return {};
}

QVariant RunLogModel::headerData(int section, Qt::Orientation orientation, int role) const {
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole) return {};
    switch (section) {
    case Name: return tr("Job");
    case Status: return tr("Status");
    case Started: return tr("Started");
    case Duration: return tr("Duration");
    case Summary: return tr("Result / message");
    }
    return {};
}

ResultViewer::ResultViewer(const RunLogEntry& entry, QWidget* parent) : QDialog(parent) {
    setWindowTitle(tr("Run result: %1").arg(entry.name));
    setObjectName("resultViewer");
    text_ = new QPlainTextEdit(this);
    text_->setReadOnly(true);
    text_->setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
    text_->setPlainText(QString::fromUtf8(QJsonDocument(entry.toJson()).toJson(QJsonDocument::Indented)));
    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Close, this);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    auto* layout = new QVBoxLayout(this);
    layout->addWidget(text_);
    layout->addWidget(buttons);
    resize(720, 560);
}

QString ResultViewer::text() const { return text_->toPlainText(); }

RunLogView::RunLogView(RunLogModel* model, QWidget* parent) : QWidget(parent), model_(model) {
    table_ = new QTableView(this);
    table_->setObjectName("runLogTable");
    table_->setModel(model);
    table_->setSelectionBehavior(QAbstractItemView::SelectRows);
    table_->setSelectionMode(QAbstractItemView::SingleSelection);
    table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
    table_->setAlternatingRowColors(true);
    table_->verticalHeader()->hide();
    table_->horizontalHeader()->setStretchLastSection(true);
    table_->horizontalHeader()->setSectionResizeMode(RunLogModel::Name, QHeaderView::ResizeToContents);
    table_->horizontalHeader()->setSectionResizeMode(RunLogModel::Status, QHeaderView::ResizeToContents);
    table_->horizontalHeader()->setSectionResizeMode(RunLogModel::Started, QHeaderView::ResizeToContents);
    table_->horizontalHeader()->setSectionResizeMode(RunLogModel::Duration, QHeaderView::ResizeToContents);
    emptyHint_ = new QLabel(tr("Finished jobs appear here. Double-click a row to see its settings and result."), this);
    emptyHint_->setEnabled(false);
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(8, 8, 8, 8);
    layout->addWidget(emptyHint_);
    layout->addWidget(table_, 1);
    connect(table_, &QTableView::doubleClicked, this, [this](const QModelIndex& index) { openResult(index.row()); });
}

ResultViewer* RunLogView::openResult(int row) {
    if (row < 0 || row >= model_->rowCount()) return nullptr;
    auto* viewer = new ResultViewer(model_->entry(row), this);
    viewer->setAttribute(Qt::WA_DeleteOnClose);
    viewer->show();
    emit entryActivated(model_->entry(row));
    return viewer;
}

JobProgressWidget::JobProgressWidget(JobRunner* runner, QWidget* parent) : QWidget(parent), runner_(runner) {
    setObjectName("jobProgress");
    label_ = new QLabel(this);
    label_->setMinimumWidth(220);
    bar_ = new QProgressBar(this);
    bar_->setFixedWidth(180);
    bar_->setMaximumHeight(16);
    bar_->setTextVisible(true);
    cancel_ = new QToolButton(this);
    cancel_->setObjectName("cancelJob");
    cancel_->setText(tr("Cancel"));
    cancel_->setToolTip(tr("Stop the running job at its next checkpoint"));
    auto* layout = new QHBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(label_);
    layout->addWidget(bar_);
    layout->addWidget(cancel_);
    connect(cancel_, &QToolButton::clicked, this, [this] {
        if (current_) {
            runner_->cancel(current_);
            label_->setText(tr("%1: cancelling...").arg(currentName_));
        }
    });
    connect(runner, &JobRunner::jobStarted, this, &JobProgressWidget::showJob);
    connect(runner, &JobRunner::jobProgress, this, &JobProgressWidget::showProgress);
    connect(runner, &JobRunner::jobFinished, this, &JobProgressWidget::jobEnded);
    connect(runner, &JobRunner::jobQueued, this, [this] { refreshQueuedHint(); });
    hide();
}

void JobProgressWidget::showJob(JobId id, const QString& name) {
    current_ = id;
    currentName_ = name;
    label_->setText(name);
    bar_->setRange(0, 0);  // busy indicator until the first progress report
    show();
    refreshQueuedHint();
}

void JobProgressWidget::showProgress(JobId id, const detox::Progress& progress) {
    if (id != current_) return;
    // The whole job (every phase of a record study), not only the current step count.
    const double done = detox::doneFraction(progress);
    if (done >= 0) {
        bar_->setRange(0, 1000);
        bar_->setValue(int(std::lround(1000 * done)));
    }
    QString text = currentName_;
    if (progress.phaseCount > 0)
        text += tr(" [%1 of %2: %3]").arg(progress.phaseIndex).arg(progress.phaseCount).arg(QString::fromStdString(progress.phase));
    if (!progress.message.empty()) text += ": " + QString::fromStdString(progress.message);
    for (const auto& [key, value] : progress.values)
        text += QString("  %1 %2").arg(QString::fromStdString(key)).arg(value, 0, 'g', 4);
    label_->setText(text);
}

void JobProgressWidget::jobEnded(const RunLogEntry& entry) {
    if (entry.id == current_) current_ = 0;
    if (!runner_->isBusy()) hide();
    refreshQueuedHint();
}

void JobProgressWidget::refreshQueuedHint() {
    const int waiting = runner_->pendingCount() - (current_ ? 1 : 0);
    cancel_->setEnabled(current_ != 0);
    setToolTip(waiting > 0 ? tr("%n more job(s) queued", nullptr, waiting) : QString());
}

}  // namespace detox::ui
