// The "Toxic region" tab: the toxic layer's MLP activations (mlp_act) for the record's adversarial
// prompt, safe and unsafe generation, on the loaded model and after each method run.
#pragma once
#include <QJsonObject>
#include <QMetaType>
#include <QString>
#include <QVector>
#include <QWidget>

#include <memory>
#include <optional>
#include <vector>

#include "detox/runtime/inspect.h"
#include "detox/runtime/model.h"
#include "detox/safeedit/safeedit.h"
#include "detox_ui/figures/figure.h"
#include "detox_ui/jobs/job_runner.h"
#include "detox_ui/views/method_run.h"

class QComboBox;
class QLabel;
class QPushButton;
class QSpinBox;

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

class ToxicRegionView : public QWidget {
    Q_OBJECT
public:
    explicit ToxicRegionView(QWidget* parent = nullptr);

    void setModel(std::shared_ptr<detox::Model> model);
    void setRecord(const detox::SafeEditRecord& record);   // clears the snapshots
    void setJobRunner(JobRunner* runner);
    void setToxicLayer(int layer);     // from a Locate; -1 = locate (masked) when analysing

    // Measures the current model as a job (snapshot "current model"; "loaded model" when unedited).
    void analyse(bool modelEdited = false);
    // The run's before/after measurements (no job: the run measured them).
    void addMethodRun(const MethodRun& run);

    const QVector<RegionSnapshot>& snapshots() const { return snapshots_; }
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

signals:
    void analysed(const detox::ui::RegionSnapshot& snapshot);
    void resultReady(const QString& id, const QJsonObject& result);

private:
    void updateEnabled();
    void addSnapshot(const RegionSnapshot& snapshot, bool select);
    void redraw();
    const RegionSnapshot* selectedSnapshot() const;

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
};

}  // namespace detox::ui

Q_DECLARE_METATYPE(detox::ui::RegionSnapshot)
