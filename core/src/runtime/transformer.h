// The transformer runtime's internal torch API: Model::Impl and its pieces, for core's own tensor code
// (capture, locate, DINM, SFT, DPO, evaluation). Nothing here turns autograd off: callers that only infer
// put a torch::NoGradGuard / c10::InferenceMode around their calls; training code leaves it on.
//
// Layouts: hidden states [batch, seq, hidden]; every linear weight in the compute layout [out, in]
// (torch::linear), GPT-2's Conv1D weights included (a transposed view, stored [in, out] in the file).
// Compute is in Impl::computeDtype (float32 on the CPU). In stored-dtype mode (WeightMode::Stored) the
// matrices stay BF16/F16 views of the file mapping and every use goes through runtime/weights.h
// (storedLinear, embeddingRows); parameter() converts. Edited parameters are computeDtype overrides.
#pragma once
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "checkpoint/architecture.h"
#include "detox/runtime/model.h"
#include "checkpoint/safetensors.h"
#include "torch_pch.h"

namespace detox::nn {

struct LayerWeights {
    torch::Tensor attnNormWeight, attnNormBias;
    torch::Tensor qkvWeight, qkvBias;  // fused (GPT-2); otherwise q/k/v below
    torch::Tensor qWeight, qBias, kWeight, kBias, vWeight, vBias;
    torch::Tensor oWeight, oBias;
    torch::Tensor mlpNormWeight, mlpNormBias;
    torch::Tensor upWeight, upBias, gateWeight, gateBias, downWeight, downBias;
};

// One named parameter: where its tensor lives and how it is stored in the checkpoint.
struct ParameterSlot {
    std::string name;                 // canonical HF name (e.g. "transformer.h.0.mlp.c_proj.weight")
    std::string storedName;           // as in the source file (GPT-2 files may lack "transformer.")
    torch::Tensor* value = nullptr;   // points into Impl's weights; compute layout; computeDtype, or the
                                      // stored dtype in stored mode (never written in place then)
    std::vector<int64_t> storedShape; // HF layout
    bool transposed = false;          // Conv1D: stored = value.t()
    std::string storedDtype = "F32";  // written back in this dtype
    bool ownsMemory = false;          // false while the tensor views the read-only file mapping
    bool rounded() const { return edited && storedDtype != "F32"; }  // save rounds the F32 edit (RNE)
    bool edited = false;              // changed since load (content hash, provenance)
};

// Saved parameter values for undo / cancellation. Unedited mapped tensors are kept by handle (free);
// owned ones are cloned.
struct ParameterSnapshot {
    struct Entry {
        torch::Tensor value;
        bool ownsMemory = false;
        bool edited = false;
    };
    std::map<std::string, Entry> entries;
};

// Padding, positions and the attention mask of one forward call (possibly continuing a KV cache).
struct AttentionInputs {
    torch::Tensor positions;  // [batch, seq] int64 (HF: cumsum(mask) - 1 over past + current tokens)
    torch::Tensor bias;       // [batch, 1, seq, keys] additive float mask; undefined = attend to all keys
    torch::Tensor cos, sin;   // [batch, seq, 1, headDim] rotary tables (rotary families only)
    int64_t pastLength = 0;   // keys already in the KV cache
};

// Token ids padded into a rectangle. mask: [batch, seq] int64, 1 = real token.
struct TokenBatch {
    torch::Tensor ids;
    torch::Tensor mask;
    std::vector<int> lengths;
};
// Throws detox::Error for empty sequences or ids outside [0, vocabSize).
TokenBatch padTokens(const std::vector<std::vector<int>>& sequences, bool leftPadding, int padId, int vocabSize);

class InterventionSet;  // runtime/interventions.h

// Which (point, layer) pairs to record. Default-constructed: records nothing, costs nothing.
class CaptureSet {
public:
    CaptureSet() = default;
    CaptureSet(const std::vector<Capture>& points, const std::vector<int>& layers, int numLayers);
    bool wants(Capture point, int layer) const {
        return !flags_.empty() && flags_[static_cast<size_t>(layer) * kPoints + static_cast<size_t>(point)];
    }
    // Keeps the tensor as given (graph included when autograd is on).
    void record(Capture point, int layer, const torch::Tensor& value);
    std::map<std::string, torch::Tensor> tensors;  // "resid_post.3" -> value
    // Writes applied where each activation is produced, before it is recorded (null: none).
    const InterventionSet* interventions = nullptr;

private:
    static constexpr size_t kPoints = 7;
    std::vector<bool> flags_;
};

// Per-layer key/value buffers [batch, kvHeads, capacity, headDim], filled up to `length`.
struct KVCache {
    std::vector<torch::Tensor> keys, values;
    int64_t length = 0;
    int64_t capacity = 0;
};

}  // namespace detox::nn

