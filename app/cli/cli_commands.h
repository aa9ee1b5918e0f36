// The CLI's command table and argument parsing, shared by every command file.
#pragma once
#include <functional>
#include <map>
#include <optional>
#include <ostream>
#include <stdexcept>
#include <string>
#include <vector>

namespace detox::cli {

// Exit codes: scripts can tell a user's mistake from a failure of the run.
constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;   // the run itself failed
constexpr int kExitBadInput = 2;  // bad arguments, missing or malformed files
constexpr int kExitCancelled = 3;

// Upper bounds of the length options (core further bounds them by the model's context and memory).
constexpr int kMaxNewTokensOption = 1 << 16;
constexpr int kMaxInputTokensOption = 1 << 20;

struct BadArguments : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct OptionSpec {
    std::string name;        // without the leading "--"
    std::string valueName;   // empty for a flag
    std::string help;
};

// Parsed "--name value" / "--flag" options plus positional arguments. Options may also come from a
// JSON file given with --config FILE (keys are option names; the command line wins).
class Arguments {
public:
    Arguments(std::string command, const std::vector<std::string>& args, const std::vector<OptionSpec>& specs);

    bool has(const std::string& name) const { return values_.count(name) > 0; }
    std::string value(const std::string& name) const;                 // throws BadArguments if missing
    std::string valueOr(const std::string& name, const std::string& fallback) const;
    // Numbers are checked against the option's range (cli_commands.cpp: optionRanges) where they are read:
    // doubles must be finite; --lr > 0, --steps >= 1, --top-p in (0, 1], ... A violation is BadArguments.
    int intValue(const std::string& name, int fallback) const;
    double doubleValue(const std::string& name, double fallback) const;
    std::vector<int> intList(const std::string& name) const;         // "0,5,7"
    const std::vector<std::string>& positional() const { return positional_; }

private:
    std::string command_;
    std::map<std::string, std::string> values_;
    std::vector<std::string> positional_;
};

struct Command {
    std::string name;
    std::string summary;
    std::vector<OptionSpec> options;
    std::function<int(const Arguments&)> run;
};

// Checks, before the command does any work, every output it was given: --out FILE.json can be written,
// --out DIR / --save DIR can be created there (cli_commands.cpp).
void checkOutputTargets(const Arguments& args, const Command& command);

bool registerCommand(Command command);
const Command* findCommand(const std::string& name);
void printUsage(std::ostream& out);
void printVersion(std::ostream& out);
void printCommandHelp(std::ostream& out, const Command& command);

}  // namespace detox::cli
