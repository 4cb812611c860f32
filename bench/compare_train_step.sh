#!/usr/bin/env bash
# The engine's CPU train step against the authors' PyTorch step, run
# back to back ROUNDS times on this machine (docs/benchmarks.md). Three rows
# per round:
#   authors-default  their step as a user runs it: Debian's OpenBLAS as the
#                    system configures it (it may pick old kernels, see
#                    worker/cpu/openblas_kernels.h);
#   authors-tuned    their step with the runtime settings `vmae` applies to
#                    itself (the OpenBLAS kernels `vmae version` names,
#                    OpenMP OpenBLAS where installed, glibc keeping freed
#                    memory), given by environment variables;
#   vmae             `vmae bench`.
# Usage: bench/compare_train_step.sh [pretrain|finetune] [ROUNDS] [STEPS]
#        (default: pretrain, 3 rounds of 5 timed steps after 1 warm-up step)
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-pretrain}
rounds=${2:-3}
steps=${3:-5}
vmae=${VMAE:-build-worker/bin/vmae}
py=/usr/bin/python3
common=(--mode "$mode" --arch vit_small --batch 2 --threads 2 --warmup 1 --steps "$steps")
# The kernels vmae itself runs here ("... (SkylakeX kernels, OpenMP)").
core=$("$vmae" version | sed -n 's/.*(\([A-Za-z0-9]*\) kernels.*/\1/p')
tuned_env=(MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=18446744073709551615
           MALLOC_TOP_PAD_=67108864)
[[ -n $core ]] && tuned_env+=(OPENBLAS_CORETYPE=$core)
openmp_dir=/usr/lib/x86_64-linux-gnu/openblas-openmp
[[ -e $openmp_dir/libblas.so.3 ]] && tuned_env+=(LD_LIBRARY_PATH=$openmp_dir)
median() { grep -oE '"step_s_median": [0-9.]+' | grep -oE '[0-9.]+$'; }
echo "mode=$mode: round load authors_default_s authors_tuned_s vmae_s"
for ((r = 1; r <= rounds; r++)); do
  load=$(cut -d' ' -f1 /proc/loadavg)
  a=$(env -u OPENBLAS_CORETYPE $py bench/authors_train_step.py "${common[@]}" | median)
  t=$(env "${tuned_env[@]}" $py bench/authors_train_step.py "${common[@]}" | median)
  v=$("$vmae" bench "${common[@]}" -o json 2>/dev/null |
      median)
  echo "$r $load $a $t $v"
done