namespace detox {

struct Model::Impl {
    ModelConfig config;
    const nn::ArchitectureSpec* spec = nullptr;
    std::string directory;                    // loaded from ("" for models built in memory)
    std::optional<Tokenizer> tokenizer;
    std::vector<std::string> weightFiles;     // for the content hash
    std::string storedBytesDigest;            // the loaded tensors' bytes as stored, digested at load (content hash)
    WeightMode weightMode = WeightMode::F32;  // as resolved at load (F32 or Stored)
    torch::Device device = torch::kCPU;       // where every tensor of the model lives
    torch::ScalarType computeDtype = torch::kFloat32;  // activations and edited parameters
    std::vector<std::string> nonFiniteAtLoad;  // stored names of tensors with NaN/Inf when loaded
    bool allowNonFinite = false;               // LoadOptions::allowNonFiniteWeights

    torch::Tensor embedWeight;                // [vocab, hidden]
    torch::Tensor positionWeight;             // [maxPositions, hidden] (learned positions only)
    torch::Tensor finalNormWeight, finalNormBias;
    torch::Tensor lmHeadWeight;               // [vocab, hidden]; undefined when tied (embedWeight is used)
    std::vector<nn::LayerWeights> layers;
    torch::Tensor ropeInverseFrequencies;     // [headDim / 2]
    std::map<std::string, nn::ParameterSlot> parameters;  // by canonical HF name

    // Sets up config, spec, layers and the parameter slots (tensors still undefined). Not copyable
    // afterwards: slots point into this object.
    explicit Impl(ModelConfig modelConfig);
    Impl(const Impl&) = delete;
    Impl& operator=(const Impl&) = delete;

    // ---- forward pieces ----
    // Padding mask [batch, past + seq] (1 = real token) -> positions, attention bias, rotary tables.
    nn::AttentionInputs attentionInputs(const torch::Tensor& keyMask, int64_t queryLength) const;
    torch::Tensor embed(const torch::Tensor& ids, const torch::Tensor& positions) const;  // [batch, seq, hidden]
    // Layers [fromLayer, toLayer) on the residual stream; captures and cache optional.
    torch::Tensor runLayers(torch::Tensor hidden, int fromLayer, int toLayer, const nn::AttentionInputs& attention,
                            nn::CaptureSet* captures = nullptr, nn::KVCache* cache = nullptr) const;
    torch::Tensor runLayer(int layer, const torch::Tensor& residualBefore, const nn::AttentionInputs& attention,
                           nn::CaptureSet* captures = nullptr, nn::KVCache* cache = nullptr) const;
    // The attention block's output (before the residual add) for the residual stream entering `layer`.
    torch::Tensor attentionBlock(int layer, const torch::Tensor& residualBefore, const nn::AttentionInputs& attention,
                                 nn::KVCache* cache = nullptr, nn::CaptureSet* captures = nullptr) const;
    // MLP norm + up (+ gate) + activation: the down projection's input ("mlp_act").
    torch::Tensor mlpActivation(int layer, const torch::Tensor& residualMid) const;
    torch::Tensor mlpDown(int layer, const torch::Tensor& activation) const;  // down projection (+ bias)
    torch::Tensor finalNorm(const torch::Tensor& hidden) const;
    torch::Tensor unembed(const torch::Tensor& normalized) const;             // lm_head
    torch::Tensor logitLens(const torch::Tensor& hidden) const { return unembed(finalNorm(hidden)); }
    const torch::Tensor& lmHead() const { return lmHeadWeight.defined() ? lmHeadWeight : embedWeight; }

    // Whole forward on a padded batch: logits [batch, seq, vocab].
    torch::Tensor forwardLogits(const nn::TokenBatch& batch, nn::CaptureSet* captures = nullptr) const;

    nn::KVCache allocateCache(int64_t batch, int64_t capacity) const;

