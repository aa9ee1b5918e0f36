// Shared pieces of the model benchmarks (bench_runtime.cpp, bench_methods.cpp, bench_scale.cpp): real
// model shapes, the model's own GEMM reference and the decode-step timer.
#pragma once
#include "bench_harness.h"
#include "detox/methods/methods.h"
#include "runtime/transformer.h"

namespace detox::bench {

ModelConfig gpt2Shape(bool quick);
ModelConfig tinyLlamaShape(bool quick);
ModelConfig llama7bShape();

// Weight bytes a one-token decode step reads: every layer's matrices and the LM head, as held.
double decodeWeightBytes(const Model::Impl& impl);
// Multiply-adds x2 of the weight matrices over `rows` positions (the attention products excluded).
double matrixFlops(const Model::Impl& impl, int64_t rows);
// The same-run GEMM reference for a forward of `rows` positions (see bench_runtime.cpp).
double modelGemmSeconds(const Model::Impl& impl, int64_t rows);
// Seconds per one-token decode step for `batch` sequences after a 16-token prompt (best of `runs`).
double decodeStepSeconds(const Model::Impl& impl, int64_t batch, int steps, int runs = 3);

// Decode tokens/s for batch 1 and 4 against the same-run bandwidth bound, with the row kernel and, when
// `withTorchLinear`, without it (bench_runtime.cpp).
nlohmann::json measureDecode(const Model::Impl& impl, const Context& context, bool withTorchLinear);

// Loads `directory` with `mode` and measures its decode with the row kernel (bench_decode.cpp); F32 is
// skipped, with the reason, when it does not fit this machine's memory.
nlohmann::json decodeInMode(const std::string& directory, WeightMode mode, const Context& context);

// A random checkpoint of `config`'s shape, BF16, in HF's sharded layout (bench_scale.cpp).
nlohmann::json writeRandomCheckpoint(const ModelConfig& config, const std::string& directory);

// Token ids that are not special tokens, deterministic for (count, vocab, offset).
std::vector<int> benchIds(int count, int vocab, int offset);
// SafeEdit-like DINM lengths: adversarial prompt 256 + safe generation 96, knowledge 48 + 48 (quick: smaller).
DinmInputs benchDinmInputs(int vocab, bool quick);

}  // namespace detox::bench
