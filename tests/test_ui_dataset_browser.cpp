// The dataset browser, driven through the same MainWindow entry points the menus use: the demo
// dataset loads as a job, filters and search narrow the table to counts computed independently from
// the JSON, selecting a row fills the detail view, and a malformed file shows an error and keeps the
// previous dataset.
#include <QComboBox>
#include <QJsonArray>
#include <QJsonDocument>
#include <QLineEdit>
#include <QMessageBox>
#include <QSignalSpy>
#include <QTableView>
#include <QTemporaryDir>
#include <QTextBrowser>
#include <QtTest>

#include "detox/runtime/model.h"
#include "detox/safeedit/safeedit.h"
#include "detox_ui/views/dataset_browser.h"
#include "detox_ui/workbench/main_window.h"
#include "detox_ui/views/run_log.h"
#include "fixtures.h"

using namespace detox::ui;

namespace {

QJsonArray readRecords(const QString& path) {
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly)) return {};
    return QJsonDocument::fromJson(file.readAll()).array();
}

int countWhere(const QJsonArray& records, const std::function<bool(const QJsonObject&)>& predicate) {
    int count = 0;
    for (const QJsonValue& value : records) count += predicate(value.toObject()) ? 1 : 0;
    return count;
}

int comboIndexOf(QComboBox* combo, const QString& text) {
    for (int i = 0; i < combo->count(); ++i)
        if (combo->itemText(i).trimmed() == text) return i;
    return -1;
}

bool waitForLoad(DatasetBrowser* browser, QSignalSpy& loaded, QSignalSpy& failed, int expectedSignals = 1) {
    return QTest::qWaitFor([&] { return loaded.size() + failed.size() >= expectedSignals; }, 20000) &&
           browser != nullptr;
}

}  // namespace

class DatasetBrowserTest : public QObject {
    Q_OBJECT
    QString demoPath_;
    QJsonArray demo_;

private slots:
    void initTestCase() {
        QStandardPaths::setTestModeEnabled(true);
        QCoreApplication::setOrganizationName("DetoxWorkbenchTest");
        QSettings().clear();
        demoPath_ = QString::fromStdString(detox::demoDatasetPath("test"));
        demo_ = readRecords(demoPath_);
        QVERIFY2(demo_.size() > 20, qPrintable("demo dataset not readable: " + demoPath_));
    }

