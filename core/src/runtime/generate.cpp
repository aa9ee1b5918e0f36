// Batched generation: left padding, one prefill, then one token per step through the KV cache.
#include <algorithm>
#include <random>
#include <set>

#include "detox/error.h"
#include "runtime/interventions.h"
#include "runtime/transformer.h"

namespace detox {
using namespace detox::nn;

namespace {

// Picks one token per row from last-position logits [batch, vocab].
class TokenChooser {
public:
    explicit TokenChooser(const GenerationSettings& settings) : settings_(settings), random_(settings.seed) {}

    std::vector<int64_t> choose(const torch::Tensor& logits) {
        if (settings_.temperature <= 0) {
            torch::Tensor best = logits.argmax(-1).contiguous();
            return std::vector<int64_t>(best.data_ptr<int64_t>(), best.data_ptr<int64_t>() + best.numel());
        }
        torch::Tensor probabilities = torch::softmax(logits / settings_.temperature, -1);
        std::vector<int64_t> chosen;
        for (int64_t row = 0; row < probabilities.size(0); ++row) chosen.push_back(sampleRow(probabilities[row]));
        return chosen;
    }

private:
    // Nucleus sampling: the smallest set of most likely tokens whose mass reaches top_p (at least one).
    int64_t sampleRow(const torch::Tensor& probabilities) {
        auto [sorted, order] = probabilities.sort(-1, /*descending=*/true);
        sorted = sorted.contiguous();
        order = order.contiguous();
        const float* p = sorted.data_ptr<float>();
        const int64_t* ids = order.data_ptr<int64_t>();
        const int64_t vocab = sorted.numel();
        int64_t kept = 0;
        double mass = 0;
        while (kept < vocab && (kept == 0 || mass < settings_.topP)) mass += p[kept++];
        double target = std::uniform_real_distribution<double>(0.0, mass)(random_);
        double cumulative = 0;
        for (int64_t i = 0; i < kept; ++i) {
            cumulative += p[i];
            if (target < cumulative) return ids[i];
        }
        return ids[kept - 1];
    }

    const GenerationSettings& settings_;
    std::mt19937_64 random_;
};

}  // namespace

std::vector<Generation> generateTokens(const Model::Impl& model, const std::vector<std::vector<int>>& prompts,
                                       const GenerationSettings& settings, JobControl& job) {
    if (settings.maxNewTokens < 0) throw Error("", "max_new_tokens", "must not be negative");
    if (settings.topP <= 0 || settings.topP > 1) throw Error("", "top_p", "must be in (0, 1]");
    const ModelConfig& config = model.config;
    std::set<int64_t> stops(config.eosIds.begin(), config.eosIds.end());
    stops.insert(settings.stopIds.begin(), settings.stopIds.end());
    const int padId = config.padId.value_or(config.eosId.value_or(0));
    TokenBatch batch = padTokens(prompts, /*leftPadding=*/true, std::clamp(padId, 0, config.vocabSize - 1), config.vocabSize);
    const int64_t batchSize = batch.ids.size(0), promptLength = batch.ids.size(1);
    const int longestPrompt = *std::max_element(batch.lengths.begin(), batch.lengths.end());
    // Context and memory (KV cache + prefill activations) before anything is allocated.
    checkRunFits(config, model.directory, batchSize, std::max<int64_t>(promptLength, longestPrompt), settings.maxNewTokens, false);

    std::vector<Generation> results(static_cast<size_t>(batchSize));
    for (size_t b = 0; b < results.size(); ++b) results[b].promptIds = prompts[b];
    if (settings.maxNewTokens > 0) {
        c10::InferenceMode inference;
        KVCache cache = model.allocateCache(batchSize, promptLength + settings.maxNewTokens);
        TokenChooser chooser(settings);
        torch::Tensor mask = batch.mask;
        torch::Tensor input = batch.ids;
        std::vector<bool> done(static_cast<size_t>(batchSize), false);
        const auto interventions = makeInterventions(model, settings.interventions, batch.lengths);
        CaptureSet writes;  // records nothing; carries the interventions when there are any
        for (int step = 0; step < settings.maxNewTokens; ++step) {
            job.checkpoint();
            AttentionInputs attention = model.attentionInputs(mask, input.size(1));
            if (interventions) writes.interventions = interventions->step(mask, input.size(1));
            torch::Tensor hidden = model.runLayers(model.embed(input, attention.positions), 0, config.numLayers,
                                                   attention, interventions ? &writes : nullptr, &cache);
            torch::Tensor logits = model.logitLens(hidden.select(1, hidden.size(1) - 1));
            std::vector<int64_t> next = chooser.choose(logits.to(torch::kCPU, torch::kFloat32));  // host
            bool allDone = true;
            for (size_t b = 0; b < results.size(); ++b) {
                if (done[b]) continue;
                if (stops.count(next[b])) {
                    done[b] = true;
                    results[b].stoppedAtEos = true;
                    results[b].stopId = static_cast<int>(next[b]);
                } else {
                    results[b].outputIds.push_back(static_cast<int>(next[b]));
                    allDone = false;
                }
            }
            job.report({step + 1, settings.maxNewTokens, "generating", {}});
            if (allDone || step + 1 == settings.maxNewTokens) break;
            // Finished rows keep running on their last token; their outputs are ignored.
            input = torch::tensor(next, torch::kInt64).view({batchSize, 1});
            mask = torch::cat({mask, torch::ones({batchSize, 1}, torch::kInt64)}, 1);
        }
    }
    if (model.tokenizer)
        for (auto& result : results) result.text = model.tokenizer->decode(result.outputIds);
    return results;
}

}  // namespace detox
