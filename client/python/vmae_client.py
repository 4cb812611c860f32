#!/usr/bin/env python3
"""vmae_client: an example of scripting vmae (JobService) from Python.

It is both a small library and a command-line tool:

    import vmae_client
    client = vmae_client.Client.connect("127.0.0.1:7070", token="...")
    job = client.submit(open("configs/demo-pretrain.yaml").read(),
                        overrides=["resources.workers=1"])
    for event in client.watch(job.id):
        print(vmae_client.format_event(event))
    client.download(job.id, "latest", "out/")

    $ vmae_client.py --token T submit configs/demo-pretrain.yaml --set optimizer.epochs=2
    $ vmae_client.py watch j-0123456789ab
    $ vmae_client.py checkpoints j-0123456789ab
    $ vmae_client.py download j-0123456789ab latest -o out/

Only the standard library and grpcio/protobuf are needed, plus the Python
stubs the build generates from proto/vmae/v1/*.proto (build/python/vmae/v1);
point VMAE_PYTHON_STUBS or --stubs at that build/python directory.

Exit codes follow vmaectl's (client/exit_codes.h), so scripts can branch on
them: 0 ok; 1 failed (watch: the job FAILED or was CANCELLED); 2 bad command
line or INVALID_ARGUMENT; 3 UNAVAILABLE or DEADLINE_EXCEEDED; 4
UNAUTHENTICATED or PERMISSION_DENIED; 5 NOT_FOUND; 6 FAILED_PRECONDITION.
"""

import argparse
import hashlib
import importlib
import os
import sys
import time
import uuid

import grpc

DEFAULT_SERVER = "127.0.0.1:7070"

# The coordinator sends checkpoint data in 1 MiB chunks; gRPC's default
# receive limit is 4 MiB. Set both limits explicitly (design.md, "API").
MAX_MESSAGE_BYTES = 8 * 1024 * 1024

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_AUTH = 4
EXIT_NOT_FOUND = 5
EXIT_FAILED_PRECONDITION = 6

_EXIT_FOR_CODE = {
    grpc.StatusCode.INVALID_ARGUMENT: EXIT_USAGE,
    grpc.StatusCode.UNAVAILABLE: EXIT_UNREACHABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED: EXIT_UNREACHABLE,
    grpc.StatusCode.UNAUTHENTICATED: EXIT_AUTH,
    grpc.StatusCode.PERMISSION_DENIED: EXIT_AUTH,
    grpc.StatusCode.NOT_FOUND: EXIT_NOT_FOUND,
    grpc.StatusCode.FAILED_PRECONDITION: EXIT_FAILED_PRECONDITION,
}

STUBS_MISSING_HINT = (
    "build the project first: the stubs are generated under build/python "
    "(then pass --stubs build/python or set VMAE_PYTHON_STUBS)")


class ClientError(Exception):
    """A problem on the client's side (stubs, files, a bad download)."""

    def __init__(self, message, exit_code=EXIT_FAILED):
        super().__init__(message)
        self.exit_code = exit_code


# ---------------------------------------------------------------------------
# Stubs
# ---------------------------------------------------------------------------

# Filled in by load_stubs(): the generated modules.
pb = None        # vmae.v1.job_service_pb2 (requests and responses)
types_pb = None  # vmae.v1.types_pb2 (Job, JobEvent, JobState, ...)
pb_grpc = None   # vmae.v1.job_service_pb2_grpc (JobServiceStub)


def load_stubs(stubs_dir=None):
    """Imports the generated vmae.v1 modules.

    stubs_dir is the directory that contains vmae/v1/*_pb2.py (the build's
    python/ folder); it defaults to $VMAE_PYTHON_STUBS. Without either, the
    modules must already be importable (e.g. on PYTHONPATH).
    """
    global pb, types_pb, pb_grpc
    stubs_dir = stubs_dir or os.environ.get("VMAE_PYTHON_STUBS")
    if stubs_dir:
        if not os.path.isfile(os.path.join(stubs_dir, "vmae", "v1", "job_service_pb2.py")):
            raise ClientError("no vmae stubs in %s: %s" % (stubs_dir, STUBS_MISSING_HINT))
        stubs_dir = os.path.abspath(stubs_dir)
        if stubs_dir not in sys.path:
            sys.path.insert(0, stubs_dir)
    try:
        pb = importlib.import_module("vmae.v1.job_service_pb2")
        types_pb = importlib.import_module("vmae.v1.types_pb2")
        pb_grpc = importlib.import_module("vmae.v1.job_service_pb2_grpc")
    except ImportError as e:
        raise ClientError("cannot import the vmae stubs (%s): %s" % (e, STUBS_MISSING_HINT))


