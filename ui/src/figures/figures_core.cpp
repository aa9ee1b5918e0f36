#include "detox_ui/figures/figures_core.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include "detox/error.h"

namespace detox::ui {

namespace {

double largestMagnitude(const std::vector<double>& values) {
    double largest = 0;
    for (double value : values)
        if (std::isfinite(value)) largest = std::max(largest, std::abs(value));
    return largest;
}

}  // namespace

FigureSpec toxicLayerFigure(const std::vector<LocateResult>& results) {
    std::set<int> records;
    std::set<std::string> variants;
    for (const LocateResult& result : results) {
        records.insert(result.recordId);
        variants.insert(result.variant);
    }
    const bool severalRecords = records.size() > 1;
    // The variants measure on different scales (masked ~3, easyedit ~200): on one axis one curve would
    // lie flat at zero. Overlaid variants are drawn as fractions of each curve's own maximum.
    const bool normalised = variants.size() > 1;

    FigureSpec figure;
    figure.id = records.size() == 1 ? QStringLiteral("toxic-layers-record-%1").arg(*records.begin())
                                    : QStringLiteral("toxic-layers");
    figure.title = records.size() == 1 ? QStringLiteral("Safe vs unsafe hidden-state distance (record %1)")
                                             .arg(*records.begin())
                                       : QStringLiteral("Safe vs unsafe hidden-state distance");
    figure.xLabel = QStringLiteral("layer");
    figure.yLabel = normalised ? QStringLiteral("distance / the curve's maximum") : QStringLiteral("distance");
    figure.kind = FigureKind::Line;
    for (const LocateResult& result : results) {
        FigureSeries series;
        series.name = QString::fromStdString(result.variant);
        if (severalRecords) series.name += QStringLiteral(" record %1").arg(result.recordId);
        const double largest = largestMagnitude(result.distances);
        const double divisor = normalised && largest > 0 ? largest : 1.0;
        if (normalised) series.name += QStringLiteral(" (max %1)").arg(largest, 0, 'g', 4);
        // Several records: a colour a record; one record: a colour a variant.
        if (severalRecords) series.as(SeriesRole::Record, QString::number(result.recordId));
        else series.as(SeriesRole::Variant, QString::fromStdString(result.variant));
        for (size_t layer = 0; layer < result.distances.size(); ++layer) {
            series.x.append(double(layer));
            series.y.append(result.distances[layer] / divisor);
        }
        if (result.toxicLayer >= 0 && result.toxicLayer < int(result.distances.size()))
            series.markers.append({double(result.toxicLayer), result.distances[size_t(result.toxicLayer)] / divisor,
                                   QStringLiteral("toxic layer %1").arg(result.toxicLayer)});
        figure.series.append(series);
    }
    return figure;
}

FigureSpec lossFigure(const EditResult& result) {
    const QString method = QString::fromStdString(result.method);
    FigureSpec figure;
    figure.id = QStringLiteral("loss-%1").arg(method.isEmpty() ? QStringLiteral("edit") : method);
    figure.title = QStringLiteral("%1 loss").arg(method.toUpper());
    figure.xLabel = QStringLiteral("step");
    figure.yLabel = QStringLiteral("loss");
    figure.kind = FigureKind::Line;
    // SFT and DPO report one loss (total = edit, no constraint): drawing three copies would mislead.
    const bool hasParts = result.method == "dinm";
    FigureSeries total{QStringLiteral("total"), {}, {}, {}};
    FigureSeries edit{QStringLiteral("edit"), {}, {}, {}};
    FigureSeries constraint{QStringLiteral("constraint"), {}, {}, {}};
    for (const LossRecord& record : result.lossHistory) {
        total.x.append(record.step);
        total.y.append(record.total);
        edit.x.append(record.step);
        edit.y.append(record.edit);
        constraint.x.append(record.step);
        constraint.y.append(record.constraint);
    }
    figure.series.append(total);
    if (hasParts) {
        figure.series.append(edit);
        figure.series.append(constraint);
    }
    return figure;
}

FigureSpec parameterShiftFigure(const ParameterShiftMatrix& shift, const QString& method) {
    FigureSpec figure;
    figure.id = QStringLiteral("parameter-shift-%1").arg(method.isEmpty() ? QStringLiteral("edit") : method);
    figure.title = QStringLiteral("Relative parameter shift (%1)").arg(method);
    figure.xLabel = QStringLiteral("module");
    figure.yLabel = QStringLiteral("layer");
    figure.kind = FigureKind::Heatmap;
    HeatmapData& heatmap = figure.heatmap;
    heatmap.rows = int(shift.layers.size());
    heatmap.cols = int(shift.modules.size());
    heatmap.valueLabel = QStringLiteral("||ΔW|| / ||W||");
    heatmap.scale = ColorScale::Sequential;
    for (int layer : shift.layers) heatmap.rowLabels.append(QStringLiteral("L%1").arg(layer));
    for (const std::string& module : shift.modules) heatmap.colLabels.append(QString::fromStdString(module));
    if (shift.relative.size() != shift.layers.size())
        throw detox::Error("parameter shift", "relative", "one row per layer");
    for (size_t row = 0; row < shift.relative.size(); ++row) {
        if (shift.relative[row].size() != shift.modules.size())
            throw detox::Error("parameter shift", "relative[" + std::to_string(row) + "]", "one value per module");
        for (double value : shift.relative[row]) heatmap.values.append(value);
    }
    return figure;
}

FigureSpec metricsBarFigure(const QStringList& methods, const QStringList& metrics,
                            const QVector<QVector<double>>& values, const QString& title) {
    if (values.size() != methods.size())
        throw detox::Error("metrics", "values", "one row per method (" + std::to_string(methods.size()) + ")");
    FigureSpec figure;
    figure.id = QStringLiteral("metrics");
    figure.title = title;
    figure.xLabel = QStringLiteral("metric");
    figure.yLabel = QStringLiteral("value");
    figure.kind = FigureKind::Bar;
    figure.categories = metrics;
    for (int m = 0; m < methods.size(); ++m) {
        if (values[m].size() != metrics.size())
            throw detox::Error("metrics", "values[" + std::to_string(m) + "]",
                               "one value per metric (" + std::to_string(metrics.size()) + ")");
        FigureSeries series;
        series.name = methods[m];
        for (int k = 0; k < metrics.size(); ++k) {
            series.x.append(k);
            series.y.append(values[m][k]);
        }
        figure.series.append(series);
    }
    return figure;
}

FigureSpec metricsBarFigure(const QStringList& methods, const std::vector<SafetyMetrics>& metrics) {
    // A rate no series measured is named "(n/a)" and drawn as nothing (NaN), never as a bar at 0.
    QStringList names;
    for (const std::string& key : detox::safetyRateKeys()) {
        const bool measured = std::any_of(metrics.begin(), metrics.end(),
                                          [&](const SafetyMetrics& m) { return detox::safetyRate(m, key).has_value(); });
        names << QString::fromStdString(key) + (measured ? QString() : QStringLiteral(" (n/a)"));
    }
    QVector<QVector<double>> values;
    for (const SafetyMetrics& m : metrics) {
        QVector<double> row;
        for (const std::string& key : detox::safetyRateKeys())
            row.append(detox::safetyRate(m, key).value_or(std::numeric_limits<double>::quiet_NaN()));
        values.append(row);
    }
    FigureSpec figure = metricsBarFigure(methods, names, values, QStringLiteral("SafeEdit defense rates"));
    figure.yLabel = QStringLiteral("defense rate (%)");
    figure.yRange = std::pair(0.0, 100.0);
    return figure;
}

}  // namespace detox::ui
