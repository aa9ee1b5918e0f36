// Figures as plain data: what a plot shows, independent of any widget, so the GUI and the CLI
// render and export exactly the same figure. Only Qt Core types here (no widgets, no QCustomPlot).
#pragma once
#include <QJsonObject>
#include <QString>
#include <QStringList>
#include <QVector>

#include <limits>
#include <optional>
#include <utility>

namespace detox::ui {

enum class FigureKind { Line, Bar, Heatmap };

// A highlighted point on a series, e.g. the located "toxic layer".
struct FigureMarker {
    double x = 0;
    double y = 0;
    QString label;
    bool operator==(const FigureMarker&) const = default;
};

// What a series stands for. The role (with its key) picks the series' colour (series_colours.h), so a
// method keeps its colour in every figure whatever the series is called; the name is only a label.
enum class SeriesRole {
    Quantity,    // a measured quantity (loss parts, region inputs, measures): the palette in order
    Method,      // a method's result; key: the method's plot key ("dinm", "sft", "dpo", ...)
    Reference,   // the model before any edit ("before", "original", "loaded model")
    Record,      // one SafeEdit record's curve; key: the record id
    Variant,     // a locate variant; key: the variant ("masked", "easyedit")
};
QString seriesRoleName(SeriesRole role);   // "quantity", "method", "reference", "record", "variant"

// One line (Line) or one bar colour within each group (Bar). For bars, x holds category indices
// (0, 1, 2, ...) into FigureSpec::categories.
struct FigureSeries {
    QString name;
    QVector<double> x;
    QVector<double> y;
    QVector<FigureMarker> markers;
    SeriesRole role = SeriesRole::Quantity;
    QString roleKey;                 // Method: plot key; Record: record id; Variant: variant name
    bool operator==(const FigureSeries&) const = default;

    // Sets the role and its key (chainable: figure.series[i].as(SeriesRole::Method, "dinm")).
    FigureSeries& as(SeriesRole newRole, const QString& key = {}) {
        role = newRole;
        roleKey = key;
        return *this;
    }
};

// Sequential for magnitudes (viridis-like), diverging for signed differences (centred on zero).
enum class ColorScale { Sequential, Diverging };

// A rows x cols matrix shown as coloured cells; row 0 is drawn at the top.
struct HeatmapData {
    int rows = 0;
    int cols = 0;
    QVector<double> values;          // row-major, rows * cols
    QStringList rowLabels;           // empty or rows entries
    QStringList colLabels;           // empty or cols entries
    QString valueLabel;              // colour bar title
    ColorScale scale = ColorScale::Sequential;
    // Colour-scale range; NaN means "from the data". Set both to share one range across figures.
    double rangeMin = std::numeric_limits<double>::quiet_NaN();
    double rangeMax = std::numeric_limits<double>::quiet_NaN();

    double at(int row, int col) const { return values[row * cols + col]; }
    bool operator==(const HeatmapData& other) const;
};

struct FigureSpec {
    QString id;                      // file-name friendly, e.g. "toxic-layers-record-12"
    QString title;
    QString xLabel;
    QString yLabel;
    FigureKind kind = FigureKind::Line;
    QVector<FigureSeries> series;    // Line and Bar
    QStringList categories;          // categorical x tick labels (Bar; optional for Line)
    HeatmapData heatmap;             // Heatmap
    // A fixed y range (Line and Bar), e.g. 0-100 for defense rates; empty: from the data.
    std::optional<std::pair<double, double>> yRange;

    bool operator==(const FigureSpec&) const = default;

    QJsonObject toJson() const;
    // Throws detox::Error(source, field, expectation) on a malformed object; source names the file.
    static FigureSpec fromJson(const QJsonObject& object, const QString& source = QStringLiteral("figure"));

    // The figure's data as CSV. Line/Bar: "series,x,category,y" one row per point;
    // Heatmap: "row,col,row_label,col_label,value" one row per cell.
    QString toCsv() const;

    // Throws detox::Error when the data is inconsistent (x/y lengths, heatmap size, label counts).
    void validate(const QString& source = QStringLiteral("figure")) const;
};

// The colour range (min, max) a heatmap will use: its explicit range or the data's.
std::pair<double, double> heatmapRange(const HeatmapData& heatmap);

// Gives every heatmap figure in the list the same colour range (the union of their ranges), so
// before/after maps are comparable. Diverging maps get a range symmetric around zero.
void shareHeatmapRange(QVector<FigureSpec*> figures);

// A heatmap's columns [first, first + count) as a figure of its own, titled "<title>: tokens 701-763 of
// 763" (xLabel names the unit), with the whole map's colour range so the pages compare. Columns are
// clamped to the map; a map that fits in one page comes back unchanged.
FigureSpec heatmapPage(const FigureSpec& figure, int first, int count);
// The first column of each page of `count` columns.
QVector<int> heatmapPageStarts(const FigureSpec& figure, int count);

QString figureKindName(FigureKind kind);

}  // namespace detox::ui
