// Small helpers shared by the analysis views (private to the ui library).
#pragma once
#include <QJsonDocument>
#include <QJsonObject>
#include <QGridLayout>
#include <QLabel>
#include <QProgressBar>
#include <QSize>
#include <QString>
#include <QVector>

#include <nlohmann/json.hpp>

#include <array>

#include "detox/runtime/model.h"
#include "detox/safeedit/evaluation.h"
#include "detox/safeedit/safeedit.h"
#include "detox_ui/figures/figure.h"
#include "detox_ui/figures/plot_view.h"
#include "detox_ui/jobs/job_runner.h"
#include "detox_ui/views/method_run.h"

namespace detox::ui {

// nlohmann JSON object -> Qt JSON (through text: results are small).
inline QJsonObject toQJson(const nlohmann::json& json) {
    return QJsonDocument::fromJson(QByteArray::fromStdString(json.dump())).object();
}

// How much of a text a token figure shows when the model's context cut it, for the figure's title: "the
// last 1024 of its 1300 tokens (the model's context)" (keptLast: a prompt keeps its end, where the answer
// starts), "the first ..." otherwise. Empty when the whole text is shown.
inline QString contextCutNote(int shown, int whole, bool keptLast) {
    if (shown >= whole) return {};
    return keptLast ? QObject::tr("the last %1 of its %2 tokens (the model's context)").arg(shown).arg(whole)
                    : QObject::tr("the first %1 of its %2 tokens (the model's context)").arg(shown).arg(whole);
}

// The region inputs' lengths in tokens before the context cut, in RegionInput order (as regionInputIds
// encodes them).
inline std::array<int, 3> wholeRegionInputLengths(const detox::Model& model, const detox::SafeEditRecord& record) {
    const auto& tokenizer = model.tokenizer();
    return {int(detox::promptIds(tokenizer, record.adversarialPrompt, resolvedChatFormat(model, {})).size()),
            int(tokenizer.encode(record.safeGeneration).size()), int(tokenizer.encode(record.unsafeGeneration).size())};
}

// Jobs on one model run one at a time: the queue is the model's directory.
inline QString modelQueue(const detox::Model& model) {
    return QStringLiteral("model:") + QString::fromStdString(model.directory());
}

// A job's progress in a view's bar: steps once a total is known (busy until then).
inline void showJobProgress(QProgressBar* bar, const detox::Progress& progress) {
    if (progress.total <= 0 || progress.step <= 0) return;
    bar->setRange(0, progress.total);
    bar->setValue(progress.step);
}

// A job that ended without a result, in a view's bar and status line ("Patching cancelled; earlier
// results are kept" / "Patching failed: ..."). `current`: the view still shows what the job was for.
inline void showJobStopped(QProgressBar* bar, QLabel* status, const RunLogEntry& entry, const QString& what,
                           bool current) {
    bar->setRange(0, 1);
    bar->setValue(0);
    if (!current) return;
    status->setText(entry.status == JobStatus::Cancelled
                        ? QObject::tr("%1 cancelled; earlier results are kept").arg(what)
                        : QObject::tr("%1 failed: %2").arg(what, entry.message));
}

// Replaces the PlotViews in host's grid layout with one per figure, `columns` a row.
inline void fillPlotGrid(QWidget* host, QVector<PlotView*>& plots, const QVector<FigureSpec>& figures, int columns,
                         QSize minimumSize) {
    for (PlotView* plot : plots) delete plot;
    plots.clear();
    auto* grid = static_cast<QGridLayout*>(host->layout());
    for (int i = 0; i < figures.size(); ++i) {
        auto* plot = new PlotView(host);
        plot->setMinimumSize(minimumSize);
        plot->setFigure(figures[i]);
        grid->addWidget(plot, i / columns, i % columns);
        plots.append(plot);
    }
}

}  // namespace detox::ui
