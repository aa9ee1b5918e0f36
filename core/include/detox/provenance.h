// The one builder of a result's provenance (results.h Provenance): which app version ran which method
// with which settings and seed, on which model (directory, content hash, weights) and data (path,
// SHA-256), starting when. Evaluations, comparisons and every method build theirs here.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "detox/results.h"

namespace detox {

class Model;
struct SafeEditDataset;

// The model's state is read now: call it before the method changes the weights.
Provenance makeProvenance(const Model& model, const std::string& method, const nlohmann::json& settings, uint64_t seed);
Provenance makeProvenance(const Model& model, const SafeEditDataset& dataset, const std::string& method,
                          const nlohmann::json& settings, uint64_t seed);

// Notes the data a result was computed on (path and SHA-256).
void setProvenanceDataset(Provenance& provenance, const SafeEditDataset& dataset);

}  // namespace detox
