#include "cli_model_options.h"

#include <iostream>

#include "detox/error.h"

namespace detox::cli {

std::vector<OptionSpec> modelLoadOptionSpecs() {
    return {{"weights", "MODE",
             "auto (default: f32 when it fits in memory with headroom, else stored), f32 (every weight converted "
             "to float32 at load; fastest) or stored (weights stay BF16/F16 as mapped from the file, converted per "
             "layer as used: about half the memory for BF16 checkpoints)"},
            {"device", "DEV", "cpu (default), cuda or cuda:N (needs a CUDA build of LibTorch)"},
            {"allow-non-finite-weights", "",
             "edit and save a model whose weights hold NaN or infinite values (refused by default; the load "
             "warns either way, and results record it in provenance.model_weights)"}};
}

std::vector<OptionSpec> withModelLoadOptions(std::vector<OptionSpec> specs) {
    for (auto& spec : modelLoadOptionSpecs()) specs.push_back(std::move(spec));
    return specs;
}

LoadOptions loadOptionsFrom(const Arguments& args) {
    LoadOptions options;
    if (args.has("weights")) {
        auto mode = weightModeFromName(args.value("weights"));
        if (!mode) throw BadArguments("--weights must be auto, f32 or stored, got '" + args.value("weights") + "'");
        options.weights = *mode;
    }
    if (args.has("device")) {
        try {
            options.device = checkDevice(args.value("device"));
        } catch (const Error& error) {
            throw BadArguments("--device " + args.value("device") + ": " + error.what());
        }
    }
    options.allowNonFiniteWeights = args.has("allow-non-finite-weights");
    options.onWarning = [](const std::string& warning) { std::cerr << "detox: " << warning << std::endl; };
    return options;
}

}  // namespace detox::cli
