// Light and dark looks for the whole workbench; plots take their colours from the same theme so
// axes, text and grids stay readable on either background.
#pragma once
#include <QColor>
#include <QPalette>
#include <QVector>

namespace detox::ui {

enum class Theme { Light, Dark };

struct PlotPalette {
    QColor background;
    QColor text;
    QColor axis;
    QColor grid;
    QColor subGrid;
    QColor marker;              // highlighted points ("toxic layer")
    QVector<QColor> series;     // categorical colours, distinguishable on the background: quantities in order
    // Colours by series role (figure.h SeriesRole, chosen in series_colours.h). methods: dinm, sft, dpo
    // (series[0..2]), then the further methods; reference: the unedited model (series[7]); variants and
    // records: palettes of their own, clear of the method colours.
    QVector<QColor> methods;
    QColor reference;
    QVector<QColor> variants;   // masked, easyedit, then further variants
    QVector<QColor> records;    // one a record, in order of appearance
};

PlotPalette plotPalette(Theme theme);
QPalette applicationPalette(Theme theme);

// The theme new plots start with; MainWindow's View menu changes it.
Theme currentTheme();
void setCurrentTheme(Theme theme);

QString themeName(Theme theme);   // "light" / "dark"
Theme themeFromName(const QString& name);

// Colour stops (position 0..1, colour) of the heatmap colour maps: a perceptually uniform
// sequential map (viridis-like) and a blue-white-red diverging map for signed differences.
QVector<QPair<double, QColor>> sequentialColorStops();
QVector<QPair<double, QColor>> divergingColorStops(Theme theme);

}  // namespace detox::ui
