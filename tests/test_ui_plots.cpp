// The plot layer: FigureSpecs render into QCustomPlot with the right data, exports are valid files,
// JSON round-trips, and hover tooltips name the value under the cursor.
#include <QImage>
#include <QJsonDocument>
#include <QTemporaryDir>
#include <QXmlStreamReader>
#include <QtTest>
#include <qcustomplot.h>

#include <cmath>

#include "detox/error.h"
#include "detox_ui/figures/figure.h"
#include "detox_ui/figures/figures_core.h"
#include "detox_ui/figures/plot_render.h"
#include "detox_ui/figures/plot_view.h"
#include "detox_ui/figures/series_colours.h"
#include "support/plot_values.h"

using namespace detox::ui;

namespace {

FigureSpec lineFigure() {
    FigureSpec spec;
    spec.id = "toxic-layers";
    spec.title = "Toxicity by layer";
    spec.xLabel = "layer";
    spec.yLabel = "toxic-probe score";
    spec.kind = FigureKind::Line;
    spec.series = {{"unsafe", {0, 1, 2, 3, 4}, {0.1, 0.3, 0.9, 0.4, 0.2}, {{2, 0.9, "toxic layer"}}},
                   {"safe", {0, 1, 2, 3, 4}, {0.1, 0.15, 0.2, 0.1, 0.05}, {}}};
    return spec;
}

FigureSpec barFigure() {
    FigureSpec spec;
    spec.id = "defense-success";
    spec.title = "Defense success";
    spec.yLabel = "DS (%)";
    spec.kind = FigureKind::Bar;
    spec.categories = {"DINM", "SFT", "DPO"};
    spec.series = {{"DS", {0, 1, 2}, {96.0, 47.5, 58.25}, {}}, {"DG avg", {0, 1, 2}, {88.0, 31.0, 40.0}, {}}};
    return spec;
}

FigureSpec heatmapFigure() {
    FigureSpec spec;
    spec.id = "region-shift";
    spec.title = "Activation shift";
    spec.xLabel = "token";
    spec.yLabel = "layer";
    spec.kind = FigureKind::Heatmap;
    spec.heatmap.rows = 3;
    spec.heatmap.cols = 4;
    // value = row * 10 + col - 5, so each cell is checkable by hand
    for (int r = 0; r < 3; ++r)
        for (int c = 0; c < 4; ++c) spec.heatmap.values.append(r * 10 + c - 5);
    spec.heatmap.rowLabels = {"L0", "L1", "L2"};
    spec.heatmap.colLabels = {"How", "to", "make", "it"};
    spec.heatmap.valueLabel = "shift";
    spec.heatmap.scale = ColorScale::Diverging;
    return spec;
}

QString scratch(QTemporaryDir& dir, const QString& name) { return dir.filePath(name); }

}  // namespace

class PlotsTest : public QObject {
    Q_OBJECT
private slots:
    void lineFigureHoldsItsData() {
        QCustomPlot plot;
        plot.resize(800, 500);
        renderFigure(lineFigure(), &plot);
        QCOMPARE(plot.graphCount(), 3);  // two series and the first one's markers
        QCPGraph* unsafe = plot.graph(0);
        QCOMPARE(unsafe->name(), QString("unsafe"));
        QCOMPARE(unsafe->data()->size(), 5);
        QCOMPARE(unsafe->data()->at(2)->key, 2.0);
        QCOMPARE(unsafe->data()->at(2)->value, 0.9);
        QCOMPARE(plot.graph(1)->data()->at(4)->value, 0.05);
        QCOMPARE(plot.graph(2)->data()->size(), 1);
        QCOMPARE(plot.graph(2)->data()->at(0)->value, 0.9);
        QVERIFY(plot.legend->visible());
        // One legend entry per curve; the marker is named by its label beside it, not in the legend.
        QCOMPARE(detox::test::legendNames(&plot), (QStringList{"unsafe", "safe"}));
        QCOMPARE(detox::test::plotTexts(&plot), QStringList{"toxic layer"});
        QCOMPARE(plot.xAxis->label(), QString("layer"));
        auto* title = qobject_cast<QCPTextElement*>(plot.plotLayout()->element(0, 0));
        QVERIFY(title);
        QCOMPARE(title->text(), QString("Toxicity by layer"));
        // Rendering a second figure replaces the first completely: the bars and their six value labels.
        renderFigure(barFigure(), &plot);
        QCOMPARE(plot.graphCount(), 0);
        QCOMPARE(plot.plottableCount(), 2);
        QCOMPARE(detox::test::plotTexts(&plot), (QStringList{"96", "47.5", "58.3", "88", "31", "40"}));
    }

    void groupedBarsHoldTheirData() {
        QCustomPlot plot;
        plot.resize(800, 500);
        renderFigure(barFigure(), &plot);
        QCOMPARE(plot.plottableCount(), 2);
        auto* ds = qobject_cast<QCPBars*>(plot.plottable(0));
        auto* dg = qobject_cast<QCPBars*>(plot.plottable(1));
        QVERIFY(ds && dg);
        QCOMPARE(ds->data()->size(), 3);
        QCOMPARE(ds->data()->at(1)->value, 47.5);
        QCOMPARE(dg->data()->at(2)->value, 40.0);
        QVERIFY(ds->barsGroup() && ds->barsGroup() == dg->barsGroup());
        auto ticker = plot.xAxis->ticker().dynamicCast<QCPAxisTickerText>();
        QVERIFY(ticker);
        QCOMPARE(ticker->ticks().value(0), QString("DINM"));
        QCOMPARE(ticker->ticks().value(2), QString("DPO"));
        QVERIFY(plot.yAxis->range().lower == 0.0);
        QVERIFY(plot.yAxis->range().upper > 96.0);
    }

