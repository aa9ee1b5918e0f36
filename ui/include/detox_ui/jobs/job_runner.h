// Background jobs in the style of QGIS's QgsTask: core work runs on a worker thread, reports
// progress and checks for cancellation through detox::JobControl, and its result or error comes
// back on the main thread. Jobs in the same queue (one per model) run one at a time, in order.
#pragma once
#include <QDateTime>
#include <QJsonObject>
#include <QMetaType>
#include <QObject>
#include <QPointer>
#include <QThreadPool>

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
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

// The result callbacks of a JobSpec: they take the result (by reference), or nothing for a void job.
template <typename Result>
struct JobCallbacks {
    using OnSuccess = std::function<void(Result&)>;
    using Describe = std::function<ResultDescription(const Result&)>;
};
template <>
struct JobCallbacks<void> {
    using OnSuccess = std::function<void()>;
    using Describe = std::function<ResultDescription()>;
};

// A job: its options, its work and where its result goes. Result is what the work returns (void allowed).
// Written with designated initialisers:
//     runner->submit(JobSpec<double>{.options = {"evaluate"}, .work = ..., .onSuccess = ..., .receiver = this});
template <typename Result>
struct JobSpec {
    JobOptions options;
    // Runs on a worker thread. It owns what it uses: copies, or shared_ptrs (the model, the edit session);
    // never a raw pointer or a reference into a view.
    std::function<Result(detox::JobControl&)> work;
    // On the main thread after the work returned (optional).
    typename JobCallbacks<Result>::OnSuccess onSuccess;
    // Fills the Run-log entry of a success (optional); called before onSuccess.
    typename JobCallbacks<Result>::Describe describe;
    // On the main thread after a failure or a cancellation (optional); the signals below fire too.
    std::function<void(const RunLogEntry&)> onFailure;
    // The object the callbacks belong to (usually the view whose members they touch): once it is destroyed,
    // onSuccess and onFailure are no longer called (the Run log still gets the entry).
    QObject* receiver = nullptr;
};

class JobRunner : public QObject {
    Q_OBJECT
public:
    explicit JobRunner(QObject* parent = nullptr);
    ~JobRunner() override;  // cancels everything and waits for running jobs to stop

    // Queues the job (JobSpec); its result, error or cancellation arrives on the main thread through the
    // spec's callbacks and the signals below. Throws std::invalid_argument when the spec has no work.
    template <typename Result>
    JobId submit(JobSpec<Result> spec);

    // Queued: removed at once; running: asked to stop at its next checkpoint. A cancelled job's result is
    // never delivered, even when its work had already returned: it ends as Cancelled.
    void cancel(JobId id);
    void cancelAll();
    void cancelQueue(const QString& queue);   // every job of one queue (e.g. a model's)
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
        // On the main thread after run returned: describes the result and, when `toReceiver`, hands it to
        // the caller's onSuccess.
        std::function<ResultDescription(bool toReceiver)> deliver;
        std::function<void(const RunLogEntry&)> onFailure;
        QPointer<QObject> receiver;
        bool hasReceiver = false;
        bool receiverAlive() const { return !hasReceiver || receiver; }
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
    void finishJob(JobId id, JobStatus status, QString message);
    void postProgress(JobId id, const std::shared_ptr<ProgressSlot>& slot, const detox::Progress& progress);
    void updateBusy();

    QThreadPool pool_;
    JobId nextId_ = 1;
    std::map<QString, std::deque<std::unique_ptr<Job>>> queued_;
    std::map<JobId, std::unique_ptr<Job>> running_;
    bool busy_ = false;
};

// ---- template implementation ----

template <typename Result>
JobId JobRunner::submit(JobSpec<Result> spec) {
    if (!spec.work) throw std::invalid_argument("JobRunner::submit: the job has no work");
    auto job = std::make_unique<Job>();
    job->options = std::move(spec.options);
    job->onFailure = std::move(spec.onFailure);
    job->receiver = spec.receiver;
    job->hasReceiver = spec.receiver != nullptr;
    if constexpr (std::is_void_v<Result>) {
        job->run = [work = std::move(spec.work)](detox::JobControl& control) { work(control); };
        job->deliver = [onSuccess = std::move(spec.onSuccess), describe = std::move(spec.describe)](bool toReceiver) {
            const ResultDescription description = describe ? describe() : ResultDescription{};
            if (toReceiver && onSuccess) onSuccess();
            return description;
        };
    } else {
        auto result = std::make_shared<std::unique_ptr<Result>>();
        job->run = [work = std::move(spec.work), result](detox::JobControl& control) {
            *result = std::make_unique<Result>(work(control));
        };
        job->deliver = [result, onSuccess = std::move(spec.onSuccess),
                        describe = std::move(spec.describe)](bool toReceiver) {
            ResultDescription description;
            if (describe) description = describe(std::as_const(**result));
            if (toReceiver && onSuccess) onSuccess(**result);
            result->reset();
            return description;
        };
    }
    return enqueue(std::move(job));
}

}  // namespace detox::ui

Q_DECLARE_METATYPE(detox::Progress)
Q_DECLARE_METATYPE(detox::ui::RunLogEntry)
