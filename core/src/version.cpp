#include "detox/version.h"

#include "detox/version_info.h"

namespace detox {

std::string appVersion() { return DETOX_VERSION_STRING; }

}  // namespace detox
