#include "detox_ui/figures/plot_render.h"

#include <QApplication>
#include <QBuffer>
#include <QDir>
#include <QFileInfo>
#include <QJsonDocument>
#include <QSvgGenerator>
#include <qcustomplot.h>

#include <algorithm>
#include <cmath>
#include <iterator>
#include <limits>
#include <tuple>
#include <vector>
#include <filesystem>

#include "detox/error.h"
#include "detox/fileio.h"
#include "detox_ui/figures/series_colours.h"

namespace detox::ui {

namespace {

// Restores the plot to one empty axis rect: removes plottables, items, titles and colour scales
// left by a previous figure, and resets tickers and axis directions.
void resetPlot(QCustomPlot* plot) {
    plot->clearPlottables();
    plot->clearItems();
    QCPAxisRect* rect = plot->axisRect();
    QCPLayoutGrid* layout = plot->plotLayout();
    // A bar figure moved the legend above the axis rect: back into the rect's inset before clearing.
    if (plot->legend->layout() != rect->insetLayout()) {
        if (plot->legend->layout()) plot->legend->layout()->take(plot->legend);
        rect->insetLayout()->addElement(plot->legend, Qt::AlignTop | Qt::AlignRight);
        plot->legend->setWrap(0);
        plot->legend->setFillOrder(QCPLayoutGrid::foRowsFirst, true);
    }
    layout->take(rect);
    layout->clear();
    layout->addElement(0, 0, rect);
    rect->setMarginGroup(QCP::MarginSides(QCP::msTop) | QCP::msBottom, nullptr);
    qDeleteAll(plot->findChildren<QCPMarginGroup*>(Qt::FindDirectChildrenOnly));
    qDeleteAll(plot->findChildren<QCPBarsGroup*>(Qt::FindDirectChildrenOnly));
    for (QCPAxis* axis : {plot->xAxis, plot->yAxis}) {
        axis->setTicker(QSharedPointer<QCPAxisTicker>(new QCPAxisTicker));
        axis->setRangeReversed(false);
        axis->setTickLabelRotation(0);
        axis->setLabel({});
        axis->grid()->setVisible(true);
        axis->grid()->setSubGridVisible(false);
    }
    plot->legend->setVisible(false);
    plot->legend->clearItems();
}

void addTitle(QCustomPlot* plot, const QString& title) {
    if (title.isEmpty()) return;
    plot->plotLayout()->insertRow(0);
    auto* element = new QCPTextElement(plot, title);
    QFont font = plot->font();
    font.setPointSizeF(font.pointSizeF() * 1.15);
    font.setBold(true);
    element->setFont(font);
    element->setObjectName("title");
    element->setProperty("detoxFullText", title);  // fitTextsToLayout wraps it to the plot's width
    plot->plotLayout()->addElement(0, 0, element);
}

QSharedPointer<QCPAxisTickerText> textTicker(const QStringList& labels, int maxLabels) {
    QSharedPointer<QCPAxisTickerText> ticker(new QCPAxisTickerText);
    // With many labels show every k-th so they stay legible.
    const int step = std::max(1, int(std::ceil(double(labels.size()) / maxLabels)));
    for (int i = 0; i < labels.size(); i += step) ticker->addTick(i, labels[i]);
    return ticker;
}

// A marker's label sits above it, centred; at either end of the x range it leans inwards so the axis
// rect does not cut it off (the toxic layer is often the last one).
Qt::Alignment markerLabelAlignment(const FigureSpec& figure, double x) {
    double first = x, last = x;
    for (const FigureSeries& series : figure.series)
        for (double value : series.x) first = std::min(first, value), last = std::max(last, value);
    const Qt::Alignment horizontal = first == last ? Qt::AlignHCenter
                                     : x >= last   ? Qt::AlignRight
                                     : x <= first  ? Qt::AlignLeft
                                                   : Qt::AlignHCenter;
    return horizontal | Qt::AlignBottom;
}

// Markers at one x share one label (over the highest of them), so overlaid curves with the same toxic
// layer do not print "toxic layer 5" on top of each other: "toxic layer 5 (masked, easyedit)".
struct MarkerLabel {
    double x = 0, y = 0;
    QString label;
    QStringList seriesNames;
};

QVector<MarkerLabel> markerLabels(const FigureSpec& figure) {
    QVector<MarkerLabel> labels;
    for (const FigureSeries& series : figure.series)
        for (const FigureMarker& marker : series.markers) {
            if (marker.label.isEmpty()) continue;
            auto same = std::find_if(labels.begin(), labels.end(), [&](const MarkerLabel& l) { return l.x == marker.x; });
            if (same == labels.end()) {
                labels.append({marker.x, marker.y, marker.label, {series.name}});
                continue;
            }
            same->y = std::max(same->y, marker.y);
            if (!same->label.split(QStringLiteral(" / ")).contains(marker.label)) same->label += " / " + marker.label;
            same->seriesNames.append(series.name);
        }
    for (MarkerLabel& label : labels)
        if (label.seriesNames.size() > 1) {
            const int shown = std::min<int>(3, int(label.seriesNames.size()));
            label.label += QStringLiteral(" (%1%2)").arg(label.seriesNames.mid(0, shown).join(QStringLiteral(", ")),
                                                        label.seriesNames.size() > shown
                                                            ? QStringLiteral(" +%1").arg(label.seriesNames.size() - shown)
                                                            : QString());
        }
    return labels;
}

// Each marker is a diamond in its curve's colour (outlined in the marker colour), kept out of the
// legend: the legend has one entry per curve, the label beside the diamond says what it marks.
void addMarkers(QCustomPlot* plot, const FigureSpec& figure, const QVector<QColor>& colours, const PlotPalette& palette) {
    for (int i = 0; i < figure.series.size(); ++i) {
        if (figure.series[i].markers.isEmpty()) continue;
        QCPGraph* graph = plot->addGraph();
        graph->setName(QObject::tr("markers of %1").arg(figure.series[i].name));
        graph->setLineStyle(QCPGraph::lsNone);
        graph->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDiamond, QPen(palette.marker, 1.5), colours[i], 12));
        graph->setProperty("detoxMarker", true);
        graph->removeFromLegend();
        for (const FigureMarker& marker : figure.series[i].markers) graph->addData(marker.x, marker.y);
    }
    for (const MarkerLabel& label : markerLabels(figure)) {
        auto* text = new QCPItemText(plot);
        text->position->setCoords(label.x, label.y);
        text->setPositionAlignment(markerLabelAlignment(figure, label.x));
        text->setPadding(QMargins(0, 0, 0, 8));
        text->setText(label.label);
        text->setColor(palette.marker);
        text->setProperty("detoxMarkerLabel", true);
        text->setProperty("detoxFullText", label.label);  // fitTextsToLayout wraps it to the axis rect
        text->setClipToAxisRect(false);                      // a wrapped label may reach above the rect
    }
}

