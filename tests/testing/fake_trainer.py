#!/usr/bin/env python3
"""A stand-in for `vmae train` that speaks docs/trainer-protocol.md, for the
agent's tests: no model, tiny fake work, real rendezvous (rank 0 listens on
a TCP port, other ranks connect to --store), real checkpoint directories.

    fake_trainer.py train --spec S --job-id J --attempt A --rank R --world-size W
                          --work-dir D [--store H:P] [--resume C] [--init-from C] ...

Behaviour comes from the environment (the agent passes its own on):
  FAKE_TRAINER_STEPS=10         steps in the whole run
  FAKE_TRAINER_SLEEP=0.05       seconds per step
  FAKE_TRAINER_CKPT_EVERY=N     periodic checkpoint every N steps (default:
                                the spec's checkpoint.every_steps; 0: none)
  FAKE_TRAINER_EVAL_EVERY=N     eval event every N steps (0: none)
  FAKE_TRAINER_FAIL_AT=K        fail at step K ...
  FAKE_TRAINER_FAIL_RANK=0      ... on this rank (-1: every rank)
  FAKE_TRAINER_FAIL_ATTEMPT=0   ... only in this attempt (0: every attempt)
  FAKE_TRAINER_FAIL_CODE=2      ... exiting with this code
  FAKE_TRAINER_FAIL_KIND=user   ... after an error event of this kind ("" for none)
  FAKE_TRAINER_FAIL_MESSAGE=... ... with this message (also printed on stderr)
  FAKE_TRAINER_GARBAGE=1        print non-JSON, broken JSON and a 100 KiB line first
  FAKE_TRAINER_PID_DIR=DIR      write DIR/<job>-a<attempt>-r<rank>.pid
  FAKE_TRAINER_PAUSE_DELAY=S    rank 0 takes S seconds to write its pause
                                checkpoint (the other ranks stop first)
SIGTERM: finish the step, rank 0 writes a `pause` checkpoint, print
`stopped`, exit 0.
"""

import argparse
import hashlib
import json
import os
import signal
import socket
import sys
import threading
import time

stop_requested = False


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def env_int(name, default):
    v = os.environ.get(name, "")
    return int(v) if v.strip() else default


def on_sigterm(signum, frame):
    global stop_requested
    stop_requested = True


def write_checkpoint(work_dir, step, samples_seen, reason, job_id):
    ckpt_root = os.path.join(work_dir, "checkpoints")
    final = os.path.join(ckpt_root, "step-%d" % step)
    tmp = final + ".tmp"
    os.makedirs(tmp, exist_ok=True)
    # Deterministic content, so tests can compute the SHA-256 themselves.
    weights = hashlib.sha256(("%s-%d" % (job_id, step)).encode()).digest() * 4096  # 128 KiB
    with open(os.path.join(tmp, "model.safetensors"), "wb") as f:
        f.write(weights)
    with open(os.path.join(tmp, "manifest.json"), "w") as f:
        json.dump({"step": step, "samples_seen": samples_seen, "reason": reason}, f)
    if os.path.isdir(final):
        for n in os.listdir(final):
            os.remove(os.path.join(final, n))
        os.rmdir(final)
    os.rename(tmp, final)
    # Keep the last three, as the real trainer does.
    dirs = sorted((d for d in os.listdir(ckpt_root) if d.startswith("step-") and not d.endswith(".tmp")),
                  key=lambda d: int(d.split("-")[1]))
    for d in dirs[:-3]:
        p = os.path.join(ckpt_root, d)
        for n in os.listdir(p):
            os.remove(os.path.join(p, n))
        os.rmdir(p)
    return final


def serve_store(sock):
    """Rank 0's 'TCPStore': accepts peers and answers 'ok'."""
    while True:
        try:
            conn, _ = sock.accept()
        except OSError:
            return
        try:
            conn.recv(64)
            conn.sendall(b"ok\n")
        finally:
            conn.close()


def join_store(store, timeout_s=20):
    host, port = store.rsplit(":", 1)
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with socket.create_connection((host, int(port)), timeout=2) as c:
                c.sendall(b"hello\n")
                if c.recv(16).startswith(b"ok"):
                    return True
        except OSError:
            pass
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)


