// detox-bench [--quick] [--filter SUBSTRING] [--shape tinyllama|llama7b] [--checkpoint DIR] [--list]
// detox-bench --write-checkpoint tinyllama|llama7b DIR   (a random BF16 checkpoint, for scripts/scale-7b.sh)
// Prints one JSON object: machine facts, the fp32 GEMM reference, the memory bandwidth, then each
// benchmark's figures.
#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
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

nlohmann::json bandwidthProbe(Context& context) {
    nlohmann::json figures = measureBandwidth();
    context.bandwidthGBs = figures["gbs"];
    return figures;
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

namespace {

// The vector helpers are inlined into the target-specific functions: no ABI crosses them.
#pragma GCC diagnostic ignored "-Wpsabi"

template <int W>
struct Lanes {
    typedef float Float __attribute__((vector_size(W * sizeof(float)), aligned(sizeof(float))));
};

// Sum of p[0, count) with four vector accumulators: the loads a weight-reading kernel issues.
template <int W>
__attribute__((always_inline)) inline float sumVectors(const float* p, int64_t count) {
    using V = typename Lanes<W>::Float;
    V a{}, b{}, c{}, d{}, v[4];
    int64_t i = 0;
    for (; i + 4 * W <= count; i += 4 * W) {
        __builtin_memcpy(v, p + i, sizeof(v));
        a += v[0];
        b += v[1];
        c += v[2];
        d += v[3];
    }
    float total = 0;
    for (; i < count; ++i) total += p[i];
    a += b + c + d;
    for (int lane = 0; lane < W; ++lane) total += a[lane];
    return total;
}
__attribute__((target("avx512f"))) float sumAvx512(const float* p, int64_t count) { return sumVectors<16>(p, count); }
__attribute__((target("avx2"))) float sumAvx2(const float* p, int64_t count) { return sumVectors<8>(p, count); }
float sumPlain(const float* p, int64_t count) { return sumVectors<4>(p, count); }

// Best of 5 reads (after one) of a 1 GiB array (4x this machine's 260 MiB L3) by LibTorch's threads, each
// thread a contiguous part, in GB/s. hugePages: the array is asked for in 2 MiB pages (MADV_HUGEPAGE).
double readRate(bool hugePages) {
    const size_t bytes = size_t(1) << 30, count = bytes / sizeof(float);
    auto* data = static_cast<float*>(std::aligned_alloc(size_t(2) << 20, bytes));
    if (!data) return 0;
    ::madvise(data, bytes, hugePages ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
    std::fill(data, data + count, 1.f);
    __builtin_cpu_init();
    auto sum = __builtin_cpu_supports("avx512f") ? sumAvx512 : __builtin_cpu_supports("avx2") ? sumAvx2 : sumPlain;
    std::vector<float> partial(size_t(at::get_num_threads()) * 16, 0.f);
    const double seconds = bestSeconds([&] {
        const int64_t threads = at::get_num_threads(), part = int64_t(count) / threads;
        at::parallel_for(0, threads, 1, [&](int64_t begin, int64_t end) {
            for (int64_t t = begin; t < end; ++t)
                partial[size_t(t) * 16] += sum(data + t * part, t + 1 == threads ? int64_t(count) - t * part : part);
        });
    }, 5, 1);
    std::free(data);
    return double(bytes) / seconds / 1e9;
}

}  // namespace

// Memory read bandwidth, the best this machine reads: vector loads (as the row kernel issues them) over a
// 1 GiB array, by LibTorch's threads, in 2 MiB pages and in 4 KiB pages, and torch::sum over 4 KiB pages.
// Pages matter here: in this VM a read over 4 KiB pages ran at 22 GB/s, over 2 MiB pages at 28-32 GB/s,
// and torch::sum (the probe before 2026-12-06) at 17-20 GB/s, which made decode fractions look better than
// they were. The decode bound (weight bytes per token / this rate) uses the largest.
nlohmann::json measureBandwidth() {
    const double huge = readRate(true), small = readRate(false);
    const int64_t count = int64_t(1) << 28;
    torch::Tensor data = torch::ones({count});
    const double torchSeconds = bestSeconds([&] { data.sum().item<float>(); }, 5, 1);
    const double torchSum = double(count) * sizeof(float) / torchSeconds / 1e9;
    return {{"bytes", double(size_t(1) << 30)},
            {"vector_read_2mib_pages_gbs", huge},
            {"vector_read_4kib_pages_gbs", small},
            {"torch_sum_gbs", torchSum},
            {"gbs", std::max({huge, small, torchSum})}};
}

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
        else if (arg == "--checkpoint" && i + 1 < argc) context.checkpoint = argv[++i];
        else if (arg == "--write-checkpoint" && i + 2 < argc) return writeCheckpointCommand(argv[i + 1], argv[i + 2]);
        else if (arg == "--list") {
            for (const auto& b : registry()) std::cout << b.name << "\t" << b.description << "\n";
            return 0;
        } else {
            std::cerr << "usage: detox-bench [--quick] [--filter SUBSTRING] [--shape tinyllama|llama7b] "
                         "[--checkpoint DIR] [--list]\n"
                         "       detox-bench --write-checkpoint tinyllama|llama7b DIR\n";
            return 2;
        }
    }
    if (!context.shape.empty() && context.shape != "tinyllama" && context.shape != "llama7b") {
        std::cerr << "detox-bench: --shape is tinyllama or llama7b\n";
        return 2;
    }
    if (!context.checkpoint.empty() && !std::filesystem::is_directory(context.checkpoint)) {
        std::cerr << "detox-bench: --checkpoint " << context.checkpoint << " is not a folder\n";
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
