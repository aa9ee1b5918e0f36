// detox-workbench: the desktop GUI. Wiring only; everything lives in ui/ and core/.
#include <QApplication>
#include <QCommandLineParser>
#include <QIcon>

#include "detox/compute.h"
#include "detox/version.h"
#include "detox_ui/main_window.h"

int main(int argc, char** argv) {
    QApplication app(argc, argv);
    QApplication::setApplicationName("Detox Workbench");
    QApplication::setOrganizationName("DetoxWorkbench");
    QApplication::setApplicationVersion(QString::fromStdString(detox::appVersion()));
    QApplication::setWindowIcon(QIcon(":/icons/detox-workbench.svg"));
    detox::initCompute();

    QCommandLineParser parser;
    parser.setApplicationDescription("Study and repair toxic behaviour in large language models.");
    parser.addHelpOption();
    parser.addVersionOption();
    QCommandLineOption modelOption("model", "Open this HF checkpoint directory at start.", "DIR");
    QCommandLineOption dataOption("data", "Open this SafeEdit JSON file at start.", "FILE");
    QCommandLineOption demoOption("demo", "Open the built-in demo model and demo dataset.");
    parser.addOptions({modelOption, dataOption, demoOption});
    parser.process(app);

    detox::ui::MainWindow window;
    window.show();
    if (parser.isSet(demoOption)) window.openDemo();
    if (parser.isSet(modelOption)) window.openModel(parser.value(modelOption));
    if (parser.isSet(dataOption)) window.openDataset(parser.value(dataOption));
    return app.exec();
}
