// The evaluation-protocol choice (detox/safeedit/evaluation.h EvalProtocol) where the GUI evaluates: the
// Edit view's before/after answers and the dataset comparison. One spelling and one tooltip for both.
#pragma once
#include <QString>

#include "detox/safeedit/evaluation.h"

class QComboBox;
class QWidget;

namespace detox::ui {

// "plain" and "easyedit" (item data: int(EvalProtocol)), plain chosen, with evalProtocolToolTip().
QComboBox* makeEvalProtocolCombo(QWidget* parent);
detox::EvalProtocol chosenEvalProtocol(const QComboBox* combo);
void chooseEvalProtocol(QComboBox* combo, detox::EvalProtocol protocol);
// What each protocol does, what easyedit appends and which EasyEdit code does it.
QString evalProtocolToolTip();

}  // namespace detox::ui
