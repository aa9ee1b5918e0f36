// Sessions: save a window's state (dataset, selected record, theme, run log with results), reopen it
// in a fresh window, and reject malformed files with the file and field named, changing nothing.
#include <QDir>
#include <QJsonArray>
#include <QJsonDocument>
#include <QMessageBox>
#include <QProcess>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QtTest>

#include "detox/demo/demo_model.h"
#include "detox/safeedit/safeedit.h"
#include "detox_ui/views/dataset_browser.h"
#include "detox_ui/workbench/main_window.h"
#include "detox_ui/views/run_log.h"
#include "detox_ui/workbench/session.h"

using namespace detox::ui;

namespace {

bool waitForDataset(DatasetBrowser* browser) {
    QSignalSpy loaded(browser, &DatasetBrowser::datasetLoaded);
    QSignalSpy failed(browser, &DatasetBrowser::datasetLoadFailed);
    return QTest::qWaitFor([&] { return loaded.size() + failed.size() > 0; }, 20000) && failed.isEmpty();
}

QJsonObject readJson(const QString& path) {
    QFile file(path);
    file.open(QIODevice::ReadOnly);
    return QJsonDocument::fromJson(file.readAll()).object();
}

void writeJson(const QString& path, const QByteArray& bytes) {
    QFile file(path);
    file.open(QIODevice::WriteOnly | QIODevice::Truncate);
    file.write(bytes);
}

}  // namespace

class SessionTest : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;
    QString sessionPath_;
    QString demoPath_;

