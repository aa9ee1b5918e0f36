// What a QCustomPlot actually draws, for ui tests that compare plots with computed results.
#pragma once
#include <QList>
#include <QPolygonF>
#include <QRectF>
#include <QString>
#include <QStringList>
#include <QVector>

#include "qcustomplot.h"

namespace detox::test {

// The y values of the graph named `name`, in order; empty when the plot has no such graph.
inline QVector<double> graphValues(QCustomPlot* plot, const QString& name) {
    for (int i = 0; i < plot->graphCount(); ++i) {
        if (plot->graph(i)->name() != name) continue;
        QVector<double> values;
        for (auto it = plot->graph(i)->data()->constBegin(); it != plot->graph(i)->data()->constEnd(); ++it)
            values.append(it->value);
        return values;
    }
    return {};
}

// The values of the bars named `name`, in order; empty when the plot has no such bars.
inline QVector<double> barValues(QCustomPlot* plot, const QString& name) {
    for (int i = 0; i < plot->plottableCount(); ++i) {
        auto* bars = qobject_cast<QCPBars*>(plot->plottable(i));
        if (!bars || bars->name() != name) continue;
        QVector<double> values;
        for (auto it = bars->data()->constBegin(); it != bars->data()->constEnd(); ++it) values.append(it->value);
        return values;
    }
    return {};
}

// The texts the plot prints (value labels, marker labels), in the order they were added.
inline QStringList plotTexts(QCustomPlot* plot) {
    QStringList texts;
    for (int i = 0; i < plot->itemCount(); ++i)
        if (auto* text = qobject_cast<QCPItemText*>(plot->item(i))) texts.append(text->text());
    return texts;
}

// The box a text item's text is drawn in, in plot pixels, its padding left out (after a replot). Flat or
// upright (rotated -90: the left padding lies below the text).
inline QRectF textBox(QCPItemText* text) {
    QPolygonF corners;
    for (QCPItemAnchor* anchor : {text->topLeft, text->topRight, text->bottomRight, text->bottomLeft})
        corners << anchor->pixelPosition();
    const QMargins pad = text->padding();
    if (text->rotation() == -90) return corners.boundingRect().adjusted(pad.top(), pad.right(), -pad.bottom(), -pad.left());
    return corners.boundingRect().adjusted(pad.left(), pad.top(), -pad.right(), -pad.bottom());
}

// The text items whose property `property` is set (e.g. "detoxValueLabel", "detoxMarkerLabel"), in order.
inline QList<QCPItemText*> textItems(QCustomPlot* plot, const char* property) {
    QList<QCPItemText*> items;
    for (int i = 0; i < plot->itemCount(); ++i)
        if (auto* text = qobject_cast<QCPItemText*>(plot->item(i)); text && text->property(property).toBool())
            items.append(text);
    return items;
}

// The names in the plot's legend, in order.
inline QStringList legendNames(QCustomPlot* plot) {
    QStringList names;
    for (int i = 0; i < plot->legend->itemCount(); ++i)
        if (auto* item = qobject_cast<QCPPlottableLegendItem*>(plot->legend->item(i))) names.append(item->plottable()->name());
    return names;
}

}  // namespace detox::test
