// Causal-analysis results (detox/analysis/patching.h, ablation.h) as FigureSpecs, shared by the Toxic
// layers and Toxic region views and `detox report`. Results only: no model access.
#pragma once
#include <QString>
#include <QStringList>

#include <optional>
#include <vector>

#include "detox/analysis/ablation.h"
#include "detox/analysis/patching.h"
#include "detox_ui/figures/figure.h"

namespace detox::ui {

// The layer curve of activation patching: one Line series per result, named by its capture point
// (x = layer, y = recovered fraction of the metric gap; a layer nothing was measured at is NaN, a gap).
// A result of one record draws that record's curve (all last-K positions patched at once), a result of
// several records the mean over them ("resid_post (mean of 3 records)").
// The first result's curve carries the criteria's markers: "patching picks layer N" (its best layer) and,
// when given, "distance picks layer M" (the locate criterion's toxic layer), so the two can be compared.
// id "patching-layers-record-ID" (one record) or "patching-layers".
FigureSpec patchingLayerFigure(const std::vector<PatchingResult>& results, std::optional<int> distanceLayer = {});

// The layer x position map of one record: rows the layers ("L0" at the top), columns the last-K prompt
// positions ("-8" .. "-1", with the corrupt prompt's token recorded in the result below it: "-1\n?", tokens
// longer than 8 characters elided; a result written before the tokens were recorded says so in the x
// label), the recovered fraction per cell (NaN where not measured), diverging around 0 with a range of at
// least [-1, 1] so full recovery always has the same colour. id "patching-map-POINT-record-ID".
FigureSpec patchingMapFigure(const PatchingRecordResult& record, const QString& point);

// The layer curve's value at a layer for a result (the record's, or the mean over records).
std::optional<double> patchingCurveValue(const PatchingResult& result, int layer);

// The effect of ablations on the teacher-forced metric log p(safe) - log p(unsafe): a bar group per
// ablation (labels[i] names records[i]: "record 3", or the model state in the Toxic region view) with the
// metric without and with the ablation. A value that is not finite is NaN (drawn "n/a"), never 0; a zero
// is a bar at 0 with its label. id "ablation-metric".
FigureSpec ablationMetricFigure(const QStringList& labels, const std::vector<AblationRecordResult>& records);

// The same ablations' changes (with - without) of the metric and of each term, log p(safe) and
// log p(unsafe), a bar group per ablation. id "ablation-terms".
FigureSpec ablationTermsFigure(const QStringList& labels, const std::vector<AblationRecordResult>& records);

}  // namespace detox::ui
