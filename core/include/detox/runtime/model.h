// The model runtime: a HuggingFace checkpoint (GPT-2, Llama, Mistral, Qwen2) loaded for inference,
// activation capture, generation, parameter editing and saving. No tensor-library types here: results
// are plain data. Core's own tensor code reaches the internals through Model::impl() (core/src/runtime/transformer.h).
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "detox/checkpoint/checkpoint.h"
#include "detox/job.h"
#include "detox/tokenizer/tokenizer.h"

namespace detox {

// A dense float array, row-major, for results and the ui.
struct FloatTensor {
    std::vector<int64_t> shape;
    std::vector<float> values;

    int64_t numel() const;
    // Element at a full index (one entry per dimension); throws std::out_of_range when outside.
    float at(const std::vector<int64_t>& index) const;
};

// Named points in each layer where activations can be captured.
//   resid_pre   residual stream entering the layer          [batch, seq, hidden]
//   resid_mid   after the attention block's residual add     [batch, seq, hidden]
//   resid_post  after the MLP's residual add (layer output)  [batch, seq, hidden]
//   attn_out    attention block output before the add        [batch, seq, hidden]
//   mlp_out     MLP output before the add                    [batch, seq, hidden]
//   mlp_act     the down projection's input (act(gate)*up, or act(c_fc)) [batch, seq, intermediate]
//   attn_pattern attention probabilities                     [batch, heads, seq, keys]
enum class Capture { ResidPre, ResidMid, ResidPost, AttnOut, MlpOut, MlpAct, AttnPattern };
std::string captureName(Capture point);                       // "resid_pre" ...
std::optional<Capture> captureFromName(const std::string& name);
std::vector<Capture> allCaptures();
std::string captureKey(Capture point, int layer);             // "resid_post.3"

// A write at a capture point (any point but attn_pattern), applied where the activation is produced,
// before it is captured and before the rest of the model reads it. Forward passes and generation.
//   Replace     the selected entries become `values`
//   Add         the selected entries get scale * `values` added
//   Scale       the selected entries are multiplied by scale
//   ProjectOut  the component along `values` (a direction, normalised here) is removed from each
//               selected vector, times scale (1 = all of it): x - scale * (x . d) d, d = values / |values|
// `values`: [width] (the same for every selected position) or [positions.size(), width] (one row per
// listed position); width = neurons.size(), or the point's whole width when neurons is empty.
struct Intervention {
    enum class Kind { Replace, Add, Scale, ProjectOut };
    Capture point = Capture::ResidPost;
    int layer = 0;
    Kind kind = Kind::Replace;
    std::vector<int> rows;       // batch rows; empty = every row
    // Token positions of each sequence (0 = its first token); empty = every position. Negative counts from
    // the end of the prompt (-1 = its last token). In generation, positions past the prompt are the new tokens.
    std::vector<int> positions;
    std::vector<int> neurons;    // channels of the last dimension; empty = all of them
    FloatTensor values;
    float scale = 1.0f;
};
std::string interventionKindName(Intervention::Kind kind);  // "replace", "add", "scale", "project_out"
std::optional<Intervention::Kind> interventionKindFromName(const std::string& name);

struct CaptureRequest {
    std::vector<Capture> points;
    std::vector<int> layers;            // empty = all layers
    bool logits = true;                 // false: skip the unembedding (captures only)
    bool lastPositionLogitsOnly = false;  // logits [batch, 1, vocab] at each sequence's last real token
    std::vector<Intervention> interventions;  // applied in order; captures see the written activations
};

struct ForwardOutput {
    FloatTensor logits;                           // [batch, seq, vocab] (right-padded; see lengths)
    std::vector<int> lengths;                     // real tokens per sequence; positions beyond are padding
    std::map<std::string, FloatTensor> captures;  // "resid_post.3" -> tensor
};

struct GenerationSettings {
    int maxNewTokens = 64;
    double temperature = 0;             // 0 = greedy
    double topP = 1.0;
    uint64_t seed = 0;                  // sampling is deterministic for a seed (and batch composition)
    std::vector<int> stopIds;           // in addition to the model's EOS ids
    std::vector<Intervention> interventions;  // at every step (prefill and each new token)
};

struct Generation {
    std::vector<int> promptIds;
    std::vector<int> outputIds;         // new tokens, without the stop token
    std::string text;                   // outputIds decoded (empty without a tokenizer)
    bool stoppedAtEos = false;          // stopped at an EOS or stop id (else at maxNewTokens)
    std::optional<int> stopId;          // the stop token met
};

// How the weights are held in memory.
//   F32     every weight converted to float32 at load (F32 files: zero-copy views of the mapping). Fastest.
//   Stored  every weight stays in its stored dtype (BF16 / F16 / F32), a zero-copy view of the read-only
//           file mapping; matrices are converted to the compute dtype just before use, one at a time
//           into a reused scratch buffer. Small tensors (norms, biases) are kept in the compute dtype.
//           A 7B BF16 model needs ~14 GB instead of ~28 GB.
//   Auto    F32 when the float32 weights plus working memory fit in available memory with headroom,
//           else Stored.
enum class WeightMode { Auto, F32, Stored };
std::string weightModeName(WeightMode mode);                       // "auto", "f32", "stored"
std::optional<WeightMode> weightModeFromName(const std::string& name);

struct LoadOptions {
    WeightMode weights = WeightMode::Auto;
    // "cpu", "cuda" or "cuda:N". Parameters, masks, rotary tables, KV cache and captures live there;
    // compute is float32 on the CPU; on CUDA bfloat16 (weights auto/stored: kept in their stored dtype,
    // host memory is not the limit there) or float32 (weights f32). Throws detox::Error when this LibTorch
    // has no such device (Debian's LibTorch is CPU-only: the message says what to rebuild with).
    std::string device = "cpu";
    // Every weight is checked for NaN and infinite values as it is read (at memory speed). Such a model
    // loads, with a warning naming the tensors (onWarning, and the load's progress message); editing and
    // saving it are refused unless this is set, and then weightsDescription() (provenance, detox_save.json)
    // records it.
    bool allowNonFiniteWeights = false;
    std::function<void(const std::string&)> onWarning;  // e.g. the CLI prints to stderr; may be empty
};

// The mode a load with `requested` would use for this checkpoint (Auto resolved by the memory estimate), or
// a detox::Error refusal that says which mode would fit. onCuda: host memory is not the limit there.
WeightMode resolveWeightMode(const CheckpointInfo& info, WeightMode requested, bool onCuda = false);
// "cpu", "cuda:0", ... for a LoadOptions::device, or a detox::Error that says what to rebuild with.
std::string checkDevice(const std::string& device);

class Model {
public:
    // Reads and validates DIR (config.json, safetensors, tokenizer.json when present). Refuses when the
    // weights cannot fit in available memory in the chosen mode (the message says which mode would fit).
    // Reports progress per tensor; cancellable.
    static Model load(const std::string& directory, JobControl& job = noJobControl());
    static Model load(const std::string& directory, const LoadOptions& options, JobControl& job = noJobControl());

