#include "detox_ui/figures/figure.h"

#include <QJsonArray>

#include <algorithm>
#include <cmath>
#include <tuple>

#include "detox/error.h"

namespace detox::ui {

namespace {

[[noreturn]] void fail(const QString& source, const QString& field, const QString& expected) {
    throw detox::Error(source.toStdString(), field.toStdString(), expected.toStdString());
}

QJsonArray toArray(const QVector<double>& values) {
    QJsonArray array;
    for (double value : values) array.append(value);
    return array;
}

QJsonArray toArray(const QStringList& values) {
    QJsonArray array;
    for (const QString& value : values) array.append(value);
    return array;
}

// JSON has no NaN; an unset range is written as null and read back as NaN.
QJsonValue optionalNumber(double value) { return std::isnan(value) ? QJsonValue() : QJsonValue(value); }

QString requireString(const QJsonObject& object, const QString& key, const QString& source, const QString& path,
                      bool required = false) {
    const QJsonValue value = object.value(key);
    if (value.isUndefined() && !required) return {};
    if (!value.isString()) fail(source, path + key, "expected a string");
    return value.toString();
}

QVector<double> requireNumbers(const QJsonObject& object, const QString& key, const QString& source,
                               const QString& path) {
    const QJsonValue value = object.value(key);
    if (value.isUndefined()) return {};
    if (!value.isArray()) fail(source, path + key, "expected a list of numbers");
    QVector<double> numbers;
    const QJsonArray array = value.toArray();
    numbers.reserve(array.size());
    for (int i = 0; i < array.size(); ++i) {
        // null stands for a missing value (NaN), e.g. a layer that was not measured.
        if (array[i].isNull()) {
            numbers.append(std::numeric_limits<double>::quiet_NaN());
            continue;
        }
        if (!array[i].isDouble()) fail(source, QString("%1%2[%3]").arg(path, key).arg(i), "expected a number");
        numbers.append(array[i].toDouble());
    }
    return numbers;
}

QJsonArray toNullableArray(const QVector<double>& values) {
    QJsonArray array;
    for (double value : values) array.append(optionalNumber(value));
    return array;
}

QStringList requireStrings(const QJsonObject& object, const QString& key, const QString& source,
                           const QString& path) {
    const QJsonValue value = object.value(key);
    if (value.isUndefined()) return {};
    if (!value.isArray()) fail(source, path + key, "expected a list of strings");
    QStringList strings;
    const QJsonArray array = value.toArray();
    for (int i = 0; i < array.size(); ++i) {
        if (!array[i].isString()) fail(source, QString("%1%2[%3]").arg(path, key).arg(i), "expected a string");
        strings.append(array[i].toString());
    }
    return strings;
}

double optionalRange(const QJsonObject& object, const QString& key, const QString& source, const QString& path) {
    const QJsonValue value = object.value(key);
    if (value.isUndefined() || value.isNull()) return std::numeric_limits<double>::quiet_NaN();
    if (!value.isDouble()) fail(source, path + key, "expected a number or null");
    return value.toDouble();
}

FigureKind kindFromName(const QString& name, const QString& source) {
    if (name == "line") return FigureKind::Line;
    if (name == "bar") return FigureKind::Bar;
    if (name == "heatmap") return FigureKind::Heatmap;
    fail(source, "kind", "expected \"line\", \"bar\" or \"heatmap\"");
}

constexpr SeriesRole kSeriesRoles[] = {SeriesRole::Quantity, SeriesRole::Method, SeriesRole::Reference,
                                       SeriesRole::Record, SeriesRole::Variant};

// An absent role (empty name) is a quantity.
SeriesRole roleFromName(const QString& name, const QString& source, const QString& path) {
    if (name.isEmpty()) return SeriesRole::Quantity;
    for (SeriesRole role : kSeriesRoles)
        if (seriesRoleName(role) == name) return role;
    fail(source, path, "expected \"quantity\", \"method\", \"reference\", \"record\" or \"variant\"");
}

QString csvField(const QString& text) {
    if (!text.contains(',') && !text.contains('"') && !text.contains('\n')) return text;
    QString quoted = text;
    quoted.replace('"', "\"\"");
    return '"' + quoted + '"';
}

QString csvNumber(double value) { return std::isnan(value) ? QString() : QString::number(value, 'g', 10); }

bool sameNumber(double a, double b) { return (std::isnan(a) && std::isnan(b)) || a == b; }

bool sameNumbers(const QVector<double>& a, const QVector<double>& b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), sameNumber);
}

}  // namespace

