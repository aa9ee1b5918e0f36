#include "detox_ui/main_window.h"

#include <QApplication>
#include <QFileDialog>
#include <QLabel>
#include <QMenuBar>
#include <QMessageBox>
#include <QStatusBar>
#include <QTabWidget>

#include "detox/version.h"

namespace detox::ui {

MainWindow::MainWindow(QWidget* parent) : QMainWindow(parent) {
    setWindowTitle("Detox Workbench");
    setObjectName("MainWindow");
    resize(1280, 820);
    views_ = new QTabWidget(this);
    views_->setObjectName("views");
    setCentralWidget(views_);
    statusModel_ = new QLabel(tr("No model"), this);
    statusData_ = new QLabel(tr("No dataset"), this);
    statusBar()->addPermanentWidget(statusModel_);
    statusBar()->addPermanentWidget(statusData_);
    buildMenus();
}

void MainWindow::buildMenus() {
    QMenu* file = menuBar()->addMenu(tr("&File"));
    file->setObjectName("menuFile");
    QAction* openModel = file->addAction(tr("Open &Model..."), this, [this] {
        QString dir = QFileDialog::getExistingDirectory(this, tr("Open HF checkpoint directory"));
        if (!dir.isEmpty()) this->openModel(dir);
    });
    openModel->setShortcut(QKeySequence("Ctrl+Shift+O"));
    QAction* openData = file->addAction(tr("Open &Dataset..."), this, [this] {
        QString path = QFileDialog::getOpenFileName(this, tr("Open SafeEdit JSON"), {}, tr("JSON (*.json)"));
        if (!path.isEmpty()) openDataset(path);
    });
    openData->setShortcut(QKeySequence::Open);
    file->addAction(tr("Open &Demo Model and Data"), this, &MainWindow::openDemo);
    file->addSeparator();
    QAction* quit = file->addAction(tr("&Quit"), qApp, &QApplication::quit);
    quit->setShortcut(QKeySequence::Quit);

    QMenu* analysis = menuBar()->addMenu(tr("&Analysis"));
    analysis->setObjectName("menuAnalysis");
    QMenu* methods = menuBar()->addMenu(tr("&Methods"));
    methods->setObjectName("menuMethods");
    QMenu* view = menuBar()->addMenu(tr("&View"));
    view->setObjectName("menuView");
    QMenu* help = menuBar()->addMenu(tr("&Help"));
    help->setObjectName("menuHelp");
    help->addAction(tr("&About Detox Workbench"), this, &MainWindow::showAbout);
}

void MainWindow::openDemo() {
    statusData_->setText(tr("Demo dataset"));
}

void MainWindow::openModel(const QString& directory) { statusModel_->setText(directory); }

void MainWindow::openDataset(const QString& file) { statusData_->setText(file); }

void MainWindow::showAbout() {
    QMessageBox::about(this, tr("About Detox Workbench"),
                       tr("<b>Detox Workbench</b> %1<br>Study and repair toxic behaviour in large language models "
                          "with DINM, SFT and DPO on SafeEdit.<br>Licensed GPL-3.0-or-later.")
                           .arg(QString::fromStdString(appVersion())));
}

}  // namespace detox::ui
