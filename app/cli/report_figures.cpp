// Figures of `detox report` (report_figures.h), built with the ui's figures_core and figures_causal.
#include "report_figures.h"

#include "detox_ui/figures/figures_causal.h"
#include "detox_ui/figures/figures_core.h"

namespace detox::cli {
namespace {

ui::FigureSpec withId(ui::FigureSpec figure, const QString& id) {
    figure.id = id;
    return figure;
}

}  // namespace

QVector<ui::FigureSpec> evaluationFigures(const EvaluationResult& result, const QString& prefix) {
    ui::FigureSpec figure = withId(ui::metricsBarFigure({QStringLiteral("evaluated model")}, {result.metrics.safety}), prefix + "metrics");
    figure.title += QStringLiteral(" (evaluation protocol: %1)").arg(QString::fromStdString(evaluationProtocol(result)));
    return {figure};
}

QVector<ui::FigureSpec> locateFigures(const std::vector<LocateResult>& results, const QString& prefix) {
    return {withId(ui::toxicLayerFigure(results), prefix + "toxic-layers")};
}

QVector<ui::FigureSpec> patchingFigures(const PatchingResult& result, std::optional<int> distanceLayer,
                                        const QString& prefix) {
    const ui::FigureSpec curve = ui::patchingLayerFigure({result}, distanceLayer);
    QVector<ui::FigureSpec> figures{withId(curve, prefix + curve.id)};
    const QString point = QString::fromStdString(result.point);
    for (const PatchingRecordResult& record : result.records) {
        const ui::FigureSpec map = ui::patchingMapFigure(record, point);
        figures.append(withId(map, prefix + map.id));
    }
    return figures;
}

QVector<ui::FigureSpec> ablationFigures(const AblationResult& result, const QString& prefix) {
    QStringList labels;
    for (const AblationRecordResult& record : result.records) labels << QStringLiteral("record %1").arg(record.recordId);
    // Titles name the ablation, so two ablate results in one report tell their figures apart.
    const QString what = QStringLiteral(" (layer %1, %2, %3)")
                             .arg(result.layer)
                             .arg(QString::fromStdString(result.target), QString::fromStdString(result.mode));
    QVector<ui::FigureSpec> figures{ui::ablationMetricFigure(labels, result.records),
                                    ui::ablationTermsFigure(labels, result.records)};
    for (ui::FigureSpec& figure : figures) {
        figure.id = prefix + figure.id;
        figure.title += what;
    }
    return figures;
}

}  // namespace detox::cli
