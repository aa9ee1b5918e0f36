#include "detox/provenance.h"

#include "detox/runtime/model.h"
#include "detox/safeedit/safeedit.h"
#include "detox/version.h"

namespace detox {

Provenance makeProvenance(const Model& model, const std::string& method, const nlohmann::json& settings, uint64_t seed) {
    Provenance provenance;
    provenance.appVersion = appVersion();
    provenance.modelDirectory = model.directory();
    provenance.modelHash = model.contentHash();
    provenance.modelWeights = model.weightsDescription();
    provenance.method = method;
    provenance.settings = settings;
    provenance.seed = seed;
    provenance.startedAt = utcTimestamp();
    return provenance;
}

Provenance makeProvenance(const Model& model, const SafeEditDataset& dataset, const std::string& method,
                          const nlohmann::json& settings, uint64_t seed) {
    Provenance provenance = makeProvenance(model, method, settings, seed);
    setProvenanceDataset(provenance, dataset);
    return provenance;
}

void setProvenanceDataset(Provenance& provenance, const SafeEditDataset& dataset) {
    provenance.datasetPath = dataset.path;
    provenance.datasetHash = dataset.sha256;
}

}  // namespace detox
