#!/usr/bin/env python3
"""The product end to end: vmae-coordinator, vmae-worker and real `vmae
train` ranks on loopback, driven with vmaectl.

  e2e_test.py --bin build-worker/bin --case kill_trainer

Cases:
  kill_trainer      kill -9 of one trainer mid-run: the group restarts from
                    the last checkpoint (attempt 2, restored step reported)
                    and the job succeeds; prints the time from the kill to
                    the first step of the new attempt.
  kill_agent        kill -9 of the agent: its trainers die, the lease expires,
                    the job restarts from its checkpoint on a new agent.
  restart_coordinator  kill -9 of the coordinator mid-run, restarted on the
                    same state dir and port: the agent reconnects, the job
                    succeeds without a restart, no checkpoint is lost.
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "testing", "python"))
from vmae_fixtures import (TestFailure, coordinator_log, run_case,  # noqa: E402
                           start_coordinator, trainer_pids)

USER_TOKEN = "e2e-user-token-0123456789"
JOIN_TOKEN = "e2e-join-token-0123456789"

JOB = """kind: pretrain
name: e2e
seed: 1
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
data:
  root: {root}
  train: train.csv
  sampling_rate: 2
  decode_threads: 1
optimizer:
  lr: 1.0e-3
  warmup_epochs: 0
  epochs: {epochs}
  batch_size: 2
checkpoint:
  every_steps: 5
resources:
  workers: 2
  device: cpu
  precision: fp32
  max_restarts: 2