// Samples along each marker label's estimated extent (it is drawn above its marker, leaning inwards at the
// ends of the x range), so the legend keeps off the labels as off the data.
void addMarkerLabelSamples(QCustomPlot* plot, const FigureSpec& figure, std::vector<QPointF>& samples) {
    const QCPRange x = plot->xAxis->range(), y = plot->yAxis->range();
    const double rectWidth = plot->width() > 200 ? plot->width() - 100.0 : 700.0;  // before the first layout
    const QFontMetricsF metrics(plot->font());
    for (const MarkerLabel& label : markerLabels(figure)) {
        const double width = std::min(1.0, metrics.horizontalAdvance(label.label) / rectWidth);
        const double at = (label.x - x.lower) / x.size(), height = (label.y - y.lower) / y.size() + 0.05;
        const Qt::Alignment alignment = markerLabelAlignment(figure, label.x);
        const double left = alignment & Qt::AlignRight  ? at - width
                            : alignment & Qt::AlignLeft ? at
                                                        : at - width / 2;
        for (int k = 0; k <= 20; ++k) samples.emplace_back(left + width * k / 20.0, height);
    }
}

// Puts the legend where the least of the data is drawn: each candidate box (a third of the axis rect
// in a corner or at the middle of a side) counts the points sampled along lines, bars and marker labels.
void placeLegend(QCustomPlot* plot, const FigureSpec& figure) {
    const QCPRange x = plot->xAxis->range(), y = plot->yAxis->range();
    if (x.size() <= 0 || y.size() <= 0) return;
    std::vector<QPointF> samples;  // in axis-rect fractions, y up
    addMarkerLabelSamples(plot, figure, samples);
    auto add = [&](double px, double py) { samples.emplace_back((px - x.lower) / x.size(), (py - y.lower) / y.size()); };
    for (const FigureSeries& series : figure.series) {
        const int count = int(std::min(series.x.size(), series.y.size()));
        for (int i = 0; i < count; ++i) {
            for (int k = 0; k < 8; ++k) {
                const double t = k / 8.0;
                if (figure.kind == FigureKind::Bar) add(series.x[i], series.y[i] * t);  // up the bar
                else if (i + 1 < count)
                    add(series.x[i] + t * (series.x[i + 1] - series.x[i]), series.y[i] + t * (series.y[i + 1] - series.y[i]));
            }
            add(series.x[i], series.y[i]);
        }
    }
    struct Box {
        Qt::Alignment alignment;
        double left, bottom;
    };
    const Box boxes[] = {{Qt::AlignTop | Qt::AlignRight, 0.6, 0.6},     {Qt::AlignTop | Qt::AlignLeft, 0.0, 0.6},
                         {Qt::AlignVCenter | Qt::AlignRight, 0.6, 0.3}, {Qt::AlignBottom | Qt::AlignRight, 0.6, 0.0},
                         {Qt::AlignBottom | Qt::AlignLeft, 0.0, 0.0},   {Qt::AlignVCenter | Qt::AlignLeft, 0.0, 0.3}};
    const Box* best = &boxes[0];
    size_t fewest = std::numeric_limits<size_t>::max();
    for (const Box& box : boxes) {
        const size_t covered = size_t(std::count_if(samples.begin(), samples.end(), [&](const QPointF& p) {
            return p.x() >= box.left && p.x() <= box.left + 0.4 && p.y() >= box.bottom && p.y() <= box.bottom + 0.4;
        }));
        if (covered < fewest) {  // the first box wins ties: top right is where readers look
            fewest = covered;
            best = &box;
        }
    }
    plot->axisRect()->insetLayout()->setInsetAlignment(0, best->alignment);
}

// As many entries side by side as fit the plot's width with their full names (at least one).
int legendColumns(QCustomPlot* plot) {
    const QFontMetrics metrics(plot->legend->font());
    int widest = 0;
    for (int i = 0; i < plot->legend->itemCount(); ++i)
        if (auto* item = qobject_cast<QCPPlottableLegendItem*>(plot->legend->item(i)))
            widest = std::max(widest, metrics.horizontalAdvance(item->plottable()->name()));
    const int entryWidth = widest + plot->legend->iconSize().width() + 3 * plot->legend->iconTextPadding() + 16;
    return std::max(1, std::min(plot->legend->itemCount(), plot->width() / std::max(1, entryWidth)));
}

