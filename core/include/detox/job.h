// What every long core operation takes: a way to report progress and to be told to stop.
// Front ends (the GUI's job runner, the CLI's progress bar) fill these in; core never blocks on them.
#pragma once
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
};

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
    void report(const Progress& progress) const {
        if (sink_) sink_(progress);
    }

private:
    std::atomic<bool> cancelRequested_{false};
    ProgressSink sink_;
};

// For callers that want neither progress nor cancellation.
inline JobControl& noJobControl() {
    static thread_local JobControl none;
    return none;
}

}  // namespace detox
