#!/usr/bin/env bash
# Configures and builds vmae into build/ (or $VMAE_BUILD_DIR).
#   scripts/build.sh [extra cmake -D options] [-- ninja targets]
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${VMAE_BUILD_DIR:-build}
cmake_args=()
targets=()
while [ $# -gt 0 ]; do
  if [ "$1" = "--" ]; then shift; targets=("$@"); break; fi
  cmake_args+=("$1"); shift
done
jobs=${VMAE_JOBS:-$(nproc)}
# Paths relative to the checkout in ccache keys, so another clone reuses the cache.
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD}
cmake -S . -B "$build_dir" -G Ninja "${cmake_args[@]}" >/dev/null
ninja -C "$build_dir" -j "$jobs" "${targets[@]}"
