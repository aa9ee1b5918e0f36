#include "detox_ui/views/dataset_browser.h"

#include <QComboBox>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QJsonArray>
#include <QLabel>
#include <QLineEdit>
#include <QMessageBox>
#include <QPointer>
#include <QSettings>
#include <QSplitter>
#include <QTableView>
#include <QTextBrowser>
#include <QVBoxLayout>

#include <set>

#include "detox_ui/workbench/theme.h"

namespace detox::ui {

namespace {

QString qs(const std::string& text) { return QString::fromStdString(text); }

constexpr int kMaxRecentFiles = 8;
const char* kRecentKey = "datasetBrowser/recentFiles";

// Attack combo entries carry (kind, value): kind "category" or "name"; the first entry is "all".
QStringList attackEntry(const QString& kind, const QString& value) { return {kind, value}; }

}  // namespace

// ---- table model ----

SafeEditTableModel::SafeEditTableModel(QObject* parent) : QAbstractTableModel(parent) {}

void SafeEditTableModel::setDataset(std::shared_ptr<const detox::SafeEditDataset> dataset) {
    beginResetModel();
    dataset_ = std::move(dataset);
    endResetModel();
}

const detox::SafeEditRecord* SafeEditTableModel::record(int row) const {
    if (!dataset_ || row < 0 || row >= int(dataset_->records.size())) return nullptr;
    return &dataset_->records[size_t(row)];
}

int SafeEditTableModel::rowCount(const QModelIndex& parent) const {
    return parent.isValid() || !dataset_ ? 0 : int(dataset_->records.size());
}

int SafeEditTableModel::columnCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : ColumnCount; }

QVariant SafeEditTableModel::data(const QModelIndex& index, int role) const {
    const detox::SafeEditRecord* record = this->record(index.row());
    if (!record) return {};
    switch (role) {
    case Qt::DisplayRole:
        switch (index.column()) {
        case Position: return index.row();
        case Id: return record->id;
        case Category: return qs(record->category);
        case AttackCategory: return qs(record->attackCategory);
        case AttackName: return qs(record->attackName);
        case Question: return qs(record->question).simplified();
        }
        return {};
    case Qt::ToolTipRole:
        if (index.column() == Position) return tr("Position %1 in the file (0-based)").arg(index.row());
        return index.column() == Question ? qs(record->question) : QVariant();
    case Qt::TextAlignmentRole:
        return index.column() == Id || index.column() == Position ? QVariant(int(Qt::AlignRight | Qt::AlignVCenter))
                                                                  : QVariant();
    case RecordIdRole: return record->id;
    case SearchTextRole:
        return QString("%1\n%2\n%3\n%4").arg(record->id).arg(qs(record->question), qs(record->adversarialPrompt),
                                                             qs(record->attackName));
    }
    return {};
}

QVariant SafeEditTableModel::headerData(int section, Qt::Orientation orientation, int role) const {
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole) return {};
    switch (section) {
    case Position: return tr("#");
    case Id: return tr("ID");
    case Category: return tr("Category");
    case AttackCategory: return tr("Attack category");
    case AttackName: return tr("Attack");
    case Question: return tr("Question");
    }
    return {};
}

// ---- filter ----

SafeEditFilterModel::SafeEditFilterModel(QObject* parent) : QSortFilterProxyModel(parent) {
    setSortRole(Qt::DisplayRole);
}

void SafeEditFilterModel::setCategory(const QString& category) {
    category_ = category;
    invalidateFilter();
}

void SafeEditFilterModel::setAttackCategory(const QString& attackCategory) {
    attackCategory_ = attackCategory;
    invalidateFilter();
}

void SafeEditFilterModel::setAttackName(const QString& attackName) {
    attackName_ = attackName;
    invalidateFilter();
}

void SafeEditFilterModel::setSearchText(const QString& text) {
    search_ = text.trimmed();
    invalidateFilter();
}

bool SafeEditFilterModel::filterAcceptsRow(int sourceRow, const QModelIndex&) const {
    const auto* model = static_cast<const SafeEditTableModel*>(sourceModel());
    const detox::SafeEditRecord* record = model->record(sourceRow);
    if (!record) return false;
    if (!category_.isEmpty() && qs(record->category) != category_) return false;
    if (!attackCategory_.isEmpty() && qs(record->attackCategory) != attackCategory_) return false;
    if (!attackName_.isEmpty() && qs(record->attackName) != attackName_) return false;
    if (search_.isEmpty()) return true;
    const QString haystack = model->index(sourceRow, 0).data(SafeEditTableModel::SearchTextRole).toString();
    return haystack.contains(search_, Qt::CaseInsensitive);
}