void wrapLegendToWidth(QCustomPlot* plot) {
    const int columns = legendColumns(plot);
    if (plot->legend->wrap() == columns && plot->legend->fillOrder() == QCPLayoutGrid::foColumnsFirst) return;
    plot->legend->setWrap(columns);
    plot->legend->setFillOrder(QCPLayoutGrid::foColumnsFirst, true);  // true: re-arranges the entries
}

// Grouped bars fill the width and often reach the top: the legend goes in a row of its own between the
// title and the axis rect, its entries side by side, so it can never cover a bar.
void putLegendAbovePlot(QCustomPlot* plot) {
    QCPLayoutGrid* layout = plot->plotLayout();
    plot->axisRect()->insetLayout()->take(plot->legend);
    int rectRow = 0;
    while (layout->element(rectRow, 0) != plot->axisRect()) ++rectRow;
    layout->insertRow(rectRow);
    layout->addElement(rectRow, 0, plot->legend);
    layout->setRowStretchFactor(rectRow, 0.001);  // as tall as its entries, no more
    plot->legend->setMargins(QMargins(6, 0, 6, 2));
    wrapLegendToWidth(plot);
    // The widget's width is known for sure only when it draws: wrap again before every replot.
    if (!plot->property("detoxLegendWraps").toBool()) {
        plot->setProperty("detoxLegendWraps", true);
        QObject::connect(plot, &QCustomPlot::beforeReplot, plot, [plot] {
            if (plot->legend->layout() == plot->plotLayout()) wrapLegendToWidth(plot);
        });
    }
}

// Whole-number x values (layers, steps) get whole-number ticks.
void useIntegerTicksWhenDiscrete(QCustomPlot* plot, const FigureSpec& figure) {
    for (const FigureSeries& series : figure.series)
        for (double value : series.x)
            if (value != std::floor(value)) return;
    QSharedPointer<QCPAxisTickerFixed> ticker(new QCPAxisTickerFixed);
    ticker->setTickStep(1.0);
    ticker->setScaleStrategy(QCPAxisTickerFixed::ssMultiples);
    plot->xAxis->setTicker(ticker);
}

// Data of one value (one step, one loss) gets a range around it: rescaleAxes would keep the axis's old
// width around it (a one-step loss plot went from -6 to 6).
void widenSingleValueRange(QCPAxis* axis, const FigureSpec& figure, bool xAxis, double halfWidth) {
    double low = std::numeric_limits<double>::infinity(), high = -low;
    for (const FigureSeries& series : figure.series)
        for (double value : xAxis ? series.x : series.y)
            if (std::isfinite(value)) low = std::min(low, value), high = std::max(high, value);
    if (!(low == high)) return;
    axis->setRange(low - halfWidth, low + halfWidth);
}

void renderLine(const FigureSpec& figure, QCustomPlot* plot, const PlotPalette& palette) {
    const QVector<QColor> colours = seriesColours(figure, palette);
    for (int i = 0; i < figure.series.size(); ++i) {
        const FigureSeries& series = figure.series[i];
        QCPGraph* graph = plot->addGraph();
        graph->setName(series.name);
        graph->setData(series.x, series.y, true);
        const QColor colour = colours[i];
        graph->setPen(QPen(colour, 2));
        graph->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDisc, colour, colour, 5));
    }
    addMarkers(plot, figure, colours, palette);
    if (!figure.categories.isEmpty()) plot->xAxis->setTicker(textTicker(figure.categories, 24));
    else useIntegerTicksWhenDiscrete(plot, figure);
    plot->rescaleAxes();
    widenSingleValueRange(plot->xAxis, figure, true, 1.0);
    widenSingleValueRange(plot->yAxis, figure, false, std::max(1e-3, std::abs(plot->yAxis->range().center()) * 0.1));
    plot->xAxis->scaleRange(1.06, plot->xAxis->range().center());
    plot->yAxis->scaleRange(1.12, plot->yAxis->range().center());
    // Room above the highest point for a marker's label, which the axis rect would clip.
    bool hasMarkers = false;
    for (const FigureSeries& series : figure.series) hasMarkers = hasMarkers || !series.markers.isEmpty();
    if (figure.yRange) plot->yAxis->setRange(figure.yRange->first, figure.yRange->second);
    if (hasMarkers) plot->yAxis->setRangeUpper(plot->yAxis->range().upper + plot->yAxis->range().size() * 0.12);
    plot->legend->setVisible(figure.series.size() > 1);
    placeLegend(plot, figure);
}

