#include "detox/runtime/finite.h"

#include "detox/error.h"
#include "runtime/transformer.h"

namespace detox {

std::vector<std::string> nonFiniteParameters(const Model& model) {
    c10::InferenceMode inference;
    std::vector<std::string> names;
    for (const auto& [name, slot] : model.impl().parameters)
        if (slot.value->defined() && !torch::isfinite(*slot.value).all().item<bool>()) names.push_back(name);
    return names;
}

void requireFiniteParameters(const Model& model, const std::string& file, const std::string& what) {
    const std::vector<std::string> names = nonFiniteParameters(model);
    if (names.empty()) return;
    std::string listed;
    for (size_t i = 0; i < names.size() && i < 5; ++i) listed += (i ? ", " : "") + names[i];
    if (names.size() > 5) listed += " and " + std::to_string(names.size() - 5) + " more";
    throw Error(file, "tensor '" + names.front() + "'",
                "holds NaN or infinite values (" + std::to_string(names.size()) + " tensor(s): " + listed +
                    "); refusing " + what + " a model whose weights are not finite");
}

}  // namespace detox