    void demoLoadsAndFilters() {
        MainWindow window;
        window.show();
        DatasetBrowser* browser = window.datasetBrowser();
        QSignalSpy loaded(browser, &DatasetBrowser::datasetLoaded);
        QSignalSpy failed(browser, &DatasetBrowser::datasetLoadFailed);
        QSignalSpy selected(browser, &DatasetBrowser::recordSelected);
        window.openDemo();
        QVERIFY(waitForLoad(browser, loaded, failed));
        QCOMPARE(failed.size(), 0);
        QCOMPARE(loaded.first().at(1).toInt(), int(demo_.size()));
        QCOMPARE(browser->visibleRecordCount(), int(demo_.size()));
        QCOMPARE(browser->table()->model()->rowCount(), int(demo_.size()));
        // The first record (lowest id) is selected after loading, and views are told.
        QVERIFY(selected.size() >= 1);
        QCOMPARE(selected.last().at(0).toInt(), demo_.first().toObject()["id"].toInt());
        // The run log recorded the load job (next to the demo model's load, which may finish first).
        QVERIFY(window.jobs()->waitForIdle(60000));
        int datasetEntries = 0;
        for (int row = 0; row < window.runLog()->rowCount(); ++row) {
            const auto& entry = window.runLog()->entry(row);
            if (!entry.name.startsWith("Load dataset")) continue;
            ++datasetEntries;
            QCOMPARE(entry.status, JobStatus::Succeeded);
            QCOMPARE(entry.result["records"].toInt(), int(demo_.size()));
        }
        QCOMPARE(datasetEntries, 1);

        // Category filter.
        const QString category = "physical harm";
        const int inCategory = countWhere(demo_, [&](const QJsonObject& r) { return r["unsafety category"] == category; });
        QVERIFY(inCategory > 0 && inCategory < demo_.size());
        const int categoryIndex = comboIndexOf(browser->categoryFilter(), category);
        QVERIFY(categoryIndex > 0);
        browser->categoryFilter()->setCurrentIndex(categoryIndex);
        QCOMPARE(browser->visibleRecordCount(), inCategory);

        // Attack category on top of the category.
        const QString attack = demo_.first().toObject()["attack category"].toString();
        const int both = countWhere(demo_, [&](const QJsonObject& r) {
            return r["unsafety category"] == category && r["attack category"] == attack;
        });
        browser->attackFilter()->setCurrentIndex(comboIndexOf(browser->attackFilter(), attack));
        QCOMPARE(browser->visibleRecordCount(), both);

        // Attack name alone.
        browser->categoryFilter()->setCurrentIndex(0);
        const QString attackName = demo_.first().toObject()["attack name"].toString();
        browser->attackFilter()->setCurrentIndex(comboIndexOf(browser->attackFilter(), attackName));
        QCOMPARE(browser->visibleRecordCount(),
                 countWhere(demo_, [&](const QJsonObject& r) { return r["attack name"] == attackName; }));

        // Text search (case-insensitive) over question, adversarial prompt, attack name.
        browser->attackFilter()->setCurrentIndex(0);
        const QString term = "CAPITAL";
        const int matching = countWhere(demo_, [&](const QJsonObject& r) {
            return r["question"].toString().contains(term, Qt::CaseInsensitive) ||
                   r["adversarial prompt"].toString().contains(term, Qt::CaseInsensitive) ||
                   r["attack name"].toString().contains(term, Qt::CaseInsensitive);
        });
        browser->searchField()->setText(term);
        QCOMPARE(browser->visibleRecordCount(), matching);
        const QString question = demo_[7].toObject()["question"].toString();
        browser->searchField()->setText(question.left(40).toLower());
        QVERIFY(browser->visibleRecordCount() >= 1);
        QVERIFY(browser->visibleRecordCount() < demo_.size());
        browser->searchField()->clear();
        QCOMPARE(browser->visibleRecordCount(), int(demo_.size()));
        QVERIFY(DatasetBrowser::recentFiles().contains(QFileInfo(demoPath_).absoluteFilePath()));
    }

    void selectingARowFillsTheDetail() {
        MainWindow window;
        window.show();
        DatasetBrowser* browser = window.datasetBrowser();
        QSignalSpy loaded(browser, &DatasetBrowser::datasetLoaded);
        QSignalSpy failed(browser, &DatasetBrowser::datasetLoadFailed);
        window.openDataset(demoPath_);
        QVERIFY(waitForLoad(browser, loaded, failed));
        QSignalSpy selected(browser, &DatasetBrowser::recordSelected);

        // Click the row showing record id 5 (sorted by id, so row 5 when ids are 0..N-1).
        const QJsonObject record = demo_[5].toObject();
        QAbstractItemModel* model = browser->table()->model();
        int row = -1;
        for (int r = 0; r < model->rowCount(); ++r)
            if (model->index(r, 0).data(SafeEditTableModel::RecordIdRole).toInt() == record["id"].toInt()) row = r;
        QVERIFY(row >= 0);
        browser->table()->selectionModel()->setCurrentIndex(model->index(row, 1),
                                                            QItemSelectionModel::ClearAndSelect | QItemSelectionModel::Rows);
        QCOMPARE(selected.size(), 1);
        QCOMPARE(selected.first().at(0).toInt(), record["id"].toInt());
        QCOMPARE(browser->selectedRecordId(), record["id"].toInt());

        const QString detail = browser->detailText();
        for (const char* label : {"Adversarial prompt", "Question", "Unsafe generation", "Safe generation",
                                  "Generalization inputs", "Knowledge constraint"})
            QVERIFY2(detail.contains(label), label);
        const auto simplified = [](const QString& text) { return text.simplified(); };
        const QString flat = simplified(detail);
        QVERIFY(flat.contains(simplified(record["adversarial prompt"].toString())));
        QVERIFY(flat.contains(simplified(record["unsafe generation"].toString())));
        QVERIFY(flat.contains(simplified(record["safe generation"].toString())));
        const QJsonObject generalization = record["generalization test"].toObject();
        QVERIFY(flat.contains(simplified(generalization["test input of other questions and attack prompts"].toString())));
        QVERIFY(flat.contains(simplified(record["knowledge constrain"].toObject()["answer"].toString())));
        QVERIFY(browser->detailView()->isReadOnly());

        // selectRecord finds a record hidden by a filter by clearing the filters.
        browser->searchField()->setText("no record contains this text 1234");
        QCOMPARE(browser->visibleRecordCount(), 0);
        QVERIFY(browser->selectRecord(demo_[3].toObject()["id"].toInt()));
        QCOMPARE(browser->visibleRecordCount(), int(demo_.size()));
        QCOMPARE(browser->selectedRecordId(), demo_[3].toObject()["id"].toInt());
    }

