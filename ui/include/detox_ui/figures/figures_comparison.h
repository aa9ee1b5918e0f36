// The figures of a method comparison (detox/comparison.h), built with figures_core: the same figures in
// `detox report` and in the GUI's Compare view. No model access here: results only.
#pragma once
#include <QString>
#include <QVector>

#include <optional>

#include "detox/analysis/comparison.h"
#include "detox_ui/figures/figure.h"

namespace detox::ui {

// Defense-rate bars (original and each method), the original model's toxic-layer curves, per edit the
// before/after distance curves, loss and parameter-shift heatmap (one colour scale for all heatmaps),
// and the toxic-region bars (region toxicity reduction, region activation change) per method. Every id starts
// with prefix. With onlyRecord set, the per-edit figures are those of that record alone (their heatmap
// colour scale is still the one shared by all edits).
QVector<FigureSpec> comparisonFigures(const ComparisonResult& result, const QString& prefix,
                                      std::optional<int> onlyRecord = std::nullopt);

// Mean over a method's edits (0 for none).
double meanRegionToxicityReduction(const MethodComparison& method);
double meanActivationNormChange(const MethodComparison& method);

}  // namespace detox::ui
