// Mechanism analysis: how a method changed the model inside. Parameter shift per layer and module,
// the toxic region's activations, a toxic probe and the region's alignment with it, and the per-layer
// safe-vs-unsafe distance curves before and after. Plain, JSON-serialisable results.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "detox/job.h"
#include "detox/analysis/locate.h"
#include "detox/runtime/context_policy.h"
#include "detox/runtime/model.h"
#include "detox/safeedit/safeedit.h"

namespace detox {

class ModelEditor;

// ||W_after - W_before||_F / ||W_before||_F for each layer (rows) and module (columns).
// Modules: Llama family q, k, v, o, gate, up, down; GPT-2 c_attn, attn.c_proj, c_fc, mlp.c_proj.
struct ParameterShiftMatrix {
    std::vector<int> layers;
    std::vector<std::string> modules;              // column labels
    std::vector<std::vector<std::string>> tensors; // [layer][module] HF name
    std::vector<std::vector<double>> relative;     // [layer][module]
};
void to_json(nlohmann::json& json, const ParameterShiftMatrix& shift);
// Module labels and the HF name of each (layer, module) weight.
std::vector<std::string> layerModuleLabels(const Model& model);
// Two models of the same shape (e.g. a checkpoint and its edited save).
ParameterShiftMatrix parameterShift(const Model& before, const Model& after);
// The editor's model against the originals it keeps (untouched tensors have shift 0).
ParameterShiftMatrix parameterShift(const ModelEditor& editor);

// Mean activation of the toxic region (the input of the toxic layer's second MLP matrix, mlp_act): each
// input is averaged over its tokens, then the inputs are averaged (each counts once).
struct ActivationMeans {
    int layer = -1;
    int inputs = 0;
    std::vector<double> mean;  // [intermediate]
    ContextFit context;        // inputs longer than the context keep their last tokens (keep-last)
};
void to_json(nlohmann::json& json, const ActivationMeans& means);
ActivationMeans toxicRegionActivations(const Model& model, int layer, const std::vector<std::vector<int>>& inputs,
                                       JobControl& job = noJobControl());

struct ActivationShift {
    int layer = -1;
    std::vector<double> meanBefore, meanAfter;
    double normBefore = 0, normAfter = 0;
    double relativeNormChange = 0;     // (|after| - |before|) / |before|
    std::vector<int> topNeurons;       // by |after - before|, largest first
    std::vector<double> topChanges;    // after - before of those neurons
};
void to_json(nlohmann::json& json, const ActivationShift& shift);
ActivationShift activationShift(const ActivationMeans& before, const ActivationMeans& after, int topK = 20);

// L2-regularised logistic regression: label 1 = unsafe. Features are standardised with the training
// split's mean and spread while fitting; weights/bias are reported in the original feature space.
struct ProbeSettings {
    double l2 = 1e-2;
    double heldOutFraction = 0.3;
    int iterations = 300;
    double learningRate = 0.05;        // Adam
    uint64_t seed = 0;                 // train/held-out split
};
struct ToxicProbe {
    std::vector<double> weights;       // the probe direction (unsafe-pointing), feature space
    double bias = 0;
    double trainAccuracy = 0;
    double heldOutAccuracy = 0;
    int trainCount = 0;
    int heldOutCount = 0;
};
void to_json(nlohmann::json& json, const ToxicProbe& probe);
ToxicProbe trainLogisticProbe(const std::vector<std::vector<double>>& features, const std::vector<int>& labels,
                              const ProbeSettings& settings = {});
// Last layer's residual stream (before the final norm), mean over tokens, per sequence.
std::vector<std::vector<double>> meanLastHiddenStates(const Model& model, const std::vector<std::vector<int>>& sequences,
                                                      JobControl& job = noJobControl());
// Probe on safe (0) vs unsafe (1) generations of the records, with the model's tokenizer.
ToxicProbe trainToxicProbe(const Model& model, const std::vector<SafeEditRecord>& records,
                           const ProbeSettings& settings = {}, JobControl& job = noJobControl());

// Mean cosine similarity between the columns of `matrix` ([rows, columns], each column rows-sized) and
// `direction` (rows-sized). Zero columns count as 0.
double meanColumnCosine(const FloatTensor& matrix, const std::vector<double>& direction);
// The region's toxicity: mean cosine between the toxic layer's down projection columns (the vectors each
// neuron writes into the residual stream, [hidden, intermediate]) and the probe direction.
double regionToxicity(const Model& model, int layer, const ToxicProbe& probe);

// Everything measured on one model state, to compare before and after a method.
struct MechanismMeasurements {
    int layer = -1;
    ActivationMeans activations;             // over the records' adversarial prompts
    double regionToxicity = 0;
    std::vector<LocateResult> distanceCurves;  // per record
};
void to_json(nlohmann::json& json, const MechanismMeasurements& measurements);
MechanismMeasurements measureMechanism(const Model& model, const std::vector<SafeEditRecord>& records, int layer,
                                       const ToxicProbe& probe, LocateVariant variant = LocateVariant::Masked,
                                       JobControl& job = noJobControl());

struct MechanismComparison {
    std::string method;
    int layer = -1;
    ParameterShiftMatrix parameterShift;
    ActivationShift activationShift;
    double regionToxicityBefore = 0, regionToxicityAfter = 0;
    double regionToxicityReduction = 0;            // before - after
    std::vector<LocateResult> curvesBefore, curvesAfter;
};
void to_json(nlohmann::json& json, const MechanismComparison& comparison);
MechanismComparison compareMechanism(const std::string& method, const MechanismMeasurements& before,
                                     const MechanismMeasurements& after, ParameterShiftMatrix shift, int topK = 20);

}  // namespace detox
