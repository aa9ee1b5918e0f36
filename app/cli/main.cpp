// detox: the headless command-line front end. Each command lives in its own file and registers
// itself in the command table (cli_commands.h); this file only dispatches.
#include <filesystem>
#include <iostream>
#include <new>
#include <string>

#include "cli_commands.h"
#include "detox/runtime/compute.h"
#include "detox/error.h"

int main(int argc, char** argv) {
    using namespace detox::cli;
    std::vector<std::string> args(argv + 1, argv + argc);
    if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
        printUsage(std::cout);
        return args.empty() ? kExitBadInput : kExitOk;
    }
    if (args[0] == "--version") {
        printVersion(std::cout);
        return kExitOk;
    }
    const Command* command = findCommand(args[0]);
    if (!command) {
        std::cerr << "detox: unknown command '" << args[0] << "' (see detox --help)\n";
        return kExitBadInput;
    }
    try {
        detox::initCompute();
        Arguments parsed(args[0], std::vector<std::string>(args.begin() + 1, args.end()), command->options);
        if (parsed.has("help")) {
            printCommandHelp(std::cout, *command);
            return kExitOk;
        }
        checkOutputTargets(parsed, *command);  // before any work: a bad --out must not cost the run
        return command->run(parsed);
    } catch (const BadArguments& e) {
        std::cerr << "detox " << args[0] << ": " << e.what() << "\n";
        return kExitBadInput;
    } catch (const detox::Error& e) {
        std::cerr << "detox " << args[0] << ": " << e.what() << "\n";
        return kExitBadInput;
    } catch (const detox::Cancelled& e) {
        std::cerr << "detox " << args[0] << ": " << e.what() << "\n";
        return kExitCancelled;
    } catch (const std::filesystem::filesystem_error& e) {
        // A path the user gave that cannot be read or created (a file where a folder is needed, /proc, a loop).
        std::cerr << "detox " << args[0] << ": " << e.path1().string() << ": " << e.code().message() << "\n";
        return kExitBadInput;
    } catch (const std::bad_alloc&) {
        std::cerr << "detox " << args[0] << ": failed: out of memory\n";
        return kExitFailure;
    } catch (const std::exception& e) {
        // Our own bug: one line (LibTorch appends a C++ backtrace after the first line; it is not for users).
        std::string what = e.what();
        std::cerr << "detox " << args[0] << ": failed: " << what.substr(0, what.find('\n')) << "\n";
        return kExitFailure;
    }
}
