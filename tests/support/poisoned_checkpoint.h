// Checkpoints with a NaN/Inf weight, for the tests of what a load finds and refuses.
#pragma once
#include <fstream>
#include <limits>
#include <string>

#include "detox/checkpoint/checkpoint.h"

namespace detox::test {

// Writes +infinity over the first value of `tensor` (an F32 tensor) in DIRECTORY/model.safetensors.
inline void writeInfinity(const std::string& directory, const std::string& tensor) {
    const std::string path = directory + "/model.safetensors";
    const SafetensorsHeader header = readSafetensorsHeader(path);
    for (const auto& entry : header.tensors) {
        if (entry.name != tensor) continue;
        const float infinity = std::numeric_limits<float>::infinity();
        std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
        file.seekp(std::streamoff(8 + header.headerBytes + entry.dataBegin));
        file.write(reinterpret_cast<const char*>(&infinity), sizeof infinity);
    }
}

}  // namespace detox::test