bool SafeEditFilterModel::lessThan(const QModelIndex& left, const QModelIndex& right) const {
    if (left.column() == SafeEditTableModel::Id || left.column() == SafeEditTableModel::Position)
        return left.data().toInt() < right.data().toInt();
    return QString::localeAwareCompare(left.data().toString(), right.data().toString()) < 0;
}

// ---- browser ----

DatasetBrowser::DatasetBrowser(JobRunner* runner, QWidget* parent) : QWidget(parent), runner_(runner) {
    setObjectName("datasetBrowser");
    model_ = new SafeEditTableModel(this);
    filter_ = new SafeEditFilterModel(this);
    filter_->setSourceModel(model_);

    title_ = new QLabel(tr("No dataset loaded. File > Open Dataset (Ctrl+O) or the demo."), this);
    title_->setObjectName("datasetTitle");
    title_->setWordWrap(true);
    QFont titleFont = title_->font();
    titleFont.setBold(true);
    title_->setFont(titleFont);

    categoryFilter_ = new QComboBox(this);
    categoryFilter_->setObjectName("categoryFilter");
    categoryFilter_->setToolTip(tr("Unsafety category"));
    categoryFilter_->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
    categoryFilter_->setMinimumContentsLength(16);
    attackFilter_ = new QComboBox(this);
    attackFilter_->setObjectName("attackFilter");
    attackFilter_->setToolTip(tr("Attack category or attack"));
    attackFilter_->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
    attackFilter_->setMinimumContentsLength(16);
    search_ = new QLineEdit(this);
    search_->setObjectName("datasetSearch");
    search_->setPlaceholderText(tr("Search question, prompt, attack, id"));
    search_->setClearButtonEnabled(true);
    count_ = new QLabel(this);
    count_->setObjectName("datasetCount");
    count_->setEnabled(false);

    table_ = new QTableView(this);
    table_->setObjectName("datasetTable");
    table_->setModel(filter_);
    table_->setSortingEnabled(true);
    table_->sortByColumn(SafeEditTableModel::Position, Qt::AscendingOrder);  // file order, as the CLI's --limit
    table_->setSelectionBehavior(QAbstractItemView::SelectRows);
    table_->setSelectionMode(QAbstractItemView::SingleSelection);
    table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
    table_->setAlternatingRowColors(true);
    table_->setWordWrap(false);
    table_->verticalHeader()->hide();
    table_->verticalHeader()->setDefaultSectionSize(table_->fontMetrics().height() + 8);
    table_->horizontalHeader()->setStretchLastSection(true);
    table_->horizontalHeader()->setHighlightSections(false);
    table_->setColumnWidth(SafeEditTableModel::Position, 40);
    table_->setColumnWidth(SafeEditTableModel::Id, 52);
    table_->setColumnWidth(SafeEditTableModel::Category, 130);
    table_->setColumnWidth(SafeEditTableModel::AttackCategory, 130);
    table_->setColumnWidth(SafeEditTableModel::AttackName, 110);

    detail_ = new QTextBrowser(this);
    detail_->setObjectName("recordDetail");
    detail_->setReadOnly(true);
    detail_->setOpenLinks(false);
    detail_->setLineWrapMode(QTextEdit::WidgetWidth);
    detail_->setPlaceholderText(tr("Select a record to see its prompts, generations and tests."));

    // One filter a row, each as wide as the dock: side by side, a narrow dock cut them ("All categ").
    auto* filters = new QVBoxLayout;
    filters->setSpacing(4);
    filters->addWidget(categoryFilter_);
    filters->addWidget(attackFilter_);
    filters->addWidget(search_);
    auto* top = new QWidget(this);
    auto* topLayout = new QVBoxLayout(top);
    topLayout->setContentsMargins(0, 0, 0, 0);
    topLayout->setSpacing(6);
    topLayout->addWidget(title_);
    topLayout->addLayout(filters);
    topLayout->addWidget(table_, 1);
    topLayout->addWidget(count_);
    auto* splitter = new QSplitter(Qt::Vertical, this);
    splitter->setObjectName("datasetSplitter");
    splitter->addWidget(top);
    splitter->addWidget(detail_);
    splitter->setStretchFactor(0, 3);
    splitter->setStretchFactor(1, 2);
    splitter->setChildrenCollapsible(false);
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(6, 6, 6, 6);
    layout->addWidget(splitter);

    connect(categoryFilter_, &QComboBox::currentIndexChanged, this, [this](int index) {
        filter_->setCategory(index <= 0 ? QString() : categoryFilter_->itemText(index));
        updateCountLabel();
    });
    connect(attackFilter_, &QComboBox::currentIndexChanged, this, &DatasetBrowser::applyAttackFilter);
    connect(search_, &QLineEdit::textChanged, this, [this](const QString& text) {
        filter_->setSearchText(text);
        updateCountLabel();
    });
    connect(table_->selectionModel(), &QItemSelectionModel::currentRowChanged, this,
            [this](const QModelIndex& current) {
                const QModelIndex source = filter_->mapToSource(current);
                showRecord(current.isValid() ? model_->record(source.row()) : nullptr);
            });
    rebuildFilters();
    updateCountLabel();
}

