// A small benchmark harness: benchmarks register themselves and report named figures as JSON.
// The GEMM reference runs first in every invocation so each figure can be quoted as a ratio of it.
#pragma once
#include <chrono>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace detox::bench {

struct Context {
    double gemmGflops = 0;    // the reference rate measured in this run
    double bandwidthGBs = 0;  // memory read bandwidth measured in this run (GB/s, 1e9 bytes)
    bool quick = false;       // smaller shapes, for smoke runs
    std::string shape;        // --shape: only this model shape in the scale benchmark ("" = all)
    std::string checkpoint;   // --checkpoint: the decode benchmark's checkpoint ("" = a random one)
};

struct Benchmark {
    std::string name;
    std::string description;
    std::function<nlohmann::json(const Context&)> run;  // returns the benchmark's figures
};

bool registerBenchmark(Benchmark benchmark);

// Memory read bandwidth (bench_main.cpp): what a decode bound divides by. Every run measures it once at
// the start (Context::bandwidthGBs); a long benchmark measures it again beside its own figure, since
// another process on the machine can change it by a fifth within minutes.
nlohmann::json measureBandwidth();

// Median wall time in seconds of `repeats` calls of `body` after `warmup` calls.
double medianSeconds(const std::function<void()>& body, int repeats = 5, int warmup = 1);

// Shortest wall time in seconds of `repeats` calls of `body` after `warmup` calls (for reference rates:
// the machine's best, what a ratio should be measured against).
double bestSeconds(const std::function<void()>& body, int repeats = 5, int warmup = 1);

// Peak resident set size of this process so far, in bytes (from /proc/self/status VmHWM).
long long peakResidentBytes();
long long currentResidentBytes();

// detox-bench --write-checkpoint SHAPE DIR: a random BF16 checkpoint of a real shape (bench_scale.cpp).
int writeCheckpointCommand(const std::string& shape, const std::string& directory);

}  // namespace detox::bench
