// The analysis views hosted in the main window's tabs "Toxic layers", "Toxic region", "Edit" and
// "Compare". Each is
// driven by a shared model handle, the selected SafeEdit record and the window's JobRunner; the
// model work runs as jobs (queue = the model's directory, so jobs on one model never overlap).
#pragma once
#include <QElapsedTimer>
#include <QJsonObject>
#include <QString>
#include <QVector>
#include <QWidget>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "detox/analysis/comparison.h"
#include "detox/runtime/inspect.h"
#include "detox/analysis/locate.h"
#include "detox/analysis/mechanism.h"
#include "detox/methods/methods.h"
#include "detox/runtime/model.h"
#include "detox/methods/recommended_settings.h"
#include "detox/results.h"
#include "detox/safeedit/safeedit.h"
#include "detox_ui/figures/figure.h"
#include "detox_ui/jobs/job_runner.h"

class QCheckBox;
class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QProgressBar;
class QPushButton;
class QSpinBox;
class QTableWidget;
class QTabWidget;

namespace detox::ui {

class PlotView;

// ---------------------------------------------------------------- Toxic layers

class ToxicLayersView : public QWidget {
    Q_OBJECT
public:
    explicit ToxicLayersView(QWidget* parent = nullptr);

    void setModel(std::shared_ptr<detox::Model> model);
    void setRecord(const detox::SafeEditRecord& record);   // clears the curves of the previous record
    void setJobRunner(JobRunner* runner);

    // Runs locateToxicLayer for the selected variant as a job. With overlay on, a result of the other
    // variant for the same record stays on the plot.
    void locate();
    const std::vector<detox::LocateResult>& results() const { return results_; }

    // The layer x token heatmap for the chosen measure and text, as a job (also after each Locate).
    void computeMap();
    const std::optional<detox::LayerTokenMap>& layerTokenMap() const { return map_; }
    static constexpr int kMaxMapTokens = 64;   // longer texts are cut: the map stays readable

    QPushButton* locateButton() const { return locateButton_; }
    QComboBox* variantCombo() const { return variantCombo_; }   // "masked", "easyedit"
    QCheckBox* overlayCheck() const { return overlayCheck_; }
    PlotView* plotView() const { return plot_; }
    QComboBox* measureCombo() const { return measureCombo_; }   // data: int(LayerTokenMeasure)
    QComboBox* textCombo() const { return textCombo_; }         // "unsafe", "safe", "adversarial"
    PlotView* mapView() const { return mapPlot_; }

signals:
    void located(const detox::LocateResult& result);
    void mapReady(const detox::LayerTokenMap& map);
    void resultReady(const QString& id, const QJsonObject& result);

private:
    void updateEnabled();
    void showResult(const detox::LocateResult& result);
    void showMap(const detox::LayerTokenMap& map, const QString& textName);