JobId DatasetBrowser::loadDataset(const QString& path, int selectId) {
    const QString name = QFileInfo(path).fileName();
    // The runner may outlive this widget; results for a destroyed browser are dropped.
    QPointer<DatasetBrowser> self(this);
    return runner_->submit(JobSpec<std::shared_ptr<const detox::SafeEditDataset>>{
        .options = {tr("Load dataset %1").arg(name), QJsonObject{{"path", path}}, QStringLiteral("dataset")},
        .work = [path](detox::JobControl& control) {
            control.report({0, 1, "reading " + path.toStdString(), {}});
            auto dataset = std::make_shared<const detox::SafeEditDataset>(detox::loadSafeEdit(path.toStdString()));
            control.report({1, 1, "loaded", {}});
            return dataset;
        },
        .onSuccess = [self, path, selectId](std::shared_ptr<const detox::SafeEditDataset>& dataset) {
            if (!self) return;
            self->setDataset(dataset, selectId);
            addRecentFile(path);
            emit self->datasetLoaded(path, int(dataset->records.size()));
        },
        .describe = [](const std::shared_ptr<const detox::SafeEditDataset>& dataset) {
            const detox::SafeEditSummary summary = detox::summarize(*dataset);
            QJsonObject categories;
            for (const auto& [category, count] : summary.categories) categories[qs(category)] = count;
            return ResultDescription{
                tr("%1 records, %2 categories").arg(summary.records).arg(summary.categories.size()),
                QJsonObject{{"path", qs(dataset->path)},
                            {"sha256", qs(dataset->sha256)},
                            {"records", summary.records},
                            {"with_generalization", summary.withGeneralization},
                            {"with_knowledge", summary.withKnowledge},
                            {"categories", categories}}};
        },
        .onFailure = [self, path](const RunLogEntry& entry) {
            if (!self || entry.status != JobStatus::Failed) return;
            emit self->datasetLoadFailed(path, entry.message);
            auto* box = new QMessageBox(QMessageBox::Warning, tr("Cannot open dataset"),
                                        tr("The dataset could not be loaded; the previous one stays open."),
                                        QMessageBox::Ok, self);
            box->setObjectName("datasetError");
            box->setInformativeText(entry.message);
            box->setAttribute(Qt::WA_DeleteOnClose);
            box->open();
        },
        .receiver = this});
}

void DatasetBrowser::setDataset(std::shared_ptr<const detox::SafeEditDataset> dataset, int selectId) {
    dataset_ = std::move(dataset);
    shownRecordId_ = -1;
    detail_->clear();
    {
        // Resetting filters must not re-filter three times against the new model.
        const QSignalBlocker blockCategory(categoryFilter_);
        const QSignalBlocker blockAttack(attackFilter_);
        const QSignalBlocker blockSearch(search_);
        search_->clear();
        filter_->setCategory({});
        filter_->setAttackCategory({});
        filter_->setAttackName({});
        filter_->setSearchText({});
        model_->setDataset(dataset_);
        rebuildFilters();
    }
    if (dataset_) {
        const detox::SafeEditSummary summary = detox::summarize(*dataset_);
        title_->setText(tr("%1  ·  %2 records  ·  %3 categories")
                            .arg(QFileInfo(qs(dataset_->path)).fileName())
                            .arg(summary.records)
                            .arg(summary.categories.size()));
        title_->setToolTip(qs(dataset_->path) + "\nSHA-256 " + qs(dataset_->sha256));
    }
    updateCountLabel();
    if (!dataset_ || dataset_->records.empty()) return;
    if (selectId < 0 || !selectRecord(selectId)) table_->selectRow(0);
}

