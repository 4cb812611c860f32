#!/usr/bin/python3
"""A real Prometheus server against a real coordinator.

    /usr/bin/python3 tests/deploy/prometheus_e2e_test.py --coordinator build/bin/vmae-coordinator \
        --stubs build/python --source-root . [--prometheus /usr/bin/prometheus]
    /usr/bin/python3 tests/deploy/prometheus_e2e_test.py --bin build-worker/bin \
        --stubs build-worker/python --source-root .      # a real CPU job

Starts vmae-coordinator on loopback with a short lease, and Prometheus
(Debian's package) scraping it every second and evaluating
deploy/prometheus/alerts.yaml every second, with each rule's `for:` cut to
2 s so that the test fits in a minute. A fake agent (the WorkerService
stubs) runs a job: steps with data errors, a checkpoint upload, one
infrastructure failure and the restarted attempt. Then, through
Prometheus' HTTP API:
  1. every expression of deploy/grafana/dashboards/vmae.json returns data
     (the DCGM panels only have to parse: there is no GPU here);
  2. every alert rule has been evaluated without error;
  3. the agent disappears (no more heartbeats): after the lease the
     coordinator counts its slot as lost and Prometheus fires VmaeWorkerLost.
With --bin (a folder with vmae, vmae-worker and vmae-coordinator) the job
is real instead: a vmae-worker agent with one CPU slot runs `vmae train` on
a data set from `vmae datagen` with one unreadable file in its list (a data
error); a kill -9 of the trainer is the infrastructure failure, and a
kill -9 of the agent the lost worker.
Prints "N passed, 0 failed"; exits 1 on any failure.
"""

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

import grpc

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "testing",
                                "python"))
import vmae_fixtures as fx  # noqa: E402

USER_TOKEN = "usertoken-prometheus-e2e"
JOIN_TOKEN = "JOINTOKEN-prometheus-e2e"
TEST_BUDGET_S = 58
JOB_YAML = """\
kind: pretrain
name: prometheus-e2e
model: {arch: custom, embed_dim: 64, depth: 2, num_heads: 2, decoder_embed_dim: 32,
        decoder_depth: 1, decoder_num_heads: 1, num_frames: 4, image_size: 32}
data: {root: /tmp, train: train.txt}
optimizer: {epochs: 2, warmup_epochs: 1, batch_size: 2}
checkpoint: {every_steps: 5, keep_last: 2}
resources: {device: cpu, workers: 1, max_restarts: 3}
"""
REAL_JOB_YAML = """\
kind: pretrain
name: prometheus-e2e-real
model: {{arch: custom, embed_dim: 32, depth: 1, num_heads: 2, decoder_embed_dim: 16,
        decoder_depth: 1, decoder_num_heads: 1, patch_size: 16, tubelet_size: 2,
        num_frames: 4, image_size: 32}}
data: {{root: {root}, train: train.csv, sampling_rate: 2, decode_threads: 1,
       max_bad_fraction: 0.2}}
optimizer: {{lr: 1.0e-3, epochs: 400, warmup_epochs: 0, batch_size: 2}}
checkpoint: {{every_steps: 5, keep_last: 2}}
resources: {{device: cpu, workers: 1, max_restarts: 3, precision: fp32}}
"""
REAL_TEST_BUDGET_S = 140
# Metrics with no series without a GPU and NVIDIA's DCGM exporter.
NEEDS_GPU = ("DCGM_",)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_prometheus(binary, source_root, tmp, metrics_port):
    """Prometheus on a free loopback port with a test copy of the rules."""
    with open(os.path.join(source_root, "deploy", "prometheus", "alerts.yaml")) as f:
        rules = re.sub(r"(?m)^(\s+for:) .*$", r"\1 2s", f.read())
    with open(os.path.join(tmp, "alerts.yaml"), "w") as f:
        f.write(rules)
    config = os.path.join(tmp, "prometheus.yml")
    with open(config, "w") as f:
        f.write(f"""global: {{scrape_interval: 1s, evaluation_interval: 1s}}
rule_files: [alerts.yaml]
scrape_configs:
  - job_name: vmae-coordinator
    honor_labels: true
    static_configs: [{{targets: ['127.0.0.1:{metrics_port}']}}]
""")
    port = free_port()
    log = open(os.path.join(tmp, "prometheus.log"), "wb")
    proc = subprocess.Popen([binary, f"--config.file={config}",
                             f"--storage.tsdb.path={tmp}/tsdb",
                             f"--web.listen-address=127.0.0.1:{port}"],
                            stdout=log, stderr=subprocess.STDOUT)
    log.close()
    return proc, f"http://127.0.0.1:{port}"


def api(base, path, **params):
    url = f"{base}/api/v1/{path}"
    if params:
        url += "?" + urllib.parse.urlencode(params)
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.load(r)


