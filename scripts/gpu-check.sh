#!/usr/bin/env bash
# GPU check of the engine, for a machine with one NVIDIA GPU and Python's
# torch 2.x (CUDA). Builds the engine against Python's CUDA LibTorch, runs the
# engine tests, then `vmae bench --device cuda` (bf16) for vit_small and
# vit_base, pre-training and fine-tuning, at 16x224. Meant to finish within
# about 8 minutes; each stage has its own time limit.
#
#   scripts/gpu-check.sh            logs under $OUT (or a fresh temp dir)
#
# Needs: cmake >= 3.25, ninja, a C++17 compiler, nvcc matching torch's CUDA
# (CMAKE_CUDA_ARCHITECTURES=90, H100/H200), and the Debian -dev packages that
# the top-level CMakeLists looks for even for the engine: the engine itself
# uses abseil (train/, tool/), nlohmann-json (checkpoints, tool) and yaml-cpp
# (tool, job files); the top level also finds gRPC, protobuf, OpenSSL, SQLite
# and prometheus-cpp. Missing ones are installed with apt-get when that works
# (the machine may be offline); otherwise the script says which are missing.
set -uo pipefail
cd "$(dirname "$0")/.."

out=${OUT:-$(mktemp -d /tmp/vmae-gpu-check.XXXXXX)}
mkdir -p "$out"
build_dir=${VMAE_BUILD_DIR:-build-gpu}
summary="$out/summary.txt"
: >"$summary"
say() { echo "gpu-check: $*" | tee -a "$summary"; }
start_all=$(date +%s)
elapsed() { echo "$(( $(date +%s) - start_all ))s"; }

# ---- the machine -------------------------------------------------------------
nvidia-smi >"$out/nvidia-smi.txt" 2>&1 || say "WARNING: nvidia-smi failed (see nvidia-smi.txt)"
python=${PYTHON:-python3}
if ! torch_info=$("$python" - <<'EOF' 2>"$out/torch-import.txt"
import torch
print(torch.__version__)
print(torch.utils.cmake_prefix_path)
print(int(torch.cuda.is_available()))
print(torch.version.cuda or "none")
print(int(torch._C._GLIBCXX_USE_CXX11_ABI))
EOF
); then
  say "FAIL: cannot import Python's torch (see torch-import.txt)"; exit 1
fi
{ read -r torch_version; read -r torch_prefix; read -r torch_cuda_ok; read -r torch_cuda
  read -r torch_cxx11_abi; } <<<"$torch_info"
say "torch $torch_version (CUDA $torch_cuda, cuda available: $torch_cuda_ok), prefix $torch_prefix"
if [ "$torch_cxx11_abi" != 1 ]; then
  # Debian's abseil / yaml-cpp / gRPC are built with the C++11 std::string
  # ABI; a pre-cxx11-ABI LibTorch (pip wheels before torch 2.7) cannot link
  # with them in one binary.
  say "WARNING: this torch uses the pre-C++11 ABI (_GLIBCXX_USE_CXX11_ABI=0); linking with" \
      "Debian's libraries will likely fail: use torch >= 2.7 or the cxx11-abi LibTorch zip"
fi

# NCCL from Python's nvidia-nccl package (the engine's process group uses it
# once worker/dist/ exists; exported for CMake's find_* and the loader).
nccl_root=$("$python" -c 'import os, nvidia.nccl as n; print(os.path.dirname(n.__file__) if n.__file__ else list(n.__path__)[0])' 2>/dev/null || true)
if [ -n "$nccl_root" ]; then
  export NCCL_ROOT="$nccl_root" NCCL_INCLUDE_DIR="$nccl_root/include" NCCL_LIB_DIR="$nccl_root/lib"
  export LD_LIBRARY_PATH="$nccl_root/lib:${LD_LIBRARY_PATH:-}"
  say "NCCL from $nccl_root"
else
  say "note: Python's nvidia-nccl package not found (not needed by the engine tests)"
fi

# ---- Debian packages -----------------------------------------------------------
pkgs=(cmake ninja-build pkg-config libabsl-dev nlohmann-json3-dev libyaml-cpp-dev
      libgrpc++-dev protobuf-compiler-grpc protobuf-compiler libprotobuf-dev libssl-dev
      libsqlite3-dev prometheus-cpp-dev libgtest-dev libgmock-dev libpng-dev)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  say "installing ${missing[*]}"
  sudo=""; [ "$(id -u)" != 0 ] && command -v sudo >/dev/null && sudo=sudo
  if ! (export DEBIAN_FRONTEND=noninteractive
        timeout 60 $sudo apt-get update -q && timeout 120 $sudo apt-get install -y -q "${missing[@]}") \
        >"$out/apt.txt" 2>&1; then
    say "FAIL: could not install ${missing[*]} (offline? see apt.txt); install them and rerun"
    exit 1
  fi
