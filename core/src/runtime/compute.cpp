#include "detox/runtime/compute.h"

#include <dlfcn.h>
#include <strings.h>

#include <cstdlib>
#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "torch_pch.h"

namespace detox {
namespace {

// What initCompute did to OpenBLAS's kernel choice ("" = nothing), for computeDescription.
std::string blasCoreNote;

// OpenBLAS (Debian builds it with DYNAMIC_ARCH) picks its kernels from the CPU model at load. A CPU
// newer than the library (this machine: family 6 model 207 under KVM, OpenBLAS 0.3.21) falls back to
// the generic Prescott (SSE3) kernels: sgemm at 31 GFLOP/s per core instead of 145 with the SkylakeX
// (AVX-512) ones. OPENBLAS_CORETYPE is read only when the library loads, so with it unset and the
// fallback chosen on a CPU that has the instructions, select again through OpenBLAS's own entry
// points (found at run time: LibTorch may use another BLAS). Before any BLAS call, so nothing runs
// on the old tables. A user's OPENBLAS_CORETYPE is left alone.
void selectOpenBlasKernels() {
    if (std::getenv("OPENBLAS_CORETYPE")) return;
    using CoreName = char* (*)();
    using Init = void (*)();
    auto coreName = reinterpret_cast<CoreName>(dlsym(RTLD_DEFAULT, "openblas_get_corename"));
    auto dynamicInit = reinterpret_cast<Init>(dlsym(RTLD_DEFAULT, "gotoblas_dynamic_init"));
    auto dynamicQuit = reinterpret_cast<Init>(dlsym(RTLD_DEFAULT, "gotoblas_dynamic_quit"));
    if (!coreName || !dynamicInit || !dynamicQuit) return;
    const std::string detected = coreName();
    if (strcasecmp(detected.c_str(), "prescott") != 0) return;  // a core it knows: its choice stands
    const char* wanted = nullptr;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
        wanted = "SkylakeX";
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        wanted = "Haswell";
    if (!wanted) return;
    ::setenv("OPENBLAS_CORETYPE", wanted, 1);  // also inherited by child processes
    dynamicQuit();
    dynamicInit();
    blasCoreNote = "OpenBLAS kernels " + std::string(coreName()) + " (it detected " + detected +
                   ": CPU model unknown to it)";
}

}  // namespace

void initCompute(int threads) {
    static const bool kernelsSelected = (selectOpenBlasKernels(), true);
    (void)kernelsSelected;
    if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    at::set_num_threads(threads);
}

int computeThreads() { return at::get_num_threads(); }

int parallelLoopThreads() {
    const int threads = at::get_num_threads();
    std::vector<std::atomic<int>> ran(static_cast<size_t>(threads));
    at::parallel_for(0, threads, 1, [&](int64_t, int64_t) {
        ran[size_t(at::get_thread_num())].store(1);
        std::this_thread::sleep_for(std::chrono::milliseconds(5));  // no one thread takes every part
    });
    int count = 0;
    for (const auto& flag : ran) count += flag.load();
    return count;
}

std::string computeDescription() {
    std::string text = "LibTorch " + std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) +
                       "." + std::to_string(TORCH_VERSION_PATCH) + " (CPU), " + std::to_string(at::get_num_threads()) +
                       " threads (" + std::to_string(parallelLoopThreads()) + " in our parallel loops)";
    if (!blasCoreNote.empty()) text += ", " + blasCoreNote;
    return text;
}

}  // namespace detox
