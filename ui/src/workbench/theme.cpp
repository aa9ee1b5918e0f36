#include "detox_ui/workbench/theme.h"

namespace detox::ui {

namespace {
Theme g_currentTheme = Theme::Light;
}

PlotPalette plotPalette(Theme theme) {
    PlotPalette palette;
    if (theme == Theme::Dark) {
        palette = {QColor("#1e1f22"), QColor("#dcdcdc"), QColor("#a0a0a0"), QColor("#3c3f44"), QColor("#2c2e32"),
                   QColor("#ff6b6b"),
                   {QColor("#4fa3e0"), QColor("#f5a142"), QColor("#5cc87a"), QColor("#e0675f"), QColor("#b392e6"),
                    QColor("#c99a7a"), QColor("#ee8fd0"), QColor("#b0b0b0")}};
        palette.methods = {palette.series[0], palette.series[1], palette.series[2], QColor("#4fd6e6"),
                           QColor("#d6d64f"), QColor("#8c9ae6"), QColor("#a8c66c")};
        palette.variants = {QColor("#b392e6"), QColor("#c99a7a"), QColor("#ee8fd0")};
        palette.records = {QColor("#f06bb0"), QColor("#f2c94c"), QColor("#4fc9a4"), QColor("#a19de0"), QColor("#d1a35a")};
    } else {
        palette = {QColor("#ffffff"), QColor("#202124"), QColor("#404040"), QColor("#dadce0"), QColor("#eef0f2"),
                   QColor("#d62728"),
                   {QColor("#1f77b4"), QColor("#ff7f0e"), QColor("#2ca02c"), QColor("#d62728"), QColor("#9467bd"),
                    QColor("#8c564b"), QColor("#e377c2"), QColor("#7f7f7f")}};
        palette.methods = {palette.series[0], palette.series[1], palette.series[2], QColor("#17becf"),
                           QColor("#bcbd22"), QColor("#393b79"), QColor("#637939")};
        palette.variants = {QColor("#9467bd"), QColor("#8c564b"), QColor("#e377c2")};
        palette.records = {QColor("#e7298a"), QColor("#e6ab02"), QColor("#1b9e77"), QColor("#7570b3"), QColor("#a6761d")};
    }
    palette.reference = palette.series[7];
    return palette;
}

QPalette applicationPalette(Theme theme) {
    if (theme == Theme::Light) {
        QPalette palette;  // Fusion's defaults are a clean light look
        palette.setColor(QPalette::Window, QColor("#f3f4f6"));
        palette.setColor(QPalette::Base, Qt::white);
        palette.setColor(QPalette::AlternateBase, QColor("#f7f8fa"));
        palette.setColor(QPalette::Text, QColor("#202124"));
        palette.setColor(QPalette::WindowText, QColor("#202124"));
        palette.setColor(QPalette::ButtonText, QColor("#202124"));
        palette.setColor(QPalette::Button, QColor("#eceef1"));
        palette.setColor(QPalette::Highlight, QColor("#2f6fbf"));
        palette.setColor(QPalette::HighlightedText, Qt::white);
        palette.setColor(QPalette::ToolTipBase, QColor("#ffffe6"));
        palette.setColor(QPalette::ToolTipText, QColor("#202124"));
        palette.setColor(QPalette::PlaceholderText, QColor("#80868b"));
        palette.setColor(QPalette::Disabled, QPalette::Text, QColor("#9aa0a6"));
        palette.setColor(QPalette::Disabled, QPalette::WindowText, QColor("#9aa0a6"));
        palette.setColor(QPalette::Disabled, QPalette::ButtonText, QColor("#9aa0a6"));
        return palette;
    }
    QPalette palette;
    palette.setColor(QPalette::Window, QColor("#2b2d30"));
    palette.setColor(QPalette::WindowText, QColor("#dcdcdc"));
    palette.setColor(QPalette::Base, QColor("#1e1f22"));
    palette.setColor(QPalette::AlternateBase, QColor("#25272a"));
    palette.setColor(QPalette::Text, QColor("#dcdcdc"));
    palette.setColor(QPalette::Button, QColor("#36383c"));
    palette.setColor(QPalette::ButtonText, QColor("#dcdcdc"));
    palette.setColor(QPalette::BrightText, QColor("#ff6b6b"));
    palette.setColor(QPalette::Highlight, QColor("#3d7cc9"));
    palette.setColor(QPalette::HighlightedText, Qt::white);
    palette.setColor(QPalette::ToolTipBase, QColor("#36383c"));
    palette.setColor(QPalette::ToolTipText, QColor("#dcdcdc"));
    palette.setColor(QPalette::Link, QColor("#6cb2f0"));
    palette.setColor(QPalette::PlaceholderText, QColor("#8a8d91"));
    palette.setColor(QPalette::Disabled, QPalette::Text, QColor("#6f7276"));
    palette.setColor(QPalette::Disabled, QPalette::WindowText, QColor("#6f7276"));
    palette.setColor(QPalette::Disabled, QPalette::ButtonText, QColor("#6f7276"));
    return palette;
}

Theme currentTheme() { return g_currentTheme; }
void setCurrentTheme(Theme theme) { g_currentTheme = theme; }

QString themeName(Theme theme) { return theme == Theme::Dark ? "dark" : "light"; }
Theme themeFromName(const QString& name) { return name == "dark" ? Theme::Dark : Theme::Light; }

QVector<QPair<double, QColor>> sequentialColorStops() {
    // Samples of the viridis colour map at equal steps: dark blue-violet to yellow, monotone in lightness.
    const char* colours[] = {"#440154", "#482878", "#3e4989", "#31688e", "#26828e",
                             "#1f9e89", "#35b779", "#6ece58", "#b5de2b", "#fde725"};
    QVector<QPair<double, QColor>> stops;
    const int count = int(std::size(colours));
    for (int i = 0; i < count; ++i) stops.append({double(i) / (count - 1), QColor(colours[i])});
    return stops;
}

QVector<QPair<double, QColor>> divergingColorStops(Theme theme) {
    // Blue (negative) through a neutral centre to red (positive); the centre matches the background
    // so "no change" reads as empty.
    const QColor centre = theme == Theme::Dark ? QColor("#2a2a2a") : QColor("#f7f7f7");
    return {{0.0, QColor("#2166ac")}, {0.2, QColor("#4393c3")}, {0.4, QColor("#92c5de")}, {0.5, centre},
            {0.6, QColor("#f4a582")}, {0.8, QColor("#d6604d")}, {1.0, QColor("#b2182b")}};
}

}  // namespace detox::ui
