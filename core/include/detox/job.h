// What every long core operation takes: a way to report progress and to be told to stop.
// Front ends (the GUI's job runner, the CLI's progress bar) fill these in; core never blocks on them.
#pragma once
#include <algorithm>
#include <atomic>
#include <functional>
#include <map>
#include <string>

#include "detox/error.h"

namespace detox {

struct Progress {
    int step = 0;                         // steps done
    int total = 0;                        // 0 when unknown
    std::string message;                  // what is happening now, for a status line
    std::map<std::string, double> values; // e.g. {"loss", 0.31}, {"edit_loss", ...}, {"constraint_loss", ...}
    // A job made of named phases (the record study: "edit", "generate after", ...): the phase this
    // progress belongs to, phaseIndex 1-based of phaseCount (0: the job has no phases). step/total then
    // count within the phase (a method's optimizer steps, generations).
    std::string phase;
    int phaseIndex = 0;
    int phaseCount = 0;
};

// The job's done fraction in [0, 1]: the phases done plus the part of the current one; -1 when unknown.
inline double doneFraction(const Progress& progress) {
    const double within = progress.total > 0 ? std::clamp(double(progress.step) / progress.total, 0.0, 1.0) : 0.0;
    if (progress.phaseCount > 0)
        return std::clamp((progress.phaseIndex - 1 + within) / progress.phaseCount, 0.0, 1.0);
    return progress.total > 0 ? within : -1.0;
}

class JobControl {
public:
    using ProgressSink = std::function<void(const Progress&)>;

    JobControl() = default;
    explicit JobControl(ProgressSink sink) : sink_(std::move(sink)) {}

    // Thread-safe; the job notices at its next checkpoint (at most one step later).
    void requestCancel() { cancelRequested_.store(true); }
    bool cancelRequested() const { return cancelRequested_.load(); }

    // Called by jobs at safe points; throws detox::Cancelled once cancellation was requested.
    void checkpoint() const {
        if (cancelRequested()) throw Cancelled();
    }
    // Every report carries the phase entered last (unless it names its own), so a front end knows where in
    // the whole job a step of a nested operation is. Enter and report from the job's own thread.
    void report(const Progress& progress) const {
        if (!sink_) return;
        if (progress.phaseCount > 0 || phaseCount_ == 0) return sink_(progress);
        Progress stamped = progress;
        stamped.phase = phase_;
        stamped.phaseIndex = phaseIndex_;
        stamped.phaseCount = phaseCount_;
        sink_(stamped);
    }
    // Enters phase `index` (1-based) of `count` and reports it: {0, 0, message} with the phase.
    void enterPhase(const std::string& name, int index, int count, const std::string& message) {
        phase_ = name;
        phaseIndex_ = index;
        phaseCount_ = count;
        report({0, 0, message, {}});
    }

private:
    std::string phase_;
    int phaseIndex_ = 0, phaseCount_ = 0;
    std::atomic<bool> cancelRequested_{false};
    ProgressSink sink_;
};

// For callers that want neither progress nor cancellation.
inline JobControl& noJobControl() {
    static thread_local JobControl none;
    return none;
}

}  // namespace detox
