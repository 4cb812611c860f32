#!/usr/bin/env python3
"""Integration test of client/python/vmae_client.py against a real coordinator.

    /usr/bin/python3 tests/integration/python/test_python_client.py \
        --coordinator build/bin/vmae-coordinator --stubs build/python --source-root .

It starts the coordinator on loopback (port 0, fresh state dir, a user token
and a worker join token), then:
  1. a fake in-process JobService checks what a real coordinator cannot be
     made to do on demand: watch resumes after a dropped stream without
     losing or repeating events, and download refuses unsafe file names and
     bad SHA-256s and leaves no files behind;
  2. vmae_client.py submit sends a job;
  3. a fake agent (the Python stubs of WorkerService, with the join token)
     registers, holds a Session, gets the assignment, reports 3 steps,
     uploads a checkpoint and reports the job done;
  4. vmae_client.py watch shows QUEUED->RUNNING, the losses and
     RUNNING->SUCCEEDED in order; checkpoints lists the checkpoint; download
     returns exactly the bytes the agent uploaded;
  5. calls without a token fail with UNAUTHENTICATED, the join token on
     JobService and a user token on WorkerService with PERMISSION_DENIED.
Only the standard library and grpc are used. Prints "N passed, 0 failed".
"""

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent import futures

import grpc

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "testing",
                                "python"))
import vmae_fixtures as fx  # noqa: E402
from vmae_fixtures import (FakeAgent, Results, TestFailure, coordinator_log, describe,  # noqa: E402
                           start_coordinator, stop_coordinator)

USER_TOKEN = "usertoken0123456789abc"
JOIN_TOKEN = "JOINTOKEN0123456789"
TEST_BUDGET_S = 55  # the whole test must end well within a minute.

# The fallback job when configs/demo-pretrain.yaml is missing.
MINIMAL_JOB_YAML = """\
kind: pretrain
name: py-demo
model: {arch: vit_small}
data: {root: /tmp, train: train.txt}
resources: {device: cpu, workers: 1}
optimizer: {epochs: 1, batch_size: 2, warmup_epochs: 0}
"""

# What the fake agent uploads; download must return exactly these bytes.
MODEL_BYTES = bytes(range(256)) * 4096 + b"vmae python client test tail"  # ~1 MiB + a bit.
MANIFEST_BYTES = b'{"step": 3, "samples_seen": 6, "note": "written by the python fake agent"}\n'

# Stub modules, imported in main() from --stubs.
js = jsg = ws = wsg = tp = None


def time_left(deadline):
    return max(1.0, deadline - time.monotonic())


# ---------------------------------------------------------------------------
# Running vmae_client.py
# ---------------------------------------------------------------------------

class ClientRunner:
    def __init__(self, script, stubs, deadline):
        self.script = script
        self.stubs = stubs
        self.deadline = deadline
        self.server = None

    def run(self, *args, token=None, server=None, timeout=20):
        cmd = [sys.executable, self.script, "--server", server or self.server,
               "--stubs", self.stubs]
        if token:
            cmd += ["--token", token]
        cmd += list(args)
        env = dict(os.environ)
        for k in ("VMAE_TOKEN", "VMAE_SERVER", "VMAE_PYTHON_STUBS"):
            env.pop(k, None)
        try:
            p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                               timeout=min(timeout, time_left(self.deadline)),
                               universal_newlines=True)
        except subprocess.TimeoutExpired as e:
            raise TestFailure("timed out: %s\nstdout so far:\n%s" % (
                " ".join(cmd), e.stdout or ""))
        return p


def show(p):
    return "exit %d\nstdout:\n%sstderr:\n%s" % (p.returncode, p.stdout, p.stderr)


# ---------------------------------------------------------------------------
# Part 1: the client against a fake JobService
# ---------------------------------------------------------------------------

