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

}  // namespace detox
