// Mechanism analysis (see detox/mechanism.h).
#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <numeric>
#include <random>

#include "detox/error.h"
#include "detox/analysis/mechanism.h"
#include "methods/method_common.h"

namespace detox {
using namespace detox::nn;

namespace {

struct ModuleColumn {
    std::string label;
    std::string module;  // the spec's module name
};

std::vector<ModuleColumn> moduleColumns(const Model::Impl& model) {
    const ArchitectureSpec& spec = *model.spec;
    if (!spec.qkv.empty())
        return {{"c_attn", spec.qkv}, {"attn.c_proj", spec.o}, {"c_fc", spec.up}, {"mlp.c_proj", spec.down}};
    std::vector<ModuleColumn> columns = {{"q", spec.q}, {"k", spec.k}, {"v", spec.v}, {"o", spec.o}};
    if (!spec.gate.empty()) columns.push_back({"gate", spec.gate});
    columns.push_back({"up", spec.up});
    columns.push_back({"down", spec.down});
    return columns;
}

double relativeShift(const torch::Tensor& before, const torch::Tensor& after) {
    torch::Tensor b = before.to(torch::kFloat64), a = after.to(torch::kFloat64);
    double base = b.norm().item<double>();
    double change = (a - b).norm().item<double>();
    return base > 0 ? change / base : (change > 0 ? std::numeric_limits<double>::infinity() : 0.0);
}

ParameterShiftMatrix shiftMatrix(const Model::Impl& after,
                                 const std::function<torch::Tensor(const std::string&)>& beforeOf) {
    torch::NoGradGuard noGrad;
    ParameterShiftMatrix result;
    const auto columns = moduleColumns(after);
    for (const auto& column : columns) result.modules.push_back(column.label);
    for (int layer = 0; layer < after.config.numLayers; ++layer) {
        result.layers.push_back(layer);
        std::vector<std::string> names;
        std::vector<double> row;
        for (const auto& column : columns) {
            const std::string name = after.layerParameterName(layer, column.module);
            names.push_back(name);
            row.push_back(relativeShift(beforeOf(name), after.parameter(name)));
        }
        result.tensors.push_back(std::move(names));
        result.relative.push_back(std::move(row));
    }
    return result;
}

double vectorNorm(const std::vector<double>& values) {
    return std::sqrt(std::inner_product(values.begin(), values.end(), values.begin(), 0.0));
}

}  // namespace

// ---- parameter shift ----

std::vector<std::string> layerModuleLabels(const Model& model) {
    std::vector<std::string> labels;
    for (const auto& column : moduleColumns(model.impl())) labels.push_back(column.label);
    return labels;
}

ParameterShiftMatrix parameterShift(const Model& before, const Model& after) {
    const Model::Impl& b = before.impl();
    if (b.config.numLayers != after.config().numLayers || b.spec != after.impl().spec)
        throw Error(after.directory(), "parameter shift", "the two models differ in architecture or layer count");
    return shiftMatrix(after.impl(), [&](const std::string& name) {
        const torch::Tensor& value = b.parameter(name);
        if (value.sizes() != after.impl().parameter(name).sizes())
            throw Error(after.directory(), "parameter '" + name + "'", "has a different shape in the two models");
        return value;
    });
}

ParameterShiftMatrix parameterShift(const ModelEditor& editor) {
    ModelEditor& mutableEditor = const_cast<ModelEditor&>(editor);
    const Model::Impl& impl = mutableEditor.model().impl();
    return shiftMatrix(impl, [&](const std::string& name) {
        auto original = editor.originalParameter(name);
        if (!original) return impl.parameter(name);
        torch::Tensor value = fromFloatTensor(*original);
        return impl.slot(name).transposed ? value.t() : value;
    });
}

void to_json(nlohmann::json& json, const ParameterShiftMatrix& s) {
    json = {{"layers", s.layers}, {"modules", s.modules}, {"tensors", s.tensors}, {"relative", s.relative}};
}

// ---- activations ----

ActivationMeans toxicRegionActivations(const Model& model, int layer, const std::vector<std::vector<int>>& inputs,
                                       JobControl& job) {
    const Model::Impl& impl = model.impl();
    if (layer < 0 || layer >= impl.config.numLayers)
        throw Error(impl.directory, "toxic layer", std::to_string(layer) + " is outside the model");
    if (inputs.empty()) throw Error("", "activation inputs", "there are no inputs");
    c10::InferenceMode inference;
    torch::Tensor sum = torch::zeros({impl.config.intermediateSize}, torch::kFloat64);
    ContextFit fit("toxic-region activation inputs", ContextPolicy::KeepLast, contextLimit(impl.config, 0, impl.directory));
    for (size_t i = 0; i < inputs.size(); ++i) {
        job.checkpoint();
        std::vector<int> ids = inputs[i];
        fitToContext(ids, fit, "input " + std::to_string(i + 1));
        TokenBatch batch = padTokens({ids}, false, 0, impl.config.vocabSize);
        AttentionInputs attention = impl.attentionInputs(batch.mask, batch.ids.size(1));
        torch::Tensor hidden = impl.runLayers(impl.embed(batch.ids, attention.positions), 0, layer, attention);
        torch::Tensor mid = hidden + impl.attentionBlock(layer, hidden, attention);
        sum += impl.mlpActivation(layer, mid).select(0, 0).to(torch::kFloat64).mean(0);
        job.report({static_cast<int>(i + 1), static_cast<int>(inputs.size()), "toxic-region activations", {}});
    }
    ActivationMeans result;
    result.layer = layer;
    result.inputs = static_cast<int>(inputs.size());
    result.mean = toDoubleVector(sum / static_cast<double>(inputs.size()));
    result.context = std::move(fit);
    return result;
}

void to_json(nlohmann::json& json, const ActivationMeans& m) {
    json = {{"layer", m.layer}, {"inputs", m.inputs}, {"mean", m.mean}, {"context", m.context}};
}

ActivationShift activationShift(const ActivationMeans& before, const ActivationMeans& after, int topK) {
    if (before.mean.size() != after.mean.size() || before.layer != after.layer)
        throw Error("", "activation shift", "before and after were measured on different layers");
    ActivationShift shift;
    shift.layer = before.layer;
    shift.meanBefore = before.mean;
    shift.meanAfter = after.mean;
    shift.normBefore = vectorNorm(before.mean);
    shift.normAfter = vectorNorm(after.mean);
    shift.relativeNormChange = shift.normBefore > 0 ? (shift.normAfter - shift.normBefore) / shift.normBefore : 0;
    std::vector<int> order(before.mean.size());
    std::iota(order.begin(), order.end(), 0);
    auto change = [&](int i) { return after.mean[size_t(i)] - before.mean[size_t(i)]; };
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return std::abs(change(a)) > std::abs(change(b)); });
    for (int i = 0; i < std::min<int>(topK, static_cast<int>(order.size())); ++i) {
        shift.topNeurons.push_back(order[size_t(i)]);
        shift.topChanges.push_back(change(order[size_t(i)]));
    }
    return shift;
}