    void heatmapHoldsCellValues() {
        QCustomPlot plot;
        plot.resize(800, 500);
        renderFigure(heatmapFigure(), &plot);
        QCOMPARE(plot.plottableCount(), 1);
        auto* map = qobject_cast<QCPColorMap*>(plot.plottable(0));
        QVERIFY(map);
        QCOMPARE(map->data()->keySize(), 4);
        QCOMPARE(map->data()->valueSize(), 3);
        QCOMPARE(map->data()->cell(0, 0), -5.0);
        QCOMPARE(map->data()->cell(3, 2), 20.0 + 3 - 5);
        QCOMPARE(map->data()->cell(1, 1), 10.0 + 1 - 5);
        // Diverging scale without an explicit range: symmetric around zero over the data's extent.
        QCOMPARE(map->dataRange().lower, -18.0);
        QCOMPARE(map->dataRange().upper, 18.0);
        QVERIFY(map->colorScale());
        QCOMPARE(map->colorScale()->axis()->label(), QString("shift"));
        QVERIFY(plot.yAxis->rangeReversed());
    }

    // An all-zero result is drawn: bars at 0 (read back from the plot) each labelled "0", a legend entry
    // for the series, and a rate figure on a 0-100 axis; a rate not measured is labelled "n/a".
    void zeroBarsAreDrawnAndLabelled() {
        detox::SafetyMetrics zero;
        zero.DS = zero.DG_onlyQ = zero.DG_otherA = zero.DG_otherQ = zero.DG_otherAQ = zero.DG_Avg = 0.0;
        detox::SafetyMetrics partial;
        partial.DS = 50.0;
        const FigureSpec figure = metricsBarFigure({"original", "dinm"}, {zero, partial});
        QCustomPlot plot;
        plot.resize(800, 500);
        renderFigure(figure, &plot);
        QCOMPARE(detox::test::barValues(&plot, "original"), QVector<double>(6, 0.0));
        QCOMPARE(detox::test::legendNames(&plot), (QStringList{"original", "dinm"}));
        const QStringList texts = detox::test::plotTexts(&plot);
        QCOMPARE(texts.mid(0, 6), QStringList(6, "0"));
        QCOMPARE(texts.mid(6), (QStringList{"50", "n/a", "n/a", "n/a", "n/a", "n/a"}));
        QCOMPARE(plot.yAxis->range().lower, 0.0);
        QVERIFY(plot.yAxis->range().upper >= 100.0 && plot.yAxis->range().upper < 115.0);
        // One all-zero series alone keeps its legend entry and its labels.
        renderFigure(metricsBarFigure({"loaded model"}, {zero}), &plot);
        QCOMPARE(detox::test::legendNames(&plot), QStringList{"loaded model"});
        QVERIFY(plot.legend->visible());
        QCOMPARE(detox::test::plotTexts(&plot), QStringList(6, "0"));
        QCOMPARE(plot.yAxis->range().lower, 0.0);
        QVERIFY(plot.yAxis->range().upper >= 100.0);
        QCOMPARE(FigureSpec::fromJson(figure.toJson()).yRange, figure.yRange);
    }

    // Overlaid variants of one record are fractions of each curve's maximum (easyedit ~100x masked
    // would flatten masked), one legend entry each, and one label where their toxic layers coincide.
    void overlaidVariantsAreComparable() {
        detox::LocateResult masked, easyedit;
        masked.recordId = easyedit.recordId = 7;
        masked.variant = "masked";
        easyedit.variant = "easyedit";
        masked.distances = {0.5, 1.0, 3.5, 2.0};
        easyedit.distances = {20.0, 60.0, 210.0, 100.0};
        masked.toxicLayer = easyedit.toxicLayer = 2;
        const FigureSpec figure = toxicLayerFigure({masked, easyedit});
        QCOMPARE(figure.series[0].y, (QVector<double>{0.5 / 3.5, 1.0 / 3.5, 1.0, 2.0 / 3.5}));
        QCOMPARE(figure.series[1].y, (QVector<double>{20.0 / 210, 60.0 / 210, 1.0, 100.0 / 210}));
        QCOMPARE(figure.series[0].name, QString("masked (max 3.5)"));
        QVERIFY(figure.yLabel.contains("maximum"));
        QCustomPlot plot;
        plot.resize(800, 500);
        renderFigure(figure, &plot);
        QCOMPARE(detox::test::legendNames(&plot), (QStringList{"masked (max 3.5)", "easyedit (max 210)"}));
        QCOMPARE(detox::test::plotTexts(&plot), QStringList{"toxic layer 2 (masked (max 3.5), easyedit (max 210))"});
        // Different toxic layers: one label each. One variant alone keeps its raw distances.
        easyedit.toxicLayer = 3;
        renderFigure(toxicLayerFigure({masked, easyedit}), &plot);
        QCOMPARE(detox::test::plotTexts(&plot), (QStringList{"toxic layer 2", "toxic layer 3"}));
        QCOMPARE(toxicLayerFigure({easyedit}).series[0].y, (QVector<double>{20.0, 60.0, 210.0, 100.0}));
    }

