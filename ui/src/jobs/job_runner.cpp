#include "detox_ui/jobs/job_runner.h"

#include <QCoreApplication>
#include <QEventLoop>
#include <QJsonArray>
#include <QTimer>

#include "detox/error.h"

namespace detox::ui {

namespace {

[[noreturn]] void fail(const QString& source, const QString& field, const QString& expected) {
    throw detox::Error(source.toStdString(), field.toStdString(), expected.toStdString());
}

const int kMetaTypesRegistered = [] {
    qRegisterMetaType<detox::Progress>("detox::Progress");
    qRegisterMetaType<detox::ui::RunLogEntry>("detox::ui::RunLogEntry");
    qRegisterMetaType<detox::ui::JobId>("detox::ui::JobId");
    return 0;
}();

}  // namespace

QString jobStatusName(JobStatus status) {
    switch (status) {
    case JobStatus::Queued: return "queued";
    case JobStatus::Running: return "running";
    case JobStatus::Succeeded: return "succeeded";
    case JobStatus::Failed: return "failed";
    case JobStatus::Cancelled: return "cancelled";
    }
    return "failed";
}

JobStatus jobStatusFromName(const QString& name) {
    for (JobStatus status : {JobStatus::Queued, JobStatus::Running, JobStatus::Succeeded, JobStatus::Failed,
                             JobStatus::Cancelled})
        if (jobStatusName(status) == name) return status;
    return JobStatus::Failed;
}

QJsonObject RunLogEntry::toJson() const {
    return QJsonObject{{"id", double(id)},
                       {"name", name},
                       {"queue", queue},
                       {"settings", settings},
                       {"started", started.toString(Qt::ISODateWithMs)},
                       {"finished", finished.toString(Qt::ISODateWithMs)},
                       {"duration_s", durationSeconds},
                       {"status", jobStatusName(status)},
                       {"message", message},
                       {"summary", resultSummary},
                       {"result", result}};
}

RunLogEntry RunLogEntry::fromJson(const QJsonObject& object, const QString& source, const QString& prefix) {
    RunLogEntry entry;
    const auto string = [&](const QString& key, bool required) {
        const QJsonValue value = object.value(key);
        if (value.isUndefined() && !required) return QString();
        if (!value.isString()) fail(source, prefix + key, "expected a string");
        return value.toString();
    };
    const auto time = [&](const QString& key) {
        const QString text = string(key, false);
        if (text.isEmpty()) return QDateTime();
        QDateTime parsed = QDateTime::fromString(text, Qt::ISODateWithMs);
        if (!parsed.isValid()) fail(source, prefix + key, "expected an ISO 8601 date and time");
        return parsed;
    };
    const auto object_ = [&](const QString& key) {
        const QJsonValue value = object.value(key);
        if (value.isUndefined() || value.isNull()) return QJsonObject();
        if (!value.isObject()) fail(source, prefix + key, "expected an object");
        return value.toObject();
    };
    const QJsonValue id = object.value("id");
    if (!id.isUndefined() && !id.isDouble()) fail(source, prefix + "id", "expected a number");
    entry.id = JobId(id.toDouble());
    entry.name = string("name", true);
    entry.queue = string("queue", false);
    entry.settings = object_("settings");
    entry.started = time("started");
    entry.finished = time("finished");
    const QJsonValue duration = object.value("duration_s");
    if (!duration.isUndefined() && !duration.isDouble()) fail(source, prefix + "duration_s", "expected a number");
    entry.durationSeconds = duration.toDouble();
    const QString status = string("status", true);
    for (JobStatus known : {JobStatus::Succeeded, JobStatus::Failed, JobStatus::Cancelled, JobStatus::Queued,
                            JobStatus::Running})
        if (jobStatusName(known) == status) entry.status = known;
    if (jobStatusName(entry.status) != status)
        fail(source, prefix + "status", "expected \"succeeded\", \"failed\" or \"cancelled\"");
    entry.message = string("message", false);
    entry.resultSummary = string("summary", false);
    entry.result = object_("result");
    return entry;
}

JobRunner::JobRunner(QObject* parent) : QObject(parent) {
    (void)kMetaTypesRegistered;
    // One thread per concurrently running queue; queues are few (dataset, one per model).
    pool_.setMaxThreadCount(4);
    pool_.setExpiryTimeout(30000);
}

JobRunner::~JobRunner() {
    blockSignals(true);
    for (auto& [queue, jobs] : queued_) jobs.clear();
    for (auto& [id, job] : running_) job->control->requestCancel();
    pool_.waitForDone();
}

JobId JobRunner::enqueue(std::unique_ptr<Job> job) {
    job->id = nextId_++;
    job->entry.id = job->id;
    job->entry.name = job->options.name;
    job->entry.queue = job->options.queue;
    job->entry.settings = job->options.settings;
    job->entry.status = JobStatus::Queued;
    const JobId id = job->id;
    const QString queue = job->options.queue;
    const QString name = job->options.name;
    queued_[queue].push_back(std::move(job));
    emit jobQueued(id, name);
    updateBusy();
    startNext(queue);
    return id;
}

void JobRunner::startNext(const QString& queue) {
    for (const auto& [id, job] : running_)
        if (job->options.queue == queue) return;  // one at a time per queue
    auto found = queued_.find(queue);
    if (found == queued_.end() || found->second.empty()) return;
    std::unique_ptr<Job> job = std::move(found->second.front());
    found->second.pop_front();

    const JobId id = job->id;
    auto slot = std::make_shared<ProgressSlot>();
    job->control = std::make_shared<detox::JobControl>(
        [this, id, slot](const detox::Progress& progress) { postProgress(id, slot, progress); });
    job->entry.started = QDateTime::currentDateTimeUtc();
    job->entry.status = JobStatus::Running;
    auto control = job->control;
    auto run = job->run;
    const QString name = job->options.name;
    running_[id] = std::move(job);
    emit jobStarted(id, name);

    pool_.start([this, id, control, run]() mutable {
        JobStatus status = JobStatus::Succeeded;
        QString message;
        try {
            run(*control);
        } catch (const detox::Cancelled& cancelled) {
            status = JobStatus::Cancelled;
            message = QString::fromStdString(cancelled.what());
        } catch (const std::bad_alloc&) {
            status = JobStatus::Failed;
            message = tr("out of memory");
        } catch (const std::exception& error) {
            status = JobStatus::Failed;
            message = QString::fromStdString(error.what());
        } catch (...) {
            status = JobStatus::Failed;
            message = tr("unknown error");
        }
        run = nullptr;  // release captured inputs on the worker, not later on the main thread
        QMetaObject::invokeMethod(
            this, [this, id, status, message] { finishJob(id, status, message); }, Qt::QueuedConnection);
    });
}

void JobRunner::postProgress(JobId id, const std::shared_ptr<ProgressSlot>& slot, const detox::Progress& progress) {
    std::lock_guard lock(slot->mutex);
    slot->latest = progress;
    if (slot->posted) return;
    slot->posted = true;
    QMetaObject::invokeMethod(
        this,
        [this, id, slot] {
            detox::Progress latest;
            {
                std::lock_guard lock(slot->mutex);
                latest = slot->latest;
                slot->posted = false;
            }
            if (running_.count(id)) emit jobProgress(id, latest);
        },
        Qt::QueuedConnection);
}

void JobRunner::finishJob(JobId id, JobStatus status, QString message) {
    auto found = running_.find(id);
    if (found == running_.end()) return;
    std::unique_ptr<Job> job = std::move(found->second);
    running_.erase(found);

    if (status == JobStatus::Succeeded && job->control->cancelRequested()) {
        // Cancelled after its work returned: whoever cancelled has moved on (e.g. to another model).
        status = JobStatus::Cancelled;
        message = tr("cancelled; its result was discarded");
    }
    RunLogEntry& entry = job->entry;
    entry.finished = QDateTime::currentDateTimeUtc();
    entry.durationSeconds = entry.started.msecsTo(entry.finished) / 1000.0;
    entry.status = status;
    entry.message = message;
    if (status == JobStatus::Succeeded) {
        // The caller's handler runs here, on the main thread; its failure is the job's failure.
        try {
            const ResultDescription description = job->deliver(job->receiverAlive());
            entry.resultSummary = description.summary;
            entry.result = description.json;
        } catch (const std::exception& error) {
            entry.status = JobStatus::Failed;
            entry.message = tr("while handling the result: %1").arg(QString::fromStdString(error.what()));
        }
    }
    job->deliver = nullptr;

    switch (entry.status) {
    case JobStatus::Succeeded: emit jobSucceeded(id); break;
    case JobStatus::Cancelled: emit jobCancelled(id); break;
    default: emit jobFailed(id, entry.message); break;
    }
    if (entry.status != JobStatus::Succeeded && job->onFailure && job->receiverAlive()) job->onFailure(entry);
    const QString queue = job->options.queue;
    const RunLogEntry finished = entry;
    job.reset();
    emit jobFinished(finished);
    startNext(queue);
    updateBusy();
}

void JobRunner::cancel(JobId id) {
    if (auto found = running_.find(id); found != running_.end()) {
        found->second->control->requestCancel();
        return;
    }
    for (auto& [queue, jobs] : queued_) {
        for (auto it = jobs.begin(); it != jobs.end(); ++it) {
            if ((*it)->id != id) continue;
            std::unique_ptr<Job> job = std::move(*it);
            jobs.erase(it);
            RunLogEntry& entry = job->entry;
            entry.started = entry.finished = QDateTime::currentDateTimeUtc();
            entry.status = JobStatus::Cancelled;
            entry.message = tr("cancelled before it started");
            emit jobCancelled(id);
            if (job->onFailure && job->receiverAlive()) job->onFailure(entry);
            emit jobFinished(entry);
            updateBusy();
            return;
        }
    }
}

void JobRunner::cancelAll() {
    std::vector<JobId> ids;
    for (const auto& [queue, jobs] : queued_)
        for (const auto& job : jobs) ids.push_back(job->id);
    for (JobId id : ids) cancel(id);
    for (auto& [id, job] : running_) job->control->requestCancel();
}

void JobRunner::cancelQueue(const QString& queue) {
    std::vector<JobId> ids;
    if (auto found = queued_.find(queue); found != queued_.end())
        for (const auto& job : found->second) ids.push_back(job->id);
    for (const auto& [id, job] : running_)
        if (job->options.queue == queue) ids.push_back(id);
    for (JobId id : ids) cancel(id);
}

int JobRunner::pendingCount() const {
    size_t count = running_.size();
    for (const auto& [queue, jobs] : queued_) count += jobs.size();
    return int(count);
}

bool JobRunner::isBusy() const { return pendingCount() > 0; }

QString JobRunner::jobName(JobId id) const {
    if (auto found = running_.find(id); found != running_.end()) return found->second->options.name;
    for (const auto& [queue, jobs] : queued_)
        for (const auto& job : jobs)
            if (job->id == id) return job->options.name;
    return {};
}

void JobRunner::updateBusy() {
    const bool busy = isBusy();
    if (busy == busy_) return;
    busy_ = busy;
    emit busyChanged(busy);
}

bool JobRunner::waitForIdle(int timeoutMs) {
    if (!isBusy()) return true;
    QEventLoop loop;
    QTimer timeout;
    timeout.setSingleShot(true);
    connect(&timeout, &QTimer::timeout, &loop, &QEventLoop::quit);
    connect(this, &JobRunner::busyChanged, &loop, [&loop](bool busy) {
        if (!busy) loop.quit();
    });
    timeout.start(timeoutMs);
    loop.exec();
    return !isBusy();
}

}  // namespace detox::ui