// Labels every bar with its value ("0" for a bar of height zero, "n/a" for one not measured) just above
// it, so a zero is seen as a zero and not as a missing bar. fitValueLabels fits them to the bars' width
// once it is known (after each layout).
void addBarValueLabels(QCustomPlot* plot, const FigureSpec& figure) {
    const int count = std::max<int>(1, figure.series.size());
    const double width = 0.8 / count;
    QFont font = plot->font();
    font.setPointSizeF(font.pointSizeF() * 0.85);
    for (int i = 0; i < figure.series.size(); ++i) {
        const FigureSeries& series = figure.series[i];
        const double offset = count > 1 ? (i - (count - 1) / 2.0) * width : 0.0;  // the bar's place in its group
        for (int k = 0; k < series.y.size(); ++k) {
            const double value = series.y[k];
            const bool unmeasured = std::isnan(value);
            auto* text = new QCPItemText(plot);
            text->position->setCoords(series.x[k] + offset, unmeasured ? 0.0 : std::max(0.0, value));
            text->setPositionAlignment(Qt::AlignHCenter | Qt::AlignBottom);
            text->setPadding(QMargins(0, 0, 0, 2));
            text->setFont(font);
            text->setText(unmeasured ? QObject::tr("n/a") : QString::number(value, 'g', 3));
            text->setProperty("detoxValueLabel", true);
            text->setProperty("detoxBarWidth", width);  // in x units: what fitTextsToLayout fits the label to
            text->setProperty("detoxFontSize", font.pointSizeF());
            text->setProperty("detoxUnseenBar", unmeasured || value == 0);  // labelled even when crowded
            text->setClipToAxisRect(false);
            text->setObjectName(QStringLiteral("value:%1:%2").arg(series.name).arg(k));
        }
    }
}

void renderBars(const FigureSpec& figure, QCustomPlot* plot, const PlotPalette& palette) {
    auto* group = new QCPBarsGroup(plot);
    group->setSpacingType(QCPBarsGroup::stAbsolute);
    group->setSpacing(1);
    const int seriesCount = std::max<int>(1, figure.series.size());
    double low = 0, high = 0;
    const QVector<QColor> colours = seriesColours(figure, palette);
    for (int i = 0; i < figure.series.size(); ++i) {
        const FigureSeries& series = figure.series[i];
        auto* bars = new QCPBars(plot->xAxis, plot->yAxis);
        bars->setName(series.name);
        bars->setData(series.x, series.y, true);
        bars->setWidth(0.8 / seriesCount);
        const QColor colour = colours[i];
        bars->setPen(QPen(colour.darker(115), 1));
        bars->setBrush(colour);
        if (figure.series.size() > 1) bars->setBarsGroup(group);
        for (double y : series.y) {
            if (std::isnan(y)) continue;
            low = std::min(low, y);
            high = std::max(high, y);
        }
    }
    addMarkers(plot, figure, colours, palette);
    addBarValueLabels(plot, figure);
    plot->xAxis->setTicker(textTicker(figure.categories, 40));
    plot->xAxis->grid()->setVisible(false);
    // Rotate the labels when they would not fit side by side (about 7 px a character, 300 px wide).
    int characters = 0;
    for (const QString& label : figure.categories) characters += int(label.size()) + 2;
    if (characters > 40 && figure.categories.size() > 2) plot->xAxis->setTickLabelRotation(-40);
    plot->xAxis->setRange(-0.6, figure.categories.size() - 0.4);
    if (figure.yRange) std::tie(low, high) = *figure.yRange;
    // Headroom for the value labels above the bars (a rate axis keeps its ticks at 0-100); many series
    // make thin bars whose labels stand upright, taller.
    const double headroom = (high - low) * (seriesCount >= 4 ? 0.22 : 0.12);
    plot->yAxis->setRange(low < 0 ? low - headroom : low, high > low ? high + headroom : (low < 0 ? 0 : 1));
    // Even one series gets its legend entry: the bars say whose values they are (all zero or not).
    plot->legend->setVisible(!figure.series.isEmpty());
    if (plot->legend->visible()) putLegendAbovePlot(plot);
}

void renderHeatmap(const FigureSpec& figure, QCustomPlot* plot, Theme theme) {
    const HeatmapData& heat = figure.heatmap;
    if (heat.rows == 0 || heat.cols == 0) return;
    auto* map = new QCPColorMap(plot->xAxis, plot->yAxis);
    map->setName(figure.title);
    map->setInterpolate(false);
    map->setTightBoundary(false);
    map->data()->setSize(heat.cols, heat.rows);
    map->data()->setRange(QCPRange(0, heat.cols - 1), QCPRange(0, heat.rows - 1));
    for (int row = 0; row < heat.rows; ++row)
        for (int col = 0; col < heat.cols; ++col) map->data()->setCell(col, row, heat.at(row, col));
    map->setGradient(colorGradient(heat.scale, theme));
    const auto [low, high] = heatmapRange(heat);
    map->setDataRange(QCPRange(low, high));

    auto* scale = new QCPColorScale(plot);
    scale->setType(QCPAxis::atRight);
    scale->setGradient(map->gradient());
    scale->setDataRange(map->dataRange());
    scale->setLabel(heat.valueLabel);
    scale->setBarWidth(14);
    map->setColorScale(scale);
    const int rectRow = plot->plotLayout()->rowCount() - 1;
    plot->plotLayout()->addElement(rectRow, 1, scale);
    auto* margins = new QCPMarginGroup(plot);
    plot->axisRect()->setMarginGroup(QCP::MarginSides(QCP::msTop) | QCP::msBottom, margins);
    scale->setMarginGroup(QCP::MarginSides(QCP::msTop) | QCP::msBottom, margins);

    plot->yAxis->setRangeReversed(true);  // row 0 at the top, as in a table
    if (!heat.rowLabels.isEmpty()) plot->yAxis->setTicker(textTicker(heat.rowLabels, 32));
    if (!heat.colLabels.isEmpty()) {
        // Every column labelled up to a page (PlotView pages wider maps); fitColumnLabels stands them upright
        // when they are wider than a column.
        plot->xAxis->setTicker(textTicker(heat.colLabels, 64));
        plot->setProperty("detoxColumnLabels", heat.colLabels);
    }
    plot->xAxis->grid()->setVisible(false);
    plot->yAxis->grid()->setVisible(false);
    plot->xAxis->setRange(-0.5, heat.cols - 0.5);
    plot->yAxis->setRange(-0.5, heat.rows - 0.5);
}

