#!/usr/bin/env bash
# Sets everything up (packages, build) and starts the workbench on the built-in demo model and data.
# Extra arguments go to detox-workbench (e.g. --model DIR --data FILE).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
build_dir=${BUILD_DIR:-build}
if [[ -z ${DISPLAY:-} && -z ${WAYLAND_DISPLAY:-} && -z ${QT_QPA_PLATFORM:-} ]]; then
  echo "No display found: starting under a virtual X server (xvfb-run)." >&2
  exec xvfb-run -a -s "-screen 0 1600x1000x24" "$build_dir/app/detox-workbench" --demo "$@"
fi
exec "$build_dir/app/detox-workbench" --demo "$@"
