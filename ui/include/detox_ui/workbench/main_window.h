// The workbench's main window: menus, model panel, dataset browser and the analysis views.
//
// What the workbench works on (model, edit session and history, dataset, selected record) lives in one
// WorkbenchState; the window wires the views to it. openModel() loads a checkpoint as a job (Model::load)
// and puts it into the state, cancelling the old model's jobs without waiting for them; the dataset
// browser's selection drives the state's; the Analysis and Methods menus run the views' jobs. Every
// finished job and every view result lands in the Run log.
//
// Hooks (tests, other front ends):
//   - setModelLoader(): replaces the built-in loader; the loader calls modelOpened() when done.
//   - setModelPanel() / setViewWidget(View, widget): replace the model dock's content or a view tab.
#pragma once
#include <QMainWindow>

#include <functional>
#include <memory>

#include "detox/analysis/comparison.h"
#include "detox_ui/jobs/job_runner.h"
#include "detox_ui/workbench/session.h"
#include "detox_ui/workbench/theme.h"
#include "detox_ui/workbench/workbench_state.h"

class QActionGroup;
class QDockWidget;
class QLabel;
class QMenu;
class QTabWidget;

namespace detox {
class Model;
struct CheckpointInfo;
}

namespace detox::ui {

class CompareView;
class DatasetBrowser;
class EditView;
class ModelPanel;
class ToxicLayersView;
class ToxicRegionView;
class JobProgressWidget;
class JobRunner;
class RunLogModel;
class RunLogView;

class MainWindow : public QMainWindow {
    Q_OBJECT
public:
    enum class View { ToxicLayers, ToxicRegion, Edit, Compare, RunLog };
    static QStringList viewNames();            // tab titles, in View order
    static QString viewFileName(View view);    // "toxic-layers", ... for screenshots

    // Receives a checkpoint directory; runs the load as a job and calls modelOpened() when done.
    using ModelLoader = std::function<void(MainWindow& window, const QString& directory)>;

    explicit MainWindow(QWidget* parent = nullptr);
    ~MainWindow() override;

    // The same entry points the menus use, so tests and the command line drive the real paths.
    void openDemo();
    void openModel(const QString& directory);
    void openDataset(const QString& file);
    // Saves the (edited) model to a new directory as a job; errors appear as a dialog.
    void saveEditedModel(const QString& directory);
    static QStringList recentModels();

    // The menu actions: Analysis > Locate / Toxic Region, Methods > Run DINM/SFT/DPO, Cancel, Undo.
    void locateToxicLayer();
    void analyseToxicRegion();
    void runMethod(int editMethod);      // int(EditMethod)
    void cancelJobs();
    void undoEdits();
    // Methods > Compare methods on visible records: compareMethods as a job over the records the dataset
    // browser shows (filters and search), at most the Compare view's limit, with datasetComparisonSettings.
    // Returns the job, or 0 after a message saying why nothing runs.
    JobId compareVisibleRecords();
    // The visible records' ids (capped), the Edit view's pre-filled method settings (the model's
    // detox_method_defaults.json, else the paper's), its chat format and max new tokens; the Compare view's
    // evaluation protocol and EasyEdit-compatible DINM box.
    detox::ComparisonSettings datasetComparisonSettings() const;
    // File > Export Comparison JSON: the last dataset comparison as `detox compare` writes it (atomic).
    bool exportComparisonJson(const QString& path);
    // For screenshots: locate, map, activation patching, region, ablation, then DINM (and the ablation on its
    // edited state), SFT and DPO on the selected record, each from the loaded model with the Edit view's
    // pre-filled settings (dinmSteps > 0 overrides DINM's steps), then the dataset comparison on the first 3
    // visible records (the Compare tab shows it); waits.
    bool runShowcase(int dinmSteps, int timeoutMs);

    // Session files (File > Save Session / Open Session). Both return false after showing a
    // dialog that names the file and field; a failed open changes nothing.
    bool saveSession(const QString& path);
    bool openSession(const QString& path);
    Session currentSession() const;

