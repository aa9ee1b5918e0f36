// fuzz_inputs: a deterministic mutation fuzzer over the readers of untrusted files (see README.md here).
//   fuzz_inputs --target NAME [--runs N] [--seed S] [--seconds T] [--corpus DIR] [--findings DIR]
//               [--max-memory-mb M] [--input-timeout S]
//   fuzz_inputs --target NAME --replay FILE...
// Every committed seed runs first, then N mutated inputs. The same seed gives the same inputs (with
// --seconds the run may stop earlier on a slower machine). An input that gives a new outcome (accepted,
// or a detox::Error message not seen before, digits ignored) joins the pool that later mutations start
// from, so the run works its way past the first checks. A finding (another exception, a crash, a hang, an
// allocation past the memory cap) writes the input to FINDINGS/TARGET-*.bin; the exit status is then 1.
#include <QGuiApplication>
#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <sys/resource.h>
#include <unistd.h>

#include "detox/error.h"
#include "detox/fileio.h"
#include "fuzz_targets.h"
#include "mutator.h"

namespace {

namespace fs = std::filesystem;
using detox::fuzz::FuzzTarget;

struct Options {
    std::string target;
    uint64_t runs = 1000;
    uint64_t seed = 1;
    double seconds = 0;  // 0: no time limit
    std::string corpus;
    std::string findings = "fuzz-findings";
    uint64_t maxMemoryMb = 4096;
    unsigned inputTimeoutSeconds = 60;
    std::vector<std::string> replay;
};

// What a signal handler needs to save the input that crashed: set before every execution.
const std::string* g_currentInput = nullptr;
char g_crashPath[4096];

void writeAll(int fd, const char* data, size_t size) {
    while (size > 0) {
        const ssize_t written = ::write(fd, data, size);
        if (written <= 0) return;
        data += written;
        size -= size_t(written);
    }
}

// Async-signal-safe: saves the input, says where, and dies of the same signal.
extern "C" void onFatalSignal(int signal) {
    if (g_currentInput) {
        const int fd = ::open(g_crashPath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            writeAll(fd, g_currentInput->data(), g_currentInput->size());
            ::close(fd);
        }
        const char* what = signal == SIGALRM ? "FINDING: input timed out; reproducer: " : "FINDING: crash; reproducer: ";
        writeAll(2, what, std::strlen(what));
        writeAll(2, g_crashPath, std::strlen(g_crashPath));
        writeAll(2, "\n", 1);
    }
    std::signal(signal == SIGALRM ? SIGABRT : signal, SIG_DFL);
    std::raise(signal == SIGALRM ? SIGABRT : signal);
}

void installCrashHandlers() {
    static char alternateStack[1 << 16];  // a stack overflow still gets its reproducer written
    stack_t stack{};
    stack.ss_sp = alternateStack;
    stack.ss_size = sizeof alternateStack;
    ::sigaltstack(&stack, nullptr);
    struct sigaction action{};
    action.sa_handler = onFatalSignal;
    action.sa_flags = SA_ONSTACK | SA_RESETHAND;
    for (int signal : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGALRM}) ::sigaction(signal, &action, nullptr);
}

// An allocation past the cap fails with std::bad_alloc (a finding) instead of taking the machine's memory.
void capMemory(uint64_t megabytes) {
#if !defined(__SANITIZE_ADDRESS__)
    rlimit limit{megabytes << 20, megabytes << 20};
    ::setrlimit(RLIMIT_AS, &limit);
#else
    (void)megabytes;  // ASan reserves terabytes of address space; it reports huge allocations itself
#endif
}

std::vector<std::string> readCorpus(const std::string& folder) {
    std::vector<fs::path> files;
    if (fs::is_directory(folder))
        for (const auto& entry : fs::directory_iterator(folder))
            if (entry.is_regular_file() && entry.path().filename().string()[0] != '.') files.push_back(entry.path());
    std::sort(files.begin(), files.end());  // directory order differs between file systems
    std::vector<std::string> corpus;
    for (const auto& file : files) corpus.push_back(detox::readFile(file.string()));
    return corpus;
}

