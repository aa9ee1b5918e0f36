// Background jobs in the style of QGIS's QgsTask: core work runs on a worker thread, reports
// progress and checks for cancellation through detox::JobControl, and its result or error comes
// back on the main thread. Jobs in the same queue (one per model) run one at a time, in order.
#pragma once
#include <QDateTime>
#include <QJsonObject>
#include <QMetaType>
#include <QObject>
#include <QThreadPool>

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <type_traits>
#include <utility>

#include "detox/job.h"

namespace detox::ui {

using JobId = quint64;

enum class JobStatus { Queued, Running, Succeeded, Failed, Cancelled };
QString jobStatusName(JobStatus status);             // "queued", "running", "succeeded", ...
JobStatus jobStatusFromName(const QString& name);    // unknown names give Failed

// What the Run log keeps of a finished job.
struct RunLogEntry {
    JobId id = 0;
    QString name;
    QString queue;
    QJsonObject settings;          // the job's inputs, as given at submission
    QDateTime started;             // UTC
    QDateTime finished;            // UTC
    double durationSeconds = 0;
    JobStatus status = JobStatus::Queued;
    QString message;               // error text for Failed, "cancelled by the user" for Cancelled
    QString resultSummary;         // one line for the table
    QJsonObject result;            // the result as JSON (may be empty)

    QJsonObject toJson() const;
    // Throws detox::Error(source, "<fieldPrefix>field", expectation) on a malformed object.
    static RunLogEntry fromJson(const QJsonObject& object, const QString& source, const QString& fieldPrefix = {});
};

struct JobOptions {
    QString name;                  // shown in the status bar and the Run log
    QJsonObject settings;          // recorded in the Run log
    QString queue = QStringLiteral("default");  // e.g. the model path: one job at a time per queue
};

// How a result shows up in the Run log.
struct ResultDescription {
    QString summary;
    QJsonObject json;
};

class JobRunner : public QObject {
    Q_OBJECT
public:
    explicit JobRunner(QObject* parent = nullptr);
    ~JobRunner() override;  // cancels everything and waits for running jobs to stop

    // Queues work(JobControl&) -> ResultT. onSuccess(ResultT&) runs on the main thread;
    // describe(const ResultT&) fills the Run-log entry (optional). Errors and cancellation arrive
    // through the signals below (and onFailure, when given).
    template <typename Work, typename OnSuccess = std::nullptr_t, typename Describe = std::nullptr_t>
    JobId submit(JobOptions options, Work work, OnSuccess onSuccess = nullptr, Describe describe = nullptr,
                 std::function<void(const RunLogEntry&)> onFailure = {});

    void cancel(JobId id);         // queued: removed at once; running: asked to stop at its next checkpoint
    void cancelAll();
    bool isBusy() const;           // any job queued or running
    int pendingCount() const;      // queued + running
    QString jobName(JobId id) const;

    // Blocks (processing events) until no job is queued or running, or the timeout passes.
    bool waitForIdle(int timeoutMs);

signals:
    void jobQueued(detox::ui::JobId id, const QString& name);
    void jobStarted(detox::ui::JobId id, const QString& name);
    void jobProgress(detox::ui::JobId id, const detox::Progress& progress);
    void jobSucceeded(detox::ui::JobId id);
    void jobFailed(detox::ui::JobId id, const QString& message);
    void jobCancelled(detox::ui::JobId id);
    void jobFinished(const detox::ui::RunLogEntry& entry);  // after any of the three above
    void busyChanged(bool busy);

private:
    struct Job {
        JobId id = 0;
        JobOptions options;
        std::shared_ptr<detox::JobControl> control;
        // Runs the work on the worker thread and keeps the result inside the closure.
        std::function<void(detox::JobControl&)> run;
        // On the main thread after run returned: hands the result to the caller, returns its description.
        std::function<ResultDescription()> deliver;
        std::function<void(const RunLogEntry&)> onFailure;
        RunLogEntry entry;
    };
    // Progress from the worker is coalesced: at most one pending notification per job, so a job
    // that reports every microsecond cannot flood the event loop.
    struct ProgressSlot {
        std::mutex mutex;
        detox::Progress latest;
        bool posted = false;
    };

    JobId enqueue(std::unique_ptr<Job> job);
    void startNext(const QString& queue);
    void finishJob(JobId id, JobStatus status, const QString& message);
    void postProgress(JobId id, const std::shared_ptr<ProgressSlot>& slot, const detox::Progress& progress);
    void updateBusy();

    QThreadPool pool_;
    JobId nextId_ = 1;
    std::map<QString, std::deque<std::unique_ptr<Job>>> queued_;
    std::map<JobId, std::unique_ptr<Job>> running_;
    bool busy_ = false;
};

// ---- template implementation ----

template <typename Work, typename OnSuccess, typename Describe>
JobId JobRunner::submit(JobOptions options, Work work, OnSuccess onSuccess, Describe describe,
                        std::function<void(const RunLogEntry&)> onFailure) {
    using ResultT = std::invoke_result_t<Work&, detox::JobControl&>;
    auto job = std::make_unique<Job>();
    job->options = std::move(options);
    job->onFailure = std::move(onFailure);
    if constexpr (std::is_void_v<ResultT>) {
        job->run = [work = std::move(work)](detox::JobControl& control) mutable { work(control); };
        job->deliver = [onSuccess = std::move(onSuccess)]() mutable {
            if constexpr (!std::is_same_v<OnSuccess, std::nullptr_t>) onSuccess();
            return ResultDescription{};
        };
    } else {
        auto result = std::make_shared<std::unique_ptr<ResultT>>();
        job->run = [work = std::move(work), result](detox::JobControl& control) mutable {
            *result = std::make_unique<ResultT>(work(control));
        };
        job->deliver = [result, onSuccess = std::move(onSuccess), describe = std::move(describe)]() mutable {
            ResultDescription description;
            if constexpr (!std::is_same_v<Describe, std::nullptr_t>) description = describe(std::as_const(**result));
            if constexpr (!std::is_same_v<OnSuccess, std::nullptr_t>) onSuccess(**result);
            result->reset();
            return description;
        };
    }
    return enqueue(std::move(job));
}

}  // namespace detox::ui

Q_DECLARE_METATYPE(detox::Progress)
Q_DECLARE_METATYPE(detox::ui::RunLogEntry)