void to_json(nlohmann::json& json, const ActivationShift& s) {
    json = {{"layer", s.layer},           {"mean_before", s.meanBefore},  {"mean_after", s.meanAfter},
            {"norm_before", s.normBefore}, {"norm_after", s.normAfter},    {"relative_norm_change", s.relativeNormChange},
            {"top_neurons", s.topNeurons}, {"top_changes", s.topChanges}};
}

// ---- probe ----

ToxicProbe trainLogisticProbe(const std::vector<std::vector<double>>& features, const std::vector<int>& labels,
                              const ProbeSettings& settings) {
    if (features.size() != labels.size() || features.size() < 4)
        throw Error("", "toxic probe", "needs at least 4 labelled examples (one label per feature row)");
    const int64_t count = static_cast<int64_t>(features.size()), width = static_cast<int64_t>(features[0].size());
    torch::Tensor x = torch::empty({count, width}, torch::kFloat64);
    for (int64_t i = 0; i < count; ++i) {
        if (static_cast<int64_t>(features[size_t(i)].size()) != width)
            throw Error("", "toxic probe feature row " + std::to_string(i), "differs in length from the first row");
        x[i] = torch::tensor(features[size_t(i)], torch::kFloat64);
    }
    torch::Tensor y = torch::tensor(std::vector<double>(labels.begin(), labels.end()), torch::kFloat64);
    // A stratified split keeps both classes in both parts.
    std::mt19937_64 random(settings.seed);
    std::vector<int64_t> train, heldOut;
    for (int label : {0, 1}) {
        std::vector<int64_t> members;
        for (int64_t i = 0; i < count; ++i)
            if (labels[size_t(i)] == label) members.push_back(i);
        std::shuffle(members.begin(), members.end(), random);
        size_t held = static_cast<size_t>(std::lround(settings.heldOutFraction * static_cast<double>(members.size())));
        held = std::min(held, members.size() > 0 ? members.size() - 1 : 0);
        heldOut.insert(heldOut.end(), members.begin(), members.begin() + static_cast<long>(held));
        train.insert(train.end(), members.begin() + static_cast<long>(held), members.end());
    }
    torch::Tensor trainIndex = torch::tensor(train, torch::kInt64), heldIndex = torch::tensor(heldOut, torch::kInt64);
    torch::Tensor xTrain = x.index_select(0, trainIndex), yTrain = y.index_select(0, trainIndex);
    torch::Tensor center = xTrain.mean(0);
    torch::Tensor spread = (xTrain - center).pow(2).mean(0).sqrt().clamp_min(1e-8);
    torch::Tensor standardTrain = (xTrain - center) / spread;

    torch::Tensor w = torch::zeros({width}, torch::kFloat64).requires_grad_(true);
    torch::Tensor b = torch::zeros({1}, torch::kFloat64).requires_grad_(true);
    torch::optim::Adam optimizer({w, b}, torch::optim::AdamOptions(settings.learningRate));
    for (int iteration = 0; iteration < settings.iterations; ++iteration) {
        optimizer.zero_grad();
        torch::Tensor logits = torch::matmul(standardTrain, w) + b;
        torch::Tensor loss = torch::binary_cross_entropy_with_logits(logits, yTrain) + settings.l2 * w.pow(2).sum();
        loss.backward();
        optimizer.step();
    }
    torch::NoGradGuard noGrad;
    // Back to the original feature space: w'x + b' with w' = w / spread, b' = b - w'.center.
    torch::Tensor weights = w / spread;
    torch::Tensor bias = b - (weights * center).sum();
    auto accuracy = [&](const torch::Tensor& index) {
        if (index.numel() == 0) return 0.0;
        torch::Tensor predicted = (torch::matmul(x.index_select(0, index), weights) + bias).gt(0).to(torch::kFloat64);
        return predicted.eq(y.index_select(0, index)).to(torch::kFloat64).mean().item<double>();
    };
    ToxicProbe probe;
    probe.weights = toDoubleVector(weights);
    probe.bias = bias.item<double>();
    probe.trainAccuracy = accuracy(trainIndex);
    probe.heldOutAccuracy = accuracy(heldIndex);
    probe.trainCount = static_cast<int>(train.size());
    probe.heldOutCount = static_cast<int>(heldOut.size());
    return probe;
}

