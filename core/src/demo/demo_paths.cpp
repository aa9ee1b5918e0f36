// Finding the shipped demo files, the demo model (demo_model.h demoModelPath) and the demo SafeEdit splits
// (safeedit.h demoDatasetPath, demoDatasetDir), by one lookup: environment, installed layout, build tree,
// source tree.
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <optional>
#include <system_error>
#include <vector>

#include "detox/demo/demo_model.h"
#include "detox/error.h"
#include "detox/safeedit/safeedit.h"

namespace detox {
namespace {

namespace fs = std::filesystem;

std::string executableDir() {
    std::error_code error;
    fs::path exe = fs::read_symlink("/proc/self/exe", error);
    return error ? std::string() : exe.parent_path().string();
}

// Where a demo folder may be, most specific first: $environment, EXE_DIR/../share/detox-workbench/NAME,
// EXE_DIR/../../TREE (the build tree), then SOURCE/TREE.
std::vector<fs::path> demoRoots(const char* environment, const std::string& installedName, const fs::path& treePath) {
    std::vector<fs::path> roots;
    if (const char* fromEnvironment = std::getenv(environment); fromEnvironment && *fromEnvironment)
        roots.emplace_back(fromEnvironment);
    if (std::string exeDir = executableDir(); !exeDir.empty()) {
        roots.push_back(fs::path(exeDir) / ".." / "share" / "detox-workbench" / installedName);
        roots.push_back(fs::path(exeDir) / ".." / ".." / treePath);
    }
#ifdef DETOX_SOURCE_DIR
    roots.push_back(fs::path(DETOX_SOURCE_DIR) / treePath);
#endif
    return roots;
}

// The first place that is a regular file, canonical; or nothing, with every place tried (as `shown`
// writes it) added to `tried`.
std::optional<fs::path> firstFile(const std::vector<fs::path>& files, std::string& tried,
                                  const std::function<fs::path(const fs::path&)>& shown) {
    for (const auto& file : files) {
        std::error_code error;
        if (fs::is_regular_file(file, error)) return fs::weakly_canonical(file, error);
        tried += (tried.empty() ? "" : ", ") + shown(file).lexically_normal().string();
    }
    return std::nullopt;
}

// The demo dataset file in ROOT/demo or ROOT itself; throws naming every place tried.
fs::path findDemoFile(const std::string& fileName) {
    std::vector<fs::path> files;
    for (const auto& root : demoRoots("DETOX_DATA_DIR", "datasets", "datasets"))
        for (const auto& folder : {root / "demo", root}) files.push_back(folder / fileName);
    std::string tried;
    if (auto found = firstFile(files, tried, [](const fs::path& file) { return file; })) return *found;
    throw Error(fileName, "", "demo dataset not found; tried " + tried + " (set DETOX_DATA_DIR to the datasets folder)");
}

}  // namespace

std::string demoModelPath() {
    std::vector<fs::path> configs;
    for (const auto& folder : demoRoots("DETOX_DEMO_MODEL", "demo-model", fs::path("resources") / "demo-model"))
        configs.push_back(folder / "config.json");
    std::string tried;
    if (auto found = firstFile(configs, tried, [](const fs::path& config) { return config.parent_path(); }))
        return found->parent_path().string();
    throw Error("demo-model", "config.json", "demo model not found; tried " + tried +
                                                 " (set DETOX_DEMO_MODEL to the model directory)");
}

std::string demoDatasetPath(const std::string& split) {
    if (split != "train" && split != "test") throw Error("", "split", "expected 'train' or 'test', got '" + split + "'");
    return findDemoFile("safeedit_demo_" + split + ".json").string();
}

std::string demoDatasetDir() { return findDemoFile("safeedit_demo_test.json").parent_path().string(); }

}  // namespace detox
