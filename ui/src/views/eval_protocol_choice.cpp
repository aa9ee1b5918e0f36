#include "detox_ui/views/eval_protocol_choice.h"

#include <QComboBox>
#include <QObject>

#include "detox/safeedit/safeedit.h"

namespace detox::ui {

QComboBox* makeEvalProtocolCombo(QWidget* parent) {
    auto* combo = new QComboBox(parent);
    for (detox::EvalProtocol protocol : {detox::EvalProtocol::Plain, detox::EvalProtocol::EasyEdit})
        combo->addItem(QString::fromStdString(detox::evalProtocolName(protocol)), int(protocol));
    combo->setToolTip(evalProtocolToolTip());
    return combo;
}

detox::EvalProtocol chosenEvalProtocol(const QComboBox* combo) { return detox::EvalProtocol(combo->currentData().toInt()); }

void chooseEvalProtocol(QComboBox* combo, detox::EvalProtocol protocol) {
    combo->setCurrentIndex(combo->findData(int(protocol)));
}

QString evalProtocolToolTip() {
    return QObject::tr(
               "How the edited model is asked when it is evaluated.\n"
               "plain: the dataset's prompts as they are (the project's default).\n"
               "easyedit: as EasyEdit evaluates an edited model: \" \" + the DINM suffix system prompt is appended to "
               "the adversarial prompt and to the four generalization inputs:\n  \"%1\"\n"
               "EasyEdit does this in easyeditor/editors/safety_editor.py (SafetyEditor.edit evaluates the edited "
               "model on request_with_systemPrompt, built in examples/run_safety_editing.py).\n"
               "The unedited model and the prompt-only baselines are evaluated plain, as EasyEdit evaluates the "
               "model before the edit. Every result records its protocol.")
        .arg(QString::fromUtf8(detox::kEasyEditSuffixSystemPrompt));
}

}  // namespace detox::ui