void styleAxis(QCPAxis* axis, const PlotPalette& palette) {
    axis->setBasePen(QPen(palette.axis, 1));
    axis->setTickPen(QPen(palette.axis, 1));
    axis->setSubTickPen(QPen(palette.axis, 1));
    axis->setLabelColor(palette.text);
    axis->setTickLabelColor(palette.text);
    axis->grid()->setPen(QPen(palette.grid, 1, Qt::DotLine));
    axis->grid()->setSubGridPen(QPen(palette.subGrid, 1, Qt::DotLine));
    // A zero line helps for signed values (y); a vertical one at x = 0 only looks like a second axis.
    const bool vertical = axis->orientation() == Qt::Vertical;
    axis->grid()->setZeroLinePen(vertical ? QPen(palette.axis, 1) : QPen(Qt::NoPen));
}

QByteArray pngBytes(QCustomPlot* plot, const ExportOptions& options) {
    const QPixmap pixmap = plot->toPixmap(options.width, options.height, options.pngScale);
    QByteArray bytes;
    QBuffer buffer(&bytes);
    buffer.open(QIODevice::WriteOnly);
    pixmap.save(&buffer, "PNG");
    return bytes;
}

QByteArray svgBytes(QCustomPlot* plot, const FigureSpec& figure, const ExportOptions& options) {
    QByteArray bytes;
    QBuffer buffer(&bytes);
    QSvgGenerator generator;
    generator.setOutputDevice(&buffer);
    generator.setSize(QSize(options.width, options.height));
    generator.setViewBox(QRect(0, 0, options.width, options.height));
    generator.setTitle(figure.title);
    generator.setDescription("Detox Workbench figure " + figure.id);
    QCPPainter painter;
    painter.begin(&generator);
    plot->toPainter(&painter, options.width, options.height);
    painter.end();
    return bytes;
}

void writeBytes(const QString& path, const QByteArray& bytes) {
    if (bytes.isEmpty()) throw detox::Error(path.toStdString(), "", "rendering produced no data");
    detox::writeFileAtomically(path.toStdString(), std::string_view(bytes.constData(), size_t(bytes.size())));
}

// QCustomPlot writes PDFs by file name only: write next to the target, then rename over it.
void writePdf(QCustomPlot* plot, const FigureSpec& figure, const QString& path, const ExportOptions& options) {
    const QString temporary = path + ".part";
    if (!plot->savePdf(temporary, options.width, options.height, QCP::epNoCosmetic, "Detox Workbench", figure.title)) {
        QFile::remove(temporary);
        throw detox::Error(path.toStdString(), "", "cannot write the PDF");
    }
    std::error_code error;
    std::filesystem::rename(temporary.toStdString(), path.toStdString(), error);
    if (error) {
        QFile::remove(temporary);
        throw detox::Error(path.toStdString(), "", "cannot rename the PDF into place: " + error.message());
    }
}

QList<QCPItemText*> valueLabelItems(QCustomPlot* plot) {
    QList<QCPItemText*> labels;
    for (int i = 0; i < plot->itemCount(); ++i)
        if (auto* text = qobject_cast<QCPItemText*>(plot->item(i)); text && text->property("detoxValueLabel").toBool())
            labels.append(text);
    return labels;
}

// text in lines no wider than `width` (greedy, at spaces); maxLines > 0 elides what does not fit in them.
QString wrapToWidth(const QString& text, const QFont& font, double width, int maxLines = 0) {
    const QFontMetricsF metrics(font);
    QStringList lines;
    for (const QString& word : text.split(QLatin1Char(' '), Qt::SkipEmptyParts)) {
        if (!lines.isEmpty() && metrics.horizontalAdvance(lines.back() + QLatin1Char(' ') + word) <= width)
            lines.back() += QLatin1Char(' ') + word;
        else
            lines.append(word);
    }
    if (maxLines > 0 && lines.size() > maxLines) {
        QStringList rest = lines.mid(maxLines - 1);
        lines = lines.mid(0, maxLines - 1);
        lines.append(rest.join(QLatin1Char(' ')));
    }
    for (QString& line : lines) line = metrics.elidedText(line, Qt::ElideRight, width);
    return lines.join(QLatin1Char('\n'));
}

// The width of the layout's first column, where the title sits: the plot's less the columns beside the
// axis rect (a heatmap's colour scale).
int firstColumnWidth(QCustomPlot* plot) {
    QCPLayoutGrid* layout = plot->plotLayout();
    int beside = 0;
    for (int column = 1; column < layout->columnCount(); ++column) {
        int widest = 0;
        for (int row = 0; row < layout->rowCount(); ++row)
            if (QCPLayoutElement* element = layout->hasElement(row, column) ? layout->element(row, column) : nullptr)
                widest = std::max({widest, element->outerRect().width(), element->minimumOuterSizeHint().width()});
        beside += widest + layout->columnSpacing();
    }
    return plot->viewport().width() - beside;
}