    // Copies share the same weights (a shared implementation): an edit through one is seen by all.
    // Moving is cheap. Not safe to edit from one thread while another runs the model.
    Model(const Model&) = default;
    Model& operator=(const Model&) = default;
    Model(Model&&) noexcept = default;
    Model& operator=(Model&&) noexcept = default;

    const ModelConfig& config() const;
    bool hasTokenizer() const;
    const Tokenizer& tokenizer() const;  // throws detox::Error when the checkpoint has none
    std::string directory() const;       // where it was loaded from
    long long parameterCount() const;    // tied weights counted once
    // Bytes the weights occupy as held: 2 per BF16/F16 parameter in stored mode (views of the file
    // mapping), 4 per F32 one (converted at load, an F32 file, or an edit's override).
    long long weightBytes() const;
    WeightMode weightMode() const;       // as resolved at load: F32 or Stored (never Auto)
    std::string device() const;          // "cpu", "cuda:0", ...
    // "f32 weights on cpu" / "stored-dtype (BF16) weights on cpu": for provenance and the ui. With
    // non-finite weights allowed at load, it ends "; NaN/Inf allowed in N tensor(s): NAMES".
    std::string weightsDescription() const;
    // HF names of the tensors that held NaN or infinite values when loaded (empty for a sound checkpoint).
    const std::vector<std::string>& nonFiniteWeightsAtLoad() const;
    bool nonFiniteWeightsAllowed() const;  // LoadOptions::allowNonFiniteWeights of the load

    // Runs a batch of token id sequences (right-padded internally). Logits of padded positions are
    // meaningless. No gradients.
    ForwardOutput forward(const std::vector<std::vector<int>>& batch, const CaptureRequest& request = {}) const;

    // Batched generation: left padding, prefill then KV-cache decode, greedy or sampled.
    std::vector<Generation> generate(const std::vector<std::vector<int>>& prompts, const GenerationSettings& settings,
                                     JobControl& job = noJobControl()) const;

    // Final norm + unembedding of residual vectors [..., hidden] -> [..., vocab].
    FloatTensor logitLens(const FloatTensor& residual) const;

    // Parameters by HF tensor name, in the HF stored layout (GPT-2 Conv1D weights are [in, out]).
    std::vector<std::string> parameterNames() const;
    FloatTensor parameter(const std::string& hfName) const;
    void setParameter(const std::string& hfName, const FloatTensor& value);  // shape-checked

    // Writes a new checkpoint directory in the HF layout (original names and dtypes, tokenizer and
    // generation config copied). Refuses the source directory and non-empty folders that are not a
    // previous save of ours.
    void save(const std::string& newDirectory, JobControl& job = noJobControl()) const;

    // SHA-256 for provenance: config.json + safetensors headers and sizes of the loaded checkpoint, plus
    // the bytes of every parameter edited since (cheap when nothing was edited).
    std::string contentHash() const;

    struct Impl;
    Impl& impl();
    const Impl& impl() const;

private:
    friend Model modelFromImpl(std::shared_ptr<Impl> impl);
    explicit Model(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
    std::shared_ptr<Impl> impl_;
};

}  // namespace detox
