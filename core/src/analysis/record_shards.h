// Shards and files of the per-record causal-analysis results (patching, ablation), internal: both results
// carry shardIndex/shardCount/selectedRecords, records with their selection position, and provenance.
#pragma once
#include <algorithm>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "detox/error.h"
#include "detox/fileio.h"
#include "detox/shards.h"

namespace detox {

// The shards merged (checked as evaluate's merge: model, data, settings and `extraIdentity(shard)` equal,
// every position once), records in selection order. The caller recomputes its summary.
template <typename Result, typename ExtraIdentity>
Result mergeRecordShards(const std::vector<Result>& shards, ExtraIdentity extraIdentity) {
    std::vector<ShardPart> parts;
    for (const Result& shard : shards) {
        ShardPart part{shard.shardIndex, shard.shardCount, shard.selectedRecords, {}, {}};
        for (const auto& record : shard.records) part.positions.push_back(record.position);
        part.identity = {{"model hash", shard.provenance.modelHash},
                         {"dataset hash", shard.provenance.datasetHash},
                         {"settings", shard.provenance.settings}};
        for (auto& field : extraIdentity(shard)) part.identity.push_back(std::move(field));
        parts.push_back(std::move(part));
    }
    checkShardsOfOneRun(parts);
    Result merged = shards.front();
    merged.shardIndex = merged.shardCount = 1;
    merged.records.clear();
    merged.provenance.context.clear();
    for (const Result& shard : shards) {
        merged.records.insert(merged.records.end(), shard.records.begin(), shard.records.end());
        mergeContextFits(merged.provenance.context, shard.provenance.context);
        merged.provenance.startedAt = std::min(merged.provenance.startedAt, shard.provenance.startedAt);
    }
    std::sort(merged.records.begin(), merged.records.end(),
              [](const auto& a, const auto& b) { return a.position < b.position; });
    return merged;
}

template <typename Result>
void saveResultFile(const std::string& path, const Result& result) {
    writeFileAtomically(path, nlohmann::json(result).dump(1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
}

// `what`: "ablation result", ... for the message on a file that is not one.
template <typename Result>
Result loadResultFile(const std::string& path, const std::string& what) {
    try {
        return nlohmann::json::parse(readFile(path)).get<Result>();
    } catch (const Error& e) {
        throw Error(path, "", e.what());
    } catch (const nlohmann::json::exception& e) {
        throw Error(path, "", "not a valid " + what + ": " + e.what());
    }
}

}  // namespace detox
