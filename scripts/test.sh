#!/usr/bin/env bash
# Sets everything up (packages, build) and runs the whole test suite with CTest.
# GUI tests run offscreen. DETOX_FIXTURES points at the reference fixtures (default ../shared/fixtures).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
build_dir=${BUILD_DIR:-build}
export QT_QPA_PLATFORM=offscreen
ctest --test-dir "$build_dir" --output-on-failure -j "${TEST_JOBS:-2}" "$@"