# ---------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------

TERMINAL_STATES = ("SUCCEEDED", "FAILED", "CANCELLED")


def state_name(value):
    """JobState enum value -> short name ("RUNNING")."""
    name = types_pb.JobState.Name(value) if value in types_pb.JobState.values() else str(value)
    return name[len("JOB_STATE_"):] if name.startswith("JOB_STATE_") else name


def parse_state(text):
    """"running" or "JOB_STATE_RUNNING" -> "RUNNING"; ValueError if unknown."""
    name = text.strip().upper()
    if name.startswith("JOB_STATE_"):
        name = name[len("JOB_STATE_"):]
    if name == "UNSPECIFIED" or "JOB_STATE_" + name not in types_pb.JobState.keys():
        known = [n[len("JOB_STATE_"):] for n in types_pb.JobState.keys()
                 if n != "JOB_STATE_UNSPECIFIED"]
        raise ValueError("unknown job state %r (one of %s)" % (text, ", ".join(known)))
    return name


def format_event(event):
    """One human-readable line for a JobEvent."""
    kind = event.WhichOneof("payload")
    if kind == "snapshot":
        # The first event of every stream: the job as it is now. Its seq is
        # not part of the job's history (see watch()).
        job = event.snapshot
        line = "job %s (%s) %s" % (job.id, job.name, state_name(job.state))
        if job.attempt:
            line += " attempt=%d" % job.attempt
        if job.step:
            line += " step=%d loss=%.4g" % (job.step, job.loss)
        if job.state_reason:
            line += ": " + job.state_reason
        return line
    prefix = "seq=%d " % event.seq
    if kind == "state":
        c = event.state
        line = prefix + "state %s->%s" % (state_name(getattr(c, "from")), state_name(c.to))
        if c.reason:
            line += ": " + c.reason
        return line
    if kind == "metric":
        m = event.metric
        return prefix + "metric %s step=%d value=%.6g" % (m.name, m.step, m.value)
    if kind == "checkpoint":
        c = event.checkpoint
        return prefix + "checkpoint %s step=%d size=%d%s" % (
            c.id, c.step, c.size_bytes, " best" if c.best else "")
    if kind == "log":
        return prefix + "log rank=%d: %s" % (event.log.rank, event.log.text)
    return prefix + "(unknown event)"


def describe_rpc_error(err):
    """A grpc.RpcError -> "NOT_FOUND: job j-... not found"."""
    code = err.code() if hasattr(err, "code") else None
    details = err.details() if hasattr(err, "details") else str(err)
    name = code.name if code is not None else "UNKNOWN"
    return "%s: %s" % (name, (details or "").replace("\n", " "))


def _safe_file_name(name):
    """Checkpoint files are plain names; anything else could escape DIR."""
    return (bool(name) and name not in (".", "..") and "/" not in name and "\\" not in name
            and ".." not in name and "\0" not in name)


# ---------------------------------------------------------------------------
# The client
# ---------------------------------------------------------------------------