// The title wraps to its column's width (a narrow pane cut it at both ends). True when it changed.
bool fitTitle(QCustomPlot* plot) {
    bool changed = false;
    for (int i = 0; i < plot->plotLayout()->elementCount(); ++i) {
        auto* title = qobject_cast<QCPTextElement*>(plot->plotLayout()->elementAt(i));
        if (!title || !title->property("detoxFullText").isValid()) continue;
        const QString fitted = wrapToWidth(title->property("detoxFullText").toString(), title->font(),
                                           std::max(60, firstColumnWidth(plot) - 16));
        if (fitted == title->text()) continue;
        title->setText(fitted);
        changed = true;
    }
    return changed;
}

// A marker label wraps (at most three lines, elided after) to the room its side of the axis rect leaves.
void fitMarkerLabel(QCustomPlot* plot, QCPItemText* text) {
    const QRect rect = plot->axisRect()->rect();
    const double x = text->position->pixelPosition().x();
    const Qt::Alignment alignment = text->positionAlignment();
    const double room = alignment & Qt::AlignRight  ? x - rect.left()
                        : alignment & Qt::AlignLeft ? rect.right() - x
                                                    : 2 * std::min(x - rect.left(), rect.right() - x);
    text->setText(wrapToWidth(text->property("detoxFullText").toString(), text->font(), std::max(80.0, room), 3));
    text->setTextAlignment((alignment & Qt::AlignHorizontal_Mask) | Qt::AlignTop);
}

// Value labels wider than their bar stand upright above it, in a smaller font (down to kSmallestLabelPt)
// when a line of text is taller than the bar is wide, so neighbouring labels never run into each other
// ("100100100"). Bars thinner than that keep the labels of zeros and n/a (bars one cannot see) and the x
// axis says where the other values are (fitAxisLabels).
constexpr double kSmallestLabelPt = 6.0;

// The text of an upright value label, in plot pixels: its box less the padding below it.
QRectF uprightTextBox(const QCPItemText* text) {
    QPolygonF corners;
    for (QCPItemAnchor* anchor : {text->topLeft, text->topRight, text->bottomRight, text->bottomLeft})
        corners << anchor->pixelPosition();
    return corners.boundingRect().adjusted(0, 0, 0, -text->padding().left());
}

// Upright labels still thicker than their bars (crowded figures keep only those of zeros and n/a) go up
// past the neighbours they would touch, left to right.
void stackTouchingLabels(const QList<QCPItemText*>& labels) {
    QList<QRectF> placed;
    for (QCPItemText* label : labels) {
        if (!label->visible()) continue;
        for (int tries = 0; tries < 16; ++tries) {
            const QRectF box = uprightTextBox(label);
            double depth = 0;  // how far it reaches into a label placed before, from below
            for (const QRectF& other : placed)
                if (box.right() > other.left() + 0.5 && box.left() < other.right() - 0.5 &&
                    box.bottom() > other.top() + 0.5 && box.top() < other.bottom() - 0.5)
                    depth = std::max(depth, box.bottom() - other.top() + 1);
            if (depth <= 0) break;
            // Upright, the left padding lies below the text: more of it lifts the text.
            label->setPadding(QMargins(label->padding().left() + int(std::ceil(depth)), 0, 0, 0));
        }
        placed.append(uprightTextBox(label));
    }
}

void fitValueLabels(QCustomPlot* plot) {
    const QList<QCPItemText*> labels = valueLabelItems(plot);
    plot->setProperty("detoxValuesCrowded", false);
    if (labels.isEmpty()) return;
    const double barPixels = std::abs(plot->xAxis->coordToPixel(labels.front()->property("detoxBarWidth").toDouble()) -
                                      plot->xAxis->coordToPixel(0));
    QFont font = labels.front()->font();
    font.setPointSizeF(labels.front()->property("detoxFontSize").toDouble());
    double widest = 0;
    for (QCPItemText* label : labels) widest = std::max(widest, QFontMetricsF(font).horizontalAdvance(label->text()));
    const bool flat = widest + 2 <= barPixels;
    // The label's box across the bar, as QCPItemText measures it (whole pixels).
    auto thickness = [](const QFont& f) {
        return QFontMetrics(f).boundingRect(0, 0, 0, 0, Qt::TextDontClip | Qt::AlignTop | Qt::AlignHCenter, "0").height();
    };
    while (!flat && thickness(font) > barPixels && font.pointSizeF() > kSmallestLabelPt)
        font.setPointSizeF(std::max(kSmallestLabelPt, font.pointSizeF() - 0.25));
    const bool crowded = !flat && thickness(font) > barPixels;
    for (QCPItemText* label : labels) {
        label->setFont(font);
        label->setRotation(flat ? 0 : -90);  // upright: reads upwards, its left end on the bar
        label->setPositionAlignment(flat ? Qt::AlignHCenter | Qt::AlignBottom : Qt::AlignLeft | Qt::AlignVCenter);
        label->setPadding(flat ? QMargins(0, 0, 0, 2) : QMargins(2, 0, 0, 0));
        label->setVisible(!crowded || label->property("detoxUnseenBar").toBool());
    }
    if (crowded) stackTouchingLabels(labels);
    plot->setProperty("detoxValuesCrowded", crowded);  // fitAxisLabels says so on the x axis
}

