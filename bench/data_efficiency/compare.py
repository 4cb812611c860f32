#!/usr/bin/env python3
"""Data efficiency of VideoMAE pre-training: the same fine-tuning budget
from the pre-trained model and from scratch, 3 seeds each.

Runs the real trainer (`vmae train`, 2 ranks on loopback, one thread each)
on the demo's synthetic data set (scripts/demo.sh writes it), whose classes
differ only in how the frames change (moving dots and a colour drift):
pre-trains configs/demo-pretrain.yaml once, then fine-tunes
configs/demo-finetune.yaml with finetune.init_from = that checkpoint and
with random weights, for seeds 0, 1, 2, and prints a Markdown table of the
multi-view validation top-1 (mean and standard deviation).

  bench/data_efficiency/compare.py --vmae build-worker/bin/vmae --data /tmp/vmae-demo-data
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time


def run_group(vmae, spec, world, work, extra=(), seed=None):
    """Runs `world` ranks of `vmae train`; returns rank 0's events."""
    os.makedirs(work, exist_ok=True)
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    procs = []
    def start(rank, store):
        cmd = [vmae, "train", "--spec", spec, "--job-id", "bench", "--rank", str(rank),
               "--world-size", str(world), "--work-dir", os.path.join(work, f"r{rank}"),
               "--store", store, "--threads", "1"] + list(extra)
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=open(
            os.path.join(work, f"r{rank}.log"), "w"), env=env, text=True)
    procs.append(start(0, "127.0.0.1:0"))
    events = []
    port = None
    for line in procs[0].stdout:
        try:
            event = json.loads(line)
        except ValueError:
            continue
        events.append(event)
        if event["event"] == "rendezvous":
            port = event["port"]
            break
    for r in range(1, world):
        procs.append(start(r, f"127.0.0.1:{port}"))
    for r in range(1, world):
        # Drain the other ranks' stdout so they never block on a full pipe.
        threading.Thread(target=procs[r].stdout.read, daemon=True).start()
    for line in procs[0].stdout:
        try:
            events.append(json.loads(line))
        except ValueError:
            pass
    codes = [p.wait() for p in procs]
    if any(codes):
        sys.exit(f"training failed (exit codes {codes}); logs in {work}")
    return events


def spec_with(base, overrides, out):
    """Writes `base` with `key: value` lines replaced (top-level sections only)."""
    with open(base) as f:
        text = f.read()
    for key, value in overrides.items():
        section, field = key.split(".")
        lines = text.split("\n")
        in_section = False
        for i, line in enumerate(lines):
            if line.startswith(section + ":"):
                in_section = True
            elif line and not line.startswith(" "):
                in_section = False
            elif in_section and line.strip().startswith(field + ":"):
                indent = line[: len(line) - len(line.lstrip())]
                lines[i] = f"{indent}{field}: {value}"
        text = "\n".join(lines)
    with open(out, "w") as f:
        f.write(text)
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--vmae", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--configs", default=os.path.join(os.path.dirname(__file__), "..", "..",
                                                          "configs"))
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="vmae-data-efficiency-")
    t0 = time.time()
    pre = spec_with(os.path.join(args.configs, "demo-pretrain.yaml"),
                    {"data.root": args.data}, os.path.join(work, "pre.yaml"))
    events = run_group(args.vmae, pre, 2, os.path.join(work, "pre"))
    final = [e for e in events if e["event"] == "checkpoint"][-1]["dir"]
    print(f"pre-trained in {time.time() - t0:.0f} s: {final}", file=sys.stderr)
    results = {"pre-trained": [], "scratch": []}
    for seed in range(args.seeds):
        for init in results:
            spec = spec_with(os.path.join(args.configs, "demo-finetune.yaml"),
                             {"data.root": args.data},
                             os.path.join(work, f"ft-{init}-{seed}.yaml"))
            with open(spec) as f:
                text = f.read().replace("\nseed: 0\n", f"\nseed: {seed}\n")
            with open(spec, "w") as f:
                f.write(text)
            extra = ["--init-from", final] if init == "pre-trained" else []
            ev = run_group(args.vmae, spec, 2, os.path.join(work, f"ft-{init}-{seed}"), extra)
            top1 = [e for e in ev if e["event"] == "eval"][-1]["val_top1"]
            results[init].append(top1)
            print(f"seed {seed} {init}: top-1 {top1:.1f}%", file=sys.stderr)
    print("| initialisation | " + " | ".join(f"seed {s}" for s in range(args.seeds)) +
          " | mean ± sd |")
    print("|---|" + "---|" * args.seeds + "---|")
    for init, values in results.items():
        sd = statistics.stdev(values) if len(values) > 1 else 0.0
        print(f"| {init} | " + " | ".join(f"{v:.1f}" for v in values) +
              f" | {statistics.mean(values):.1f} ± {sd:.1f} |")
    print(f"\n(total {time.time() - t0:.0f} s; work files in {work})", file=sys.stderr)


if __name__ == "__main__":
    main()
