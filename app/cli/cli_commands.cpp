#include "cli_commands.h"

#include <fstream>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

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
        std::ifstream in(config->second);
        if (!in) throw BadArguments("cannot read config file " + config->second);
        nlohmann::json json;
        try {
            in >> json;
        } catch (const std::exception& e) {
            throw BadArguments(config->second + ": not valid JSON: " + e.what());
        }
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
        int parsed = std::stoi(text, &used);
        if (used == text.size()) return parsed;
    } catch (const std::exception&) {
    }
    throw BadArguments("--" + name + " expects an integer, got '" + text + "'");
}

double Arguments::doubleValue(const std::string& name, double fallback) const {
    if (!has(name)) return fallback;
    const std::string text = value(name);
    try {
        size_t used = 0;
        double parsed = std::stod(text, &used);
        if (used == text.size()) return parsed;
    } catch (const std::exception&) {
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
            int parsed = std::stoi(item, &used);
            if (used != item.size()) throw std::invalid_argument(item);
            list.push_back(parsed);
        } catch (const std::exception&) {
            throw BadArguments("--" + name + " expects comma-separated integers, got '" + item + "'");
        }
    }
    return list;
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
