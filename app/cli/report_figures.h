// The figures of `detox report`: result files turned into FigureSpecs by the ui's figures_core
// builders, the same ones the GUI's Toxic-layer, Edit and Compare views draw, so a figure from the CLI
// and from the GUI look the same (a comparison's: ui/figures_comparison.h). Every id starts with the
// result file's prefix.
#pragma once
#include <QString>
#include <QVector>
#include <vector>

#include "detox/safeedit/evaluation.h"
#include "detox/analysis/locate.h"
#include "detox_ui/figures/figure.h"

namespace detox::cli {

// Defense-rate bars of one evaluated model.
QVector<ui::FigureSpec> evaluationFigures(const EvaluationResult& result, const QString& prefix);

// The distance curves of a `detox locate` result, toxic layers marked.
QVector<ui::FigureSpec> locateFigures(const std::vector<LocateResult>& results, const QString& prefix);

}  // namespace detox::cli