    // A one-step loss history gets an x axis around its step, not QCustomPlot's -6..6 default.
    void oneStepLossHasASaneAxis() {
        detox::EditResult edit;
        edit.method = "sft";
        edit.lossHistory = {{1, 0.7, 0.7, 0.0}};
        QCustomPlot plot;
        plot.resize(800, 500);
        renderFigure(lossFigure(edit), &plot);
        QVERIFY(plot.xAxis->range().contains(1.0));
        QVERIFY2(plot.xAxis->range().lower >= -0.5 && plot.xAxis->range().upper <= 2.5,
                 qPrintable(QString("%1..%2").arg(plot.xAxis->range().lower).arg(plot.xAxis->range().upper)));
        QVERIFY(plot.yAxis->range().contains(0.7) && plot.yAxis->range().size() < 1.0);
    }

    // Six series of grouped bars (the dataset comparison): every bar keeps its value label, zeros and n/a
    // included, and no two labels overlap: flat when wide, upright (smaller) when the bars are thin, none
    // outside the plot. Thinner still, only zeros and n/a keep theirs and the x axis says where the others
    // are. A PlotView gives such a figure the width its upright labels need.
    void crowdedValueLabelsStayReadable() {
        const QStringList methods{"original", "dinm", "sft", "dpo", "self-reminder", "suffix-prompt"};
        std::vector<detox::SafetyMetrics> metrics(6);
        for (int m = 0; m < 6; ++m) {
            detox::SafetyMetrics& row = metrics[size_t(m)];
            row.DS = m % 2 ? 100.0 : 0.0;
            row.DG_onlyQ = row.DG_otherAQ = 100.0;
            row.DG_otherA = 66.7;
            row.DG_otherQ = m == 0 ? std::optional<double>() : std::optional<double>(0.0);
            row.DG_Avg = 91.7;
        }
        const FigureSpec figure = metricsBarFigure(methods, metrics);
        auto expectedLabel = [](int m, int k) {
            return QStringList{m % 2 ? "100" : "0", "100", "66.7", m == 0 ? "n/a" : "0", "100", "91.7"}[k];
        };
        QCustomPlot plot;
        plot.show();
        QVERIFY(QTest::qWaitForWindowExposed(&plot));
        for (const QSize size : {QSize(600, 330), QSize(1600, 500), QSize(400, 330)}) {
            plot.resize(size);
            QTRY_COMPARE(plot.viewport().size(), size);
            renderFigure(figure, &plot);
            plot.replot();
            const bool crowded = size.width() < 500;
            QCOMPARE(detox::test::textItems(&plot, "detoxValueLabel").size(), 36);
            QList<QCPItemText*> shown;
            for (int m = 0; m < 6; ++m)
                for (int k = 0; k < 6; ++k) {
                    auto* label = plot.findChild<QCPItemText*>(QString("value:%1:%2").arg(methods[m]).arg(k));
                    QVERIFY(label);
                    QCOMPARE(label->text(), expectedLabel(m, k));
                    const bool unseenBar = label->text() == "0" || label->text() == "n/a";
                    QCOMPARE(label->visible(), !crowded || unseenBar);
                    if (label->visible()) shown.append(label);
                }
            QCOMPARE(plot.xAxis->label().contains("hover a bar"), crowded);
            const QRectF inside = QRectF(plot.viewport()).adjusted(-0.5, -0.5, 0.5, 0.5);
            for (int i = 0; i < shown.size(); ++i) {
                const QRectF box = detox::test::textBox(shown[i]);
                QVERIFY2(inside.contains(box), qPrintable(shown[i]->objectName()));
                for (int j = i + 1; j < shown.size(); ++j) {
                    const QRectF overlap = box.intersected(detox::test::textBox(shown[j]));
                    const QRectF other = detox::test::textBox(shown[j]);
                    QVERIFY2(overlap.width() < 0.5 || overlap.height() < 0.5,
                             qPrintable(QString("%1 [%2,%3 %4x%5] / %6 [%7,%8 %9x%10], %11 pt")
                                            .arg(shown[i]->objectName()).arg(box.x()).arg(box.y()).arg(box.width()).arg(box.height())
                                            .arg(shown[j]->objectName()).arg(other.x()).arg(other.y()).arg(other.width()).arg(other.height())
                                            .arg(shown[i]->font().pointSizeF())));
                }
            }
            QCOMPARE(shown.front()->rotation(), size.width() < 1000 ? -90.0 : 0.0);
            QVERIFY(shown.front()->font().pointSizeF() >= 6.0);
        }
        PlotView view;
        view.resize(300, 400);
        view.setFigure(figure);
        QVERIFY(view.plot()->minimumWidth() >= 600);
    }

