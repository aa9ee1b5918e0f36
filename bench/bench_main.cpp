// detox-bench [--quick] [--filter SUBSTRING] [--list]
// Prints one JSON object: machine facts, the fp32 GEMM reference, then each benchmark's figures.
#include <algorithm>
#include <fstream>
#include <iostream>
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

// The reference every other figure is compared with: fp32 [512 x 4096] x [4096 x 4096] through LibTorch.
nlohmann::json gemmReference(Context& context) {
    const int64_t m = context.quick ? 128 : 512, k = 4096, n = 4096;
    torch::manual_seed(0);
    auto a = torch::randn({m, k});
    auto b = torch::randn({k, n});
    torch::Tensor c;
    double seconds = medianSeconds([&] { c = torch::mm(a, b); }, 5, 2);
    context.gemmGflops = 2.0 * m * k * n / seconds / 1e9;
    return {{"shape", {m, k, n}}, {"median_seconds", seconds}, {"gflops", context.gemmGflops}};
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
        else if (arg == "--list") {
            for (const auto& b : registry()) std::cout << b.name << "\t" << b.description << "\n";
            return 0;
        } else {
            std::cerr << "usage: detox-bench [--quick] [--filter SUBSTRING] [--list]\n";
            return 2;
        }
    }
    detox::initCompute();
    nlohmann::json report;
    report["app_version"] = detox::appVersion();
    report["compute"] = detox::computeDescription();
    report["blas"] = blasName();
    report["cores"] = std::thread::hardware_concurrency();
    report["gemm_reference"] = gemmReference(context);
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
