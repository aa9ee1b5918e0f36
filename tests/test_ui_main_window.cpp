// The main window opens offscreen with its title, menus, view tabs and docks; hooks replace the
// placeholders; themes recolour the application; screenshots are written.
#include <QDockWidget>
#include <QImage>
#include <QLabel>
#include <QMenuBar>
#include <QTabWidget>
#include <QTemporaryDir>
#include <QtTest>

#include "detox_ui/main_window.h"
#include "detox_ui/plot_view.h"
#include "detox_ui/theme.h"

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
        for (int i = 0; i < 4; ++i) {
            auto* hint = tabs->widget(i)->findChild<QLabel*>("placeholderHint");
            QVERIFY(hint);
            QCOMPARE(hint->text(), QString("Load a model and select a record"));
        }
        auto* model = window.findChild<QLabel*>("modelPlaceholder");
        QVERIFY(model && model->text().contains("No model loaded"));
        QVERIFY(window.findChild<QDockWidget*>("datasetDock"));

        // Without a runtime, opening a model says so and does not claim a loaded model.
        window.openModel("/tmp/some-checkpoint");
        QVERIFY(model->text().contains("No model loaded"));
        QVERIFY(model->text().contains("/tmp/some-checkpoint"));
        QVERIFY(window.modelPath().isEmpty());

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
