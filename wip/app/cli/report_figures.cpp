// FigureSpec builders for `detox report` (see report_figures.h). Read the JSON written by compare,
// locate and evaluate; every figure gets a file-name friendly id.
#include "report_figures.h"

namespace detox::cli {
namespace {

QString qs(const std::string& text) { return QString::fromStdString(text); }

ui::FigureSeries curveSeries(const nlohmann::json& curve, const QString& name) {
    ui::FigureSeries series;
    series.name = name;
    const auto& distances = curve.at("distances");
    for (size_t layer = 0; layer < distances.size(); ++layer) {
        series.x.push_back(static_cast<double>(layer));
        series.y.push_back(distances[layer].get<double>());
    }
    const int toxic = curve.value("toxic_layer", -1);
    if (toxic >= 0 && toxic < static_cast<int>(distances.size()))
        series.markers.push_back({double(toxic), distances[toxic].get<double>(), QStringLiteral("toxic layer")});
    return series;
}

double numberOr(const nlohmann::json& object, const char* key, double fallback) {
    auto it = object.find(key);
    return it != object.end() && it->is_number() ? it->get<double>() : fallback;
}

}  // namespace

const std::vector<std::string>& reportMetricKeys() {
    static const std::vector<std::string> keys{"DS",        "DG_onlyQ", "DG_otherA", "DG_otherQ",
                                               "DG_otherAQ", "DG_Avg",  "fluency"};
    return keys;
}

ui::FigureSpec distanceCurvesFigure(const nlohmann::json& method, const std::string& idPrefix) {
    const std::string name = method.at("method").get<std::string>();
    ui::FigureSpec figure;
    figure.id = qs(idPrefix + "distance-curves-" + name);
    figure.title = qs("Safe vs unsafe hidden-state distance per layer: before / after " + name);
    figure.xLabel = QStringLiteral("layer");
    figure.yLabel = QStringLiteral("distance");
    figure.kind = ui::FigureKind::Line;
    for (const auto& mechanism : method.at("mechanism")) {
        for (const auto& curve : mechanism.at("curves_before"))
            figure.series.push_back(curveSeries(curve, qs("before, id " + std::to_string(curve.at("id").get<int>()))));
        for (const auto& curve : mechanism.at("curves_after"))
            figure.series.push_back(curveSeries(curve, qs("after, id " + std::to_string(curve.at("id").get<int>()))));
    }
    return figure;
}

ui::FigureSpec lossCurvesFigure(const nlohmann::json& methods, const std::string& idPrefix) {
    ui::FigureSpec figure;
    figure.id = qs(idPrefix + "loss-curves");
    figure.title = QStringLiteral("Training loss per optimizer step");
    figure.xLabel = QStringLiteral("step");
    figure.yLabel = QStringLiteral("loss");
    figure.kind = ui::FigureKind::Line;
    for (const auto& method : methods) {
        const std::string name = method.at("method").get<std::string>();
        const auto& edits = method.at("edits");
        for (size_t i = 0; i < edits.size(); ++i) {
            ui::FigureSeries series;
            series.name = qs(edits.size() > 1 ? name + " #" + std::to_string(i + 1) : name);
            for (const auto& record : edits[i].at("loss_history")) {
                series.x.push_back(record.at("step").get<double>());
                series.y.push_back(record.at("loss").get<double>());
            }
            figure.series.push_back(series);
        }
    }
    return figure;
}

ui::FigureSpec parameterShiftFigure(const nlohmann::json& method, const std::string& idPrefix) {
    const std::string name = method.at("method").get<std::string>();
    ui::FigureSpec figure;
    figure.id = qs(idPrefix + "parameter-shift-" + name);
    figure.title = qs("Relative parameter shift ||W' - W|| / ||W||: " + name);
    figure.xLabel = QStringLiteral("module");
    figure.yLabel = QStringLiteral("layer");
    figure.kind = ui::FigureKind::Heatmap;
    ui::HeatmapData& map = figure.heatmap;
    map.valueLabel = QStringLiteral("relative shift");
    const auto& mechanisms = method.at("mechanism");
    for (size_t m = 0; m < mechanisms.size(); ++m) {
        const auto& shift = mechanisms[m].at("parameter_shift");
        const auto& relative = shift.at("relative");
        if (m == 0) {
            map.rows = static_cast<int>(relative.size());
            map.cols = map.rows > 0 ? static_cast<int>(relative[0].size()) : 0;
            map.values = QVector<double>(map.rows * map.cols, 0.0);
            for (const auto& layer : shift.at("layers")) map.rowLabels << QString::number(layer.get<int>());
            for (const auto& module : shift.at("modules")) map.colLabels << qs(module.get<std::string>());
        }
        // Mean over the method's edits (DINM edits each instance separately).
        for (int r = 0; r < map.rows; ++r)
            for (int c = 0; c < map.cols; ++c)
                map.values[r * map.cols + c] += relative[r][c].get<double>() / static_cast<double>(mechanisms.size());
    }
    return figure;
}

ui::FigureSpec metricsBarsFigure(const std::vector<std::pair<std::string, nlohmann::json>>& namedMetrics,
                                 const std::string& id, const std::string& title) {
    static const std::vector<std::string> keys{"DS", "DG_onlyQ", "DG_otherA", "DG_otherQ", "DG_otherAQ", "DG_Avg"};
    ui::FigureSpec figure;
    figure.id = qs(id);
    figure.title = qs(title);
    figure.xLabel = QStringLiteral("metric");
    figure.yLabel = QStringLiteral("defense rate (%)");
    figure.kind = ui::FigureKind::Bar;
    for (const auto& key : keys) figure.categories << qs(key);
    for (const auto& [name, metrics] : namedMetrics) {
        ui::FigureSeries series;
        series.name = qs(name);
        for (size_t k = 0; k < keys.size(); ++k) {
            series.x.push_back(static_cast<double>(k));
            series.y.push_back(numberOr(metrics, keys[k].c_str(), 0));
        }
        figure.series.push_back(series);
    }
    return figure;
}

ui::FigureSpec activationShiftFigure(const nlohmann::json& methods, const std::string& idPrefix) {
    ui::FigureSpec figure;
    figure.id = qs(idPrefix + "activation-shift");
    figure.title = QStringLiteral("Toxic region: activation norm change and toxicity reduction");
    figure.xLabel = QStringLiteral("method");
    figure.yLabel = QStringLiteral("value");
    figure.kind = ui::FigureKind::Bar;
    ui::FigureSeries normChange{QStringLiteral("relative activation norm change"), {}, {}, {}};
    ui::FigureSeries reduction{QStringLiteral("region toxicity reduction"), {}, {}, {}};
    for (size_t i = 0; i < methods.size(); ++i) {
        figure.categories << qs(methods[i].at("method").get<std::string>());
        double change = 0, reduced = 0;
        const auto& mechanisms = methods[i].at("mechanism");
        for (const auto& m : mechanisms) {
            change += numberOr(m.at("activation_shift"), "relative_norm_change", 0);
            reduced += numberOr(m, "toxicity_reduction", 0);
        }
        const double count = mechanisms.empty() ? 1.0 : static_cast<double>(mechanisms.size());
        normChange.x.push_back(double(i));
        normChange.y.push_back(change / count);
        reduction.x.push_back(double(i));
        reduction.y.push_back(reduced / count);
    }
    figure.series = {normChange, reduction};
    return figure;
}

ui::FigureSpec locateCurvesFigure(const nlohmann::json& locateResults, const std::string& id) {
    ui::FigureSpec figure;
    figure.id = qs(id);
    figure.title = QStringLiteral("Toxic-layer location: safe vs unsafe distance per layer");
    figure.xLabel = QStringLiteral("layer");
    figure.yLabel = QStringLiteral("distance");
    figure.kind = ui::FigureKind::Line;
    for (const auto& curve : locateResults)
        figure.series.push_back(curveSeries(curve, qs("id " + std::to_string(curve.at("id").get<int>()))));
    return figure;
}

}  // namespace detox::cli
