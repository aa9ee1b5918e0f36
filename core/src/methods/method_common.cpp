#include "methods/method_common.h"

#include <algorithm>
#include <cctype>
#include <regex>

#include "detox/error.h"

namespace detox::nn {

ResponseBatch makeResponseBatch(const std::vector<std::vector<int>>& prompts,
                                const std::vector<std::vector<int>>& responses, int padId, int vocabSize) {
    if (prompts.size() != responses.size()) throw Error("", "batch", "prompts and responses differ in number");
    std::vector<std::vector<int>> sequences;
    for (size_t i = 0; i < prompts.size(); ++i) {
        std::vector<int> sequence = prompts[i];
        sequence.insert(sequence.end(), responses[i].begin(), responses[i].end());
        sequences.push_back(std::move(sequence));
    }
    ResponseBatch batch;
    batch.tokens = padTokens(sequences, false, padId, vocabSize);
    const int64_t length = batch.tokens.ids.size(1);
    batch.targetMask = torch::zeros({static_cast<int64_t>(prompts.size()), std::max<int64_t>(length - 1, 0)});
    auto mask = batch.targetMask.accessor<float, 2>();
    for (size_t i = 0; i < prompts.size(); ++i) {
        // Token t (t >= 1) is predicted at position t - 1.
        const size_t begin = prompts[i].size(), end = begin + responses[i].size();
        for (size_t t = std::max<size_t>(begin, 1); t < end; ++t) mask[static_cast<int64_t>(i)][static_cast<int64_t>(t - 1)] = 1;
    }
    return batch;
}

torch::Tensor nextTokenLogProbs(const Model::Impl& model, const TokenBatch& batch) {
    torch::Tensor logits = model.forwardLogits(batch);
    const int64_t length = logits.size(1);
    torch::Tensor logProbs = torch::log_softmax(logits.narrow(1, 0, length - 1), -1);
    torch::Tensor next = batch.ids.narrow(1, 1, length - 1).to(logProbs.device());
    return logProbs.gather(-1, next.unsqueeze(-1)).squeeze(-1);
}

torch::Tensor responseLogProbSums(const Model::Impl& model, const ResponseBatch& batch) {
    torch::Tensor logProbs = nextTokenLogProbs(model, batch.tokens);
    return (logProbs * batch.targetMask.to(logProbs.device())).sum(1);  // the mask is built on the host
}

bool trimToLength(std::vector<int>& prompt, std::vector<int>& response, int maxLength) {
    if (maxLength <= 0) return !response.empty();
    const size_t limit = static_cast<size_t>(maxLength);
    if (prompt.size() + response.size() > limit) {
        const size_t promptKeep = std::max(limit > response.size() ? limit - response.size() : 0, limit / 2);
        if (prompt.size() > promptKeep) prompt.erase(prompt.begin(), prompt.end() - static_cast<long>(promptKeep));
        if (prompt.size() + response.size() > limit) response.resize(limit - std::min(limit, prompt.size()));
    }
    return !response.empty();
}

SnapshotGuard::SnapshotGuard(Model::Impl& model, const std::vector<std::string>& names)
    : model_(model), snapshot_(model.snapshot(names)), names_(names) {}

SnapshotGuard::~SnapshotGuard() {
    if (!committed_) restoreNow();
}

void SnapshotGuard::restoreNow() {
    try {
        model_.restore(snapshot_);
    } catch (...) {
        // Destructors must not throw; a failed restore would only follow an unknown-name error, which
        // the snapshot itself already rules out.
    }
}

TrainableScope::TrainableScope(Model::Impl& model, const std::vector<std::string>& names)
    : model_(model), names_(names) {
    std::vector<std::string> all = model.parameterNames();
    model.setRequiresGrad(all, false);
    model.setRequiresGrad(names_, true);
}

TrainableScope::~TrainableScope() {
    try {
        model_.setRequiresGrad(names_, false);
        for (const auto& name : names_) {
            torch::Tensor& value = *model_.slot(name).value;
            if (value.grad().defined()) value.mutable_grad() = torch::Tensor();
        }
    } catch (...) {
    }
}

std::vector<torch::Tensor> TrainableScope::tensors() const {
    std::vector<torch::Tensor> result;
    for (const auto& name : names_) result.push_back(*model_.slot(name).value);
    return result;
}

std::vector<std::string> canonicalNames(const std::vector<std::string>& names, const Model::Impl& model) {
    std::vector<std::string> result;
    for (const auto& name : names) result.push_back(model.slot(name).name);
    return result;
}

int layerOfParameter(const Model::Impl& model, const std::string& name) {
    const std::string& prefix = model.spec->layerPrefix;  // "model.layers.{L}."
    const size_t marker = prefix.find("{L}");
    const std::string head = prefix.substr(0, marker);
    if (name.rfind(head, 0) != 0) return -1;
    size_t position = head.size(), end = position;
    while (end < name.size() && std::isdigit(static_cast<unsigned char>(name[end]))) ++end;
    if (end == position) return -1;
    return std::stoi(name.substr(position, end - position));
}

std::vector<double> toDoubleVector(const torch::Tensor& tensor) {
    torch::Tensor values = tensor.detach().to(torch::kFloat64).contiguous().flatten();
    return {values.data_ptr<double>(), values.data_ptr<double>() + values.numel()};
}

int paddingId(const Model::Impl& model) {
    if (model.tokenizer) {
        if (auto pad = model.tokenizer->padId()) return *pad;
        if (auto eos = model.tokenizer->eosId()) return *eos;
    }
    if (model.config.padId) return *model.config.padId;
    if (model.config.eosId) return *model.config.eosId;
    return 0;
}

double secondsSince(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace detox::nn

namespace detox {

void to_json(nlohmann::json& json, const ParameterSelection& selection) {
    json = {{"layers", selection.layers}, {"name_patterns", selection.namePatterns}};
}

std::vector<std::string> selectParameters(const Model& model, const ParameterSelection& selection) {
    const Model::Impl& impl = model.impl();
    for (int layer : selection.layers)
        if (layer < 0 || layer >= impl.config.numLayers)
            throw Error(impl.directory, "parameter selection",
                        "layer " + std::to_string(layer) + " is outside the model's " +
                            std::to_string(impl.config.numLayers) + " layers");
    std::vector<std::regex> patterns;
    for (const auto& pattern : selection.namePatterns) {
        try {
            patterns.emplace_back(pattern, std::regex::ECMAScript);
        } catch (const std::regex_error& error) {
            throw Error("", "parameter pattern '" + pattern + "'", std::string("is not a valid regex: ") + error.what());
        }
    }
    std::vector<std::string> chosen;
    for (const auto& name : impl.parameterNames()) {
        if (!impl.parameter(name).defined()) continue;
        if (!selection.layers.empty()) {
            int layer = nn::layerOfParameter(impl, name);
            if (std::find(selection.layers.begin(), selection.layers.end(), layer) == selection.layers.end()) continue;
        }
        if (!patterns.empty() &&
            std::none_of(patterns.begin(), patterns.end(), [&](const std::regex& p) { return std::regex_search(name, p); }))
            continue;
        chosen.push_back(name);
    }
    if (chosen.empty()) throw Error(impl.directory, "parameter selection", "matches no parameter of this model");
    return chosen;
}

}  // namespace detox
