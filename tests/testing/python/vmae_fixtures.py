"""Fixtures shared by the Python integration tests: a fake node agent played
through the generated WorkerService stubs, and a real vmae-coordinator on
loopback. Only the standard library and grpc.

    import vmae_fixtures as fx
    fx.load_stubs("build/python")
    proc, addr, metrics_port = fx.start_coordinator(binary, tmp, user_token, join_token)
"""

import hashlib
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import grpc

# Stub modules, set by load_stubs().
js = jsg = ws = wsg = tp = None


def load_stubs(stubs_dir):
    """Imports the generated vmae.v1 modules from stubs_dir (the
    vmae_python_stubs target's output); returns (js, jsg, ws, wsg, tp)."""
    global js, jsg, ws, wsg, tp
    sys.path.insert(0, os.path.abspath(stubs_dir))
    from vmae.v1 import job_service_pb2, job_service_pb2_grpc  # noqa: E402
    from vmae.v1 import worker_service_pb2, worker_service_pb2_grpc  # noqa: E402
    from vmae.v1 import types_pb2  # noqa: E402
    js, jsg = job_service_pb2, job_service_pb2_grpc
    ws, wsg, tp = worker_service_pb2, worker_service_pb2_grpc, types_pb2
    return js, jsg, ws, wsg, tp


class TestFailure(Exception):
    pass


class Results:
    def __init__(self):
        self.passed = 0
        self.failed = 0
        self.start = time.monotonic()

    def check(self, name, ok, detail=""):
        if ok:
            self.passed += 1
            print("PASS [%5.1fs] %s" % (time.monotonic() - self.start, name), flush=True)
            return
        self.failed += 1
        print("FAIL [%5.1fs] %s%s" % (time.monotonic() - self.start, name, (": " + detail) if detail else ""), flush=True)
        raise TestFailure(name)