    std::shared_ptr<detox::Model> model_;
    std::optional<detox::SafeEditRecord> record_;
    JobRunner* runner_ = nullptr;
    std::vector<detox::LocateResult> results_;
    QComboBox* variantCombo_ = nullptr;
    QCheckBox* overlayCheck_ = nullptr;
    QPushButton* locateButton_ = nullptr;
    QLabel* status_ = nullptr;
    PlotView* plot_ = nullptr;
    QComboBox* measureCombo_ = nullptr;
    QComboBox* textCombo_ = nullptr;
    PlotView* mapPlot_ = nullptr;
    std::optional<detox::LayerTokenMap> map_;
    bool running_ = false;
    bool mapRunning_ = false;
    bool mapPending_ = false;   // the selection changed while a map was computed
};

// The layer x token heatmap of a map (rows "L0".., columns the tokens). id "layer-token-MEASURE".
FigureSpec layerTokenFigure(const detox::LayerTokenMap& map, const QString& title);

// ---------------------------------------------------------------- Edit

// One input of the record before and after an edit, with the rule judge's verdicts.
struct GenerationComparison {
    std::string key;                 // "DS", "DG_onlyQ", "DG_otherA", "DG_otherQ", "DG_otherAQ"
    std::string input;
    std::string before, after;
    double unsafeBefore = 0, unsafeAfter = 0;  // rule judge: 0 safe, 1 unsafe, 0.5 empty
};

// Everything one method run in this session produced; the Compare view keeps a list of these.
struct MethodRun {
    QString id;                      // "dinm-1", "sft-2", ...
    QString method;                  // "dinm", "sft", "dpo"
    int recordId = 0;
    QString chatFormat;              // the chat template the generations and the region's prompt used
    detox::EditResult edit;
    std::vector<GenerationComparison> generations;
    // Fluency: n-gram entropy of the generations (metrics.h meanNGramEntropy). Knowledge retention:
    // teacher-forced token accuracy on the record's knowledge-constraint pair (evaluation.h), if it has one.
    double fluencyBefore = 0, fluencyAfter = 0;
    std::optional<double> knowledgeBefore, knowledgeAfter;
    detox::ParameterShiftMatrix shift;
    // The toxic region (mlp_act of regionLayer) for the record's adversarial prompt, safe and unsafe
    // generation (in that order), on the loaded model and after the method; distance curves likewise.
    int regionLayer = -1;
    std::vector<detox::NeuronTokenActivations> regionBefore, regionAfter;
    detox::LocateResult curveBefore, curveAfter;
    QJsonObject toJson() const;
};

// The texts whose toxic-region activations are measured, in MethodRun / RegionSnapshot order.
enum class RegionInput { Adversarial, Safe, Unsafe };
QString regionInputName(RegionInput input);   // "adversarial prompt", "safe generation", "unsafe generation"
// The chat template a view uses: the chosen one, else the model's detected one (as the evaluation does).
detox::ChatTemplate resolvedChatFormat(const detox::Model& model, std::optional<detox::ChatTemplate> chosen);
// Token ids of the three texts: the adversarial prompt as the model sees it when it answers (promptIds in
// the resolved chat format, its last maxTokens), the generations plain as locate encodes them (their first
// maxTokens).
std::vector<std::vector<int>> regionInputIds(const detox::Model& model, const detox::SafeEditRecord& record,
                                             int maxTokens = 64, std::optional<detox::ChatTemplate> chatFormat = {});
std::vector<detox::NeuronTokenActivations> measureRegion(const detox::Model& model, int layer,
                                                         const detox::SafeEditRecord& record,
                                                         std::optional<detox::ChatTemplate> chatFormat = {});

enum class EditMethod { Dinm, Sft, Dpo };
QString editMethodName(EditMethod method);   // "dinm", "sft", "dpo"

class EditView : public QWidget {
    Q_OBJECT
public:
    explicit EditView(QWidget* parent = nullptr);
    ~EditView() override;

    // A new model gets a new ModelEditor (Reset mode: each run starts from the loaded weights).
    void setModel(std::shared_ptr<detox::Model> model);
    void setRecord(const detox::SafeEditRecord& record);
    void setJobRunner(JobRunner* runner);

    void setMethod(EditMethod method);       // also fills in that method's defaults
    EditMethod method() const;
    // The settings the form holds now (defaults from methods.h, DINM's from the paper).
    detox::DinmSettings dinmSettings() const;
    detox::SftSettings sftSettings() const;
    detox::DpoSettings dpoSettings() const;
    // What the form is pre-filled with for each method: the paper's defaults (DINM's learning rate by model
    // family), overridden by the model's detox_method_defaults.json when it has a usable one.
    detox::DinmSettings prefilledDinmSettings() const;
    detox::SftSettings prefilledSftSettings() const;
    detox::DpoSettings prefilledDpoSettings() const;
    void setMaxNewTokens(int tokens);        // for the before/after generations (default 48)
    int maxNewTokens() const { return maxNewTokens_; }
    // The chat format of the before/after generations: empty = the model's detected template.
    std::optional<detox::ChatTemplate> chatFormat() const;

    void run();
    void cancel();
    void undo();                             // ModelEditor::undoAll
    bool hasEdits() const;
    bool isRunning() const { return currentJob_ != 0; }
    const std::optional<MethodRun>& lastRun() const { return lastRun_; }