void DatasetBrowser::rebuildFilters() {
    categoryFilter_->clear();
    attackFilter_->clear();
    categoryFilter_->addItem(tr("All categories"));
    attackFilter_->addItem(tr("All attacks"), attackEntry({}, {}));
    if (!dataset_) return;
    // Categories in SafeEdit's canonical order first, then any others as found.
    std::set<std::string> present;
    for (const auto& record : dataset_->records) present.insert(record.category);
    for (const std::string& category : detox::safeEditCategories())
        if (present.erase(category)) categoryFilter_->addItem(qs(category));
    for (const std::string& other : present) categoryFilter_->addItem(qs(other));
    // Attack categories, each followed by its attack names (indented).
    std::map<std::string, std::set<std::string>> attacks;
    for (const auto& record : dataset_->records)
        if (!record.attackCategory.empty() || !record.attackName.empty())
            attacks[record.attackCategory].insert(record.attackName);
    for (const auto& [category, names] : attacks) {
        attackFilter_->addItem(category.empty() ? tr("(no attack category)") : qs(category),
                               attackEntry("category", qs(category)));
        for (const std::string& name : names)
            if (!name.empty()) attackFilter_->addItem("    " + qs(name), attackEntry("name", qs(name)));
    }
}

void DatasetBrowser::applyAttackFilter(int comboIndex) {
    const QStringList entry = attackFilter_->itemData(comboIndex).toStringList();
    const QString kind = entry.value(0);
    filter_->setAttackCategory(kind == "category" ? entry.value(1) : QString());
    filter_->setAttackName(kind == "name" ? entry.value(1) : QString());
    updateCountLabel();
}

void DatasetBrowser::updateCountLabel() {
    const int total = model_->rowCount();
    const int shown = filter_->rowCount();
    count_->setText(total == 0 ? QString() : shown == total ? tr("%1 records").arg(total)
                                                            : tr("%1 of %2 records shown").arg(shown).arg(total));
}

QString DatasetBrowser::datasetPath() const { return dataset_ ? qs(dataset_->path) : QString(); }

int DatasetBrowser::visibleRecordCount() const { return filter_->rowCount(); }

std::vector<int> DatasetBrowser::visibleRecordIds() const {
    std::vector<int> ids;
    for (int row = 0; row < filter_->rowCount(); ++row)
        ids.push_back(filter_->index(row, 0).data(SafeEditTableModel::RecordIdRole).toInt());
    return ids;
}

const detox::SafeEditRecord* DatasetBrowser::selectedRecord() const {
    return dataset_ && shownRecordId_ >= 0 ? dataset_->findById(shownRecordId_) : nullptr;
}

int DatasetBrowser::selectedRecordId() const { return selectedRecord() ? shownRecordId_ : -1; }

bool DatasetBrowser::selectRecord(int id) {
    for (int pass = 0; pass < 2; ++pass) {
        for (int row = 0; row < filter_->rowCount(); ++row) {
            const QModelIndex index = filter_->index(row, 0);
            if (index.data(SafeEditTableModel::RecordIdRole).toInt() != id) continue;
            table_->selectionModel()->setCurrentIndex(
                index, QItemSelectionModel::ClearAndSelect | QItemSelectionModel::Rows);
            table_->scrollTo(index);
            return true;
        }
        // Not visible: clear the filters once and look again.
        categoryFilter_->setCurrentIndex(0);
        attackFilter_->setCurrentIndex(0);
        search_->clear();
    }
    return false;
}

QString DatasetBrowser::detailText() const { return detail_->toPlainText(); }

void DatasetBrowser::refreshDetail() { showRecord(selectedRecord()); }

void DatasetBrowser::setContextModel(std::shared_ptr<const detox::Model> model) {
    contextModel_ = std::move(model);
    refreshDetail();
}

QString DatasetBrowser::contextLine(const detox::SafeEditRecord& record) const {
    if (!contextModel_ || !contextModel_->hasTokenizer()) return {};
    const detox::Tokenizer& tokenizer = contextModel_->tokenizer();
    const int context = contextModel_->config().maxPositions;
    std::vector<std::pair<QString, std::string>> texts{{tr("adversarial prompt"), record.adversarialPrompt},
                                                       {tr("unsafe generation"), record.unsafeGeneration},
                                                       {tr("safe generation"), record.safeGeneration}};
    if (record.generalization) {
        texts.push_back({QStringLiteral("DG_onlyQ"), record.generalization->onlyHarmfulQuestion});
        texts.push_back({QStringLiteral("DG_otherA"), record.generalization->otherAttackPrompt});
        texts.push_back({QStringLiteral("DG_otherQ"), record.generalization->otherQuestion});
        texts.push_back({QStringLiteral("DG_otherAQ"), record.generalization->otherQuestionsAndAttack});
    }
    if (record.knowledge)
        texts.push_back({tr("knowledge prompt + answer"), record.knowledge->prompt + " " + record.knowledge->answer});
    QStringList longer;
    for (const auto& [name, text] : texts) {
        const int tokens = int(tokenizer.encode(text, true).size());
        if (tokens > context) longer << tr("%1 %2 tokens").arg(name).arg(tokens);
    }
    if (longer.isEmpty()) return {};
    return tr("Longer than the model's context of %1 positions: %2. Runs keep their last tokens (policy keep-last; "
              "generations keep %1 minus the new tokens) and say so in their results.")
        .arg(context)
        .arg(longer.join(", "));
}

