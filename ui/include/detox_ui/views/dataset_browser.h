// The dataset browser: SafeEdit records in a filterable table (category, attack, text search) and
// a read-only detail view of the selected record. Loading runs as a background job.
#pragma once
#include <QAbstractTableModel>
#include <QSortFilterProxyModel>
#include <QWidget>

#include <memory>
#include <vector>

#include "detox/runtime/model.h"
#include "detox/safeedit/safeedit.h"
#include "detox_ui/jobs/job_runner.h"

class QComboBox;
class QLabel;
class QLineEdit;
class QTableView;
class QTextBrowser;

namespace detox::ui {

class SafeEditTableModel : public QAbstractTableModel {
    Q_OBJECT
public:
    // Position: the record's 0-based place in the file (the order evaluate's --limit/--shard and the
    // default sort use); Id: the record's "id" field.
    enum Column { Position, Id, Category, AttackCategory, AttackName, Question, ColumnCount };
    enum Role { RecordIdRole = Qt::UserRole + 1, SearchTextRole };

    explicit SafeEditTableModel(QObject* parent = nullptr);
    void setDataset(std::shared_ptr<const detox::SafeEditDataset> dataset);
    const detox::SafeEditRecord* record(int row) const;

    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role) const override;

private:
    std::shared_ptr<const detox::SafeEditDataset> dataset_;
};

// Category, attack (category or name) and case-insensitive text search, all combined.
class SafeEditFilterModel : public QSortFilterProxyModel {
    Q_OBJECT
public:
    explicit SafeEditFilterModel(QObject* parent = nullptr);
    void setCategory(const QString& category);          // empty: all
    void setAttackCategory(const QString& attackCategory);  // empty: all
    void setAttackName(const QString& attackName);      // empty: all
    void setSearchText(const QString& text);            // matches id, question, prompt, attack name

protected:
    bool filterAcceptsRow(int sourceRow, const QModelIndex& sourceParent) const override;
    bool lessThan(const QModelIndex& left, const QModelIndex& right) const override;

private:
    QString category_, attackCategory_, attackName_, search_;
};

class DatasetBrowser : public QWidget {
    Q_OBJECT
public:
    explicit DatasetBrowser(JobRunner* runner, QWidget* parent = nullptr);

    // Loads in the background (job "Load dataset"); on success replaces the dataset and selects
    // selectId (when >= 0, else the first row); on failure shows a dialog and keeps the old dataset.
    JobId loadDataset(const QString& path, int selectId = -1);
    void setDataset(std::shared_ptr<const detox::SafeEditDataset> dataset, int selectId = -1);

    std::shared_ptr<const detox::SafeEditDataset> dataset() const { return dataset_; }
    QString datasetPath() const;
    int selectedRecordId() const;              // -1 when none
    const detox::SafeEditRecord* selectedRecord() const;
    bool selectRecord(int id);                 // clears filters that would hide it
    int visibleRecordCount() const;
    std::vector<int> visibleRecordIds() const;  // in the table's order (filters, search, sort)
    QString detailText() const;                // the detail view as plain text
    void refreshDetail();                      // re-styles the detail view (after a theme change)
    // The loaded model, for the detail's context line: which of the record's texts are longer than the
    // model's context and are cut to their last tokens when run (context_policy.h). Null: no line.
    void setContextModel(std::shared_ptr<const detox::Model> model);

    QTableView* table() const { return table_; }
    QComboBox* categoryFilter() const { return categoryFilter_; }
    QComboBox* attackFilter() const { return attackFilter_; }
    QLineEdit* searchField() const { return search_; }
    QTextBrowser* detailView() const { return detail_; }

    static QStringList recentFiles();
    static void addRecentFile(const QString& path);

signals:
    void recordSelected(int id);
    void datasetLoaded(const QString& path, int records);
    void datasetLoadFailed(const QString& path, const QString& message);

private:
    void rebuildFilters();
    void applyAttackFilter(int comboIndex);
    void showRecord(const detox::SafeEditRecord* record);
    QString contextLine(const detox::SafeEditRecord& record) const;
    void updateCountLabel();

    JobRunner* runner_ = nullptr;
    std::shared_ptr<const detox::SafeEditDataset> dataset_;
    SafeEditTableModel* model_ = nullptr;
    SafeEditFilterModel* filter_ = nullptr;
    QLabel* title_ = nullptr;
    QLabel* count_ = nullptr;
    QComboBox* categoryFilter_ = nullptr;
    QComboBox* attackFilter_ = nullptr;
    QLineEdit* search_ = nullptr;
    QTableView* table_ = nullptr;
    QTextBrowser* detail_ = nullptr;
    int shownRecordId_ = -1;
    std::shared_ptr<const detox::Model> contextModel_;
};

}  // namespace detox::ui
