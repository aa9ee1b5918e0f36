// Shared internals of the methods (locate, DINM, SFT, DPO, mechanism): response log-probabilities on
// padded batches, a snapshot guard that restores touched tensors unless the job completes, parameter
// selection and small conversions.
#pragma once
#include <chrono>
#include <string>
#include <vector>

#include "detox/methods/methods.h"
#include "detox/provenance.h"
#include "runtime/float_tensor.h"
#include "runtime/transformer.h"

namespace detox::nn {

// Prompt + response sequences right-padded into one batch, with a mask of the response tokens.
struct ResponseBatch {
    TokenBatch tokens;        // ids [batch, seq], mask [batch, seq]
    torch::Tensor targetMask; // [batch, seq - 1] float: 1 where ids[:, t + 1] is a response token
};
ResponseBatch makeResponseBatch(const std::vector<std::vector<int>>& prompts,
                                const std::vector<std::vector<int>>& responses, int padId, int vocabSize);

// log p(ids[t + 1] | ids[..t]) for every position: [batch, seq - 1] (graph kept when autograd is on).
torch::Tensor nextTokenLogProbs(const Model::Impl& model, const TokenBatch& batch);

// Per-sequence sum of the response tokens' log-probabilities [batch], and their count [batch].
torch::Tensor responseLogProbSums(const Model::Impl& model, const ResponseBatch& batch);

// Prompt and response trimmed to maxLength tokens: the prompt loses tokens at its start first (down to
// half of maxLength), then the response loses tokens at its end. Returns false when no response is left.
bool trimToLength(std::vector<int>& prompt, std::vector<int>& response, int maxLength);

// Restores the named tensors when destroyed unless commit() was called: a job that throws (error or
// cancellation) leaves the model as it found it.
class SnapshotGuard {
public:
    SnapshotGuard(Model::Impl& model, const std::vector<std::string>& names);
    ~SnapshotGuard();
    SnapshotGuard(const SnapshotGuard&) = delete;
    SnapshotGuard& operator=(const SnapshotGuard&) = delete;
    void commit() { committed_ = true; }
    void restoreNow();
    const ParameterSnapshot& snapshot() const { return snapshot_; }

private:
    Model::Impl& model_;
    ParameterSnapshot snapshot_;
    std::vector<std::string> names_;
    bool committed_ = false;
};

// Turns requires_grad on for `names` and off for every other parameter; undoes it when destroyed.
class TrainableScope {
public:
    TrainableScope(Model::Impl& model, const std::vector<std::string>& names);
    ~TrainableScope();
    TrainableScope(const TrainableScope&) = delete;
    TrainableScope& operator=(const TrainableScope&) = delete;
    std::vector<torch::Tensor> tensors() const;  // the trainable tensors (views of the model's)

private:
    Model::Impl& model_;
    std::vector<std::string> names_;
};

// Canonical HF names of everything in the model, in name order.
std::vector<std::string> canonicalNames(const std::vector<std::string>& names, const Model::Impl& model);

// Layer index encoded in a parameter name ("model.layers.7.mlp..." -> 7), -1 outside layers.
int layerOfParameter(const Model::Impl& model, const std::string& name);

std::vector<double> toDoubleVector(const torch::Tensor& tensor);

// The id used to pad batches: the tokenizer's pad, else EOS, else 0.
int paddingId(const Model::Impl& model);

double secondsSince(std::chrono::steady_clock::time_point start);

}  // namespace detox::nn