def wait_until(what, fn, timeout, deadline):
    end = min(time.monotonic() + timeout, deadline)
    last = None
    while time.monotonic() < end:
        try:
            last = fn()
            if last:
                return last
        except OSError as e:  # Prometheus not listening yet.
            last = e
        time.sleep(0.25)
    raise fx.TestFailure(f"timed out waiting for {what} (last: {last})")


def dashboard_exprs(source_root):
    with open(os.path.join(source_root, "deploy", "grafana", "dashboards", "vmae.json")) as f:
        dash = json.load(f)
    for panel in dash["panels"]:
        for target in panel["targets"]:
            # What Grafana sends with the job variable at "All".
            yield panel["title"], target["expr"].replace("$job", ".*")


def run_job(agent, js, jsg, ws, channel):
    """Submits the job; the fake agent reports steps, data errors, a
    checkpoint, an infrastructure failure and the restarted attempt."""
    jobs = jsg.JobServiceStub(channel)
    md = [("authorization", "Bearer " + USER_TOKEN)]
    job = jobs.SubmitJob(js.SubmitJobRequest(spec_yaml=JOB_YAML), metadata=md, timeout=10)
    a = agent.wait_assignment(job.id, 10)
    if a is None:
        raise fx.TestFailure("no assignment for the job")

    def steps(attempt, first, n):
        for step in range(first, first + n):
            agent.send(step=ws.StepReport(
                job_id=job.id, attempt=attempt, step=step, total_steps=100, samples_seen=2 * step,
                epoch=0, loss=1.0 / step, lr=1e-4 * step, grad_norm=0.5, clips_per_second=8.0,
                data_seconds=0.02, compute_seconds=0.2, allreduce_seconds=0.03,
                data_errors={"truncated": 1} if step % 2 == 0 else {}))
            time.sleep(0.3)

    steps(a.attempt, 1, 5)
    files = [("model.safetensors", b"\0" * 4096), ("manifest.json", b'{"step": 5}\n')]
    _, up = agent.upload(job.id, a.attempt, step=5, samples_seen=10, files=files)
    if not up.committed:
        raise fx.TestFailure("the checkpoint upload did not commit")
    # An infrastructure failure: the coordinator restarts the job (attempt 2).
    agent.send(exit=ws.RankExit(job_id=job.id, attempt=a.attempt, rank=0, exit_code=-9,
                                message="killed"))
    a2 = agent.wait_assignment(job.id, 15)
    if a2 is None or a2.attempt != a.attempt + 1:
        raise fx.TestFailure("the job was not restarted on the agent")
    steps(a2.attempt, 6, 8)
    return job.id


def real_data(bin_dir, out):
    """A tiny `vmae datagen` set whose list also names one unreadable file."""
    subprocess.run([os.path.join(bin_dir, "vmae"), "datagen", "--out", out, "--classes", "2",
                    "--videos-per-class", "16", "--frames", "16", "--size", "48x48",
                    "--threads", "2", "--val-fraction", "0.01"],
                   check=True, stdout=subprocess.DEVNULL)
    with open(os.path.join(out, "videos", "unreadable.mp4"), "wb") as f:
        f.write(b"this is not a video\n" * 16)
    with open(os.path.join(out, "train.csv"), "a") as f:
        f.write("videos/unreadable.mp4 0\n")
    return out


def start_agent(bin_dir, addr, tmp):
    log = open(os.path.join(tmp, "agent.log"), "wb")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen(
        [os.path.join(bin_dir, "vmae-worker"), "--coordinator", addr, "--join-token", JOIN_TOKEN,
         "--devices", "cpu:1", "--agent-id", "prometheus-e2e-agent",
         "--work-dir", os.path.join(tmp, "agent"), "--trainer", os.path.join(bin_dir, "vmae")],
        stdout=log, stderr=subprocess.STDOUT, env=env)
    log.close()
    return proc