class Client:
    """A JobService client: one channel, a bearer token on every call."""

    def __init__(self, channel, token=None, timeout=30.0):
        if pb_grpc is None:
            load_stubs()
        self.channel = channel
        self.stub = pb_grpc.JobServiceStub(channel)
        # Every call carries "authorization: Bearer <token>" as metadata. We
        # pass it per call rather than as grpc call credentials, because gRPC
        # only sends call credentials over TLS channels, and a coordinator on
        # loopback may run without TLS.
        self.metadata = [("authorization", "Bearer " + token)] if token else []
        self.timeout = timeout  # deadline of unary calls, seconds.

    @classmethod
    def connect(cls, server=None, token=None, tls_ca=None, timeout=30.0):
        """Opens a channel to the coordinator (TLS when tls_ca is given)."""
        server = server or os.environ.get("VMAE_SERVER") or DEFAULT_SERVER
        options = [
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ]
        if tls_ca:
            try:
                with open(tls_ca, "rb") as f:
                    ca = f.read()
            except OSError as e:
                raise ClientError("cannot read --tls-ca %s: %s" % (tls_ca, e.strerror), EXIT_USAGE)
            creds = grpc.ssl_channel_credentials(root_certificates=ca)
            channel = grpc.secure_channel(server, creds, options=options)
        else:
            channel = grpc.insecure_channel(server, options=options)
        return cls(channel, token=token, timeout=timeout)

    def close(self):
        self.channel.close()

    # -- unary calls -------------------------------------------------------

    def submit(self, spec_yaml, overrides=(), idempotency_key=None, retries=3):
        """SubmitJob; returns the Job (QUEUED once stored).

        The idempotency key makes retrying safe: a second SubmitJob with the
        same key returns the job the first one created. Without one we make a
        random key per submit(), so our own retries on UNAVAILABLE never
        create two jobs.
        """
        request = pb.SubmitJobRequest(
            spec_yaml=spec_yaml,
            overrides=list(overrides),
            idempotency_key=idempotency_key or uuid.uuid4().hex)
        delay = 0.5
        for attempt in range(retries):
            try:
                return self.stub.SubmitJob(request, metadata=self.metadata, timeout=self.timeout)
            except grpc.RpcError as e:
                if e.code() != grpc.StatusCode.UNAVAILABLE or attempt + 1 == retries:
                    raise
                time.sleep(delay)
                delay *= 2

    def get_job(self, job_id):
        return self.stub.GetJob(pb.GetJobRequest(job_id=job_id),
                                metadata=self.metadata, timeout=self.timeout).job

    def list_checkpoints(self, job_id):
        return list(self.stub.ListCheckpoints(pb.JobRef(job_id=job_id),
                                              metadata=self.metadata,
                                              timeout=self.timeout).checkpoints)

    # -- WatchJob ----------------------------------------------------------

    def watch(self, job_id, after_seq=0, until_state=None, include_logs=False,
              max_reconnects=5, on_reconnect=None):
        """Yields the job's JobEvents until it ends (or reaches until_state).

        The first event of each stream is a snapshot of the job; only the
        first stream's snapshot is yielded. Every other event has a seq one
        higher than the last; when the stream drops (UNAVAILABLE, or ends
        before the job did) we reconnect with after_seq = the last seq seen,
        so nothing is lost and nothing repeated.

        until_state ("RUNNING", ...) stops at the first change into it, or at
        once when the first snapshot already shows the job in it.
        """
        until = parse_state(until_state) if until_state else None
        last_seq = after_seq
        known_state = None
        first_snapshot = True
        fruitless = 0
        delay = 0.5
        while True:
            request = pb.WatchJobRequest(job_id=job_id, after_seq=last_seq,
                                         include_logs=include_logs)
            stream = self.stub.WatchJob(request, metadata=self.metadata)
            got_new = False
            error = None
            try:
                for event in stream:
                    kind = event.WhichOneof("payload")
                    if kind == "snapshot":
                        known_state = state_name(event.snapshot.state)
                        if first_snapshot:
                            first_snapshot = False
                            yield event
                            if until is not None and known_state == until:
                                return
                        continue
                    if event.seq <= last_seq:
                        continue  # already delivered before a reconnect.
                    last_seq = event.seq
                    got_new = True
                    yield event
                    if kind == "state":
                        known_state = state_name(event.state.to)
                        if known_state in TERMINAL_STATES or known_state == until:
                            return
            except grpc.RpcError as e:
                if e.code() != grpc.StatusCode.UNAVAILABLE:
                    raise
                error = e
            finally:
                stream.cancel()
            if error is None and known_state in TERMINAL_STATES:
                # The stream ended normally after a job that had already ended
                # (e.g. resumed past its last event).
                return
            # Dropped, or ended early: resume after the last seq we saw.
            if got_new:
                fruitless, delay = 0, 0.5
            else:
                fruitless += 1
                if fruitless > max_reconnects:
                    if error is not None:
                        raise error
                    raise ClientError("the coordinator kept ending the watch of job %s "
                                      "before the job ended" % job_id, EXIT_UNREACHABLE)
            if on_reconnect:
                on_reconnect(error, last_seq)
            time.sleep(delay)
            delay = min(delay * 2, 5.0)

    # -- DownloadCheckpoint --------------------------------------------------

    def download(self, job_id, checkpoint, out_dir, fmt=None):
        """Downloads a checkpoint's files into out_dir; returns [(path, size, sha256)].

        The stream announces each file (name, size, SHA-256) before its data.
        Each file is written to <name>.part and checked against its header;
        only when the whole stream arrived and every file verified are they
        renamed into place. On any failure the .part files are removed.
        """
        os.makedirs(out_dir, exist_ok=True)
        request = pb.DownloadCheckpointRequest(job_id=job_id, checkpoint=checkpoint or "")
        if fmt:
            request.format = pb.CheckpointFormat.Value("CHECKPOINT_FORMAT_" + fmt.upper())
        parts = []      # dicts, one per announced file, in order.
        current = None
        done = False
        try:
            for chunk in self.stub.DownloadCheckpoint(request, metadata=self.metadata):
                if chunk.WhichOneof("payload") == "file":
                    if current is not None:
                        _finish_part(current)
                    header = chunk.file
                    if not _safe_file_name(header.name):
                        raise ClientError("the coordinator sent an unsafe file name %r; "
                                          "refusing to write it" % header.name)
                    if any(p["name"] == header.name for p in parts):
                        raise ClientError("the coordinator sent file %s twice" % header.name)
                    if not header.sha256:
                        raise ClientError("the coordinator announced file %s without a SHA-256"
                                          % header.name)
                    final = os.path.join(out_dir, header.name)
                    current = {
                        "name": header.name, "final": final, "part": final + ".part",
                        "size": header.size, "sha256": header.sha256.lower(),
                        "hash": hashlib.sha256(), "written": 0,
                    }
                    current["file"] = open(current["part"], "wb")
                    parts.append(current)
                else:  # data: belongs to the last announced file.
                    if current is None:
                        raise ClientError("the coordinator sent data before announcing a file")
                    data = chunk.data
                    if current["written"] + len(data) > current["size"]:
                        raise ClientError("file %s is longer than the %d bytes announced"
                                          % (current["name"], current["size"]))
                    current["file"].write(data)
                    current["hash"].update(data)
                    current["written"] += len(data)
            if current is not None:
                _finish_part(current)
            if not parts:
                raise ClientError("the coordinator sent no files")
            for p in parts:
                os.replace(p["part"], p["final"])
            done = True
            return [(p["final"], p["written"], p["sha256"]) for p in parts]
        finally:
            if not done:
                for p in parts:
                    if not p["file"].closed:
                        p["file"].close()
                    try:
                        os.unlink(p["part"])
                    except FileNotFoundError:
                        pass


