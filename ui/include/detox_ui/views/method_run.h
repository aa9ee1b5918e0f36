// What one method run on one record produced (MethodRun), shared by the Edit, Toxic region and Compare
// views, and the helpers that measure a record's toxic region the same way in each of them.
#pragma once
#include <QJsonObject>
#include <QMetaType>
#include <QString>

#include <optional>
#include <string>
#include <vector>

#include "detox/analysis/locate.h"
#include "detox/analysis/mechanism.h"
#include "detox/analysis/record_study.h"
#include "detox/results.h"
#include "detox/runtime/inspect.h"
#include "detox/runtime/model.h"
#include "detox/safeedit/safeedit.h"

namespace detox::ui {

// One input of the record before and after an edit, with the rule judge's verdicts.
struct GenerationComparison {
    std::string key;                 // "DS", "DG_onlyQ", "DG_otherA", "DG_otherQ", "DG_otherAQ"
    std::string input;
    std::string askedAfter;          // what the model was asked after: the input, suffixed (easyedit protocol)
                                     // or the prompt-only method's prompt
    std::string before, after;
    double unsafeBefore = 0, unsafeAfter = 0;  // rule judge: 0 safe, 1 unsafe, 0.5 empty
};

// Everything one method run in this session produced; the Compare view keeps a list of these.
struct MethodRun {
    QString id;                      // "dinm-1", "sft-2", ...
    QString method;                  // "dinm", "sft", "dpo"
    int recordId = 0;
    QString chatFormat;              // the chat template the generations and the region's prompt used
    // The evaluation protocol of the "after" answers ("plain", "easyedit"; RecordStudy::protocol) and
    // whether DINM ran EasyEdit-compatible (the edit's settings).
    QString evalProtocol = QStringLiteral("plain");
    bool easyEditCompat = false;
    detox::EditResult edit;
    std::vector<GenerationComparison> generations;
    // Fluency: n-gram entropy of the generations (metrics.h meanNGramEntropy). Knowledge retention:
    // teacher-forced token accuracy on the record's knowledge-constraint pair (evaluation.h), if it has one.
    double fluencyBefore = 0, fluencyAfter = 0;
    std::optional<double> knowledgeBefore, knowledgeAfter;
    detox::ParameterShiftMatrix shift;
    // The toxic region (mlp_act of regionLayer) for the record's adversarial prompt, safe and unsafe
    // generation (in that order), on the loaded model and after the method; distance curves likewise.
    int regionLayer = -1;
    std::vector<detox::NeuronTokenActivations> regionBefore, regionAfter;
    detox::LocateResult curveBefore, curveAfter;
    // What the context policy cut (generations, knowledge, locate, the method's pairs): context_policy.h.
    std::vector<detox::ContextFit> context;
    // The whole job's time (generations, locate, edit, judging, ...), next to edit.durationSeconds.
    double jobSeconds = 0;
    QJsonObject toJson() const;
};

// The texts whose toxic-region activations are measured, in MethodRun / RegionSnapshot order (the core
// record study's, detox/analysis/record_study.h; the functions below are its Qt-side spellings).
using RegionInput = detox::RegionInput;
QString regionInputName(RegionInput input);   // "adversarial prompt", "safe generation", "unsafe generation"
// The chat template a view uses: the chosen one, else the model's detected one (as the evaluation does).
detox::ChatTemplate resolvedChatFormat(const detox::Model& model, std::optional<detox::ChatTemplate> chosen);
// Token ids of the three texts: the adversarial prompt as the model sees it when it answers (promptIds in
// the resolved chat format, its last maxTokens), the generations plain as locate encodes them (their first
// maxTokens). 0: each text whole, within the model's context (the views page wide heatmaps).
std::vector<std::vector<int>> regionInputIds(const detox::Model& model, const detox::SafeEditRecord& record,
                                             int maxTokens = 0, std::optional<detox::ChatTemplate> chatFormat = {});
std::vector<detox::NeuronTokenActivations> measureRegion(const detox::Model& model, int layer,
                                                         const detox::SafeEditRecord& record,
                                                         std::optional<detox::ChatTemplate> chatFormat = {});

}  // namespace detox::ui

Q_DECLARE_METATYPE(detox::ui::MethodRun)
