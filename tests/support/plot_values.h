// What a QCustomPlot actually draws, for ui tests that compare plots with computed results.
#pragma once
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

// The names in the plot's legend, in order.
inline QStringList legendNames(QCustomPlot* plot) {
    QStringList names;
    for (int i = 0; i < plot->legend->itemCount(); ++i)
        if (auto* item = qobject_cast<QCPPlottableLegendItem*>(plot->legend->item(i))) names.append(item->plottable()->name());
    return names;
}

}  // namespace detox::test
