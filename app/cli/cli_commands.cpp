#include "cli_commands.h"

#include <cmath>
#include <limits>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "detox/checkpoint/save_folder.h"
#include "detox/fileio.h"
#include "detox/runtime/compute.h"
#include "detox/version.h"

namespace detox::cli {
namespace {

std::map<std::string, Command>& commandTable() {
    static std::map<std::string, Command> table;
    return table;
}

const OptionSpec* findSpec(const std::vector<OptionSpec>& specs, const std::string& name) {
    for (const auto& spec : specs)
        if (spec.name == name) return &spec;
    return nullptr;
}

// Config-file values are JSON; options are strings, so render numbers, lists and booleans as text.
std::string configValueAsText(const nlohmann::json& value) {
    if (value.is_string()) return value.get<std::string>();
    if (value.is_array()) {
        std::string joined;
        for (const auto& item : value) joined += (joined.empty() ? "" : ",") + configValueAsText(item);
        return joined;
    }
    return value.dump();
}

// Every numeric option's valid range, checked where the value is read (intValue / doubleValue), so no
// command sees an infinite learning rate, a negative step count or a length that no memory could hold.
// Lengths are bounded here; whether they fit the model's context and memory is checked by core.
struct Range {
    double min, max;
    bool minOpen = false, maxOpen = false;
};
constexpr double kUnbounded = std::numeric_limits<double>::max();
constexpr double kMaxCount = 1'000'000;  // steps, epochs, records, ...
constexpr double kMaxRate = 1000;        // learning rates: LibTorch's optimizers take them as float
const std::map<std::string, Range>& optionRanges() {
    static const std::map<std::string, Range> ranges = {
        {"lr", {0, kMaxRate, true}},           {"dinm-lr", {0, kMaxRate, true}},
        {"sft-lr", {0, kMaxRate, true}},       {"dpo-lr", {0, kMaxRate, true}},
        {"beta", {0, kUnbounded, true}},       {"c-edit", {0, kUnbounded}},
        {"norm-constraint", {0, kUnbounded, true}},
        {"temperature", {0, 1000}},            {"top-p", {0, 1, true}},
        {"steps", {1, kMaxCount}},             {"dinm-steps", {1, kMaxCount}},
        {"epochs", {1, kMaxCount}},            {"warmup", {0, kMaxCount}},
        {"max-new-tokens", {1, kMaxNewTokensOption}},
        {"max-input-tokens", {0, kMaxInputTokensOption}},
        {"batch-size", {1, 4096}},             {"limit", {1, std::numeric_limits<int>::max()}},
        {"probe-records", {1, kMaxCount}},     {"progress-every", {1, kMaxCount}},
        {"layer", {0, 65535}},                 {"seed", {0, std::numeric_limits<int>::max()}},
        {"held-out", {0, 1, false, true}},     {"vocab", {1, 1 << 20}},
        {"hidden", {1, 1 << 16}},              {"layers", {1, 1024}},
        {"heads", {1, 1024}},                  {"kv-heads", {1, 1024}},
        {"intermediate", {1, 1 << 20}},        {"max-positions", {1, 1 << 20}},
        {"last-positions", {1, 1 << 20}},      {"patches-per-forward", {1, 4096}},
        {"generation-tokens", {1, kMaxInputTokensOption}},
    };
    return ranges;
}

std::string numberText(double value) {
    if (value == kUnbounded) return "inf";
    std::ostringstream text;
    text << value;
    return text.str();
}

void checkRange(const std::string& name, double value, const std::string& text) {
    if (!std::isfinite(value)) throw BadArguments("--" + name + " expects a finite number, got '" + text + "'");
    auto it = optionRanges().find(name);
    if (it == optionRanges().end()) return;
    const Range& r = it->second;
    const bool below = r.minOpen ? value <= r.min : value < r.min;
    const bool above = r.maxOpen ? value >= r.max : value > r.max;
    if (!below && !above) return;
    std::string expected = r.max == kUnbounded ? (r.minOpen ? "> " : ">= ") + numberText(r.min)
                                               : "in " + std::string(r.minOpen ? "(" : "[") + numberText(r.min) + ", " +
                                                     numberText(r.max) + (r.maxOpen ? ")" : "]");
    throw BadArguments("--" + name + " must be " + expected + ", got '" + text + "'");
}

}  // namespace

Arguments::Arguments(std::string command, const std::vector<std::string>& args, const std::vector<OptionSpec>& specs)
    : command_(std::move(command)) {
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string& arg = args[i];
        if (arg.rfind("--", 0) != 0) {
            positional_.push_back(arg);
            continue;
        }
        std::string name = arg.substr(2);
        std::optional<std::string> inlineValue;
        if (auto eq = name.find('='); eq != std::string::npos) {
            inlineValue = name.substr(eq + 1);
            name = name.substr(0, eq);
        }
        if (name == "help") {
            values_["help"] = "";
            continue;
        }
        bool isConfig = name == "config";
        const OptionSpec* spec = findSpec(specs, name);
        if (!spec && !isConfig) throw BadArguments("unknown option --" + name + " (see detox " + command_ + " --help)");
        bool takesValue = isConfig || !spec->valueName.empty();
        if (!takesValue) {
            values_[name] = "true";
            continue;
        }
        if (inlineValue) {
            values_[name] = *inlineValue;
        } else {
            if (i + 1 >= args.size()) throw BadArguments("option --" + name + " needs a value");
            values_[name] = args[++i];
        }
    }
    if (auto config = values_.find("config"); config != values_.end()) {
        nlohmann::json json = nlohmann::json::parse(readFile(config->second), nullptr, false);
        if (json.is_discarded()) throw BadArguments(config->second + ": not valid JSON");
        if (!json.is_object()) throw BadArguments(config->second + ": expected a JSON object of option names");
        for (const auto& [key, value] : json.items()) {
            if (!findSpec(specs, key)) throw BadArguments(config->second + ": unknown option '" + key + "'");
            values_.emplace(key, configValueAsText(value));  // the command line wins
        }
    }
}