// Axis labels wrap to the axis rect's sides (a long x label ran past a narrow heatmap's left edge); the x
// label says when crowded bars keep only some value labels. True when a label changed.
bool fitAxisLabels(QCustomPlot* plot) {
    QString x = plot->property("detoxXLabel").toString();
    if (plot->property("detoxValuesCrowded").toBool())
        x += (x.isEmpty() ? QString() : QStringLiteral("; ")) +
             QObject::tr("too many bars to label each: hover a bar for its value, or export CSV");
    const QRect rect = plot->axisRect()->rect();
    const QString fittedX = wrapToWidth(x, plot->xAxis->labelFont(), std::max(60, rect.width() - 8));
    const QString fittedY =
        wrapToWidth(plot->property("detoxYLabel").toString(), plot->yAxis->labelFont(), std::max(60, rect.height() - 8));
    if (fittedX == plot->xAxis->label() && fittedY == plot->yAxis->label()) return false;
    plot->xAxis->setLabel(fittedX);
    plot->yAxis->setLabel(fittedY);
    return true;
}

// A heatmap's column labels stand upright when the widest (line of one) is wider than a column: side by
// side they ran into each other ("?<|im_en..<|im_ast"). True when the rotation changed.
bool fitColumnLabels(QCustomPlot* plot) {
    const QStringList columns = plot->property("detoxColumnLabels").toStringList();
    if (columns.isEmpty()) return false;
    const QFontMetricsF metrics(plot->xAxis->tickLabelFont());
    double widest = 0;
    for (const QString& label : columns)
        for (const QString& line : label.split(QLatin1Char('\n'))) widest = std::max(widest, metrics.horizontalAdvance(line));
    const double columnPixels = double(plot->axisRect()->width()) / columns.size();
    const double rotation = widest + 4 <= columnPixels ? 0 : -90;
    if (plot->xAxis->tickLabelRotation() == rotation) return false;
    plot->xAxis->setTickLabelRotation(rotation);
    return true;
}

// A heatmap's row labels, as many as fit the axis rect's height (every k-th row; hover names each).
bool fitRowLabels(QCustomPlot* plot) {
    const QStringList rows = plot->property("detoxRowLabels").toStringList();
    if (rows.isEmpty()) return false;
    const int lineHeight = QFontMetrics(plot->yAxis->tickLabelFont()).height();
    const int fitting = std::max(1, plot->axisRect()->rect().height() / std::max(1, lineHeight));
    const int step = std::max(1, int(std::ceil(double(rows.size()) / fitting)));
    if (plot->property("detoxRowStep").toInt() == step) return false;
    plot->setProperty("detoxRowStep", step);
    plot->yAxis->setTicker(textTicker(rows, int(std::ceil(double(rows.size()) / step))));
    return true;
}

// Texts whose fit depends on the drawn size, fitted after each layout (on screen and in every export).
void fitTextsToLayout(QCustomPlot* plot) {
    // Wrapped titles and labels change the margins, which change the room: twice is enough to settle.
    for (int pass = 0; pass < 2; ++pass) {
        fitValueLabels(plot);
        const bool titleChanged = fitTitle(plot);
        const bool axisChanged = fitAxisLabels(plot);
        const bool rowsChanged = fitRowLabels(plot);
        const bool columnsChanged = fitColumnLabels(plot);
        if (!titleChanged && !axisChanged && !rowsChanged && !columnsChanged) break;
        plot->plotLayout()->update(QCPLayoutElement::upPreparation);
        plot->plotLayout()->update(QCPLayoutElement::upMargins);
        plot->plotLayout()->update(QCPLayoutElement::upLayout);
        if (pass == 1) fitValueLabels(plot);  // the bars' width as finally laid out
    }
    for (int i = 0; i < plot->itemCount(); ++i) {
        auto* text = qobject_cast<QCPItemText*>(plot->item(i));
        if (text && text->property("detoxMarkerLabel").toBool()) fitMarkerLabel(plot, text);
    }
}

void fitTextsAfterEveryLayout(QCustomPlot* plot) {
    if (plot->property("detoxFitsTexts").toBool()) return;
    plot->setProperty("detoxFitsTexts", true);
    QObject::connect(plot, &QCustomPlot::afterLayout, plot, [plot] { fitTextsToLayout(plot); });
}

}  // namespace

QCPColorGradient colorGradient(ColorScale scale, Theme theme) {
    QCPColorGradient gradient;
    gradient.clearColorStops();
    const auto stops = scale == ColorScale::Diverging ? divergingColorStops(theme) : sequentialColorStops();
    for (const auto& [position, colour] : stops) gradient.setColorStopAt(position, colour);
    gradient.setColorInterpolation(QCPColorGradient::ciRGB);
    gradient.setLevelCount(256);
    gradient.setNanHandling(QCPColorGradient::nhNanColor);
    gradient.setNanColor(theme == Theme::Dark ? QColor("#555555") : QColor("#d0d0d0"));
    return gradient;
}

void applyPlotTheme(QCustomPlot* plot, Theme theme) {
    const PlotPalette palette = plotPalette(theme);
    plot->setBackground(palette.background);
    for (QCPAxisRect* rect : plot->axisRects()) {
        rect->setBackground(palette.background);
        for (QCPAxis* axis : rect->axes()) styleAxis(axis, palette);
    }
    plot->legend->setBrush(palette.background);
    plot->legend->setBorderPen(QPen(palette.grid));
    plot->legend->setTextColor(palette.text);
    for (int i = 0; i < plot->plotLayout()->elementCount(); ++i) {
        QCPLayoutElement* element = plot->plotLayout()->elementAt(i);
        if (auto* title = qobject_cast<QCPTextElement*>(element)) title->setTextColor(palette.text);
        if (auto* scale = qobject_cast<QCPColorScale*>(element)) styleAxis(scale->axis(), palette);
    }
    for (int i = 0; i < plot->itemCount(); ++i)
        if (auto* text = qobject_cast<QCPItemText*>(plot->item(i)))
            text->setColor(text->property("detoxValueLabel").toBool() ? palette.text : palette.marker);
    for (int i = 0; i < plot->plottableCount(); ++i)
        if (auto* map = qobject_cast<QCPColorMap*>(plot->plottable(i))) {
            const ColorScale scale = map->property("detoxScale").toInt() == int(ColorScale::Diverging)
                                         ? ColorScale::Diverging
                                         : ColorScale::Sequential;
            map->setGradient(colorGradient(scale, theme));
            if (map->colorScale()) map->colorScale()->setGradient(map->gradient());
        }
}

