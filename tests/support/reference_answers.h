// Reference answers for tests: greedy generations by Model::generate directly, on prompts formatted as the
// SafeEdit evaluation formats them (promptIds in `format`, the template's stop ids), in one batch.
#pragma once
#include <string>
#include <vector>

#include "detox/runtime/model.h"
#include "detox/safeedit/evaluation.h"

namespace detox::test {

inline std::vector<std::string> chatFormattedAnswers(const Model& model, const std::vector<std::string>& inputs,
                                                     ChatTemplate format, int maxNewTokens) {
    std::vector<std::vector<int>> prompts;
    for (const std::string& input : inputs) prompts.push_back(promptIds(model.tokenizer(), input, format));
    GenerationSettings settings;
    settings.maxNewTokens = maxNewTokens;
    settings.stopIds = templateStopIds(model.tokenizer(), format);
    std::vector<std::string> texts;
    for (const Generation& generation : model.generate(prompts, settings)) texts.push_back(generation.text);
    return texts;
}

}  // namespace detox::test
