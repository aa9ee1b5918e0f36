#include "detox_ui/figures/series_colours.h"

#include <QMap>
#include <QStringList>

namespace detox::ui {

namespace {

// Methods with a colour of their own, in PlotPalette::methods order.
const QStringList kKnownMethods{"dinm", "sft", "dpo", "self-reminder", "suffix-prompt"};
// Locate variants with a colour of their own, in PlotPalette::variants order.
const QStringList kKnownVariants{"masked", "easyedit"};

// FNV-1a over the UTF-16 code units: the same index for a key in every run (qHash is seeded per process).
int stableIndex(const QString& key, int count) {
    uint32_t hash = 2166136261u;
    for (QChar c : key) hash = (hash ^ c.unicode()) * 16777619u;
    return int(hash % uint32_t(count));
}

// "method:DINM", "dinm" -> "dinm".
QString methodKeyOf(const QString& plotKey) {
    QString key = plotKey.trimmed().toLower();
    return key.startsWith("method:") ? key.mid(7) : key;
}

QColor methodColour(const QString& methodKey, const PlotPalette& palette) {
    const QString key = methodKeyOf(methodKey);
    const int known = int(kKnownMethods.indexOf(key));
    if (known >= 0 && known < palette.methods.size()) return palette.methods[known];
    const int further = int(palette.methods.size()) - int(kKnownMethods.size());
    if (further <= 0) return palette.methods.value(0, palette.series.value(0));
    return palette.methods[int(kKnownMethods.size()) + stableIndex(key, further)];
}

// The n-th run of one method in a figure (n = 0, 1, ...): the method's colour, then darker and lighter
// shades of it, so two runs of one method (say in two protocols) are told apart and still read as it.
QColor runShade(const QColor& methodColour, int run) {
    if (run == 0) return methodColour;
    const int step = (run + 1) / 2;
    return run % 2 ? methodColour.darker(100 + 45 * step) : methodColour.lighter(100 + 35 * step);
}

}  // namespace

QColor methodColour(const QString& methodKey, Theme theme) { return methodColour(methodKey, plotPalette(theme)); }

QVector<QColor> seriesColours(const FigureSpec& figure, Theme theme) { return seriesColours(figure, plotPalette(theme)); }

QVector<QColor> seriesColours(const FigureSpec& figure, const PlotPalette& palette) {
    bool showsMethods = false;
    for (const FigureSeries& series : figure.series)
        showsMethods = showsMethods || series.role == SeriesRole::Method || series.role == SeriesRole::Reference;
    const int firstFree = showsMethods ? 3 : 0;
    const int freeCount = showsMethods ? 4 : int(palette.series.size());  // 3..6 stay clear of method colours
    QStringList records, otherVariants;   // in order of appearance
    QMap<QString, int> methodRuns;          // series so far per method key
    QVector<QColor> colours;
    int nextFree = 0;
    for (const FigureSeries& series : figure.series) {
        switch (series.role) {
        case SeriesRole::Method:
            colours.append(runShade(methodColour(series.roleKey, palette), methodRuns[methodKeyOf(series.roleKey)]++));
            break;
        case SeriesRole::Reference: colours.append(palette.reference); break;
        case SeriesRole::Variant: {
            int index = int(kKnownVariants.indexOf(series.roleKey));
            if (index < 0) {
                if (!otherVariants.contains(series.roleKey)) otherVariants.append(series.roleKey);
                index = int(kKnownVariants.size() + otherVariants.indexOf(series.roleKey));
            }
            colours.append(palette.variants[index % palette.variants.size()]);
            break;
        }
        case SeriesRole::Record:
            if (!records.contains(series.roleKey)) records.append(series.roleKey);
            colours.append(palette.records[int(records.indexOf(series.roleKey)) % palette.records.size()]);
            break;
        case SeriesRole::Quantity:
            colours.append(palette.series[(firstFree + (nextFree++ % freeCount)) % palette.series.size()]);
            break;
        }
    }
    return colours;
}

}  // namespace detox::ui