void renderFigure(const FigureSpec& figure, QCustomPlot* plot, Theme theme) {
    resetPlot(plot);
    addTitle(plot, figure.title);
    const PlotPalette palette = plotPalette(theme);
    plot->xAxis->setLabel(figure.xLabel);
    plot->yAxis->setLabel(figure.yLabel);
    // fitTextsToLayout wraps these to the drawn size (and notes crowded bars on the x axis).
    plot->setProperty("detoxXLabel", figure.xLabel);
    plot->setProperty("detoxYLabel", figure.yLabel);
    plot->setProperty("detoxRowLabels", figure.kind == FigureKind::Heatmap ? figure.heatmap.rowLabels : QStringList());
    plot->setProperty("detoxRowStep", 0);
    plot->setProperty("detoxColumnLabels", QStringList());  // renderHeatmap sets a heatmap's
    plot->legend->setFont(plot->font());
    plot->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignTop | Qt::AlignRight);  // placeLegend may move it
    switch (figure.kind) {
    case FigureKind::Line: renderLine(figure, plot, palette); break;
    case FigureKind::Bar: renderBars(figure, plot, palette); break;
    case FigureKind::Heatmap:
        renderHeatmap(figure, plot, theme);
        if (plot->plottableCount() > 0) plot->plottable(0)->setProperty("detoxScale", int(figure.heatmap.scale));
        break;
    }
    applyPlotTheme(plot, theme);
    fitTextsAfterEveryLayout(plot);
    plot->replot(QCustomPlot::rpQueuedReplot);
}

QString exportSuffix(ExportFormat format) {
    switch (format) {
    case ExportFormat::Png: return "png";
    case ExportFormat::Pdf: return "pdf";
    case ExportFormat::Svg: return "svg";
    case ExportFormat::Csv: return "csv";
    case ExportFormat::Json: return "json";
    }
    return {};
}

QStringList exportPlot(QCustomPlot* plot, const FigureSpec& figure, const QString& basePath, ExportFormats formats,
                       const ExportOptions& options) {
    QStringList written;
    const QDir folder = QFileInfo(basePath).absoluteDir();
    if (!folder.exists() && !QDir().mkpath(folder.absolutePath()))
        throw detox::Error(folder.absolutePath().toStdString(), "", "cannot create the folder");
    for (ExportFormat format : {ExportFormat::Png, ExportFormat::Pdf, ExportFormat::Svg, ExportFormat::Csv,
                                ExportFormat::Json}) {
        if (!formats.testFlag(format)) continue;
        const QString path = basePath + "." + exportSuffix(format);
        switch (format) {
        case ExportFormat::Png: writeBytes(path, pngBytes(plot, options)); break;
        case ExportFormat::Pdf: writePdf(plot, figure, path, options); break;
        case ExportFormat::Svg: writeBytes(path, svgBytes(plot, figure, options)); break;
        case ExportFormat::Csv: writeBytes(path, figure.toCsv().toUtf8()); break;
        case ExportFormat::Json: writeBytes(path, QJsonDocument(figure.toJson()).toJson(QJsonDocument::Indented)); break;
        }
        written << path;
    }
    return written;
}

QStringList exportFigure(const FigureSpec& figure, const QString& basePath, ExportFormats formats,
                         const ExportOptions& options) {
    figure.validate(figure.id.isEmpty() ? QStringLiteral("figure") : figure.id);
    QCustomPlot plot;
    plot.resize(options.width, options.height);
    renderFigure(figure, &plot, options.theme);
    return exportPlot(&plot, figure, basePath, formats, options);
}

QStringList exportAllFigures(const QVector<FigureSpec>& figures, const QString& folder, ExportFormats formats,
                             const ExportOptions& options) {
    QStringList written;
    QSet<QString> usedNames;
    for (int i = 0; i < figures.size(); ++i) {
        QString name = figures[i].id.isEmpty() ? QString("figure-%1").arg(i + 1) : figures[i].id;
        name.replace(QRegularExpression("[^A-Za-z0-9._-]"), "_");
        QString unique = name;
        for (int n = 2; usedNames.contains(unique); ++n) unique = QString("%1-%2").arg(name).arg(n);
        usedNames.insert(unique);
        written << exportFigure(figures[i], QDir(folder).filePath(unique), formats, options);
    }
    return written;
}

HeadlessGui::HeadlessGui() {
    if (QCoreApplication::instance()) return;
    if (qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM")) qputenv("QT_QPA_PLATFORM", "offscreen");
    static int argc = 1;
    static char name[] = "detox";
    static char* argv[] = {name, nullptr};
    app_ = std::make_unique<QApplication>(argc, argv);
}

HeadlessGui::~HeadlessGui() = default;

}  // namespace detox::ui
