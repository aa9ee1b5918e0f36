// Writable capture points (detox::Intervention, model.h) on the internal API. A CaptureSet carries an
// InterventionSet pointer; Model::Impl::runLayer applies it where each activation is produced. Nothing
// is done (one null-pointer test per point) when there are no interventions.
#pragma once
#include <memory>
#include <vector>

#include "runtime/transformer.h"

namespace detox::nn {

class InterventionSet {
public:
    // Validates every intervention against the model (point, layer, neurons, values' shape) and moves the
    // values to the model's device and compute dtype. promptLengths: real tokens of each row's prompt
    // (negative positions count from there). Throws detox::Error.
    InterventionSet(const Model::Impl& model, const std::vector<Intervention>& interventions,
                    std::vector<int> promptLengths);

    // The columns of the next run: keyMask [batch, past + seq] (1 = real token), the last `queryLength`
    // columns are the ones computed now. Returns this, for CaptureSet::interventions.
    const InterventionSet* step(const torch::Tensor& keyMask, int64_t queryLength);

    bool touches(Capture point, int layer) const {
        return flags_[static_cast<size_t>(layer) * kPoints + static_cast<size_t>(point)];
    }
    // The activation [batch, seq, width] with every intervention at (point, layer) applied in order.
    torch::Tensor apply(Capture point, int layer, torch::Tensor value) const;

private:
    struct Prepared {
        Intervention spec;
        torch::Tensor values;     // [rows of values, width] on the device, compute dtype
        torch::Tensor neurons;    // int64 index on the device; undefined = all channels
    };
    static constexpr size_t kPoints = 7;
    std::vector<Prepared> items_;
    std::vector<bool> flags_;
    std::vector<int> promptLengths_;
    torch::Device device_;
    // Of the current step, on the host: real-token index of each query column, -1 for padding.
    torch::Tensor positions_;  // [batch, seq] int64
};

// nullptr when the list is empty (then the run does no intervention work at all).
std::unique_ptr<InterventionSet> makeInterventions(const Model::Impl& model, const std::vector<Intervention>& list,
                                                   const std::vector<int>& promptLengths);

}  // namespace detox::nn
