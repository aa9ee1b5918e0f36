// Progress of long CLI commands on stderr, as a JobControl sink.
//  * On a terminal: one line redrawn with \r: "evaluate [#####-------]  12/90 cases  13%  ETA 0:41".
//  * Otherwise (logs, pipes, Slurm): plain lines "evaluate: 12/90 cases (13%), ETA 0:41", at most one per
//    second, plus the line that completes a phase.
// The text after the count is the Progress message, so core jobs name their unit ("cases", ...); with
// showValues, then the Progress values as key=value ("loss=0.31"). A new total, or a step lower than the
// last, starts a new phase (the ETA starts over). Every command's progress goes through this one reporter.
#pragma once
#include <chrono>
#include <iosfwd>
#include <mutex>
#include <optional>
#include <string>

#include "detox/job.h"

namespace detox::cli {

// "0:41", "12:05", "1:02:03"; "--:--" for a negative (unknown) time.
std::string formatDuration(double seconds);

class ProgressReporter {
public:
    // label: the command name. terminal: defaults to isatty(2) (when `out` is std::cerr).
    explicit ProgressReporter(std::string label, std::ostream& out, std::optional<bool> terminal = std::nullopt);
    explicit ProgressReporter(std::string label);  // on std::cerr
    ~ProgressReporter();                           // ends a redrawn line
    ProgressReporter(const ProgressReporter&) = delete;
    ProgressReporter& operator=(const ProgressReporter&) = delete;

    void report(const Progress& progress);
    JobControl::ProgressSink sink() {
        return [this](const Progress& progress) { report(progress); };
    }
    void finish();  // ends a redrawn line (idempotent)
    // Plain lines every `steps` steps (and the one that completes a phase) instead of at most one a second.
    void setEverySteps(int steps) { everySteps_ = steps; }
    // Each line also shows the Progress values ("loss=0.31"), for training loops.
    void setShowValues(bool show) { showValues_ = show; }

    // The plain line for a state, without the trailing newline (for tests and logs).
    static std::string plainLine(const std::string& label, const Progress& progress, double etaSeconds,
                                 bool showValues = false);

private:
    using Clock = std::chrono::steady_clock;
    std::string barLine(const Progress& progress, double etaSeconds) const;
    double etaSeconds(const Progress& progress, Clock::time_point now) const;

    std::string label_;
    std::ostream& out_;
    bool terminal_ = false;
    std::mutex mutex_;
    // Current phase.
    int phaseTotal_ = -1;
    int lastStep_ = 0;
    int phaseFirstStep_ = 0;
    Clock::time_point phaseStart_;
    // Output throttling.
    std::optional<Clock::time_point> lastPrint_;
    size_t lastBarLength_ = 0;
    bool lineOpen_ = false;
    int everySteps_ = 0;   // 0: time-throttled
    bool showValues_ = false;
};

}  // namespace detox::cli
