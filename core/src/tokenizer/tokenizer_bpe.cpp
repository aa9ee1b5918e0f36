// The BPE model: a word -> vocabulary ids, merging the lowest-ranked adjacent pair first.
#include <cstdio>
#include <queue>

#include "tokenizer/tokenizer_internal.h"

namespace detox::tok {
namespace {

const size_t kCacheLimit = 100000;    // words; the cache is dropped when full
const size_t kCacheableLength = 256;  // bytes; longer words (whole sentences without pre-tokenizer) are not cached

// One merge candidate in the heap: the pair starting at symbol `position`.
struct Candidate {
    int rank;
    int position;
    int newId;
    bool operator>(const Candidate& other) const {
        return rank != other.rank ? rank > other.rank : position > other.position;
    }
};

std::pair<std::string, std::string> mergePair(const Json& merge, const JsonPlace& place) {
    if (merge.is_string()) {
        const std::string text = merge.get<std::string>();
        size_t space = text.find(' ');
        if (space != std::string::npos && space > 0 && space + 1 < text.size() && text.find(' ', space + 1) == std::string::npos)
            return {text.substr(0, space), text.substr(space + 1)};
    } else if (merge.is_array() && merge.size() == 2 && merge[0].is_string() && merge[1].is_string()) {
        return {merge[0].get<std::string>(), merge[1].get<std::string>()};
    }
    place.fail("expected a merge \"A B\" or [\"A\", \"B\"], found " + merge.dump());
}

}  // namespace

BpeModel::BpeModel(const Json& spec, const JsonPlace& place) {
    if (!spec.is_object()) place.fail("expected a JSON object");
    if (spec.contains("type") && !spec["type"].is_null()) {
        std::string type = requireString(spec, place, "type");
        if (type != "BPE") place.at("type").fail("unsupported model \"" + type + "\" (supported: BPE)");
    } else if (!spec.contains("merges")) {
        place.fail("expected a BPE model (a \"type\" or \"vocab\" and \"merges\")");
    }
    const Json& vocab = requireField(spec, place, "vocab");
    if (!vocab.is_object()) place.at("vocab").fail("expected an object of token -> id, found " + std::string(vocab.type_name()));
    vocab_.reserve(vocab.size());
    for (const auto& [token, id] : vocab.items()) {
        if (!id.is_number_integer() || (id.is_number_unsigned() ? id.get<uint64_t>() >= uint64_t(INT32_MAX)
                                                                 : id.get<int64_t>() < 0 || id.get<int64_t>() >= INT32_MAX))
            place.at("vocab").at(token).fail("expected a token id in [0, 2^31 - 1), got " + id.dump());
        vocab_.emplace(token, id.get<int>());
    }

    continuingSubwordPrefix_ = stringOr(spec, place, "continuing_subword_prefix", "");
    endOfWordSuffix_ = stringOr(spec, place, "end_of_word_suffix", "");
    const Json& merges = requireField(spec, place, "merges");
    if (!merges.is_array()) place.at("merges").fail("expected an array of merges");
    merges_.reserve(merges.size());
    // With a continuing-subword prefix ("##"), "a ##b" merges to "a" + "b".
    auto withoutPrefix = [&](const std::string& token) {
        bool prefixed = !continuingSubwordPrefix_.empty() && token.rfind(continuingSubwordPrefix_, 0) == 0;
        return prefixed ? token.substr(continuingSubwordPrefix_.size()) : token;
    };
    for (size_t i = 0; i < merges.size(); ++i) {
        JsonPlace where = place.at("merges").at(i);
        auto [left, right] = mergePair(merges[i], where);
        auto leftId = vocab_.find(left), rightId = vocab_.find(right), merged = vocab_.find(left + withoutPrefix(right));
        if (leftId == vocab_.end()) where.fail("token \"" + left + "\" is not in model.vocab");
        if (rightId == vocab_.end()) where.fail("token \"" + right + "\" is not in model.vocab");
        // A merge whose result is not in the vocabulary can never produce an id; skip it rather than
        // refuse the file (the GPT-2 fixture has one: "ĠCla ude", its vocabulary entry renamed).
        if (merged == vocab_.end()) continue;
        merges_.emplace(pairKey(leftId->second, rightId->second), Merge{int(i), merged->second});
    }

    std::string unk = stringOr(spec, place, "unk_token", "");
    if (!unk.empty()) {
        auto it = vocab_.find(unk);
        if (it == vocab_.end()) place.at("unk_token").fail("token \"" + unk + "\" is not in model.vocab");
        unkId_ = it->second;
    }
    byteFallback_ = boolOr(spec, place, "byte_fallback", false);
    fuseUnk_ = boolOr(spec, place, "fuse_unk", false);
    ignoreMerges_ = boolOr(spec, place, "ignore_merges", false);
    byteTokenIds_.fill(-1);
    if (byteFallback_) {
        for (int b = 0; b < 256; ++b) {
            char name[8];
            std::snprintf(name, sizeof(name), "<0x%02X>", b);
            if (auto it = vocab_.find(name); it != vocab_.end()) byteTokenIds_[b] = it->second;
        }
    }
}

// The byte tokens of a symbol, when byte_fallback is on and every one of its bytes has a token.
bool BpeModel::byteTokens(const std::string& symbol, std::vector<int>& ids) const {
    if (!byteFallback_) return false;
    for (unsigned char byte : symbol)
        if (byteTokenIds_[byte] < 0) return false;
    for (unsigned char byte : symbol) ids.push_back(byteTokenIds_[byte]);
    return true;
}

void BpeModel::initialSymbols(const std::string& word, std::vector<int>& symbols) const {
    std::vector<std::string> characters = utf8Characters(word);
    // An unk waits until a vocabulary symbol or the end (as in HF); fuse_unk: consecutive ones become one.
    bool pendingUnk = false;
    auto flushUnk = [&] {
        if (pendingUnk) symbols.push_back(*unkId_);
        pendingUnk = false;
    };
    for (size_t i = 0; i < characters.size(); ++i) {
        std::string symbol = characters[i];
        if (i > 0) symbol.insert(0, continuingSubwordPrefix_);
        if (i + 1 == characters.size()) symbol += endOfWordSuffix_;
        if (auto it = vocab_.find(symbol); it != vocab_.end()) {
            flushUnk();
            symbols.push_back(it->second);
            continue;
        }
        // As HF tokenizers (models/bpe/model.rs, merge_word): the bytes of the symbol with its affixes,
        // and a pending unk is not flushed first (it follows the byte tokens).
        if (byteTokens(symbol, symbols)) continue;
        if (!unkId_) continue;  // HF drops characters it cannot represent when there is no unk token
        if (!fuseUnk_) flushUnk();  // the previous unk; this one stays pending (fuse_unk: they merge)
        pendingUnk = true;
    }
    flushUnk();
}

void BpeModel::applyMerges(std::vector<int>& symbols) const {
    const int count = int(symbols.size());
    if (count < 2) return;
    std::vector<int> next(count), previous(count);
    std::vector<bool> alive(count, true);
    for (int i = 0; i < count; ++i) {
        next[i] = i + 1 < count ? i + 1 : -1;
        previous[i] = i - 1;
    }
    std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> heap;
    auto consider = [&](int position) {
        if (position < 0 || next[position] < 0) return;
        auto it = merges_.find(pairKey(symbols[position], symbols[next[position]]));
        if (it != merges_.end()) heap.push({it->second.rank, position, it->second.newId});
    };
    for (int i = 0; i + 1 < count; ++i) consider(i);
    while (!heap.empty()) {
        Candidate top = heap.top();
        heap.pop();
        // Skip stale candidates: a side was merged away or the pair changed since it was queued.
        if (!alive[top.position] || next[top.position] < 0) continue;
        int right = next[top.position];
        auto it = merges_.find(pairKey(symbols[top.position], symbols[right]));
        if (it == merges_.end() || it->second.newId != top.newId || it->second.rank != top.rank) continue;
        symbols[top.position] = top.newId;
        alive[right] = false;
        next[top.position] = next[right];
        if (next[right] >= 0) previous[next[right]] = top.position;
        consider(previous[top.position]);
        consider(top.position);
    }
    std::vector<int> merged;
    for (int i = 0; i >= 0; i = next[i]) merged.push_back(symbols[i]);
    symbols = std::move(merged);
}

void BpeModel::tokenize(const std::string& word, std::vector<int>& out) const {
    if (word.empty()) return;
    if (ignoreMerges_) {
        if (auto it = vocab_.find(word); it != vocab_.end()) {
            out.push_back(it->second);
            return;
        }
    }
    const bool cacheable = word.size() <= kCacheableLength;
    if (cacheable) {
        std::lock_guard lock(cacheMutex_);
        if (auto it = cache_.find(word); it != cache_.end()) {
            out.insert(out.end(), it->second.begin(), it->second.end());
            return;
        }
    }
    std::vector<int> symbols;
    initialSymbols(word, symbols);
    applyMerges(symbols);
    out.insert(out.end(), symbols.begin(), symbols.end());
    if (cacheable) {
        std::lock_guard lock(cacheMutex_);
        if (cache_.size() >= kCacheLimit) cache_.clear();
        cache_.emplace(word, std::move(symbols));
    }
}

}  // namespace detox::tok