fi

# ---- configure and build -------------------------------------------------------
export CCACHE_BASEDIR=$PWD
say "configure ($build_dir) at $(elapsed)"
if ! timeout 120 cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DVMAE_BUILD_WORKER=ON -DVMAE_BUILD_TESTS=ON -DVMAE_BUILD_BENCH=OFF \
    -DCMAKE_PREFIX_PATH="$torch_prefix" -DCMAKE_CUDA_ARCHITECTURES=90 \
    >"$out/configure.txt" 2>&1; then
  say "FAIL: configure (see configure.txt)"; tail -20 "$out/configure.txt"; exit 1
fi
# The engine (with the vmae tool) and its tests, as scripts/test.sh builds them.
targets=(worker/all tests/worker/all)
say "build ${targets[*]} at $(elapsed)"
if ! timeout 300 ninja -C "$build_dir" -j "$(nproc)" "${targets[@]}" >"$out/build.txt" 2>&1; then
  say "FAIL: build (see build.txt)"; grep -m 20 -B2 -A8 "error" "$out/build.txt" | head -60; exit 1
fi

# ---- engine tests --------------------------------------------------------------
status=0
say "engine tests at $(elapsed)"
if ! (cd "$build_dir/tests/worker" && OMP_NUM_THREADS=4 timeout 150 ctest --output-on-failure \
      -j 4 --timeout 120) >"$out/tests.txt" 2>&1; then
  say "FAIL: engine tests (see tests.txt)"; grep -E "tests passed|Failed|\*\*\*" "$out/tests.txt" | head -30
  status=1
else
  say "$(grep -E 'tests passed' "$out/tests.txt")"
fi

# ---- bench ---------------------------------------------------------------------
vmae="$build_dir/bin/vmae"
if [ ! -x "$vmae" ]; then
  say "FAIL: $vmae was not built"; exit 1
fi
for arch in vit_small vit_base; do
  for mode in pretrain finetune; do
    batch=16; [ "$mode" = finetune ] && batch=8
    name="bench-$arch-$mode"
    if timeout 60 "$vmae" bench --device cuda --precision bf16 --arch "$arch" --mode "$mode" \
        --frames 16 --image-size 224 --batch "$batch" --warmup 3 --steps 10 -o json \
        >"$out/$name.json" 2>"$out/$name.err"; then
      say "$name: $("$python" -c 'import json,sys; r=json.load(open(sys.argv[1])); print("%.1f clips/s, %.1f ms/step, %.1f TFLOP/s" % (r["clips_per_s"], 1e3*r["step_s_median"], r["tflops"]))' "$out/$name.json")"
    else
      say "FAIL: $name (see $name.err)"; tail -5 "$out/$name.err"; status=1
    fi
  done
done
# ---- vmae train on the GPU -------------------------------------------------------
# One rank of a tiny pre-training job on cuda:0 (bf16): the trainer's CUDA
# path (pinned batches, autocast, fused AdamW, checkpoints). World size 1
# creates no process group, so NCCL itself is not exercised here.
data="$out/train-data"
if timeout 60 "$vmae" datagen --out "$data" --classes 2 --videos-per-class 16 --frames 16 \
    --size 64x64 >"$out/datagen.txt" 2>&1; then
  cat >"$out/train.yaml" <<EOF2
kind: pretrain
name: gpu-check
model: {arch: custom, embed_dim: 192, depth: 4, num_heads: 3, decoder_embed_dim: 96,
        decoder_depth: 2, decoder_num_heads: 3, patch_size: 16, tubelet_size: 2,
        num_frames: 8, image_size: 64}
data: {root: $data, train: train.csv, sampling_rate: 2, decode_threads: 4}
optimizer: {lr: 1.0e-3, warmup_epochs: 0, epochs: 3, batch_size: 8}
checkpoint: {every_steps: 5}
resources: {workers: 1, device: cuda, precision: bf16}
EOF2
  if timeout 120 "$vmae" train --spec "$out/train.yaml" --job-id gpu-check --work-dir "$out/train" \
      --device cuda:0 --threads 4 >"$out/train-events.jsonl" 2>"$out/train.err"; then
    say "vmae train on cuda:0: $("$python" -c 'import json,sys
ev=[json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
st=[e for e in ev if e["event"]=="step"]
print("%d steps, last loss %.4f, %.1f clips/s, %d checkpoints" % (len(st), st[-1]["loss"], st[-1]["clips_per_second"], sum(e["event"]=="checkpoint" for e in ev)))' "$out/train-events.jsonl")"
  else
    say "FAIL: vmae train on cuda:0 (see train.err)"; tail -5 "$out/train.err"; status=1
  fi
else
  say "FAIL: vmae datagen (see datagen.txt)"; status=1
fi
say "done in $(elapsed); logs in $out"
exit $status
