// The workbench's main window: menus, model panel, dataset browser and the analysis views.
//
// Hooks for the parts that land later:
//   - setModelLoader(): the model runtime's loader; openModel() and openDemo() call it.
//   - setModelPanel(): replaces the "No model loaded" placeholder dock content.
//   - setViewWidget(View, widget): replaces a view tab's placeholder.
//   - jobs() / runLog(): run work in the background; every finished job lands in the Run log.
//   - datasetBrowser()->recordSelected(int): the record views follow.
#pragma once
#include <QMainWindow>

#include <functional>

#include "detox_ui/session.h"
#include "detox_ui/theme.h"

class QActionGroup;
class QDockWidget;
class QLabel;
class QMenu;
class QTabWidget;

namespace detox::ui {

class DatasetBrowser;
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

signals:
    void modelRequested(const QString& directory);

protected:
    void closeEvent(QCloseEvent* event) override;

private:
    void buildViews();
    void buildDocks();
    void buildMenus();
    void buildStatusBar();
    void rebuildRecentMenu();
    void restoreWindowState();
    void showError(const QString& title, const QString& text, const QString& objectName);
    void showAbout();
    QWidget* placeholderView(const QString& title, const QString& description);

    JobRunner* jobs_ = nullptr;
    RunLogModel* runLog_ = nullptr;
    RunLogView* runLogView_ = nullptr;
    DatasetBrowser* browser_ = nullptr;
    QTabWidget* views_ = nullptr;
    QDockWidget* datasetDock_ = nullptr;
    QDockWidget* modelDock_ = nullptr;
    QLabel* modelPlaceholder_ = nullptr;
    QLabel* statusModel_ = nullptr;
    QLabel* statusData_ = nullptr;
    JobProgressWidget* progress_ = nullptr;
    QMenu* recentMenu_ = nullptr;
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