    QComboBox* methodCombo() const { return methodCombo_; }
    QComboBox* chatFormatCombo() const { return chatFormatCombo_; }  // "detected (...)", then each ChatTemplate
    QDoubleSpinBox* learningRateSpin() const { return learningRate_; }
    QSpinBox* stepsSpin() const { return steps_; }           // DINM: max steps; SFT/DPO: epochs
    QDoubleSpinBox* editWeightSpin() const { return editWeight_; }  // DINM c_edit; DPO beta
    QPushButton* runButton() const { return runButton_; }
    QPushButton* cancelButton() const { return cancelButton_; }
    QPushButton* undoButton() const { return undoButton_; }
    QProgressBar* progressBar() const { return progress_; }
    PlotView* lossPlot() const { return lossPlot_; }
    QTableWidget* generationTable() const { return table_; }
    QLabel* defaultsSourceLabel() const { return defaultsSource_; }  // where the pre-filled settings come from

signals:
    void runFinished(const detox::ui::MethodRun& run);
    void undone();
    void resultReady(const QString& id, const QJsonObject& result);

private:
    void fillDefaults();
    void showDefaultsSource(const detox::MethodRecommendation& recommendation);
    void updateEnabled();
    void onProgress(JobId id, const detox::Progress& progress);
    void showRun(const MethodRun& run);
    void updateDetectedFormatName();

    std::shared_ptr<detox::Model> model_;
    std::unique_ptr<detox::ModelEditor> editor_;
    std::optional<detox::SafeEditRecord> record_;
    JobRunner* runner_ = nullptr;
    JobId currentJob_ = 0;
    int runCounter_ = 0;
    int maxNewTokens_ = 48;
    std::optional<MethodRun> lastRun_;
    FigureSpec liveLoss_;
    QElapsedTimer liveLossDrawn_;              // the live plot redraws at most every kLiveLossRedrawMs
    detox::RecommendedSettings recommended_;   // the model's detox_method_defaults.json, if any
    QString recommendedError_;

    QComboBox* methodCombo_ = nullptr;
    QComboBox* chatFormatCombo_ = nullptr;
    QDoubleSpinBox* learningRate_ = nullptr;
    QSpinBox* steps_ = nullptr;
    QDoubleSpinBox* editWeight_ = nullptr;
    QLabel* stepsLabel_ = nullptr;
    QLabel* weightLabel_ = nullptr;
    QLabel* defaultsSource_ = nullptr;
    QPushButton* runButton_ = nullptr;
    QPushButton* cancelButton_ = nullptr;
    QPushButton* undoButton_ = nullptr;
    QProgressBar* progress_ = nullptr;
    QLabel* status_ = nullptr;
    PlotView* lossPlot_ = nullptr;
    QTableWidget* table_ = nullptr;
};

// ---------------------------------------------------------------- Compare

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
    // toxicity reduction (mean unsafe verdict before - after, x100).
    FigureSpec mechanismFigure() const;
    // The safe-vs-unsafe distance curve before (once per record) and after each run, overlaid.
    FigureSpec curvesFigure() const;

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
    QPushButton* compareButton() const { return compareButton_; }
    QPushButton* cancelCompareButton() const { return cancelCompareButton_; }
    QProgressBar* compareProgress() const { return compareProgress_; }
    QLabel* compareStatus() const { return compareStatus_; }
    QTableWidget* datasetTable() const { return datasetTable_; }   // rows original + methods
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

// ---------------------------------------------------------------- Toxic region

// The toxic region of one model state: mlp_act of `layer` for the three RegionInputs.
struct RegionSnapshot {
    QString label;                     // "loaded model", "after dinm-1", ...
    int recordId = 0;
    int layer = -1;
    std::vector<detox::NeuronTokenActivations> inputs;   // RegionInput order
    double weightShift = 0;            // the region matrix's ||ΔW|| / ||W|| against the loaded model
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
Q_DECLARE_METATYPE(detox::LayerTokenMap)
Q_DECLARE_METATYPE(detox::ui::MethodRun)