// An outcome class: "accepted", or the refusal's message with digits dropped (so "layer 3" and "layer 4" agree).
std::string outcomeOf(const std::string& message) {
    std::string signature;
    for (char c : message.substr(0, 160))
        if (!(c >= '0' && c <= '9')) signature += c;
    return signature;
}

class Campaign {
public:
    Campaign(const Options& options, FuzzTarget& target) : options_(options), target_(target) {}

    // Runs one input; returns its outcome, or records a finding (other exception) and returns "finding".
    std::string execute(const std::string& input, const std::string& label) {
        std::snprintf(g_crashPath, sizeof g_crashPath, "%s/%s-%s.bin", options_.findings.c_str(),
                      options_.target.c_str(), label.c_str());
        g_currentInput = &input;
        ::alarm(options_.inputTimeoutSeconds);
        std::string outcome;
        try {
            target_.run(input);
            ++accepted_;
            outcome = "accepted";
        } catch (const detox::Error& e) {
            ++refused_;
            outcome = outcomeOf(e.what());
        } catch (const std::exception& e) {
            recordFinding(input, g_crashPath, std::string("exception that is not detox::Error: ") + e.what());
            outcome = "finding";
        } catch (...) {
            recordFinding(input, g_crashPath, "unknown exception");
            outcome = "finding";
        }
        ::alarm(0);
        g_currentInput = nullptr;
        ++executions_;
        return outcome;
    }

    int run(std::vector<std::string> pool) {
        const size_t seeds = pool.size();
        std::set<std::string> outcomes;
        for (size_t i = 0; i < seeds; ++i) {
            const std::string outcome = execute(pool[i], "seed-" + std::to_string(i));
            if (outcome == "accepted") acceptedInputs_.push_back(pool[i]);
            outcomes.insert(outcome);
        }
        detox::fuzz::Mutator mutator(options_.seed);
        const auto start = std::chrono::steady_clock::now();
        uint64_t done = 0;
        for (; done < options_.runs && findings_ < kMaxFindings; ++done) {
            if (options_.seconds > 0 && elapsedSince(start) > options_.seconds) break;
            // Half of the time from an accepted input: mutations of those get past the first checks.
            const bool fromAccepted = !acceptedInputs_.empty() && mutator.random().chance(50);
            const std::string& parent = fromAccepted ? acceptedInputs_[mutator.random().below(acceptedInputs_.size())]
                                                     : pool[mutator.random().below(pool.size())];
            std::string input = mutator.mutate(parent, pool, target_.maxInputBytes());
            const std::string outcome = execute(input, "seed" + std::to_string(options_.seed) + "-run" + std::to_string(done));
            if (outcome == "accepted" && acceptedInputs_.size() < kMaxPool) acceptedInputs_.push_back(input);
            if (outcomes.insert(outcome).second) addToPool(pool, seeds, std::move(input), mutator.random());
        }
        std::printf("{\"target\": \"%s\", \"seed\": %llu, \"executions\": %llu, \"mutated\": %llu, \"seconds\": %.1f, "
                    "\"accepted\": %llu, \"refused\": %llu, \"findings\": %llu, \"outcomes\": %zu, \"pool\": %zu}\n",
                    options_.target.c_str(), (unsigned long long)options_.seed, (unsigned long long)executions_,
                    (unsigned long long)done, elapsedSince(start), (unsigned long long)accepted_,
                    (unsigned long long)refused_, (unsigned long long)findings_, outcomes.size(), pool.size());
        return findings_ == 0 ? 0 : 1;
    }

    int replay() {
        for (const auto& file : options_.replay) {
            const std::string input = detox::readFile(file);
            const std::string outcome = execute(input, "replay");
            std::printf("%s: %s\n", file.c_str(), outcome.c_str());
        }
        return findings_ == 0 ? 0 : 1;
    }

private:
    static constexpr uint64_t kMaxFindings = 20;
    static constexpr size_t kMaxPool = 1000;