    void malformedFileKeepsThePreviousDataset() {
        MainWindow window;
        window.show();
        DatasetBrowser* browser = window.datasetBrowser();
        QSignalSpy loaded(browser, &DatasetBrowser::datasetLoaded);
        QSignalSpy failed(browser, &DatasetBrowser::datasetLoadFailed);
        window.openDataset(demoPath_);
        QVERIFY(waitForLoad(browser, loaded, failed));
        browser->selectRecord(demo_[2].toObject()["id"].toInt());

        // A record whose "question" is a number instead of a string.
        QTemporaryDir dir;
        QJsonArray broken;
        QJsonObject record = demo_[0].toObject();
        record["question"] = 42;
        broken.append(record);
        const QString path = dir.filePath("broken.json");
        QFile file(path);
        QVERIFY(file.open(QIODevice::WriteOnly));
        file.write(QJsonDocument(broken).toJson());
        file.close();

        window.openDataset(path);
        QVERIFY(waitForLoad(browser, loaded, failed, 2));
        QCOMPARE(failed.size(), 1);
        const QString message = failed.first().at(1).toString();
        QVERIFY2(message.contains("broken.json") && message.contains("question"), qPrintable(message));
        auto* box = window.findChild<QMessageBox*>("datasetError");
        QVERIFY(box);
        QVERIFY(box->isVisible());
        QCOMPARE(box->informativeText(), message);
        box->close();
        // Still the demo, same selection.
        QCOMPARE(browser->datasetPath(), demoPath_);
        QCOMPARE(browser->visibleRecordCount(), int(demo_.size()));
        QCOMPARE(browser->selectedRecordId(), demo_[2].toObject()["id"].toInt());
        QCOMPARE(window.runLog()->entry(window.runLog()->rowCount() - 1).status, JobStatus::Failed);

        // A file that does not exist at all.
        window.openDataset(dir.filePath("missing.json"));
        QVERIFY(waitForLoad(browser, loaded, failed, 3));
        QCOMPARE(failed.size(), 2);
        QVERIFY(failed.last().at(1).toString().contains("missing.json"));
        QCOMPARE(browser->datasetPath(), demoPath_);
    }