"""


def check(cond, message):
    if not cond:
        raise TestFailure(message)


class Env:
    def __init__(self, args, tmp):
        self.args = args
        self.tmp = tmp
        self.addr = None

    def vmaectl(self, *words, check_rc=True):
        cmd = [os.path.join(self.args.bin, "vmaectl"), "--server", self.addr, "--token",
               USER_TOKEN, "-o", "json", *words]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        if check_rc and r.returncode != 0:
            raise TestFailure(f"{' '.join(words)} exited {r.returncode}: {r.stderr}")
        return json.loads(r.stdout) if r.stdout.strip() else None

    def job(self, job_id):
        j = self.vmaectl("get", job_id)
        return j.get("job", j)

    def wait_job(self, job_id, pred, what, timeout=90):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            j = self.job(job_id)
            if pred(j):
                return j
            if j.get("state") in ("JOB_STATE_FAILED", "JOB_STATE_CANCELLED"):
                raise TestFailure(f"job {j.get('state')}: {j.get('state_reason')} while waiting "
                                  f"for {what}\n{coordinator_log(self.tmp)}")
            time.sleep(0.2)
        raise TestFailure(f"no {what} within {timeout} s; job: {self.job(job_id)}\n"
                          f"{coordinator_log(self.tmp)}")


def datagen(args, out):
    subprocess.run([os.path.join(args.bin, "vmae"), "datagen", "--out", out, "--classes", "2",
                    "--videos-per-class", "16", "--frames", "16", "--size", "48x48",
                    "--threads", "2", "--val-fraction", "0.01"],
                   check=True, stdout=subprocess.DEVNULL)
    return out


def parse_time(text):
    """RFC 3339 with Z (as the API prints it) to seconds since the epoch."""
    from datetime import datetime, timezone
    text = text.rstrip("Z")
    fmt = "%Y-%m-%dT%H:%M:%S.%f" if "." in text else "%Y-%m-%dT%H:%M:%S"
    return datetime.strptime(text[:26], fmt).replace(tzinfo=timezone.utc).timestamp()


def step_of(j):
    return int(j.get("step", 0))


def case_kill_trainer(args, tmp):
    data = datagen(args, os.path.join(tmp, "data"))
    env = Env(args, tmp)
    os.environ["VMAE_TRAINER"] = os.path.join(args.bin, "vmae")
    proc, env.addr, _ = start_coordinator(
        os.path.join(args.bin, "vmae-coordinator"), tmp, USER_TOKEN, JOIN_TOKEN,
        ["--local-workers", "2", "--data-root", data])
    try:
        spec = os.path.join(tmp, "job.yaml")
        with open(spec, "w") as f:
            f.write(JOB.format(root=data, epochs=12))
        job_id = env.vmaectl("submit", spec)["id"]
        env.wait_job(job_id, lambda j: step_of(j) >= 12, "step 12")
        cks = env.vmaectl("checkpoints", job_id)
        check(cks, "no checkpoint committed before the kill")
        pids = trainer_pids(job_id, rank=1)
        check(len(pids) == 1, f"rank 1 trainer processes: {pids}")
        killed = time.time()
        os.kill(pids[0], signal.SIGKILL)
        j = env.wait_job(job_id, lambda j: int(j.get("attempt", 0)) >= 2 and
                         j.get("state") == "JOB_STATE_RUNNING", "attempt 2 running")
        restored = int(j.get("restored_step", 0))
        check(restored >= 5, f"attempt 2 restored step {restored}")
        # The first loss point after the kill is attempt 2's first step.
        resumed = None
        end = time.monotonic() + 60
        while resumed is None and time.monotonic() < end:
            doc = env.vmaectl("metrics", job_id, "loss") or []
            points = doc if isinstance(doc, list) else doc.get("points", [])
            # Rank 0 of attempt 1 may still report a step or two after the
            # kill; attempt 2's first step is the one right after the restored one.
            after = [p for p in points if parse_time(p["time"]) > killed and
                     int(p["step"]) == restored + 1]
            if after:
                resumed = parse_time(after[0]["time"]) - killed
            time.sleep(0.2)
        check(resumed is not None, "no step reported after the restart")
        j = env.wait_job(job_id, lambda j: j.get("state") == "JOB_STATE_SUCCEEDED", "SUCCEEDED",
                         timeout=120)
        check(int(j.get("restarts", 0)) == 1, f"restarts counted: {j.get('restarts')}")
        print(f"kill -9 of a trainer to the first step of attempt 2: {resumed:.1f} s "
              f"(restored step {restored})")
        end = time.monotonic() + 15
        while trainer_pids(job_id) and time.monotonic() < end:
            time.sleep(0.1)
        check(not trainer_pids(job_id), "trainer processes left behind 15 s after the end")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)


def case_restart_coordinator(args, tmp):
    data = datagen(args, os.path.join(tmp, "data"))
    env = Env(args, tmp)
    proc, env.addr, _ = start_coordinator(
        os.path.join(args.bin, "vmae-coordinator"), tmp, USER_TOKEN, JOIN_TOKEN,
        ["--data-root", data, "--lease-ms", "8000"])
    agent_log = open(os.path.join(tmp, "agent.log"), "wb")
    agent = subprocess.Popen(
        [os.path.join(args.bin, "vmae-worker"), "--coordinator", env.addr, "--join-token",
         JOIN_TOKEN, "--devices", "cpu:2", "--work-dir", os.path.join(tmp, "agent"),
         "--trainer", os.path.join(args.bin, "vmae")],
        stdout=agent_log, stderr=subprocess.STDOUT)
    try:
        spec = os.path.join(tmp, "job.yaml")
        with open(spec, "w") as f:
            f.write(JOB.format(root=data, epochs=40))
        job_id = env.vmaectl("submit", spec)["id"]
        j = env.wait_job(job_id, lambda j: step_of(j) >= 8, "step 8")
        before = max([int(c["step"]) for c in env.vmaectl("checkpoints", job_id) or []],
                     default=0)
        check(step_of(j) < int(j.get("total_steps", 0)) - 40, f"too close to the end: {j}")
        proc.kill()
        proc.wait()
        port = env.addr.rsplit(":", 1)[1]
        os.remove(os.path.join(tmp, "ports"))  # the new process writes its own
        proc, env.addr, _ = start_coordinator(
            os.path.join(args.bin, "vmae-coordinator"), tmp, USER_TOKEN, JOIN_TOKEN,
            ["--data-root", data, "--lease-ms", "8000", "--listen", f"127.0.0.1:{port}"])
        j = env.wait_job(job_id, lambda j: j.get("state") == "JOB_STATE_SUCCEEDED", "SUCCEEDED",
                         timeout=120)
        check(int(j.get("attempt", 0)) == 1 and int(j.get("restarts", 0)) == 0,
              f"the job restarted (attempt {j.get('attempt')}) although its ranks survived")
        # Retention keeps the newest checkpoints: the final one must be among them,
        # uploaded by the agent across the coordinator's restart.
        after = env.vmaectl("checkpoints", job_id) or []
        steps = [int(c["step"]) for c in after]
        check(steps and max(steps) > before and max(steps) == step_of(j),
              f"newest checkpoint before the kill {before}, after {steps}, job step {step_of(j)}")
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(30)
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)


def start_agent(args, env, tmp, name):
    log = open(os.path.join(tmp, f"{name}.log"), "wb")
    return subprocess.Popen(
        [os.path.join(args.bin, "vmae-worker"), "--coordinator", env.addr, "--join-token",
         JOIN_TOKEN, "--devices", "cpu:2", "--agent-id", name,
         "--work-dir", os.path.join(tmp, name), "--trainer", os.path.join(args.bin, "vmae")],
        stdout=log, stderr=subprocess.STDOUT)


def case_kill_agent(args, tmp):
    """kill -9 of the agent: its trainers die with it, the lease expires, the
    job restarts from its last checkpoint on the agent that joins next."""
    data = datagen(args, os.path.join(tmp, "data"))
    env = Env(args, tmp)
    proc, env.addr, _ = start_coordinator(
        os.path.join(args.bin, "vmae-coordinator"), tmp, USER_TOKEN, JOIN_TOKEN,
        ["--data-root", data, "--lease-ms", "3000", "--heartbeat-ms", "500"])
    first = start_agent(args, env, tmp, "agent-a")
    second = None
    try:
        spec = os.path.join(tmp, "job.yaml")
        with open(spec, "w") as f:
            f.write(JOB.format(root=data, epochs=40))
        job_id = env.vmaectl("submit", spec)["id"]
        env.wait_job(job_id, lambda j: step_of(j) >= 12, "step 12")
        first.kill()
        first.wait()
        end = time.monotonic() + 10
        while trainer_pids(job_id) and time.monotonic() < end:
            time.sleep(0.1)
        check(not trainer_pids(job_id), "trainers outlived their agent by 10 s")
        second = start_agent(args, env, tmp, "agent-b")
        j = env.wait_job(job_id, lambda j: int(j.get("attempt", 0)) >= 2 and
                         j.get("state") == "JOB_STATE_RUNNING", "attempt 2 running")
        check(int(j.get("restored_step", 0)) >= 5, f"attempt 2 restored step {j.get('restored_step')}")
        j = env.wait_job(job_id, lambda j: j.get("state") == "JOB_STATE_SUCCEEDED", "SUCCEEDED",
                         timeout=150)
        check(int(j.get("restarts", 0)) == 1, f"restarts counted: {j.get('restarts')}")
    finally:
        for a in (first, second):
            if a is not None and a.poll() is None:
                a.send_signal(signal.SIGTERM)
                a.wait(30)
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)


CASES = {name[5:]: fn for name, fn in globals().items() if name.startswith("case_")}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True, help="folder with vmae, vmae-worker, "
                        "vmae-coordinator and vmaectl")
    parser.add_argument("--case", required=True, choices=sorted(CASES))
    args = parser.parse_args()
    args.bin = os.path.abspath(args.bin)
    return run_case(CASES, args.case, args, "vmae-e2e-")

if __name__ == "__main__":
    sys.exit(main())
