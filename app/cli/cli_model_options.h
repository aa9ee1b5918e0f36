// The model-loading options every command that loads a model takes: --weights auto|f32|stored and
// --device cpu|cuda[:N] (one parser for all of them).
#pragma once
#include <vector>

#include "cli_commands.h"
#include "detox/runtime/model.h"

namespace detox::cli {

// The option specs, to append to a command's list.
std::vector<OptionSpec> modelLoadOptionSpecs();
// `specs` followed by the model-loading options.
std::vector<OptionSpec> withModelLoadOptions(std::vector<OptionSpec> specs);
// The LoadOptions of the command line. A bad --weights, or a --device this LibTorch cannot use, is
// BadArguments (exit 2) before any work is done.
LoadOptions loadOptionsFrom(const Arguments& args);

}  // namespace detox::cli