    void realSafeEditSample() {
        DETOX_REQUIRE_FIXTURE("safeedit-sample/safeedit_test_sample.json");
        const QString path = detox::test::fixturePath("safeedit-sample/safeedit_test_sample.json");
        const QJsonArray records = readRecords(path);
        JobRunner runner;
        DatasetBrowser browser(&runner);
        QSignalSpy loaded(&browser, &DatasetBrowser::datasetLoaded);
        QSignalSpy failed(&browser, &DatasetBrowser::datasetLoadFailed);
        browser.loadDataset(path, records[3].toObject()["id"].toInt());
        QVERIFY(waitForLoad(&browser, loaded, failed));
        QCOMPARE(failed.size(), 0);
        QCOMPARE(browser.visibleRecordCount(), int(records.size()));
        QCOMPARE(browser.selectedRecordId(), records[3].toObject()["id"].toInt());
        const int physical = countWhere(records, [](const QJsonObject& r) { return r["unsafety category"] == "physical harm"; });
        browser.categoryFilter()->setCurrentIndex(comboIndexOf(browser.categoryFilter(), "physical harm"));
        QCOMPARE(browser.visibleRecordCount(), physical);
        // In a dock 360 px wide the filters show their whole choice ("All categories", a category), not "All categ".
        browser.resize(360, 700);
        browser.show();
        QVERIFY(QTest::qWaitForWindowExposed(&browser));
        for (QComboBox* combo : {browser.categoryFilter(), browser.attackFilter()})
            for (int index : {0, combo->currentIndex()}) {
                const QString text = combo->itemText(index);
                const int needed = combo->fontMetrics().horizontalAdvance(text) + 2 * combo->iconSize().width();
                QVERIFY2(combo->width() >= needed, qPrintable(QString("%1: %2 px for %3 px").arg(text).arg(combo->width()).arg(needed)));
            }
    }

    // Real records in a file whose ids are not its positions (ids 6, 5, ..., 0): the table lists them in
    // file order by default, as the CLI's --limit takes them, and shows both; with the 256-position demo
    // model the detail names the texts longer than its context.
    void fileOrderPositionsAndTheContextLine() {
        DETOX_REQUIRE_FIXTURE("safeedit-sample/safeedit_test_sample.json");
        auto loaded = detox::loadSafeEdit(detox::test::fixturePath("safeedit-sample/safeedit_test_sample.json").toStdString());
        std::reverse(loaded.records.begin(), loaded.records.end());
        auto dataset = std::make_shared<const detox::SafeEditDataset>(loaded);
        JobRunner runner;
        DatasetBrowser browser(&runner);
        browser.setDataset(dataset);
        std::vector<int> fileOrder;
        for (const auto& record : dataset->records) fileOrder.push_back(record.id);
        QCOMPARE(browser.visibleRecordIds(), fileOrder);
        QAbstractItemModel* model = browser.table()->model();
        QCOMPARE(model->headerData(SafeEditTableModel::Position, Qt::Horizontal).toString(), QString("#"));
        for (int row = 0; row < model->rowCount(); ++row) {
            QCOMPARE(model->index(row, SafeEditTableModel::Position).data().toInt(), row);
            QCOMPARE(model->index(row, SafeEditTableModel::Id).data().toInt(), fileOrder[size_t(row)]);
        }
        // The first row is selected: record 6 at position 0.
        QCOMPARE(browser.selectedRecordId(), fileOrder.front());
        QVERIFY2(browser.detailText().contains(QString("Record %1").arg(fileOrder.front())) &&
                     browser.detailText().contains("position 0 of 7"),
                 qPrintable(browser.detailText().left(200)));
        QVERIFY(!browser.detailText().contains("context of"));
        // With the demo model: the texts over its context, counted with its tokenizer (the other-attack input,
        // the record's longest, is past it).
        auto demo = std::make_shared<const detox::Model>(
            detox::Model::load(detox::test::sourcePath("resources/demo-model").toStdString()));
        browser.setContextModel(demo);
        const detox::SafeEditRecord& shown = dataset->records.front();
        const int context = demo->config().maxPositions;
        const int otherAttackTokens = int(demo->tokenizer().encode(shown.generalization->otherAttackPrompt, true).size());
        QVERIFY(otherAttackTokens > context);
        const QString detail = browser.detailText();
        QVERIFY2(detail.contains(QString("Longer than the model's context of %1 positions").arg(context)) &&
                     detail.contains(QString("DG_otherA %1 tokens").arg(otherAttackTokens)) && detail.contains("keep-last"),
                 qPrintable(detail.left(400)));
    }
};

QTEST_MAIN(DatasetBrowserTest)
#include "test_ui_dataset_browser.moc"
