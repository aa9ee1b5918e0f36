// The main window opens offscreen with its title, menus, view tabs (the real views) and docks; a model
// that cannot be loaded gives a readable dialog; hooks replace the panels; themes recolour the
// application; screenshots are written. The full model workflow is in test_ui_workflow.
#include <QDockWidget>
#include <QImage>
#include <QLabel>
#include <QMenuBar>
#include <QMessageBox>
#include <QPushButton>
#include <QSignalSpy>
#include <QTabWidget>
#include <QTemporaryDir>
#include <QtTest>

#include "detox_ui/jobs/job_runner.h"
#include "detox_ui/workbench/main_window.h"
#include "detox_ui/views/model_panel.h"
#include "detox_ui/figures/plot_view.h"
#include "detox_ui/views/view_compare.h"
#include "detox_ui/views/view_edit.h"
#include "detox_ui/views/view_toxic_layers.h"
#include "detox_ui/views/view_toxic_region.h"
#include "detox_ui/workbench/theme.h"

using detox::ui::MainWindow;

class MainWindowTest : public QObject {
    Q_OBJECT
private slots:
    void initTestCase() {
        QStandardPaths::setTestModeEnabled(true);
        QCoreApplication::setOrganizationName("DetoxWorkbenchTest");
        QSettings().clear();
    }

    void titleAndMenus() {
        MainWindow window;
        window.show();
        QVERIFY(QTest::qWaitForWindowExposed(&window));
        QCOMPARE(window.windowTitle(), QString("Detox Workbench"));
        QStringList menus;
        for (QAction* action : window.menuBar()->actions()) menus << action->text().remove('&');
        QCOMPARE(menus, QStringList({"File", "Analysis", "Methods", "View", "Help"}));
    }

    void viewsAndPlaceholders() {
        MainWindow window;
        auto* tabs = window.findChild<QTabWidget*>("views");
        QVERIFY(tabs);
        QStringList titles;
        for (int i = 0; i < tabs->count(); ++i) titles << tabs->tabText(i);
        QCOMPARE(titles, QStringList({"Toxic layers", "Toxic region", "Edit", "Compare", "Run log"}));
        QCOMPARE(titles, MainWindow::viewNames());
        QVERIFY(qobject_cast<detox::ui::ToxicLayersView*>(tabs->widget(0)));
        QVERIFY(qobject_cast<detox::ui::ToxicRegionView*>(tabs->widget(1)));
        QVERIFY(qobject_cast<detox::ui::EditView*>(tabs->widget(2)));
        QVERIFY(qobject_cast<detox::ui::CompareView*>(tabs->widget(3)));
        // Nothing to run before a model and a record are there.
        QVERIFY(!window.toxicLayersView()->locateButton()->isEnabled());
        QVERIFY(!window.findChild<QAction*>("actionLocate")->isEnabled());
        QVERIFY(!window.findChild<QAction*>("actionRun_dinm")->isEnabled());
        auto* headline = window.findChild<QLabel*>("modelHeadline");
        QVERIFY(headline && headline->text().contains("No model loaded"));
        QVERIFY(window.findChild<QDockWidget*>("datasetDock"));

        // A directory that is no checkpoint: a readable, non-blocking dialog; no model is claimed.
        QSignalSpy failed(&window, &MainWindow::modelLoadFailed);
        window.openModel("/tmp/some-checkpoint");
        QVERIFY(failed.wait(20000));
        QVERIFY(window.modelPath().isEmpty());
        QVERIFY(!window.model());
        auto* dialog = window.findChild<QMessageBox*>("modelError");
        QVERIFY(dialog);
        QVERIFY(dialog->text().contains("/tmp/some-checkpoint"));
        QVERIFY(dialog->text().contains("config.json"));
        QVERIFY(headline->text().contains("Could not load"));
        dialog->close();

        // Hooks replace placeholders.
        QString requested;
        window.setModelLoader([&](MainWindow& w, const QString& dir) {
            requested = dir;
            w.modelOpened(dir, "tiny-llama (4 layers)");
        });
        window.openModel("/models/tiny");
        QCOMPARE(requested, QString("/models/tiny"));
        QCOMPARE(window.modelPath(), QString("/models/tiny"));
        QCOMPARE(window.findChild<QLabel*>("statusModel")->text(), QString("tiny-llama (4 layers)"));

        auto* plot = new detox::ui::PlotView;
        window.setViewWidget(MainWindow::View::ToxicLayers, plot);
        QCOMPARE(window.viewWidget(MainWindow::View::ToxicLayers), plot);
        QCOMPARE(tabs->tabText(0), QString("Toxic layers"));
        QCOMPARE(tabs->count(), 5);
    }

    void themeSwitchRecolours() {
        MainWindow window;
        window.setTheme(detox::ui::Theme::Dark);
        QCOMPARE(qApp->palette().color(QPalette::Window), detox::ui::applicationPalette(detox::ui::Theme::Dark).color(QPalette::Window));
        QVERIFY(qApp->palette().color(QPalette::Window).lightness() < 80);
        window.setTheme(detox::ui::Theme::Light);
        QVERIFY(qApp->palette().color(QPalette::Window).lightness() > 200);
    }

    void screenshotsAreWritten() {
        MainWindow window;
        window.resize(1200, 800);
        window.show();
        QVERIFY(QTest::qWaitForWindowExposed(&window));
        QTemporaryDir dir;
        const QStringList files = window.saveScreenshots(dir.path());
        QCOMPARE(files.size(), 6);
        QVERIFY(files.contains(dir.filePath("view-toxic-layers.png")));
        QVERIFY(files.contains(dir.filePath("view-run-log.png")));
        const QImage whole(dir.filePath("main-window.png"));
        QVERIFY(whole.width() >= 1200 && whole.height() >= 800);
    }
};

QTEST_MAIN(MainWindowTest)
#include "test_ui_main_window.moc"