private slots:
    void initTestCase() {
        QStandardPaths::setTestModeEnabled(true);
        QCoreApplication::setOrganizationName("DetoxWorkbenchTest");
        QSettings().clear();
        QVERIFY(dir_.isValid());
        sessionPath_ = dir_.filePath("session.json");
        demoPath_ = QString::fromStdString(detox::demoDatasetPath("test"));
    }

    void saveAndReopen() {
        {
            MainWindow window;
            window.show();
            window.openDataset(demoPath_);  // the data alone: the log then holds exactly the two jobs below
            QVERIFY(waitForDataset(window.datasetBrowser()));
            QVERIFY(window.datasetBrowser()->selectRecord(12));
            window.jobs()->submit(JobSpec<double>{
                .options = {"evaluate", {{"judge", "rules"}}},
                .work = [](detox::JobControl&) { return 0.5; },
                .describe = [](const double& ds) { return ResultDescription{"DS 50%", {{"ds", ds}}}; }});
            QVERIFY(window.jobs()->waitForIdle(5000));
            window.setTheme(Theme::Dark);
            QVERIFY(window.saveSession(sessionPath_));
        }
        // The file holds what the window showed.
        const QJsonObject saved = readJson(sessionPath_);
        QCOMPARE(saved["format"].toString(), QString("detox-workbench-session"));
        QCOMPARE(saved["dataset_path"].toString(), demoPath_);
        QCOMPARE(saved["selected_record"].toInt(), 12);
        QCOMPARE(saved["theme"].toString(), QString("dark"));
        QCOMPARE(saved["run_log"].toArray().size(), 2);  // the dataset load and the evaluation
        QCOMPARE(saved["run_log"].toArray()[1].toObject()["result"].toObject()["ds"].toDouble(), 0.5);
        // Written atomically: no temporary file left next to it.
        QCOMPARE(QDir(dir_.path()).entryList(QDir::Files), QStringList({"session.json"}));

        MainWindow reopened;
        reopened.show();
        QSignalSpy loaded(reopened.datasetBrowser(), &DatasetBrowser::datasetLoaded);
        QVERIFY(reopened.openSession(sessionPath_));
        QVERIFY(QTest::qWaitFor([&] { return loaded.size() == 1; }, 20000));
        QCOMPARE(reopened.datasetBrowser()->datasetPath(), demoPath_);
        QCOMPARE(reopened.datasetBrowser()->selectedRecordId(), 12);
        QCOMPARE(reopened.theme(), Theme::Dark);
        // The two restored entries, then this window's own load job.
        QCOMPARE(reopened.runLog()->rowCount(), 3);
        QCOMPARE(reopened.runLog()->entry(1).name, QString("evaluate"));
        QCOMPARE(reopened.runLog()->entry(1).resultSummary, QString("DS 50%"));
        QCOMPARE(reopened.runLog()->entry(1).settings["judge"].toString(), QString("rules"));
        reopened.setTheme(Theme::Light);
    }

    void malformedSessionChangesNothing_data() {
        QTest::addColumn<QByteArray>("contents");
        QTest::addColumn<QString>("field");
        const QJsonObject valid = readJson(sessionPath_);
        auto with = [&](const QString& key, const QJsonValue& value) {
            QJsonObject object = valid;
            object[key] = value;
            return QJsonDocument(object).toJson();
        };
        QJsonArray badLog = valid["run_log"].toArray();
        QJsonObject badEntry = badLog[1].toObject();
        badEntry["started"] = "yesterday";
        badLog[1] = badEntry;
        QTest::newRow("not json") << QByteArray("{\"format\": ") << QString("offset");
        QTest::newRow("wrong format") << with("format", "something-else") << QString("format");
        QTest::newRow("newer version") << with("version", 99) << QString("version");
        QTest::newRow("record not a number") << with("selected_record", "twelve") << QString("selected_record");
        QTest::newRow("dataset path not a string") << with("dataset_path", 3) << QString("dataset_path");
        QTest::newRow("bad theme") << with("theme", "purple") << QString("theme");
        QTest::newRow("bad run-log date") << with("run_log", badLog) << QString("run_log[1].started");
    }

    void malformedSessionChangesNothing() {
        QFETCH(QByteArray, contents);
        QFETCH(QString, field);
        MainWindow window;
        window.show();
        window.openDataset(demoPath_);
        QVERIFY(waitForDataset(window.datasetBrowser()));
        window.datasetBrowser()->selectRecord(4);
        const int logRows = window.runLog()->rowCount();

        const QString path = dir_.filePath("broken-session.json");
        writeJson(path, contents);
        QVERIFY(!window.openSession(path));
        auto* box = window.findChild<QMessageBox*>("sessionError");
        QVERIFY(box);
        QVERIFY2(box->text().contains(path) && box->text().contains(field), qPrintable(box->text()));
        box->close();
        QTest::qWait(50);
        QVERIFY(!window.jobs()->isBusy());  // nothing was started
        QCOMPARE(window.datasetBrowser()->datasetPath(), demoPath_);
        QCOMPARE(window.datasetBrowser()->selectedRecordId(), 4);
        QCOMPARE(window.runLog()->rowCount(), logRows);
        QCOMPARE(window.theme(), Theme::Light);
    }

    // `detox-workbench --session FILE` opens the session's model, dataset and record. QApplication takes
    // "-session"/"--session" for itself (X11 session management), which once made the option do nothing;
    // a screenshot run prints what its shots show.
    void sessionOptionOnTheCommandLine() {
        const QString workbench = qEnvironmentVariable("DETOX_WORKBENCH");
        if (workbench.isEmpty()) QSKIP("DETOX_WORKBENCH (the GUI binary) not set: run through CTest");
        Session session;
        session.modelPath = QString::fromStdString(detox::demoModelPath());
        session.datasetPath = demoPath_;
        session.selectedRecord = 6;
        const QString path = dir_.filePath("command-line-session.json");
        saveSessionFile(session, path);
        QProcessEnvironment environment = QProcessEnvironment::systemEnvironment();
        environment.insert("XDG_CONFIG_HOME", dir_.filePath("config"));  // not the user's settings
        const QString expected = QString("showing: model %1; dataset %2; record 6").arg(session.modelPath, demoPath_);
        for (const QString option : {"--session", "-session", "--open-session"}) {
            QProcess process;
            process.setProcessEnvironment(environment);
            process.start(workbench, {option, path, "--showcase-steps", "0", "--screenshot", dir_.filePath("shots")});
            QVERIFY(process.waitForFinished(180000));
            const QString out = process.readAllStandardOutput(), err = process.readAllStandardError();
            QVERIFY2(process.exitCode() == 0, qPrintable(option + ": " + err));
            QVERIFY2(out.contains(expected), qPrintable(option + ": " + out + err));
        }
    }

    void missingSessionFile() {
        MainWindow window;
        QVERIFY(!window.openSession(dir_.filePath("nope.json")));
        auto* box = window.findChild<QMessageBox*>("sessionError");
        QVERIFY(box && box->text().contains("nope.json"));
    }

    void sessionJsonRoundTrip() {
        Session session;
        session.modelPath = "/models/qwen";
        session.datasetPath = "/data/test.json";
        session.selectedRecord = 3;
        session.theme = "dark";
        RunLogEntry entry;
        entry.id = 7;
        entry.name = "DINM";
        entry.status = JobStatus::Cancelled;
        entry.message = "cancelled by the user";
        entry.started = QDateTime(QDate(2024, 5, 1), QTime(10, 0, 0, 250), Qt::UTC);
        entry.finished = entry.started.addSecs(90);
        entry.durationSeconds = 90;
        session.runLog = {entry};
        const Session back = Session::fromJson(session.toJson(), "x.json");
        QCOMPARE(back.modelPath, session.modelPath);
        QCOMPARE(back.selectedRecord, 3);
        QCOMPARE(back.runLog.size(), 1);
        QCOMPARE(back.runLog[0].status, JobStatus::Cancelled);
        QCOMPARE(back.runLog[0].started, entry.started);
        QCOMPARE(back.runLog[0].durationSeconds, 90.0);
    }
};

QTEST_MAIN(SessionTest)
#include "test_ui_session.moc"
