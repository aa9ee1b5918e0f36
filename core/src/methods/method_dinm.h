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
        torch::Tensor constraint;  // mean KL(unedited || edited) over the constraint's scored positions
    };
    // With constraintGradient false the constraint is computed without autograd (EasyEdit's behaviour).
    // Inputs with easyEditAlignment score EasyEdit's labels and KL window (see DinmInputs).
    Terms evaluate(bool constraintGradient) const;

private:
    struct Sequence {
        TokenBatch tokens;
        int64_t firstScored = 0;   // first position whose next-token distribution is scored
        int64_t scoredCount = 0;   // = the target (answer) token count
        std::vector<int> labels;   // edit: the label scored at each scored position (negative = left out)
        AttentionInputs attention;
        torch::Tensor residualMid;  // [1, seq, hidden] entering the toxic layer's MLP (cached mode)
        torch::Tensor activation;   // [1, seq, intermediate] the down projection's input (cached mode)
    };
    Sequence prepare(const std::vector<int>& prompt, const std::vector<int>& target, int64_t firstScored) const;
    // Log-softmax over the vocabulary at the sequence's scored positions.
    torch::Tensor scoredLogProbabilities(const Sequence& sequence) const;
    torch::Tensor editNll() const;  // mean NLL of the edit labels

    const Model::Impl& model_;
    int layer_;
    bool cached_;
    Sequence edit_, constraint_;
    torch::Tensor baseConstraintLogProbs_;  // [answer, vocab], unedited model
};

}  // namespace detox::nn
