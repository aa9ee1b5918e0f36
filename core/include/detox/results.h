// Result types shared by the methods (locate, DINM, SFT, DPO) and their JSON form, with provenance.
// Plain data only: the ui and the CLI read these, never the model.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "detox/runtime/context_policy.h"

namespace detox {

// Where a result came from: enough to reproduce it.
struct Provenance {
    std::string appVersion;
    std::string modelDirectory;
    std::string modelHash;       // Model::contentHash() before the method ran
    std::string modelWeights;    // Model::weightsDescription(): weight mode, stored dtype, device
    std::string datasetPath;
    std::string datasetHash;     // SHA-256 of the dataset file
    std::string method;          // "dinm", "sft", "dpo", "locate", ...
    nlohmann::json settings = nlohmann::json::object();
    uint64_t seed = 0;
    std::string startedAt;       // ISO 8601, UTC
    std::vector<ContextFit> context;  // what the context policy did to the inputs (JSON "context")
};
void to_json(nlohmann::json& json, const Provenance& provenance);
void from_json(const nlohmann::json& json, Provenance& provenance);

// The current time as ISO 8601 UTC ("2024-05-01T12:00:00Z").
std::string utcTimestamp();

// One optimizer step's losses. SFT and DPO report their loss as both total and edit; constraint is 0.
struct LossRecord {
    int step = 0;
    double total = 0;
    double edit = 0;
    double constraint = 0;
};
void to_json(nlohmann::json& json, const LossRecord& record);
void from_json(const nlohmann::json& json, LossRecord& record);

// What every parameter-changing method returns.
struct EditResult {
    std::string method;                       // "dinm", "sft", "dpo"
    nlohmann::json settings = nlohmann::json::object();
    Provenance provenance;
    int toxicLayer = -1;                      // DINM: the edited layer; -1 for methods without one
    std::vector<LossRecord> lossHistory;      // one entry per optimizer step
    double durationSeconds = 0;
    std::vector<std::string> changedTensors;  // HF names of the parameters the method changed
    // A cancelled job throws detox::Cancelled after restoring the model, so returned results carry
    // false; the flag exists for stored run records that note a cancellation.
    bool cancelled = false;
};
void to_json(nlohmann::json& json, const EditResult& result);
void from_json(const nlohmann::json& json, EditResult& result);

}  // namespace detox