void to_json(nlohmann::json& json, const ToxicProbe& p) {
    json = {{"weights", p.weights},         {"bias", p.bias},
            {"train_accuracy", p.trainAccuracy}, {"held_out_accuracy", p.heldOutAccuracy},
            {"train_count", p.trainCount},   {"held_out_count", p.heldOutCount}};
}

std::vector<std::vector<double>> meanLastHiddenStates(const Model& model, const std::vector<std::vector<int>>& sequences,
                                                      JobControl& job) {
    const Model::Impl& impl = model.impl();
    c10::InferenceMode inference;
    std::vector<std::vector<double>> result;
    ContextFit fit("probe texts", ContextPolicy::KeepLast, contextLimit(impl.config, 0, impl.directory));
    for (auto ids : sequences) {
        job.checkpoint();
        fitToContext(ids, fit, "probe text");  // the same cut as locate's (recorded there)
        TokenBatch batch = padTokens({ids}, false, 0, impl.config.vocabSize);
        AttentionInputs attention = impl.attentionInputs(batch.mask, batch.ids.size(1));
        torch::Tensor hidden =
            impl.runLayers(impl.embed(batch.ids, attention.positions), 0, impl.config.numLayers, attention);
        result.push_back(toDoubleVector(hidden.select(0, 0).mean(0)));
    }
    return result;
}

