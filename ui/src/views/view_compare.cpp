#include <QGridLayout>
#include <QHeaderView>
#include <QLabel>
#include <QScrollArea>
#include <QTableWidget>
#include <QSplitter>
#include <QTabWidget>
#include <QVBoxLayout>

#include <limits>
#include <optional>
#include <set>

#include "detox/safeedit/metrics.h"
#include "detox_ui/figures/figures_core.h"
#include "detox_ui/figures/plot_view.h"
#include "detox_ui/views/eval_protocol_choice.h"
#include "detox_ui/views/view_compare.h"
#include "view_support.h"

namespace detox::ui {

std::map<std::string, double> runDefenseRates(const MethodRun& run, bool after) {
    std::map<std::string, std::vector<double>> labels;
    for (const GenerationComparison& g : run.generations)
        labels[g.key].push_back(after ? g.unsafeAfter : g.unsafeBefore);
    std::map<std::string, double> rates;
    for (const auto& [key, values] : labels) rates[key] = detox::defenseRate(values);
    return rates;
}

namespace {

constexpr int kShiftColumns = 3;  // DINM, SFT and DPO side by side
constexpr int kProtocolColumn = 2;

// Columns of the metrics table: per-input defense rates before -> after, the mean over inputs.
QStringList metricKeys() {
    QStringList keys;
    for (const std::string& key : detox::safetyInputKeys()) keys << QString::fromStdString(key);
    return keys;
}

// Relative change of the adversarial prompt's mean activation norm in the toxic region, in percent.
std::optional<double> regionActivationChange(const MethodRun& run) {
    const size_t adversarial = size_t(RegionInput::Adversarial);
    if (run.regionBefore.size() <= adversarial || run.regionAfter.size() <= adversarial) return std::nullopt;
    detox::ActivationMeans before{run.regionLayer, 1, run.regionBefore[adversarial].meanOverTokens()};
    detox::ActivationMeans after{run.regionLayer, 1, run.regionAfter[adversarial].meanOverTokens()};
    return 100.0 * detox::activationShift(before, after).relativeNormChange;
}

double meanUnsafe(const MethodRun& run, bool after) {
    if (run.generations.empty()) return 0;
    double sum = 0;
    for (const GenerationComparison& g : run.generations) sum += after ? g.unsafeAfter : g.unsafeBefore;
    return sum / double(run.generations.size());
}

double meanRate(const std::map<std::string, double>& rates) {
    if (rates.empty()) return 0;
    double sum = 0;
    for (const auto& [key, rate] : rates) sum += rate;
    return sum / double(rates.size());
}

}  // namespace

CompareView::CompareView(QWidget* parent) : QWidget(parent) {
    sections_ = new QTabWidget(this);
    sections_->setObjectName("compareSections");
    sections_->addTab(buildRecordSection(), tr("Runs on the selected record"));
    sections_->addTab(buildDatasetSection(), tr("Dataset: methods on the visible records"));
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(sections_);
    rebuild();
}

QWidget* CompareView::buildRecordSection() {
    auto* page = new QWidget(this);
    table_ = new QTableWidget(0, 0, page);
    table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
    metricsPlot_ = new PlotView(page);
    metricsPlot_->clearFigure(tr("Run a method in the Edit tab to compare"));
    mechanismPlot_ = new PlotView(page);
    mechanismPlot_->setToolTip(
        tr("region activation change (%): relative change of the toxic layer's MLP activations on the record's texts.\n"
           "defense gain (points, judge): unsafe rate before minus after over the record's inputs, x100, as judged "
           "by the safety judge (a DS-like gain).\nNot the same as detox report's region toxicity (probe cosine)."));
    curvesPlot_ = new PlotView(page);
    shiftHost_ = new QWidget(page);
    shiftHost_->setLayout(new QGridLayout);
    auto* scroll = new QScrollArea(page);
    scroll->setWidgetResizable(true);
    scroll->setWidget(shiftHost_);

    auto* plots = new QSplitter(Qt::Horizontal, page);
    plots->addWidget(metricsPlot_);
    plots->addWidget(mechanismPlot_);
    plots->addWidget(curvesPlot_);
    auto* layout = new QVBoxLayout(page);
    auto* caption = new QLabel(tr("Before → after each run on the record: defense rate (%, rule judge, heuristic), fluency "
                                  "(n-gram entropy of the generations), knowledge retention (teacher-forced token accuracy)"), page);
    caption->setWordWrap(true);  // a long caption must not widen the window
    layout->addWidget(caption);
    layout->addWidget(table_, 1);
    layout->addWidget(plots, 3);
    layout->addWidget(new QLabel(tr("Relative parameter shift per method (shared colour scale)"), page));
    layout->addWidget(scroll, 3);
    return page;
}

void CompareView::addRun(const MethodRun& run) {
    runs_.append(run);
    rebuild();
    emit resultReady(QStringLiteral("compare"), QJsonObject{{"runs", int(runs_.size())}});
}

void CompareView::clearRuns() {
    runs_.clear();
    rebuild();
}

QVector<FigureSpec> CompareView::shiftFigures() const {
    QVector<FigureSpec> figures;
    for (const MethodRun& run : runs_) {
        FigureSpec figure = parameterShiftFigure(run.shift, run.id);
        figure.title = QStringLiteral("Shift: %1, record %2").arg(run.id).arg(run.recordId);  // short: three fit a row
        figures.append(figure);
    }
    QVector<FigureSpec*> pointers;
    for (FigureSpec& figure : figures) pointers.append(&figure);
    shareHeatmapRange(pointers);
    return figures;
}

FigureSpec CompareView::metricsFigure() const {
    QStringList methods;
    QVector<QVector<double>> values;
    const QStringList keys = metricKeys();
    for (const MethodRun& run : runs_) {
        const auto rates = runDefenseRates(run, true);
        QVector<double> row;
        for (const QString& key : keys) {
            const auto it = rates.find(key.toStdString());
            row.append(it == rates.end() ? 0.0 : it->second);
        }
        // A result names its protocol: the project's plain one by default, any other in the legend.
        methods << (run.evalProtocol == QLatin1String("plain") ? run.id : QStringLiteral("%1 [%2]").arg(run.id, run.evalProtocol));
        values.append(row);
    }
    FigureSpec figure = metricsBarFigure(methods, keys, values, QStringLiteral("Defense rate after each method"));
    for (int i = 0; i < runs_.size(); ++i) figure.series[i].as(SeriesRole::Method, runs_[i].method);
    figure.yLabel = QStringLiteral("defense rate (%)");
    figure.yRange = std::pair(0.0, 100.0);
    return figure;
}

FigureSpec CompareView::mechanismFigure() const {
    FigureSpec figure;
    figure.id = QStringLiteral("mechanism-per-method");
    figure.title = QStringLiteral("Toxic region and defense gain per method");
    figure.xLabel = QStringLiteral("run");
    figure.yLabel = QStringLiteral("% / points");
    figure.kind = FigureKind::Bar;
    FigureSeries activation{QStringLiteral("region activation change (%)"), {}, {}, {}};
    // "defense gain": the drop of the judge's unsafe rate over the record's inputs, in points -- not the
    // probe's region toxicity (a cosine, detox report's "region toxicity").
    FigureSeries toxicity{QStringLiteral("defense gain (points, judge)"), {}, {}, {}};
    for (int i = 0; i < runs_.size(); ++i) {
        const MethodRun& run = runs_[i];
        figure.categories << run.id;
        activation.x.append(i);
        // Not measured (no region read): no bar, never a silent 0.
        activation.y.append(regionActivationChange(run).value_or(std::numeric_limits<double>::quiet_NaN()));
        toxicity.x.append(i);
        toxicity.y.append(100.0 * (meanUnsafe(run, false) - meanUnsafe(run, true)));
    }
    figure.series = {activation, toxicity};
    return figure;
}

FigureSpec CompareView::curvesFigure() const {
    FigureSpec figure;
    figure.id = QStringLiteral("distance-curves-before-after");
    figure.title = QStringLiteral("Safe-unsafe distance, before/after");
    figure.xLabel = QStringLiteral("layer");
    figure.yLabel = QStringLiteral("distance");
    figure.kind = FigureKind::Line;
    auto addCurve = [&figure](const QString& name, const detox::LocateResult& curve, SeriesRole role,
                              const QString& method) {
        FigureSeries series;
        series.name = name;
        series.as(role, method);
        for (size_t layer = 0; layer < curve.distances.size(); ++layer) {
            series.x.append(double(layer));
            series.y.append(curve.distances[layer]);
        }
        figure.series.append(series);
    };
    std::set<int> recordsDrawn;
    for (const MethodRun& run : runs_) {
        if (run.curveBefore.distances.empty()) continue;
        // Reset mode: every run starts from the loaded model, so one "before" per record suffices.
        if (recordsDrawn.insert(run.recordId).second)
            addCurve(QStringLiteral("before (record %1)").arg(run.recordId), run.curveBefore, SeriesRole::Reference, {});
        addCurve(QStringLiteral("after %1").arg(run.id), run.curveAfter, SeriesRole::Method, run.method);
    }
    return figure;
}

void CompareView::rebuild() {
    const QStringList keys = metricKeys();
    QStringList headers{tr("Run"), tr("Record"), tr("Protocol"), tr("Steps"), tr("Final loss"), tr("Seconds")};
    for (const QString& key : keys) headers << key;
    headers << tr("Mean") << tr("Fluency") << tr("Knowledge (%)");
    table_->clear();
    table_->setColumnCount(int(headers.size()));
    table_->setHorizontalHeaderLabels(headers);
    table_->setRowCount(int(runs_.size()));
    for (int row = 0; row < runs_.size(); ++row) {
        const MethodRun& run = runs_[row];
        const auto before = runDefenseRates(run, false);
        const auto after = runDefenseRates(run, true);
        const double loss = run.edit.lossHistory.empty() ? 0.0 : run.edit.lossHistory.back().total;
        const QString protocol = run.evalProtocol + (run.easyEditCompat ? tr("; EasyEdit-compatible") : QString());
        QStringList cells{run.id, QString::number(run.recordId), protocol, QString::number(run.edit.lossHistory.size()),
                          QString::number(loss, 'g', 4), QString::number(run.edit.durationSeconds, 'f', 1)};
        for (const QString& key : keys) {
            const auto b = before.find(key.toStdString());
            const auto a = after.find(key.toStdString());
            cells << (a == after.end() ? QStringLiteral("–")
                                       : QStringLiteral("%1 → %2").arg(b->second, 0, 'f', 0).arg(a->second, 0, 'f', 0));
        }
        cells << QStringLiteral("%1 → %2").arg(meanRate(before), 0, 'f', 1).arg(meanRate(after), 0, 'f', 1);
        cells << QStringLiteral("%1 → %2").arg(run.fluencyBefore, 0, 'f', 2).arg(run.fluencyAfter, 0, 'f', 2);
        cells << (run.knowledgeBefore && run.knowledgeAfter
                      ? QStringLiteral("%1 → %2").arg(100 * *run.knowledgeBefore, 0, 'f', 0).arg(100 * *run.knowledgeAfter, 0, 'f', 0)
                      : QStringLiteral("–"));
        for (int col = 0; col < cells.size(); ++col) table_->setItem(row, col, new QTableWidgetItem(cells[col]));
        table_->item(row, kProtocolColumn)->setToolTip(evalProtocolToolTip());
    }
    table_->resizeColumnsToContents();

    if (runs_.isEmpty()) {
        metricsPlot_->clearFigure(tr("Run a method in the Edit tab to compare"));
        mechanismPlot_->clearFigure(tr("Toxic-region activation change and defense gain per method"));
        curvesPlot_->clearFigure(tr("Distance curves before and after each method"));
    } else {
        metricsPlot_->setFigure(metricsFigure());
        mechanismPlot_->setFigure(mechanismFigure());
        curvesPlot_->setFigure(curvesFigure());
    }

    fillPlotGrid(shiftHost_, shiftPlots_, shiftFigures(), kShiftColumns, QSize(280, 260));
}

}  // namespace detox::ui