    // Exports every figure currently shown in a PlotView to folder; returns the written files.
    QStringList exportAllFigures(const QString& folder);
    // Grabs each view tab to DIR/view-NAME.png and the window to DIR/main-window.png.
    QStringList saveScreenshots(const QString& directory);

    void setTheme(Theme theme);
    Theme theme() const { return theme_; }

    // ---- hooks ----
    void setModelLoader(ModelLoader loader, std::function<QString()> demoModelDirectory = {});
    void modelOpened(const QString& directory, const QString& description);  // call from the loader
    void setModelPanel(QWidget* panel);
    void setViewWidget(View view, QWidget* widget);
    QWidget* viewWidget(View view) const;
    void showView(View view);

    JobRunner* jobs() const { return jobs_; }
    RunLogModel* runLog() const { return runLog_; }
    DatasetBrowser* datasetBrowser() const { return browser_; }
    QMenu* analysisMenu() const { return analysisMenu_; }
    QMenu* methodsMenu() const { return methodsMenu_; }
    QString modelPath() const { return modelPath_; }
    std::shared_ptr<detox::Model> model() const { return state_->model(); }
    WorkbenchState* state() const { return state_; }
    ModelPanel* modelPanel() const { return modelPanel_; }
    ToxicLayersView* toxicLayersView() const { return toxicView_; }
    ToxicRegionView* toxicRegionView() const { return regionView_; }
    EditView* editView() const { return editView_; }
    CompareView* compareView() const { return compareView_; }

signals:
    void modelRequested(const QString& directory);
    void modelLoaded(const QString& directory);
    void modelLoadFailed(const QString& directory, const QString& message);
    void editedModelSaved(const QString& directory);

protected:
    void closeEvent(QCloseEvent* event) override;

private:
    void buildViews();
    void connectViews();
    void loadModelInBackground(const QString& directory);
    void applyModel(std::shared_ptr<detox::Model> model, const detox::CheckpointInfo& info);
    void showSelectedRecord();
    void recordResult(const QString& id, const QJsonObject& result);
    void updateActions();
    void rebuildRecentModelsMenu();
    static void addRecentModel(const QString& directory);
    void buildDocks();
    void buildMenus();
    void buildStatusBar();
    void rebuildRecentMenu();
    void restoreWindowState();
    void showError(const QString& title, const QString& text, const QString& objectName);
    void showAbout();
    void reopenLogEntry(const RunLogEntry& entry);

    JobRunner* jobs_ = nullptr;
    RunLogModel* runLog_ = nullptr;
    RunLogView* runLogView_ = nullptr;
    DatasetBrowser* browser_ = nullptr;
    QTabWidget* views_ = nullptr;
    QDockWidget* datasetDock_ = nullptr;
    QDockWidget* modelDock_ = nullptr;
    QLabel* statusModel_ = nullptr;
    QLabel* statusData_ = nullptr;
    JobProgressWidget* progress_ = nullptr;
    QMenu* recentMenu_ = nullptr;
    QMenu* recentModelsMenu_ = nullptr;
    QAction* saveModelAction_ = nullptr;
    QList<QAction*> recordActions_;      // need a model and a record
    QAction* cancelAction_ = nullptr;
    QAction* undoAction_ = nullptr;
    QAction* compareDatasetAction_ = nullptr;
    QAction* exportComparisonAction_ = nullptr;
    WorkbenchState* state_ = nullptr;
    ModelPanel* modelPanel_ = nullptr;
    ToxicLayersView* toxicView_ = nullptr;
    ToxicRegionView* regionView_ = nullptr;
    EditView* editView_ = nullptr;
    CompareView* compareView_ = nullptr;
    QMenu* analysisMenu_ = nullptr;
    QMenu* methodsMenu_ = nullptr;
    QActionGroup* themeGroup_ = nullptr;
    QString sessionPath_;
    QString modelPath_;
    Theme theme_ = Theme::Light;
    ModelLoader modelLoader_;
    std::function<QString()> demoModelDirectory_;
};

}  // namespace detox::ui
