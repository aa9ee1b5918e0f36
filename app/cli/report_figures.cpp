// Figures of `detox report` (report_figures.h), built with the ui's figures_core.
#include "report_figures.h"

#include "detox_ui/figures/figures_core.h"

namespace detox::cli {
namespace {

ui::FigureSpec withId(ui::FigureSpec figure, const QString& id) {
    figure.id = id;
    return figure;
}

}  // namespace

QVector<ui::FigureSpec> evaluationFigures(const EvaluationResult& result, const QString& prefix) {
    return {withId(ui::metricsBarFigure({QStringLiteral("evaluated model")}, {result.metrics.safety}), prefix + "metrics")};
}

QVector<ui::FigureSpec> locateFigures(const std::vector<LocateResult>& results, const QString& prefix) {
    return {withId(ui::toxicLayerFigure(results), prefix + "toxic-layers")};
}

}  // namespace detox::cli
