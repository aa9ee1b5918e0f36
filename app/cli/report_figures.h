// The figures of `detox report`: result files turned into FigureSpecs by the ui's figures_core
// builders, the same ones the GUI's Toxic-layer, Edit and Compare views draw, so a figure from the CLI
// and from the GUI look the same. Every id starts with the result file's prefix.
#pragma once
#include <QString>
#include <QVector>
#include <vector>

#include "detox/comparison.h"
#include "detox/evaluation.h"
#include "detox/locate.h"
#include "detox_ui/figure.h"

namespace detox::cli {

// Defense-rate bars (original and each method), the original model's toxic-layer curves, per edit the
// before/after distance curves, loss and parameter-shift heatmap (one colour scale for all heatmaps),
// and the toxic-region bars (toxicity reduction, activation norm change) per method.
QVector<ui::FigureSpec> comparisonFigures(const ComparisonResult& result, const QString& prefix);

// Defense-rate bars of one evaluated model.
QVector<ui::FigureSpec> evaluationFigures(const EvaluationResult& result, const QString& prefix);

// The distance curves of a `detox locate` result, toxic layers marked.
QVector<ui::FigureSpec> locateFigures(const std::vector<LocateResult>& results, const QString& prefix);

// Mean over a method's edits (0 for none).
double meanToxicityReduction(const MethodComparison& method);
double meanActivationNormChange(const MethodComparison& method);

}  // namespace detox::cli
