#!/usr/bin/env bash
# The test command (README, CI): installs what is missing, builds
# everything, runs every test. Exits non-zero if any test fails.
#
# Two builds:
#  - build/         the control plane (coordinator, vmaectl, their tests) with
#                   VMAE_BUILD_WORKER=OFF: LibTorch is not even looked for, which
#                   proves the control plane never needs it;
#  - build-worker/  the LibTorch engine and its tests (VMAE_BUILD_WORKER=ON).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --worker
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}  # tests use one BLAS thread unless they test threading

start=$(date +%s)
VMAE_BUILD_DIR=build scripts/build.sh -DVMAE_BUILD_WORKER=OFF -DVMAE_BUILD_TESTS=ON -DVMAE_BUILD_BENCH=ON
echo "control plane build: $(( $(date +%s) - start )) s"
status=0
# Unit tests run in parallel; integration tests are RUN_SERIAL.
(cd build && ctest --output-on-failure -j "$(nproc)" --timeout 300 "$@") || status=1

if [ -f worker/CMakeLists.txt ] && ls worker/*/CMakeLists.txt >/dev/null 2>&1; then
  start=$(date +%s)
  VMAE_BUILD_DIR=build-worker scripts/build.sh -DVMAE_BUILD_WORKER=ON -DVMAE_BUILD_TESTS=ON \
    -DVMAE_BUILD_BENCH=ON -- worker/all tests/worker/all bench/decode/all
  echo "engine build: $(( $(date +%s) - start )) s"
  (cd build-worker/tests/worker && ctest --output-on-failure -j "$(nproc)" --timeout 300 "$@") || status=1
fi
exit $status
