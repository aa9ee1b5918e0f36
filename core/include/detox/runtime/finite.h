// Non-finite weights (NaN or +-Inf): found, named, and refused where they would spread (save, edits).
#pragma once
#include <string>
#include <vector>

#include "detox/runtime/model.h"

namespace detox {

// HF names of the parameters holding any NaN or infinite value (stored layout, edits included).
std::vector<std::string> nonFiniteParameters(const Model& model);

// Throws detox::Error(file, "tensor 'NAME'", ...) naming up to five such tensors when there are any;
// `what` says what was refused ("saving", "editing").
void requireFiniteParameters(const Model& model, const std::string& file, const std::string& what);

// The warning a load gives (LoadOptions::onWarning) when tensors hold NaN or infinite values: names up to
// five of them and says what will be refused.
std::string nonFiniteWeightsWarning(const std::string& directory, const std::vector<std::string>& names);

// Refuses to edit a model whose weights were not finite when it was loaded, unless the load allowed it
// (LoadOptions::allowNonFiniteWeights, the CLI's --allow-non-finite-weights). Cheap: uses the load's scan.
void requireEditableWeights(const Model& model);

}  // namespace detox
