// The Run log: every finished job with its settings, timing, status and result; double-click
// opens the result JSON read-only. Also the status-bar widget that shows the running job.
#pragma once
#include <QAbstractTableModel>
#include <QDialog>
#include <QWidget>

#include "detox_ui/jobs/job_runner.h"

class QLabel;
class QPlainTextEdit;
class QProgressBar;
class QTableView;
class QToolButton;

namespace detox::ui {

class RunLogModel : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column { Name, Status, Started, Duration, Summary, ColumnCount };
    explicit RunLogModel(QObject* parent = nullptr);

    void addEntry(const RunLogEntry& entry);
    void setEntries(const QVector<RunLogEntry>& entries);
    const QVector<RunLogEntry>& entries() const { return entries_; }
    const RunLogEntry& entry(int row) const { return entries_.at(row); }
    void clear();

    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role) const override;

private:
    QVector<RunLogEntry> entries_;
};

// Read-only view of one entry: settings and result as indented JSON.
class ResultViewer : public QDialog {
    Q_OBJECT
public:
    explicit ResultViewer(const RunLogEntry& entry, QWidget* parent = nullptr);
    QString text() const;

private:
    QPlainTextEdit* text_ = nullptr;
};

class RunLogView : public QWidget {
    Q_OBJECT
public:
    explicit RunLogView(RunLogModel* model, QWidget* parent = nullptr);
    QTableView* table() const { return table_; }
    // Opens the entry's result JSON in a (non-modal) viewer and returns it.
    ResultViewer* openResult(int row);

signals:
    void entryActivated(const detox::ui::RunLogEntry& entry);

private:
    RunLogModel* model_ = nullptr;
    QTableView* table_ = nullptr;
    QLabel* emptyHint_ = nullptr;
};

// Status-bar widget: the running job's name and message, a progress bar and a Cancel button.
// Hidden while nothing runs.
class JobProgressWidget : public QWidget {
    Q_OBJECT
public:
    explicit JobProgressWidget(JobRunner* runner, QWidget* parent = nullptr);
    QToolButton* cancelButton() const { return cancel_; }
    QProgressBar* progressBar() const { return bar_; }
    QLabel* label() const { return label_; }
    JobId currentJob() const { return current_; }

private:
    void showJob(JobId id, const QString& name);
    void showProgress(JobId id, const detox::Progress& progress);
    void jobEnded(const RunLogEntry& entry);
    void refreshQueuedHint();

    JobRunner* runner_ = nullptr;
    QLabel* label_ = nullptr;
    QProgressBar* bar_ = nullptr;
    QToolButton* cancel_ = nullptr;
    JobId current_ = 0;
    QString currentName_;
};

}  // namespace detox::ui
