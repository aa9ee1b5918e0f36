#!/usr/bin/env bash
# Installs the Debian 12 packages the project needs (only those missing), then configures and builds.
# Idempotent and incremental: a second run reuses the build folder. BUILD_DIR overrides ./build.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential cmake ninja-build pkg-config
  qt6-base-dev qt6-svg-dev libgl-dev        # Qt 6.4 Widgets, PrintSupport, Test, Concurrent, SVG export
  libqcustomplot-dev                        # plots (GPL-3.0)
  nlohmann-json3-dev                        # JSON
  libtorch-dev                              # LibTorch 1.13 (CPU)
  libopenblas0-openmp                       # fast BLAS for LibTorch (~16x the reference BLAS)
  libpcre2-dev                              # tokenizer pre-tokenizer regexes (Unicode classes)
  libicu-dev                                # tokenizer Unicode normalizers (NFC, NFKC, ...)
  xvfb xauth                                # screenshots and a virtual display where there is none
)

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
  echo "Installing: ${missing[*]}"
  sudo_cmd=()
  [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

build_dir=${BUILD_DIR:-build}
if [[ ! -f $build_dir/build.ninja ]]; then
  cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=${BUILD_TYPE:-Release} ${CMAKE_ARGS:-}
fi
cmake --build "$build_dir"
