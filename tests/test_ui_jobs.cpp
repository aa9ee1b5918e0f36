// The job runner: progress by signals, cancellation within one step, errors as messages, one job at
// a time per queue, a responsive event loop while jobs run, and the Run log.
#include <QElapsedTimer>
#include <QLabel>
#include <QPlainTextEdit>
#include <QProgressBar>
#include <QSignalSpy>
#include <QTableView>
#include <QToolButton>
#include <QtTest>

#include <atomic>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <thread>

#include "detox/error.h"
#include "detox_ui/jobs/job_runner.h"
#include "detox_ui/views/run_log.h"

using namespace detox::ui;
using namespace std::chrono_literals;

namespace {

// A stand-in for a long core operation: `steps` steps of `stepTime`, a checkpoint before each.
struct FakeLongJob {
    int steps = 20;
    std::chrono::milliseconds stepTime = 10ms;
    int reportsPerStep = 1;                    // > 1 floods the runner with progress
    std::shared_ptr<std::atomic<int>> stepsDone = std::make_shared<std::atomic<int>>(0);

    int operator()(detox::JobControl& control) const {
        int sum = 0;
        for (int step = 1; step <= steps; ++step) {
            control.checkpoint();
            std::this_thread::sleep_for(stepTime);
            sum += step;
            stepsDone->store(step);
            for (int r = 0; r < reportsPerStep; ++r)
                control.report({step, steps, "training", {{"loss", 1.0 / step}}});
        }
        return sum;
    }
};

RunLogEntry lastEntry(const QSignalSpy& spy) { return spy.last().at(0).value<RunLogEntry>(); }

}  // namespace

class JobsTest : public QObject {
    Q_OBJECT
private slots:
    void progressAndResultArriveOnTheMainThread() {
        JobRunner runner;
        QSignalSpy progress(&runner, &JobRunner::jobProgress);
        QSignalSpy finished(&runner, &JobRunner::jobFinished);
        int delivered = 0;
        QThread* deliveryThread = nullptr;
        const JobId id = runner.submit(JobSpec<int>{
            .options = {"fake training", {{"steps", 20}}, "model-a"},
            .work = FakeLongJob{},
            .onSuccess = [&](int& sum) {
                delivered = sum;
                deliveryThread = QThread::currentThread();
            },
            .describe = [](const int& sum) { return ResultDescription{QString("sum %1").arg(sum), {{"sum", sum}}}; }});
        QVERIFY(id > 0);
        QVERIFY(runner.isBusy());
        QTRY_COMPARE_WITH_TIMEOUT(finished.size(), 1, 10000);
        QCOMPARE(delivered, 210);  // 1 + 2 + ... + 20
        QCOMPARE(deliveryThread, QThread::currentThread());
        QVERIFY(!runner.isBusy());

        QVERIFY(progress.size() >= 2);
        int previous = 0;
        for (const QList<QVariant>& signal : progress) {
            QCOMPARE(signal.at(0).value<JobId>(), id);
            const auto report = signal.at(1).value<detox::Progress>();
            QVERIFY(report.step >= previous);
            QCOMPARE(report.total, 20);
            QCOMPARE(report.values.at("loss"), 1.0 / report.step);
            previous = report.step;
        }
        QCOMPARE(previous, 20);  // the last report always arrives before the job finishes

        const RunLogEntry entry = lastEntry(finished);
        QCOMPARE(entry.status, JobStatus::Succeeded);
        QCOMPARE(entry.name, QString("fake training"));
        QCOMPARE(entry.settings["steps"].toInt(), 20);
        QCOMPARE(entry.resultSummary, QString("sum 210"));
        QCOMPARE(entry.result["sum"].toInt(), 210);
        QVERIFY(entry.durationSeconds >= 0.19);
        QVERIFY(entry.finished >= entry.started);
    }

