#include "cli_progress.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <sstream>

namespace detox::cli {
namespace {

constexpr double kPlainInterval = 1.0;   // seconds between plain lines
constexpr double kBarInterval = 0.1;     // seconds between redraws
constexpr int kBarWidth = 24;

int percentOf(const Progress& progress) {
    if (progress.total <= 0) return 0;
    return int(std::floor(100.0 * progress.step / progress.total));
}

std::string countText(const Progress& progress, bool showValues) {
    // A phased job (the record study) names where it is: "[4/8 edit] 3/10 DINM step ...".
    std::string text;
    if (progress.phaseCount > 0)
        text = "[" + std::to_string(progress.phaseIndex) + "/" + std::to_string(progress.phaseCount) + " " +
               progress.phase + "] ";
    text += std::to_string(progress.step);
    if (progress.total > 0) text += "/" + std::to_string(progress.total);
    if (!progress.message.empty()) text += " " + progress.message;
    if (!showValues) return text;
    for (const auto& [key, value] : progress.values) {
        std::ostringstream number;
        number << value;
        text += " " + key + "=" + number.str();
    }
    return text;
}

}  // namespace

std::string formatDuration(double seconds) {
    if (seconds < 0 || !std::isfinite(seconds)) return "--:--";
    long total = std::lround(seconds);
    long hours = total / 3600, minutes = (total / 60) % 60, secs = total % 60;
    char text[32];
    if (hours > 0)
        std::snprintf(text, sizeof(text), "%ld:%02ld:%02ld", hours, minutes, secs);
    else
        std::snprintf(text, sizeof(text), "%ld:%02ld", minutes, secs);
    return text;
}

ProgressReporter::ProgressReporter(std::string label, std::ostream& out, std::optional<bool> terminal)
    : label_(std::move(label)), out_(out) {
    terminal_ = terminal.value_or(&out == &std::cerr && ::isatty(STDERR_FILENO) == 1);
}

ProgressReporter::ProgressReporter(std::string label) : ProgressReporter(std::move(label), std::cerr) {}

ProgressReporter::~ProgressReporter() { finish(); }

void ProgressReporter::finish() {
    std::lock_guard lock(mutex_);
    if (lineOpen_) {
        out_ << "\n" << std::flush;
        lineOpen_ = false;
    }
}

std::string ProgressReporter::plainLine(const std::string& label, const Progress& progress, double etaSeconds,
                                        bool showValues) {
    std::string line = label + ": " + countText(progress, showValues);
    if (progress.total > 0) line += " (" + std::to_string(percentOf(progress)) + "%), ETA " + formatDuration(etaSeconds);
    return line;
}

std::string ProgressReporter::barLine(const Progress& progress, double etaSeconds) const {
    std::string bar;
    if (progress.total > 0) {
        int filled = std::clamp(kBarWidth * progress.step / progress.total, 0, kBarWidth);
        bar = " [" + std::string(size_t(filled), '#') + std::string(size_t(kBarWidth - filled), '-') + "]";
    }
    std::string line = label_ + bar + "  " + countText(progress, showValues_);
    if (progress.total > 0) line += "  " + std::to_string(percentOf(progress)) + "%  ETA " + formatDuration(etaSeconds);
    return line;
}

double ProgressReporter::etaSeconds(const Progress& progress, Clock::time_point now) const {
    const int done = progress.step - phaseFirstStep_;
    if (progress.total > 0 && progress.step >= progress.total) return 0;
    if (progress.total <= 0 || done <= 0) return -1;
    const double elapsed = std::chrono::duration<double>(now - phaseStart_).count();
    return elapsed / done * (progress.total - progress.step);
}

void ProgressReporter::report(const Progress& progress) {
    std::lock_guard lock(mutex_);
    const Clock::time_point now = Clock::now();
    // Messages may change within a phase (e.g. one per tensor loaded); a new total or a step going back
    // starts a new one.
    const bool newPhase = progress.total != phaseTotal_ || progress.step < lastStep_;
    lastStep_ = progress.step;
    if (newPhase) {
        phaseTotal_ = progress.total;
        phaseFirstStep_ = progress.step;
        phaseStart_ = now;
    }
    const bool complete = progress.total > 0 && progress.step >= progress.total;
    const double sinceLast = lastPrint_ ? std::chrono::duration<double>(now - *lastPrint_).count() : 1e9;
    const double eta = etaSeconds(progress, now);
    if (terminal_) {
        if (!complete && !newPhase && sinceLast < kBarInterval) return;
        std::string line = barLine(progress, eta);
        const size_t length = line.size();
        if (length < lastBarLength_) line += std::string(lastBarLength_ - length, ' ');  // erase the old tail
        out_ << "\r" << line << std::flush;
        lastBarLength_ = length;
        lineOpen_ = true;
    } else {
        const bool due = everySteps_ > 0 ? progress.step % everySteps_ == 0 : sinceLast >= kPlainInterval;
        if (!complete && !due) return;
        out_ << plainLine(label_, progress, eta, showValues_) << "\n" << std::flush;
    }
    lastPrint_ = now;
}

}  // namespace detox::cli
