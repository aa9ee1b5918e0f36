// FigureSpec builders for `detox report`, from the result JSON of compare / locate / evaluate.
// (Written here because the ui's figures_core.h was not available yet; the figures use the same
// FigureSpec/exportFigure layer as the GUI.)
#pragma once
#include <QVector>
#include <nlohmann/json.hpp>
#include <string>

#include "detox_ui/figure.h"

namespace detox::cli {

// Safe-vs-unsafe distance per layer, before and after one method (one line per record and state).
ui::FigureSpec distanceCurvesFigure(const nlohmann::json& method, const std::string& idPrefix);
// Total loss per optimizer step, one line per edit of every method.
ui::FigureSpec lossCurvesFigure(const nlohmann::json& methods, const std::string& idPrefix);
// Relative parameter shift (layers x modules), averaged over the method's edits. Share the range
// across methods with ui::shareHeatmapRange.
ui::FigureSpec parameterShiftFigure(const nlohmann::json& method, const std::string& idPrefix);
// DS / DG_* / DG_Avg per named metrics object (grouped bars, one colour per name).
ui::FigureSpec metricsBarsFigure(const std::vector<std::pair<std::string, nlohmann::json>>& namedMetrics,
                                 const std::string& id, const std::string& title);
// Toxic-region activation norm change and toxicity reduction per method.
ui::FigureSpec activationShiftFigure(const nlohmann::json& methods, const std::string& idPrefix);
// Per-layer distances of locate results (one line per record, toxic layer marked).
ui::FigureSpec locateCurvesFigure(const nlohmann::json& locateResults, const std::string& id);

// The metrics table columns, in order.
const std::vector<std::string>& reportMetricKeys();

}  // namespace detox::cli
