// The colour of a figure's series, chosen by its role (figure.h SeriesRole) and never by its name, so a
// method looks the same in every figure of the GUI and of `detox report`:
//   Method     the method's own colour (methodColour), whatever the series is called ("dinm-2", "after dinm-1");
//              a second, third ... run of one method in the same figure a darker, lighter ... shade of it
//   Reference  grey: the model before any edit
//   Variant    the variant palette (masked, easyedit, ...), clear of the method colours
//   Record     the record palette, one colour a record in order of appearance, clear of the method colours
//   Quantity   the palette in order; from its fourth colour on when the figure also shows methods or the
//              unedited model, so a quantity never wears a method's colour there
#pragma once
#include <QColor>
#include <QString>
#include <QVector>

#include "detox_ui/figures/figure.h"
#include "detox_ui/workbench/theme.h"

namespace detox::ui {

// A method's colour in every figure, from its plot key: the method registry's plotRole ("method:dinm") or
// the bare name ("dinm"). dinm blue, sft orange, dpo green, self-reminder cyan, suffix-prompt olive; any
// other key one of the further method colours (the same for that key in every figure and run).
QColor methodColour(const QString& methodKey, Theme theme = currentTheme());

// One colour per series of a Line or Bar figure, in series order.
QVector<QColor> seriesColours(const FigureSpec& figure, Theme theme = currentTheme());
QVector<QColor> seriesColours(const FigureSpec& figure, const PlotPalette& palette);

}  // namespace detox::ui