def _finish_part(part):
    """Checks a received file's size and SHA-256, then syncs and closes it."""
    if part["written"] != part["size"]:
        raise ClientError("file %s is truncated: got %d of %d bytes"
                          % (part["name"], part["written"], part["size"]))
    digest = part["hash"].hexdigest()
    if digest != part["sha256"]:
        raise ClientError("file %s failed its SHA-256 check (got %s, expected %s)"
                          % (part["name"], digest, part["sha256"]))
    part["file"].flush()
    os.fsync(part["file"].fileno())
    part["file"].close()


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------

def _cmd_submit(client, args):
    try:
        with open(args.file, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise ClientError("cannot read %s: %s" % (args.file, e.strerror), EXIT_USAGE)
    for o in args.set:
        if "=" not in o:
            raise ClientError("--set needs KEY=VALUE, got %r; e.g. --set optimizer.epochs=10" % o,
                              EXIT_USAGE)
    job = client.submit(text, overrides=args.set, idempotency_key=args.idempotency_key)
    print(job.id)  # only the id on stdout, so `ID=$(vmae_client.py submit f.yaml)` works.
    return EXIT_OK


def _cmd_watch(client, args):
    final = None
    until = parse_state(args.until_state) if args.until_state else None

    def on_reconnect(error, last_seq):
        print("stream dropped (%s); resuming after seq=%d"
              % (describe_rpc_error(error) if error else "ended early", last_seq),
              file=sys.stderr, flush=True)

    for event in client.watch(args.job_id, after_seq=args.after_seq, until_state=until,
                              include_logs=args.logs, on_reconnect=on_reconnect):
        print(format_event(event), flush=True)
        if event.WhichOneof("payload") == "snapshot":
            final = state_name(event.snapshot.state)
        elif event.WhichOneof("payload") == "state":
            final = state_name(event.state.to)
    if final in ("FAILED", "CANCELLED") and final != until:
        return EXIT_FAILED
    return EXIT_OK


def _cmd_checkpoints(client, args):
    for c in client.list_checkpoints(args.job_id):
        print("%s step=%d size=%d files=%s%s" % (
            c.id, c.step, c.size_bytes, ",".join(f.name for f in c.files),
            " best" if c.best else ""))
    return EXIT_OK


def _cmd_download(client, args):
    for path, size, sha in client.download(args.job_id, args.checkpoint, args.output,
                                           fmt=args.format):
        print("%s %d sha256=%s" % (path, size, sha))
    return EXIT_OK


def build_parser():
    p = argparse.ArgumentParser(
        prog="vmae_client.py",
        description="Example Python client of the vmae JobService.")
    p.add_argument("--server", default=os.environ.get("VMAE_SERVER", DEFAULT_SERVER),
                   help="coordinator host:port (env VMAE_SERVER; default %(default)s)")
    p.add_argument("--token", default=os.environ.get("VMAE_TOKEN"),
                   help="bearer token sent on every call (env VMAE_TOKEN)")
    p.add_argument("--tls-ca", help="PEM CA certificate: connect with TLS")
    p.add_argument("--stubs", help="directory holding vmae/v1/*_pb2.py "
                                   "(env VMAE_PYTHON_STUBS; the build's python/ folder)")
    p.add_argument("--timeout", type=float, default=30.0,
                   help="deadline of unary calls in seconds (default %(default)s)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    s = sub.add_parser("submit", help="submit a job; prints its id")
    s.add_argument("file", metavar="FILE.yaml")
    s.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a field, e.g. --set optimizer.epochs=10 (repeatable)")
    s.add_argument("--idempotency-key", metavar="K",
                   help="retrying with the same key returns the same job")
    s.set_defaults(func=_cmd_submit)

    w = sub.add_parser("watch", help="print a job's events until it ends")
    w.add_argument("job_id", metavar="JOB_ID")
    w.add_argument("--after-seq", type=int, default=0, metavar="N",
                   help="only events after seq N (resume a previous watch)")
    w.add_argument("--until-state", metavar="STATE",
                   help="stop once the job is in STATE (e.g. RUNNING)")
    w.add_argument("--logs", action="store_true", help="also print log lines")
    w.set_defaults(func=_cmd_watch)

    c = sub.add_parser("checkpoints", help="list a job's checkpoints")
    c.add_argument("job_id", metavar="JOB_ID")
    c.set_defaults(func=_cmd_checkpoints)

    d = sub.add_parser("download", help="download a checkpoint's files")
    d.add_argument("job_id", metavar="JOB_ID")
    d.add_argument("checkpoint", nargs="?", default="",
                   help="checkpoint id, 'latest' or 'best' (default latest)")
    d.add_argument("-o", "--output", required=True, metavar="DIR")
    d.add_argument("--format", choices=["native", "huggingface"])
    d.set_defaults(func=_cmd_download)
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    client = None
    try:
        load_stubs(args.stubs)
        if args.command == "watch" and args.until_state:
            try:
                parse_state(args.until_state)
            except ValueError as e:
                raise ClientError(str(e), EXIT_USAGE)
        client = Client.connect(args.server, token=args.token, tls_ca=args.tls_ca,
                                timeout=args.timeout)
        return args.func(client, args)
    except grpc.RpcError as e:
        print("vmae_client: %s" % describe_rpc_error(e), file=sys.stderr)
        return _EXIT_FOR_CODE.get(e.code(), EXIT_FAILED)
    except ClientError as e:
        print("vmae_client: %s" % e, file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        return 130
    finally:
        if client is not None:
            client.close()


if __name__ == "__main__":
    sys.exit(main())
