// Finding the project's demo dataset: environment, installed layout, build tree, source tree.
#include <cstdlib>
#include <filesystem>
#include <system_error>
#include <vector>

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

// Folders that may hold demo/, most specific first.
std::vector<fs::path> datasetRoots() {
    std::vector<fs::path> roots;
    if (const char* fromEnvironment = std::getenv("DETOX_DATA_DIR"); fromEnvironment && *fromEnvironment)
        roots.emplace_back(fromEnvironment);
    if (std::string exeDir = executableDir(); !exeDir.empty()) {
        roots.push_back(fs::path(exeDir) / ".." / "share" / "detox-workbench" / "datasets");
        roots.push_back(fs::path(exeDir) / ".." / ".." / "datasets");
    }
#ifdef DETOX_SOURCE_DIR
    roots.push_back(fs::path(DETOX_SOURCE_DIR) / "datasets");
#endif
    return roots;
}

// The first folder (ROOT/demo, or ROOT itself) that holds the file; throws naming every place tried.
fs::path findDemoFile(const std::string& fileName) {
    std::string tried;
    for (const auto& root : datasetRoots()) {
        for (const auto& folder : {root / "demo", root}) {
            std::error_code error;
            if (fs::is_regular_file(folder / fileName, error)) return fs::weakly_canonical(folder / fileName, error);
            tried += (tried.empty() ? "" : ", ") + (folder / fileName).lexically_normal().string();
        }
    }
    throw Error(fileName, "", "demo dataset not found; tried " + tried + " (set DETOX_DATA_DIR to the datasets folder)");
}

}  // namespace

std::string demoDatasetPath(const std::string& split) {
    if (split != "train" && split != "test") throw Error("", "split", "expected 'train' or 'test', got '" + split + "'");
    return findDemoFile("safeedit_demo_" + split + ".json").string();
}

std::string demoDatasetDir() { return findDemoFile("safeedit_demo_test.json").parent_path().string(); }

}  // namespace detox