std::string Arguments::value(const std::string& name) const {
    auto it = values_.find(name);
    if (it == values_.end()) throw BadArguments("missing required option --" + name);
    return it->second;
}

std::string Arguments::valueOr(const std::string& name, const std::string& fallback) const {
    auto it = values_.find(name);
    return it == values_.end() ? fallback : it->second;
}

int Arguments::intValue(const std::string& name, int fallback) const {
    if (!has(name)) return fallback;
    const std::string text = value(name);
    try {
        size_t used = 0;
        long long parsed = std::stoll(text, &used);
        if (used == text.size() && parsed >= std::numeric_limits<int>::min() && parsed <= std::numeric_limits<int>::max()) {
            checkRange(name, double(parsed), text);
            return int(parsed);
        }
    } catch (const std::logic_error&) {
    }
    throw BadArguments("--" + name + " expects an integer that fits in 32 bits, got '" + text + "'");
}

double Arguments::doubleValue(const std::string& name, double fallback) const {
    if (!has(name)) return fallback;
    const std::string text = value(name);
    try {
        size_t used = 0;
        double parsed = std::stod(text, &used);
        if (used == text.size()) {
            checkRange(name, parsed, text);
            return parsed;
        }
    } catch (const std::logic_error&) {
    }
    throw BadArguments("--" + name + " expects a number, got '" + text + "'");
}

std::vector<int> Arguments::intList(const std::string& name) const {
    std::vector<int> list;
    std::stringstream stream(value(name));
    std::string item;
    while (std::getline(stream, item, ',')) {
        if (item.empty()) continue;
        try {
            size_t used = 0;
            long long parsed = std::stoll(item, &used);
            if (used != item.size() || parsed < std::numeric_limits<int>::min() || parsed > std::numeric_limits<int>::max())
                throw std::invalid_argument(item);
            list.push_back(int(parsed));
        } catch (const std::logic_error&) {
            throw BadArguments("--" + name + " expects comma-separated integers that fit in 32 bits, got '" + item + "'");
        }
    }
    return list;
}

void checkOutputTargets(const Arguments& args, const Command& command) {
    for (const auto& spec : command.options) {
        if ((spec.name != "out" && spec.name != "save") || !args.has(spec.name)) continue;
        const std::string target = args.value(spec.name);
        if (spec.name == "save" || command.name == "train-demo")  // a model folder: Model::save's protocol
            checkSaveDirectory(args.valueOr("model", ""), target);
        else if (spec.valueName.find("DIR") != std::string::npos)
            checkOutputFolder(target);
        else
            checkOutputFile(target);
    }
}

bool registerCommand(Command command) {
    std::string name = command.name;
    commandTable()[name] = std::move(command);
    return true;
}

const Command* findCommand(const std::string& name) {
    auto it = commandTable().find(name);
    return it == commandTable().end() ? nullptr : &it->second;
}

void printVersion(std::ostream& out) { out << "detox " << appVersion() << "\n"; }

void printUsage(std::ostream& out) {
    out << "detox " << appVersion() << " - the headless front end of Detox Workbench\n\n"
        << "Usage: detox COMMAND [OPTIONS]   (detox COMMAND --help for a command's options)\n\nCommands:\n";
    for (const auto& [name, command] : commandTable())
        out << "  " << std::left << std::setw(12) << name << command.summary << "\n";
    out << "\nExit codes: 0 ok, 1 failure, 2 bad input (arguments or files), 3 cancelled.\n";
}

void printCommandHelp(std::ostream& out, const Command& command) {
    out << "detox " << command.name << " - " << command.summary << "\n\nOptions:\n";
    for (const auto& option : command.options) {
        std::string left = "--" + option.name + (option.valueName.empty() ? "" : " " + option.valueName);
        out << "  " << std::left << std::setw(28) << left << option.help << "\n";
    }
    out << "  " << std::left << std::setw(28) << "--config FILE.json" << "read options from a JSON object\n";
}

namespace {
const bool kInfoRegistered = registerCommand({
    "version",
    "print the version and compute back end",
    {},
    [](const Arguments&) {
        nlohmann::json info = {{"app_version", appVersion()}, {"compute", computeDescription()}};
        std::cout << info.dump(2) << "\n";
        return kExitOk;
    },
});
}  // namespace

}  // namespace detox::cli
