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
    // The whole figure; a heatmap wider than a page is shown a page of columns at a time (shownFigure).
    const FigureSpec& figure() const { return figure_; }
    const FigureSpec& shownFigure() const { return shown_; }
    bool hasFigure() const { return hasFigure_; }
    void clearFigure(const QString& placeholder = {});

    QCustomPlot* plot() const { return plot_; }
    void setTheme(Theme theme);

    // The tooltip text for a point in plot pixels: heatmap "row / col / value", the nearest line
    // point "series: x, y", or the bar under the cursor. Empty when nothing is near.
    QString hoverText(const QPointF& pixel) const;  // on the shown page

    // Writes the figure as the user sees it at basePath.EXT; returns the written files.
    QStringList exportTo(const QString& basePath, ExportFormats formats, double pngScale = 2.0);

    QMenu* exportMenu() const { return exportMenu_; }

    // Heatmap pages: columns a page holds at the plot's width (every column labelled), the page count
    // (1 when the map fits) and the page shown, titled "... tokens 65-128 of 763".
    int pageColumns() const;
    int pageCount() const { return int(pageStarts_.size()); }
    int page() const { return page_; }
    void setPage(int page);

signals:
    void exported(const QStringList& files);
    void exportFailed(const QString& message);

private:
    void buildExportMenu();
    void exportWithDialog(ExportFormats formats, double pngScale);
    void showHoverTip(QMouseEvent* event);
    void showPage(int page, bool rePage);
    void resizeEvent(QResizeEvent* event) override;

    QCustomPlot* plot_ = nullptr;
    QToolButton* exportButton_ = nullptr;
    QMenu* exportMenu_ = nullptr;
    QLabel* placeholder_ = nullptr;
    QStackedLayout* stack_ = nullptr;
    QToolButton* previousPage_ = nullptr;
    QToolButton* nextPage_ = nullptr;
    QLabel* pageLabel_ = nullptr;
    FigureSpec figure_;
    FigureSpec shown_;
    QVector<int> pageStarts_{0};
    int page_ = 0;
    int pagedColumns_ = 0;     // the page size pageStarts_ was made with
    bool hasFigure_ = false;
    Theme theme_;
};

}  // namespace detox::ui
