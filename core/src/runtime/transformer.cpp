#include "runtime/transformer.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cmath>
#include <limits>

#include "detox/error.h"
#include "runtime/interventions.h"
#include "runtime/linear.h"
#include "runtime/weights.h"

namespace detox::nn {

TokenBatch padTokens(const std::vector<std::vector<int>>& sequences, bool leftPadding, int padId, int vocabSize) {
    if (sequences.empty()) throw Error("", "token ids", "the batch is empty");
    size_t longest = 0;
    for (size_t b = 0; b < sequences.size(); ++b) {
        if (sequences[b].empty()) throw Error("", "sequence " + std::to_string(b), "has no tokens");
        for (int id : sequences[b])
            if (id < 0 || id >= vocabSize)
                throw Error("", "sequence " + std::to_string(b),
                            "token id " + std::to_string(id) + " is outside the vocabulary [0, " +
                                std::to_string(vocabSize) + ")");
        longest = std::max(longest, sequences[b].size());
    }
    const auto batch = static_cast<int64_t>(sequences.size());
    const auto length = static_cast<int64_t>(longest);
    TokenBatch result;
    result.ids = torch::full({batch, length}, padId, torch::kInt64);
    result.mask = torch::zeros({batch, length}, torch::kInt64);
    auto ids = result.ids.accessor<int64_t, 2>();
    auto mask = result.mask.accessor<int64_t, 2>();
    for (int64_t b = 0; b < batch; ++b) {
        const auto& sequence = sequences[static_cast<size_t>(b)];
        const int64_t offset = leftPadding ? length - static_cast<int64_t>(sequence.size()) : 0;
        for (size_t t = 0; t < sequence.size(); ++t) {
            ids[b][offset + static_cast<int64_t>(t)] = sequence[t];
            mask[b][offset + static_cast<int64_t>(t)] = 1;
        }
        result.lengths.push_back(static_cast<int>(sequence.size()));
    }
    return result;
}

CaptureSet::CaptureSet(const std::vector<Capture>& points, const std::vector<int>& layers, int numLayers) {
    if (points.empty()) return;
    flags_.assign(static_cast<size_t>(numLayers) * kPoints, false);
    std::vector<int> chosen = layers;
    if (chosen.empty())
        for (int layer = 0; layer < numLayers; ++layer) chosen.push_back(layer);
    for (int layer : chosen) {
        if (layer < 0 || layer >= numLayers)
            throw Error("", "capture layers",
                        "layer " + std::to_string(layer) + " is outside [0, " + std::to_string(numLayers) + ")");
        for (Capture point : points) flags_[static_cast<size_t>(layer) * kPoints + static_cast<size_t>(point)] = true;
    }
}

void CaptureSet::record(Capture point, int layer, const torch::Tensor& value) {
    tensors[captureKey(point, layer)] = value;
}

}  // namespace detox::nn