    static double elapsedSince(std::chrono::steady_clock::time_point start) {
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    }

    // Keeps the committed seeds; past kMaxPool a random later entry makes room.
    static void addToPool(std::vector<std::string>& pool, size_t seeds, std::string input, detox::fuzz::Random& random) {
        if (pool.size() < kMaxPool) {
            pool.push_back(std::move(input));
        } else {
            pool[seeds + random.below(pool.size() - seeds)] = std::move(input);
        }
    }

    void recordFinding(const std::string& input, const std::string& path, const std::string& what) {
        ++findings_;
        std::ofstream(path, std::ios::binary).write(input.data(), std::streamsize(input.size()));
        std::fprintf(stderr, "FINDING: %s\n  reproducer: %s\n", what.c_str(), path.c_str());
    }

    const Options& options_;
    FuzzTarget& target_;
    std::vector<std::string> acceptedInputs_;  // the first kMaxPool accepted inputs
    uint64_t executions_ = 0, accepted_ = 0, refused_ = 0, findings_ = 0;
};

[[noreturn]] void usage(const std::string& problem) {
    std::string names;
    for (const auto& name : detox::fuzz::fuzzTargetNames()) names += (names.empty() ? "" : "|") + name;
    std::fprintf(stderr,
                 "%s\nusage: fuzz_inputs --target %s [--runs N] [--seed S] [--seconds T] [--corpus DIR] "
                 "[--findings DIR] [--max-memory-mb M] [--input-timeout S] [--replay FILE...]\n",
                 problem.c_str(), names.c_str());
    std::exit(2);
}

Options parseOptions(int argc, char** argv) {
    Options options;
    for (int i = 1; i < argc; ++i) {
        const std::string key = argv[i];
        if (key == "--replay") {
            for (++i; i < argc; ++i) options.replay.push_back(argv[i]);
            break;
        }
        if (i + 1 >= argc) usage(key + " needs a value");
        const std::string value = argv[++i];
        try {
            if (key == "--target") options.target = value;
            else if (key == "--runs") options.runs = std::stoull(value);
            else if (key == "--seed") options.seed = std::stoull(value);
            else if (key == "--seconds") options.seconds = std::stod(value);
            else if (key == "--corpus") options.corpus = value;
            else if (key == "--findings") options.findings = value;
            else if (key == "--max-memory-mb") options.maxMemoryMb = std::stoull(value);
            else if (key == "--input-timeout") options.inputTimeoutSeconds = unsigned(std::stoul(value));
            else usage("unknown option " + key);
        } catch (const std::logic_error&) {
            usage("bad value for " + key + ": " + value);
        }
    }
    if (options.target.empty()) usage("--target is required");
    if (options.corpus.empty()) options.corpus = std::string(DETOX_SOURCE_DIR) + "/tests/fuzz/corpus/" + options.target;
    return options;
}

}  // namespace

int main(int argc, char** argv) {
    if (qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM")) qputenv("QT_QPA_PLATFORM", "offscreen");
    QGuiApplication app(argc, argv);  // figures use fonts and colours
    const Options options = parseOptions(argc, argv);
    std::unique_ptr<FuzzTarget> target = detox::fuzz::makeFuzzTarget(options.target);
    if (!target) usage("unknown target " + options.target);
    detox::fuzz::useOneThread();

    const fs::path scratch = fs::temp_directory_path() / ("detox-fuzz-" + options.target + "-" + std::to_string(::getpid()));
    fs::create_directories(scratch);
    fs::create_directories(options.findings);
    std::vector<std::string> pool = readCorpus(options.corpus);
    for (std::string& seed : target->prepare(scratch.string())) pool.push_back(std::move(seed));
    if (pool.empty() && options.replay.empty()) usage("no seeds in " + options.corpus);

    installCrashHandlers();
    capMemory(options.maxMemoryMb);
    Campaign campaign(options, *target);
    const int status = options.replay.empty() ? campaign.run(std::move(pool)) : campaign.replay();
    fs::remove_all(scratch);
    return status;
}
