// The "Compare" tab: the method runs of this session side by side (record section, view_compare.cpp)
// and `detox compare` over many records drawn as `detox report` does (dataset section,
// view_compare_dataset.cpp). Model work runs as jobs on the model's queue.
#pragma once
#include <QJsonObject>
#include <QString>
#include <QVector>
#include <QWidget>

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "detox/analysis/comparison.h"
#include "detox/runtime/model.h"
#include "detox/safeedit/safeedit.h"
#include "detox_ui/figures/figure.h"
#include "detox_ui/jobs/job_runner.h"
#include "detox_ui/views/method_run.h"

class QCheckBox;
class QComboBox;
class QLabel;
class QProgressBar;
class QPushButton;
class QSpinBox;
class QTableWidget;
class QTabWidget;

namespace detox::ui {

class PlotView;

// Defense rate (x100) per input key over a run's "after" verdicts; keys without a verdict are absent.
std::map<std::string, double> runDefenseRates(const MethodRun& run, bool after = true);

class CompareView : public QWidget {
    Q_OBJECT
public:
    explicit CompareView(QWidget* parent = nullptr);

    void addRun(const MethodRun& run);       // connect EditView::runFinished here
    void clearRuns();
    const QVector<MethodRun>& runs() const { return runs_; }

    // The shift heatmaps as shown (one per run, one shared colour range) and the metrics bars.
    QVector<FigureSpec> shiftFigures() const;
    FigureSpec metricsFigure() const;
    // Per run: the toxic region's relative activation-norm change on the adversarial prompt (%) and the
    // defense gain (mean unsafe verdict before - after, x100).
    FigureSpec mechanismFigure() const;
    // The safe-vs-unsafe distance curve before (once per record) and after each run, overlaid.
    FigureSpec curvesFigure() const;

    // One row per run; its "Protocol" column names the run's evaluation protocol (and EasyEdit-compatible DINM).
    QTableWidget* metricsTable() const { return table_; }
    PlotView* metricsPlot() const { return metricsPlot_; }
    PlotView* mechanismPlot() const { return mechanismPlot_; }
    PlotView* curvesPlot() const { return curvesPlot_; }
    const QVector<PlotView*>& shiftPlots() const { return shiftPlots_; }

    // ---- Dataset level: `detox compare` (compareMethods) over many records, drawn as `detox report` does.
    void setModel(std::shared_ptr<detox::Model> model);
    void setJobRunner(JobRunner* runner);
    // Runs compareMethods with the rule judge as a job on the model's queue. The model is restored after
    // every edit, also when cancelled. Returns 0 when no model or runner is set or a comparison runs.
    JobId runDatasetComparison(std::shared_ptr<const detox::SafeEditDataset> dataset,
                               const detox::ComparisonSettings& settings);
    void cancelDatasetComparison();
    bool isComparing() const { return comparisonJob_ != 0; }
    // Shows a result (a finished job's, or one re-opened from the Run log).
    void showDatasetComparison(const detox::ComparisonResult& result);
    const std::optional<detox::ComparisonResult>& datasetComparison() const { return comparison_; }
    // The figures shown: comparisonFigures (figures_comparison.h) with the chosen record's edits.
    QVector<FigureSpec> datasetFigures() const;
    void showDatasetSection();

    QSpinBox* recordLimitSpin() const { return recordLimit_; }   // "at most N records"
    // The comparison's evaluation protocol (ComparisonSettings::evaluation.protocol) and DINM's
    // EasyEdit-compatible mode (its easyedit_compat setting): checking the box chooses easyedit, as
    // --easyedit-compat does; the window reads both into datasetComparisonSettings.
    QComboBox* evalProtocolCombo() const { return protocolCombo_; }
    QCheckBox* easyEditCompatCheck() const { return compatCheck_; }
    detox::EvalProtocol evalProtocol() const;
    bool easyEditCompat() const;
    QPushButton* compareButton() const { return compareButton_; }
    QPushButton* cancelCompareButton() const { return cancelCompareButton_; }
    QProgressBar* compareProgress() const { return compareProgress_; }
    QLabel* compareStatus() const { return compareStatus_; }
    QTableWidget* datasetTable() const { return datasetTable_; }   // rows original + methods; last column "protocol"
    QComboBox* datasetRecordCombo() const { return datasetRecord_; }
    const QVector<PlotView*>& datasetPlots() const { return datasetPlots_; }

signals:
    void resultReady(const QString& id, const QJsonObject& result);
    void datasetComparisonRequested();              // the button: the window collects the records
    void datasetComparisonFinished();
    void datasetComparisonFailed(const QString& message, bool cancelled);

private:
    void rebuild();
    QWidget* buildRecordSection();
    QWidget* buildDatasetSection();
    void fillDatasetTable();
    void redrawDatasetFigures();
    void updateCompareEnabled();
    void onCompareProgress(JobId id, const detox::Progress& progress);

    std::shared_ptr<detox::Model> model_;
    JobRunner* runner_ = nullptr;
    JobId comparisonJob_ = 0;
    std::optional<detox::ComparisonResult> comparison_;
    QTabWidget* sections_ = nullptr;
    QSpinBox* recordLimit_ = nullptr;
    QComboBox* protocolCombo_ = nullptr;
    QCheckBox* compatCheck_ = nullptr;
    QPushButton* compareButton_ = nullptr;
    QPushButton* cancelCompareButton_ = nullptr;
    QProgressBar* compareProgress_ = nullptr;
    QLabel* compareStatus_ = nullptr;
    QTableWidget* datasetTable_ = nullptr;
    QComboBox* datasetRecord_ = nullptr;
    QWidget* datasetPlotHost_ = nullptr;
    QVector<PlotView*> datasetPlots_;

    QVector<MethodRun> runs_;
    QTableWidget* table_ = nullptr;
    PlotView* metricsPlot_ = nullptr;
    PlotView* mechanismPlot_ = nullptr;
    PlotView* curvesPlot_ = nullptr;
    QWidget* shiftHost_ = nullptr;
    QVector<PlotView*> shiftPlots_;
};

}  // namespace detox::ui
