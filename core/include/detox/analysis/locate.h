// Toxic-layer location (DINM, Wang et al. 2024): for one SafeEdit instance, run the safe and the unsafe
// generation through the model, measure per layer how far apart their hidden states are, and call the
// layer with the largest distance the toxic layer. Located per instance; layers are counted from 0.
#pragma once
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "detox/job.h"
#include "detox/runtime/context_policy.h"
#include "detox/runtime/model.h"
#include "detox/safeedit/safeedit.h"

namespace detox {

// How the distance is measured.
//   Masked       (default) each text runs alone (no padding), tokenized with the tokenizer's default special
//                tokens; per decoder layer the residual stream after the layer (before the final norm) is
//                averaged over the text's tokens, and the distance is the L2 norm of the difference of the means.
//   EasyEdit     EasyEdit's SafetyEditor._locate_toxic_layer as its code of 2024-05..2024-11 ran it for Llama
//                tokenizers: both texts in one RIGHT-padded batch (pad = EOS, position ids 0..n-1 for every
//                slot as HF assigns them), distance = Frobenius norm of the difference of the whole
//                [seq, hidden] matrices, pad positions included; the last layer is taken after the final norm
//                (as HF's output_hidden_states reports it).
//   EasyEditLeft the same with LEFT padding: EasyEdit's release (2024-03) and its current code (the pre-edit
//                evaluation leaves padding_side='left' on the shared tokenizer before locating; GPT-2 was
//                always left-padded). A pad row sees no real key before it: it attends to every key
//                uniformly, as HF's eager attention computes it (all scores at the dtype's lowest value);
//                HF's SDPA kernel on CUDA gives such rows other values (docs/easyedit-deviations.md).
enum class LocateVariant { Masked, EasyEdit, EasyEditLeft };
std::string locateVariantName(LocateVariant variant);               // "masked", "easyedit", "easyedit-left"
std::optional<LocateVariant> locateVariantFromName(const std::string& name);
// Which EasyEdit code a variant reproduces, for results and the GUI ("" for masked).
std::string locateVariantEasyEditVersion(LocateVariant variant);
// "'masked', 'easyedit' or 'easyedit-left'": for error messages.
std::string locateVariantChoices();

struct LocateResult {
    int recordId = 0;
    std::string variant;             // locateVariantName
    std::vector<double> distances;   // one per decoder layer
    int toxicLayer = -1;             // argmax of distances (the first one on ties)
    ContextFit context;              // the two texts, each keeping its last tokens within the context
    std::string padding;             // "none", "right" or "left"
    std::string easyeditVersion;     // the EasyEdit code the variant matches (empty for masked)
};
void to_json(nlohmann::json& json, const LocateResult& result);
void from_json(const nlohmann::json& json, LocateResult& result);

// Per-layer distances between two token sequences (ids include any special tokens wanted).
// `padId` is used by the EasyEdit variants only (EOS in the reference code).
std::vector<double> layerDistances(const Model& model, const std::vector<int>& safeIds,
                                   const std::vector<int>& unsafeIds, LocateVariant variant, int padId);

// Locates one record's toxic layer with the model's tokenizer (throws detox::Error without one). A
// generation longer than the model's context keeps its last tokens (keep-last, recorded in `context`).
LocateResult locateToxicLayer(const Model& model, const SafeEditRecord& record,
                              LocateVariant variant = LocateVariant::Masked);

// Several records; progress per record, cancellable between records.
std::vector<LocateResult> locateToxicLayers(const Model& model, const std::vector<SafeEditRecord>& records,
                                            LocateVariant variant, JobControl& job = noJobControl());

// Index of the largest value (the first on ties); -1 for an empty list.
int argmaxLayer(const std::vector<double>& distances);

}  // namespace detox
