#!/usr/bin/env python3
"""Data-parallel scaling of `vmae train` on CPU (Gloo), one BLAS thread per
trainer, against a one-trainer one-thread baseline measured in the same run.

Three runs of the same pre-training job on a synthetic data set:
  1 rank  x batch B                  (the baseline)
  2 ranks x batch B, buckets all-reduced during the backward (overlap)
  2 ranks x batch B, buckets all-reduced after the backward (--no-overlap)
Reported per run: median clips/s and the median step split into data wait,
compute and exposed all-reduce (rank 0's figures, steps after the first 5);
scaling efficiency = clips/s(2 ranks) / (2 x clips/s(1 rank)). "CPU cores busy"
is the trainers' CPU time over the run's wall time (start-up included): a
baseline that keeps more than one core busy (decoding threads, Gloo) cannot
scale to 2 ranks on a 2-core machine.

  bench/dist/scaling.py --vmae build-worker/bin/vmae [--steps 40] [--batch 4] [--pin]
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time

JOB = """kind: pretrain
name: scaling
seed: 0
model:
  arch: custom
  embed_dim: {width}
  depth: {depth}
  num_heads: {heads}
  decoder_embed_dim: 96
  decoder_depth: 2
  decoder_num_heads: 3
  patch_size: 16
  tubelet_size: 2
  num_frames: 8
  image_size: 64
pretrain:
  mask_ratio: 0.9
data:
  root: {root}
  train: train.csv
  sampling: stride
  sampling_rate: 2
  decode_threads: 1
optimizer:
  lr: 1.0e-3
  warmup_epochs: 0
  epochs: {epochs}
  batch_size: {batch}
checkpoint:
  every_steps: 100000
resources:
  workers: {workers}
  device: cpu
  precision: fp32
"""


def run(vmae, spec, world, work, extra, pin=False):
    os.makedirs(work, exist_ok=True)
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    procs = []

    def start(rank, store):
        # --pin: rank r and all its threads on core r, so the baseline gets
        # one core as each rank of the 2-rank run does.
        pin_core = (lambda: os.sched_setaffinity(0, {rank})) if pin else None
        return subprocess.Popen(
            [vmae, "train", "--spec", spec, "--job-id", "bench", "--rank", str(rank),
             "--world-size", str(world), "--work-dir", os.path.join(work, f"r{rank}"),
             "--store", store, "--threads", "1"] + extra,
            stdout=subprocess.PIPE, stderr=open(os.path.join(work, f"r{rank}.log"), "w"),
            env=env, text=True, preexec_fn=pin_core)

    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall0 = time.monotonic()
    procs.append(start(0, "127.0.0.1:0"))
    steps = []
    for line in procs[0].stdout:
        try:
            e = json.loads(line)
        except ValueError:
            continue
        if e["event"] == "rendezvous":
            for r in range(1, world):
                procs.append(start(r, f"127.0.0.1:{e['port']}"))
                threading.Thread(target=procs[-1].stdout.read, daemon=True).start()
        elif e["event"] == "step":
            steps.append(e)
    codes = [p.wait() for p in procs]
    if any(codes):
        sys.exit(f"run failed ({codes}); logs in {work}")
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cores = (cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime) / (
        time.monotonic() - wall0)
    return steps[5:], cores


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--vmae", required=True)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--width", type=int, default=384)
    parser.add_argument("--depth", type=int, default=6)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--pin", action="store_true",
                        help="rank r (all its threads) on core r only; the baseline on core 0")
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="vmae-scaling-")
    data = os.path.join(work, "data")
    videos = 2 * args.batch * (args.steps + 5)
    subprocess.run([args.vmae, "datagen", "--out", data, "--classes", "4", "--videos-per-class",
                    str(videos // 4 + 1), "--frames", "24", "--size", "64x64",
                    "--val-fraction", "0.01"], check=True, stdout=subprocess.DEVNULL)
    rows = []
    for name, world, extra in [("1 rank (baseline)", 1, []), ("2 ranks, overlap", 2, []),
                               ("2 ranks, no overlap", 2, ["--no-overlap"])]:
        spec = os.path.join(work, f"job-{world}.yaml")
        with open(spec, "w") as f:
            f.write(JOB.format(root=data, epochs=1, batch=args.batch, workers=world,
                               width=args.width, depth=args.depth, heads=args.width // 64))
        steps, cores = run(args.vmae, spec, world, os.path.join(work, f"run{len(rows)}"),
                           extra, args.pin)
        med = lambda k: statistics.median(s[k] for s in steps)
        step_time = med("data_seconds") + med("compute_seconds") + med("allreduce_seconds")
        rows.append((name, world, med("clips_per_second"), med("data_seconds"),
                     med("compute_seconds"), med("allreduce_seconds"), step_time, cores))
        print(f"{name}: {rows[-1][2]:.1f} clips/s over {len(steps)} steps", file=sys.stderr)
    base = rows[0][2]
    print("| run | clips/s | efficiency | data s | compute s | all-reduce s | all-reduce share "
          "| CPU cores busy |")
    print("|---|---|---|---|---|---|---|---|")
    for name, world, cps, data_s, comp_s, ar_s, step_s, cores in rows:
        eff = cps / (world * base)
        print(f"| {name} | {cps:.1f} | {eff * 100:.0f}% | {data_s:.3f} | {comp_s:.3f} | "
              f"{ar_s:.4f} | {ar_s / step_s * 100:.1f}% | {cores:.2f} |")


if __name__ == "__main__":
    main()
