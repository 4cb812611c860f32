#!/usr/bin/env bash
# The test command (README, CI): installs what is missing, builds
# everything, runs every test. Exit status is CTest's.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
start=$(date +%s)
# The control plane builds and is tested without LibTorch.
scripts/build.sh -DVMAE_BUILD_WORKER=OFF -DVMAE_BUILD_TESTS=ON -DVMAE_BUILD_BENCH=ON
echo "build: $(( $(date +%s) - start )) s"
cd "${VMAE_BUILD_DIR:-build}"
# Unit tests run in parallel; integration tests are RUN_SERIAL.
ctest --output-on-failure -j "$(nproc)" --timeout 300 "$@"
