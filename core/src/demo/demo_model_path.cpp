// Finding the shipped demo model: environment, installed layout, build tree, source tree
// (the same order as the demo dataset lookup in safeedit_demo.cpp).
#include <cstdlib>
#include <filesystem>
#include <system_error>
#include <vector>

#include "detox/demo/demo_model.h"
#include "detox/error.h"

namespace detox {
namespace {

namespace fs = std::filesystem;

std::string executableDir() {
    std::error_code error;
    fs::path exe = fs::read_symlink("/proc/self/exe", error);
    return error ? std::string() : exe.parent_path().string();
}

std::vector<fs::path> demoModelCandidates() {
    std::vector<fs::path> candidates;
    if (const char* fromEnvironment = std::getenv("DETOX_DEMO_MODEL"); fromEnvironment && *fromEnvironment)
        candidates.emplace_back(fromEnvironment);
    if (std::string exeDir = executableDir(); !exeDir.empty()) {
        candidates.push_back(fs::path(exeDir) / ".." / "share" / "detox-workbench" / "demo-model");
        candidates.push_back(fs::path(exeDir) / ".." / ".." / "resources" / "demo-model");
    }
#ifdef DETOX_SOURCE_DIR
    candidates.push_back(fs::path(DETOX_SOURCE_DIR) / "resources" / "demo-model");
#endif
    return candidates;
}

}  // namespace

std::string demoModelPath() {
    std::string tried;
    for (const auto& folder : demoModelCandidates()) {
        std::error_code error;
        if (fs::is_regular_file(folder / "config.json", error)) return fs::weakly_canonical(folder, error).string();
        tried += (tried.empty() ? "" : ", ") + folder.lexically_normal().string();
    }
    throw Error("demo-model", "config.json", "demo model not found; tried " + tried +
                                                 " (set DETOX_DEMO_MODEL to the model directory)");
}

}  // namespace detox
