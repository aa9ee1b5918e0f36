// A figure on screen: QCustomPlot plus value tooltips on hover and an export menu (toolbar button
// and context menu) for PNG (2x/3x), PDF, SVG, CSV and JSON.
#pragma once
#include <QWidget>

#include "detox_ui/figures/figure.h"
#include "detox_ui/figures/plot_render.h"

class QCustomPlot;
class QLabel;
class QMenu;
class QStackedLayout;
class QToolButton;

namespace detox::ui {

class PlotView : public QWidget {
    Q_OBJECT
public:
    explicit PlotView(QWidget* parent = nullptr);

    void setFigure(const FigureSpec& figure);
    const FigureSpec& figure() const { return figure_; }
    bool hasFigure() const { return hasFigure_; }
    void clearFigure(const QString& placeholder = {});

    QCustomPlot* plot() const { return plot_; }
    void setTheme(Theme theme);

    // The tooltip text for a point in plot pixels: heatmap "row / col / value", the nearest line
    // point "series: x, y", or the bar under the cursor. Empty when nothing is near.
    QString hoverText(const QPointF& pixel) const;

    // Writes the figure as the user sees it at basePath.EXT; returns the written files.
    QStringList exportTo(const QString& basePath, ExportFormats formats, double pngScale = 2.0);

    QMenu* exportMenu() const { return exportMenu_; }

signals:
    void exported(const QStringList& files);
    void exportFailed(const QString& message);

private:
    void buildExportMenu();
    void exportWithDialog(ExportFormats formats, double pngScale);
    void showHoverTip(QMouseEvent* event);

    QCustomPlot* plot_ = nullptr;
    QToolButton* exportButton_ = nullptr;
    QMenu* exportMenu_ = nullptr;
    QLabel* placeholder_ = nullptr;
    QStackedLayout* stack_ = nullptr;
    FigureSpec figure_;
    bool hasFigure_ = false;
    Theme theme_;
};

}  // namespace detox::ui