def make_fake_job_service():
    """A JobService that drops watch streams and sends bad downloads."""

    class FakeJobService(jsg.JobServiceServicer):
        def __init__(self):
            self.watch_requests = []  # (job_id, after_seq)
            self.download_requests = []

        def _event(self, seq, **kw):
            return tp.JobEvent(seq=seq, job_id="j-fake00000001", **kw)

        def _state(self, seq, frm, to, reason):
            sc = tp.StateChange(to=to, reason=reason, attempt=1)
            setattr(sc, "from", frm)
            return self._event(seq, state=sc)

        def WatchJob(self, request, context):
            self.watch_requests.append((request.job_id, request.after_seq))
            job = tp.Job(id=request.job_id, name="fake", state=tp.JOB_STATE_RUNNING)
            yield self._event(99, snapshot=job)  # a snapshot's seq is not history.
            history = [
                self._state(1, tp.JOB_STATE_QUEUED, tp.JOB_STATE_RUNNING, "started"),
                self._event(2, metric=tp.MetricPoint(name="loss", step=1, value=0.9)),
                self._event(3, metric=tp.MetricPoint(name="loss", step=2, value=0.8)),
                self._state(4, tp.JOB_STATE_RUNNING, tp.JOB_STATE_SUCCEEDED, "finished"),
            ]
            if len(self.watch_requests) == 1:
                # First stream: two events, then the connection "drops".
                for e in history[:2]:
                    yield e
                context.abort(grpc.StatusCode.UNAVAILABLE, "simulated connection loss")
            # Later streams: from after_seq, and one event again (seq 2) that
            # a careless client would print twice.
            for e in history:
                if e.seq >= request.after_seq:
                    yield e

        def DownloadCheckpoint(self, request, context):
            self.download_requests.append(request.checkpoint)
            data = b"some bytes"
            sha = hashlib.sha256(data).hexdigest()
            if request.checkpoint == "evil":
                yield tp.DownloadChunk(file=tp.CheckpointFile(name="ok.bin", size=len(data),
                                                              sha256=sha))
                yield tp.DownloadChunk(data=data)
                yield tp.DownloadChunk(file=tp.CheckpointFile(name="../evil.bin",
                                                              size=len(data), sha256=sha))
                yield tp.DownloadChunk(data=data)
            elif request.checkpoint == "badsha":
                yield tp.DownloadChunk(file=tp.CheckpointFile(name="model.safetensors",
                                                              size=len(data), sha256="0" * 64))
                yield tp.DownloadChunk(data=data)
            else:
                context.abort(grpc.StatusCode.NOT_FOUND, "no checkpoint %s" % request.checkpoint)

    return FakeJobService()


