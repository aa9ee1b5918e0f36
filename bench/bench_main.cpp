// detox-bench [--quick] [--filter SUBSTRING] [--shape tinyllama|llama7b] [--list]
// detox-bench --write-checkpoint tinyllama|llama7b DIR   (a random BF16 checkpoint, for scripts/scale-7b.sh)
// Prints one JSON object: machine facts, the fp32 GEMM reference, the memory bandwidth, then each
// benchmark's figures.
#include <algorithm>
#include <fstream>
#include <iostream>
#include <limits>
#include <thread>

#include "bench_harness.h"
#include "detox/runtime/compute.h"
#include "detox/version.h"
#include "torch_pch.h"

namespace detox::bench {
namespace {

std::vector<Benchmark>& registry() {
    static std::vector<Benchmark> benchmarks;
    return benchmarks;
}

long long procStatusKilobytes(const std::string& key) {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line))
        if (line.rfind(key + ":", 0) == 0) return std::stoll(line.substr(key.size() + 1));
    return 0;
}

// The reference other figures are compared with: fp32 [512 x 4096] x [4096 x 4096]^T through
// torch::linear (as the model multiplies: weights [out, in]), LibTorch's threads, best of 5 after 2
// warm-ups. The runtime benchmark also measures its own shapes (bench_runtime.cpp).
nlohmann::json gemmReference(Context& context) {
    const int64_t m = context.quick ? 128 : 512, k = 4096, n = 4096;
    torch::manual_seed(0);
    auto a = torch::randn({m, k});
    auto b = torch::randn({n, k});
    torch::Tensor c;
    c10::InferenceMode inference;
    double seconds = bestSeconds([&] { c = torch::linear(a, b); }, 5, 2);
    context.gemmGflops = 2.0 * m * k * n / seconds / 1e9;
    return {{"shape", {m, k, n}}, {"best_seconds", seconds}, {"gflops", context.gemmGflops}};
}

// Memory read bandwidth: a 1 GiB float array (4x this machine's 260 MiB L3), summed by LibTorch's
// threads with independent accumulators (at::parallel_for) and by torch::sum; the best of 5 reads of
// each, the larger of the two. The decode bound is weight bytes per token / this rate.
nlohmann::json bandwidthProbe(Context& context) {
    const int64_t count = int64_t(1) << 28;
    torch::Tensor data = torch::ones({count});
    const float* values = data.data_ptr<float>();
    std::vector<float> partial(size_t(at::get_num_threads()) * 16, 0.f);
    double parallelSeconds = bestSeconds([&] {
        at::parallel_for(0, count, count / (4 * at::get_num_threads()), [&](int64_t begin, int64_t end) {
            float lanes[16] = {};
            const int64_t blocks = (end - begin) / 16;
            for (int64_t block = 0; block < blocks; ++block)
                for (int lane = 0; lane < 16; ++lane) lanes[lane] += values[begin + block * 16 + lane];
            for (int64_t i = begin + blocks * 16; i < end; ++i) lanes[0] += values[i];
            float total = 0;
            for (float lane : lanes) total += lane;
            partial[size_t(at::get_thread_num()) * 16] += total;  // keeps the loop; one slot per thread
        });
    }, 5, 1);
    double torchSeconds = bestSeconds([&] { data.sum().item<float>(); }, 5, 1);
    const double bytes = double(count) * sizeof(float);
    context.bandwidthGBs = bytes / std::min(parallelSeconds, torchSeconds) / 1e9;
    return {{"bytes", bytes},
            {"parallel_sum_gbs", bytes / parallelSeconds / 1e9},
            {"torch_sum_gbs", bytes / torchSeconds / 1e9},
            {"gbs", context.bandwidthGBs}};
}

// Which BLAS LibTorch's GEMM really calls. libblas.so.3 is a Debian alternative: with
// libopenblas0-openmp it resolves to OpenBLAS, otherwise to the slow reference BLAS in .../blas/.
// (OpenBLAS may be mapped even then, through LAPACK, so the reference BLAS is looked for first.)
std::string blasName() {
    std::string openblasPath;
    std::ifstream maps("/proc/self/maps");
    std::string line;
    while (std::getline(maps, line)) {
        auto slash = line.find('/');
        if (slash == std::string::npos) continue;
        std::string path = line.substr(slash);
        if (path.find("/blas/libblas.so") != std::string::npos) return "reference BLAS (" + path + ")";
        if (path.find("libopenblas") != std::string::npos) openblasPath = path;
    }
    return openblasPath.empty() ? "unknown" : "OpenBLAS (" + openblasPath + ")";
}

}  // namespace

bool registerBenchmark(Benchmark benchmark) {
    registry().push_back(std::move(benchmark));
    return true;
}

double medianSeconds(const std::function<void()>& body, int repeats, int warmup) {
    for (int i = 0; i < warmup; ++i) body();
    std::vector<double> times;
    for (int i = 0; i < repeats; ++i) {
        auto start = std::chrono::steady_clock::now();
        body();
        times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
    std::sort(times.begin(), times.end());
    return times[times.size() / 2];
}

double bestSeconds(const std::function<void()>& body, int repeats, int warmup) {
    for (int i = 0; i < warmup; ++i) body();
    double best = std::numeric_limits<double>::infinity();
    for (int i = 0; i < repeats; ++i) {
        auto start = std::chrono::steady_clock::now();
        body();
        best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
    return best;
}

long long peakResidentBytes() { return procStatusKilobytes("VmHWM") * 1024; }
long long currentResidentBytes() { return procStatusKilobytes("VmRSS") * 1024; }

}  // namespace detox::bench

int main(int argc, char** argv) {
    using namespace detox::bench;
    Context context;
    std::string filter;
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        if (arg == "--quick") context.quick = true;
        else if (arg == "--filter" && i + 1 < argc) filter = argv[++i];
        else if (arg == "--shape" && i + 1 < argc) context.shape = argv[++i];
        else if (arg == "--write-checkpoint" && i + 2 < argc) return writeCheckpointCommand(argv[i + 1], argv[i + 2]);
        else if (arg == "--list") {
            for (const auto& b : registry()) std::cout << b.name << "\t" << b.description << "\n";
            return 0;
        } else {
            std::cerr << "usage: detox-bench [--quick] [--filter SUBSTRING] [--shape tinyllama|llama7b] [--list]\n"
                         "       detox-bench --write-checkpoint tinyllama|llama7b DIR\n";
            return 2;
        }
    }
    if (!context.shape.empty() && context.shape != "tinyllama" && context.shape != "llama7b") {
        std::cerr << "detox-bench: --shape is tinyllama or llama7b\n";
        return 2;
    }
    detox::initCompute();
    nlohmann::json report;
    report["app_version"] = detox::appVersion();
    report["compute"] = detox::computeDescription();
    report["blas"] = blasName();
    report["cores"] = std::thread::hardware_concurrency();
    report["gemm_reference"] = gemmReference(context);
    report["memory_bandwidth"] = bandwidthProbe(context);
    nlohmann::json results = nlohmann::json::object();
    for (const auto& benchmark : registry()) {
        if (!filter.empty() && benchmark.name.find(filter) == std::string::npos) continue;
        std::cerr << "running " << benchmark.name << "...\n";
        results[benchmark.name] = benchmark.run(context);
    }
    report["benchmarks"] = results;
    std::cout << report.dump(2) << "\n";
    return 0;
}
