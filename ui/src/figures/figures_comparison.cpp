// Figures of a method comparison (figures_comparison.h), built with figures_core.
#include "detox_ui/figures/figures_comparison.h"

#include "detox/methods/registry.h"

#include "detox_ui/figures/figures_core.h"

namespace detox::ui {
namespace {

QString editSuffix(const std::string& method, int recordId) {
    return QString::fromStdString(method) + QStringLiteral("-record-%1").arg(recordId);
}

FigureSpec withId(FigureSpec figure, const QString& id) {
    figure.id = id;
    return figure;
}

// The instance's curve on the original model and on the repaired one, as two "variants" of one plot.
FigureSpec beforeAfterCurves(const ComparedEdit& edit, const std::string& method, const QString& prefix) {
    std::vector<LocateResult> curves;
    for (LocateResult curve : edit.mechanism.curvesBefore) {
        curve.variant = "before";
        curves.push_back(curve);
    }
    for (LocateResult curve : edit.mechanism.curvesAfter) {
        curve.variant = "after " + method;
        curves.push_back(curve);
    }
    FigureSpec figure = withId(toxicLayerFigure(curves), prefix + "toxic-layers-" + editSuffix(method, edit.recordId));
    for (int i = 0; i < figure.series.size(); ++i) {
        if (i < int(edit.mechanism.curvesBefore.size())) figure.series[i].as(SeriesRole::Reference);
        else figure.series[i].as(SeriesRole::Method, QString::fromStdString(method));
    }
    figure.title = QStringLiteral("Safe-unsafe distance, before / after %1 (record %2)")
                       .arg(QString::fromStdString(method))
                       .arg(edit.recordId);
    return figure;
}

FigureSpec lossCurve(const ComparedEdit& edit, const std::string& method, const QString& prefix) {
    FigureSpec figure = withId(lossFigure(edit.edit), prefix + "loss-" + editSuffix(method, edit.recordId));
    figure.title += QStringLiteral(" (record %1)").arg(edit.recordId);
    return figure;
}

FigureSpec shiftHeatmap(const ComparedEdit& edit, const std::string& method, const QString& prefix) {
    // Titled as in the GUI's Compare view.
    FigureSpec figure = withId(parameterShiftFigure(edit.mechanism.parameterShift, QString::fromStdString(method)),
                                   prefix + "parameter-shift-" + editSuffix(method, edit.recordId));
    figure.title = QStringLiteral("Relative parameter shift (%1, record %2)")
                       .arg(QString::fromStdString(method))
                       .arg(edit.recordId);
    return figure;
}

FigureSpec metricsBars(const ComparisonResult& result, const QString& prefix) {
    QStringList names{QStringLiteral("original")};
    std::vector<SafetyMetrics> metrics{result.baseline.metrics.safety};
    for (const auto& method : result.methods) {
        names << QString::fromStdString(method.method);
        metrics.push_back(method.evaluation.metrics.safety);
    }
    FigureSpec figure = withId(metricsBarFigure(names, metrics), prefix + "metrics");
    // The rows may have been asked differently (plain original, easyedit repaired models): the title says how.
    figure.title += QStringLiteral(" (%1)").arg(QString::fromStdString(detox::comparisonProtocolNote(result)));
    figure.series[0].as(SeriesRole::Reference);
    for (int i = 1; i < figure.series.size(); ++i) figure.series[i].as(SeriesRole::Method, names[i]);
    return figure;
}

FigureSpec mechanismBars(const ComparisonResult& result, const QString& prefix) {
    QStringList methods;
    QVector<QVector<double>> values;
    for (const auto& method : result.methods) {
        methods << QString::fromStdString(method.method);
        // Without a probe there is no region toxicity, only the activation change.
        const double activationPercent = 100.0 * meanActivationNormChange(method);
        if (result.probe) values.append(QVector<double>{meanRegionToxicityReduction(method), activationPercent});
        else values.append(QVector<double>{activationPercent});
    }
    QStringList measures{QStringLiteral("region activation change (%)")};
    if (result.probe) measures.prepend(QStringLiteral("region toxicity reduction (cosine)"));
    FigureSpec figure = withId(
        metricsBarFigure(methods, measures, values, QStringLiteral("Toxic region after each method (mean over edits)")),
        prefix + "mechanism");
    for (int i = 0; i < figure.series.size(); ++i) figure.series[i].as(SeriesRole::Method, methods[i]);
    figure.xLabel = QStringLiteral("toxic-region measure");
    figure.yLabel = QStringLiteral("change");
    return figure;
}

template <typename Value>
double meanOverEdits(const MethodComparison& method, Value value) {
    if (method.edits.empty()) return 0;
    double sum = 0;
    for (const auto& edit : method.edits) sum += value(edit);
    return sum / double(method.edits.size());
}

}  // namespace

double meanRegionToxicityReduction(const MethodComparison& method) {
    return meanOverEdits(method, [](const ComparedEdit& edit) { return edit.mechanism.regionToxicityReduction; });
}

double meanActivationNormChange(const MethodComparison& method) {
    return meanOverEdits(method, [](const ComparedEdit& edit) { return edit.mechanism.activationShift.relativeNormChange; });
}

QVector<FigureSpec> comparisonFigures(const ComparisonResult& result, const QString& prefix,
                                      std::optional<int> onlyRecord) {
    QVector<FigureSpec> figures{metricsBars(result, prefix)};
    if (!result.baselineCurves.empty())
        figures.append(withId(toxicLayerFigure(result.baselineCurves), prefix + "toxic-layers"));
    QVector<FigureSpec> heatmaps;
    QVector<bool> heatmapShown;
    for (const auto& method : result.methods) {
        // A prompt-only baseline trains nothing: no loss curve and no parameter shift to draw (report.md's
        // table says so), rather than empty axes.
        const detox::Method* info = detox::findMethod(method.method);
        const bool changesWeights = !info || info->changesWeights;
        for (const auto& edit : method.edits) {
            const bool shown = !onlyRecord || edit.recordId == *onlyRecord;
            if (shown) {
                figures.append(beforeAfterCurves(edit, method.method, prefix));
                if (changesWeights) figures.append(lossCurve(edit, method.method, prefix));
            }
            if (!changesWeights) continue;
            heatmaps.append(shiftHeatmap(edit, method.method, prefix));
            heatmapShown.append(shown);
        }
    }
    // The range is shared by every edit's heatmap, also those of records not shown.
    QVector<FigureSpec*> shared;
    for (auto& heatmap : heatmaps) shared.append(&heatmap);
    shareHeatmapRange(shared);
    for (int i = 0; i < heatmaps.size(); ++i)
        if (heatmapShown[i]) figures.append(heatmaps[i]);
    figures.append(mechanismBars(result, prefix));
    return figures;
}

}  // namespace detox::ui
