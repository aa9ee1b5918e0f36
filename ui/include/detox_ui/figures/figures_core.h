// Core results (plain data from detox/*.h) as FigureSpecs. Free functions so the GUI views and the
// CLI `report` command draw exactly the same figures. No model access here: results only.
#pragma once
#include <QString>
#include <QStringList>
#include <QVector>

#include <vector>

#include "detox/analysis/locate.h"
#include "detox/analysis/mechanism.h"
#include "detox/safeedit/metrics.h"
#include "detox/results.h"
#include "detox_ui/figures/figure.h"

namespace detox::ui {

// Per-layer safe-vs-unsafe distance curves, one Line series per result (x = layer 0..L-1, y = distance),
// each with a marker "toxic layer N" at its toxicLayer. Series are named by variant, plus "record ID"
// when the results come from more than one record. id "toxic-layers-record-ID" (or "toxic-layers").
// Results of more than one variant are drawn as fractions of each curve's maximum (named "masked (max
// 3.52)", y label "distance / the curve's maximum"): the variants' distances differ by ~100x.
FigureSpec toxicLayerFigure(const std::vector<LocateResult>& results);

// The loss history of an edit: Line series "total", "edit", "constraint" over the optimizer step
// (SFT/DPO report total = edit and constraint 0: only "total" is drawn for them).
FigureSpec lossFigure(const EditResult& result);

// The relative parameter shift ||W_after - W_before||_F / ||W_before||_F as a heatmap, rows = layers
// (labelled "L0", "L1", ...), columns = modules; sequential colour scale. id "parameter-shift-METHOD".
FigureSpec parameterShiftFigure(const ParameterShiftMatrix& shift, const QString& method);

// Grouped bars: one series per method, one category per metric. values[method][metric].
// Throws detox::Error when the sizes do not match.
FigureSpec metricsBarFigure(const QStringList& methods, const QStringList& metrics,
                            const QVector<QVector<double>>& values, const QString& title = QStringLiteral("Safety metrics"));

// Same, from aggregated SafeEdit metrics: categories DS, DG_onlyQ, DG_otherA, DG_otherQ, DG_otherAQ,
// DG_Avg (all x100 defense rates), on a 0-100 axis.
FigureSpec metricsBarFigure(const QStringList& methods, const std::vector<SafetyMetrics>& metrics);

}  // namespace detox::ui
