// The main window opens offscreen with its title and menus.
#include <QMenuBar>
#include <QtTest>

#include "detox_ui/main_window.h"

class MainWindowTest : public QObject {
    Q_OBJECT
private slots:
    void titleAndMenus() {
        detox::ui::MainWindow window;
        window.show();
        QVERIFY(QTest::qWaitForWindowExposed(&window));
        QCOMPARE(window.windowTitle(), QString("Detox Workbench"));
        QStringList menus;
        for (QAction* action : window.menuBar()->actions()) menus << action->text().remove('&');
        QCOMPARE(menus, QStringList({"File", "Analysis", "Methods", "View", "Help"}));
    }
};

QTEST_MAIN(MainWindowTest)
#include "test_ui_main_window.moc"
