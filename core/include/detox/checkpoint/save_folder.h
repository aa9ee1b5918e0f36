// A saved model folder is written atomically as a whole (Model::save uses this; torch-free).
//
// The protocol: everything is written into a sibling temporary folder ".NAME.detox-save-PID-XXXXXX",
// each file synced, then the folder synced and renamed to NAME. An earlier save of ours at NAME is first
// renamed aside to ".NAME.detox-old-PID-XXXXXX" and removed only after the new folder is in place. A
// reader therefore sees the old save or the complete new one, never a mix.
//
// Files we did not write are never deleted: a folder is replaced only when every file in it is ours (the
// marker detox_save.json lists them; saves made before the list existed are recognised by the names the
// workbench writes). A folder holding anything else is refused, naming the file: move it out first.
//
// Stale temporary folders of ours (their process is gone: a killed save) are cleaned before a save;
// an earlier save left aside by a save killed between its two renames is put back first.
#pragma once
#include <string>
#include <vector>

namespace detox {

// The marker every save writes (it lists the files of the save under "files").
inline constexpr const char* kSaveMarkerName = "detox_save.json";

// Checks a save target before any work: refuses (detox::Error naming the target) the model's own source
// folder in any spelling, a file, a folder whose nearest existing ancestor is not writable, a non-empty
// folder that is not a save of ours, and a save of ours holding files we did not write. Cleans stale
// temporary folders of ours next to the target.
void checkSaveDirectory(const std::string& sourceDirectory, const std::string& target);

// Adds files written into a finished save afterwards (the demo's model card) to its marker's list.
void recordSavedFiles(const std::string& directory, const std::vector<std::string>& names);

// One save in progress: a fresh sibling temporary folder; commit() puts it in place of the target.
// Destroyed without commit() (an error, a cancel), it removes its temporary folder and nothing else.
class SaveFolder {
public:
    explicit SaveFolder(const std::string& target);
    ~SaveFolder();
    SaveFolder(const SaveFolder&) = delete;
    SaveFolder& operator=(const SaveFolder&) = delete;

    const std::string& path() const { return temporary_; }  // write everything here
    // Syncs the temporary folder, moves an earlier save aside, renames the new one into place, syncs the
    // parent, removes the earlier save. Throws detox::Error (the target is then unchanged).
    void commit();

private:
    std::string target_, temporary_;
    bool committed_ = false;
};

}  // namespace detox
