#include "detox_ui/figures/figures_causal.h"

#include <algorithm>
#include <functional>
#include <cmath>
#include <limits>

#include "detox/error.h"

namespace detox::ui {

namespace {

constexpr double kMissing = std::numeric_limits<double>::quiet_NaN();

const std::vector<std::optional<double>>& curveOf(const PatchingResult& result) {
    return result.records.size() == 1 ? result.records.front().layerRecovered : result.meanLayerRecovered;
}

// The layer whose curve value is largest; nullopt when no layer was measured.
std::optional<int> bestLayerOf(const std::vector<std::optional<double>>& curve) {
    std::optional<int> best;
    for (size_t layer = 0; layer < curve.size(); ++layer)
        if (curve[layer] && (!best || *curve[layer] > *curve[size_t(*best)])) best = int(layer);
    return best;
}

// A column label's token, at most 8 characters: chat-template tokens ("<|im_start|>") would overlap.
QString elidedToken(const QString& token) { return token.size() <= 8 ? token : token.left(7) + QChar(0x2026); }

// A finite value as it is, anything else as NaN: the renderer labels it "n/a" instead of drawing a bar.
double finiteOrMissing(double value) { return std::isfinite(value) ? value : kMissing; }

using AblationValue = std::function<double(const AblationRecordResult&)>;

// A bar figure with a group per ablation (categories = labels) and one series per (name, value).
FigureSpec ablationBars(const QStringList& labels, const std::vector<AblationRecordResult>& records,
                        const QVector<QPair<QString, AblationValue>>& values) {
    if (labels.size() != int(records.size()))
        throw detox::Error("ablation figure", "labels", "one label per ablation (" + std::to_string(records.size()) + ")");
    FigureSpec figure;
    figure.kind = FigureKind::Bar;
    figure.categories = labels;
    for (const auto& [name, value] : values) {
        FigureSeries series;
        series.name = name;
        for (size_t i = 0; i < records.size(); ++i) {
            series.x.append(double(i));
            series.y.append(finiteOrMissing(value(records[i])));
        }
        figure.series.append(series);
    }
    return figure;
}

QString seriesName(const PatchingResult& result) {
    const QString point = QString::fromStdString(result.point);
    if (result.records.size() <= 1) return point;
    return QStringLiteral("%1 (mean of %2 records)").arg(point).arg(result.records.size());
}

}  // namespace

std::optional<double> patchingCurveValue(const PatchingResult& result, int layer) {
    const auto& curve = curveOf(result);
    return layer >= 0 && layer < int(curve.size()) ? curve[size_t(layer)] : std::nullopt;
}

FigureSpec patchingLayerFigure(const std::vector<PatchingResult>& results, std::optional<int> distanceLayer) {
    FigureSpec figure;
    const bool oneRecord = !results.empty() && results.front().records.size() == 1;
    const int recordId = oneRecord ? results.front().records.front().recordId : 0;
    figure.id = oneRecord ? QStringLiteral("patching-layers-record-%1").arg(recordId) : QStringLiteral("patching-layers");
    figure.title = oneRecord ? QStringLiteral("Activation patching per layer (record %1)").arg(recordId)
                             : QStringLiteral("Activation patching per layer");
    figure.xLabel = QStringLiteral("layer");
    figure.yLabel = QStringLiteral("recovered fraction of the gap");
    figure.kind = FigureKind::Line;
    for (const PatchingResult& result : results) {
        FigureSeries series;
        series.name = seriesName(result);
        series.as(SeriesRole::Quantity, QString::fromStdString(result.point));
        const auto& curve = curveOf(result);
        for (size_t layer = 0; layer < curve.size(); ++layer) {
            series.x.append(double(layer));
            series.y.append(curve[layer].value_or(kMissing));
        }
        figure.series.append(series);
    }
    if (figure.series.isEmpty()) return figure;
    // The criteria's picks on the first curve: where patching recovers most, where the distance peaks.
    FigureSeries& first = figure.series.front();
    if (const auto best = bestLayerOf(curveOf(results.front())))
        first.markers.append({double(*best), first.y[*best], QStringLiteral("patching picks layer %1").arg(*best)});
    if (distanceLayer && *distanceLayer >= 0 && *distanceLayer < first.y.size() && !std::isnan(first.y[*distanceLayer]))
        first.markers.append({double(*distanceLayer), first.y[*distanceLayer],
                              QStringLiteral("distance picks layer %1").arg(*distanceLayer)});
    return figure;
}

FigureSpec patchingMapFigure(const PatchingRecordResult& record, const QString& point) {
    FigureSpec figure;
    figure.id = QStringLiteral("patching-map-%1-record-%2").arg(QString(point).replace('_', '-')).arg(record.recordId);
    figure.title = QStringLiteral("Patching %1 per position (record %2)").arg(point).arg(record.recordId);
    const bool withTokens = !record.positionTokens.empty() && record.positionTokens.size() == record.positions.size();
    figure.xLabel = withTokens ? QStringLiteral("prompt position (from the end) and the adversarial prompt's token")
                               : QStringLiteral("prompt position (from the end; tokens not recorded in this result)");
    figure.yLabel = QStringLiteral("layer");
    figure.kind = FigureKind::Heatmap;
    HeatmapData& heatmap = figure.heatmap;
    heatmap.rows = int(record.recovered.size());
    heatmap.cols = int(record.positions.size());
    heatmap.scale = ColorScale::Diverging;
    heatmap.valueLabel = QStringLiteral("recovered fraction");
    for (int layer = 0; layer < heatmap.rows; ++layer) heatmap.rowLabels << QStringLiteral("L%1").arg(layer);
    for (int column = 0; column < heatmap.cols; ++column) {
        const QString offset = QString::number(record.positions[size_t(column)]);
        heatmap.colLabels << (withTokens ? offset + '\n' + elidedToken(QString::fromStdString(record.positionTokens[size_t(column)]))
                                         : offset);
    }
    double largest = 1.0;  // full recovery keeps its colour; an overshoot widens the range
    for (const auto& row : record.recovered) {
        for (int column = 0; column < heatmap.cols; ++column) {
            const std::optional<double> value = column < int(row.size()) ? row[size_t(column)] : std::nullopt;
            heatmap.values.append(value.value_or(kMissing));
            if (value) largest = std::max(largest, std::abs(*value));
        }
    }
    heatmap.rangeMin = -largest;
    heatmap.rangeMax = largest;
    return figure;
}

FigureSpec ablationMetricFigure(const QStringList& labels, const std::vector<AblationRecordResult>& records) {
    FigureSpec figure = ablationBars(
        labels, records,
        {{QStringLiteral("without ablation"), [](const AblationRecordResult& r) { return r.before.score.metric(); }},
         {QStringLiteral("with ablation"), [](const AblationRecordResult& r) { return r.after.score.metric(); }}});
    figure.id = QStringLiteral("ablation-metric");
    figure.title = QStringLiteral("Ablation: log p(safe) - log p(unsafe) without and with it");
    figure.xLabel = QStringLiteral("ablation");
    figure.yLabel = QStringLiteral("log p(safe) - log p(unsafe)");
    return figure;
}

FigureSpec ablationTermsFigure(const QStringList& labels, const std::vector<AblationRecordResult>& records) {
    FigureSpec figure = ablationBars(
        labels, records,
        {{QStringLiteral("metric change"), [](const AblationRecordResult& r) { return r.metricChange(); }},
         {QStringLiteral("log p(safe) change"), [](const AblationRecordResult& r) { return r.logPSafeChange(); }},
         {QStringLiteral("log p(unsafe) change"), [](const AblationRecordResult& r) { return r.logPUnsafeChange(); }}});
    figure.id = QStringLiteral("ablation-terms");
    figure.title = QStringLiteral("Ablation: change of the metric and of each term (with - without)");
    figure.xLabel = QStringLiteral("ablation");
    figure.yLabel = QStringLiteral("change (natural log)");
    return figure;
}

}  // namespace detox::ui