bool HeatmapData::operator==(const HeatmapData& other) const {
    return rows == other.rows && cols == other.cols && sameNumbers(values, other.values) &&
           rowLabels == other.rowLabels && colLabels == other.colLabels && valueLabel == other.valueLabel &&
           scale == other.scale && sameNumber(rangeMin, other.rangeMin) && sameNumber(rangeMax, other.rangeMax);
}

QString seriesRoleName(SeriesRole role) {
    switch (role) {
    case SeriesRole::Quantity: return "quantity";
    case SeriesRole::Method: return "method";
    case SeriesRole::Reference: return "reference";
    case SeriesRole::Record: return "record";
    case SeriesRole::Variant: return "variant";
    }
    return "quantity";
}

QString figureKindName(FigureKind kind) {
    switch (kind) {
    case FigureKind::Line: return "line";
    case FigureKind::Bar: return "bar";
    case FigureKind::Heatmap: return "heatmap";
    }
    return "line";
}

QJsonObject FigureSpec::toJson() const {
    QJsonObject object{{"id", id}, {"title", title}, {"x_label", xLabel}, {"y_label", yLabel},
                       {"kind", figureKindName(kind)}};
    if (kind == FigureKind::Heatmap) {
        object["heatmap"] = QJsonObject{
            {"rows", heatmap.rows},
            {"cols", heatmap.cols},
            {"values", toNullableArray(heatmap.values)},
            {"row_labels", toArray(heatmap.rowLabels)},
            {"col_labels", toArray(heatmap.colLabels)},
            {"value_label", heatmap.valueLabel},
            {"scale", heatmap.scale == ColorScale::Diverging ? "diverging" : "sequential"},
            {"range_min", optionalNumber(heatmap.rangeMin)},
            {"range_max", optionalNumber(heatmap.rangeMax)},
        };
        return object;
    }
    QJsonArray seriesArray;
    for (const FigureSeries& one : series) {
        QJsonArray markers;
        for (const FigureMarker& marker : one.markers)
            markers.append(QJsonObject{{"x", marker.x}, {"y", marker.y}, {"label", marker.label}});
        QJsonObject entry{{"name", one.name},           {"x", toArray(one.x)}, {"y", toNullableArray(one.y)},
                          {"markers", markers},         {"role", seriesRoleName(one.role)}};
        if (!one.roleKey.isEmpty()) entry["role_key"] = one.roleKey;
        seriesArray.append(entry);
    }
    object["series"] = seriesArray;
    if (!categories.isEmpty()) object["categories"] = toArray(categories);
    if (yRange) object["y_range"] = QJsonArray{yRange->first, yRange->second};
    return object;
}