def main():
    if len(sys.argv) < 2 or sys.argv[1] != "train":
        sys.stderr.write("usage: fake_trainer.py train --spec ... (see the module doc)\n")
        return 2
    ap = argparse.ArgumentParser()
    for flag in ("--spec", "--job-id", "--work-dir", "--store", "--data-root", "--resume",
                 "--init-from", "--device", "--collective-timeout-s"):
        ap.add_argument(flag, default="")
    for flag in ("--attempt", "--rank", "--world-size", "--threads"):
        ap.add_argument(flag, type=int, default=0)
    args = ap.parse_args(sys.argv[2:])
    signal.signal(signal.SIGTERM, on_sigterm)

    with open(args.spec) as f:
        spec = json.load(f)
    steps = env_int("FAKE_TRAINER_STEPS", 10)
    sleep_s = float(os.environ.get("FAKE_TRAINER_SLEEP", "0.05"))
    ckpt_every = env_int("FAKE_TRAINER_CKPT_EVERY",
                         int(spec.get("checkpoint", {}).get("every_steps", 0) or 0))
    eval_every = env_int("FAKE_TRAINER_EVAL_EVERY", 0)
    fail_at = env_int("FAKE_TRAINER_FAIL_AT", -1)
    fail_rank = env_int("FAKE_TRAINER_FAIL_RANK", 0)
    fail_attempt = env_int("FAKE_TRAINER_FAIL_ATTEMPT", 0)
    fail_code = env_int("FAKE_TRAINER_FAIL_CODE", 2)
    fail_kind = os.environ.get("FAKE_TRAINER_FAIL_KIND", "user")
    fail_message = os.environ.get("FAKE_TRAINER_FAIL_MESSAGE", "loss is NaN at step %d" % fail_at)
    rank, job = args.rank, args.job_id

    with open(os.path.join(args.work_dir, "pid"), "w") as f:
        f.write("%d\n" % os.getpid())
    pid_dir = os.environ.get("FAKE_TRAINER_PID_DIR", "")
    if pid_dir:
        with open(os.path.join(pid_dir, "%s-a%d-r%d.pid" % (job, args.attempt, rank)), "w") as f:
            f.write("%d\n" % os.getpid())
    emit({"event": "started", "rank": rank, "pid": os.getpid()})
    print("fake trainer rank %d of %d on %s, %d threads, OMP_NUM_THREADS=%s" % (
        rank, args.world_size, args.device, args.threads, os.environ.get("OMP_NUM_THREADS")), flush=True)
    if os.environ.get("FAKE_TRAINER_GARBAGE") == "1":
        print("this is not json", flush=True)
        print('{"event": "step", "step": ', flush=True)
        print('{"event": "no-such-event"}', flush=True)
        print("x" * (100 * 1024), flush=True)

    if rank == 0:
        srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(("0.0.0.0", 0))
        srv.listen(16)
        threading.Thread(target=serve_store, args=(srv,), daemon=True).start()
        emit({"event": "rendezvous", "port": srv.getsockname()[1]})
    else:
        if not args.store or not join_store(args.store):
            emit({"event": "error", "kind": "infra", "message": "cannot reach the store at '%s'" % args.store})
            return 1

    start = 0
    if args.resume:
        with open(os.path.join(args.resume, "manifest.json")) as f:
            start = int(json.load(f)["step"])
        sys.stderr.write("resuming from %s at step %d\n" % (args.resume, start))
    batch = 8 * max(1, args.world_size)
    step = start
    restored_pending = bool(args.resume)
    while step < steps:
        if stop_requested:
            break
        time.sleep(sleep_s)
        step += 1
        if step == fail_at and (fail_rank < 0 or fail_rank == rank) and \
                (fail_attempt == 0 or fail_attempt == args.attempt):
            if fail_kind:
                emit({"event": "error", "kind": fail_kind, "message": fail_message})
            sys.stderr.write("fatal: %s\n" % fail_message)
            sys.stderr.flush()
            return fail_code
        if rank == 0:
            extra = {"restored_step": start} if restored_pending else {}
            restored_pending = False
            emit({"event": "step", "step": step, "total_steps": steps, "samples_seen": step * batch,
                  "epoch": 0, "loss": 1.0 / step, "lr": 1e-3, "grad_norm": 0.5,
                  "clips_per_second": 100.0, "data_seconds": 0.001, "compute_seconds": sleep_s,
                  "allreduce_seconds": 0.0, "extra": extra, "data_errors": {}})
            if step % 5 == 0:
                print("step %d loss %.4f" % (step, 1.0 / step), flush=True)
            if eval_every and step % eval_every == 0:
                emit({"event": "eval", "step": step, "epoch": 0, "val_top1": 50.0 + step,
                      "val_top5": 90.0, "val_loss": 0.7})
            if ckpt_every and step % ckpt_every == 0 and step < steps:
                d = write_checkpoint(args.work_dir, step, step * batch, "periodic", job)
                emit({"event": "checkpoint", "step": step, "samples_seen": step * batch, "dir": d,
                      "reason": "periodic", "val_top1": 0})
    if stop_requested and step < steps:
        if rank == 0:
            time.sleep(float(os.environ.get("FAKE_TRAINER_PAUSE_DELAY", "0")))
            d = write_checkpoint(args.work_dir, step, step * batch, "pause", job)
            emit({"event": "checkpoint", "step": step, "samples_seen": step * batch, "dir": d,
                  "reason": "pause", "val_top1": 0})
        emit({"event": "stopped", "step": step})
        return 0
    if rank == 0:
        d = write_checkpoint(args.work_dir, step, step * batch, "final", job)
        emit({"event": "checkpoint", "step": step, "samples_seen": step * batch, "dir": d,
              "reason": "final", "val_top1": 0})
        emit({"event": "done", "step": step})
    return 0


if __name__ == "__main__":
    sys.exit(main())
