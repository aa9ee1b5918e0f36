#include "detox_ui/figures/plot_view.h"

#include <QFileDialog>
#include <QLabel>
#include <QMenu>
#include <QMessageBox>
#include <QStackedLayout>
#include <QToolButton>
#include <QToolTip>
#include <QVBoxLayout>
#include <qcustomplot.h>

#include <algorithm>
#include <cmath>

#include "detox/error.h"

namespace detox::ui {

namespace {

// A token label needs about this many pixels across (rotated text: one line height plus a gap).
constexpr int kPixelsPerColumn = 16;
constexpr int kMinPageColumns = 16;
constexpr int kMaxPageColumns = 64;
// Grouped bars get the width their value labels need standing upright (PlotsTest checks the fit).
constexpr int kPixelsPerBar = 15;
constexpr int kWidestBarMinimum = 720;
constexpr int kPlotMinimumWidth = 320;

int minimumPlotWidth(const FigureSpec& figure) {
    if (figure.kind != FigureKind::Bar) return kPlotMinimumWidth;
    int bars = 0;
    for (const FigureSeries& series : figure.series) bars += int(series.y.size());
    return std::clamp(90 + kPixelsPerBar * bars, kPlotMinimumWidth, kWidestBarMinimum);
}

QString formatValue(double value) {
    if (std::isnan(value)) return QObject::tr("n/a");
    return QString::number(value, 'g', 5);
}

}  // namespace

PlotView::PlotView(QWidget* parent) : QWidget(parent), theme_(currentTheme()) {
    plot_ = new QCustomPlot(this);
    plot_->setObjectName("plot");
    plot_->setMinimumSize(kPlotMinimumWidth, 220);
    plot_->setContextMenuPolicy(Qt::CustomContextMenu);
    plot_->setMouseTracking(true);
    plot_->setInteractions(QCP::Interactions(QCP::iRangeDrag) | QCP::iRangeZoom);

    placeholder_ = new QLabel(this);
    placeholder_->setAlignment(Qt::AlignCenter);
    placeholder_->setWordWrap(true);
    placeholder_->setEnabled(false);

    exportButton_ = new QToolButton(this);
    exportButton_->setObjectName("exportButton");
    exportButton_->setText(tr("Export"));
    exportButton_->setToolTip(tr("Export this figure (PNG, PDF, SVG, CSV, JSON)"));
    exportButton_->setPopupMode(QToolButton::InstantPopup);
    exportButton_->setAutoRaise(true);
    buildExportMenu();
    exportButton_->setMenu(exportMenu_);

    previousPage_ = new QToolButton(this);
    previousPage_->setObjectName("previousPage");
    previousPage_->setText(tr("< Previous"));
    previousPage_->setAutoRaise(true);
    nextPage_ = new QToolButton(this);
    nextPage_->setObjectName("nextPage");
    nextPage_->setText(tr("Next >"));
    nextPage_->setAutoRaise(true);
    pageLabel_ = new QLabel(this);
    pageLabel_->setObjectName("pageLabel");
    connect(previousPage_, &QToolButton::clicked, this, [this] { setPage(page_ - 1); });
    connect(nextPage_, &QToolButton::clicked, this, [this] { setPage(page_ + 1); });

    auto* header = new QHBoxLayout;
    header->setContentsMargins(0, 0, 0, 0);
    header->addWidget(previousPage_);
    header->addWidget(pageLabel_);
    header->addWidget(nextPage_);
    header->addStretch(1);
    header->addWidget(exportButton_);
    stack_ = new QStackedLayout;
    stack_->addWidget(placeholder_);
    stack_->addWidget(plot_);
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->setSpacing(0);
    layout->addLayout(header);
    layout->addLayout(stack_, 1);

    connect(plot_, &QCustomPlot::mouseMove, this, &PlotView::showHoverTip);
    connect(plot_, &QWidget::customContextMenuRequested, this,
            [this](const QPoint& position) { exportMenu_->popup(plot_->mapToGlobal(position)); });
    clearFigure();
}

void PlotView::buildExportMenu() {
    exportMenu_ = new QMenu(tr("Export figure"), this);
    exportMenu_->addAction(tr("PNG (2x)..."), this, [this] { exportWithDialog(ExportFormat::Png, 2.0); });
    exportMenu_->addAction(tr("PNG (3x)..."), this, [this] { exportWithDialog(ExportFormat::Png, 3.0); });
    exportMenu_->addAction(tr("PDF..."), this, [this] { exportWithDialog(ExportFormat::Pdf, 2.0); });
    exportMenu_->addAction(tr("SVG..."), this, [this] { exportWithDialog(ExportFormat::Svg, 2.0); });
    exportMenu_->addSeparator();
    exportMenu_->addAction(tr("Data as CSV..."), this, [this] { exportWithDialog(ExportFormat::Csv, 2.0); });
    exportMenu_->addAction(tr("Data as JSON..."), this, [this] { exportWithDialog(ExportFormat::Json, 2.0); });
    exportMenu_->addSeparator();
    exportMenu_->addAction(tr("All formats..."), this, [this] { exportWithDialog(kAllExportFormats, 2.0); });
}

void PlotView::setFigure(const FigureSpec& figure) {
    figure_ = figure;
    hasFigure_ = true;
    plot_->setMinimumWidth(minimumPlotWidth(figure));
    stack_->setCurrentWidget(plot_);
    exportButton_->setEnabled(true);
    showPage(0, true);
}

int PlotView::pageColumns() const {
    const int width = plot_->width() > 50 ? plot_->width() : ExportOptions{}.width;
    return std::clamp((width - 160) / kPixelsPerColumn, kMinPageColumns, kMaxPageColumns);  // less axis and scale
}

void PlotView::setPage(int page) {
    if (page < 0 || page >= pageCount() || page == page_) return;
    showPage(page, false);
}

// rePage: the page size may have changed (a new figure, a resize); keeps the first column shown in view.
void PlotView::showPage(int page, bool rePage) {
    if (rePage) {
        const int firstShown = pageStarts_.value(page_, 0);
        pagedColumns_ = pageColumns();
        pageStarts_ = heatmapPageStarts(figure_, pagedColumns_);
        if (page != 0 || firstShown == 0) page_ = std::clamp(page, 0, int(pageStarts_.size()) - 1);
        else page_ = int(std::upper_bound(pageStarts_.begin(), pageStarts_.end(), firstShown) - pageStarts_.begin()) - 1;
    } else {
        page_ = page;
    }
    shown_ = pageCount() > 1 ? heatmapPage(figure_, pageStarts_[page_], pagedColumns_) : figure_;
    const bool paged = pageCount() > 1;
    for (QWidget* widget : {static_cast<QWidget*>(previousPage_), static_cast<QWidget*>(nextPage_),
                            static_cast<QWidget*>(pageLabel_)})
        widget->setVisible(paged);
    previousPage_->setEnabled(page_ > 0);
    nextPage_->setEnabled(page_ + 1 < pageCount());
    pageLabel_->setText(tr("page %1 of %2").arg(page_ + 1).arg(pageCount()));
    renderFigure(shown_, plot_, theme_);
    plot_->replot();
}

void PlotView::resizeEvent(QResizeEvent* event) {
    QWidget::resizeEvent(event);
    if (hasFigure_ && figure_.kind == FigureKind::Heatmap && pageColumns() != pagedColumns_) showPage(page_, true);
}

void PlotView::clearFigure(const QString& placeholder) {
    figure_ = {};
    shown_ = {};
    plot_->setMinimumWidth(kPlotMinimumWidth);
    pageStarts_ = {0};
    page_ = 0;
    for (QWidget* widget : {static_cast<QWidget*>(previousPage_), static_cast<QWidget*>(nextPage_),
                            static_cast<QWidget*>(pageLabel_)})
        widget->setVisible(false);
    hasFigure_ = false;
    placeholder_->setText(placeholder.isEmpty() ? tr("No figure yet") : placeholder);
    stack_->setCurrentWidget(placeholder_);
    exportButton_->setEnabled(false);
}

void PlotView::setTheme(Theme theme) {
    theme_ = theme;
    if (hasFigure_) renderFigure(shown_, plot_, theme_);
    else applyPlotTheme(plot_, theme_);
    plot_->replot();
}

QString PlotView::hoverText(const QPointF& pixel) const {
    if (!hasFigure_) return {};
    if (shown_.kind == FigureKind::Heatmap) {
        const HeatmapData& heat = shown_.heatmap;
        if (!plot_->axisRect()->rect().contains(pixel.toPoint())) return {};
        const int col = int(std::lround(plot_->xAxis->pixelToCoord(pixel.x())));
        const int row = int(std::lround(plot_->yAxis->pixelToCoord(pixel.y())));
        if (row < 0 || row >= heat.rows || col < 0 || col >= heat.cols) return {};
        const QString rowName = heat.rowLabels.value(row, QString::number(row));
        const QString colName = heat.colLabels.value(col, QString::number(col));
        return tr("%1: %2\n%3: %4\n%5: %6")
            .arg(shown_.yLabel.isEmpty() ? tr("row") : shown_.yLabel, rowName,
                 shown_.xLabel.isEmpty() ? tr("column") : shown_.xLabel, colName,
                 heat.valueLabel.isEmpty() ? tr("value") : heat.valueLabel, formatValue(heat.at(row, col)));
    }
    if (shown_.kind == FigureKind::Bar) {
        for (int i = 0; i < plot_->plottableCount(); ++i) {
            auto* bars = qobject_cast<QCPBars*>(plot_->plottable(i));
            if (!bars) continue;
            QVariant details;
            if (bars->selectTest(pixel, false, &details) < 0) continue;
            const QCPDataSelection selection = details.value<QCPDataSelection>();
            if (selection.isEmpty()) continue;
            const auto point = bars->data()->at(selection.dataRange().begin());
            return tr("%1\n%2: %3").arg(shown_.categories.value(int(point->key)), bars->name(), formatValue(point->value));
        }
        return {};
    }
    // Line: the nearest data point within a small radius.
    const double radius = 24;
    double best = radius * radius;
    QString text;
    for (int s = 0; s < shown_.series.size(); ++s) {
        const FigureSeries& series = shown_.series[s];
        for (int i = 0; i < series.x.size(); ++i) {
            if (std::isnan(series.y[i])) continue;
            const double dx = plot_->xAxis->coordToPixel(series.x[i]) - pixel.x();
            const double dy = plot_->yAxis->coordToPixel(series.y[i]) - pixel.y();
            if (dx * dx + dy * dy >= best) continue;
            best = dx * dx + dy * dy;
            const int index = int(series.x[i]);
            const QString xText = (index == series.x[i] && index >= 0 && index < shown_.categories.size())
                                      ? shown_.categories[index]
                                      : formatValue(series.x[i]);
            text = tr("%1\n%2: %3\n%4: %5")
                       .arg(series.name, shown_.xLabel.isEmpty() ? "x" : shown_.xLabel, xText,
                            shown_.yLabel.isEmpty() ? "y" : shown_.yLabel, formatValue(series.y[i]));
            for (const FigureMarker& marker : series.markers)
                if (marker.x == series.x[i] && !marker.label.isEmpty()) text += "\n" + marker.label;
        }
    }
    return text;
}

void PlotView::showHoverTip(QMouseEvent* event) {
    const QString text = hoverText(event->position());
    if (text.isEmpty()) QToolTip::hideText();
    else QToolTip::showText(event->globalPosition().toPoint(), text, plot_);
}

QStringList PlotView::exportTo(const QString& basePath, ExportFormats formats, double pngScale) {
    ExportOptions options;
    options.width = plot_->width() > 50 ? plot_->width() : options.width;
    options.height = plot_->height() > 50 ? plot_->height() : options.height;
    options.pngScale = pngScale;
    options.theme = theme_;
    const QStringList files = exportPlot(plot_, shown_, basePath, formats, options);
    emit exported(files);
    return files;
}

void PlotView::exportWithDialog(ExportFormats formats, double pngScale) {
    if (!hasFigure_) return;
    QString filter;
    QString suffix;
    if (formats == ExportFormats(ExportFormat::Png)) suffix = "png";
    else if (formats == ExportFormats(ExportFormat::Pdf)) suffix = "pdf";
    else if (formats == ExportFormats(ExportFormat::Svg)) suffix = "svg";
    else if (formats == ExportFormats(ExportFormat::Csv)) suffix = "csv";
    else if (formats == ExportFormats(ExportFormat::Json)) suffix = "json";
    filter = suffix.isEmpty() ? tr("Base name (*)") : QString("%1 (*.%2)").arg(suffix.toUpper(), suffix);
    const QString proposed = shown_.id.isEmpty() ? QStringLiteral("figure") : shown_.id;
    QString path = QFileDialog::getSaveFileName(this, tr("Export figure"), proposed + (suffix.isEmpty() ? "" : "." + suffix), filter);
    if (path.isEmpty()) return;
    if (!suffix.isEmpty() && path.endsWith("." + suffix, Qt::CaseInsensitive)) path.chop(suffix.size() + 1);
    try {
        exportTo(path, formats, pngScale);
    } catch (const std::exception& error) {
        emit exportFailed(QString::fromStdString(error.what()));
        QMessageBox::warning(this, tr("Export failed"), QString::fromStdString(error.what()));
    }
}

}  // namespace detox::ui
