#include "detox/runtime/compute.h"

#include <thread>

#include "torch_pch.h"

namespace detox {

void initCompute(int threads) {
    if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    at::set_num_threads(threads);
}

int computeThreads() { return at::get_num_threads(); }

std::string computeDescription() {
    return "LibTorch " + std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) + "." +
           std::to_string(TORCH_VERSION_PATCH) + " (CPU), " + std::to_string(at::get_num_threads()) + " threads";
}

}  // namespace detox
