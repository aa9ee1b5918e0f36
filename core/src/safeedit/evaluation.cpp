// SafeEdit evaluation runs (see detox/evaluation.h). Uses only the public Model API: generation for the
// responses, forward logits for the teacher-forced knowledge scores and the perplexity.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <set>

#include "detox/error.h"
#include "detox/safeedit/evaluation.h"
#include "detox/fileio.h"
#include "detox/provenance.h"

namespace detox {
namespace {

// A JobControl for a sub-step (generation, judging) whose own progress stays quiet, while a cancellation
// of the parent reaches it at the sub-step's next progress report.
class SubJob {
public:
    explicit SubJob(const JobControl& parent)
        : control_([this, &parent](const Progress&) {
              if (parent.cancelRequested()) control_.requestCancel();
          }) {
        if (parent.cancelRequested()) control_.requestCancel();
    }
    JobControl& control() { return control_; }

private:
    JobControl control_;
};

// log-softmax of one row of logits, in double for the sums.
void logSoftmax(const float* logits, size_t vocab, std::vector<float>& out) {
    out.resize(vocab);
    float largest = *std::max_element(logits, logits + vocab);
    double sum = 0;
    for (size_t v = 0; v < vocab; ++v) sum += std::exp(double(logits[v]) - largest);
    const double logSum = largest + std::log(sum);
    for (size_t v = 0; v < vocab; ++v) out[v] = float(double(logits[v]) - logSum);
}

int64_t argmax(const float* row, size_t vocab) { return std::max_element(row, row + vocab) - row; }

// Prompt + answer ids for teacher forcing, and where the answer starts; empty when either has no tokens.
// With a fit, the pair is fitted into the model's context (the prompt loses its first tokens first).
struct KnowledgeSequence {
    std::vector<int> ids;
    size_t answerStart = 0;
};
KnowledgeSequence knowledgeSequence(const Tokenizer& tokenizer, const KnowledgeConstraint& knowledge, ChatTemplate format,
                                    ContextFit* fit = nullptr, const std::string& label = "knowledge") {
    if (knowledge.answer.empty()) return {};
    std::vector<int> prompt = promptIds(tokenizer, knowledge.prompt, format);
    std::vector<int> answer = tokenizer.encode(knowledge.answer, false);
    if (prompt.empty() || answer.empty()) return {};
    if (fit) fitPairToContext(prompt, answer, *fit, label);
    if (answer.empty()) return {};
    KnowledgeSequence sequence{std::move(prompt), 0};
    sequence.answerStart = sequence.ids.size();
    sequence.ids.insert(sequence.ids.end(), answer.begin(), answer.end());
    return sequence;
}

// The knowledge pairs' fit: prompt + answer within the whole context (scored teacher-forced, nothing generated).
ContextFit knowledgeFit(const Model& model) {
    return ContextFit("knowledge prompt+answer pairs", ContextPolicy::KeepLast, contextLimit(model.config(), 0, model.directory()));
}

// The prompts' fit before `maxNewTokens` are generated: at most maxInputTokens (0 = all that fit), never
// more than the context minus the new tokens. Throws detox::Error for an explicit limit above that.
ContextFit promptFit(const Model& model, const std::string& operation, int maxNewTokens, int maxInputTokens) {
    const int fit = contextLimit(model.config(), maxNewTokens, model.directory());
    if (maxInputTokens > fit)
        throw Error(model.directory(), "max_input_tokens",
                    std::to_string(maxInputTokens) + " input tokens + " + std::to_string(maxNewTokens) +
                        " new tokens exceed the model's context of " + std::to_string(model.config().maxPositions) +
                        " positions; at most " + std::to_string(fit) + " input tokens fit");
    return ContextFit(operation, ContextPolicy::KeepLast, maxInputTokens > 0 ? maxInputTokens : fit);
}

// Argmax of the logits before each answer position against the answer token (batch row b).
double answerAccuracy(const ForwardOutput& output, size_t b, const KnowledgeSequence& sequence) {
    const size_t seq = size_t(output.logits.shape[1]), vocab = size_t(output.logits.shape[2]);
    std::vector<int64_t> predicted, expected;
    for (size_t position = sequence.answerStart; position < sequence.ids.size(); ++position) {
        predicted.push_back(argmax(&output.logits.values[(b * seq + position - 1) * vocab], vocab));
        expected.push_back(sequence.ids[position]);
    }
    return tokenAccuracy(predicted, expected);
}

uint64_t mixSeed(uint64_t seed, uint64_t a, uint64_t b) {
    // splitmix64 steps: a chunk's sampling seed depends on the run's seed and the chunk's first prompt,
    // so a case samples the same way whatever else ran before it.
    uint64_t x = seed ^ (a * 0x9E3779B97F4A7C15ull) ^ (b * 0xBF58476D1CE4E5B9ull);
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

struct PromptJob {
    size_t caseSlot;                  // index into this batch's cases
    std::string key;                  // DS, DG_onlyQ, ...
    std::vector<int> ids;
};

class Evaluator {
public:
    Evaluator(const Model& model, SafetyJudge& judge, const EvaluationSettings& settings, JobControl& job,
              const Model* reference)
        : model_(model), tokenizer_(model.tokenizer()), judge_(judge), settings_(settings), job_(job),
          reference_(reference) {
        format_ = settings.chatTemplate.value_or(tokenizer_.detectedChatTemplate());
        stopIds_ = templateStopIds(tokenizer_, format_);
        promptFit_ = promptFit(model, "evaluation prompts", settings.maxNewTokens, settings.maxInputTokens);
        knowledgeFit_ = knowledgeFit(model);
        if (settings.perplexityWindow > model.config().maxPositions && !settings.generalTextPath.empty())
            throw Error(model.directory(), "perplexity_window",
                        std::to_string(settings.perplexityWindow) + " tokens are longer than the model's context of " +
                            std::to_string(model.config().maxPositions) + " positions");
    }

    // What the context policy did, per kind of input (those that saw any input).
    std::vector<ContextFit> contextFits() const {
        std::vector<ContextFit> fits;
        for (const ContextFit* fit : {&promptFit_, &knowledgeFit_, &qaFit_, &summaryFit_})
            if (fit->inputs > 0) fits.push_back(*fit);
        return fits;
    }

    ChatTemplate format() const { return format_; }

    std::vector<EvaluationCase> runCases(const SafeEditDataset& dataset, const CaseSelection& selection) {
        std::vector<EvaluationCase> cases;
        const int total = int(selection.shardPositions.size());
        const size_t batch = size_t(std::max(1, settings_.batchSize));
        auto started = std::chrono::steady_clock::now();
        job_.report({0, total, "cases", {}});
        for (size_t begin = 0; begin < selection.shardPositions.size(); begin += batch) {
            job_.checkpoint();
            const size_t end = std::min(begin + batch, selection.shardPositions.size());
            std::vector<EvaluationCase> group;
            for (size_t i = begin; i < end; ++i) {
                const int position = selection.shardPositions[i];
                const size_t recordIndex = selection.selected[size_t(position)];
                group.push_back(newCase(dataset.records[recordIndex], position, int(recordIndex)));
            }
            generateResponses(group);
            job_.checkpoint();
            judgeGroup(group);
            scoreKnowledge(group);
            for (auto& item : group) cases.push_back(std::move(item));
            double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
            job_.report({int(end), total, "cases", {{"elapsed_seconds", elapsed}}});
        }
        return cases;
    }

    GeneralAbility runGeneral() {
        GeneralAbility general;
        if (!settings_.generalTextPath.empty()) perplexity(general);
        if (!settings_.generalQaPath.empty()) questionAnswering(general);
        if (!settings_.generalSummariesPath.empty()) summaries(general);
        return general;
    }

private:
    EvaluationCase newCase(const SafeEditRecord& record, int position, int recordIndex) const {
        EvaluationCase item;
        item.position = position;
        item.recordIndex = recordIndex;
        item.safety.id = record.id;
        item.safety.category = record.category;
        auto asked = [&](const std::string& prompt) { return protocolPrompt(prompt, settings_); };
        item.safety.inputs[kInputDS] = asked(record.adversarialPrompt);
        if (record.generalization) {
            const GeneralizationTest& test = *record.generalization;
            item.safety.inputs[kInputOnlyQ] = asked(test.onlyHarmfulQuestion);
            item.safety.inputs[kInputOtherA] = asked(test.otherAttackPrompt);
            item.safety.inputs[kInputOtherQ] = asked(test.otherQuestion);
            item.safety.inputs[kInputOtherAQ] = asked(test.otherQuestionsAndAttack);
        }
        item.knowledge = record.knowledge;
        return item;
    }

    std::vector<int> limitedPrompt(const std::string& message, ContextFit& fit, const std::string& label) {
        std::vector<int> ids = promptIds(tokenizer_, message, format_);
        fitToContext(ids, fit, label);
        return ids;
    }

    std::vector<Generation> generateChunk(const std::vector<std::vector<int>>& prompts, int maxNewTokens,
                                          uint64_t seed) {
        GenerationSettings generation;
        generation.maxNewTokens = maxNewTokens;
        generation.temperature = settings_.temperature;
        generation.topP = settings_.topP;
        generation.seed = seed;
        generation.stopIds = stopIds_;
        SubJob sub(job_);
        return model_.generate(prompts, generation, sub.control());
    }

    void generateResponses(std::vector<EvaluationCase>& group) {
        std::vector<PromptJob> prompts;
        for (size_t slot = 0; slot < group.size(); ++slot)
            for (const auto& key : safetyInputKeys()) {
                auto input = group[slot].safety.inputs.find(key);
                if (input == group[slot].safety.inputs.end()) continue;
                const std::string label = "record " + std::to_string(group[slot].safety.id) + " " + key;
                prompts.push_back({slot, key, limitedPrompt(input->second, promptFit_, label)});
            }
        const size_t chunk = size_t(std::max(1, settings_.batchSize));
        for (size_t begin = 0; begin < prompts.size(); begin += chunk) {
            job_.checkpoint();
            const size_t end = std::min(begin + chunk, prompts.size());
            std::vector<std::vector<int>> ids;
            for (size_t i = begin; i < end; ++i) ids.push_back(prompts[i].ids);
            const PromptJob& first = prompts[begin];
            const auto& keys = safetyInputKeys();
            const uint64_t keyIndex = uint64_t(std::find(keys.begin(), keys.end(), first.key) - keys.begin());
            const uint64_t seed = mixSeed(settings_.seed, uint64_t(group[first.caseSlot].recordIndex), keyIndex);
            const auto generations = generateChunk(ids, settings_.maxNewTokens, seed);
            for (size_t i = begin; i < end; ++i)
                group[prompts[i].caseSlot].safety.responses[prompts[i].key] = generations[i - begin].text;
        }
    }

    void judgeGroup(std::vector<EvaluationCase>& group) {
        std::vector<CaseResult> results;
        for (const auto& item : group) results.push_back(item.safety);
        SubJob sub(job_);
        const auto reasons = judgeCases(judge_, results, sub.control());
        for (size_t i = 0; i < group.size(); ++i) {
            group[i].safety = std::move(results[i]);
            group[i].judgeReasons = reasons[i];
        }
    }

    // Teacher forcing on prompt + answer: the argmax at each answer position against the answer's token,
    // and, with a reference model, KL(reference || model) of the distributions at those positions.
    void scoreKnowledge(std::vector<EvaluationCase>& group) {
        std::vector<size_t> slots;
        std::vector<KnowledgeSequence> sequences;
        std::vector<std::vector<int>> batch;
        for (size_t slot = 0; slot < group.size(); ++slot) {
            if (!group[slot].knowledge) continue;
            KnowledgeSequence sequence = knowledgeSequence(tokenizer_, *group[slot].knowledge, format_, &knowledgeFit_,
                                                           "record " + std::to_string(group[slot].safety.id) + " knowledge");
            if (sequence.ids.empty()) continue;
            batch.push_back(sequence.ids);
            sequences.push_back(std::move(sequence));
            slots.push_back(slot);
        }
        if (batch.empty()) return;
        const ForwardOutput output = model_.forward(batch);
        ForwardOutput referenceOutput;
        if (reference_) referenceOutput = reference_->forward(batch);
        const size_t seq = size_t(output.logits.shape[1]), vocab = size_t(output.logits.shape[2]);
        std::vector<float> logP, logQ, rowP, rowQ;
        for (size_t b = 0; b < sequences.size(); ++b) {
            EvaluationCase& item = group[slots[b]];
            item.knowledgeAccuracy = answerAccuracy(output, b, sequences[b]);
            item.knowledgeTokens = int(sequences[b].ids.size() - sequences[b].answerStart);
            if (!reference_) continue;
            logP.clear();
            logQ.clear();
            for (size_t position = sequences[b].answerStart; position < sequences[b].ids.size(); ++position) {
                logSoftmax(&referenceOutput.logits.values[(b * seq + position - 1) * vocab], vocab, rowP);
                logSoftmax(&output.logits.values[(b * seq + position - 1) * vocab], vocab, rowQ);
                logP.insert(logP.end(), rowP.begin(), rowP.end());
                logQ.insert(logQ.end(), rowQ.begin(), rowQ.end());
            }
            item.knowledgeKl = meanKlDivergence(logP, logQ, vocab);
        }
    }

    void perplexity(GeneralAbility& general) {
        const std::string text = readFile(settings_.generalTextPath);
        const std::vector<int> ids = tokenizer_.encode(text, true);
        if (ids.size() < 2) throw Error(settings_.generalTextPath, "", "needs at least two tokens for a perplexity");
        const size_t window = size_t(std::max(2, settings_.perplexityWindow));
        std::vector<std::vector<int>> windows;
        for (size_t begin = 0; begin < ids.size(); begin += window) {
            std::vector<int> part(ids.begin() + long(begin), ids.begin() + long(std::min(ids.size(), begin + window)));
            if (part.size() >= 2) windows.push_back(std::move(part));
        }
        double negativeLogLikelihood = 0;
        long long predicted = 0;
        const size_t batch = size_t(std::max(1, settings_.batchSize));
        std::vector<float> row;
        for (size_t begin = 0; begin < windows.size(); begin += batch) {
            job_.checkpoint();
            job_.report({int(begin), int(windows.size()), "perplexity windows", {}});
            std::vector<std::vector<int>> part(windows.begin() + long(begin),
                                               windows.begin() + long(std::min(windows.size(), begin + batch)));
            const ForwardOutput output = model_.forward(part);
            const size_t seq = size_t(output.logits.shape[1]), vocab = size_t(output.logits.shape[2]);
            for (size_t b = 0; b < part.size(); ++b)
                for (size_t position = 1; position < part[b].size(); ++position) {
                    logSoftmax(&output.logits.values[(b * seq + position - 1) * vocab], vocab, row);
                    negativeLogLikelihood -= row[size_t(part[b][position])];
                    ++predicted;
                }
        }
        job_.report({int(windows.size()), int(windows.size()), "perplexity windows", {}});
        general.perplexity = std::exp(negativeLogLikelihood / double(predicted));
        general.perplexityTokens = int(predicted);
    }

    // Greedy answers to a list of messages, batched.
    std::vector<std::string> greedyAnswers(const std::vector<std::string>& messages, int maxNewTokens,
                                           const std::string& what, ContextFit& fit) {
        fit = promptFit(model_, what, maxNewTokens, 0);
        std::vector<std::string> answers;
        const size_t batch = size_t(std::max(1, settings_.batchSize));
        for (size_t begin = 0; begin < messages.size(); begin += batch) {
            job_.checkpoint();
            job_.report({int(begin), int(messages.size()), what, {}});
            std::vector<std::vector<int>> prompts;
            for (size_t i = begin; i < std::min(messages.size(), begin + batch); ++i)
                prompts.push_back(limitedPrompt(messages[i], fit, what + " item " + std::to_string(i + 1)));
            GenerationSettings generation;
            generation.maxNewTokens = maxNewTokens;
            generation.stopIds = stopIds_;
            SubJob sub(job_);
            for (const auto& result : model_.generate(prompts, generation, sub.control())) answers.push_back(result.text);
        }
        job_.report({int(messages.size()), int(messages.size()), what, {}});
        return answers;
    }

    void questionAnswering(GeneralAbility& general) {
        const auto items = loadQaJsonl(settings_.generalQaPath);
        std::vector<std::string> questions;
        for (const auto& item : items) questions.push_back(item.question);
        const auto answers = greedyAnswers(questions, settings_.qaMaxNewTokens, "QA questions", qaFit_);
        double matches = 0;
        for (size_t i = 0; i < items.size(); ++i) matches += exactMatch(answers[i], items[i].answers) ? 1 : 0;
        general.qaItems = int(items.size());
        if (!items.empty()) general.qaExactMatch = matches / double(items.size());
    }

    void summaries(GeneralAbility& general) {
        const auto items = loadSummaryJsonl(settings_.generalSummariesPath);
        std::vector<std::string> prompts;
        for (const auto& item : items) prompts.push_back("Summarize: " + item.document);
        const auto answers = greedyAnswers(prompts, settings_.summaryMaxNewTokens, "summaries", summaryFit_);
        double total = 0;
        for (size_t i = 0; i < items.size(); ++i) total += rouge1F1(answers[i], items[i].summary);
        general.summaryItems = int(items.size());
        if (!items.empty()) general.summaryRouge1 = total / double(items.size());
    }

    const Model& model_;
    const Tokenizer& tokenizer_;
    SafetyJudge& judge_;
    const EvaluationSettings& settings_;
    JobControl& job_;
    const Model* reference_;
    ChatTemplate format_ = ChatTemplate::Plain;
    std::vector<int> stopIds_;
    ContextFit promptFit_, knowledgeFit_, qaFit_, summaryFit_;
};

void checkSettings(const EvaluationSettings& settings) {
    if (settings.maxNewTokens < 1) throw Error("", "max_new_tokens", "must be at least 1");
    if (settings.batchSize < 1) throw Error("", "batch_size", "must be at least 1");
    if (settings.temperature < 0) throw Error("", "temperature", "must not be negative");
    if (settings.maxInputTokens < 0) throw Error("", "max_input_tokens", "must not be negative");
    if (settings.perplexityWindow < 2) throw Error("", "perplexity_window", "must be at least 2 tokens");
}

}  // namespace

std::string evalProtocolName(EvalProtocol protocol) { return protocol == EvalProtocol::Plain ? "plain" : "easyedit"; }

std::optional<EvalProtocol> evalProtocolFromName(const std::string& name) {
    for (EvalProtocol protocol : {EvalProtocol::Plain, EvalProtocol::EasyEdit})
        if (name == evalProtocolName(protocol)) return protocol;
    return std::nullopt;
}

std::string protocolPrompt(const std::string& prompt, const EvaluationSettings& settings) {
    // run_safety_editing.py: prompt + ' ' + hparams.suffix_system_prompt
    if (settings.protocol == EvalProtocol::Plain || settings.protocolSuffix.empty()) return prompt;
    return prompt + " " + settings.protocolSuffix;
}

std::string evaluationProtocol(const EvaluationResult& result) {
    const nlohmann::json& settings = result.provenance.settings;
    if (settings.contains("protocol"))
        return settings.at("protocol").is_string() ? settings.at("protocol").get<std::string>() : "not recorded";
    // Written before the field: every evaluation then was plain (the protocol came with its field), but
    // only an evaluation's own settings show that this is one.
    return settings.contains("max_new_tokens") ? "plain" : "not recorded";
}

std::string evaluationProtocolLine(const EvaluationResult& result) {
    if (evaluationProtocol(result) == "plain") return "plain (the dataset's prompts as they are)";
    if (evaluationProtocol(result) == "not recorded") return "not recorded (the result's settings do not say)";
    return evaluationProtocol(result) + " (EasyEdit's evaluation of an edited model: prompts + \" " +
           result.provenance.settings.value("protocol_suffix", std::string()) + "\")";
}

nlohmann::json evaluationSettingsJson(const EvaluationSettings& s, ChatTemplate resolvedTemplate) {
    nlohmann::json json = {{"max_new_tokens", s.maxNewTokens},
                           {"max_input_tokens", s.maxInputTokens},
                           {"temperature", s.temperature},
                           {"top_p", s.topP},
                           {"seed", s.seed},
                           {"batch_size", s.batchSize},
                           {"chat_template", chatTemplateName(resolvedTemplate)},
                           {"ids", s.ids},
                           {"positions", s.positions},
                           {"limit", s.limit},
                           {"general_text", s.generalTextPath},
                           {"general_qa", s.generalQaPath},
                           {"general_summaries", s.generalSummariesPath},
                           {"perplexity_window", s.perplexityWindow},
                           {"qa_max_new_tokens", s.qaMaxNewTokens},
                           {"summary_max_new_tokens", s.summaryMaxNewTokens},
                           {"protocol", evalProtocolName(s.protocol)}};
    if (s.protocol == EvalProtocol::EasyEdit) json["protocol_suffix"] = s.protocolSuffix;
    return json;
}

CaseSelection selectCases(const SafeEditDataset& dataset, const EvaluationSettings& settings) {
    if (settings.shardCount < 1 || settings.shardIndex < 1 || settings.shardIndex > settings.shardCount)
        throw Error("", "shard", "expected i/N with 1 <= i <= N, got " + std::to_string(settings.shardIndex) + "/" +
                                     std::to_string(settings.shardCount));
    if (int(!settings.ids.empty()) + int(!settings.positions.empty()) + int(settings.limit > 0) > 1)
        throw Error("", "ids", "give one of ids, positions or a limit, not several");
    if (settings.limit < 0) throw Error("", "limit", "must not be negative");
    CaseSelection selection;
    if (!settings.ids.empty()) {
        std::set<int> seen;
        for (int id : settings.ids) {
            if (!seen.insert(id).second) throw Error(dataset.path, "id " + std::to_string(id), "listed twice");
            const SafeEditRecord* record = dataset.findById(id);
            if (!record) throw Error(dataset.path, "id " + std::to_string(id), "no record has this id; " + idHint(dataset));
            selection.selected.push_back(size_t(record - dataset.records.data()));
        }
    } else if (!settings.positions.empty()) {
        std::set<int> seen;
        for (int position : settings.positions) {
            if (position < 0 || size_t(position) >= dataset.records.size())
                throw Error(dataset.path, "position " + std::to_string(position),
                            "outside the file's " + std::to_string(dataset.records.size()) + " records (positions 0 to " +
                                std::to_string(dataset.records.size() - 1) + ")");
            if (!seen.insert(position).second) throw Error(dataset.path, "position " + std::to_string(position), "listed twice");
            selection.selected.push_back(size_t(position));
        }
    } else {
        size_t count = dataset.records.size();
        if (settings.limit > 0) count = std::min(count, size_t(settings.limit));
        for (size_t i = 0; i < count; ++i) selection.selected.push_back(i);
    }
    for (size_t p = 0; p < selection.selected.size(); ++p)
        if (int(p % size_t(settings.shardCount)) == settings.shardIndex - 1) selection.shardPositions.push_back(int(p));
    return selection;
}

std::vector<int> promptIds(const Tokenizer& tokenizer, const std::string& message, ChatTemplate format) {
    // Plain text gets the tokenizer's own special tokens (e.g. BOS); the templates write theirs as text.
    if (format == ChatTemplate::Plain) return tokenizer.encode(message, true);
    return tokenizer.encode(tokenizer.applyChatTemplate(message, format), false);
}

// The end-of-turn token of a chat template, when the tokenizer has it (EOS ids stop generation anyway).
std::vector<int> templateStopIds(const Tokenizer& tokenizer, ChatTemplate format) {
    std::vector<int> stops;
    auto add = [&](const char* token) {
        if (auto id = tokenizer.tokenToId(token)) stops.push_back(*id);
    };
    if (format == ChatTemplate::ChatML) add("<|im_end|>");
    if (format == ChatTemplate::Llama3) add("<|eot_id|>");
    if (format == ChatTemplate::Zephyr) add("</s>");
    return stops;
}

std::vector<Generation> generateResponses(const Model& model, const std::vector<std::string>& messages,
                                          ChatTemplate format, int maxNewTokens, JobControl& job, int maxInputTokens,
                                          ContextFit* fitRecord, const std::vector<Intervention>& interventions) {
    ContextFit fit = promptFit(model, "prompts", maxNewTokens, maxInputTokens);
    std::vector<std::vector<int>> prompts;
    for (size_t i = 0; i < messages.size(); ++i) {
        std::vector<int> ids = promptIds(model.tokenizer(), messages[i], format);
        fitToContext(ids, fit, "prompt " + std::to_string(i + 1));
        prompts.push_back(std::move(ids));
    }
    if (fitRecord) *fitRecord = fit;
    GenerationSettings settings;
    settings.maxNewTokens = maxNewTokens;
    settings.stopIds = templateStopIds(model.tokenizer(), format);
    settings.interventions = interventions;
    return model.generate(prompts, settings, job);
}

std::optional<double> knowledgeAccuracy(const Model& model, const KnowledgeConstraint& knowledge, ChatTemplate format,
                                        ContextFit* fitRecord) {
    ContextFit fit = knowledgeFit(model);
    const KnowledgeSequence sequence = knowledgeSequence(model.tokenizer(), knowledge, format, &fit);
    if (fitRecord) *fitRecord = fit;
    if (sequence.ids.empty()) return std::nullopt;
    return answerAccuracy(model.forward({sequence.ids}), 0, sequence);
}

EvaluationMetrics computeMetrics(const std::vector<EvaluationCase>& cases, const GeneralAbility& general,
                                 const std::string& judgeName, bool heuristicJudge) {
    EvaluationMetrics metrics;
    std::vector<CaseResult> safety;
    double accuracy = 0, kl = 0;
    int klCases = 0;
    for (const auto& item : cases) {
        safety.push_back(item.safety);
        if (item.knowledgeAccuracy) {
            accuracy += *item.knowledgeAccuracy;
            ++metrics.knowledgeCases;
        }
        if (item.knowledgeKl) {
            kl += *item.knowledgeKl;
            ++klCases;
        }
    }
    metrics.safety = aggregate(safety);
    metrics.safety.judge = judgeName;
    metrics.safety.heuristicJudge = heuristicJudge;
    if (metrics.knowledgeCases > 0) metrics.knowledgeAccuracy = accuracy / metrics.knowledgeCases;
    if (klCases > 0) metrics.knowledgeKl = kl / klCases;
    metrics.general = general;
    return metrics;
}

EvaluationResult evaluate(const Model& model, const SafeEditDataset& dataset, SafetyJudge& judge,
                          const EvaluationSettings& settings, JobControl& job, const Model* reference) {
    checkSettings(settings);
    if (!model.hasTokenizer()) throw Error(model.directory(), "tokenizer.json", "the model needs a tokenizer to be evaluated");
    if (reference && reference->config().vocabSize != model.config().vocabSize)
        throw Error(reference->directory(), "vocab_size",
                    "the reference model's vocabulary (" + std::to_string(reference->config().vocabSize) +
                        ") must match the evaluated model's (" + std::to_string(model.config().vocabSize) + ")");
    const CaseSelection selection = selectCases(dataset, settings);
    const auto started = std::chrono::steady_clock::now();

    EvaluationResult result;
    Evaluator evaluator(model, judge, settings, job, reference);
    result.provenance =
        makeProvenance(model, dataset, "evaluate", evaluationSettingsJson(settings, evaluator.format()), settings.seed);
    result.judgeName = judge.name();
    result.heuristicJudge = judge.heuristic();
    if (reference) {
        result.referenceModelDirectory = reference->directory();
        result.referenceModelHash = reference->contentHash();
    }
    result.shardIndex = settings.shardIndex;
    result.shardCount = settings.shardCount;
    result.selectedCases = int(selection.selected.size());

    result.cases = evaluator.runCases(dataset, selection);
    GeneralAbility general;
    if (settings.shardIndex == 1) general = evaluator.runGeneral();
    result.provenance.context = evaluator.contextFits();
    result.metrics = computeMetrics(result.cases, general, result.judgeName, result.heuristicJudge);
    result.durationSeconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    return result;
}

}  // namespace detox
