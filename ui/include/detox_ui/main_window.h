// The workbench's main window: menus, model panel, dataset browser and the analysis views.
#pragma once
#include <QMainWindow>

class QLabel;
class QTabWidget;

namespace detox::ui {

class MainWindow : public QMainWindow {
    Q_OBJECT
public:
    explicit MainWindow(QWidget* parent = nullptr);

    // The same entry points the menus use, so tests and the command line drive the real paths.
    void openDemo();
    void openModel(const QString& directory);
    void openDataset(const QString& file);

private:
    void buildMenus();
    void showAbout();

    QTabWidget* views_ = nullptr;
    QLabel* statusModel_ = nullptr;
    QLabel* statusData_ = nullptr;
};

}  // namespace detox::ui
