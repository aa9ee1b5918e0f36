// The "Toxic region" tab: the toxic layer's MLP activations (mlp_act) for the record's adversarial
// prompt, safe and unsafe generation, on the loaded model and after each method run; and an ablation
// panel (detox/analysis/ablation.h) that knocks the region out and measures what changes.
#pragma once
#include <QJsonObject>
#include <QMetaType>
#include <QString>
#include <QVector>
#include <QWidget>

#include <memory>
#include <optional>
#include <vector>

#include "detox/analysis/ablation.h"
#include "detox/runtime/inspect.h"
#include "detox/runtime/model.h"
#include "detox/safeedit/safeedit.h"
#include "detox_ui/figures/figure.h"
#include "detox_ui/jobs/job_runner.h"
#include "detox_ui/views/method_run.h"

class QComboBox;
class QLabel;
class QProgressBar;
class QPushButton;
class QSpinBox;
class QTableWidget;

namespace detox::ui {

class PlotView;

// The toxic region of one model state: mlp_act of `layer` for the three RegionInputs.
struct RegionSnapshot {
    QString label;                     // "loaded model", "after dinm-1", ...
    int recordId = 0;
    int layer = -1;
    std::vector<detox::NeuronTokenActivations> inputs;   // RegionInput order
    double weightShift = 0;            // the region matrix's ||ΔW|| / ||W|| against the loaded model
    QString method;                    // "after RUN": the run's method (its plot colour); empty for a measured model
    bool edited = false;               // a measured model that carries edits ("current (edited) model")
};

// One ablation of the record, measured on one model state.
struct AblationRow {
    QString state;                     // "loaded model", "after dinm-1", "current (edited) model"
    detox::AblationResult result;      // one record
};

class ToxicRegionView : public QWidget {
    Q_OBJECT
public:
    explicit ToxicRegionView(QWidget* parent = nullptr);

    void setModel(std::shared_ptr<detox::Model> model);
    // Clears the snapshots and the ablations. The dataset the record comes from (optional) names the data
    // in the ablation result's provenance.
    void setRecord(const detox::SafeEditRecord& record, const detox::SafeEditDataset* source = nullptr);
    void setJobRunner(JobRunner* runner);
    void setToxicLayer(int layer);     // from a Locate; -1 = locate (masked) when analysing

    // Measures the current model as a job (snapshot "current model"; "loaded model" when unedited).
    void analyse(bool modelEdited = false);
    // The run's before/after measurements (no job: the run measured them).
    void addMethodRun(const MethodRun& run);

    const QVector<RegionSnapshot>& snapshots() const { return snapshots_; }

    // ---- ablation ----
    // Zero- or mean-ablates the top-k region neurons (ranked on the state measured) or projects out the
    // diff-of-means direction at the layer, as a job, on the model as it is now: the loaded model, or the
    // latest method run's edit. Rows accumulate, one per state and setting, so the loaded model and each
    // edited state can be compared (ablate, run a method, ablate again).
    void ablate();
    void cancelAblation();
    bool isAblating() const { return ablationJob_ != 0; }
    const QVector<AblationRow>& ablations() const { return ablations_; }
    // Whether the weights now carry a method's edit (the main window says so after an undo; a method run
    // that changed weights sets it). Names the state the next ablation measures.
    void setModelEdited(bool edited);
    QString modelStateLabel() const;
    // The settings the panel's controls hold (the layer as chosen: -1 = locate first).
    detox::AblationSettings ablationSettings() const;
    // The neurons whose mean activation differs most between the safe and the unsafe generation
    // (on the first snapshot), largest difference first.
    std::vector<int> topNeurons() const;
    static constexpr int kTopNeurons = 20;

    FigureSpec neuronBarFigure() const;     // the selected state: mean per input over the top neurons
    FigureSpec methodBarFigure() const;     // adversarial-prompt mean per snapshot over the top neurons
    FigureSpec heatmapFigure() const;       // top neurons x tokens of the selected input and state

    QPushButton* analyseButton() const { return analyseButton_; }
    QComboBox* stateCombo() const { return stateCombo_; }
    QComboBox* inputCombo() const { return inputCombo_; }   // data: int(RegionInput)
    QSpinBox* layerSpin() const { return layerSpin_; }
    PlotView* barPlot() const { return barPlot_; }
    PlotView* methodPlot() const { return methodPlot_; }
    PlotView* heatmapPlot() const { return heatmapPlot_; }
    QLabel* summaryLabel() const { return summary_; }
    QComboBox* ablationTargetCombo() const { return ablationTarget_; }   // data: "zero", "mean", "direction"
    QSpinBox* ablationTopKSpin() const { return ablationTopK_; }
    QPushButton* ablateButton() const { return ablateButton_; }
    QPushButton* ablateCancelButton() const { return ablateCancelButton_; }
    QProgressBar* ablationProgress() const { return ablationProgress_; }
    QLabel* ablationStatus() const { return ablationStatus_; }
    // One row per ablation: state, ablation, layer, metric before / after / change, answer before, verdict,
    // answer after, verdict.
    QTableWidget* ablationTable() const { return ablationTable_; }
    // The rows' metric without and with each ablation (figures_causal's ablationMetricFigure, as detox report
    // draws it), a bar group per row named by its model state and ablation.
    PlotView* ablationPlot() const { return ablationPlot_; }

signals:
    void analysed(const detox::ui::RegionSnapshot& snapshot);
    void ablated(const detox::ui::AblationRow& row);
    void resultReady(const QString& id, const QJsonObject& result);

private:
    void updateEnabled();
    void addSnapshot(const RegionSnapshot& snapshot, bool select);
    void redraw();
    const RegionSnapshot* selectedSnapshot() const;
    QWidget* buildAblationPanel();
    void addAblationRow(const AblationRow& row);
    void clearAblations();
    void redrawAblationFigure();
    void onAblationProgress(JobId id, const detox::Progress& progress);

    std::shared_ptr<detox::Model> model_;
    std::optional<detox::SafeEditRecord> record_;
    JobRunner* runner_ = nullptr;
    QVector<RegionSnapshot> snapshots_;
    bool running_ = false;

    QSpinBox* layerSpin_ = nullptr;
    QPushButton* analyseButton_ = nullptr;
    QComboBox* stateCombo_ = nullptr;
    QComboBox* inputCombo_ = nullptr;
    QLabel* status_ = nullptr;
    QLabel* summary_ = nullptr;
    PlotView* barPlot_ = nullptr;
    PlotView* methodPlot_ = nullptr;
    PlotView* heatmapPlot_ = nullptr;

    std::optional<detox::SafeEditDataset> source_;   // path and SHA-256 only (no records): for provenance
    QVector<AblationRow> ablations_;
    JobId ablationJob_ = 0;
    int ablationRequest_ = 0;          // bumped when the rows are cleared: older jobs' results are dropped
    bool modelEdited_ = false;
    QString lastEditRun_;              // the latest method run that changed weights ("dinm-1")
    QComboBox* ablationTarget_ = nullptr;
    QSpinBox* ablationTopK_ = nullptr;
    QPushButton* ablateButton_ = nullptr;
    QPushButton* ablateCancelButton_ = nullptr;
    QProgressBar* ablationProgress_ = nullptr;
    QLabel* ablationStatus_ = nullptr;
    QTableWidget* ablationTable_ = nullptr;
    PlotView* ablationPlot_ = nullptr;
};

}  // namespace detox::ui

Q_DECLARE_METATYPE(detox::ui::RegionSnapshot)
Q_DECLARE_METATYPE(detox::ui::AblationRow)