namespace detox {
using namespace detox::nn;

Model::Impl::Impl(ModelConfig modelConfig) : config(std::move(modelConfig)) {
    spec = &architectureFor(config);
    layers.resize(static_cast<size_t>(config.numLayers));
    const int64_t hidden = config.hiddenSize, inner = config.intermediateSize;
    const int64_t qWidth = int64_t(config.numHeads) * config.headDim, kvWidth = int64_t(config.numKvHeads) * config.headDim;
    auto add = [&](const std::string& module, const std::string& kind, torch::Tensor* value,
                   std::vector<int64_t> shape, bool linearWeight = false) {
        addSlot(module + "." + kind, value, std::move(shape), linearWeight);
    };
    add(spec->embed, "weight", &embedWeight, {config.vocabSize, hidden});
    if (spec->positions == PositionKind::Learned)
        add(spec->positionEmbed, "weight", &positionWeight, {config.maxPositions, hidden});
    add(spec->finalNorm, "weight", &finalNormWeight, {hidden});
    if (spec->normHasBias) add(spec->finalNorm, "bias", &finalNormBias, {hidden});
    if (!config.tiedEmbeddings) add(spec->lmHead, "weight", &lmHeadWeight, {config.vocabSize, hidden}, true);
    for (int l = 0; l < config.numLayers; ++l) {
        LayerWeights& w = layers[static_cast<size_t>(l)];
        auto module = [&](const std::string& name) { return layerModule(*spec, l, name); };
        add(module(spec->attnNorm), "weight", &w.attnNormWeight, {hidden});
        add(module(spec->mlpNorm), "weight", &w.mlpNormWeight, {hidden});
        if (spec->normHasBias) {
            add(module(spec->attnNorm), "bias", &w.attnNormBias, {hidden});
            add(module(spec->mlpNorm), "bias", &w.mlpNormBias, {hidden});
        }
        if (!spec->qkv.empty()) {
            add(module(spec->qkv), "weight", &w.qkvWeight, {qWidth + 2 * kvWidth, hidden}, true);
            if (config.attentionBias) add(module(spec->qkv), "bias", &w.qkvBias, {qWidth + 2 * kvWidth});
        } else {
            add(module(spec->q), "weight", &w.qWeight, {qWidth, hidden}, true);
            add(module(spec->k), "weight", &w.kWeight, {kvWidth, hidden}, true);
            add(module(spec->v), "weight", &w.vWeight, {kvWidth, hidden}, true);
            if (config.attentionBias) {
                add(module(spec->q), "bias", &w.qBias, {qWidth});
                add(module(spec->k), "bias", &w.kBias, {kvWidth});
                add(module(spec->v), "bias", &w.vBias, {kvWidth});
            }
        }
        add(module(spec->o), "weight", &w.oWeight, {hidden, qWidth}, true);
        if (config.outputBias) add(module(spec->o), "bias", &w.oBias, {hidden});
        add(module(spec->up), "weight", &w.upWeight, {inner, hidden}, true);
        add(module(spec->down), "weight", &w.downWeight, {hidden, inner}, true);
        if (spec->mlp == MlpKind::Gated) add(module(spec->gate), "weight", &w.gateWeight, {inner, hidden}, true);
        if (config.mlpBias) {
            add(module(spec->up), "bias", &w.upBias, {inner});
            add(module(spec->down), "bias", &w.downBias, {hidden});
            if (spec->mlp == MlpKind::Gated) add(module(spec->gate), "bias", &w.gateBias, {inner});
        }
    }
    if (spec->positions == PositionKind::Rotary) ropeInverseFrequencies = nn::ropeInverseFrequencies(config);
}

void Model::Impl::addSlot(const std::string& name, torch::Tensor* value, std::vector<int64_t> computeShape,
                          bool linearWeight) {
    ParameterSlot slot;
    slot.name = name;
    slot.storedName = name;
    slot.value = value;
    slot.transposed = linearWeight && spec->conv1dWeights && name.rfind(spec->lmHead, 0) != 0;
    slot.storedShape = computeShape;
    if (slot.transposed) std::swap(slot.storedShape[0], slot.storedShape[1]);
    parameters[name] = std::move(slot);
}

// ---- forward pieces ----

AttentionInputs Model::Impl::attentionInputs(const torch::Tensor& hostKeyMask, int64_t queryLength) const {
    AttentionInputs inputs;
    const torch::Tensor keyMask = hostKeyMask.to(device);  // everything below is made on the model's device
    const int64_t keys = keyMask.size(1);
    inputs.pastLength = keys - queryLength;
    torch::Tensor allPositions = (keyMask.cumsum(1) - 1).clamp_min(0);
    inputs.positions = allPositions.narrow(1, inputs.pastLength, queryLength);
    bool padded = !keyMask.all().item<bool>();
    bool windowed = config.slidingWindow > 0 && keys > config.slidingWindow;
    if (queryLength > 1 || padded || windowed) {
        // Query i sits at key index past + i; it sees real keys at or before it (and inside the window).
        torch::Tensor queryIndex = torch::arange(inputs.pastLength, keys, keyMask.options().dtype(torch::kInt64)).unsqueeze(1);
        torch::Tensor keyIndex = torch::arange(0, keys, keyMask.options().dtype(torch::kInt64)).unsqueeze(0);
        torch::Tensor allowed = keyIndex <= queryIndex;
        if (windowed) allowed = allowed.logical_and(queryIndex - keyIndex < config.slidingWindow);
        allowed = allowed.unsqueeze(0).logical_and(keyMask.unsqueeze(1).to(torch::kBool));  // [batch, seq, keys]
        // A large finite negative (as HF: the compute dtype's lowest) keeps fully masked padding rows finite.
        const double lowest = computeDtype == torch::kBFloat16 ? double(std::numeric_limits<c10::BFloat16>::lowest())
                              : computeDtype == torch::kHalf   ? double(std::numeric_limits<c10::Half>::lowest())
                                                               : double(std::numeric_limits<float>::lowest());
        inputs.bias = torch::zeros(allowed.sizes(), keyMask.options().dtype(computeDtype))
                          .masked_fill_(allowed.logical_not(), lowest)
                          .unsqueeze(1);
    }
    if (spec->positions == PositionKind::Rotary) {
        torch::Tensor frequencies = inputs.positions.to(torch::kFloat32).unsqueeze(-1) * ropeInverseFrequencies;
        torch::Tensor angles = torch::cat({frequencies, frequencies}, -1).unsqueeze(2);  // [batch, seq, 1, headDim]
        inputs.cos = angles.cos().to(computeDtype);  // computed in float32 (as HF), used in the compute dtype
        inputs.sin = angles.sin().to(computeDtype);
    }
    return inputs;
}

torch::Tensor Model::Impl::embed(const torch::Tensor& ids, const torch::Tensor& positions) const {
    torch::Tensor hidden = embeddingRows(embedWeight, ids.to(device), computeDtype);
    if (spec->positions == PositionKind::Learned) {
        if (positions.numel() > 0 && positions.max().item<int64_t>() >= config.maxPositions)
            throw Error(directory, "n_positions",
                        "the sequence is longer than the model's " + std::to_string(config.maxPositions) + " positions");
        hidden = hidden + embeddingRows(positionWeight, positions, computeDtype);
    }
    return hidden;
}

torch::Tensor Model::Impl::attentionBlock(int layer, const torch::Tensor& residualBefore,
                                          const AttentionInputs& attention, KVCache* cache,
                                          CaptureSet* captures) const {
    const LayerWeights& w = layers[static_cast<size_t>(layer)];
    const int64_t batch = residualBefore.size(0), length = residualBefore.size(1);
    const int64_t heads = config.numHeads, kvHeads = config.numKvHeads, headDim = config.headDim;
    torch::Tensor x = applyNorm(spec->norm, residualBefore, w.attnNormWeight, w.attnNormBias, config.normEps);
    torch::Tensor q, k, v;
    if (w.qkvWeight.defined()) {
        auto parts = nn::linear(x, w.qkvWeight, w.qkvBias).split_with_sizes(
            {heads * headDim, kvHeads * headDim, kvHeads * headDim}, -1);
        q = parts[0], k = parts[1], v = parts[2];
    } else {
        q = nn::linear(x, w.qWeight, w.qBias);
        k = nn::linear(x, w.kWeight, w.kBias);
        v = nn::linear(x, w.vWeight, w.vBias);
    }
    q = q.view({batch, length, heads, headDim});
    k = k.view({batch, length, kvHeads, headDim});
    v = v.view({batch, length, kvHeads, headDim});
    if (spec->positions == PositionKind::Rotary) {
        q = applyRope(q, attention.cos, attention.sin);
        k = applyRope(k, attention.cos, attention.sin);
    }
    double scale = 1.0 / std::sqrt(static_cast<double>(headDim));
    if (config.scaleAttnByInverseLayerIdx) scale /= (layer + 1);
    // Query heads grouped by the key/value head they share: [batch, kvHeads, groups * seq, headDim].
    const int64_t groups = heads / kvHeads;
    q = (q * scale).transpose(1, 2).reshape({batch, kvHeads, groups * length, headDim});
    k = k.transpose(1, 2);
    v = v.transpose(1, 2);
    if (cache) {
        const int64_t past = cache->length;
        cache->keys[static_cast<size_t>(layer)].narrow(2, past, length).copy_(k);
        cache->values[static_cast<size_t>(layer)].narrow(2, past, length).copy_(v);
        k = cache->keys[static_cast<size_t>(layer)].narrow(2, 0, past + length);
        v = cache->values[static_cast<size_t>(layer)].narrow(2, 0, past + length);
    }
    const int64_t keys = k.size(2);
    torch::Tensor scores = torch::matmul(q, k.transpose(-1, -2)).view({batch, heads, length, keys});
    if (attention.bias.defined()) scores = scores + attention.bias;
    torch::Tensor probabilities = torch::softmax(scores, -1);
    if (captures && captures->wants(Capture::AttnPattern, layer))
        captures->record(Capture::AttnPattern, layer, probabilities);
    torch::Tensor mixed = torch::matmul(probabilities.view({batch, kvHeads, groups * length, keys}), v);
    mixed = mixed.view({batch, heads, length, headDim}).transpose(1, 2).reshape({batch, length, heads * headDim});
    return nn::linear(mixed, w.oWeight, w.oBias);
}

torch::Tensor Model::Impl::mlpActivation(int layer, const torch::Tensor& residualMid) const {
    const LayerWeights& w = layers[static_cast<size_t>(layer)];
    torch::Tensor x = applyNorm(spec->norm, residualMid, w.mlpNormWeight, w.mlpNormBias, config.normEps);
    if (spec->mlp == MlpKind::Gated)
        return applyActivation(config.activation, nn::linear(x, w.gateWeight, w.gateBias)) *
               nn::linear(x, w.upWeight, w.upBias);
    return applyActivation(config.activation, nn::linear(x, w.upWeight, w.upBias));
}

torch::Tensor Model::Impl::mlpDown(int layer, const torch::Tensor& activation) const {
    const LayerWeights& w = layers[static_cast<size_t>(layer)];
    return nn::linear(activation, w.downWeight, w.downBias);
}

torch::Tensor Model::Impl::runLayer(int layer, const torch::Tensor& residualIn, const AttentionInputs& attention,
                                    CaptureSet* captures, KVCache* cache) const {
    auto capture = [&](Capture point, torch::Tensor& value) {
        if (!captures) return;
        if (captures->interventions && captures->interventions->touches(point, layer))
            value = captures->interventions->apply(point, layer, value);
        if (captures->wants(point, layer)) captures->record(point, layer, value);
    };
    torch::Tensor residualBefore = residualIn;
    capture(Capture::ResidPre, residualBefore);
    torch::Tensor attentionOut = attentionBlock(layer, residualBefore, attention, cache, captures);
    capture(Capture::AttnOut, attentionOut);
    torch::Tensor residualMid = residualBefore + attentionOut;
    capture(Capture::ResidMid, residualMid);
    torch::Tensor activation = mlpActivation(layer, residualMid);
    capture(Capture::MlpAct, activation);
    torch::Tensor mlpOut = mlpDown(layer, activation);
    capture(Capture::MlpOut, mlpOut);
    torch::Tensor residualAfter = residualMid + mlpOut;
    capture(Capture::ResidPost, residualAfter);
    return residualAfter;
}

torch::Tensor Model::Impl::runLayers(torch::Tensor hidden, int fromLayer, int toLayer,
                                     const AttentionInputs& attention, CaptureSet* captures, KVCache* cache) const {
    if (fromLayer < 0 || toLayer > config.numLayers || fromLayer > toLayer)
        throw Error("", "layers", "range [" + std::to_string(fromLayer) + ", " + std::to_string(toLayer) +
                                      ") is outside the model's " + std::to_string(config.numLayers) + " layers");
    for (int layer = fromLayer; layer < toLayer; ++layer) hidden = runLayer(layer, hidden, attention, captures, cache);
    // The cache advances once all layers of this step have written their keys.
    if (cache && toLayer == config.numLayers) cache->length += hidden.size(1);
    return hidden;
}

torch::Tensor Model::Impl::finalNorm(const torch::Tensor& hidden) const {
    return applyNorm(spec->norm, hidden, finalNormWeight, finalNormBias, config.normEps);
}

torch::Tensor Model::Impl::unembed(const torch::Tensor& normalized) const { return nn::linear(normalized, lmHead()); }

torch::Tensor Model::Impl::forwardLogits(const TokenBatch& batch, CaptureSet* captures) const {
    AttentionInputs attention = attentionInputs(batch.mask, batch.ids.size(1));
    torch::Tensor hidden = runLayers(embed(batch.ids, attention.positions), 0, config.numLayers, attention, captures);
    return logitLens(hidden);
}

KVCache Model::Impl::allocateCache(int64_t batch, int64_t capacity) const {
    KVCache cache;
    cache.capacity = capacity;
    for (int l = 0; l < config.numLayers; ++l) {
        const auto options = torch::TensorOptions().dtype(computeDtype).device(device);
        cache.keys.push_back(torch::empty({batch, config.numKvHeads, capacity, config.headDim}, options));
        cache.values.push_back(torch::empty({batch, config.numKvHeads, capacity, config.headDim}, options));
    }
    return cache;
}

// ---- parameters ----

std::vector<std::string> Model::Impl::parameterNames() const {
    std::vector<std::string> names;
    for (const auto& [name, slot] : parameters) names.push_back(name);
    return names;
}

bool Model::Impl::hasParameter(const std::string& name) const {
    if (parameters.count(name)) return true;
    return !spec->alternativePrefix.empty() && parameters.count(spec->alternativePrefix + name);
}

const ParameterSlot& Model::Impl::slot(const std::string& name) const {
    auto it = parameters.find(name);
    if (it == parameters.end() && !spec->alternativePrefix.empty()) it = parameters.find(spec->alternativePrefix + name);
    if (it == parameters.end()) {
        std::string hint = config.tiedEmbeddings && name == spec->lmHead + ".weight"
                               ? " (the embeddings are tied: use " + spec->embed + ".weight)"
                               : "";
        throw Error(directory, "parameter '" + name + "'", "no such parameter in this model" + hint);
    }
    return it->second;
}

ParameterSlot& Model::Impl::mutableSlot(const std::string& name) { return const_cast<ParameterSlot&>(slot(name)); }

torch::Tensor Model::Impl::parameter(const std::string& name) const {
    const torch::Tensor& value = *slot(name).value;
    if (!value.defined() || value.scalar_type() == computeDtype) return value;
    torch::NoGradGuard noGrad;
    return value.to(computeDtype);
}

torch::Tensor& Model::Impl::editableParameter(const std::string& name) {
    ParameterSlot& s = mutableSlot(name);
    if (!s.ownsMemory || s.value->scalar_type() != computeDtype) {
        torch::NoGradGuard noGrad;
        // A copy in computeDtype that keeps the (transposed) strides; the mapping stays untouched.
        *s.value = s.value->to(computeDtype, /*non_blocking=*/false, /*copy=*/true);
        s.ownsMemory = true;
    }
    s.edited = true;
    return *s.value;
}

void Model::Impl::replaceParameter(const std::string& name, const torch::Tensor& value) {
    ParameterSlot& s = mutableSlot(name);
    if (value.sizes() != s.value->sizes())
        throw Error(directory, "parameter '" + name + "'",
                    "shape " + c10::str(value.sizes()) + " does not match the model's " + c10::str(s.value->sizes()));
    torch::NoGradGuard noGrad;
    *s.value = value.detach().to(device, computeDtype).clone(torch::MemoryFormat::Contiguous);
    s.ownsMemory = true;
    s.edited = true;
}

torch::Tensor Model::Impl::storedLayout(const std::string& name) const {
    const ParameterSlot& s = slot(name);
    return s.transposed ? s.value->t() : *s.value;
}

ParameterSnapshot Model::Impl::snapshot(const std::vector<std::string>& names) const {
    torch::NoGradGuard noGrad;
    ParameterSnapshot result;
    for (const auto& name : names) {
        const ParameterSlot& s = slot(name);
        result.entries[s.name] = {s.ownsMemory ? s.value->detach().clone() : *s.value, s.ownsMemory, s.edited};
    }
    return result;
}

void Model::Impl::restore(const ParameterSnapshot& saved) {
    torch::NoGradGuard noGrad;
    for (const auto& [name, entry] : saved.entries) {
        ParameterSlot& s = mutableSlot(name);
        *s.value = entry.ownsMemory ? entry.value.clone() : entry.value;
        s.ownsMemory = entry.ownsMemory;
        s.edited = entry.edited;
    }
}

void Model::Impl::setRequiresGrad(const std::vector<std::string>& names, bool enabled) {
    for (const auto& name : names) {
        if (enabled)
            editableParameter(name).requires_grad_(true);
        else
            mutableSlot(name).value->requires_grad_(false);
    }
}

namespace {

// Drops this process's resident pages of a tensor viewing the read-only file mapping (whole pages inside
// it): they stay in the page cache, and a later read maps them again without I/O unless memory ran short.
// Only for mapped views: on owned memory this would zero the data.
void releaseMappedPages(const torch::Tensor& mapped) {
    const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
    const auto first = reinterpret_cast<uintptr_t>(mapped.data_ptr());
    const uintptr_t begin = (first + page - 1) / page * page, end = (first + mapped.nbytes()) / page * page;
    if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

}  // namespace

PinnedWeights::PinnedWeights(Model::Impl& model, const std::vector<int>& layers, bool lmHead, long long budgetBytes) {
    std::vector<std::string> prefixes;
    for (int layer : layers) prefixes.push_back(layerModule(*model.spec, layer, "") );
    if (lmHead) prefixes.push_back(model.config.tiedEmbeddings ? model.spec->embed + "." : model.spec->lmHead + ".");
    torch::NoGradGuard noGrad;
    for (const auto& prefix : prefixes) {
        for (auto& [name, slot] : model.parameters) {
            if (name.rfind(prefix, 0) != 0) continue;
            torch::Tensor& value = *slot.value;
            if (!value.defined() || value.dim() != 2 || value.scalar_type() == model.computeDtype || slot.edited ||
                value.requires_grad())
                continue;
            const long long bytes = value.numel() * static_cast<long long>(c10::elementSize(model.computeDtype));
            if (bytes_ + bytes > budgetBytes) return;
            saved_.emplace_back(slot.value, value);
            value = value.to(model.computeDtype, /*non_blocking=*/false, /*copy=*/true);  // keeps (transposed) strides
            // The mapped copy is not read while pinned: out of this process's memory (net cost: the F32 copy
            // less the stored bytes).
            if (!slot.ownsMemory) releaseMappedPages(saved_.back().second);
            names_.push_back(name);
            bytes_ += bytes;
        }
    }
}

void releaseMappedLayerPages(const Model::Impl& model, const std::vector<int>& layers) {
    for (int layer : layers) {
        const std::string prefix = layerModule(*model.spec, layer, "");
        for (const auto& [name, slot] : model.parameters)
            if (name.rfind(prefix, 0) == 0 && !slot.ownsMemory && slot.value->defined() && slot.value->device().is_cpu())
                releaseMappedPages(*slot.value);
    }
}

PinnedWeights::~PinnedWeights() {
    for (auto& [slot, mapped] : saved_) *slot = mapped;
}

long long pinningBudgetBytes(const Model::Impl& model) {
    // Measured (2-core machine, 7B MLP matrix 11008 x 4096): converting it from BF16 takes 13 ms, its two
    // GEMMs in a 100-token DINM step 310 ms - a pinned matrix saves ~8 % of its step time, the same per byte
    // for every matrix. So pin only memory nobody else needs: what is available beyond the mapped weights'
    // own page cache (they are read again after the edit), the working margin and a GiB.
    const long long available = availableMemoryBytes();
    const long long margin = model.weightBytes() + model.parameterCount() * 4 / 10 + (256ll << 20) + (1ll << 30);
    return std::max(0ll, available - margin);
}

long long Model::Impl::weightBytes() const {
    long long bytes = 0;
    for (const auto& [name, s] : parameters)
        if (s.value->defined()) bytes += s.value->numel() * static_cast<long long>(s.value->element_size());
    return bytes;
}

long long Model::Impl::parameterCount() const {
    long long count = 0;
    for (const auto& [name, s] : parameters) count += s.value->defined() ? s.value->numel() : 0;
    return count;
}

std::string Model::Impl::layerParameterName(int layer, const std::string& module, const std::string& kind) const {
    return layerModule(*spec, layer, module) + "." + kind;
}

}  // namespace detox
