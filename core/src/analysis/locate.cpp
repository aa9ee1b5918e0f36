// Toxic-layer location: per-layer distance between the hidden states of the safe and the unsafe
// generation (see detox/locate.h for the two variants).
#include <algorithm>

#include "detox/error.h"
#include "detox/analysis/locate.h"
#include "methods/method_common.h"

namespace detox {
using namespace detox::nn;

namespace {

// Residual stream after every layer for one unpadded sequence: [layers, seq, hidden].
torch::Tensor residualsAfterLayers(const Model::Impl& model, const TokenBatch& batch,
                                   const AttentionInputs& attention) {
    CaptureSet captures({Capture::ResidPost}, {}, model.config.numLayers);
    model.runLayers(model.embed(batch.ids, attention.positions), 0, model.config.numLayers, attention, &captures);
    std::vector<torch::Tensor> layers;
    for (int layer = 0; layer < model.config.numLayers; ++layer)
        layers.push_back(captures.tensors.at(captureKey(Capture::ResidPost, layer)));
    return torch::stack(layers);  // [layers, batch, seq, hidden]
}

std::vector<double> maskedDistances(const Model::Impl& model, const std::vector<int>& safeIds,
                                    const std::vector<int>& unsafeIds) {
    auto layerMeans = [&](const std::vector<int>& ids) {
        TokenBatch batch = padTokens({ids}, false, 0, model.config.vocabSize);
        AttentionInputs attention = model.attentionInputs(batch.mask, batch.ids.size(1));
        return residualsAfterLayers(model, batch, attention).select(1, 0).mean(1);  // [layers, hidden]
    };
    torch::Tensor difference = layerMeans(safeIds) - layerMeans(unsafeIds);
    return toDoubleVector(difference.to(torch::kFloat64).norm(2, {1}));
}

// HF (as EasyEdit calls it) gives every slot of a padded batch the position ids 0..n-1. Right padding: pad
// queries attend to the real keys before them; left padding: pad queries see no allowed key, so every
// score sits at the lowest value and they attend to all keys uniformly (HF eager).
std::vector<double> easyEditDistances(const Model::Impl& model, const std::vector<int>& safeIds,
                                      const std::vector<int>& unsafeIds, int padId, bool leftPadding) {
    TokenBatch batch = padTokens({safeIds, unsafeIds}, leftPadding, padId, model.config.vocabSize);
    const int64_t length = batch.ids.size(1);
    AttentionInputs attention = model.attentionInputs(batch.mask, length);
    AttentionInputs unpadded = model.attentionInputs(torch::ones_like(batch.mask), length);
    attention.positions = unpadded.positions;
    attention.cos = unpadded.cos;
    attention.sin = unpadded.sin;
    torch::Tensor residuals = residualsAfterLayers(model, batch, attention);  // [layers, 2, seq, hidden]
    const int64_t last = model.config.numLayers - 1;
    torch::Tensor normalizedLast = model.finalNorm(residuals[last]).unsqueeze(0);
    residuals = torch::cat({residuals.narrow(0, 0, last), normalizedLast});
    torch::Tensor difference = (residuals.select(1, 0) - residuals.select(1, 1)).to(torch::kFloat64);
    return toDoubleVector(difference.flatten(1).norm(2, {1}));
}

}  // namespace

std::string locateVariantName(LocateVariant variant) {
    switch (variant) {
        case LocateVariant::Masked: return "masked";
        case LocateVariant::EasyEdit: return "easyedit";
        case LocateVariant::EasyEditLeft: return "easyedit-left";
    }
    return "";
}

std::optional<LocateVariant> locateVariantFromName(const std::string& name) {
    for (LocateVariant variant : {LocateVariant::Masked, LocateVariant::EasyEdit, LocateVariant::EasyEditLeft})
        if (name == locateVariantName(variant)) return variant;
    return std::nullopt;
}

std::string locateVariantEasyEditVersion(LocateVariant variant) {
    switch (variant) {
        case LocateVariant::Masked: return "";
        case LocateVariant::EasyEdit: return "EasyEdit 2024-05..2024-11 (right padding for Llama tokenizers)";
        case LocateVariant::EasyEditLeft: return "EasyEdit release 2024-03 and current (left padding)";
    }
    return "";
}

std::string locateVariantChoices() { return "'masked', 'easyedit' or 'easyedit-left'"; }

namespace {
std::string paddingName(LocateVariant variant) {
    switch (variant) {
        case LocateVariant::Masked: return "none";
        case LocateVariant::EasyEdit: return "right";
        case LocateVariant::EasyEditLeft: return "left";
    }
    return "";
}
}  // namespace

int argmaxLayer(const std::vector<double>& distances) {
    if (distances.empty()) return -1;
    return static_cast<int>(std::max_element(distances.begin(), distances.end()) - distances.begin());
}

std::vector<double> layerDistances(const Model& model, const std::vector<int>& safeIds,
                                   const std::vector<int>& unsafeIds, LocateVariant variant, int padId) {
    c10::InferenceMode inference;
    const Model::Impl& impl = model.impl();
    if (variant == LocateVariant::Masked) return maskedDistances(impl, safeIds, unsafeIds);
    return easyEditDistances(impl, safeIds, unsafeIds, padId, variant == LocateVariant::EasyEditLeft);
}

LocateResult locateToxicLayer(const Model& model, const SafeEditRecord& record, LocateVariant variant) {
    const Tokenizer& tokenizer = model.tokenizer();
    if (record.safeGeneration.empty() || record.unsafeGeneration.empty())
        throw Error("", "record " + std::to_string(record.id),
                    "locating needs both a safe and an unsafe generation");
    int padId = tokenizer.eosId() ? *tokenizer.eosId() : paddingId(model.impl());
    LocateResult result;
    result.recordId = record.id;
    result.variant = locateVariantName(variant);
    result.padding = paddingName(variant);
    result.easyeditVersion = locateVariantEasyEditVersion(variant);
    result.context = ContextFit("locate texts", ContextPolicy::KeepLast, contextLimit(model.config(), 0, model.directory()));
    std::vector<int> safeIds = tokenizer.encode(record.safeGeneration), unsafeIds = tokenizer.encode(record.unsafeGeneration);
    const std::string label = "record " + std::to_string(record.id);
    fitToContext(safeIds, result.context, label + " safe generation");
    fitToContext(unsafeIds, result.context, label + " unsafe generation");
    result.distances = layerDistances(model, safeIds, unsafeIds, variant, padId);
    result.toxicLayer = argmaxLayer(result.distances);
    return result;
}

std::vector<LocateResult> locateToxicLayers(const Model& model, const std::vector<SafeEditRecord>& records,
                                            LocateVariant variant, JobControl& job) {
    std::vector<LocateResult> results;
    for (size_t i = 0; i < records.size(); ++i) {
        job.checkpoint();
        results.push_back(locateToxicLayer(model, records[i], variant));
        Progress progress;
        progress.step = static_cast<int>(i + 1);
        progress.total = static_cast<int>(records.size());
        progress.message = "located record " + std::to_string(records[i].id) + ": layer " +
                           std::to_string(results.back().toxicLayer);
        progress.values["toxic_layer"] = results.back().toxicLayer;
        job.report(progress);
    }
    return results;
}

}  // namespace detox
