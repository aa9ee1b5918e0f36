// Process-wide set-up of the tensor runtime.
#pragma once
#include <string>

namespace detox {

// Sets LibTorch's intra-op thread count (it defaults to 1 on Debian's build).
// threads <= 0 means one per core. Call once at start-up from every executable, before any tensor
// work: the first call also re-selects OpenBLAS's kernels when it fell back to its generic ones on a
// CPU it does not know (compute.cpp; computeDescription says so).
void initCompute(int threads = 0);

int computeThreads();

// How many threads our own parallel loops (at::parallel_for in core's files: the decode row kernel, the
// load's weight scan) really run on: computeThreads() when core is built with OpenMP, 1 when not (the
// loop then runs serially without a word; that was the case until 2026-12-06).
int parallelLoopThreads();

// A one-line description of the compute back end (LibTorch version, threads, BLAS), for logs and provenance.
std::string computeDescription();

}  // namespace detox
