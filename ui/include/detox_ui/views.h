// The analysis views hosted in the main window's tabs "Toxic layers", "Edit" and "Compare". Each is
// driven by a shared model handle, the selected SafeEdit record and the window's JobRunner; the
// model work runs as jobs (queue = the model's directory, so jobs on one model never overlap).
#pragma once
#include <QJsonObject>
#include <QString>
#include <QVector>
#include <QWidget>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "detox/locate.h"
#include "detox/mechanism.h"
#include "detox/methods.h"
#include "detox/model.h"
#include "detox/results.h"
#include "detox/safeedit.h"
#include "detox_ui/figure.h"
#include "detox_ui/job_runner.h"

class QCheckBox;
class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QProgressBar;
class QPushButton;
class QSpinBox;
class QTableWidget;

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

    QPushButton* locateButton() const { return locateButton_; }
    QComboBox* variantCombo() const { return variantCombo_; }   // "masked", "easyedit"
    QCheckBox* overlayCheck() const { return overlayCheck_; }
    PlotView* plotView() const { return plot_; }

signals:
    void located(const detox::LocateResult& result);
    void resultReady(const QString& id, const QJsonObject& result);

private:
    void updateEnabled();
    void showResult(const detox::LocateResult& result);

    std::shared_ptr<detox::Model> model_;
    std::optional<detox::SafeEditRecord> record_;
    JobRunner* runner_ = nullptr;
    std::vector<detox::LocateResult> results_;
    QComboBox* variantCombo_ = nullptr;
    QCheckBox* overlayCheck_ = nullptr;
    QPushButton* locateButton_ = nullptr;
    QLabel* status_ = nullptr;
    PlotView* plot_ = nullptr;
    bool running_ = false;
};

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
    detox::EditResult edit;
    std::vector<GenerationComparison> generations;
    detox::ParameterShiftMatrix shift;
    QJsonObject toJson() const;
};

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
    void setMaxNewTokens(int tokens);        // for the before/after generations (default 48)

    void run();
    void cancel();
    void undo();                             // ModelEditor::undoAll
    bool hasEdits() const;
    const std::optional<MethodRun>& lastRun() const { return lastRun_; }

    QComboBox* methodCombo() const { return methodCombo_; }
    QDoubleSpinBox* learningRateSpin() const { return learningRate_; }
    QSpinBox* stepsSpin() const { return steps_; }           // DINM: max steps; SFT/DPO: epochs
    QDoubleSpinBox* editWeightSpin() const { return editWeight_; }  // DINM c_edit; DPO beta
    QPushButton* runButton() const { return runButton_; }
    QPushButton* cancelButton() const { return cancelButton_; }
    QPushButton* undoButton() const { return undoButton_; }
    QProgressBar* progressBar() const { return progress_; }
    PlotView* lossPlot() const { return lossPlot_; }
    QTableWidget* generationTable() const { return table_; }

signals:
    void runFinished(const detox::ui::MethodRun& run);
    void undone();
    void resultReady(const QString& id, const QJsonObject& result);

private:
    void fillDefaults();
    void updateEnabled();
    void onProgress(JobId id, const detox::Progress& progress);
    void showRun(const MethodRun& run);

    std::shared_ptr<detox::Model> model_;
    std::unique_ptr<detox::ModelEditor> editor_;
    std::optional<detox::SafeEditRecord> record_;
    JobRunner* runner_ = nullptr;
    JobId currentJob_ = 0;
    int runCounter_ = 0;
    int maxNewTokens_ = 48;
    std::optional<MethodRun> lastRun_;
    FigureSpec liveLoss_;

    QComboBox* methodCombo_ = nullptr;
    QDoubleSpinBox* learningRate_ = nullptr;
    QSpinBox* steps_ = nullptr;
    QDoubleSpinBox* editWeight_ = nullptr;
    QLabel* stepsLabel_ = nullptr;
    QLabel* weightLabel_ = nullptr;
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

    QTableWidget* metricsTable() const { return table_; }
    PlotView* metricsPlot() const { return metricsPlot_; }
    const QVector<PlotView*>& shiftPlots() const { return shiftPlots_; }

signals:
    void resultReady(const QString& id, const QJsonObject& result);

private:
    void rebuild();

    QVector<MethodRun> runs_;
    QTableWidget* table_ = nullptr;
    PlotView* metricsPlot_ = nullptr;
    QWidget* shiftHost_ = nullptr;
    QVector<PlotView*> shiftPlots_;
};

}  // namespace detox::ui

Q_DECLARE_METATYPE(detox::ui::MethodRun)