    // A long title wraps to a narrow plot (the patching map's pane cut it at both ends), whole; a marker
    // label shared by three curves at the last layer wraps inside the axis rect instead of running past
    // its left edge.
    void titlesAndMarkerLabelsFitNarrowPlots() {
        std::vector<detox::LocateResult> results;
        for (int id : {6, 0, 1}) {
            detox::LocateResult result;
            result.recordId = id;
            result.variant = "masked";
            result.distances = {15.0 + id, 15.5, 16.0, 16.1, 17.0, 17.2, 17.3, 20.0};
            result.toxicLayer = 7;
            results.push_back(result);
        }
        FigureSpec figure = toxicLayerFigure(results);
        figure.title = "Activation patching resid_post per position (record 6), the whole title";
        QCustomPlot plot;
        plot.resize(330, 300);
        plot.show();
        QVERIFY(QTest::qWaitForWindowExposed(&plot));
        QTRY_COMPARE(plot.viewport().width(), 330);
        renderFigure(figure, &plot);
        plot.replot();
        auto* title = qobject_cast<QCPTextElement*>(plot.plotLayout()->element(0, 0));
        QVERIFY(title);
        QVERIFY(title->text().contains('\n'));
        QCOMPARE(title->text().replace('\n', ' '), figure.title);
        const QFontMetricsF titleMetrics(title->font());
        for (const QString& line : title->text().split('\n'))
            QVERIFY2(titleMetrics.horizontalAdvance(line) <= plot.width(), qPrintable(line));
        const QList<QCPItemText*> markers = detox::test::textItems(&plot, "detoxMarkerLabel");
        QCOMPARE(markers.size(), 1);
        const QString full = markers.front()->property("detoxFullText").toString();
        QVERIFY2(full.startsWith("toxic layer 7 (masked record 6, masked record 0"), qPrintable(full));
        const QRectF box = detox::test::textBox(markers.front());
        QVERIFY2(box.left() >= plot.axisRect()->rect().left() - 0.5,
                 qPrintable(QString("label from %1, axis rect from %2").arg(box.left()).arg(plot.axisRect()->rect().left())));
        QVERIFY(box.right() <= plot.axisRect()->rect().right() + 0.5);
        QVERIFY(box.top() >= 0);
        QCOMPARE(markers.front()->text().replace('\n', ' '), full);  // wrapped, not cut
        // Wide enough, the same label stays on one line.
        plot.resize(1400, 500);
        QTRY_COMPARE(plot.viewport().width(), 1400);
        plot.replot();
        QCOMPARE(markers.front()->text(), full);
        // Exports fit at their own size (what the report writes).
        QCustomPlot hidden;
        renderFigure(figure, &hidden);
        hidden.toPixmap(330, 300);
        QVERIFY(qobject_cast<QCPTextElement*>(hidden.plotLayout()->element(0, 0))->text().contains('\n'));
    }

    // A heatmap in a narrow pane (the patching map beside the layer x token map): its title wraps within
    // the column left of the colour scale, its x label within the axis rect, both whole; twenty rows in a
    // short plot are labelled every k-th so the labels do not overprint (hover names each row).
    void heatmapTextsFitANarrowPane() {
        FigureSpec figure = heatmapFigure();
        figure.title = "Patching resid_post per position (record 6)";
        figure.xLabel = "prompt position (from the end) and the adversarial prompt's token";
        figure.heatmap.rows = 20;
        figure.heatmap.values.clear();
        figure.heatmap.rowLabels.clear();
        for (int r = 0; r < 20; ++r) {
            figure.heatmap.rowLabels << QString("n%1").arg(r * 17);
            for (int c = 0; c < 4; ++c) figure.heatmap.values.append(r - c);
        }
        QCustomPlot plot;
        plot.resize(330, 220);
        plot.show();
        QVERIFY(QTest::qWaitForWindowExposed(&plot));
        QTRY_COMPARE(plot.viewport().size(), QSize(330, 220));
        renderFigure(figure, &plot);
        plot.replot();
        auto* title = qobject_cast<QCPTextElement*>(plot.plotLayout()->element(0, 0));
        QVERIFY(title);
        QCOMPARE(title->text().replace('\n', ' '), figure.title);
        QCPColorScale* scale = nullptr;
        for (int i = 0; i < plot.plotLayout()->elementCount(); ++i)
            if (auto* element = qobject_cast<QCPColorScale*>(plot.plotLayout()->elementAt(i))) scale = element;
        QVERIFY(scale);
        const QFontMetricsF titleMetrics(title->font());
        for (const QString& line : title->text().split('\n'))
            QVERIFY2(titleMetrics.horizontalAdvance(line) <= plot.width() - scale->outerRect().width(), qPrintable(line));
        QVERIFY(plot.xAxis->label().contains('\n'));
        QCOMPARE(plot.xAxis->label().replace('\n', ' '), figure.xLabel);
        const QFontMetricsF labelMetrics(plot.xAxis->labelFont());
        for (const QString& line : plot.xAxis->label().split('\n'))
            QVERIFY2(labelMetrics.horizontalAdvance(line) <= plot.axisRect()->width(), qPrintable(line));
        const auto rows = plot.yAxis->ticker().dynamicCast<QCPAxisTickerText>();
        QVERIFY(rows);
        QVERIFY2(rows->ticks().size() < 20 && rows->ticks().size() >= 2, qPrintable(QString::number(rows->ticks().size())));
        const QList<double> at = rows->ticks().keys();
        const double spacing = std::abs(plot.yAxis->coordToPixel(at[1]) - plot.yAxis->coordToPixel(at[0]));
        QVERIFY(spacing >= QFontMetrics(plot.yAxis->tickLabelFont()).height());
        QCOMPARE(rows->ticks().value(0), QString("n0"));
        // Column labels wider than a column stand upright; those that fit lie flat.
        QCOMPARE(plot.xAxis->tickLabelRotation(), 0.0);  // "How", "to", "make", "it"
        figure.heatmap.colLabels = {"-4\n<|im_end|>", "-3\nassistant", "-2\n?", "-1\n\u21b5"};
        renderFigure(figure, &plot);
        plot.replot();
        QCOMPARE(plot.xAxis->tickLabelRotation(), -90.0);
        figure.heatmap.colLabels = {"-4", "-3", "-2", "-1"};
        renderFigure(figure, &plot);
        plot.replot();
        QCOMPARE(plot.xAxis->tickLabelRotation(), 0.0);
    }

