// What a QCustomPlot actually draws, for ui tests that compare plots with computed results.
#pragma once
#include <QString>
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

}  // namespace detox::test
