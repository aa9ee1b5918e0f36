// detox-workbench: the desktop GUI. Wiring only; everything lives in ui/ and core/.
#include <QApplication>
#include <QCommandLineParser>
#include <QDir>
#include <QIcon>
#include <QMessageBox>
#include <QStyleFactory>
#include <QTimer>

#include <iostream>

#include "detox/runtime/compute.h"
#include "detox/version.h"
#include "detox_ui/jobs/job_runner.h"
#include "detox_ui/views/dataset_browser.h"
#include "detox_ui/workbench/main_window.h"
#include "detox_ui/workbench/session.h"
#include "detox_ui/workbench/workbench_state.h"

namespace {

// A scripted run's record of what its screenshots show: the model, the dataset and the record, and any
// error dialog (dialogs are separate windows, absent from the views' shots).
void printShownState(detox::ui::MainWindow& window) {
    const QString model = window.model() ? window.state()->modelDirectory() : QString("none");
    const QString dataset = window.datasetBrowser()->datasetPath();
    std::cout << "showing: model " << model.toStdString() << "; dataset "
              << (dataset.isEmpty() ? std::string("none") : dataset.toStdString()) << "; record "
              << window.datasetBrowser()->selectedRecordId() << "\n";
    for (const QMessageBox* box : window.findChildren<QMessageBox*>())
        if (box->isVisible())
            std::cerr << "detox-workbench: " << box->windowTitle().toStdString() << ": " << box->text().toStdString() << "\n";
}

}  // namespace

int main(int argc, char** argv) {
    // QApplication keeps argc/argv: both live until main returns.
    std::vector<std::string> arguments = detox::ui::protectSessionArgument({argv, argv + argc});
    std::vector<char*> argumentPointers;
    for (std::string& argument : arguments) argumentPointers.push_back(argument.data());
    argumentPointers.push_back(nullptr);
    int argumentCount = argc;
    QApplication app(argumentCount, argumentPointers.data());
    Q_INIT_RESOURCE(resources);  // the icons live in the ui static library
    QApplication::setApplicationName("Detox Workbench");
    QApplication::setOrganizationName("DetoxWorkbench");
    QApplication::setApplicationVersion(QString::fromStdString(detox::appVersion()));
    QApplication::setWindowIcon(QIcon(":/icons/detox-workbench.svg"));
    // Fusion looks the same everywhere and follows the light/dark palettes exactly.
    QApplication::setStyle(QStyleFactory::create("Fusion"));
    detox::initCompute();

    QCommandLineParser parser;
    parser.setApplicationDescription("Study and repair toxic behaviour in large language models.");
    parser.addHelpOption();
    parser.addVersionOption();
    QCommandLineOption modelOption("model", "Open this HF checkpoint directory at start.", "DIR");
    QCommandLineOption dataOption("data", "Open this SafeEdit JSON file at start.", "FILE");
    QCommandLineOption demoOption("demo", "Open the built-in demo model and demo dataset.");
    QCommandLineOption sessionOption(QStringList{"session", "open-session"}, "Open this session file at start.", "FILE");
    QCommandLineOption themeOption("theme", "Start with the light or dark theme.", "light|dark");
    QCommandLineOption screenshotOption(
        "screenshot", "After start-up, save each view and the whole window as PNGs into DIR, then quit.", "DIR");
    QCommandLineOption showcaseOption(
        "showcase-steps",
        "With --screenshot and a model: first locate, read the toxic region and run DINM (N steps), SFT and "
        "DPO on the selected record so every view has content; without this option the Edit view's "
        "pre-filled settings (0 = skip the showcase).",
        "N");
    parser.addOptions({modelOption, dataOption, demoOption, sessionOption, themeOption, screenshotOption, showcaseOption});
    parser.process(app);

    detox::ui::MainWindow window;
    if (parser.isSet(themeOption)) window.setTheme(detox::ui::themeFromName(parser.value(themeOption)));
    window.show();
    if (parser.isSet(sessionOption)) window.openSession(parser.value(sessionOption));
    if (parser.isSet(demoOption)) window.openDemo();
    if (parser.isSet(modelOption)) window.openModel(parser.value(modelOption));
    if (parser.isSet(dataOption)) window.openDataset(parser.value(dataOption));

    if (parser.isSet(screenshotOption)) {
        const QString directory = parser.value(screenshotOption);
        // -1: the Edit view's pre-filled settings (the model's recommendation or the paper's).
        const int showcaseSteps = parser.isSet(showcaseOption) ? parser.value(showcaseOption).toInt() : -1;
        QTimer::singleShot(200, &window, [&window, directory, showcaseSteps] {
            // Wait for start-up loads (demo data, session) so the shots show real content.
            if (!window.jobs()->waitForIdle(60000)) std::cerr << "detox-workbench: start-up jobs still running\n";
            if (showcaseSteps != 0 && window.model() && !window.runShowcase(showcaseSteps, 600000))
                std::cerr << "detox-workbench: the showcase analysis did not finish\n";
            QApplication::processEvents();
            printShownState(window);
            const QStringList files = window.saveScreenshots(directory);
            for (const QString& file : files) std::cout << file.toStdString() << "\n";
            QApplication::exit(files.isEmpty() ? 1 : 0);
        });
    }
    return app.exec();
}