    // A token heatmap wider than a page is shown a page at a time, titled with the columns it shows
    // ("tokens 701-763 of 763"), every column labelled, the whole map's colour range; nothing is cut.
    void wideHeatmapsArePaged() {
        FigureSpec wide = heatmapFigure();
        wide.heatmap.cols = 763;
        wide.heatmap.values.clear();
        wide.heatmap.colLabels.clear();
        for (int r = 0; r < 3; ++r)
            for (int c = 0; c < 763; ++c) wide.heatmap.values.append(r * 1000 + c);
        for (int c = 0; c < 763; ++c) wide.heatmap.colLabels.append(QString("t%1").arg(c));
        const FigureSpec page = heatmapPage(wide, 700, 64);
        QCOMPARE(page.title, QString("Activation shift: tokens 701-763 of 763"));
        QCOMPARE(page.heatmap.cols, 63);
        QCOMPARE(page.heatmap.at(2, 0), 2700.0);
        QCOMPARE(page.heatmap.colLabels.last(), QString("t762"));
        QCOMPARE(page.heatmap.rangeMax, 2762.0);  // symmetric diverging range of the whole map
        QCOMPARE(heatmapPageStarts(wide, 64).size(), 12);

        PlotView view;
        view.resize(1000, 500);
        view.setFigure(wide);
        const int columns = view.pageColumns();
        QVERIFY(columns >= 16 && columns <= 64);
        QCOMPARE(view.pageCount(), (763 + columns - 1) / columns);
        int shown = 0;
        for (int p = 0; p < view.pageCount(); ++p) {
            view.setPage(p);
            shown += view.shownFigure().heatmap.cols;
            auto ticker = view.plot()->xAxis->ticker().dynamicCast<QCPAxisTickerText>();
            QCOMPARE(ticker->ticks().size(), view.shownFigure().heatmap.cols);  // every token labelled
        }
        QCOMPARE(shown, 763);
        const int lastFirst = (view.pageCount() - 1) * columns + 1;
        QCOMPARE(view.shownFigure().title, QString("Activation shift: tokens %1-763 of 763").arg(lastFirst));
        QCOMPARE(view.figure().heatmap.cols, 763);  // the whole map stays the figure
        view.setFigure(heatmapFigure());
        QCOMPARE(view.pageCount(), 1);
        QCOMPARE(view.shownFigure(), heatmapFigure());
    }

    void sharedHeatmapRange() {
        FigureSpec before = heatmapFigure();
        before.heatmap.scale = ColorScale::Sequential;
        FigureSpec after = before;
        for (double& value : after.heatmap.values) value *= 2;  // -10 .. 36
        shareHeatmapRange({&before, &after});
        QCOMPARE(before.heatmap.rangeMin, -10.0);
        QCOMPARE(before.heatmap.rangeMax, 36.0);
        QCOMPARE(after.heatmap.rangeMin, -10.0);
        QCOMPARE(after.heatmap.rangeMax, 36.0);
        QCustomPlot plot;
        renderFigure(before, &plot);
        QCOMPARE(qobject_cast<QCPColorMap*>(plot.plottable(0))->dataRange().upper, 36.0);
    }

    void jsonRoundTrips() {
        for (FigureSpec spec : {lineFigure(), barFigure(), heatmapFigure()}) {
            const QByteArray text = QJsonDocument(spec.toJson()).toJson();
            const FigureSpec back = FigureSpec::fromJson(QJsonDocument::fromJson(text).object());
            QCOMPARE(back, spec);
        }
        // Missing values (NaN) survive as null.
        FigureSpec gaps = lineFigure();
        gaps.series[1].y[2] = std::nan("");
        const FigureSpec back = FigureSpec::fromJson(QJsonDocument::fromJson(QJsonDocument(gaps.toJson()).toJson()).object());
        QVERIFY(std::isnan(back.series[1].y[2]));
        QCOMPARE(back, gaps);
    }

    void malformedJsonNamesTheField() {
        QJsonObject object = heatmapFigure().toJson();
        QJsonObject map = object["heatmap"].toObject();
        map["rows"] = 5;  // 5 x 4 needs 20 values, there are 12
        object["heatmap"] = map;
        try {
            FigureSpec::fromJson(object, "fig.json");
            QFAIL("expected detox::Error");
        } catch (const detox::Error& error) {
            QCOMPARE(QString::fromStdString(error.file()), QString("fig.json"));
            QCOMPARE(QString::fromStdString(error.field()), QString("heatmap.values"));
        }
        QJsonObject line = lineFigure().toJson();
        QJsonArray series = line["series"].toArray();
        QJsonObject first = series[0].toObject();
        first["y"] = QJsonArray{1, "two", 3, 4, 5};
        series[0] = first;
        line["series"] = series;
        try {
            FigureSpec::fromJson(line, "fig.json");
            QFAIL("expected detox::Error");
        } catch (const detox::Error& error) {
            QCOMPARE(QString::fromStdString(error.field()), QString("series[0].y[1]"));
        }
        QJsonObject badKind = lineFigure().toJson();
        badKind["kind"] = "pie";
        QVERIFY_THROWS_EXCEPTION(detox::Error, FigureSpec::fromJson(badKind));
    }

