// Layer x token and neuron x token readings through the model's public capture API.
#include "detox/runtime/inspect.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "detox/error.h"

namespace detox {

namespace {

std::string readableToken(std::string text) {
    std::string out;
    for (char c : text) {
        if (c == '\n') out += "↵";
        else if (c == '\t') out += "⇥";
        else if (c == '\r') out += "\\r";
        else out += c;
    }
    return out;
}

void requireIds(const Model& model, const std::vector<int>& ids, const char* what) {
    if (ids.empty()) throw Error("", what, "the text has no tokens");
    // Policy refuse (context_policy.h): callers that cut a long text do it before, and say so.
    if (int(ids.size()) > model.config().maxPositions)
        throw Error(model.directory(), what,
                    std::to_string(ids.size()) + " tokens are longer than the model's context of " +
                        std::to_string(model.config().maxPositions) + " positions (policy refuse); keep the last " +
                        std::to_string(model.config().maxPositions) + " tokens or shorten the text");
}

// resid_post of every layer for one sequence: [layer] -> FloatTensor [1, seq, hidden].
std::vector<FloatTensor> residualsAfterLayers(const Model& model, const std::vector<int>& ids) {
    CaptureRequest request;
    request.points = {Capture::ResidPost};
    request.logits = false;
    ForwardOutput output = model.forward({ids}, request);
    std::vector<FloatTensor> residuals;
    for (int layer = 0; layer < model.config().numLayers; ++layer)
        residuals.push_back(std::move(output.captures.at(captureKey(Capture::ResidPost, layer))));
    return residuals;
}

const float* row(const FloatTensor& tensor, int64_t position) {
    const int64_t width = tensor.shape.back();
    return tensor.values.data() + position * width;
}

double norm(const float* values, int64_t count) {
    double sum = 0;
    for (int64_t i = 0; i < count; ++i) sum += double(values[i]) * double(values[i]);
    return std::sqrt(sum);
}

}  // namespace

std::vector<std::string> tokenLabels(const Tokenizer& tokenizer, const std::vector<int>& ids) {
    std::vector<std::string> labels;
    labels.reserve(ids.size());
    for (int id : ids) {
        std::string text = tokenizer.decode({id}, false);
        if (text.empty()) text = tokenizer.idToToken(id);
        labels.push_back(readableToken(text));
    }
    return labels;
}

std::string layerTokenMeasureName(LayerTokenMeasure measure) {
    switch (measure) {
        case LayerTokenMeasure::HiddenNorm: return "hidden_norm";
        case LayerTokenMeasure::SafeUnsafeDistance: return "safe_unsafe_distance";
        case LayerTokenMeasure::LogitLensTopProbability: return "logit_lens_top_probability";
    }
    return {};
}

void to_json(nlohmann::json& json, const LayerTokenMap& map) {
    json = {{"measure", map.measure}, {"tokens", map.tokens}, {"values", map.values}};
    if (!map.topTokens.empty()) json["top_tokens"] = map.topTokens;
}

LayerTokenMap hiddenNormMap(const Model& model, const std::vector<int>& ids) {
    requireIds(model, ids, "hidden-norm input");
    LayerTokenMap map;
    map.measure = layerTokenMeasureName(LayerTokenMeasure::HiddenNorm);
    map.tokens = tokenLabels(model.tokenizer(), ids);
    const int64_t hidden = model.config().hiddenSize;
    for (const FloatTensor& residual : residualsAfterLayers(model, ids)) {
        std::vector<double> norms;
        for (size_t t = 0; t < ids.size(); ++t) norms.push_back(norm(row(residual, int64_t(t)), hidden));
        map.values.push_back(std::move(norms));
    }
    return map;
}

LayerTokenMap safeUnsafeDistanceMap(const Model& model, const std::vector<int>& safeIds,
                                    const std::vector<int>& unsafeIds) {
    requireIds(model, safeIds, "safe generation");
    requireIds(model, unsafeIds, "unsafe generation");
    const size_t common = std::min(safeIds.size(), unsafeIds.size());
    LayerTokenMap map;
    map.measure = layerTokenMeasureName(LayerTokenMeasure::SafeUnsafeDistance);
    const auto safeLabels = tokenLabels(model.tokenizer(), safeIds);
    const auto unsafeLabels = tokenLabels(model.tokenizer(), unsafeIds);
    for (size_t t = 0; t < common; ++t) map.tokens.push_back(safeLabels[t] + " | " + unsafeLabels[t]);
    const auto safe = residualsAfterLayers(model, safeIds);
    const auto unsafe = residualsAfterLayers(model, unsafeIds);
    const int64_t hidden = model.config().hiddenSize;
    std::vector<float> difference(size_t(hidden), 0.0f);
    for (size_t layer = 0; layer < safe.size(); ++layer) {
        std::vector<double> distances;
        for (size_t t = 0; t < common; ++t) {
            const float* a = row(safe[layer], int64_t(t));
            const float* b = row(unsafe[layer], int64_t(t));
            for (int64_t i = 0; i < hidden; ++i) difference[size_t(i)] = a[i] - b[i];
            distances.push_back(norm(difference.data(), hidden));
        }
        map.values.push_back(std::move(distances));
    }
    return map;
}

LayerTokenMap logitLensMap(const Model& model, const std::vector<int>& ids) {
    requireIds(model, ids, "logit-lens input");
    LayerTokenMap map;
    map.measure = layerTokenMeasureName(LayerTokenMeasure::LogitLensTopProbability);
    map.tokens = tokenLabels(model.tokenizer(), ids);
    for (const FloatTensor& residual : residualsAfterLayers(model, ids)) {
        const FloatTensor logits = model.logitLens(residual);  // [1, seq, vocab], one layer at a time
        const int64_t vocab = logits.shape.back();
        std::vector<double> probabilities;
        std::vector<int> topIds;
        for (size_t t = 0; t < ids.size(); ++t) {
            const float* values = row(logits, int64_t(t));
            const int64_t top = std::max_element(values, values + vocab) - values;
            double sum = 0;  // softmax denominator, shifted by the maximum for stability
            for (int64_t v = 0; v < vocab; ++v) sum += std::exp(double(values[v]) - double(values[top]));
            probabilities.push_back(1.0 / sum);
            topIds.push_back(int(top));
        }
        map.values.push_back(std::move(probabilities));
        map.topTokens.push_back(tokenLabels(model.tokenizer(), topIds));
    }
    return map;
}

std::vector<double> NeuronTokenActivations::meanOverTokens() const {
    std::vector<double> mean(size_t(neurons), 0.0);
    const size_t tokenCount = ids.size();
    if (tokenCount == 0) return mean;
    for (size_t t = 0; t < tokenCount; ++t)
        for (int n = 0; n < neurons; ++n) mean[size_t(n)] += at(int(t), n);
    for (double& value : mean) value /= double(tokenCount);
    return mean;
}

NeuronTokenActivations neuronActivations(const Model& model, int layer, const std::vector<int>& ids) {
    if (layer < 0 || layer >= model.config().numLayers)
        throw Error(model.directory(), "toxic layer", std::to_string(layer) + " is outside the model");
    requireIds(model, ids, "activation input");
    CaptureRequest request;
    request.points = {Capture::MlpAct};
    request.layers = {layer};
    request.logits = false;
    ForwardOutput output = model.forward({ids}, request);
    FloatTensor& activations = output.captures.at(captureKey(Capture::MlpAct, layer));  // [1, seq, intermediate]
    NeuronTokenActivations result;
    result.layer = layer;
    result.ids = ids;
    result.tokens = tokenLabels(model.tokenizer(), ids);
    result.neurons = int(activations.shape.back());
    result.values = std::move(activations.values);
    return result;
}

std::vector<int> mostDifferentNeurons(const std::vector<double>& a, const std::vector<double>& b, int k) {
    if (a.size() != b.size()) throw Error("", "neuron activations", "both inputs need the same neuron count");
    std::vector<int> order(a.size());
    std::iota(order.begin(), order.end(), 0);
    const auto change = [&](int n) { return std::abs(b[size_t(n)] - a[size_t(n)]); };
    std::stable_sort(order.begin(), order.end(), [&](int x, int y) { return change(x) > change(y); });
    order.resize(std::min(order.size(), size_t(std::max(k, 0))));
    return order;
}

}  // namespace detox
