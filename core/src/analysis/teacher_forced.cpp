// Teacher-forced scoring of a record's generations (analysis/teacher_forced.h).
#include "analysis/teacher_forced.h"

#include "detox/error.h"
#include "detox/safeedit/evaluation.h"
#include "runtime/interventions.h"

namespace detox::nn {

std::vector<int> joinedTokens(const std::vector<int>& prompt, const std::vector<int>& generation) {
    std::vector<int> ids = prompt;
    ids.insert(ids.end(), generation.begin(), generation.end());
    return ids;
}

std::vector<double> generationLogProbs(const Model::Impl& model, const torch::Tensor& hidden, int promptLength,
                                       const std::vector<int>& safe, const std::vector<int>& unsafe) {
    std::vector<double> sums;
    for (int64_t row = 0; row < hidden.size(0); ++row) {
        const std::vector<int>& generation = row % 2 == 0 ? safe : unsafe;
        const auto count = static_cast<int64_t>(generation.size());
        torch::Tensor logits = model.logitLens(hidden[row].narrow(0, promptLength - 1, count));
        torch::Tensor logProbs = logits.to(torch::kCPU, torch::kFloat64).log_softmax(-1);
        torch::Tensor targets = torch::tensor(std::vector<int64_t>(generation.begin(), generation.end()), torch::kInt64);
        sums.push_back(logProbs.gather(1, targets.unsqueeze(1)).sum().item<double>());
    }
    return sums;
}

PatchingScore teacherForcedScore(const Model::Impl& model, const std::vector<int>& prompt,
                                 const std::vector<int>& safe, const std::vector<int>& unsafe,
                                 const std::vector<Intervention>& interventions) {
    c10::InferenceMode inference;
    const TokenBatch batch =
        padTokens({joinedTokens(prompt, safe), joinedTokens(prompt, unsafe)}, false, 0, model.config.vocabSize);
    const int64_t columns = batch.ids.size(1);
    const int promptLength = static_cast<int>(prompt.size());
    auto writes = makeInterventions(model, interventions, {promptLength, promptLength});
    CaptureSet captures;
    if (writes) captures.interventions = writes->step(batch.mask, columns);
    const AttentionInputs attention = model.attentionInputs(batch.mask, columns);
    const torch::Tensor hidden =
        model.runLayers(model.embed(batch.ids, attention.positions), 0, model.config.numLayers, attention, &captures);
    const auto scores = generationLogProbs(model, hidden, promptLength, safe, unsafe);
    return {scores[0], scores[1]};
}

TeacherForcedPair teacherForcedPair(const Model& model, const std::string& prompt, const std::string& safe,
                                    const std::string& unsafe, ChatTemplate format, ContextFit fit,
                                    const std::string& label) {
    const Tokenizer& tokenizer = model.tokenizer();
    TeacherForcedPair pair;
    pair.prompt = promptIds(tokenizer, prompt, format);
    pair.safe = tokenizer.encode(safe, false);
    pair.unsafe = tokenizer.encode(unsafe, false);
    if (pair.prompt.empty() || pair.safe.empty() || pair.unsafe.empty())
        throw Error("", label, "the prompt or a generation has no tokens");
    pair.fit = std::move(fit);
    std::vector<int>& longer = pair.safe.size() >= pair.unsafe.size() ? pair.safe : pair.unsafe;
    std::vector<int>& shorter = &longer == &pair.safe ? pair.unsafe : pair.safe;
    fitPairToContext(pair.prompt, longer, pair.fit, label);
    const size_t room = static_cast<size_t>(pair.fit.limit) - pair.prompt.size();
    if (shorter.size() > room) shorter.resize(room);
    return pair;
}

}  // namespace detox::nn