    void csvHasOneRowPerPoint() {
        const QStringList line = lineFigure().toCsv().split('\n', Qt::SkipEmptyParts);
        QCOMPARE(line.size(), 1 + 10);
        QCOMPARE(line[0], QString("series,x,category,y"));
        QCOMPARE(line[3], QString("unsafe,2,,0.9"));
        const QStringList bars = barFigure().toCsv().split('\n', Qt::SkipEmptyParts);
        QCOMPARE(bars[2], QString("DS,1,SFT,47.5"));
        const QStringList heat = heatmapFigure().toCsv().split('\n', Qt::SkipEmptyParts);
        QCOMPARE(heat.size(), 1 + 12);
        QCOMPARE(heat[0], QString("row,col,row_label,col_label,value"));
        QCOMPARE(heat.last(), QString("2,3,L2,it,18"));
    }

    void exportsEveryFormatOffscreen_data() {
        QTest::addColumn<int>("which");
        QTest::newRow("line") << 0;
        QTest::newRow("bar") << 1;
        QTest::newRow("heatmap") << 2;
    }

    void exportsEveryFormatOffscreen() {
        QFETCH(int, which);
        const FigureSpec spec = QVector<FigureSpec>{lineFigure(), barFigure(), heatmapFigure()}[which];
        QTemporaryDir dir;
        QVERIFY(dir.isValid());
        // DETOX_KEEP_FIGURES=1 keeps the exported files for looking at them.
        dir.setAutoRemove(qEnvironmentVariableIsEmpty("DETOX_KEEP_FIGURES"));
        if (!dir.autoRemove()) qInfo() << "figures kept in" << dir.path();
        ExportOptions options;
        options.width = 640;
        options.height = 400;
        options.pngScale = 2.0;
        const QString base = scratch(dir, "out/" + spec.id);
        const QStringList files = exportFigure(spec, base, kAllExportFormats, options);
        QCOMPARE(files.size(), 5);

        QImage png(base + ".png");
        QVERIFY(!png.isNull());
        QCOMPARE(png.size(), QSize(1280, 800));
        // Not blank: the figure draws in more than one colour.
        QSet<QRgb> colours;
        for (int x = 0; x < png.width(); x += 7) colours.insert(png.pixel(x, png.height() / 2));
        QVERIFY(colours.size() > 2);

        QFile pdf(base + ".pdf");
        QVERIFY(pdf.open(QIODevice::ReadOnly));
        QVERIFY(pdf.read(5) == "%PDF-");
        QVERIFY(pdf.size() > 1000);

        QFile svg(base + ".svg");
        QVERIFY(svg.open(QIODevice::ReadOnly));
        QXmlStreamReader xml(&svg);
        QString rootName;
        int elements = 0;
        while (!xml.atEnd()) {
            if (xml.readNext() == QXmlStreamReader::StartElement) {
                if (rootName.isEmpty()) rootName = xml.name().toString();
                ++elements;
            }
        }
        QVERIFY2(!xml.hasError(), qPrintable(xml.errorString()));
        QCOMPARE(rootName, QString("svg"));
        QVERIFY(elements > 10);

        QFile csv(base + ".csv");
        QVERIFY(csv.open(QIODevice::ReadOnly));
        const QStringList rows = QString::fromUtf8(csv.readAll()).split('\n', Qt::SkipEmptyParts);
        const int expectedRows = which == 0 ? 10 : which == 1 ? 6 : 12;
        QCOMPARE(rows.size(), 1 + expectedRows);

        QFile json(base + ".json");
        QVERIFY(json.open(QIODevice::ReadOnly));
        QCOMPARE(FigureSpec::fromJson(QJsonDocument::fromJson(json.readAll()).object()), spec);
        QVERIFY(!QFileInfo::exists(base + ".pdf.part"));
    }

    void exportAllGivesUniqueNames() {
        QTemporaryDir dir;
        FigureSpec a = barFigure();
        FigureSpec b = barFigure();
        b.series[0].y[0] = 1.0;
        const QStringList files = exportAllFigures({a, b}, dir.path(), ExportFormat::Json | ExportFormat::Csv);
        QCOMPARE(files.size(), 4);
        QVERIFY(QFileInfo::exists(dir.filePath("defense-success.json")));
        QVERIFY(QFileInfo::exists(dir.filePath("defense-success-2.json")));
    }

    void threeTimesScalePng() {
        QTemporaryDir dir;
        ExportOptions options;
        options.width = 300;
        options.height = 200;
        options.pngScale = 3.0;
        exportFigure(lineFigure(), dir.filePath("x"), ExportFormat::Png, options);
        QCOMPARE(QImage(dir.filePath("x.png")).size(), QSize(900, 600));
    }

    void hoverNamesTheValue() {
        PlotView view;
        view.resize(800, 500);
        view.show();
        QVERIFY(QTest::qWaitForWindowExposed(&view));
        view.setFigure(heatmapFigure());
        view.plot()->replot();
        QCustomPlot* plot = view.plot();
        // Centre of cell row 1 ("L1"), col 2 ("make"): value 10 + 2 - 5 = 7.
        const QPointF cell(plot->xAxis->coordToPixel(2), plot->yAxis->coordToPixel(1));
        const QString text = view.hoverText(cell);
        QVERIFY2(text.contains("L1") && text.contains("make") && text.contains("7"), qPrintable(text));
        QVERIFY(view.hoverText(QPointF(2, 2)).isEmpty());  // outside the axis rect

        view.setFigure(lineFigure());
        view.plot()->replot();
        const QPointF near(plot->xAxis->coordToPixel(2) + 3, plot->yAxis->coordToPixel(0.9) - 2);
        const QString lineText = view.hoverText(near);
        QVERIFY2(lineText.contains("unsafe") && lineText.contains("0.9") && lineText.contains("toxic layer"),
                 qPrintable(lineText));

        view.setFigure(barFigure());
        view.plot()->replot();
        // Scan across the SFT group at a height both bars reach; the left bar of the group is DS.
        QString barText;
        const double y = plot->yAxis->coordToPixel(20);
        for (double x = plot->xAxis->coordToPixel(0.6); x < plot->xAxis->coordToPixel(1.4) && barText.isEmpty(); x += 1)
            barText = view.hoverText(QPointF(x, y));
        QVERIFY2(barText.contains("SFT") && barText.contains("47.5"), qPrintable(barText));
    }

