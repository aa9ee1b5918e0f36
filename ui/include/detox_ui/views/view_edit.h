// The "Edit" tab: runs one registered method (detox/methods/registry.h: DINM, SFT, DPO, the prompt-only
// baselines) on the selected record as a job, through the core record study (MethodRun). Model work runs
// as jobs on the model's queue.
#pragma once
#include <QElapsedTimer>
#include <QJsonObject>
#include <QString>
#include <QWidget>

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "detox/methods/methods.h"
#include "detox/methods/recommended_settings.h"
#include "detox/methods/registry.h"
#include "detox/runtime/model.h"
#include "detox/safeedit/evaluation.h"
#include "detox/safeedit/safeedit.h"
#include "detox_ui/figures/figure.h"
#include "detox_ui/jobs/job_runner.h"
#include "detox_ui/views/method_run.h"

class QAbstractSpinBox;
class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QCheckBox;
class QProgressBar;
class QPushButton;
class QSpinBox;
class QTableWidget;
class QTextBrowser;

namespace detox::ui {

class PlotView;

using EditMethod = detox::MethodId;
QString editMethodName(EditMethod method);   // the registry name: "dinm", "sft", "dpo", "self-reminder", ...

// A table cell's text: a text of more than two lines (or longer than `maxCharacters`) becomes its first
// and last line, each cut to about half of maxCharacters, with "…" where text was left out. The cell's
// tooltip and the detail pane keep the whole text.
QString collapsedText(const QString& text, int maxCharacters = 160);

class EditView : public QWidget {
    Q_OBJECT
public:
    explicit EditView(QWidget* parent = nullptr);
    ~EditView() override;

    // A new model gets a new ModelEditor (Reset mode: each run starts from the loaded weights).
    void setModel(std::shared_ptr<detox::Model> model);
    // The workbench's model and its edit session (WorkbenchState): the view runs on them, never owns them.
    void setEditSession(std::shared_ptr<detox::Model> model, std::shared_ptr<detox::ModelEditor> editor);
    void setRecord(const detox::SafeEditRecord& record);
    void setJobRunner(JobRunner* runner);

    void setMethod(EditMethod method);       // also fills in that method's defaults
    EditMethod method() const;
    // The chosen method's settings as the form holds them now, with each value's source (what the form
    // changed counts as the user's).
    detox::ResolvedSettings settings() const;
    // What the form is pre-filled with for a method (resolveSettings: the paper's defaults for this model,
    // then its detox_method_defaults.json when it has a usable one).
    detox::ResolvedSettings prefilledSettings(EditMethod method) const;
    // Every registered method's pre-filled settings by name (ComparisonSettings::methodSettings), with the
    // check box as the user left it for that method (the dataset comparison's own check box decides DINM's
    // EasyEdit-compatible mode there).
    std::map<std::string, nlohmann::json> prefilledMethodSettings() const;
    void setMaxNewTokens(int tokens);        // for the before/after generations (default 48)
    int maxNewTokens() const { return maxNewTokens_; }
    // The chat format of the before/after generations: empty = the model's detected template.
    std::optional<detox::ChatTemplate> chatFormat() const;
    // How a weight edit's "after" answers are asked (RecordStudyOptions::protocol). Checking DINM's
    // EasyEdit-compatible box chooses easyedit (and the plain chat format in place of "detected"), as the
    // CLI's --easyedit-compat does; unchecking it chooses plain.
    detox::EvalProtocol evalProtocol() const;

    void run();
    void cancel();
    void undo();                             // ModelEditor::undoAll
    bool hasEdits() const;
    bool isRunning() const { return currentJob_ != 0; }
    const std::optional<MethodRun>& lastRun() const { return lastRun_; }

    QComboBox* methodCombo() const { return methodCombo_; }
    QComboBox* chatFormatCombo() const { return chatFormatCombo_; }  // "detected (...)", then each ChatTemplate
    QComboBox* evalProtocolCombo() const { return protocolCombo_; }  // "plain", "easyedit" (eval_protocol_choice.h)
    QDoubleSpinBox* learningRateSpin() const { return learningRate_; }
    // The settings form, filled from the method's registry entry (SettingField): decimals in the learning-rate
    // and weight boxes in order, whole numbers in the steps box; a box the method has no field for is disabled.
    QSpinBox* stepsSpin() const { return steps_; }           // DINM: max steps; SFT/DPO: epochs
    QDoubleSpinBox* editWeightSpin() const { return editWeight_; }  // DINM c_edit; DPO beta
    // The method's check-box setting (SettingField::flag; DINM: EasyEdit-compatible), disabled when it has none.
    QCheckBox* flagCheck() const { return flag_; }
    QPushButton* runButton() const { return runButton_; }
    QPushButton* cancelButton() const { return cancelButton_; }
    QPushButton* undoButton() const { return undoButton_; }
    QProgressBar* progressBar() const { return progress_; }
    PlotView* lossPlot() const { return lossPlot_; }
    // One row per input (DS and the four DG inputs): key, input, answer before, verdict, answer after,
    // verdict; long texts collapsed (collapsedText), the whole texts of the selected row in the detail pane.
    QTableWidget* generationTable() const { return table_; }
    QTextBrowser* detailPane() const { return detail_; }
    QLabel* defaultsSourceLabel() const { return defaultsSource_; }  // where the pre-filled settings come from
    QLabel* statusLabel() const { return status_; }  // the last run's summary, its evaluation protocol included

signals:
    void runFinished(const detox::ui::MethodRun& run);
    void undone();
    void resultReady(const QString& id, const QJsonObject& result);

private:
    void fillDefaults();
    void showDefaultsSource();
    std::vector<std::pair<detox::SettingField, QAbstractSpinBox*>> formWidgets() const;
    const detox::SettingField* flagField() const;  // the method's first check-box field, if any
    void updateEnabled();
    void onProgress(JobId id, const detox::Progress& progress);
    void showRun(const MethodRun& run);
    void showDetail(int row);
    void updateDetectedFormatName();
    void onFlagClicked(bool checked);

    std::shared_ptr<detox::Model> model_;
    std::shared_ptr<detox::ModelEditor> editor_;   // shared with the jobs that use it
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
    detox::ResolvedSettings prefilled_;        // the chosen method's, as fillDefaults put them in the form

    QComboBox* methodCombo_ = nullptr;
    QComboBox* chatFormatCombo_ = nullptr;
    QComboBox* protocolCombo_ = nullptr;
    QDoubleSpinBox* learningRate_ = nullptr;
    QSpinBox* steps_ = nullptr;
    QDoubleSpinBox* editWeight_ = nullptr;
    QCheckBox* flag_ = nullptr;
    std::map<std::string, bool> checkedFlags_;  // method name -> its check box as the user left it
    QLabel* learningRateLabel_ = nullptr;
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
    QTextBrowser* detail_ = nullptr;
};

}  // namespace detox::ui
