// The fuzz targets: each reads one kind of file the way the product does. A target passes an input when
// it is accepted or refused with detox::Error (the error a user sees, exit 2); any other exception, a
// crash, a hang or an allocation past the driver's memory cap is a finding.
#pragma once
#include <memory>
#include <string>
#include <vector>

namespace detox::fuzz {

class FuzzTarget {
public:
    virtual ~FuzzTarget() = default;
    // Called once with a private scratch folder; returns seeds made at run time from the project's own
    // code (a fresh tiny checkpoint, a saved session), added to the committed corpus.
    virtual std::vector<std::string> prepare(const std::string& scratch) = 0;
    // Reads `input` as the product would: returns, or throws detox::Error.
    virtual void run(const std::string& input) = 0;
    // Inputs larger than this are cut (keeps every execution cheap).
    virtual size_t maxInputBytes() const { return 256 * 1024; }
};

// "safetensors", "config", "tokenizer", "safeedit", "result", "session".
std::vector<std::string> fuzzTargetNames();
std::unique_ptr<FuzzTarget> makeFuzzTarget(const std::string& name);  // nullptr for an unknown name

// The targets of fuzz_ui_targets.cpp (Qt keywords, no LibTorch headers there).
std::unique_ptr<FuzzTarget> makeResultTarget();
std::unique_ptr<FuzzTarget> makeSessionTarget();

// Writes an input where a target's reader expects its file (plain write: no sync, it is read at once).
void writeInputFile(const std::string& path, const std::string& bytes);

// One LibTorch thread: the suite runs targets side by side on a small machine.
void useOneThread();

}  // namespace detox::fuzz
