#!/usr/bin/env bash
# Installs the Debian 12 packages vmae needs, and only those that are
# missing. Used by the README's commands, CI and the Dockerfile, so what is
# tested is what is shipped.
#
#   scripts/install-deps.sh            control plane: coordinator, vmaectl, agent, tests
#   scripts/install-deps.sh --worker   also the engine side (LibTorch, FFmpeg, Gloo)
#   scripts/install-deps.sh --runtime  only the shared libraries a built binary needs
set -euo pipefail

mode=build
with_worker=0
for arg in "$@"; do
  case "$arg" in
    --worker) with_worker=1 ;;
    --runtime) mode=runtime ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "install-deps: unknown argument '$arg' (try --help)" >&2; exit 2 ;;
  esac
done

build_pkgs=(
  build-essential cmake ninja-build ccache pkg-config git
  libgrpc++-dev libgrpc-dev protobuf-compiler-grpc protobuf-compiler libprotobuf-dev
  libabsl-dev prometheus-cpp-dev libsqlite3-dev libyaml-cpp-dev libssl-dev
  nlohmann-json3-dev librandom123-dev googletest libgtest-dev libgmock-dev libbenchmark-dev
  python3-grpcio python3-protobuf python3-yaml prometheus sqlite3 curl ca-certificates openssl
)
runtime_pkgs=(
  libgrpc++1.51 libprotobuf32 libabsl20220623 libprometheus-cpp-pull1.0
  libprometheus-cpp-core1.0 libsqlite3-0 libyaml-cpp0.7 libssl3 ca-certificates
)
# libopenblas0-openmp: the `vmae` binary loads OpenBLAS's OpenMP build,
# which shares LibTorch's thread pool (cmake/VmaeHelpers.cmake); the pthread
# build stays the system default for everything else.
worker_pkgs=(
  libtorch-dev libopenblas0-pthread libopenblas0-openmp libgloo-dev libavformat-dev libavcodec-dev
  libswscale-dev libavutil-dev libpng-dev ffmpeg python3-av python3-torch python3-pil
)

if [ "$mode" = runtime ]; then pkgs=("${runtime_pkgs[@]}"); else pkgs=("${build_pkgs[@]}"); fi
if [ "$with_worker" = 1 ]; then pkgs+=("${worker_pkgs[@]}"); fi

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: all ${#pkgs[@]} packages present"
  exit 0
fi

sudo=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null; then sudo=sudo; else
    echo "install-deps: missing ${missing[*]}; run as root or install sudo" >&2; exit 1
  fi
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
