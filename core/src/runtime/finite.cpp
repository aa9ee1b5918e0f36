#include "detox/runtime/finite.h"

#include "detox/error.h"
#include "runtime/finite_scan.h"
#include "runtime/transformer.h"

namespace detox {
namespace {

// "a, b, c, d, e and 3 more"
std::string listNames(const std::vector<std::string>& names) {
    std::string listed;
    for (size_t i = 0; i < names.size() && i < 5; ++i) listed += (i ? ", " : "") + names[i];
    if (names.size() > 5) listed += " and " + std::to_string(names.size() - 5) + " more";
    return listed;
}

}  // namespace

std::vector<std::string> nonFiniteParameters(const Model& model) {
    c10::InferenceMode inference;
    std::vector<std::string> names;
    for (const auto& [name, slot] : model.impl().parameters)
        if (!nn::allFinite(*slot.value)) names.push_back(name);
    return names;
}

void requireFiniteParameters(const Model& model, const std::string& file, const std::string& what) {
    const std::vector<std::string> names = nonFiniteParameters(model);
    if (names.empty()) return;
    throw Error(file, "tensor '" + names.front() + "'",
                "holds NaN or infinite values (" + std::to_string(names.size()) + " tensor(s): " + listNames(names) +
                    "); refusing " + what + " a model whose weights are not finite");
}

std::string nonFiniteWeightsWarning(const std::string& directory, const std::vector<std::string>& names) {
    return "warning: " + directory + ": " + std::to_string(names.size()) +
           " tensor(s) hold NaN or infinite values: " + listNames(names) +
           "; outputs will not be meaningful, and editing or saving this model is refused unless allowed "
           "(--allow-non-finite-weights)";
}

void requireEditableWeights(const Model& model) {
    const std::vector<std::string>& names = model.nonFiniteWeightsAtLoad();
    if (names.empty() || model.nonFiniteWeightsAllowed()) return;
    throw Error(model.directory(), "tensor '" + names.front() + "'",
                "held NaN or infinite values when loaded (" + std::to_string(names.size()) + " tensor(s): " +
                    listNames(names) + "); refusing to edit it (load with --allow-non-finite-weights to edit anyway)");
}

}  // namespace detox