class FakeAgent:
    """Plays vmae-worker: Register, a Session stream, heartbeats, reports."""

    def __init__(self, channel, join_token, agent_id="py-agent"):
        self.stub = wsg.WorkerServiceStub(channel)
        self.md = [("authorization", "Bearer " + join_token)]
        self.agent_id = agent_id
        self.outgoing = queue.Queue()
        self.incoming = queue.Queue()
        self.stream_error = None
        self.running = []  # RunningRank, reported in heartbeats.
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.call = None

    def register(self):
        r = self.stub.Register(ws.RegisterRequest(
            agent_id=self.agent_id, node="py-node", address="127.0.0.1",
            devices=[tp.Device(kind="cpu", index=0)], version="test"),
            metadata=self.md, timeout=10)
        self.epoch = r.epoch
        self.heartbeat_s = (r.heartbeat_interval_ms or 2000) / 1000.0
        return r

    def _requests(self):
        while True:
            msg = self.outgoing.get()
            if msg is None:
                return
            yield msg

    def open_session(self):
        self.outgoing.put(ws.AgentMessage(hello=ws.SessionHello(agent_id=self.agent_id,
                                                                epoch=self.epoch)))
        self.call = self.stub.Session(self._requests(), metadata=self.md)

        def read():
            try:
                for msg in self.call:
                    self.incoming.put(msg)
            except grpc.RpcError as e:
                if not self.stop.is_set():
                    self.stream_error = e
            self.incoming.put(None)

        def beat():
            while not self.stop.wait(self.heartbeat_s):
                self.heartbeat()

        self.reader = threading.Thread(target=read, daemon=True)
        self.reader.start()
        self.heartbeat()
        self.beater = threading.Thread(target=beat, daemon=True)
        self.beater.start()

    def heartbeat(self):
        with self.lock:
            running = list(self.running)
        self.outgoing.put(ws.AgentMessage(heartbeat=ws.Heartbeat(running=running)))

    def send(self, **kw):
        self.outgoing.put(ws.AgentMessage(**kw))

    def wait_assignment(self, job_id, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                msg = self.incoming.get(timeout=max(0.01, end - time.monotonic()))
            except queue.Empty:
                break
            if msg is None:
                raise TestFailure("the Session stream ended: %s" % (
                    describe(self.stream_error) if self.stream_error else "no error"))
            if msg.WhichOneof("payload") == "assign" and msg.assign.job_id == job_id:
                a = msg.assign
                with self.lock:
                    self.running = [ws.RunningRank(job_id=a.job_id, attempt=a.attempt,
                                                   rank=r.rank) for r in a.ranks]
                return a
        return None

    def upload(self, job_id, attempt, step, samples_seen, files):
        declared = [tp.CheckpointFile(name=n, size=len(d), sha256=hashlib.sha256(d).hexdigest())
                    for n, d in files]
        state = self.stub.BeginCheckpointUpload(ws.BeginCheckpointUploadRequest(
            job_id=job_id, attempt=attempt, step=step, samples_seen=samples_seen,
            files=declared), metadata=self.md, timeout=10)

        def chunks():
            held = {f.name: f.size for f in state.received}
            for name, data in files:
                off = held.get(name, 0)
                while off < len(data):
                    piece = data[off:off + (1 << 20)]  # at most 1 MiB per chunk.
                    yield ws.UploadChunk(upload_id=state.upload_id, file=name, offset=off,
                                         data=piece)
                    off += len(piece)

        return state, self.stub.UploadCheckpoint(chunks(), metadata=self.md, timeout=20)

    def close(self):
        self.stop.set()
        self.outgoing.put(None)
        if self.call is not None:
            self.call.cancel()


def describe(err):
    try:
        return "%s: %s" % (err.code().name, err.details())
    except Exception:  # noqa: BLE001 - a non-RPC error.
        return str(err)


# ---------------------------------------------------------------------------
# Coordinator
# ---------------------------------------------------------------------------

def start_coordinator(binary, tmp, user_token, join_token, extra_args=()):
    """Starts vmae-coordinator on loopback ports chosen by the kernel, with a
    fresh state dir under tmp; returns (process, "127.0.0.1:PORT", metrics port)."""
    state = os.path.join(tmp, "state")
    ports = os.path.join(tmp, "ports")
    tokens = os.path.join(tmp, "tokens")
    with open(tokens, "w") as f:
        f.write("%s alice user\n" % user_token)
    log = open(os.path.join(tmp, "coordinator.log"), "wb")
    cmd = [binary, "--listen", "127.0.0.1:0", "--metrics-port", "0", "--state-dir", state,
           "--port-file", ports, "--worker-join-token", join_token, "--auth-tokens", tokens,
           *extra_args]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    log.close()
    end = time.monotonic() + 15
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise TestFailure("the coordinator exited with %d before serving\n%s"
                              % (proc.returncode, coordinator_log(tmp)))
        try:
            with open(ports) as f:
                text = f.read()
            grpc_port = re.search(r"^grpc=(\d+)$", text, re.M)
            metrics_port = re.search(r"^metrics=(\d+)$", text, re.M)
            if grpc_port and metrics_port:
                return proc, "127.0.0.1:" + grpc_port.group(1), int(metrics_port.group(1))
        except FileNotFoundError:
            pass
        time.sleep(0.05)
    raise TestFailure("no grpc= line in %s after 15 s\n%s" % (ports, coordinator_log(tmp)))


def coordinator_log(tmp, lines=40):
    try:
        with open(os.path.join(tmp, "coordinator.log"), errors="replace") as f:
            return "--- coordinator log (tail) ---\n" + "".join(f.readlines()[-lines:])
    except OSError:
        return ""


def stop_coordinator(proc):
    """SIGTERM, then SIGKILL if it does not exit within 10 s; returns the exit code."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            return None
    return proc.returncode


def run_case(cases, name, args, prefix):
    """Runs cases[name](args, tmp) in a fresh temporary folder, removed
    afterwards; prints PASS or FAIL and returns the exit code."""
    tmp = tempfile.mkdtemp(prefix=prefix)
    try:
        cases[name](args, tmp)
    except TestFailure as e:
        print(f"FAIL {name}: {e}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"PASS {name}")
    return 0


def trainer_pids(job_id, rank=None):
    """PIDs of `vmae train` processes of a job (optionally one rank)."""
    pids = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        words = [a.decode(errors="replace") for a in argv]
        if "train" in words and job_id in words and (
                rank is None or (("--rank" in words) and words[words.index("--rank") + 1] == str(rank))):
            pids.append(int(pid))
    return pids