void DatasetBrowser::showRecord(const detox::SafeEditRecord* record) {
    if (!record) {
        detail_->clear();
        return;
    }
    const bool dark = currentTheme() == Theme::Dark;
    const QString headingColour = dark ? "#8ab4f8" : "#1a4f8b";
    const QString mutedColour = dark ? "#9aa0a6" : "#5f6368";
    const QString unsafeColour = dark ? "#f28b82" : "#b3261e";
    const QString safeColour = dark ? "#81c995" : "#1e7d34";
    const auto text = [](const std::string& value) {
        return value.empty() ? QString("<i>(empty)</i>") : qs(value).toHtmlEscaped().replace('\n', "<br>");
    };
    const auto section = [&](const QString& label, const std::string& value, const QString& colour = {}) {
        return QString("<p style='margin-top:10px; margin-bottom:2px;'><b style='color:%1'>%2</b></p>"
                       "<p style='margin-top:0px;'>%3</p>")
            .arg(colour.isEmpty() ? headingColour : colour, label.toHtmlEscaped(), text(value));
    };
    QString html;
    const long position = long(record - dataset_->records.data());
    html += QString("<p style='margin-bottom:4px;'><span style='font-size:large; font-weight:600;'>Record %1</span>"
                    "&nbsp;&nbsp;<span style='color:%2'>position %6 of %7 &middot; %3 &middot; %4 / %5</span></p>")
                .arg(record->id)
                .arg(mutedColour, qs(record->category).toHtmlEscaped(), qs(record->attackCategory).toHtmlEscaped(),
                     qs(record->attackName).toHtmlEscaped())
                .arg(position)
                .arg(dataset_->records.size());
    const QString context = contextLine(*record);
    if (!context.isEmpty())
        html += QString("<p style='color:%1; margin-top:2px;'>%2</p>").arg(unsafeColour, context.toHtmlEscaped());
    html += section(tr("Adversarial prompt"), record->adversarialPrompt);
    html += section(tr("Question"), record->question);
    html += section(tr("Unsafe generation"), record->unsafeGeneration, unsafeColour);
    html += section(tr("Safe generation"), record->safeGeneration, safeColour);
    if (record->generalization) {
        const detox::GeneralizationTest& test = *record->generalization;
        html += QString("<h4 style='margin-top:14px; color:%1'>%2</h4>").arg(headingColour, tr("Generalization inputs"));
        html += QString("<p style='color:%1; margin-top:0px;'>%2: %3 / %4</p>")
                    .arg(mutedColour, tr("Other attack"), qs(test.attackCategory).toHtmlEscaped(),
                         qs(test.attackName).toHtmlEscaped());
        html += section(tr("Only the harmful question (DG_onlyQ)"), test.onlyHarmfulQuestion);
        html += section(tr("Other attack prompt (DG_otherA)"), test.otherAttackPrompt);
        html += section(tr("Other question (DG_otherQ)"), test.otherQuestion);
        html += section(tr("Other question and attack (DG_otherAQ)"), test.otherQuestionsAndAttack);
    } else {
        html += QString("<p style='color:%1'>%2</p>").arg(mutedColour, tr("No generalization inputs in this file."));
    }
    if (record->knowledge) {
        html += QString("<h4 style='margin-top:14px; color:%1'>%2</h4>").arg(headingColour, tr("Knowledge constraint"));
        html += section(tr("Prompt"), record->knowledge->prompt);
        html += section(tr("Answer to keep"), record->knowledge->answer);
    }
    detail_->setHtml(html);
    if (shownRecordId_ != record->id) {
        shownRecordId_ = record->id;
        emit recordSelected(record->id);
    }
}

QStringList DatasetBrowser::recentFiles() { return QSettings().value(kRecentKey).toStringList(); }

void DatasetBrowser::addRecentFile(const QString& path) {
    const QString absolute = QFileInfo(path).absoluteFilePath();
    QStringList files = recentFiles();
    files.removeAll(absolute);
    files.prepend(absolute);
    while (files.size() > kMaxRecentFiles) files.removeLast();
    QSettings().setValue(kRecentKey, files);
}

}  // namespace detox::ui
