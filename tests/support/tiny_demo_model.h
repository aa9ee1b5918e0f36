// The shipped demo model when present, else a tiny one trained here for one step (random weights, a
// small BPE tokenizer): enough for the ui tests, which only need a working model with a tokenizer.
#pragma once
#include <QString>

#include "detox/demo/demo_model.h"
#include "detox/error.h"

namespace detox::test {

inline QString demoOrTinyModelDirectory(const QString& scratch) {
    try {
        return QString::fromStdString(demoModelPath());
    } catch (const detox::Error&) {
    }
    DemoModelSettings settings;
    settings.steps = 1;
    settings.batchSize = 2;
    settings.vocabSize = 300;
    settings.hiddenSize = 32;
    settings.layers = 4;
    settings.heads = 4;
    settings.kvHeads = 2;
    settings.intermediateSize = 48;
    settings.maxPositions = 1024;
    settings.knowledgeRepeats = 1;
    settings.refusalRepeats = 1;
    const QString directory = scratch + "/tiny-model";
    trainDemoModel(directory.toStdString(), settings);
    return directory;
}

}  // namespace detox::test
