// The save-folder protocol (detox/checkpoint/save_folder.h).
#include "detox/checkpoint/save_folder.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>

#include "detox/error.h"
#include "detox/fileio.h"

namespace detox {
namespace fs = std::filesystem;

namespace {

// The parent folder and the name of a target path ("out/" and "out/." name "out").
std::pair<fs::path, std::string> splitTarget(const std::string& target) {
    fs::path path = fs::absolute(fs::path(target)).lexically_normal();
    if (!path.has_filename() && path.has_parent_path()) path = path.parent_path();
    return {path.parent_path(), path.filename().string()};
}

std::string temporaryPrefix(const std::string& name, const char* kind) { return "." + name + ".detox-" + kind + "-"; }

// Names a save writes, for markers written before they listed their files (and the demo's extras).
bool legacyWorkbenchName(const std::string& name) {
    static const std::set<std::string> names = {
        kSaveMarkerName, "config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
        "special_tokens_map.json", "tokenizer.model", "vocab.json", "merges.txt", "added_tokens.json",
        "model.safetensors", "model.safetensors.index.json", "detox_method_defaults.json", "MODEL_CARD.md",
        "recorded_outputs.json"};
    static const std::regex shard("model-[0-9]{5}-of-[0-9]{5}\\.safetensors");
    return names.count(name) || std::regex_match(name, shard);
}

// The files a save of ours holds; nullopt-like empty + false when `folder` has no readable marker.
bool savedFiles(const fs::path& folder, std::set<std::string>& files) {
    nlohmann::json marker;
    try {
        marker = nlohmann::json::parse(readFile((folder / kSaveMarkerName).string()));
    } catch (const std::exception&) {
        return false;
    }
    if (!marker.is_object()) return false;
    files.insert(kSaveMarkerName);
    if (auto it = marker.find("files"); it != marker.end() && it->is_array()) {
        for (const auto& name : *it)
            if (name.is_string()) files.insert(name.get<std::string>());
        return true;
    }
    for (const auto& entry : fs::directory_iterator(folder))  // a save from before the list: by name
        if (legacyWorkbenchName(entry.path().filename().string())) files.insert(entry.path().filename().string());
    return true;
}

void syncPath(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_DIRECTORY);
    if (fd < 0) return;
    ::fsync(fd);
    ::close(fd);
}

bool processGone(const std::string& pidText) {
    try {
        const long pid = std::stol(pidText);
        return pid > 0 && pid != long(::getpid()) && ::kill(pid_t(pid), 0) != 0 && errno == ESRCH;
    } catch (const std::exception&) {
        return false;
    }
}

// Temporary folders of ours next to `name` whose process is gone: a new folder is removed; an earlier
// save moved aside goes back into place when nothing took it, else it is removed.
void cleanStaleTemporaries(const fs::path& parent, const std::string& name) {
    std::error_code error;
    if (!fs::is_directory(parent, error)) return;
    const std::string savePrefix = temporaryPrefix(name, "save"), oldPrefix = temporaryPrefix(name, "old");
    std::vector<fs::path> stale;
    for (const auto& entry : fs::directory_iterator(parent, error)) {
        const std::string entryName = entry.path().filename().string();
        for (const auto& prefix : {savePrefix, oldPrefix})
            if (entryName.rfind(prefix, 0) == 0 && processGone(entryName.substr(prefix.size(), entryName.find('-', prefix.size()) - prefix.size())))
                stale.push_back(entry.path());
    }
    for (const auto& path : stale) {
        const bool old = path.filename().string().rfind(oldPrefix, 0) == 0;
        if (old && !fs::exists(parent / name, error) && ::rename(path.c_str(), (parent / name).c_str()) == 0) continue;
        fs::remove_all(path, error);
    }
}

}  // namespace