FigureSpec FigureSpec::fromJson(const QJsonObject& object, const QString& source) {
    FigureSpec spec;
    spec.id = requireString(object, "id", source, "", true);
    spec.title = requireString(object, "title", source, "");
    spec.xLabel = requireString(object, "x_label", source, "");
    spec.yLabel = requireString(object, "y_label", source, "");
    spec.kind = kindFromName(requireString(object, "kind", source, "", true), source);
    spec.categories = requireStrings(object, "categories", source, "");

    if (spec.kind == FigureKind::Heatmap) {
        const QJsonValue value = object.value("heatmap");
        if (!value.isObject()) fail(source, "heatmap", "expected an object for a heatmap figure");
        const QJsonObject map = value.toObject();
        const QString path = "heatmap.";
        if (!map.value("rows").isDouble() || map.value("rows").toInt() < 0) fail(source, path + "rows", "expected a count");
        if (!map.value("cols").isDouble() || map.value("cols").toInt() < 0) fail(source, path + "cols", "expected a count");
        spec.heatmap.rows = map.value("rows").toInt();
        spec.heatmap.cols = map.value("cols").toInt();
        spec.heatmap.values = requireNumbers(map, "values", source, path);
        spec.heatmap.rowLabels = requireStrings(map, "row_labels", source, path);
        spec.heatmap.colLabels = requireStrings(map, "col_labels", source, path);
        spec.heatmap.valueLabel = requireString(map, "value_label", source, path);
        const QString scale = requireString(map, "scale", source, path);
        if (!scale.isEmpty() && scale != "sequential" && scale != "diverging")
            fail(source, path + "scale", "expected \"sequential\" or \"diverging\"");
        spec.heatmap.scale = scale == "diverging" ? ColorScale::Diverging : ColorScale::Sequential;
        spec.heatmap.rangeMin = optionalRange(map, "range_min", source, path);
        spec.heatmap.rangeMax = optionalRange(map, "range_max", source, path);
    } else {
        const QJsonValue value = object.value("series");
        if (!value.isUndefined() && !value.isArray()) fail(source, "series", "expected a list of series");
        const QJsonArray seriesArray = value.toArray();
        for (int i = 0; i < seriesArray.size(); ++i) {
            const QString path = QString("series[%1].").arg(i);
            if (!seriesArray[i].isObject()) fail(source, QString("series[%1]").arg(i), "expected an object");
            const QJsonObject entry = seriesArray[i].toObject();
            FigureSeries one;
            one.name = requireString(entry, "name", source, path);
            one.x = requireNumbers(entry, "x", source, path);
            one.y = requireNumbers(entry, "y", source, path);
            // Figures written before series had roles have none: they read as quantities.
            one.role = roleFromName(requireString(entry, "role", source, path), source, path + "role");
            one.roleKey = requireString(entry, "role_key", source, path);
            const QJsonValue markers = entry.value("markers");
            if (!markers.isUndefined() && !markers.isArray()) fail(source, path + "markers", "expected a list");
            const QJsonArray markerArray = markers.toArray();
            for (int m = 0; m < markerArray.size(); ++m) {
                const QString markerPath = QString("%1markers[%2].").arg(path).arg(m);
                const QJsonObject markerObject = markerArray[m].toObject();
                if (!markerObject.value("x").isDouble()) fail(source, markerPath + "x", "expected a number");
                if (!markerObject.value("y").isDouble()) fail(source, markerPath + "y", "expected a number");
                one.markers.append({markerObject.value("x").toDouble(), markerObject.value("y").toDouble(),
                                    requireString(markerObject, "label", source, markerPath)});
            }
            spec.series.append(one);
        }
        const QVector<double> range = requireNumbers(object, "y_range", source, "");
        if (!range.isEmpty()) {
            if (range.size() != 2 || !(range[0] < range[1])) fail(source, "y_range", "expected [low, high] with low < high");
            spec.yRange = std::pair(range[0], range[1]);
        }
    }
    spec.validate(source);
    return spec;
}

void FigureSpec::validate(const QString& source) const {
    if (kind == FigureKind::Heatmap) {
        if (heatmap.values.size() != qsizetype(heatmap.rows) * heatmap.cols)
            fail(source, "heatmap.values",
                 QString("expected rows*cols = %1 values, found %2").arg(heatmap.rows * heatmap.cols).arg(heatmap.values.size()));
        if (!heatmap.rowLabels.isEmpty() && heatmap.rowLabels.size() != heatmap.rows)
            fail(source, "heatmap.row_labels", QString("expected %1 labels").arg(heatmap.rows));
        if (!heatmap.colLabels.isEmpty() && heatmap.colLabels.size() != heatmap.cols)
            fail(source, "heatmap.col_labels", QString("expected %1 labels").arg(heatmap.cols));
        return;
    }
    for (int i = 0; i < series.size(); ++i) {
        if (series[i].x.size() != series[i].y.size())
            fail(source, QString("series[%1]").arg(i), "expected x and y of the same length");
        if (kind == FigureKind::Bar)
            for (double x : series[i].x)
                if (x < 0 || x >= categories.size() || x != std::floor(x))
                    fail(source, QString("series[%1].x").arg(i), "expected category indices into \"categories\"");
    }
}

