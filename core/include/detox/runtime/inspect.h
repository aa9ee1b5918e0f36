// Per-layer and per-token readings of a model for the workbench's heatmaps: hidden-state norms, the
// safe-vs-unsafe distance per token, the logit lens's top-token probability, and one layer's MLP
// neuron activations (mlp_act, the input of the second MLP matrix) per token. Plain data only.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "detox/runtime/model.h"

namespace detox {

// Readable labels for token ids, decoded one by one (newlines and tabs shown as ↵ and ⇥).
std::vector<std::string> tokenLabels(const Tokenizer& tokenizer, const std::vector<int>& ids);

enum class LayerTokenMeasure { HiddenNorm, SafeUnsafeDistance, LogitLensTopProbability };
// "hidden_norm", "safe_unsafe_distance", "logit_lens_top_probability"
std::string layerTokenMeasureName(LayerTokenMeasure measure);

struct LayerTokenMap {
    std::string measure;                              // layerTokenMeasureName
    std::vector<std::string> tokens;                  // column labels
    std::vector<std::vector<double>> values;          // [layer][token]
    std::vector<std::vector<std::string>> topTokens;  // logit lens only: [layer][token] the most likely token
};
void to_json(nlohmann::json& json, const LayerTokenMap& map);

// ||resid_post(layer)[t]|| (the residual stream after each layer, before the final norm).
LayerTokenMap hiddenNormMap(const Model& model, const std::vector<int>& ids);
// ||resid_post_safe(layer)[t] - resid_post_unsafe(layer)[t]|| for the positions both texts have: the
// per-token parts of the toxic-layer distance. Labels are "safe token | unsafe token".
LayerTokenMap safeUnsafeDistanceMap(const Model& model, const std::vector<int>& safeIds,
                                    const std::vector<int>& unsafeIds);
// The probability of the most likely next token when each layer's residual is unembedded (logit lens).
LayerTokenMap logitLensMap(const Model& model, const std::vector<int>& ids);

// One layer's MLP neuron activations for one input.
struct NeuronTokenActivations {
    int layer = -1;
    std::vector<int> ids;
    std::vector<std::string> tokens;
    int neurons = 0;
    std::vector<float> values;                        // [token][neuron], row-major

    float at(int token, int neuron) const { return values[size_t(token) * size_t(neurons) + size_t(neuron)]; }
    std::vector<double> meanOverTokens() const;       // [neuron]
};
NeuronTokenActivations neuronActivations(const Model& model, int layer, const std::vector<int>& ids);

// The k neurons with the largest |b - a|, largest first (lower index first on ties).
std::vector<int> mostDifferentNeurons(const std::vector<double>& a, const std::vector<double>& b, int k);

}  // namespace detox