    // Bars: the legend sits in its own row above the axis rect (never over a bar); back inside the
    // rect for a line figure rendered next.
    void barLegendStaysAboveThePlot() {
        QCustomPlot plot;
        plot.resize(800, 500);
        renderFigure(barFigure(), &plot);
        plot.replot();
        QVERIFY(plot.legend->visible());
        QVERIFY(plot.legend->layout() == plot.plotLayout());
        QVERIFY(plot.legend->outerRect().bottom() <= plot.axisRect()->outerRect().top());
        QVERIFY(plot.legend->outerRect().top() >= plot.plotLayout()->element(0, 0)->outerRect().bottom());
        renderFigure(lineFigure(), &plot);
        plot.replot();
        QVERIFY(plot.legend->layout() == plot.axisRect()->insetLayout());
        QCOMPARE(plot.plotLayout()->rowCount(), 2);  // title and axis rect only
        renderFigure(barFigure(), &plot);            // and out again, without a leftover row
        QCOMPARE(plot.plotLayout()->rowCount(), 3);
        QCOMPARE(plot.legend->columnCount(), 2);     // both entries side by side at 800 px
        // Long names in a narrow plot: one entry a row, each name whole.
        FigureSpec longNames = barFigure();
        longNames.series[0].name = "region activation change (%)";
        longNames.series[1].name = "toxicity reduction (points)";
        plot.resize(300, 300);
        renderFigure(longNames, &plot);
        plot.replot();
        QCOMPARE(plot.legend->columnCount(), 1);
        QCOMPARE(plot.legend->rowCount(), 2);
    }

    // The role picks the colour, never the name: a method has one colour in every figure whatever its
    // position or label (dinm blue, sft orange, dpo green), the unedited model grey.
    void coloursFollowTheRole() {
        const PlotPalette palette = plotPalette(Theme::Light);
        QCustomPlot plot;
        plot.resize(800, 500);
        FigureSpec bars = barFigure();
        bars.categories = {"DS", "DG_Avg"};
        bars.series = {{"run 3", {0, 1}, {1, 2}, {}, SeriesRole::Method, "dpo"},
                       {"first run", {0, 1}, {3, 4}, {}, SeriesRole::Method, "method:dinm"},
                       {"dinm", {0, 1}, {1, 1}, {}}};  // a quantity called "dinm" is no method
        renderFigure(bars, &plot);
        auto barColour = [&](int i) { return qobject_cast<QCPBars*>(plot.plottable(i))->brush().color(); };
        QCOMPARE(barColour(0), palette.series[2]);
        QCOMPARE(barColour(1), palette.series[0]);
        QCOMPARE(barColour(2), palette.series[3]);  // not a method: clear of the method colours
        QCOMPARE(seriesColours(bars, Theme::Light), (QVector<QColor>{barColour(0), barColour(1), barColour(2)}));
        FigureSpec curves = lineFigure();
        curves.series = {{"before (record 0)", {0, 1}, {1, 2}, {}, SeriesRole::Reference, {}},
                         {"after sft-2", {0, 1}, {1, 3}, {}, SeriesRole::Method, "sft"},
                         {"after dpo-1", {0, 1}, {2, 2}, {}, SeriesRole::Method, "dinm"}};  // the key, not the name
        renderFigure(curves, &plot);
        QCOMPARE(plot.graph(0)->pen().color(), palette.series[7]);
        QCOMPARE(plot.graph(0)->pen().color(), palette.reference);
        QCOMPARE(plot.graph(1)->pen().color(), palette.series[1]);
        QCOMPARE(plot.graph(2)->pen().color(), palette.series[0]);
        FigureSpec named = lineFigure();  // names that once picked method colours, as quantities
        named.series[0].name = "before";
        named.series[1].name = "after dpo";
        renderFigure(named, &plot);  // no methods: the palette in order, as before
        QCOMPARE(plot.graph(0)->pen().color(), palette.series[0]);
        QCOMPARE(plot.graph(1)->pen().color(), palette.series[1]);
    }

    // The colour the method registry's plot key maps to: the three paper methods as before, every other
    // method a colour of its own kind, the same in every call; in both themes.
    void methodColourByKey() {
        for (Theme theme : {Theme::Light, Theme::Dark}) {
            const PlotPalette palette = plotPalette(theme);
            QCOMPARE(methodColour("dinm", theme), palette.series[0]);
            QCOMPARE(methodColour("SFT", theme), palette.series[1]);
            QCOMPARE(methodColour("method:dpo", theme), palette.series[2]);
            const QColor reminder = methodColour("self-reminder", theme);
            const QColor suffix = methodColour("suffix-prompt", theme);
            const QColor other = methodColour("method:some-future-method", theme);
            QCOMPARE(other, methodColour("some-future-method", theme));
            QVERIFY(reminder != suffix);
            for (const QColor& colour : {reminder, suffix, other}) {
                QVERIFY(palette.methods.indexOf(colour) >= 3);
                QVERIFY(!palette.records.contains(colour));
                QVERIFY(!palette.variants.contains(colour));
                QVERIFY(colour != palette.reference);
            }
        }
    }