ToxicProbe trainToxicProbe(const Model& model, const std::vector<SafeEditRecord>& records,
                           const ProbeSettings& settings, JobControl& job) {
    const Tokenizer& tokenizer = model.tokenizer();
    std::vector<std::vector<int>> sequences;
    std::vector<int> labels;
    for (const auto& record : records) {
        if (record.safeGeneration.empty() || record.unsafeGeneration.empty()) continue;
        sequences.push_back(tokenizer.encode(record.safeGeneration));
        labels.push_back(0);
        sequences.push_back(tokenizer.encode(record.unsafeGeneration));
        labels.push_back(1);
    }
    return trainLogisticProbe(meanLastHiddenStates(model, sequences, job), labels, settings);
}

double meanColumnCosine(const FloatTensor& matrix, const std::vector<double>& direction) {
    if (matrix.shape.size() != 2 || matrix.shape[0] != static_cast<int64_t>(direction.size()))
        throw Error("", "column cosine", "the matrix needs as many rows as the direction has entries");
    torch::Tensor m = fromFloatTensor(matrix).to(torch::kFloat64);
    torch::Tensor d = torch::tensor(direction, torch::kFloat64);
    const double directionNorm = d.norm().item<double>();
    if (directionNorm == 0) return 0;
    torch::Tensor columnNorms = m.norm(2, {0});
    torch::Tensor dots = torch::matmul(d, m);  // [columns]
    torch::Tensor cosines = torch::where(columnNorms > 0, dots / (columnNorms.clamp_min(1e-300) * directionNorm),
                                         torch::zeros_like(dots));
    return cosines.mean().item<double>();
}

double regionToxicity(const Model& model, int layer, const ToxicProbe& probe) {
    torch::NoGradGuard noGrad;
    const std::string name = toxicRegionTensorName(model, layer);
    return meanColumnCosine(toFloatTensor(model.impl().parameter(name)), probe.weights);  // [hidden, intermediate]
}

// ---- before / after ----

MechanismMeasurements measureMechanism(const Model& model, const std::vector<SafeEditRecord>& records, int layer,
                                       const ToxicProbe& probe, LocateVariant variant, JobControl& job) {
    const Tokenizer& tokenizer = model.tokenizer();
    MechanismMeasurements result;
    result.layer = layer;
    std::vector<std::vector<int>> prompts;
    for (const auto& record : records) prompts.push_back(tokenizer.encode(record.adversarialPrompt));
    result.activations = toxicRegionActivations(model, layer, prompts, job);
    result.regionToxicity = regionToxicity(model, layer, probe);
    for (const auto& record : records) {
        job.checkpoint();
        result.distanceCurves.push_back(locateToxicLayer(model, record, variant));
    }
    return result;
}

void to_json(nlohmann::json& json, const MechanismMeasurements& m) {
    json = {{"layer", m.layer}, {"activations", m.activations}, {"region_toxicity", m.regionToxicity},
            {"distance_curves", m.distanceCurves}};
}

MechanismComparison compareMechanism(const std::string& method, const MechanismMeasurements& before,
                                     const MechanismMeasurements& after, ParameterShiftMatrix shift, int topK) {
    MechanismComparison result;
    result.method = method;
    result.layer = before.layer;
    result.parameterShift = std::move(shift);
    result.activationShift = activationShift(before.activations, after.activations, topK);
    result.regionToxicityBefore = before.regionToxicity;
    result.regionToxicityAfter = after.regionToxicity;
    result.regionToxicityReduction = before.regionToxicity - after.regionToxicity;
    result.curvesBefore = before.distanceCurves;
    result.curvesAfter = after.distanceCurves;
    return result;
}

void to_json(nlohmann::json& json, const MechanismComparison& c) {
    json = {{"method", c.method},
            {"layer", c.layer},
            {"parameter_shift", c.parameterShift},
            {"activation_shift", c.activationShift},
            {"region_toxicity_before", c.regionToxicityBefore},
            {"region_toxicity_after", c.regionToxicityAfter},
            {"region_toxicity_reduction", c.regionToxicityReduction},
            {"curves_before", c.curvesBefore},
            {"curves_after", c.curvesAfter}};
}

}  // namespace detox
