// Shards of one run (evaluate, compare, patch, ablate --shard i/N): shard i of N holds the positions p of
// the selected list (before sharding) with p % N == i - 1. The merge checks live here, once.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace detox {

// "shard 2/8"
std::string shardName(int index, int count);

// What a merge checks of one shard: its place, the positions it holds, and the fields that must be equal in
// every shard of one run (model hash, dataset hash, judge, settings, ...), each with its name.
struct ShardPart {
    int index = 1;
    int count = 1;
    int selected = 0;                        // size of the selected list before sharding
    std::vector<int> positions;              // the positions of the items it holds
    std::vector<std::pair<std::string, nlohmann::json>> identity;
};

// Throws detox::Error naming the shard and the field when the parts are not exactly the shards of one run:
// a field that differs, a shard given twice or missing, an item outside its shard or in two shards, or items
// missing. Nothing to merge is an error too.
void checkShardsOfOneRun(const std::vector<ShardPart>& parts);

}  // namespace detox