def run_real_job(js, jsg, channel, data, deadline):
    """Submits a real job; once it has checkpointed, kills its trainer
    (an infrastructure failure) and waits for attempt 2 to train."""
    jobs = jsg.JobServiceStub(channel)
    md = [("authorization", "Bearer " + USER_TOKEN)]
    job = jobs.SubmitJob(js.SubmitJobRequest(spec_yaml=REAL_JOB_YAML.format(root=data)),
                         metadata=md, timeout=10)

    def get():
        return jobs.GetJob(js.GetJobRequest(job_id=job.id), metadata=md, timeout=10).job

    def at_step(n, attempt):
        j = get()
        if j.state in (fx.tp.JOB_STATE_FAILED, fx.tp.JOB_STATE_CANCELLED):
            raise fx.TestFailure(f"the job ended: {j.state_reason}")
        return j if j.attempt >= attempt and j.step >= n else None

    wait_until("step 8 of attempt 1", lambda: at_step(8, 1), 60, deadline)
    pids = fx.trainer_pids(job.id)
    if not pids:
        raise fx.TestFailure("no `vmae train` process for the job")
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    j = wait_until("attempt 2 training", lambda: at_step(6, 2), 40, deadline)
    if j.restarts != 1:
        raise fx.TestFailure(f"restarts after the kill: {j.restarts}")
    return job.id


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--coordinator", help="vmae-coordinator (default: BIN/vmae-coordinator)")
    ap.add_argument("--bin", help="folder with vmae, vmae-worker and vmae-coordinator: run a "
                    "real CPU job instead of the fake agent's")
    ap.add_argument("--stubs", required=True)
    ap.add_argument("--source-root", required=True)
    ap.add_argument("--prometheus", default=shutil.which("prometheus") or "/usr/bin/prometheus")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    if args.coordinator is None:
        if args.bin is None:
            ap.error("give --coordinator, or --bin with vmae-coordinator in it")
        args.coordinator = os.path.join(args.bin, "vmae-coordinator")
    if args.bin:
        args.bin = os.path.abspath(args.bin)
    budget = REAL_TEST_BUDGET_S if args.bin else TEST_BUDGET_S
    deadline = time.monotonic() + budget
    if not os.path.isfile(args.prometheus):
        print(f"FAIL setup: no prometheus at {args.prometheus}; run scripts/install-deps.sh")
        print("0 passed, 1 failed")
        return 1
    js, jsg, ws, _, _ = fx.load_stubs(args.stubs)
    results = fx.Results()
    tmp = tempfile.mkdtemp(prefix="vmae-prom-e2e-")
    coord = prom = agent = real_agent = None
    job_id = None
    try:
        extra = ["--heartbeat-ms", "200", "--lease-ms", "1500"]
        if args.bin:
            data = real_data(args.bin, os.path.join(tmp, "data"))
            extra += ["--data-root", data]
        coord, addr, metrics_port = fx.start_coordinator(
            args.coordinator, tmp, USER_TOKEN, JOIN_TOKEN, extra_args=extra)
        prom, base = start_prometheus(args.prometheus, args.source_root, tmp, metrics_port)
        channel = grpc.insecure_channel(addr)
        if args.bin:
            real_agent = start_agent(args.bin, addr, tmp)
            job_id = run_real_job(js, jsg, channel, data, deadline)
        else:
            agent = fx.FakeAgent(channel, JOIN_TOKEN)
            agent.register()
            agent.open_session()
            job_id = run_job(agent, js, jsg, ws, channel)

        # 1. Every dashboard expression returns data once scraped.
        for title, expr in dashboard_exprs(args.source_root):
            def query(expr=expr):
                r = api(base, "query", query=expr)
                return r if r["status"] == "success" and (
                    r["data"]["result"] or expr.startswith(NEEDS_GPU)) else None
            name = (f"dashboard panel '{title}' parses (no GPU here)"
                    if expr.startswith(NEEDS_GPU) else f"dashboard panel '{title}' has data")
            try:
                wait_until(f"data for '{title}'", query, 10, deadline)
                results.check(name, True)
            except fx.TestFailure as e:
                results.check(name, False, f"{expr}: {e}")
        jobs = api(base, "label/job/values", **{"match[]": "vmae_job_step"})["data"]
        results.check("the job variable lists the running job", job_id in jobs, str(jobs))

        # 2. Every rule evaluated, none with an error.
        def rules_evaluated():
            groups = api(base, "rules")["data"]["groups"]
            rules = [r for g in groups for r in g["rules"]]
            return rules if rules and all(r.get("lastEvaluation", "").startswith("20")
                                          for r in rules) else None
        rules = wait_until("every rule evaluated", rules_evaluated, 10, deadline)
        for r in rules:
            results.check(f"rule {r['name']} evaluates without error",
                          r["health"] == "ok" and not r.get("lastError"), r.get("lastError", ""))

        # 3. Staged fault: the agent vanishes (the fake one stops
        # heartbeating; the real one is killed with SIGKILL); VmaeWorkerLost
        # fires.
        if real_agent is not None:
            real_agent.kill()
            real_agent.wait()
        else:
            agent.close()
            agent = None

        def worker_lost_firing():
            alerts = api(base, "alerts")["data"]["alerts"]
            return [a for a in alerts
                    if a["labels"]["alertname"] == "VmaeWorkerLost" and a["state"] == "firing"]
        firing = wait_until("VmaeWorkerLost firing", worker_lost_firing, 20, deadline)
        results.check("VmaeWorkerLost fires after the agent is lost", bool(firing))
        elapsed = budget - (deadline - time.monotonic())
        results.check(f"finished within {budget} s (took {elapsed:.1f} s)",
                      time.monotonic() < deadline)
    except fx.TestFailure as e:
        if results.failed == 0:
            results.failed += 1
            print(f"FAIL {e}", flush=True)
        print(fx.coordinator_log(tmp), flush=True)
    finally:
        if agent is not None:
            agent.close()
        for p in (real_agent, prom, coord):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()
        if job_id is not None:
            for pid in fx.trainer_pids(job_id):  # orphans of a failed run
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"{results.passed} passed, {results.failed} failed", flush=True)
    return 0 if results.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
