#!/usr/bin/env bash
# The run command (README): installs what is missing, builds, and starts
# the coordinator on 127.0.0.1:7070 with its SQLite state in ./vmae-state.
# Ctrl-C stops it; running jobs and checkpoints survive a restart.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh -DVMAE_BUILD_TESTS=OFF -DVMAE_BUILD_BENCH=OFF -- vmae-coordinator vmaectl
bin="${VMAE_BUILD_DIR:-build}/bin"
echo
echo "vmae-coordinator starting on 127.0.0.1:7070 (state: ./vmae-state, /metrics: :9464)."
echo "In another terminal:  $bin/vmaectl submit configs/demo-pretrain.yaml --dry-run"
echo "                      $bin/vmaectl list;  $bin/vmaectl workers"
echo
exec "$bin/vmae-coordinator" --state-dir ./vmae-state --listen 127.0.0.1:7070 "$@"
