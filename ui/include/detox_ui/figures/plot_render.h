// The one place that turns FigureSpecs into QCustomPlot items and writes them to files.
// exportFigure works without a visible window (the CLI's `report` command calls it); it needs a
// QApplication, which HeadlessGui provides for programs that have none.
#pragma once
#include <QFlags>
#include <QString>
#include <QStringList>

#include <memory>

#include "detox_ui/figures/figure.h"
#include "detox_ui/workbench/theme.h"

class QApplication;
class QCustomPlot;
class QCPColorGradient;

namespace detox::ui {

// Draws the figure into the plot, replacing what was there. Titles, axes, legend, ticks, colours
// (from the theme), markers; heatmaps get a colour scale.
void renderFigure(const FigureSpec& figure, QCustomPlot* plot, Theme theme = currentTheme());

// Applies the theme's text/axis/grid/background colours to everything in the plot.
void applyPlotTheme(QCustomPlot* plot, Theme theme);

QCPColorGradient colorGradient(ColorScale scale, Theme theme);

enum class ExportFormat { Png = 1, Pdf = 2, Svg = 4, Csv = 8, Json = 16 };
Q_DECLARE_FLAGS(ExportFormats, ExportFormat)
Q_DECLARE_OPERATORS_FOR_FLAGS(ExportFormats)
constexpr ExportFormats kAllExportFormats =
    ExportFormats(int(ExportFormat::Png) | int(ExportFormat::Pdf) | int(ExportFormat::Svg) | int(ExportFormat::Csv) |
                  int(ExportFormat::Json));

struct ExportOptions {
    int width = 800;       // logical size of the figure; PNG pixels are width*scale x height*scale
    int height = 500;
    double pngScale = 2.0; // 2 or 3 for print-quality raster figures
    Theme theme = Theme::Light;  // exported figures default to light (papers, slides)
};

QString exportSuffix(ExportFormat format);  // "png", "pdf", ...

// Writes basePath + ".png"/".pdf"/... for each requested format, each file atomically.
// Returns the written paths; throws detox::Error naming the file on failure.
QStringList exportFigure(const FigureSpec& figure, const QString& basePath, ExportFormats formats = kAllExportFormats,
                         const ExportOptions& options = {});

// The same, from an already rendered plot (what the user sees, at its current size).
QStringList exportPlot(QCustomPlot* plot, const FigureSpec& figure, const QString& basePath, ExportFormats formats,
                       const ExportOptions& options);

// Every figure to folder/ID.EXT (folder is created); ids must be unique (a clash gets "-2", "-3").
QStringList exportAllFigures(const QVector<FigureSpec>& figures, const QString& folder,
                             ExportFormats formats = kAllExportFormats, const ExportOptions& options = {});

// Creates an offscreen QApplication when the program has none (the CLI), so figures can be
// rendered headless; does nothing when one exists. Keep it alive while exporting.
class HeadlessGui {
public:
    HeadlessGui();
    ~HeadlessGui();
    HeadlessGui(const HeadlessGui&) = delete;
    HeadlessGui& operator=(const HeadlessGui&) = delete;

private:
    std::unique_ptr<QApplication> app_;
};

}  // namespace detox::ui
