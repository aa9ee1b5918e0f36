#pragma once
#include <string>

namespace detox {

// The application version recorded in every result's provenance.
std::string appVersion();

}  // namespace detox
