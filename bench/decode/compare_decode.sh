#!/usr/bin/env bash
# Our clip decoder (vmae_decode_bench) against Debian's PyAV 10
# (pyav_decode.py) on the five VideoMAE decode workloads, the same files,
# frames and crops (README.md here; protocol in docs/video-decoding.md).
# Builds nothing. Generates the videos once (make_data.sh), writes one plan
# per (keyframe interval, workload), checks one clip of each by PSNR, then runs
# ROUNDS interleaved rounds: in every round each variant runs once with one
# clip at a time and once with THREADS clips at a time. Prints a Markdown
# report (also written to OUT/report.md).
#
# Usage: compare_decode.sh [--bench=PATH] [--data=DIR] [--out=DIR] [--rounds=3]
#          [--clips=6] [--test_clips=2] [--files=12] [--threads=$(nproc)]
#          [--gops="250 16"] [--workloads="k400_pretrain ..."] [--naive=1]
# The defaults took 9 minutes on the shared 2-core machine while others were
# compiling, once the data existed (make_data.sh: about 100 s the first
# time). Run it on an idle machine; when it is not idle, the CPU ms per clip
# in the last table are the figures least disturbed.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
bench=""
data=/tmp/vmae-decode-bench
out=/tmp/vmae-decode-bench/run
rounds=3
clips=6
test_clips=2
files=12
threads=$(nproc)
gops="250 16"
workloads="k400_pretrain ssv2_pretrain k400_finetune ssv2_finetune test_views"
naive=1
for arg in "$@"; do
  case $arg in
    --bench=*) bench=${arg#*=} ;;
    --data=*) data=${arg#*=} ;;
    --out=*) out=${arg#*=} ;;
    --rounds=*) rounds=${arg#*=} ;;
    --clips=*) clips=${arg#*=} ;;
    --test_clips=*) test_clips=${arg#*=} ;;
    --files=*) files=${arg#*=} ;;
    --threads=*) threads=${arg#*=} ;;
    --gops=*) gops=${arg#*=} ;;
    --workloads=*) workloads=${arg#*=} ;;
    --naive=*) naive=${arg#*=} ;;
    *) echo "compare_decode.sh: unknown argument $arg; see the usage at the top of $0" >&2
       exit 2 ;;
  esac
done

if [[ -z $bench ]]; then
  for candidate in /work/main/build-worker/bin/vmae_decode_bench \
                   /work/build-helper-bench/bin/vmae_decode_bench; do
    if [[ -x $candidate ]]; then bench=$candidate; break; fi
  done
fi
if [[ ! -x $bench ]]; then
  echo "compare_decode.sh: no vmae_decode_bench at '${bench}'; build it" \
       "(cmake -DVMAE_BUILD_WORKER=ON -DVMAE_BUILD_BENCH=ON, ninja vmae_decode_bench)" \
       "and pass --bench=PATH" >&2
  exit 1
fi
py=/usr/bin/python3
pyav="$py $here/pyav_decode.py"

"$here/make_data.sh" "$data" "$files" 10 >&2
rm -rf "$out"
mkdir -p "$out/plans" "$out/results" "$out/dumps"

# Each variant: a name and the command that runs a plan ($1) into a result
# file ($2) with $3 clips in flight.
run_variant() {
  local variant=$1 plan=$2 result=$3 workers=$4
  case $variant in
    ours) "$bench" run --plan="$plan" --threads="$workers" --out="$result" ;;
    ours-noskip) "$bench" run --plan="$plan" --threads="$workers" --skip_nonref=false \
                   --out="$result" ;;
    pyav-default) $pyav --plan="$plan" --workers="$workers" --out="$result" ;;
    pyav-AUTO) $pyav --plan="$plan" --workers="$workers" --thread_type=AUTO --out="$result" ;;
    pyav-default-naive) $pyav --plan="$plan" --workers="$workers" --mode=naive \
                          --out="$result" ;;
  esac
}
variants="ours ours-noskip pyav-default pyav-AUTO"
levels=1
if ((threads > 1)); then levels="1 $threads"; fi
if [[ $naive == 1 ]]; then variants="$variants pyav-default-naive"; fi

start=$SECONDS
for gop in $gops; do
  for workload in $workloads; do
    n=$clips
    if [[ $workload == test_views ]]; then n=$test_clips; fi
    plan="$out/plans/gop${gop}_${workload}.json"
    "$bench" plan --data_dir="$data/gop$gop" --workload="$workload" --clips="$n" --out="$plan"
    # Correctness: the same clip through both pipelines.
    "$bench" dump --plan="$plan" --clip=0 --out="$out/dumps/gop${gop}_${workload}.ours.rgb"
    $pyav --plan="$plan" --clip=0 --dump="$out/dumps/gop${gop}_${workload}.pyav.rgb"
    $py "$here/psnr.py" "$out/dumps/gop${gop}_${workload}.ours.rgb" \
      "$out/dumps/gop${gop}_${workload}.pyav.rgb" > "$out/dumps/gop${gop}_${workload}.psnr.json"
    rm "$out/dumps/gop${gop}_${workload}".*.rgb  # up to 36 MB each (test views)
  done
done

for ((round = 1; round <= rounds; round++)); do
  for gop in $gops; do
    for workload in $workloads; do
      plan="$out/plans/gop${gop}_${workload}.json"
      for variant in $variants; do
        for workers in $levels; do
          run_variant "$variant" "$plan" \
            "$out/results/r${round}.gop${gop}.${workload}.${variant}.w${workers}.json" "$workers"
        done
      done
    done
  done
  echo "round $round/$rounds done after $((SECONDS - start)) s" >&2
done

$py "$here/report.py" --out_dir="$out" --threads="$threads" --gops="$gops" \
  --workloads="$workloads" --variants="$variants" | tee "$out/report.md"
