// RobertaForSequenceClassification (HF modeling_roberta) for inference: the SafeEdit safety classifier.
// Internal (torch types). All compute is float32; F16/BF16 weights are converted at load.
#pragma once
#include <string>
#include <vector>

#include "detox/job.h"
#include "torch_pch.h"

namespace detox::nn {

struct RobertaConfig {
    int vocabSize = 0;
    int hiddenSize = 0;
    int numLayers = 0;
    int numHeads = 0;
    int intermediateSize = 0;
    int maxPositions = 0;       // max_position_embeddings (514 for RoBERTa: 512 tokens + padding_idx + 1)
    int typeVocabSize = 2;      // token_type_embeddings rows (only row 0 is used)
    int padId = 1;              // pad_token_id, also the position table's padding_idx
    double layerNormEps = 1e-12;
    int numLabels = 2;

    // Longest input (special tokens included) the position table allows: positions run up to
    // padId + length, which must stay below maxPositions.
    int maxTokens() const { return maxPositions - padId - 1; }
};

// Reads DIR/config.json; throws detox::Error(file, key, ...) unless it describes a
// RobertaForSequenceClassification with "gelu" activation and absolute positions.
RobertaConfig readRobertaConfig(const std::string& configPath);

struct RobertaLayerWeights {
    torch::Tensor queryWeight, queryBias, keyWeight, keyBias, valueWeight, valueBias;
    torch::Tensor attentionOutWeight, attentionOutBias, attentionNormWeight, attentionNormBias;
    torch::Tensor intermediateWeight, intermediateBias;
    torch::Tensor outputWeight, outputBias, outputNormWeight, outputNormBias;
};

struct RobertaWeights {
    torch::Tensor wordEmbeddings, positionEmbeddings, tokenTypeEmbeddings;
    torch::Tensor embeddingNormWeight, embeddingNormBias;
    std::vector<RobertaLayerWeights> layers;
    torch::Tensor headDenseWeight, headDenseBias, headOutWeight, headOutBias;
};

class RobertaClassifier {
public:
    // Reads config.json and the safetensors weights of a checkpoint directory (tokenizer not included).
    // Reports one progress step per layer and checks for cancellation; throws detox::Error naming the
    // file and tensor.
    static RobertaClassifier load(const std::string& directory, JobControl& job = noJobControl());

    RobertaClassifier(RobertaConfig config, RobertaWeights weights)
        : config_(config), weights_(std::move(weights)) {}

    const RobertaConfig& config() const { return config_; }

    // inputIds [batch, seq] int64, right-padded with config().padId; attentionMask [batch, seq] (1 real,
    // 0 padding). Returns logits [batch, numLabels]. Runs under inference mode.
    torch::Tensor logits(const torch::Tensor& inputIds, const torch::Tensor& attentionMask) const;

    // HF's create_position_ids_from_input_ids: non-padding tokens get padId+1, padId+2, ...; padding
    // tokens get padId.
    static torch::Tensor positionIds(const torch::Tensor& inputIds, int64_t padId);

private:
    torch::Tensor embed(const torch::Tensor& inputIds) const;
    torch::Tensor encoderLayer(const RobertaLayerWeights& layer, const torch::Tensor& hidden,
                               const torch::Tensor& maskBias) const;
    torch::Tensor selfAttention(const RobertaLayerWeights& layer, const torch::Tensor& hidden,
                                const torch::Tensor& maskBias) const;

    RobertaConfig config_;
    RobertaWeights weights_;
};

}  // namespace detox::nn
