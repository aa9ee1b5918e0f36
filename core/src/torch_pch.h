// Precompiled header for core's tensor code. Internal: never include from core/include.
#pragma once
#include <torch/torch.h>
