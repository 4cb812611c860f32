#!/usr/bin/env python3
"""`vmae train` end to end: real trainer processes on loopback.

Each case starts the real `vmae` binary as one or more ranks (rank 0 hosts
the store on an ephemeral port, the others join it), reads the JSON-line
events of docs/trainer-protocol.md and checks what they say against
expectations computed here: gradients of 2 ranks against 1 rank on the same
samples, a resumed run against the data plan, exit codes against the
failure kinds.

  trainer_integration_test.py --vmae build/bin/vmae --case grad_equivalence
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time

import torch  # Debian's python3-torch: reads the gradient dumps

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "testing", "python"))
from vmae_fixtures import TestFailure, run_case  # noqa: E402

TIMEOUT = 90


def check(cond, message):
    if not cond:
        raise TestFailure(message)


SPEC = """kind: {kind}
name: trainer-test
seed: 3
model:
  arch: custom
  embed_dim: 32
  depth: 1
  num_heads: 2
  decoder_embed_dim: 16
  decoder_depth: 1
  decoder_num_heads: 1
  patch_size: 16
  tubelet_size: 2
  num_frames: 4
  image_size: 32
  drop_path: 0.0
{model_extra}
data:
  root: {root}
  train: {train}
  val: {val}
  sampling: {sampling}
  sampling_rate: 2
  decode_threads: 1
  max_bad_fraction: {max_bad}
optimizer:
  lr: {lr}
  warmup_epochs: {warmup}
  epochs: {epochs}
  batch_size: {batch}
checkpoint:
  every_steps: {every}
eval:
  every_epochs: {eval_every}
resources:
  workers: {workers}
  device: cpu
  precision: fp32