def test_against_fake_server(results, runner, tmp):
    service = make_fake_job_service()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    jsg.add_JobServiceServicer_to_server(service, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    addr = "127.0.0.1:%d" % port
    try:
        p = runner.run("watch", "j-fake00000001", token=USER_TOKEN, server=addr)
        results.check("fake: watch exits 0 after a dropped stream", p.returncode == 0, show(p))
        seqs = [int(m) for m in re.findall(r"^seq=(\d+) ", p.stdout, re.M)]
        results.check("fake: watch prints each event once, in order", seqs == [1, 2, 3, 4],
                      "seqs %s\n%s" % (seqs, show(p)))
        results.check("fake: watch resumed with after_seq = last seen seq",
                      [a for _, a in service.watch_requests] == [0, 2],
                      "requests %s" % service.watch_requests)
        results.check("fake: snapshot printed once",
                      p.stdout.count("job j-fake00000001") == 1, show(p))

        out = os.path.join(tmp, "fake-evil")
        p = runner.run("download", "j-fake00000001", "evil", "-o", out, token=USER_TOKEN,
                       server=addr)
        results.check("fake: download refuses '../evil.bin'",
                      p.returncode != 0 and "unsafe file name" in p.stderr, show(p))
        results.check("fake: refused download leaves nothing behind",
                      os.listdir(out) == [] and not os.path.exists(
                          os.path.join(tmp, "evil.bin")), str(os.listdir(out)))

        out = os.path.join(tmp, "fake-badsha")
        p = runner.run("download", "j-fake00000001", "badsha", "-o", out, token=USER_TOKEN,
                       server=addr)
        results.check("fake: download rejects a SHA-256 mismatch",
                      p.returncode != 0 and "SHA-256" in p.stderr, show(p))
        results.check("fake: rejected download leaves no .part or file",
                      os.listdir(out) == [], str(os.listdir(out)))

        p = runner.run("download", "j-fake00000001", "nope", "-o", out, token=USER_TOKEN,
                       server=addr)
        lines = p.stderr.strip().splitlines()
        results.check("fake: gRPC error -> one line with code name, exit 5",
                      p.returncode == 5 and len(lines) == 1 and "NOT_FOUND: no checkpoint nope"
                      in lines[0], show(p))
    finally:
        server.stop(None)


# ---------------------------------------------------------------------------
# The fake agent (WorkerService)
# ---------------------------------------------------------------------------

def expect_rpc_error(fn, code):
    """Calls fn; returns (ok, detail) for 'it failed with this status code'."""
    try:
        fn()
    except grpc.RpcError as e:
        return e.code() == code, describe(e)
    return False, "the call succeeded"


# ---------------------------------------------------------------------------
# Part 2: against the real coordinator
# ---------------------------------------------------------------------------

def test_against_coordinator(results, runner, args, tmp, deadline, proc, addr):
    # -- submit -------------------------------------------------------------
    demo = os.path.join(args.source_root, "configs", "demo-pretrain.yaml")
    if os.path.isfile(demo):
        # The demo wants 2 workers; our fake agent has one device.
        job_file, overrides = demo, ["--set", "resources.workers=1",
                                     "--set", "resources.min_workers=1"]
    else:
        job_file, overrides = os.path.join(tmp, "job.yaml"), []
        with open(job_file, "w") as f:
            f.write(MINIMAL_JOB_YAML)
    p = runner.run("submit", job_file, *overrides, "--idempotency-key", "py-client-test-1",
                   token=USER_TOKEN)
    results.check("submit accepted (%s)" % os.path.basename(job_file), p.returncode == 0,
                  show(p))
    job_id = p.stdout.strip()
    results.check("submit prints the job id", re.fullmatch(r"j-[0-9a-f]{12}", job_id) is not None,
                  repr(p.stdout))
    p = runner.run("submit", job_file, *overrides, "--idempotency-key", "py-client-test-1",
                   token=USER_TOKEN)
    results.check("submit with the same idempotency key returns the same job",
                  p.returncode == 0 and p.stdout.strip() == job_id, show(p))

    p = runner.run("watch", job_id, "--until-state", "QUEUED", token=USER_TOKEN)
    results.check("watch --until-state QUEUED returns at once",
                  p.returncode == 0 and "QUEUED" in p.stdout, show(p))

    # -- the fake agent runs it -----------------------------------------------
    channel = grpc.insecure_channel(addr)
    agent = FakeAgent(channel, JOIN_TOKEN)
    try:
        reg = agent.register()
        results.check("agent registers with the join token", reg.epoch > 0, str(reg))
        agent.open_session()
        # A coordinator holds back scheduling for one lease (15 s) after it
        # starts, so the assignment takes that long to come.
        wait_s = min(30, time_left(deadline))
        assign = agent.wait_assignment(job_id, timeout=wait_s)
        results.check("agent gets the assignment", assign is not None,
                      "no assignment for %s within %.0f s\n%s" % (job_id, wait_s,
                                                                  coordinator_log(tmp)))
        results.check("assignment is one rank on py-agent",
                      assign.world_size == 1 and len(assign.ranks) == 1
                      and assign.ranks[0].agent_id == "py-agent", str(assign))
        attempt = assign.attempt

        losses = [0.9, 0.7, 0.5]
        for step, loss in enumerate(losses, start=1):
            agent.send(step=ws.StepReport(job_id=job_id, attempt=attempt, step=step,
                                          total_steps=3, samples_seen=2 * step, epoch=0,
                                          loss=loss, lr=1e-3, clips_per_second=10.0))

        files = [("model.safetensors", MODEL_BYTES), ("manifest.json", MANIFEST_BYTES)]
        begun, up = agent.upload(job_id, attempt, step=3, samples_seen=6, files=files)
        results.check("BeginCheckpointUpload gives an upload id", bool(begun.upload_id),
                      str(begun))
        results.check("checkpoint upload committed", up.committed, str(up))
        ckpt_id = up.checkpoint.id
        agent.send(done=ws.JobDone(job_id=job_id, attempt=attempt, step=3))

        # -- watch ---------------------------------------------------------------
        p = runner.run("watch", job_id, token=USER_TOKEN, timeout=20)
        results.check("watch exits 0 once the job SUCCEEDED", p.returncode == 0, show(p))
        lines = p.stdout.splitlines()

        def index(pattern, start=0):
            for i in range(start, len(lines)):
                if re.search(pattern, lines[i]):
                    return i
            return -1

        i_run = index(r"^seq=\d+ state QUEUED->RUNNING")
        i_ok = index(r"^seq=\d+ state RUNNING->SUCCEEDED", max(i_run, 0))
        results.check("watch shows QUEUED->RUNNING then RUNNING->SUCCEEDED",
                      0 <= i_run < i_ok and i_ok == len(lines) - 1, show(p))
        seen = [(int(s), float(v)) for s, v in
                re.findall(r"^seq=\d+ metric loss step=(\d+) value=(\S+)$",
                           "\n".join(lines[i_run:i_ok]), re.M)]
        results.check("watch shows the 3 losses between them, in order",
                      seen == list(zip([1, 2, 3], losses)), "%s\n%s" % (seen, show(p)))
        seqs = [int(s) for s in re.findall(r"^seq=(\d+) ", p.stdout, re.M)]
        results.check("watch event seqs increase by one",
                      seqs == list(range(seqs[0], seqs[0] + len(seqs))) if seqs else False,
                      str(seqs))
        results.check("watch shows the checkpoint",
                      index(r"^seq=\d+ checkpoint %s step=3" % re.escape(ckpt_id)) > i_run,
                      show(p))

        last = seqs[-1] if seqs else 0
        p = runner.run("watch", job_id, "--after-seq", str(last - 1), token=USER_TOKEN)
        tail = re.findall(r"^seq=(\d+) ", p.stdout, re.M)
        results.check("watch --after-seq resumes with the next event only",
                      p.returncode == 0 and tail == [str(last)], show(p))

        # -- checkpoints and download -------------------------------------------
        p = runner.run("checkpoints", job_id, token=USER_TOKEN)
        results.check("checkpoints lists the uploaded checkpoint",
                      p.returncode == 0 and re.search(
                          r"^%s step=3 size=%d files=model.safetensors,manifest.json" % (
                              re.escape(ckpt_id), len(MODEL_BYTES) + len(MANIFEST_BYTES)),
                          p.stdout, re.M) is not None, show(p))

        for which in ("", ckpt_id):
            out = os.path.join(tmp, "download-" + (which or "latest"))
            cmd = ["download", job_id] + ([which] if which else []) + ["-o", out]
            p = runner.run(*cmd, token=USER_TOKEN)
            results.check("download %s exits 0" % (which or "(latest)"), p.returncode == 0,
                          show(p))
            got = {}
            for name in sorted(os.listdir(out)):
                with open(os.path.join(out, name), "rb") as f:
                    got[name] = f.read()
            results.check("download %s returns exactly the uploaded bytes" % (which or "(latest)"),
                          got == dict(files),
                          "files %s, sizes %s" % (sorted(got), {k: len(v) for k, v in got.items()}))

        # -- authentication ----------------------------------------------------
        p = runner.run("checkpoints", job_id)
        results.check("no token -> UNAUTHENTICATED (exit 4, one line)",
                      p.returncode == 4 and p.stderr.strip().startswith(
                          "vmae_client: UNAUTHENTICATED") and len(p.stderr.strip().splitlines())
                      == 1, show(p))
        p = runner.run("watch", job_id, token=JOIN_TOKEN)
        results.check("join token on JobService -> PERMISSION_DENIED (exit 4)",
                      p.returncode == 4 and "PERMISSION_DENIED" in p.stderr, show(p))
        p = runner.run("checkpoints", job_id, token="not-a-token-at-all")
        results.check("unknown token -> UNAUTHENTICATED",
                      p.returncode == 4 and "UNAUTHENTICATED" in p.stderr, show(p))
        user_ws = wsg.WorkerServiceStub(channel)
        ok, detail = expect_rpc_error(lambda: user_ws.Register(
            ws.RegisterRequest(agent_id="intruder", devices=[tp.Device(kind="cpu")]),
            metadata=[("authorization", "Bearer " + USER_TOKEN)], timeout=10),
            grpc.StatusCode.PERMISSION_DENIED)
        results.check("user token on WorkerService -> PERMISSION_DENIED", ok, detail)
        results.check("the agent's Session stayed up", agent.stream_error is None,
                      describe(agent.stream_error) if agent.stream_error else "")
    finally:
        agent.close()
        channel.close()

    code = stop_coordinator(proc)
    results.check("coordinator exits 0 on SIGTERM", code == 0,
                  "exit %s\n%s" % (code, coordinator_log(tmp)))


def main():
    global js, jsg, ws, wsg, tp
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--coordinator", required=True, help="the vmae-coordinator binary")
    ap.add_argument("--stubs", required=True, help="generated Python stubs (build/python)")
    ap.add_argument("--source-root", required=True, help="the repository root")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (debugging)")
    args = ap.parse_args()
    deadline = time.monotonic() + TEST_BUDGET_S

    script = os.path.join(args.source_root, "client", "python", "vmae_client.py")
    for path, what in ((args.coordinator, "coordinator binary"), (script, "vmae_client.py"),
                       (os.path.join(args.stubs, "vmae", "v1", "worker_service_pb2.py"),
                        "generated stubs (build the vmae_python_stubs target)")):
        if not os.path.isfile(path):
            print("FAIL setup: no %s at %s" % (what, path))
            print("0 passed, 1 failed")
            return 1
    js, jsg, ws, wsg, tp = fx.load_stubs(args.stubs)

    results = Results()
    runner = ClientRunner(script, args.stubs, deadline)
    tmp = tempfile.mkdtemp(prefix="vmae-pyclient-")
    proc = None
    start = time.monotonic()
    try:
        test_against_fake_server(results, runner, tmp)
        proc, addr, _ = start_coordinator(args.coordinator, tmp, USER_TOKEN, JOIN_TOKEN)
        runner.server = addr
        test_against_coordinator(results, runner, args, tmp, deadline, proc, addr)
        elapsed = time.monotonic() - start
        results.check("finished within %d s (took %.1f s)" % (TEST_BUDGET_S, elapsed),
                      elapsed < TEST_BUDGET_S)
    except TestFailure as e:
        if results.failed == 0:  # raised outside a check: count it.
            results.failed += 1
            print("FAIL %s" % e, flush=True)
        if proc is not None:
            print(coordinator_log(tmp), flush=True)
    except Exception as e:  # noqa: BLE001 - report anything unexpected as a failure.
        results.failed += 1
        import traceback
        traceback.print_exc()
        print("FAIL unexpected %s: %s" % (type(e).__name__, e), flush=True)
        if proc is not None:
            print(coordinator_log(tmp), flush=True)
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        if args.keep:
            print("kept %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print("%d passed, %d failed" % (results.passed, results.failed), flush=True)
    return 0 if results.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