QString FigureSpec::toCsv() const {
    QString csv;
    if (kind == FigureKind::Heatmap) {
        csv += "row,col,row_label,col_label,value\n";
        for (int r = 0; r < heatmap.rows; ++r)
            for (int c = 0; c < heatmap.cols; ++c)
                csv += QString("%1,%2,%3,%4,%5\n")
                           .arg(r)
                           .arg(c)
                           .arg(csvField(heatmap.rowLabels.value(r)), csvField(heatmap.colLabels.value(c)),
                                csvNumber(heatmap.at(r, c)));
        return csv;
    }
    csv += "series,x,category,y\n";
    for (const FigureSeries& one : series)
        for (int i = 0; i < one.x.size(); ++i) {
            const int index = int(one.x[i]);
            const QString category = (one.x[i] == index && index >= 0 && index < categories.size()) ? categories[index] : QString();
            csv += QString("%1,%2,%3,%4\n").arg(csvField(one.name), csvNumber(one.x[i]), csvField(category), csvNumber(one.y[i]));
        }
    return csv;
}

std::pair<double, double> heatmapRange(const HeatmapData& heatmap) {
    double low = std::numeric_limits<double>::infinity();
    double high = -low;
    for (double value : heatmap.values) {
        if (std::isnan(value)) continue;
        low = std::min(low, value);
        high = std::max(high, value);
    }
    if (!std::isnan(heatmap.rangeMin)) low = heatmap.rangeMin;
    if (!std::isnan(heatmap.rangeMax)) high = heatmap.rangeMax;
    if (!std::isfinite(low) || !std::isfinite(high)) return {0.0, 1.0};
    if (heatmap.scale == ColorScale::Diverging && std::isnan(heatmap.rangeMin) && std::isnan(heatmap.rangeMax)) {
        const double extent = std::max(std::abs(low), std::abs(high));
        low = -extent;
        high = extent;
    }
    if (low == high) high = low + 1.0;  // a constant map still needs a non-empty scale
    return {low, high};
}

FigureSpec heatmapPage(const FigureSpec& figure, int first, int count) {
    const HeatmapData& whole = figure.heatmap;
    if (figure.kind != FigureKind::Heatmap || count <= 0 || whole.cols <= count) return figure;
    first = std::clamp(first, 0, whole.cols - 1);
    const int last = std::min(whole.cols, first + count);  // one past
    FigureSpec page = figure;
    HeatmapData& part = page.heatmap;
    part.cols = last - first;
    part.values.clear();
    for (int row = 0; row < whole.rows; ++row)
        for (int col = first; col < last; ++col) part.values.append(whole.at(row, col));
    if (!whole.colLabels.isEmpty()) part.colLabels = whole.colLabels.mid(first, last - first);
    std::tie(part.rangeMin, part.rangeMax) = heatmapRange(whole);
    const QString unit = figure.xLabel.isEmpty() ? QStringLiteral("columns") : figure.xLabel + QStringLiteral("s");
    page.title = QStringLiteral("%1: %2 %3-%4 of %5").arg(figure.title, unit).arg(first + 1).arg(last).arg(whole.cols);
    page.id = QStringLiteral("%1-%2-%3").arg(figure.id).arg(first + 1).arg(last);
    return page;
}

QVector<int> heatmapPageStarts(const FigureSpec& figure, int count) {
    QVector<int> starts{0};
    if (figure.kind != FigureKind::Heatmap || count <= 0) return starts;
    for (int first = count; first < figure.heatmap.cols; first += count) starts.append(first);
    return starts;
}

void shareHeatmapRange(QVector<FigureSpec*> figures) {
    double low = std::numeric_limits<double>::infinity();
    double high = -low;
    bool diverging = false;
    for (const FigureSpec* figure : figures) {
        if (figure->kind != FigureKind::Heatmap) continue;
        const auto [figureLow, figureHigh] = heatmapRange(figure->heatmap);
        low = std::min(low, figureLow);
        high = std::max(high, figureHigh);
        diverging = diverging || figure->heatmap.scale == ColorScale::Diverging;
    }
    if (!std::isfinite(low)) return;
    if (diverging) {
        const double extent = std::max(std::abs(low), std::abs(high));
        low = -extent;
        high = extent;
    }
    for (FigureSpec* figure : figures) {
        if (figure->kind != FigureKind::Heatmap) continue;
        figure->heatmap.rangeMin = low;
        figure->heatmap.rangeMax = high;
    }
}

}  // namespace detox::ui