"""


def write_spec(path, **kw):
    values = dict(kind="pretrain", model_extra="", train="train.csv", val="''",
                  sampling="stride", max_bad=0.01, lr=1e-3, warmup=0, epochs=1, batch=2,
                  every=1000, eval_every=0, workers=2)
    values.update(kw)
    if values["kind"] == "finetune":
        values["model_extra"] = "  num_classes: 2\nfinetune:\n  init_from: scratch\n  mixup: 0\n  cutmix: 0\n" \
                                "  test_clips: 2\n  test_crops: 1"
        values["sampling"] = "dense"
    with open(path, "w") as f:
        f.write(SPEC.format(**values))
    return path


class Trainer:
    """One `vmae train` process; its stdout events are collected as they come."""

    def __init__(self, args, spec, rank, world, work, store, extra=(), attempt=1):
        os.makedirs(work, exist_ok=True)
        self.rank = rank
        self.events = []
        self.lock = threading.Lock()
        cmd = [args.vmae, "train", "--spec", spec, "--job-id", "j-test", "--attempt",
               str(attempt), "--rank", str(rank), "--world-size", str(world), "--work-dir", work,
               "--store", store, "--collective-timeout-s", "10", "--threads", "1"] + list(extra)
        env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
        self.stderr_path = os.path.join(work, "stderr.log")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=open(self.stderr_path, "w"),
                                     env=env, text=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            with self.lock:
                self.events.append(event)

    def of(self, name):
        with self.lock:
            return [e for e in self.events if e.get("event") == name]

    def wait_event(self, name, pred=lambda e: True, timeout=TIMEOUT):
        deadline = time.time() + timeout
        while time.time() < deadline:
            found = [e for e in self.of(name) if pred(e)]
            if found:
                return found[0]
            if self.proc.poll() is not None:
                self.reader.join(5)
                found = [e for e in self.of(name) if pred(e)]
                if found:
                    return found[0]
                raise TestFailure(f"rank {self.rank} exited {self.proc.returncode} before a "
                                  f"'{name}' event; stderr: {self.stderr_tail()}")
            time.sleep(0.05)
        raise TestFailure(f"rank {self.rank}: no '{name}' event within {timeout} s")

    def wait(self, timeout=TIMEOUT):
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise TestFailure(f"rank {self.rank} did not exit within {timeout} s")
        self.reader.join(5)
        return code

    def stderr_tail(self):
        with open(self.stderr_path) as f:
            return f.read()[-1500:]

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def start_group(args, spec, world, work, extra_for=lambda r: [], attempt=1):
    """Rank 0 first; the others join the port it reports."""
    ranks = [Trainer(args, spec, 0, world, os.path.join(work, "r0"), "127.0.0.1:0",
                     extra_for(0), attempt)]
    if world > 1:
        port = ranks[0].wait_event("rendezvous")["port"]
        for r in range(1, world):
            ranks.append(Trainer(args, spec, r, world, os.path.join(work, f"r{r}"),
                                 f"127.0.0.1:{port}", extra_for(r), attempt))
    return ranks


def datagen(args, out, classes=2, per_class=8, val=0.25):
    subprocess.run([args.vmae, "datagen", "--out", out, "--classes", str(classes),
                    "--videos-per-class", str(per_class), "--frames", "16", "--size", "48x48",
                    "--threads", "2", "--val-fraction", str(val)],
                   check=True, stdout=subprocess.DEVNULL)
    return out


def lines(path):
    with open(path) as f:
        return [l.split() for l in f if l.strip()]


# --- cases -----------------------------------------------------------------

def case_grad_equivalence(args, tmp):
    """2 ranks x batch 2 average to the gradient of 1 rank on the same 4 videos."""
    data = datagen(args, os.path.join(tmp, "data"), per_class=8, val=0.01)
    spec = write_spec(os.path.join(tmp, "job.yaml"), root=data, batch=2, workers=2)
    two = start_group(args, spec, 2, os.path.join(tmp, "w2"),
                      lambda r: ["--grad-dump", os.path.join(tmp, f"w2-r{r}.pt"),
                                 "--report-checksums"])
    for t in two:
        check(t.wait() == 0, f"world 2 rank {t.rank} failed: {t.stderr_tail()}")
    one = start_group(args, spec, 1, os.path.join(tmp, "w1"),
                      lambda r: ["--grad-dump", os.path.join(tmp, "w1.pt")])
    check(one[0].wait() == 0, f"world 1 failed: {one[0].stderr_tail()}")
    g0 = torch.load(os.path.join(tmp, "w2-r0.pt"))
    g1 = torch.load(os.path.join(tmp, "w2-r1.pt"))
    g = torch.load(os.path.join(tmp, "w1.pt"))
    check(g.numel() > 1000 and float(g.norm()) > 0, "the world-1 gradient is empty or zero")
    check(torch.equal(g0, g1), "the two ranks hold different averaged gradients")
    rel = float((g0.double() - g.double()).norm() / g.double().norm())
    print(f"relative difference 2 ranks vs 1 rank: {rel:.3g}")
    check(rel < 1e-5, f"averaged gradient differs from the single-rank one by {rel:.3g} (> 1e-5)")
    # The comparison can tell batches apart: the gradient of only the first
    # 2 of those 4 videos is far from it.
    half = write_spec(os.path.join(tmp, "half.yaml"), root=data, batch=2, workers=1)
    h = start_group(args, half, 1, os.path.join(tmp, "h"),
                    lambda r: ["--grad-dump", os.path.join(tmp, "half.pt")])
    check(h[0].wait() == 0, f"half-batch run failed: {h[0].stderr_tail()}")
    gh = torch.load(os.path.join(tmp, "half.pt"))
    far = float((gh.double() - g.double()).norm() / g.double().norm())
    check(far > 1e-3, f"a 2-video gradient is as close as {far:.3g} to the 4-video one")
    sums = {}
    for t in two:
        for e in t.of("checksum"):
            sums.setdefault(e["step"], set()).add(e["sha256"])
    steps = len(two[0].of("step"))
    check(steps >= 2 and sorted(sums) == list(range(1, steps + 1)),
          f"checksums for steps {sorted(sums)}, steps run {steps}")
    check(all(len(v) == 1 for v in sums.values()), f"parameters diverged: {sums}")


def case_resume_reshard(args, tmp):
    """kill -9 of a rank mid-epoch, resume on another world size: each sample once."""
    data = datagen(args, os.path.join(tmp, "data"), per_class=16, val=0.01)
    n = len(lines(os.path.join(data, "train.csv")))
    spec = write_spec(os.path.join(tmp, "job.yaml"), root=data, batch=2, workers=2, every=1)
    log = os.path.join(tmp, "samples.log")
    work = os.path.join(tmp, "a1")
    ranks = start_group(args, spec, 2, work, lambda r: ["--sample-log", log])
    ranks[0].wait_event("step", lambda e: e["step"] >= 2)
    os.kill(ranks[1].proc.pid, signal.SIGSTOP)  # freeze it mid-epoch, then lose it
    time.sleep(0.5)
    os.kill(ranks[1].proc.pid, signal.SIGKILL)
    ranks[1].wait()
    code = ranks[0].wait()
    check(code == 1, f"rank 0 should fail as infrastructure (exit 1) after losing rank 1, "
                     f"got {code}: {ranks[0].stderr_tail()}")
    err = ranks[0].of("error")
    check(err and err[0]["kind"] == "infra", f"rank 0's error event: {err}")
    ckpts = ranks[0].of("checkpoint")
    check(ckpts, "no checkpoint before the kill")
    last = max(ckpts, key=lambda e: e["step"])
    check(os.path.isdir(last["dir"]), f"checkpoint dir {last['dir']} missing")
    restored = last["step"]
    total_steps = ranks[0].of("step")[0]["total_steps"]
    check(restored < total_steps, "the run finished before the kill; nothing to resume")
    # Attempt 2 on ONE rank: the remaining entries are dealt to the new world.
    again = start_group(args, spec, 1, os.path.join(tmp, "a2"),
                        lambda r: ["--sample-log", log, "--resume", last["dir"]], attempt=2)
    check(again[0].wait() == 0, f"the resumed run failed: {again[0].stderr_tail()}")
    first = again[0].of("step")[0]
    check(first["step"] == restored + 1 and first["extra"].get("restored_step") == restored,
          f"first step after resume: {first}")
    seen = [int(s) for a, e, st, s in lines(log)
            if (a == "1" and int(st) <= restored) or a == "2"]
    check(len(seen) == len(set(seen)), f"samples repeated: {sorted(seen)}")
    expected = (n // 4) * 4
    check(len(seen) == expected, f"{len(seen)} samples seen, expected {expected} of {n}")
    check(again[0].of("done"), "no done event")


def case_sigterm(args, tmp):
    """SIGTERM to every rank: all stop after the same step, rank 0 checkpoints, exit 0."""
    data = datagen(args, os.path.join(tmp, "data"), per_class=16, val=0.01)
    spec = write_spec(os.path.join(tmp, "job.yaml"), root=data, batch=2, workers=2, epochs=50)
    ranks = start_group(args, spec, 2, os.path.join(tmp, "w"))
    ranks[0].wait_event("step", lambda e: e["step"] >= 1)
    for t in ranks:
        os.kill(t.proc.pid, signal.SIGTERM)
    codes = [t.wait() for t in ranks]
    check(codes == [0, 0], f"exit codes {codes}: {ranks[0].stderr_tail()}")
    stopped = [t.of("stopped")[0]["step"] for t in ranks]
    check(stopped[0] == stopped[1], f"ranks stopped at different steps {stopped}")
    ck = ranks[0].of("checkpoint")
    check(ck and ck[-1]["reason"] == "pause" and ck[-1]["step"] == stopped[0],
          f"pause checkpoint: {ck}")
    check(os.path.isfile(os.path.join(ck[-1]["dir"], "manifest.json")), "checkpoint incomplete")
    check(not ranks[1].of("checkpoint"), "only rank 0 writes checkpoints")


def case_nan(args, tmp):
    """A diverging lr fails as a user error (exit 2), on every rank, without hanging."""
    data = datagen(args, os.path.join(tmp, "data"), per_class=8, val=0.01)
    spec = write_spec(os.path.join(tmp, "job.yaml"), root=data, lr=1e30, epochs=5)
    ranks = start_group(args, spec, 2, os.path.join(tmp, "w"))
    codes = [t.wait() for t in ranks]
    check(codes == [2, 2], f"exit codes {codes}, expected [2, 2]: {ranks[0].stderr_tail()}")
    err = ranks[0].of("error")[0]
    check(err["kind"] == "user" and "not finite" in err["message"], f"error event: {err}")


def corrupt(data, every):
    """Overwrites every `every`-th listed video with bytes that are not a video."""
    entries = lines(os.path.join(data, "train.csv"))
    for i, entry in enumerate(entries):
        if i % every == 0:
            with open(os.path.join(data, entry[0]), "wb") as f:
                f.write(b"not a video" * 100)
    return len(entries), (len(entries) + every - 1) // every


def case_bad_data_half(args, tmp):
    data = datagen(args, os.path.join(tmp, "data"), per_class=8, val=0.01)
    corrupt(data, 2)
    spec = write_spec(os.path.join(tmp, "job.yaml"), root=data)
    ranks = start_group(args, spec, 2, os.path.join(tmp, "w"))
    codes = [t.wait() for t in ranks]
    check(codes == [2, 2], f"exit codes {codes}, expected [2, 2]: {ranks[0].stderr_tail()}")
    messages = " ".join(e["message"] for t in ranks for e in t.of("error"))
    check("max_bad_fraction" in messages, f"the reason does not name the limit: {messages}")


def case_bad_data_few(args, tmp):
    data = datagen(args, os.path.join(tmp, "data"), per_class=10, val=0.01)
    n, bad = corrupt(data, 20)
    spec = write_spec(os.path.join(tmp, "job.yaml"), root=data, max_bad=0.1, epochs=2)
    ranks = start_group(args, spec, 2, os.path.join(tmp, "w"))
    codes = [t.wait() for t in ranks]
    check(codes == [0, 0], f"exit codes {codes}: {ranks[0].stderr_tail()}")
    reported = sum(sum(e["data_errors"].values()) for e in ranks[0].of("step"))
    # Rank 0 reports what every rank's loader found; a bad file is met once
    # (later epochs skip it without reading it).
    check(reported == bad, f"{reported} data errors reported, {bad} bad files of {n}")


def case_finetune_init_from(args, tmp):
    """Pre-train, then fine-tune from its checkpoint: evaluation reports top-1."""
    data = datagen(args, os.path.join(tmp, "data"), per_class=8, val=0.25)
    pre = write_spec(os.path.join(tmp, "pre.yaml"), root=data, workers=1, batch=4)
    p = start_group(args, pre, 1, os.path.join(tmp, "pre"))
    check(p[0].wait() == 0, f"pre-training failed: {p[0].stderr_tail()}")
    final = [e for e in p[0].of("checkpoint") if e["reason"] == "final"]
    check(len(final) == 1, f"pre-training checkpoints: {p[0].of('checkpoint')}")
    ft = write_spec(os.path.join(tmp, "ft.yaml"), kind="finetune", root=data, val="val.csv",
                    workers=2, batch=2, epochs=2, eval_every=1)
    ranks = start_group(args, ft, 2, os.path.join(tmp, "ft"),
                        lambda r: ["--init-from", final[0]["dir"]])
    codes = [t.wait() for t in ranks]
    check(codes == [0, 0], f"fine-tuning exit codes {codes}: {ranks[0].stderr_tail()}")
    evals = ranks[0].of("eval")
    check(evals and evals[-1]["split"] == "test", f"eval events: {evals}")
    nval = len(lines(os.path.join(data, "val.csv")))
    check(evals[-1]["videos"] == nval, f"{evals[-1]['videos']} videos evaluated, list has {nval}")
    check(0 <= evals[-1]["val_top1"] <= 100 and evals[-1]["val_top5"] == 100,
          f"2 classes: top-5 must be 100%: {evals[-1]}")
    with open(os.path.join(ranks[0].stderr_path)) as f:
        check("initialised" in f.read(), "no init_from summary in the log")
    # A model that does not fit the checkpoint is a user error.
    bad = write_spec(os.path.join(tmp, "bad.yaml"), kind="finetune", root=data, val="val.csv",
                     workers=1, batch=2)
    with open(bad) as f:
        text = f.read().replace("embed_dim: 32", "embed_dim: 64")
    with open(bad, "w") as f:
        f.write(text)
    b = start_group(args, bad, 1, os.path.join(tmp, "bad"),
                    lambda r: ["--init-from", final[0]["dir"]])
    check(b[0].wait() == 2, f"a mis-shaped init_from should exit 2: {b[0].stderr_tail()}")
    check("does not fit" in b[0].of("error")[0]["message"], "the reason names the mismatch")


CASES = {name[5:]: fn for name, fn in globals().items() if name.startswith("case_")}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--vmae", required=True)
    parser.add_argument("--case", required=True, choices=sorted(CASES))
    args = parser.parse_args()
    return run_case(CASES, args.case, args, "vmae-trainer-test-")

if __name__ == "__main__":
    sys.exit(main())