    // Records and locate variants have palettes of their own: never a method's colour, one colour a
    // record (in order of appearance, a record's curves share it), one a variant.
    void recordsAndVariantsAreNotInMethodColours() {
        for (Theme theme : {Theme::Light, Theme::Dark}) {
            const PlotPalette palette = plotPalette(theme);
            for (const QColor& colour : palette.records) {
                QVERIFY2(!palette.methods.contains(colour), qPrintable(colour.name()));
                QVERIFY(colour != palette.reference);
            }
            for (const QColor& colour : palette.variants) QVERIFY2(!palette.methods.contains(colour), qPrintable(colour.name()));
        }
        const PlotPalette palette = plotPalette(Theme::Light);
        std::vector<detox::LocateResult> results;
        for (int id : {7, 3, 7}) {
            detox::LocateResult result;
            result.recordId = id;
            result.variant = "masked";
            result.distances = {0.1, 0.5, 0.2};
            results.push_back(result);
        }
        results[2].variant = "easyedit";
        const FigureSpec byRecord = toxicLayerFigure(results);
        QCOMPARE(byRecord.series[0].role, SeriesRole::Record);
        QCOMPARE(byRecord.series[1].roleKey, QString("3"));
        QCOMPARE(seriesColours(byRecord, palette),
                 (QVector<QColor>{palette.records[0], palette.records[1], palette.records[0]}));
        results.resize(1);
        results.push_back(results[0]);
        results[1].variant = "easyedit";
        const FigureSpec byVariant = toxicLayerFigure(results);  // one record: a colour a variant
        QCOMPARE(byVariant.series[1].role, SeriesRole::Variant);
        QCOMPARE(seriesColours(byVariant, palette), (QVector<QColor>{palette.variants[0], palette.variants[1]}));
    }

    // Two runs of one method in one figure (say dinm in the plain and the easyedit protocol) are told
    // apart by a shade of the method's colour: same hue, other lightness; the first keeps the colour.
    void runsOfOneMethodGetShades() {
        const PlotPalette palette = plotPalette(Theme::Light);
        FigureSpec bars = barFigure();
        bars.categories = {"DS"};
        bars.series = {{"dinm-1 [easyedit]", {0}, {1}, {}, SeriesRole::Method, "method:dinm"},
                       {"sft-2", {0}, {2}, {}, SeriesRole::Method, "sft"},
                       {"dinm-3", {0}, {3}, {}, SeriesRole::Method, "dinm"},
                       {"dinm-4", {0}, {4}, {}, SeriesRole::Method, "dinm"}};
        const QVector<QColor> colours = seriesColours(bars, palette);
        const QColor dinm = methodColour("dinm", Theme::Light);
        QCOMPARE(colours[0], dinm);
        QCOMPARE(colours[1], methodColour("sft", Theme::Light));
        for (int i : {2, 3}) {
            QVERIFY2(colours[i] != dinm, qPrintable(colours[i].name()));
            QVERIFY2(std::abs(colours[i].hsvHue() - dinm.hsvHue()) <= 2, qPrintable(colours[i].name()));  // rounding
        }
        QVERIFY(colours[2].value() < dinm.value());  // the second run darker
        QVERIFY(colours[3] != colours[2]);
    }

    void roleRoundTripsAndIsChecked() {
        FigureSpec spec = lineFigure();
        spec.series[0].as(SeriesRole::Method, "dinm");
        spec.series[1].as(SeriesRole::Record, "12");
        const QJsonObject object = spec.toJson();
        QCOMPARE(object["series"].toArray()[0].toObject()["role"].toString(), QString("method"));
        QCOMPARE(FigureSpec::fromJson(object), spec);
        QJsonObject old = object;  // written before series had roles: quantities
        QJsonArray series = old["series"].toArray();
        QJsonObject first = series[0].toObject();
        first.remove("role");
        first.remove("role_key");
        series[0] = first;
        old["series"] = series;
        QCOMPARE(FigureSpec::fromJson(old).series[0].role, SeriesRole::Quantity);
        first["role"] = "colour";
        series[0] = first;
        old["series"] = series;
        try {
            FigureSpec::fromJson(old, "fig.json");
            QFAIL("expected detox::Error");
        } catch (const detox::Error& error) {
            QCOMPARE(QString::fromStdString(error.field()), QString("series[0].role"));
        }
    }

    void darkThemeRecoloursText() {
        QCustomPlot plot;
        renderFigure(lineFigure(), &plot, Theme::Light);
        const QColor light = plot.xAxis->tickLabelColor();
        renderFigure(lineFigure(), &plot, Theme::Dark);
        const QColor dark = plot.xAxis->tickLabelColor();
        QCOMPARE(dark, plotPalette(Theme::Dark).text);
        QVERIFY(light.lightness() < 80 && dark.lightness() > 180);
        QCOMPARE(plot.axisRect()->backgroundBrush().color(), plotPalette(Theme::Dark).background);
    }
};

QTEST_MAIN(PlotsTest)
#include "test_ui_plots.moc"
