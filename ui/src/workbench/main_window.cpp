#include "detox_ui/workbench/main_window.h"

#include <QActionGroup>
#include <QApplication>
#include <QCloseEvent>
#include <QDir>
#include <QDockWidget>
#include <QFileDialog>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QLabel>
#include <QLineEdit>
#include <QMenuBar>
#include <QMessageBox>
#include <QSettings>
#include <QSpinBox>
#include <QStatusBar>
#include <QTabWidget>
#include <QVBoxLayout>

#include "detox/checkpoint/checkpoint.h"
#include "detox/demo/demo_model.h"
#include "detox/error.h"
#include "detox/runtime/model.h"
#include "detox/safeedit/safeedit.h"
#include "detox/version.h"
#include "detox_ui/views/dataset_browser.h"
#include "detox_ui/views/model_panel.h"
#include "detox_ui/figures/plot_view.h"
#include "detox_ui/views/run_log.h"
#include "detox_ui/views/view_compare.h"
#include "detox_ui/views/view_edit.h"
#include "detox_ui/views/view_toxic_layers.h"
#include "detox_ui/views/view_toxic_region.h"
#include "views/view_support.h"

namespace detox::ui {

namespace {

const char* kGeometryKey = "mainWindow/geometry";
const char* kStateKey = "mainWindow/state";
const char* kThemeKey = "mainWindow/theme";
const char* kRecentModelsKey = "recentModels";
const int kMaxRecentModels = 8;
const int kShowcaseComparisonRecords = 3;

struct ViewInfo {
    const char* title;
    const char* fileName;
};

const ViewInfo kViews[] = {
    {"Toxic layers", "toxic-layers"}, {"Toxic region", "toxic-region"}, {"Edit", "edit"},
    {"Compare", "compare"},           {"Run log", "run-log"},
};

}  // namespace

QStringList MainWindow::viewNames() {
    QStringList names;
    for (const ViewInfo& view : kViews) names << tr(view.title);
    return names;
}

QString MainWindow::viewFileName(View view) { return kViews[int(view)].fileName; }

MainWindow::MainWindow(QWidget* parent) : QMainWindow(parent) {
    setWindowTitle("Detox Workbench");
    setObjectName("MainWindow");
    setDockNestingEnabled(true);
    resize(1440, 900);
    state_ = new WorkbenchState(this);
    jobs_ = new JobRunner(this);
    runLog_ = new RunLogModel(this);
    connect(jobs_, &JobRunner::jobFinished, runLog_, &RunLogModel::addEntry);
    browser_ = new DatasetBrowser(jobs_, this);
    buildViews();
    buildDocks();
    buildStatusBar();
    buildMenus();
    connectViews();
    restoreWindowState();

    connect(browser_, &DatasetBrowser::datasetLoaded, this, [this](const QString& path, int records) {
        state_->setDataset(browser_->dataset(), path);
        state_->selectRecord(browser_->selectedRecordId());  // the browser may have selected before it said so
        statusData_->setText(tr("%1 (%2 records)").arg(QFileInfo(path).fileName()).arg(records));
        statusData_->setToolTip(path);
        rebuildRecentMenu();
    });
    connect(browser_, &DatasetBrowser::datasetLoadFailed, this, [this] {
        statusData_->setText(browser_->dataset() ? QFileInfo(browser_->datasetPath()).fileName() : tr("No dataset"));
    });
}

MainWindow::~MainWindow() {
    // Stop background work before the widgets its results would go to are destroyed; the Edit view
    // must forget the runner first (its destructor would otherwise ask a deleted runner to cancel).
    editView_->setJobRunner(nullptr);
    delete jobs_;
    jobs_ = nullptr;
}

void MainWindow::buildViews() {
    views_ = new QTabWidget(this);
    views_->setObjectName("views");
    views_->setDocumentMode(true);
    toxicView_ = new ToxicLayersView(this);
    regionView_ = new ToxicRegionView(this);
    editView_ = new EditView(this);
    compareView_ = new CompareView(this);
    QWidget* pages[] = {toxicView_, regionView_, editView_, compareView_};
    for (int i = 0; i < int(View::RunLog); ++i) views_->addTab(pages[i], tr(kViews[i].title));
    runLogView_ = new RunLogView(runLog_, this);
    views_->addTab(runLogView_, tr(kViews[int(View::RunLog)].title));
    setCentralWidget(views_);
}

void MainWindow::buildDocks() {
    modelDock_ = new QDockWidget(tr("Model"), this);
    modelDock_->setObjectName("modelDock");
    modelPanel_ = new ModelPanel(modelDock_);
    modelDock_->setWidget(modelPanel_);
    addDockWidget(Qt::LeftDockWidgetArea, modelDock_);

    datasetDock_ = new QDockWidget(tr("Dataset"), this);
    datasetDock_->setObjectName("datasetDock");
    datasetDock_->setWidget(browser_);
    addDockWidget(Qt::LeftDockWidgetArea, datasetDock_);
    splitDockWidget(modelDock_, datasetDock_, Qt::Vertical);
    resizeDocks({modelDock_, datasetDock_}, {210, 620}, Qt::Vertical);
    resizeDocks({datasetDock_}, {620}, Qt::Horizontal);
}

void MainWindow::buildStatusBar() {
    progress_ = new JobProgressWidget(jobs_, this);
    statusBar()->addWidget(progress_);
    statusModel_ = new QLabel(tr("No model"), this);
    statusModel_->setObjectName("statusModel");
    statusData_ = new QLabel(tr("No dataset"), this);
    statusData_->setObjectName("statusData");
    statusBar()->addPermanentWidget(statusModel_);
    statusBar()->addPermanentWidget(statusData_);
}

void MainWindow::buildMenus() {
    QMenu* file = menuBar()->addMenu(tr("&File"));
    file->setObjectName("menuFile");
    QAction* openModel = file->addAction(tr("Open &Model..."), this, [this] {
        const QString dir = QFileDialog::getExistingDirectory(this, tr("Open HF checkpoint directory"));
        if (!dir.isEmpty()) this->openModel(dir);
    });
    openModel->setShortcut(QKeySequence("Ctrl+Shift+O"));
    recentModelsMenu_ = file->addMenu(tr("Recent &Models"));
    recentModelsMenu_->setObjectName("menuRecentModels");
    rebuildRecentModelsMenu();
    QAction* openData = file->addAction(tr("Open &Dataset..."), this, [this] {
        const QString path =
            QFileDialog::getOpenFileName(this, tr("Open SafeEdit JSON"), {}, tr("SafeEdit JSON (*.json);;All files (*)"));
        if (!path.isEmpty()) openDataset(path);
    });
    openData->setShortcut(QKeySequence::Open);
    recentMenu_ = file->addMenu(tr("Recent &Datasets"));
    recentMenu_->setObjectName("menuRecent");
    rebuildRecentMenu();
    QAction* demo = file->addAction(tr("Open D&emo Model and Data"), this, &MainWindow::openDemo);
    demo->setShortcut(QKeySequence("Ctrl+Shift+D"));
    file->addSeparator();
    QAction* openSessionAction = file->addAction(tr("Open Session..."), this, [this] {
        const QString path = QFileDialog::getOpenFileName(this, tr("Open session"), {}, tr("Workbench session (*.json)"));
        if (!path.isEmpty()) openSession(path);
    });
    openSessionAction->setShortcut(QKeySequence("Ctrl+Alt+O"));
    QAction* saveSessionAction = file->addAction(tr("&Save Session"), this, [this] {
        QString path = sessionPath_;
        if (path.isEmpty())
            path = QFileDialog::getSaveFileName(this, tr("Save session"), "session.json", tr("Workbench session (*.json)"));
        if (!path.isEmpty()) saveSession(path);
    });
    saveSessionAction->setShortcut(QKeySequence::Save);
    QAction* saveAs = file->addAction(tr("Save Session &As..."), this, [this] {
        const QString path =
            QFileDialog::getSaveFileName(this, tr("Save session"), "session.json", tr("Workbench session (*.json)"));
        if (!path.isEmpty()) saveSession(path);
    });
    saveAs->setShortcut(QKeySequence::SaveAs);
    file->addSeparator();
    saveModelAction_ = file->addAction(tr("Save Edited &Model..."), this, [this] {
        const QString directory = QFileDialog::getSaveFileName(
            this, tr("Save the edited model as a new directory"),
            modelPath_.isEmpty() ? QString() : modelPath_ + "-edited", {}, nullptr, QFileDialog::ShowDirsOnly);
        if (!directory.isEmpty()) saveEditedModel(directory);
    });
    saveModelAction_->setObjectName("actionSaveEditedModel");
    saveModelAction_->setShortcut(QKeySequence("Ctrl+Alt+S"));
    file->addSeparator();
    QAction* exportAll = file->addAction(tr("&Export All Figures..."), this, [this] {
        const QString folder = QFileDialog::getExistingDirectory(this, tr("Export all figures to"));
        if (folder.isEmpty()) return;
        const QStringList files = exportAllFigures(folder);
        statusBar()->showMessage(files.isEmpty() ? tr("No figures to export yet")
                                                 : tr("Exported %n file(s) to %1", nullptr, files.size()).arg(folder),
                                 6000);
    });
    exportAll->setShortcut(QKeySequence("Ctrl+E"));
    exportComparisonAction_ = file->addAction(tr("Export &Comparison JSON..."), this, [this] {
        const QString path = QFileDialog::getSaveFileName(this, tr("Export the dataset comparison"), "comparison.json",
                                                          tr("Comparison JSON (*.json)"));
        if (!path.isEmpty()) exportComparisonJson(path);
    });
    exportComparisonAction_->setObjectName("actionExportComparison");
    file->addSeparator();
    QAction* quit = file->addAction(tr("&Quit"), this, &QWidget::close);
    quit->setShortcut(QKeySequence::Quit);

    analysisMenu_ = menuBar()->addMenu(tr("&Analysis"));
    analysisMenu_->setObjectName("menuAnalysis");
    QAction* locate = analysisMenu_->addAction(tr("&Locate Toxic Layer"), this, &MainWindow::locateToxicLayer);
    locate->setObjectName("actionLocate");
    locate->setShortcut(QKeySequence("Ctrl+L"));
    QAction* region = analysisMenu_->addAction(tr("Analyse Toxic &Region"), this, &MainWindow::analyseToxicRegion);
    region->setObjectName("actionToxicRegion");
    region->setShortcut(QKeySequence("Ctrl+R"));
    recordActions_ = {locate, region};

    methodsMenu_ = menuBar()->addMenu(tr("&Methods"));
    methodsMenu_->setObjectName("menuMethods");
    const std::pair<EditMethod, const char*> methods[] = {
        {EditMethod::Dinm, "F5"}, {EditMethod::Sft, "F6"}, {EditMethod::Dpo, "F7"}};
    for (const auto& [method, key] : methods) {
        const QString name = editMethodName(method);
        QAction* run = methodsMenu_->addAction(tr("Run %1").arg(name.toUpper()), this,
                                               [this, method] { runMethod(int(method)); });
        run->setObjectName(QStringLiteral("actionRun_%1").arg(name));
        run->setShortcut(QKeySequence(key));
        recordActions_ << run;
    }
    methodsMenu_->addSeparator();
    compareDatasetAction_ = methodsMenu_->addAction(tr("Compare Methods on &Visible Records..."), this,
                                                    &MainWindow::compareVisibleRecords);
    compareDatasetAction_->setObjectName("actionCompareDataset");
    compareDatasetAction_->setShortcut(QKeySequence("F8"));
    methodsMenu_->addSeparator();
    cancelAction_ = methodsMenu_->addAction(tr("&Cancel Running Jobs"), this, &MainWindow::cancelJobs);
    cancelAction_->setObjectName("actionCancel");
    cancelAction_->setShortcut(QKeySequence("Ctrl+."));
    undoAction_ = methodsMenu_->addAction(tr("&Undo All Edits"), this, &MainWindow::undoEdits);
    undoAction_->setObjectName("actionUndoEdits");
    undoAction_->setShortcut(QKeySequence("Ctrl+Shift+Z"));

    QMenu* view = menuBar()->addMenu(tr("&View"));
    view->setObjectName("menuView");
    for (int i = 0; i < views_->count(); ++i) {
        QAction* show = view->addAction(views_->tabText(i), this, [this, i] { views_->setCurrentIndex(i); });
        show->setShortcut(QKeySequence(QString("Ctrl+%1").arg(i + 1)));
    }
    view->addSeparator();
    view->addAction(modelDock_->toggleViewAction());
    view->addAction(datasetDock_->toggleViewAction());
    QAction* focusSearch = view->addAction(tr("Search Records"), this, [this] {
        datasetDock_->show();
        datasetDock_->raise();
        browser_->searchField()->setFocus();
        browser_->searchField()->selectAll();
    });
    focusSearch->setShortcut(QKeySequence::Find);
    view->addSeparator();
    themeGroup_ = new QActionGroup(this);
    QAction* light = view->addAction(tr("&Light Theme"), this, [this] { setTheme(Theme::Light); });
    QAction* dark = view->addAction(tr("&Dark Theme"), this, [this] { setTheme(Theme::Dark); });
    light->setObjectName("actionLightTheme");
    dark->setObjectName("actionDarkTheme");
    for (QAction* action : {light, dark}) {
        action->setCheckable(true);
        themeGroup_->addAction(action);
    }
    light->setChecked(true);

    QMenu* help = menuBar()->addMenu(tr("&Help"));
    help->setObjectName("menuHelp");
    help->addAction(tr("&About Detox Workbench"), this, &MainWindow::showAbout);
}

void MainWindow::rebuildRecentMenu() {
    recentMenu_->clear();
    const QStringList files = DatasetBrowser::recentFiles();
    for (const QString& path : files)
        recentMenu_->addAction(QFileInfo(path).fileName(), this, [this, path] { openDataset(path); })->setToolTip(path);
    if (files.isEmpty()) recentMenu_->addAction(tr("(none)"))->setEnabled(false);
}

void MainWindow::restoreWindowState() {
    QSettings settings;
    if (settings.contains(kGeometryKey)) restoreGeometry(settings.value(kGeometryKey).toByteArray());
    if (settings.contains(kStateKey)) restoreState(settings.value(kStateKey).toByteArray());
    setTheme(themeFromName(settings.value(kThemeKey, "light").toString()));
}

void MainWindow::closeEvent(QCloseEvent* event) {
    QSettings settings;
    settings.setValue(kGeometryKey, saveGeometry());
    settings.setValue(kStateKey, saveState());
    jobs_->cancelAll();
    QMainWindow::closeEvent(event);
}

void MainWindow::openDemo() {
    openDataset(QString::fromStdString(detox::demoDatasetPath("test")));
    QString directory;
    if (demoModelDirectory_) {
        directory = demoModelDirectory_();
    } else {
        try {
            directory = QString::fromStdString(detox::demoModelPath());
        } catch (const std::exception& error) {
            // No trained demo model in this build: the demo data alone is still useful.
            statusBar()->showMessage(tr("No demo model found; opened the demo data only"), 8000);
            modelPanel_->headline()->setToolTip(QString::fromStdString(error.what()));
            return;
        }
    }
    if (!directory.isEmpty()) openModel(directory);
}

void MainWindow::openModel(const QString& directory) {
    emit modelRequested(directory);
    if (modelLoader_) {
        modelLoader_(*this, directory);
        return;
    }
    loadModelInBackground(directory);
}

namespace {

QJsonArray stringList(const std::vector<std::string>& values) {
    QJsonArray array;
    for (const std::string& value : values) array.append(QString::fromStdString(value));
    return array;
}

// What the load job hands back to the main thread.
struct LoadedModel {
    std::shared_ptr<detox::Model> model;
    detox::CheckpointInfo info;
};

}  // namespace

void MainWindow::loadModelInBackground(const QString& directory) {
    modelPanel_->showLoading(directory);
    statusModel_->setText(tr("Loading %1...").arg(QFileInfo(directory).fileName()));
    JobOptions options;
    options.name = tr("Load model %1").arg(QFileInfo(directory).fileName());
    const detox::LoadOptions loadOptions = modelPanel_->loadOptions();
    options.settings = QJsonObject{{"directory", directory},
                                   {"weights", QString::fromStdString(detox::weightModeName(loadOptions.weights))},
                                   {"device", QString::fromStdString(loadOptions.device)},
                                   {"allow_non_finite_weights", loadOptions.allowNonFiniteWeights}};
    options.queue = QStringLiteral("model-load");
    const std::string path = directory.toStdString();
    jobs_->submit(JobSpec<LoadedModel>{
        .options = options,
        .work = [path, loadOptions](detox::JobControl& job) {
            LoadedModel loaded;
            loaded.info = detox::inspectCheckpoint(path);  // headers only: fails fast on a bad directory
            loaded.model = std::make_shared<detox::Model>(detox::Model::load(path, loadOptions, job));
            return loaded;
        },
        .onSuccess = [this](LoadedModel& loaded) { applyModel(loaded.model, loaded.info); },
        .describe = [](const LoadedModel& loaded) {
            const detox::ModelConfig& config = loaded.info.config;
            return ResultDescription{
                QStringLiteral("%1, %2 layers, %3 parameters")
                    .arg(QString::fromStdString(config.hfArchitecture))
                    .arg(config.numLayers)
                    .arg(formatCount(loaded.model->parameterCount())),
                QJsonObject{{"architecture", QString::fromStdString(config.hfArchitecture)},
                            {"layers", config.numLayers},
                            {"hidden_size", config.hiddenSize},
                            {"parameters", double(loaded.model->parameterCount())},
                            {"weights", QString::fromStdString(loaded.model->weightsDescription())},
                            {"non_finite_tensors", stringList(loaded.model->nonFiniteWeightsAtLoad())},
                            {"dtype", QString::fromStdString(config.storedDtype)}}};
        },
        .onFailure = [this, directory](const RunLogEntry& entry) {
            const auto& model = state_->model();
            if (model && state_->checkpointInfo())
                modelPanel_->showModel(*state_->checkpointInfo(), *model);
            else modelPanel_->showFailure(directory, entry.message);
            statusModel_->setText(model ? QFileInfo(modelPath_).fileName() : tr("No model"));
            if (entry.status != JobStatus::Cancelled)
                showError(tr("Cannot open model"), tr("%1\n\n%2").arg(directory, entry.message), "modelError");
            emit modelLoadFailed(directory, entry.message);
        },
        .receiver = this});
}

void MainWindow::applyModel(std::shared_ptr<detox::Model> model, const detox::CheckpointInfo& info) {
    // The old model's jobs hold it and its edit session by shared ownership: they are asked to stop and
    // free them on their worker when they do; their results are discarded (JobRunner::cancel), so the
    // switch need not wait. The views follow the state (connectViews).
    if (const auto old = state_->model()) jobs_->cancelQueue(modelQueue(*old));
    state_->setModel(std::move(model), info);
    modelPanel_->showModel(info, *state_->model());
    if (const QString warning = nonFiniteWarning(*state_->model()); !warning.isEmpty())
        showError(tr("NaN or infinite weights"), warning, "modelWarning");
    const QString directory = state_->modelDirectory();
    modelOpened(directory, tr("%1 (%2 layers)").arg(QFileInfo(directory).fileName()).arg(info.config.numLayers));
    addRecentModel(directory);
    rebuildRecentModelsMenu();
    updateActions();
    emit modelLoaded(directory);
}

void MainWindow::modelOpened(const QString& directory, const QString& description) {
    modelPath_ = directory;
    statusModel_->setText(description.isEmpty() ? QFileInfo(directory).fileName() : description);
    statusModel_->setToolTip(directory);
}

void MainWindow::connectViews() {
    toxicView_->setJobRunner(jobs_);
    regionView_->setJobRunner(jobs_);
    editView_->setJobRunner(jobs_);
    compareView_->setJobRunner(jobs_);
    // The views observe the workbench state: a new model resets each of them, a run lands in the history.
    connect(state_, &WorkbenchState::modelChanged, this, [this] {
        const auto model = state_->model();
        toxicView_->setModel(model);
        regionView_->setModel(model);
        editView_->setEditSession(model, state_->editor());
        browser_->setContextModel(model);
        compareView_->setModel(model);
        compareView_->clearRuns();
        updateActions();
    });
    connect(state_, &WorkbenchState::runAdded, compareView_, &CompareView::addRun);
    connect(state_, &WorkbenchState::runAdded, regionView_, &ToxicRegionView::addMethodRun);
    connect(state_, &WorkbenchState::editsChanged, this, [this] {
        modelPanel_->setEdited(state_->hasEdits());
        regionView_->setModelEdited(state_->hasEdits());
        updateActions();
    });
    connect(state_, &WorkbenchState::selectionChanged, this, &MainWindow::showSelectedRecord);
    connect(modelPanel_, &ModelPanel::reloadRequested, this, [this] {
        if (state_->model()) openModel(state_->modelDirectory());
    });
    connect(browser_, &DatasetBrowser::recordSelected, this, [this](int id) {
        // The browser owns loading and filtering; the state follows what it shows (also a dataset set
        // on the browser directly, as tests do).
        if (state_->dataset() != browser_->dataset()) state_->setDataset(browser_->dataset(), browser_->datasetPath());
        state_->selectRecord(id);
    });
    connect(toxicView_, &ToxicLayersView::located, regionView_,
            [this](const detox::LocateResult& result) { regionView_->setToxicLayer(result.toxicLayer); });
    connect(editView_, &EditView::runFinished, state_, &WorkbenchState::addRun);
    connect(editView_, &EditView::undone, state_, &WorkbenchState::editsUndone);
    connect(toxicView_, &ToxicLayersView::resultReady, this, &MainWindow::recordResult);
    connect(regionView_, &ToxicRegionView::resultReady, this, &MainWindow::recordResult);
    connect(editView_, &EditView::resultReady, this, &MainWindow::recordResult);
    connect(compareView_, &CompareView::resultReady, this, &MainWindow::recordResult);
    connect(compareView_, &CompareView::datasetComparisonRequested, this, &MainWindow::compareVisibleRecords);
    connect(compareView_, &CompareView::datasetComparisonFinished, this, &MainWindow::updateActions);
    connect(compareView_, &CompareView::datasetComparisonFailed, this, [this](const QString& message, bool cancelled) {
        if (!cancelled) showError(tr("Comparison failed"), message, "compareError");
    });
    connect(runLogView_, &RunLogView::entryActivated, this, &MainWindow::reopenLogEntry);
    connect(jobs_, &JobRunner::busyChanged, this, &MainWindow::updateActions);
    updateActions();
}

void MainWindow::showSelectedRecord() {
    if (const detox::SafeEditRecord* record = state_->selectedRecord()) {
        // The dataset goes along for the causal results' provenance (its path and hash).
        toxicView_->setRecord(*record, state_->dataset().get());
        regionView_->setRecord(*record, state_->dataset().get());
        editView_->setRecord(*record);
    }
    updateActions();
}

void MainWindow::recordResult(const QString& id, const QJsonObject& result) {
    // A view's result in the log, re-openable next to the job that computed it.
    RunLogEntry entry;
    entry.name = tr("Result %1").arg(id);
    entry.queue = QStringLiteral("results");
    entry.started = entry.finished = QDateTime::currentDateTimeUtc();
    entry.status = JobStatus::Succeeded;
    entry.resultSummary = id;
    entry.result = result;
    runLog_->addEntry(entry);
}

void MainWindow::updateActions() {
    const bool hasModel = state_->model() != nullptr;
    for (QAction* action : recordActions_) action->setEnabled(hasModel && state_->selectedRecord());
    if (cancelAction_) cancelAction_->setEnabled(jobs_->isBusy());
    if (undoAction_) undoAction_->setEnabled(state_->hasEdits() && !editView_->isRunning());
    if (saveModelAction_) saveModelAction_->setEnabled(hasModel);
    if (compareDatasetAction_)
        compareDatasetAction_->setEnabled(hasModel && state_->dataset() && !compareView_->isComparing());
    if (exportComparisonAction_) exportComparisonAction_->setEnabled(compareView_->datasetComparison().has_value());
}

void MainWindow::locateToxicLayer() {
    showView(View::ToxicLayers);
    toxicView_->locate();
}

void MainWindow::analyseToxicRegion() {
    showView(View::ToxicRegion);
    regionView_->analyse(state_->hasEdits());
}

void MainWindow::runMethod(int editMethod) {
    showView(View::Edit);
    editView_->setMethod(EditMethod(editMethod));
    editView_->run();
}

void MainWindow::cancelJobs() { jobs_->cancelAll(); }

detox::ComparisonSettings MainWindow::datasetComparisonSettings() const {
    detox::ComparisonSettings settings;
    std::vector<int> ids = browser_->visibleRecordIds();
    if (int(ids.size()) > compareView_->recordLimitSpin()->value()) ids.resize(compareView_->recordLimitSpin()->value());
    settings.evaluation.ids = ids;
    settings.evaluation.maxNewTokens = editView_->maxNewTokens();
    settings.evaluation.chatTemplate = editView_->chatFormat();
    settings.evaluation.protocol = compareView_->evalProtocol();
    // Every registered method (the prompt-only baselines too), each with the Edit tab's pre-filled settings;
    // DINM's EasyEdit-compatible mode from the comparison's own box (with EasyEdit's raw prompt, as
    // --easyedit-compat, unless the Edit tab chose a format).
    settings.methods.clear();
    for (const detox::Method& method : detox::methodRegistry()) settings.methods.push_back(method.name);
    settings.methodSettings = editView_->prefilledMethodSettings();
    settings.methodSettings[detox::methodInfo(detox::MethodId::Dinm).name]["easyedit_compat"] = compareView_->easyEditCompat();
    if (compareView_->easyEditCompat() && !settings.evaluation.chatTemplate) settings.evaluation.chatTemplate = detox::ChatTemplate::Plain;
    return settings;
}

JobId MainWindow::compareVisibleRecords() {
    showView(View::Compare);
    compareView_->showDatasetSection();
    const detox::ComparisonSettings settings = datasetComparisonSettings();
    QString problem;
    if (!state_->model()) problem = tr("Open a model first.");
    else if (!state_->dataset()) problem = tr("Open a SafeEdit dataset first.");
    else if (settings.evaluation.ids.empty()) problem = tr("No records are visible: clear the filters or the search.");
    else if (state_->hasEdits() || editView_->isRunning())
        // Its "original" row would silently be the edited model: ask for a clean start instead.
        problem = tr("The model has edits from the Edit view, or an edit is running. Each method repairs every record starting from the "
                     "weights as they are, so undo all edits (Ctrl+Shift+Z) first, or save the edited model and "
                     "open it to compare methods on top of it.");
    else if (compareView_->isComparing()) problem = tr("A comparison is already running.");
    if (!problem.isEmpty()) {
        showError(tr("Cannot compare methods"), problem, "compareError");
        return 0;
    }
    const JobId job = compareView_->runDatasetComparison(state_->dataset(), settings);
    updateActions();
    return job;
}

bool MainWindow::exportComparisonJson(const QString& path) {
    const auto& result = compareView_->datasetComparison();
    try {
        if (!result) throw detox::Error(path.toStdString(), "comparison", "a finished dataset comparison to export");
        detox::saveComparison(path.toStdString(), *result);  // atomic, the file `detox compare` writes
    } catch (const std::exception& error) {
        showError(tr("Cannot export the comparison"), QString::fromStdString(error.what()), "exportError");
        return false;
    }
    statusBar()->showMessage(tr("Comparison written to %1").arg(path), 6000);
    return true;
}

void MainWindow::reopenLogEntry(const RunLogEntry& entry) {
    // A comparison in the log (this session's or a saved one's) is shown again in the Compare view.
    const nlohmann::json json = nlohmann::json::parse(QJsonDocument(entry.result).toJson().toStdString());
    if (!detox::isComparisonJson(json)) return;
    try {
        compareView_->showDatasetComparison(json.get<detox::ComparisonResult>());
        updateActions();
    } catch (const std::exception& error) {
        showError(tr("Cannot show the comparison"), QString::fromStdString(error.what()), "compareError");
    }
}

void MainWindow::undoEdits() { editView_->undo(); }

void MainWindow::saveEditedModel(const QString& directory) {
    const auto model = state_->model();
    if (!model) return;
    JobOptions options;
    options.name = tr("Save model to %1").arg(QFileInfo(directory).fileName());
    options.settings = QJsonObject{{"directory", directory}, {"source", modelPath_}};
    options.queue = modelQueue(*model);  // after any edit still running on it
    const std::string path = directory.toStdString();
    jobs_->submit(JobSpec<void>{
        .options = options,
        .work = [model, path](detox::JobControl& job) { model->save(path, job); },
        .onSuccess = [this, directory] {
            statusBar()->showMessage(tr("Model saved to %1").arg(directory), 8000);
            addRecentModel(directory);
            rebuildRecentModelsMenu();
            emit editedModelSaved(directory);
        },
        .onFailure =
            [this, directory](const RunLogEntry& entry) {
                if (entry.status != JobStatus::Cancelled)
                    showError(tr("Cannot save model"), tr("%1\n\n%2").arg(directory, entry.message), "saveModelError");
            },
        .receiver = this});
}

QStringList MainWindow::recentModels() { return QSettings().value(kRecentModelsKey).toStringList(); }

void MainWindow::addRecentModel(const QString& directory) {
    QStringList models = recentModels();
    models.removeAll(directory);
    models.prepend(directory);
    while (models.size() > kMaxRecentModels) models.removeLast();
    QSettings().setValue(kRecentModelsKey, models);
}

void MainWindow::rebuildRecentModelsMenu() {
    recentModelsMenu_->clear();
    const QStringList models = recentModels();
    for (const QString& directory : models)
        recentModelsMenu_->addAction(QFileInfo(directory).fileName(), this, [this, directory] { openModel(directory); })
            ->setToolTip(directory);
    if (models.isEmpty()) recentModelsMenu_->addAction(tr("(none)"))->setEnabled(false);
}

bool MainWindow::runShowcase(int dinmSteps, int timeoutMs) {
    if (!state_->model() || !state_->selectedRecord()) return false;
    locateToxicLayer();
    if (!jobs_->waitForIdle(timeoutMs)) return false;
    toxicView_->patch();   // activation patching next to the distance curve
    if (!jobs_->waitForIdle(timeoutMs)) return false;
    regionView_->analyse(false);
    if (!jobs_->waitForIdle(timeoutMs)) return false;
    regionView_->ablate();  // the loaded model's row of the ablation table
    if (!jobs_->waitForIdle(timeoutMs)) return false;
    // Each method from the loaded model (Reset mode) with the form's pre-filled settings.
    for (EditMethod method : {EditMethod::Dinm, EditMethod::Sft, EditMethod::Dpo}) {
        editView_->setMethod(method);
        if (method == EditMethod::Dinm && dinmSteps > 0) editView_->stepsSpin()->setValue(dinmSteps);
        editView_->run();
        if (!jobs_->waitForIdle(timeoutMs)) return false;
        if (!editView_->lastRun() || editView_->lastRun()->method != editMethodName(method)) return false;
        if (method == EditMethod::Dinm) {
            regionView_->ablate();  // the same ablation on DINM's edited state
            if (!jobs_->waitForIdle(timeoutMs)) return false;
        }
    }
    // The Compare tab's dataset section: the three methods on the first visible records, from the
    // loaded weights (the runs above stay in the record section).
    undoEdits();
    if (!jobs_->waitForIdle(timeoutMs) || state_->hasEdits()) return false;
    compareView_->recordLimitSpin()->setValue(kShowcaseComparisonRecords);
    if (compareVisibleRecords() == 0 || !jobs_->waitForIdle(timeoutMs)) return false;
    return compareView_->datasetComparison().has_value();
}

void MainWindow::openDataset(const QString& file) {
    statusData_->setText(tr("Loading %1...").arg(QFileInfo(file).fileName()));
    browser_->loadDataset(file);
}

void MainWindow::setModelLoader(ModelLoader loader, std::function<QString()> demoModelDirectory) {
    modelLoader_ = std::move(loader);
    demoModelDirectory_ = std::move(demoModelDirectory);
}

void MainWindow::setModelPanel(QWidget* panel) {
    QWidget* old = modelDock_->widget();
    modelDock_->setWidget(panel);
    if (old == modelPanel_) modelPanel_->hide();  // kept: the loader still reports into it
}

void MainWindow::setViewWidget(View view, QWidget* widget) {
    const int index = int(view);
    QWidget* old = views_->widget(index);
    const bool wasCurrent = views_->currentIndex() == index;
    views_->removeTab(index);
    views_->insertTab(index, widget, tr(kViews[index].title));
    if (wasCurrent) views_->setCurrentIndex(index);
    // The built-in views stay alive (they are wired to the model and to each other), just hidden.
    const bool builtIn = old == runLogView_ || old == toxicView_ || old == regionView_ || old == editView_ ||
                         old == compareView_;
    if (builtIn) old->hide();
    else old->deleteLater();
    for (PlotView* plot : widget->findChildren<PlotView*>()) plot->setTheme(theme_);
}

QWidget* MainWindow::viewWidget(View view) const { return views_->widget(int(view)); }

void MainWindow::showView(View view) { views_->setCurrentIndex(int(view)); }

Session MainWindow::currentSession() const {
    Session session;
    session.modelPath = modelPath_;
    session.datasetPath = state_->datasetPath();
    session.selectedRecord = state_->selectedRecordId();
    session.theme = themeName(theme_);
    session.runLog = runLog_->entries();
    return session;
}

bool MainWindow::saveSession(const QString& path) {
    try {
        saveSessionFile(currentSession(), path);
    } catch (const std::exception& error) {
        showError(tr("Cannot save session"), QString::fromStdString(error.what()), "sessionError");
        return false;
    }
    sessionPath_ = path;
    statusBar()->showMessage(tr("Session saved to %1").arg(path), 5000);
    return true;
}

bool MainWindow::openSession(const QString& path) {
    Session session;
    try {
        session = loadSessionFile(path);  // everything is validated before anything changes
    } catch (const std::exception& error) {
        showError(tr("Cannot open session"), QString::fromStdString(error.what()), "sessionError");
        return false;
    }
    sessionPath_ = path;
    setTheme(themeFromName(session.theme));
    runLog_->setEntries(session.runLog);
    if (!session.modelPath.isEmpty()) openModel(session.modelPath);
    if (!session.datasetPath.isEmpty()) {
        statusData_->setText(tr("Loading %1...").arg(QFileInfo(session.datasetPath).fileName()));
        browser_->loadDataset(session.datasetPath, session.selectedRecord);
    }
    return true;
}

QStringList MainWindow::exportAllFigures(const QString& folder) {
    QVector<FigureSpec> figures;
    for (PlotView* plot : findChildren<PlotView*>())
        if (plot->hasFigure()) figures.append(plot->figure());
    try {
        return detox::ui::exportAllFigures(figures, folder);
    } catch (const std::exception& error) {
        showError(tr("Export failed"), QString::fromStdString(error.what()), "exportError");
        return {};
    }
}

QStringList MainWindow::saveScreenshots(const QString& directory) {
    QDir().mkpath(directory);
    QStringList written;
    const int current = views_->currentIndex();
    for (int i = 0; i < views_->count(); ++i) {
        views_->setCurrentIndex(i);
        QApplication::processEvents();
        const QString path = QDir(directory).filePath(QString("view-%1.png").arg(kViews[i].fileName));
        if (views_->currentWidget()->grab().save(path)) written << path;
    }
    views_->setCurrentIndex(current);
    QApplication::processEvents();
    const QString windowPath = QDir(directory).filePath("main-window.png");
    if (grab().save(windowPath)) written << windowPath;
    return written;
}

void MainWindow::setTheme(Theme theme) {
    theme_ = theme;
    setCurrentTheme(theme);
    qApp->setPalette(applicationPalette(theme));
    for (PlotView* plot : findChildren<PlotView*>()) plot->setTheme(theme);
    browser_->refreshDetail();
    if (themeGroup_) themeGroup_->actions().at(theme == Theme::Dark ? 1 : 0)->setChecked(true);
    QSettings().setValue(kThemeKey, themeName(theme));
}

void MainWindow::showError(const QString& title, const QString& text, const QString& objectName) {
    // Non-blocking, so tests and scripted runs are never stuck in a modal loop.
    auto* box = new QMessageBox(QMessageBox::Warning, title, text, QMessageBox::Ok, this);
    box->setObjectName(objectName);
    box->setAttribute(Qt::WA_DeleteOnClose);
    box->open();
}

void MainWindow::showAbout() {
    QMessageBox::about(this, tr("About Detox Workbench"),
                       tr("<b>Detox Workbench</b> %1<br>Study and repair toxic behaviour in large language models "
                          "with DINM, SFT and DPO on SafeEdit.<br>Licensed GPL-3.0-or-later.")
                           .arg(QString::fromStdString(appVersion())));
}

}  // namespace detox::ui
