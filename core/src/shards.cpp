// Merge checks for the shards of one run (detox/shards.h).
#include "detox/shards.h"

#include <set>

#include "detox/error.h"

namespace detox {
namespace {

void requireSameField(const ShardPart& first, const ShardPart& other, const std::string& field,
                      const nlohmann::json& expected, const nlohmann::json& found) {
    if (expected == found) return;
    throw Error("", shardName(other.index, other.count) + ": " + field,
                "differs from " + shardName(first.index, first.count) + " (" + expected.dump() + " vs " + found.dump() +
                    "); only shards of the same run can be merged");
}

void requireSameRun(const ShardPart& first, const ShardPart& other) {
    for (size_t i = 0; i < first.identity.size(); ++i)
        requireSameField(first, other, first.identity[i].first, first.identity[i].second,
                         i < other.identity.size() ? other.identity[i].second : nlohmann::json());
    requireSameField(first, other, "shard count", first.count, other.count);
    requireSameField(first, other, "selected cases", first.selected, other.selected);
    if (first.count < 1 || other.index < 1 || other.index > first.count || first.selected < 0)
        throw Error("", shardName(other.index, other.count),
                    "expected shard i/N with 1 <= i <= N and a non-negative case count");
}

}  // namespace

std::string shardName(int index, int count) { return "shard " + std::to_string(index) + "/" + std::to_string(count); }

void checkShardsOfOneRun(const std::vector<ShardPart>& parts) {
    if (parts.empty()) throw Error("", "shards", "nothing to merge");
    const ShardPart& first = parts.front();
    std::set<int> indices, positions;
    for (const ShardPart& part : parts) {
        requireSameRun(first, part);
        if (!indices.insert(part.index).second)
            throw Error("", shardName(part.index, part.count), "given twice; each shard must appear once");
        for (int position : part.positions) {
            const std::string item = shardName(part.index, part.count) + ": case at position " + std::to_string(position);
            if (position < 0 || position >= first.selected || position % first.count != part.index - 1)
                throw Error("", item,
                            "outside this shard (positions p in [0, " + std::to_string(first.selected) + ") with p % " +
                                std::to_string(first.count) + " == " + std::to_string(part.index - 1) + ")");
            if (!positions.insert(position).second)
                throw Error("", item, "also appears in another shard; shards must cover disjoint cases");
        }
    }
    for (int index = 1; index <= first.count; ++index)
        if (!indices.count(index))
            throw Error("", shardName(index, first.count), "missing; every shard of the run is needed");
    if (int(positions.size()) != first.selected)
        throw Error("", "cases", "the shards hold " + std::to_string(positions.size()) + " cases but the run selected " +
                                     std::to_string(first.selected));
}

}  // namespace detox
