// Small helpers shared by the analysis views (private to the ui library).
#pragma once
#include <QJsonDocument>
#include <QJsonObject>
#include <QGridLayout>
#include <QSize>
#include <QString>
#include <QVector>

#include <nlohmann/json.hpp>

#include "detox/runtime/model.h"
#include "detox_ui/figures/figure.h"
#include "detox_ui/figures/plot_view.h"

namespace detox::ui {

// nlohmann JSON object -> Qt JSON (through text: results are small).
inline QJsonObject toQJson(const nlohmann::json& json) {
    return QJsonDocument::fromJson(QByteArray::fromStdString(json.dump())).object();
}

// Jobs on one model run one at a time: the queue is the model's directory.
inline QString modelQueue(const detox::Model& model) {
    return QStringLiteral("model:") + QString::fromStdString(model.directory());
}

// Replaces the PlotViews in host's grid layout with one per figure, `columns` a row.
inline void fillPlotGrid(QWidget* host, QVector<PlotView*>& plots, const QVector<FigureSpec>& figures, int columns,
                         QSize minimumSize) {
    for (PlotView* plot : plots) delete plot;
    plots.clear();
    auto* grid = static_cast<QGridLayout*>(host->layout());
    for (int i = 0; i < figures.size(); ++i) {
        auto* plot = new PlotView(host);
        plot->setMinimumSize(minimumSize);
        plot->setFigure(figures[i]);
        grid->addWidget(plot, i / columns, i % columns);
        plots.append(plot);
    }
}

}  // namespace detox::ui
