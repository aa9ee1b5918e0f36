#include "detox_ui/main_window.h"

#include <QActionGroup>
#include <QApplication>
#include <QCloseEvent>
#include <QDir>
#include <QDockWidget>
#include <QFileDialog>
#include <QFileInfo>
#include <QLabel>
#include <QLineEdit>
#include <QMenuBar>
#include <QMessageBox>
#include <QSettings>
#include <QStatusBar>
#include <QTabWidget>
#include <QVBoxLayout>

#include "detox/error.h"
#include "detox/safeedit.h"
#include "detox/version.h"
#include "detox_ui/dataset_browser.h"
#include "detox_ui/plot_view.h"
#include "detox_ui/run_log.h"

namespace detox::ui {

namespace {

const char* kGeometryKey = "mainWindow/geometry";
const char* kStateKey = "mainWindow/state";
const char* kThemeKey = "mainWindow/theme";

struct ViewInfo {
    const char* title;
    const char* fileName;
    const char* description;
};

const ViewInfo kViews[] = {
    {"Toxic layers", "toxic-layers",
     "Where a jailbreak turns the model unsafe: per-layer toxicity of the safe and the unsafe response, "
     "and the located toxic layer."},
    {"Toxic region", "toxic-region",
     "The toxic region's activations per layer and token, before and after an edit."},
    {"Edit", "edit", "Repair the model on the selected record with DINM, SFT or DPO, with live losses."},
    {"Compare", "compare",
     "Defense success, generalization, fluency and knowledge retention of the methods side by side."},
    {"Run log", "run-log", ""},
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
    jobs_ = new JobRunner(this);
    runLog_ = new RunLogModel(this);
    connect(jobs_, &JobRunner::jobFinished, runLog_, &RunLogModel::addEntry);
    browser_ = new DatasetBrowser(jobs_, this);
    buildViews();
    buildDocks();
    buildStatusBar();
    buildMenus();
    restoreWindowState();

    connect(browser_, &DatasetBrowser::datasetLoaded, this, [this](const QString& path, int records) {
        statusData_->setText(tr("%1 (%2 records)").arg(QFileInfo(path).fileName()).arg(records));
        statusData_->setToolTip(path);
        rebuildRecentMenu();
    });
    connect(browser_, &DatasetBrowser::datasetLoadFailed, this, [this] {
        statusData_->setText(browser_->dataset() ? QFileInfo(browser_->datasetPath()).fileName() : tr("No dataset"));
    });
}

MainWindow::~MainWindow() {
    // Stop background work before the widgets its results would go to are destroyed.
    delete jobs_;
    jobs_ = nullptr;
}

QWidget* MainWindow::placeholderView(const QString& title, const QString& description) {
    auto* page = new QWidget(this);
    auto* layout = new QVBoxLayout(page);
    layout->addStretch(2);
    auto* heading = new QLabel(title, page);
    QFont headingFont = heading->font();
    headingFont.setPointSizeF(headingFont.pointSizeF() * 1.5);
    headingFont.setBold(true);
    heading->setFont(headingFont);
    heading->setAlignment(Qt::AlignCenter);
    auto* hint = new QLabel(tr("Load a model and select a record"), page);
    hint->setObjectName("placeholderHint");
    hint->setAlignment(Qt::AlignCenter);
    QFont hintFont = hint->font();
    hintFont.setPointSizeF(hintFont.pointSizeF() * 1.15);
    hint->setFont(hintFont);
    auto* text = new QLabel(description, page);
    text->setAlignment(Qt::AlignCenter);
    text->setWordWrap(true);
    text->setEnabled(false);
    // Fixed size from the wrapped height: centred box layouts otherwise squeeze wrapped labels.
    text->setFixedWidth(520);
    text->setFixedHeight(text->heightForWidth(520) + 4);
    layout->addWidget(heading);
    layout->addSpacing(6);
    layout->addWidget(hint);
    layout->addSpacing(4);
    layout->addWidget(text, 0, Qt::AlignHCenter);
    layout->addStretch(3);
    return page;
}

void MainWindow::buildViews() {
    views_ = new QTabWidget(this);
    views_->setObjectName("views");
    views_->setDocumentMode(true);
    for (int i = 0; i < int(View::RunLog); ++i)
        views_->addTab(placeholderView(tr(kViews[i].title), tr(kViews[i].description)), tr(kViews[i].title));
    runLogView_ = new RunLogView(runLog_, this);
    views_->addTab(runLogView_, tr(kViews[int(View::RunLog)].title));
    setCentralWidget(views_);
}

void MainWindow::buildDocks() {
    modelDock_ = new QDockWidget(tr("Model"), this);
    modelDock_->setObjectName("modelDock");
    modelPlaceholder_ = new QLabel(modelDock_);
    modelPlaceholder_->setObjectName("modelPlaceholder");
    modelPlaceholder_->setAlignment(Qt::AlignCenter);
    modelPlaceholder_->setWordWrap(true);
    modelPlaceholder_->setMargin(12);
    modelPlaceholder_->setText(tr("<b>No model loaded</b><br><br>Open a HuggingFace checkpoint directory "
                                  "with File &gt; Open Model (Ctrl+Shift+O)."));
    modelDock_->setWidget(modelPlaceholder_);
    addDockWidget(Qt::LeftDockWidgetArea, modelDock_);

    datasetDock_ = new QDockWidget(tr("Dataset"), this);
    datasetDock_->setObjectName("datasetDock");
    datasetDock_->setWidget(browser_);
    addDockWidget(Qt::LeftDockWidgetArea, datasetDock_);
    splitDockWidget(modelDock_, datasetDock_, Qt::Vertical);
    resizeDocks({modelDock_, datasetDock_}, {130, 700}, Qt::Vertical);
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
    QAction* exportAll = file->addAction(tr("&Export All Figures..."), this, [this] {
        const QString folder = QFileDialog::getExistingDirectory(this, tr("Export all figures to"));
        if (folder.isEmpty()) return;
        const QStringList files = exportAllFigures(folder);
        statusBar()->showMessage(files.isEmpty() ? tr("No figures to export yet")
                                                 : tr("Exported %n file(s) to %1", nullptr, files.size()).arg(folder),
                                 6000);
    });
    exportAll->setShortcut(QKeySequence("Ctrl+E"));
    file->addSeparator();
    QAction* quit = file->addAction(tr("&Quit"), this, &QWidget::close);
    quit->setShortcut(QKeySequence::Quit);

    analysisMenu_ = menuBar()->addMenu(tr("&Analysis"));
    analysisMenu_->setObjectName("menuAnalysis");
    analysisMenu_->addAction(tr("No analyses available yet"))->setEnabled(false);
    methodsMenu_ = menuBar()->addMenu(tr("&Methods"));
    methodsMenu_->setObjectName("menuMethods");
    methodsMenu_->addAction(tr("No methods available yet"))->setEnabled(false);

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
    // Hook: once a model loader is installed (model runtime), the demo also opens the demo model.
    if (modelLoader_ && demoModelDirectory_) {
        const QString directory = demoModelDirectory_();
        if (!directory.isEmpty()) openModel(directory);
    }
}

void MainWindow::openModel(const QString& directory) {
    emit modelRequested(directory);
    if (modelLoader_) {
        modelLoader_(*this, directory);
        return;
    }
    // No runtime connected yet: say so instead of pretending the model is loaded.
    modelPlaceholder_->setText(tr("<b>No model loaded</b><br><br>Requested: %1<br>"
                                  "The model runtime is not connected to this window yet.")
                                   .arg(directory.toHtmlEscaped()));
}

void MainWindow::modelOpened(const QString& directory, const QString& description) {
    modelPath_ = directory;
    statusModel_->setText(description.isEmpty() ? QFileInfo(directory).fileName() : description);
    statusModel_->setToolTip(directory);
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
    if (old == modelPlaceholder_) modelPlaceholder_->hide();
}

void MainWindow::setViewWidget(View view, QWidget* widget) {
    const int index = int(view);
    QWidget* old = views_->widget(index);
    const bool wasCurrent = views_->currentIndex() == index;
    views_->removeTab(index);
    views_->insertTab(index, widget, tr(kViews[index].title));
    if (wasCurrent) views_->setCurrentIndex(index);
    if (old != runLogView_) old->deleteLater();
    for (PlotView* plot : widget->findChildren<PlotView*>()) plot->setTheme(theme_);
}

QWidget* MainWindow::viewWidget(View view) const { return views_->widget(int(view)); }

void MainWindow::showView(View view) { views_->setCurrentIndex(int(view)); }

Session MainWindow::currentSession() const {
    Session session;
    session.modelPath = modelPath_;
    session.datasetPath = browser_->datasetPath();
    session.selectedRecord = browser_->selectedRecordId();
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
