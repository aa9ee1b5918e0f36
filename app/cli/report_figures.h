// The figures of `detox report`: result files turned into FigureSpecs by the ui's figures_core
// builders, the same ones the GUI's Toxic-layer, Edit and Compare views draw, so a figure from the CLI
// and from the GUI look the same (a comparison's: ui/figures_comparison.h). Every id starts with the
// result file's prefix.
#pragma once
#include <QString>
#include <QVector>
#include <optional>
#include <vector>

#include "detox/analysis/ablation.h"
#include "detox/analysis/locate.h"
#include "detox/analysis/patching.h"
#include "detox/safeedit/evaluation.h"
#include "detox_ui/figures/figure.h"

namespace detox::cli {

// Defense-rate bars of one evaluated model.
QVector<ui::FigureSpec> evaluationFigures(const EvaluationResult& result, const QString& prefix);

// The distance curves of a `detox locate` result, toxic layers marked.
QVector<ui::FigureSpec> locateFigures(const std::vector<LocateResult>& results, const QString& prefix);

// Activation patching: the layer curve (one record: the record's, with "distance picks layer N" marked
// when distanceLayer is given; several: the mean over them) and each record's layer x position map.
QVector<ui::FigureSpec> patchingFigures(const PatchingResult& result, std::optional<int> distanceLayer,
                                        const QString& prefix);

// Ablation: the metric without / with the ablation and the change of each term, a bar group per record.
QVector<ui::FigureSpec> ablationFigures(const AblationResult& result, const QString& prefix);

}  // namespace detox::cli
