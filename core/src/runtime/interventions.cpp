// Writable capture points: replace / add / scale / project out, at chosen rows, positions and neurons.
#include "runtime/interventions.h"

#include "detox/error.h"
#include "runtime/float_tensor.h"

namespace detox {

std::string interventionKindName(Intervention::Kind kind) {
    switch (kind) {
        case Intervention::Kind::Replace: return "replace";
        case Intervention::Kind::Add: return "add";
        case Intervention::Kind::Scale: return "scale";
        case Intervention::Kind::ProjectOut: return "project_out";
    }
    return "replace";
}

std::optional<Intervention::Kind> interventionKindFromName(const std::string& name) {
    for (auto kind : {Intervention::Kind::Replace, Intervention::Kind::Add, Intervention::Kind::Scale,
                      Intervention::Kind::ProjectOut})
        if (interventionKindName(kind) == name) return kind;
    return std::nullopt;
}

}  // namespace detox

namespace detox::nn {

InterventionSet::InterventionSet(const Model::Impl& model, const std::vector<Intervention>& interventions,
                                 std::vector<int> promptLengths)
    : flags_(static_cast<size_t>(model.config.numLayers) * kPoints, false),
      promptLengths_(std::move(promptLengths)),
      device_(model.device) {
    for (size_t i = 0; i < interventions.size(); ++i) {
        const Intervention& spec = interventions[i];
        const std::string what = "intervention " + std::to_string(i) + " (" + interventionKindName(spec.kind) + ")";
        if (spec.point == Capture::AttnPattern)
            throw Error("", what, "attn_pattern cannot be written (choose resid_pre/mid/post, attn_out, mlp_out or mlp_act)");
        if (spec.layer < 0 || spec.layer >= model.config.numLayers)
            throw Error("", what, "layer " + std::to_string(spec.layer) + " is outside [0, " +
                                      std::to_string(model.config.numLayers) + ")");
        const int64_t fullWidth = spec.point == Capture::MlpAct ? model.config.intermediateSize : model.config.hiddenSize;
        for (int neuron : spec.neurons)
            if (neuron < 0 || neuron >= fullWidth)
                throw Error("", what, "neuron " + std::to_string(neuron) + " is outside [0, " + std::to_string(fullWidth) + ")");
        const int64_t width = spec.neurons.empty() ? fullWidth : static_cast<int64_t>(spec.neurons.size());
        Prepared item;
        item.spec = spec;
        if (!spec.neurons.empty())
            item.neurons = torch::tensor(std::vector<int64_t>(spec.neurons.begin(), spec.neurons.end()), torch::kInt64)
                               .to(device_);
        if (spec.kind != Intervention::Kind::Scale) {
            const auto& shape = spec.values.shape;
            const bool single = shape.size() == 1 && shape[0] == width;
            const bool perPosition = shape.size() == 2 && !spec.positions.empty() &&
                                     shape[0] == static_cast<int64_t>(spec.positions.size()) && shape[1] == width &&
                                     spec.kind != Intervention::Kind::ProjectOut;
            if (!single && !perPosition)
                throw Error("", what,
                            "values must be [" + std::to_string(width) + "]" +
                                (spec.kind == Intervention::Kind::ProjectOut
                                     ? std::string()
                                     : " or [positions, " + std::to_string(width) + "]") +
                                ", got " + c10::str(c10::IntArrayRef(shape)));
            torch::Tensor values = fromFloatTensor(spec.values, what).to(device_, model.computeDtype);
            if (spec.kind == Intervention::Kind::ProjectOut) {
                const double norm = values.to(torch::kFloat64).norm().item<double>();
                if (!(norm > 0)) throw Error("", what, "the direction is zero");
                values = values / norm;
            }
            item.values = values.reshape({-1, width});
        }
        item.spec.values = {};  // kept on the device only
        flags_[static_cast<size_t>(spec.layer) * kPoints + static_cast<size_t>(spec.point)] = true;
        items_.push_back(std::move(item));
    }
}

const InterventionSet* InterventionSet::step(const torch::Tensor& keyMask, int64_t queryLength) {
    torch::Tensor mask = keyMask.to(torch::kCPU, torch::kInt64);
    const int64_t batch = mask.size(0), keys = mask.size(1);
    if (static_cast<int64_t>(promptLengths_.size()) != batch)
        throw Error("", "interventions", "prompt lengths for " + std::to_string(promptLengths_.size()) +
                                             " rows, the batch has " + std::to_string(batch));
    for (const auto& item : items_)
        for (int row : item.spec.rows)
            if (row < 0 || row >= batch)
                throw Error("", "interventions", "row " + std::to_string(row) + " is outside the batch of " +
                                                     std::to_string(batch));
    torch::Tensor index = mask.cumsum(1) - 1;
    positions_ = torch::where(mask.to(torch::kBool), index, torch::full_like(index, -1))
                     .narrow(1, keys - queryLength, queryLength)
                     .contiguous();
    return this;
}

torch::Tensor InterventionSet::apply(Capture point, int layer, torch::Tensor value) const {
    const int64_t batch = positions_.size(0), length = positions_.size(1);
    auto positions = positions_.accessor<int64_t, 2>();
    for (const Prepared& item : items_) {
        const Intervention& spec = item.spec;
        if (spec.point != point || spec.layer != layer) continue;
        // Which entries [batch, seq] are written, and which row of the values each one takes.
        torch::Tensor selected = torch::zeros({batch, length}, torch::kBool);
        torch::Tensor which = torch::zeros({batch, length}, torch::kInt64);
        auto selectedAt = selected.accessor<bool, 2>();
        auto whichAt = which.accessor<int64_t, 2>();
        std::vector<int> rows = spec.rows;
        if (rows.empty())
            for (int b = 0; b < batch; ++b) rows.push_back(b);
        bool any = false;
        for (int b : rows)
            for (int64_t t = 0; t < length; ++t) {
                const int64_t position = positions[b][t];
                if (position < 0) continue;
                if (spec.positions.empty()) {
                    selectedAt[b][t] = true;
                    any = true;
                    continue;
                }
                for (size_t j = 0; j < spec.positions.size(); ++j) {
                    const int64_t wanted = spec.positions[j] < 0 ? promptLengths_[static_cast<size_t>(b)] + spec.positions[j]
                                                                 : spec.positions[j];
                    if (position == wanted) {
                        selectedAt[b][t] = true;
                        whichAt[b][t] = item.values.defined() && item.values.size(0) > 1 ? int64_t(j) : 0;
                        any = true;
                        break;
                    }
                }
            }
        if (!any) continue;
        torch::Tensor x = item.neurons.defined() ? value.index_select(-1, item.neurons) : value;
        auto rowsOfValues = [&] {
            if (item.values.size(0) == 1) return item.values[0].expand_as(x);
            return item.values.index_select(0, which.flatten().to(device_)).view(x.sizes());
        };
        torch::Tensor y;
        switch (spec.kind) {
            case Intervention::Kind::Replace: y = rowsOfValues(); break;
            case Intervention::Kind::Add: y = x + rowsOfValues() * spec.scale; break;
            case Intervention::Kind::Scale: y = x * spec.scale; break;
            case Intervention::Kind::ProjectOut: {
                const torch::Tensor direction = item.values[0];
                y = x - (x * direction).sum(-1, true) * direction * spec.scale;
                break;
            }
        }
        torch::Tensor written = item.neurons.defined() ? value.index_copy(-1, item.neurons, y.contiguous()) : y;
        value = torch::where(selected.to(device_).unsqueeze(-1), written, value);
    }
    return value;
}

std::unique_ptr<InterventionSet> makeInterventions(const Model::Impl& model, const std::vector<Intervention>& list,
                                                   const std::vector<int>& promptLengths) {
    if (list.empty()) return nullptr;
    return std::make_unique<InterventionSet>(model, list, promptLengths);
}

}  // namespace detox::nn