    // The callbacks belong to the receiver: once it is destroyed they are not called (the Run log still
    // gets each entry, with the description); a live receiver gets its callback. A spec without work is refused.
    void destroyedReceiverGetsNoCallbacks() {
        JobRunner runner;
        QSignalSpy finished(&runner, &JobRunner::jobFinished);
        bool succeeded = false, failed = false, kept = false;
        auto receiver = std::make_unique<QObject>();
        QObject stays;
        FakeLongJob job;
        job.steps = 10;
        runner.submit(JobSpec<int>{
            .options = {"gone"},
            .work = job,
            .onSuccess = [&](int&) { succeeded = true; },
            .describe = [](const int& sum) { return ResultDescription{QString("sum %1").arg(sum), {}}; },
            .receiver = receiver.get()});
        runner.submit(JobSpec<int>{
            .options = {"gone, failing"},
            .work = [](detox::JobControl&) -> int { throw detox::Error("broken"); },
            .onFailure = [&](const RunLogEntry&) { failed = true; },
            .receiver = receiver.get()});
        runner.submit(JobSpec<void>{
            .options = {"kept"}, .work = [](detox::JobControl&) {}, .onSuccess = [&] { kept = true; }, .receiver = &stays});
        receiver.reset();  // the results arrive through the event loop, so after this
        QTRY_COMPARE_WITH_TIMEOUT(finished.size(), 3, 10000);
        QVERIFY(!succeeded);
        QVERIFY(!failed);
        QVERIFY(kept);
        for (const QList<QVariant>& signal : finished) {
            const auto entry = signal.at(0).value<RunLogEntry>();
            if (entry.name == "gone") QCOMPARE(entry.resultSummary, QString("sum 55"));
            if (entry.name == "gone, failing") QCOMPARE(entry.status, JobStatus::Failed);
        }
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, runner.submit(JobSpec<int>{.options = {"no work"}}));
        QCOMPARE(runner.pendingCount(), 0);
    }

    void cancellationStopsWithinOneStep() {
        JobRunner runner;
        FakeLongJob job;
        job.steps = 1000;
        job.stepTime = 20ms;
        QSignalSpy progress(&runner, &JobRunner::jobProgress);
        QSignalSpy cancelled(&runner, &JobRunner::jobCancelled);
        QSignalSpy finished(&runner, &JobRunner::jobFinished);
        bool succeeded = false;
        const JobId id = runner.submit(JobSpec<int>{
            .options = {"long job"},
            .work = job,
            .onSuccess = [&](int&) { succeeded = true; }});
        QTRY_VERIFY_WITH_TIMEOUT(job.stepsDone->load() >= 5, 10000);
        const int stepsAtCancel = job.stepsDone->load();
        runner.cancel(id);
        QTRY_COMPARE_WITH_TIMEOUT(cancelled.size(), 1, 5000);
        QVERIFY2(job.stepsDone->load() - stepsAtCancel <= 1,
                 qPrintable(QString("%1 steps after cancel").arg(job.stepsDone->load() - stepsAtCancel)));
        QVERIFY(!succeeded);
        QCOMPARE(lastEntry(finished).status, JobStatus::Cancelled);
        QCOMPARE(lastEntry(finished).message, QString("cancelled by the user"));
    }

    void resultOfAJobCancelledAfterItsWorkIsDiscarded() {
        // The work ignores cancellation and returns; the cancel arrives before the main thread delivers.
        JobRunner runner;
        std::atomic<bool> returned{false};
        bool delivered = false;
        QSignalSpy finished(&runner, &JobRunner::jobFinished);
        const JobId id = runner.submit(JobSpec<int>{
            .options = {"finishes anyway"},
            .work = [&](detox::JobControl&) {
                returned = true;
                return 7;
            },
            .onSuccess = [&](int&) { delivered = true; }});
        while (!returned) std::this_thread::sleep_for(1ms);  // no event processing: finishJob is still queued
        runner.cancel(id);
        QTRY_COMPARE_WITH_TIMEOUT(finished.size(), 1, 5000);
        QVERIFY(!delivered);
        QCOMPARE(lastEntry(finished).status, JobStatus::Cancelled);
        QCOMPARE(lastEntry(finished).message, QString("cancelled; its result was discarded"));
    }

    void cancelQueueStopsOnlyThatQueue() {
        JobRunner runner;
        FakeLongJob slow;
        slow.steps = 1000;
        QSignalSpy finished(&runner, &JobRunner::jobFinished);
        bool otherDelivered = false;
        runner.submit(JobSpec<int>{.options = {"a running", {}, "model-a"}, .work = slow});
        runner.submit(JobSpec<int>{.options = {"a queued", {}, "model-a"}, .work = FakeLongJob{}});
        runner.submit(JobSpec<int>{.options = {"b", {}, "model-b"},
                                   .work = FakeLongJob{},
                                   .onSuccess = [&](int&) { otherDelivered = true; }});
        QTRY_VERIFY_WITH_TIMEOUT(slow.stepsDone->load() >= 1, 5000);
        runner.cancelQueue("model-a");
        QTRY_COMPARE_WITH_TIMEOUT(finished.size(), 3, 10000);
        QMap<QString, JobStatus> status;
        for (const QList<QVariant>& signal : finished)
            status[signal.at(0).value<RunLogEntry>().name] = signal.at(0).value<RunLogEntry>().status;
        QCOMPARE(status.value("a running"), JobStatus::Cancelled);
        QCOMPARE(status.value("a queued"), JobStatus::Cancelled);
        QCOMPARE(status.value("b"), JobStatus::Succeeded);
        QVERIFY(otherDelivered);
        QVERIFY(slow.stepsDone->load() < slow.steps);
    }

    void errorsBecomeMessages() {
        JobRunner runner;
        QSignalSpy failed(&runner, &JobRunner::jobFailed);
        QSignalSpy finished(&runner, &JobRunner::jobFinished);
        QString failureSeen;
        runner.submit(JobSpec<int>{
            .options = {"load"},
            .work = [](detox::JobControl&) -> int {
                throw detox::Error("data.json", "record 3: question", "expected a string");
            },
            .onFailure = [&](const RunLogEntry& entry) { failureSeen = entry.message; }});
        runner.submit(JobSpec<int>{
            .options = {"std"},
            .work = [](detox::JobControl&) -> int { throw std::out_of_range("index 9 of 4"); }});
        runner.submit(JobSpec<int>{
            .options = {"odd"},
            .work = [](detox::JobControl&) -> int { throw 42; }});
        runner.submit(JobSpec<int>{
            .options = {"handler"},
            .work = [](detox::JobControl&) { return 1; },
            .onSuccess = [](int&) { throw detox::Error("handler failed"); }});
        QTRY_COMPARE_WITH_TIMEOUT(finished.size(), 4, 10000);
        QCOMPARE(failed.at(0).at(1).toString(), QString("data.json: record 3: question: expected a string"));
        QCOMPARE(failureSeen, QString("data.json: record 3: question: expected a string"));
        QCOMPARE(failed.at(1).at(1).toString(), QString("index 9 of 4"));
        QCOMPARE(failed.at(2).at(1).toString(), QString("unknown error"));
        QCOMPARE(failed.at(3).at(1).toString(), QString("while handling the result: handler failed"));
        for (const QList<QVariant>& signal : finished)
            QCOMPARE(signal.at(0).value<RunLogEntry>().status, JobStatus::Failed);
    }

    void eventLoopKeepsAnswering() {
        JobRunner runner;
        FakeLongJob job;
        job.steps = 60;
        job.stepTime = 10ms;
        job.reportsPerStep = 2000;  // a progress flood must not starve the event loop
        QElapsedTimer clock;
        qint64 last = 0, worstGap = 0;
        int ticks = 0;
        QTimer timer;
        timer.setInterval(10);
        connect(&timer, &QTimer::timeout, this, [&] {
            const qint64 now = clock.elapsed();
            worstGap = std::max(worstGap, now - last);
            last = now;
            ++ticks;
        });
        QSignalSpy finished(&runner, &JobRunner::jobFinished);
        clock.start();
        timer.start();
        runner.submit(JobSpec<int>{
            .options = {"flood"},
            .work = job});
        QTRY_COMPARE_WITH_TIMEOUT(finished.size(), 1, 20000);
        timer.stop();
        qInfo() << "timer ticks" << ticks << "worst gap" << worstGap << "ms over" << clock.elapsed() << "ms";
        QVERIFY(ticks >= 20);
        QVERIFY2(worstGap < 100, qPrintable(QString("worst timer gap %1 ms").arg(worstGap)));
    }

    void oneJobAtATimePerQueue() {
        JobRunner runner;
        std::atomic<int> runningA{0}, maxA{0}, runningAll{0}, maxAll{0};
        auto tracked = [&](std::atomic<int>* perQueue, std::atomic<int>* perQueueMax) {
            return [&, perQueue, perQueueMax](detox::JobControl&) {
                const int mine = ++*perQueue;
                const int all = ++runningAll;
                int seen = perQueueMax->load();
                while (mine > seen && !perQueueMax->compare_exchange_weak(seen, mine)) {}
                seen = maxAll.load();
                while (all > seen && !maxAll.compare_exchange_weak(seen, all)) {}
                std::this_thread::sleep_for(60ms);
                --*perQueue;
                --runningAll;
                return 0;
            };
        };
        std::atomic<int> runningB{0}, maxB{0};
        QSignalSpy started(&runner, &JobRunner::jobStarted);
        QSignalSpy finished(&runner, &JobRunner::jobFinished);
        const JobId a1 = runner.submit(JobSpec<int>{
            .options = {"a1", {}, "model-a"},
            .work = tracked(&runningA, &maxA)});
        const JobId a2 = runner.submit(JobSpec<int>{
            .options = {"a2", {}, "model-a"},
            .work = tracked(&runningA, &maxA)});
        const JobId a3 = runner.submit(JobSpec<int>{
            .options = {"a3", {}, "model-a"},
            .work = tracked(&runningA, &maxA)});
        runner.submit(JobSpec<int>{
            .options = {"b1", {}, "model-b"},
            .work = tracked(&runningB, &maxB)});
        QCOMPARE(runner.pendingCount(), 4);
        runner.cancel(a3);  // still queued: removed at once, never runs
        QCOMPARE(runner.pendingCount(), 3);
        QTRY_COMPARE_WITH_TIMEOUT(finished.size(), 4, 10000);
        QCOMPARE(maxA.load(), 1);
        QCOMPARE(maxAll.load(), 2);  // model-b ran next to model-a
        QStringList startedNames;
        for (const QList<QVariant>& signal : started) startedNames << signal.at(1).toString();
        QVERIFY(!startedNames.contains("a3"));
        QVERIFY(startedNames.indexOf("a1") < startedNames.indexOf("a2"));
        QCOMPARE(finished.first().at(0).value<RunLogEntry>().id, a3);
        QCOMPARE(finished.first().at(0).value<RunLogEntry>().status, JobStatus::Cancelled);
        Q_UNUSED(a1);
        Q_UNUSED(a2);
    }

    void destroyingTheRunnerCancelsRunningJobs() {
        FakeLongJob job;
        job.steps = 100000;
        job.stepTime = 5ms;
        QElapsedTimer clock;
        {
            JobRunner runner;
            runner.submit(JobSpec<int>{
                .options = {"endless"},
                .work = job});
            QTRY_VERIFY_WITH_TIMEOUT(job.stepsDone->load() >= 2, 5000);
            clock.start();
        }
        QVERIFY(clock.elapsed() < 1000);
        const int stepsAfter = job.stepsDone->load();
        QTest::qWait(30);
        QCOMPARE(job.stepsDone->load(), stepsAfter);
    }

    void runLogKeepsEntriesAndShowsResults() {
        JobRunner runner;
        RunLogModel model;
        connect(&runner, &JobRunner::jobFinished, &model, &RunLogModel::addEntry);
        runner.submit(JobSpec<double>{
            .options = {"evaluate", {{"judge", "rules"}}},
            .work = [](detox::JobControl&) { return 0.75; },
            .describe = [](const double& ds) { return ResultDescription{"DS 75%", {{"defense_success", ds}}}; }});
        runner.submit(JobSpec<double>{
            .options = {"broken"},
            .work = [](detox::JobControl&) -> double { throw detox::Error("m.safetensors", "wte", "missing"); }});
        QVERIFY(runner.waitForIdle(5000));
        QCOMPARE(model.rowCount(), 2);
        QCOMPARE(model.data(model.index(0, RunLogModel::Status), Qt::DisplayRole).toString(), QString("succeeded"));
        QCOMPARE(model.data(model.index(0, RunLogModel::Summary), Qt::DisplayRole).toString(), QString("DS 75%"));
        QCOMPARE(model.data(model.index(1, RunLogModel::Summary), Qt::DisplayRole).toString(),
                 QString("m.safetensors: wte: missing"));

        const RunLogEntry back = RunLogEntry::fromJson(model.entry(0).toJson(), "session.json");
        QCOMPARE(back.result["defense_success"].toDouble(), 0.75);
        QCOMPARE(back.settings["judge"].toString(), QString("rules"));
        QCOMPARE(back.started, model.entry(0).started);
        QCOMPARE(back.status, JobStatus::Succeeded);
        QJsonObject bad = model.entry(0).toJson();
        bad["status"] = "exploded";
        try {
            RunLogEntry::fromJson(bad, "s.json", "run_log[0].");
            QFAIL("expected detox::Error");
        } catch (const detox::Error& error) {
            QCOMPARE(QString::fromStdString(error.field()), QString("run_log[0].status"));
        }

        RunLogView view(&model);
        ResultViewer* viewer = view.openResult(0);
        QVERIFY(viewer);
        QVERIFY(viewer->text().contains("\"defense_success\": 0.75"));
        QVERIFY(viewer->findChild<QPlainTextEdit*>()->isReadOnly());
        viewer->close();
    }

    void progressWidgetFollowsTheJob() {
        JobRunner runner;
        JobProgressWidget widget(&runner);
        widget.show();
        FakeLongJob job;
        job.steps = 1000;
        job.stepTime = 10ms;
        QSignalSpy cancelled(&runner, &JobRunner::jobCancelled);
        runner.submit(JobSpec<int>{
            .options = {"Locate toxic layers"},
            .work = job});
        QTRY_VERIFY_WITH_TIMEOUT(widget.progressBar()->maximum() == 1000 && widget.progressBar()->value() >= 3, 5000);
        QVERIFY(widget.isVisible());
        QVERIFY(widget.label()->text().startsWith("Locate toxic layers: training"));
        QVERIFY(widget.label()->text().contains("loss"));
        widget.cancelButton()->click();
        QTRY_COMPARE_WITH_TIMEOUT(cancelled.size(), 1, 5000);
        QVERIFY(!widget.isVisible());
    }
};

QTEST_MAIN(JobsTest)
#include "test_ui_jobs.moc"