void checkSaveDirectory(const std::string& sourceDirectory, const std::string& target) {
    if (target.empty()) throw Error("", "save", "an empty path; expected a folder to save into");
    std::error_code error;
    const fs::path targetPath = fs::weakly_canonical(fs::absolute(target), error);
    if (error) throw Error(target, "", "cannot resolve this path: " + error.message());
    if (!sourceDirectory.empty() && fs::exists(sourceDirectory, error) &&
        fs::weakly_canonical(fs::absolute(sourceDirectory), error) == targetPath)
        throw Error(target, "", "refusing to save into the model's own source directory; choose a new directory");
    checkOutputFolder(target);
    const auto [parent, name] = splitTarget(targetPath.string());
    cleanStaleTemporaries(parent, name);
    if (!fs::exists(targetPath, error)) return;
    if (fs::directory_iterator(targetPath, error) == fs::directory_iterator()) return;  // empty
    std::set<std::string> ours;
    if (!savedFiles(targetPath, ours))
        throw Error(target, "", "directory is not empty and is not a previous save of the workbench");
    for (const auto& entry : fs::directory_iterator(targetPath, error)) {
        const std::string file = entry.path().filename().string();
        if (!ours.count(file))
            throw Error(target, file,
                        "the workbench did not write this file and a save replaces the whole folder; move it out "
                        "first or choose another folder");
    }
}

void recordSavedFiles(const std::string& directory, const std::vector<std::string>& names) {
    const std::string path = (fs::path(directory) / kSaveMarkerName).string();
    nlohmann::json marker = nlohmann::json::parse(readFile(path), nullptr, false);
    if (!marker.is_object()) throw Error(path, "", "not a save marker of the workbench");
    std::set<std::string> files;
    if (marker.contains("files") && marker["files"].is_array())
        for (const auto& name : marker["files"])
            if (name.is_string()) files.insert(name.get<std::string>());
    files.insert(names.begin(), names.end());
    marker["files"] = files;
    writeFileAtomically(path, marker.dump(2) + "\n");
}

SaveFolder::SaveFolder(const std::string& target) : target_(target) {
    const auto [parent, name] = splitTarget(target);
    std::error_code error;
    fs::create_directories(parent, error);
    if (error) throw Error(target, "", "cannot create the parent folder: " + error.message());
    std::string pattern = (parent / (temporaryPrefix(name, "save") + std::to_string(::getpid()) + "-XXXXXX")).string();
    if (!::mkdtemp(pattern.data()))
        throw Error(target, "", std::string("cannot create a temporary folder next to it: ") + std::strerror(errno));
    ::chmod(pattern.c_str(), 0755);
    temporary_ = pattern;
}

SaveFolder::~SaveFolder() {
    if (committed_) return;
    std::error_code ignored;
    fs::remove_all(temporary_, ignored);  // our own temporary folder, nothing else
}

void SaveFolder::commit() {
    const auto [parent, name] = splitTarget(target_);
    const fs::path target = parent / name;
    syncPath(temporary_);
    std::string aside;
    std::error_code error;
    if (fs::exists(target, error)) {
        aside = (parent / (temporaryPrefix(name, "old") + std::to_string(::getpid()) + "-XXXXXX")).string();
        if (!::mkdtemp(aside.data()) || ::rename(target.c_str(), aside.c_str()) != 0) {
            const int saved = errno;
            ::rmdir(aside.c_str());
            throw Error(target_, "", std::string("cannot move the earlier save aside: ") + std::strerror(saved));
        }
    }
    if (::rename(temporary_.c_str(), target.c_str()) != 0) {
        const int saved = errno;
        if (!aside.empty()) ::rename(aside.c_str(), target.c_str());  // the earlier save back in place
        throw Error(target_, "", std::string("cannot rename the new save into place: ") + std::strerror(saved));
    }
    committed_ = true;
    syncPath(parent.string());
    if (!aside.empty()) fs::remove_all(aside, error);  // only files of ours: checkSaveDirectory made sure
}

}  // namespace detox