    // ---- parameters by HF name (canonical, or as stored in the file) ----
    std::vector<std::string> parameterNames() const;
    bool hasParameter(const std::string& name) const;
    const nn::ParameterSlot& slot(const std::string& name) const;  // throws detox::Error for unknown names
    // Compute layout, in computeDtype (converted when held in a stored dtype: a fresh tensor then). May
    // view the read-only mapping: never write into it.
    torch::Tensor parameter(const std::string& name) const;
    // The tensor as held (stored dtype in stored mode), compute layout, no copy.
    const torch::Tensor& heldParameter(const std::string& name) const { return *slot(name).value; }
    // An owned, writable computeDtype tensor (converted / cloned from the mapping on first use: the
    // edit's override on top of the mapped file), marked edited. Write in place,
    // or set requires_grad on it; the model sees the change at once.
    torch::Tensor& editableParameter(const std::string& name);
    // Replaces a parameter's value (compute layout, same shape); copies the data.
    void replaceParameter(const std::string& name, const torch::Tensor& value);
    torch::Tensor storedLayout(const std::string& name) const;  // HF layout view
    nn::ParameterSnapshot snapshot(const std::vector<std::string>& names) const;
    void restore(const nn::ParameterSnapshot& snapshot);
    // requires_grad on the named parameters (made editable first when enabling).
    void setRequiresGrad(const std::vector<std::string>& names, bool enabled);
    long long parameterCount() const;
    long long weightBytes() const;  // as held (see Model::weightBytes)

    // Canonical names of the layer's modules (for methods): e.g. mlpDownWeightName(5).
    std::string layerParameterName(int layer, const std::string& module, const std::string& kind = "weight") const;
    std::string mlpDownWeightName(int layer) const { return layerParameterName(layer, spec->down); }

private:
    nn::ParameterSlot& mutableSlot(const std::string& name);
    void addSlot(const std::string& name, torch::Tensor* value, std::vector<int64_t> computeShape, bool linearWeight);
};

// Stored-dtype matrices held as computeDtype copies for a while: the layers an edit runs on every step
// (DINM: the layers above the toxic one, and the LM head) are then converted once instead of twice a step
// (forward and backward). The mapped views are put back on destruction. Only unedited, untrained matrices
// held in another dtype than computeDtype are copied, layer by layer in the order given, while the copies
// stay within budgetBytes (a matrix that would exceed it ends the pinning). Nothing to do in f32 mode.
class PinnedWeights {
public:
    PinnedWeights(Model::Impl& model, const std::vector<int>& layers, bool lmHead, long long budgetBytes);
    ~PinnedWeights();
    PinnedWeights(const PinnedWeights&) = delete;
    PinnedWeights& operator=(const PinnedWeights&) = delete;
    long long bytes() const { return bytes_; }
    const std::vector<std::string>& names() const { return names_; }

private:
    std::vector<std::pair<torch::Tensor*, torch::Tensor>> saved_;  // slot value -> the mapped view it had
    std::vector<std::string> names_;
    long long bytes_ = 0;
};
// The budget an edit may spend on PinnedWeights: available memory less the load estimate's working margin
// for activations and a GiB for everything else (0 when nothing can be spared).
long long pinningBudgetBytes(const Model::Impl& model);
// Drops this process's resident pages of the given layers' matrices that view the file mapping (an edit
// that will not read them for a while: DINM's cached lower layers). The page cache keeps them, so the next
// read maps them again without I/O unless memory ran short. Owned tensors are left alone.
void releaseMappedLayerPages(const Model::Impl& model, const std::vector<int>& layers);

// Builds the in-memory model from a checkpoint directory (model.cpp).
std::shared_ptr<Model::Impl> loadModelImpl(const std::string& directory, const LoadOptions& options, JobControl& job);
// The torch device of LoadOptions::device; throws detox::Error (what to rebuild with) when unavailable.
torch::Device deviceFromName(const std::string& name);
// Random-weight model of the given shape (benchmarks, tests): normal(0, 0.02) weights, norms at 1.
std::shared_ptr<Model::Impl> randomModelImpl(const ModelConfig& config, uint64_t seed);
// Wraps an Impl as a public Model (e.g. one built by randomModelImpl).
Model modelFromImpl(std::shared_ptr<Model::Impl> impl);

// Generation on the internal API (generate.cpp).
std::vector<Generation> generateTokens(const Model::Impl& model, const std::vector<std::vector<int>>& prompts,
                                       const GenerationSettings& settings, JobControl& job);

}  // namespace detox
