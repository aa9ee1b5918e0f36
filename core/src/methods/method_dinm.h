// DINM's objective on the internal API (exposed for tests and the benchmark).
#pragma once
#include "methods/method_common.h"

namespace detox::nn {

// The two loss terms of DINM for the model's current value of the toxic layer's down projection.
// Built once per edit: it records the unedited model's next-token distribution over the constraint
// answer and, with cacheLowerLayers, the toxic layer's MLP activation and the residual stream it is
// added to (nothing below the edited matrix changes during the edit).
class DinmObjective {
public:
    DinmObjective(const Model::Impl& model, const DinmInputs& inputs, int layer, bool cacheLowerLayers);

    struct Terms {
        torch::Tensor edit;        // mean NLL of the edit target tokens
        torch::Tensor constraint;  // mean KL(unedited || edited) over the constraint answer positions
    };
    // With constraintGradient false the constraint is computed without autograd (EasyEdit's behaviour).
    Terms evaluate(bool constraintGradient) const;

private:
    struct Sequence {
        TokenBatch tokens;
        int64_t firstTarget = 0;   // index of the first target token in the sequence
        int64_t targetCount = 0;
        AttentionInputs attention;
        torch::Tensor residualMid;  // [1, seq, hidden] entering the toxic layer's MLP (cached mode)
        torch::Tensor activation;   // [1, seq, intermediate] the down projection's input (cached mode)
    };
    Sequence prepare(const std::vector<int>& prompt, const std::vector<int>& target) const;
    // Log-softmax over the vocabulary at the positions that predict the sequence's target tokens.
    torch::Tensor targetLogProbabilities(const Sequence& sequence) const;

    const Model::Impl& model_;
    int layer_;
    bool cached_;
    Sequence edit_, constraint_;
    torch::Tensor baseConstraintLogProbs_;  // [answer, vocab], unedited model
};

}  // namespace detox::nn
