#!/usr/bin/python3
"""Checks deploy/kubernetes/: renders every kustomization with the real
`kubectl kustomize`, parses every YAML document, and checks what a broken
deployment of vmae would get wrong (resources, probes, pinned images, the
coordinator's single replica and its block volume, the agents' shared
memory and collective settings, GPU requests, NetworkPolicies, Service
ports), plus that every flag the manifests pass exists in the binaries'
sources and every file they name is mounted.

  check_manifests.py --kubectl /usr/bin/kubectl --source-root .
  check_manifests.py --kubectl ... --source-root . --self-test

--self-test breaks good rendered manifests one way at a time (in memory)
and fails unless every breakage is reported, so the checks themselves are
tested. Each problem is printed as "<where>: <what>".
"""

import argparse
import base64
import copy
import os
import re
import subprocess
import sys

import yaml

# Rendered with `kubectl kustomize`, relative to deploy/kubernetes.
KUSTOMIZATIONS = ["base", "overlays/cpu", "overlays/gpu", "submit"]
# Created by the operator (docs/operations.md), not by the kustomizations.
EXTERNAL_SECRETS = {"vmae-tls"}
WORKLOAD_KINDS = {"Deployment", "DaemonSet", "StatefulSet", "Job", "CronJob", "Pod"}
PROBE_EXEMPT_KINDS = {"Job", "CronJob"}
COORDINATOR_PORTS = {"grpc": 7070, "metrics": 9464}


class Report:
    """Collects problems as '<where>: <what>' lines."""

    def __init__(self):
        self.problems = []

    def add(self, where, what):
        self.problems.append(f"{where}: {what}")


def kustomize(kubectl, directory):
    out = subprocess.run([kubectl, "kustomize", directory], capture_output=True, text=True,
                         timeout=60, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"kubectl kustomize {directory} failed: {out.stderr.strip()}")
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def load_source_files(root, report):
    """Parses every YAML file under deploy/kubernetes; returns the count."""
    count = 0
    for dirpath, _, names in os.walk(os.path.join(root, "deploy", "kubernetes")):
        for name in sorted(names):
            if not name.endswith((".yaml", ".yml")):
                continue
            path = os.path.join(dirpath, name)
            try:
                with open(path, encoding="utf-8") as f:
                    docs = [d for d in yaml.safe_load_all(f) if d]
            except yaml.YAMLError as e:
                report.add(path, f"not valid YAML: {e}")
                continue
            for i, doc in enumerate(docs):
                if not isinstance(doc, dict) or "kind" not in doc:
                    report.add(f"{path} document {i + 1}", "has no 'kind'")
            count += len(docs)
    return count


# ---------------------------------------------------------------- sources

def coordinator_flags(root):
    with open(os.path.join(root, "server", "coordinator_main.cc"), encoding="utf-8") as f:
        names = set(re.findall(r"ABSL_FLAG\([^,]+,\s*(\w+)\s*,", f.read()))
    # Abseil's own flags that the manifests use.
    return names | {"flagfile"}


def agent_flags(root):
    with open(os.path.join(root, "worker", "agent", "agent_config.cc"), encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"ValueFlags\(\)\s*\{(.*?)\};", text, re.S)
    names = set(re.findall(r'"(\w+)"', m.group(1))) if m else set()
    return names | {"help"}


def vmaectl_words(root):
    """Every quoted word in vmaectl's sources: flag and verb names live there."""
    words = set()
    client = os.path.join(root, "client")
    for dirpath, _, names in os.walk(client):
        for name in names:
            if name.endswith(".cc"):
                with open(os.path.join(dirpath, name), encoding="utf-8") as f:
                    words |= set(re.findall(r'"([a-z][a-z0-9-]*)"', f.read()))
    return words


# ---------------------------------------------------------------- helpers

def name_of(doc):
    return f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"


def pod_spec(doc):
    kind = doc.get("kind")
    spec = doc.get("spec", {})
    if kind == "Pod":
        return spec
    if kind == "CronJob":
        return spec.get("jobTemplate", {}).get("spec", {}).get("template", {}).get("spec", {})
    return spec.get("template", {}).get("spec", {})


def pod_labels(doc):
    if doc.get("kind") == "Pod":
        return doc.get("metadata", {}).get("labels", {}) or {}
    return doc.get("spec", {}).get("template", {}).get("metadata", {}).get("labels", {}) or {}


def containers(spec):
    for key in ("initContainers", "containers"):
        for c in spec.get(key, []) or []:
            yield key, c


def selects(selector, labels):
    if selector is None:
        return False
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for expr in selector.get("matchExpressions") or []:
        op, key, values = expr.get("operator"), expr.get("key"), expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def find(docs, kind, component=None):
    out = []
    for d in docs:
        if d.get("kind") != kind:
            continue
        labels = d.get("metadata", {}).get("labels", {}) or {}
        if component is None or labels.get("app.kubernetes.io/component") == component:
            out.append(d)
    return out


def env_map(container):
    return {e.get("name"): e for e in container.get("env", []) or []}


def flag_names(args):
    """'--a-b=1', '--c' -> canonical underscore names (a_b, c)."""
    names = []
    for a in args:
        if isinstance(a, str) and a.startswith("--") and len(a) > 2:
            names.append(a[2:].split("=", 1)[0].replace("-", "_"))
    return names


def quantity(value):
    """'500m' -> 0.5, '4Gi' -> 4 * 2**30, 8 -> 8.0 (enough for comparisons)."""
    s = str(value)
    units = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40,
             "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}
    for suffix in sorted(units, key=len, reverse=True):
        if s.endswith(suffix):
            return float(s[: -len(suffix)]) * units[suffix]
    return float(s)


# ---------------------------------------------------------------- checks

def check_containers(label, docs, report, sources):
    for doc in docs:
        if doc.get("kind") not in WORKLOAD_KINDS:
            continue
        spec = pod_spec(doc)
        pod_sc = spec.get("securityContext", {}) or {}
        for key, c in containers(spec):
            where = f"{label} {name_of(doc)} {key[:-1]} {c.get('name')}"
            res = c.get("resources", {}) or {}
            for part in ("requests", "limits"):
                for r in ("cpu", "memory"):
                    if r not in (res.get(part) or {}):
                        report.add(where, f"resources.{part}.{r} is missing")
            for part_r in ("cpu", "memory"):
                req = (res.get("requests") or {}).get(part_r)
                lim = (res.get("limits") or {}).get(part_r)
                if req is not None and lim is not None and quantity(req) > quantity(lim):
                    report.add(where, f"requests.{part_r} {req} exceeds limits.{part_r} {lim}")
            if doc.get("kind") not in PROBE_EXEMPT_KINDS and key == "containers":
                for probe in ("readinessProbe", "livenessProbe"):
                    if not c.get(probe):
                        report.add(where, f"{probe} is missing")
            image = c.get("image", "")
            last = image.rsplit("/", 1)[-1]
            if "@sha256:" not in image and ":" not in last:
                report.add(where, f"image '{image}' is not pinned by a tag")
            elif last.endswith(":latest"):
                report.add(where, f"image '{image}' uses the tag 'latest'; pin a version")
            sc = c.get("securityContext", {}) or {}
            non_root = sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot"))
            uid = sc.get("runAsUser", pod_sc.get("runAsUser"))
            if non_root is not True or uid in (None, 0):
                report.add(where, "must run as non-root (runAsNonRoot: true, runAsUser 10001)")
            if sc.get("readOnlyRootFilesystem") is not True:
                report.add(where, "securityContext.readOnlyRootFilesystem should be true")
            if sc.get("allowPrivilegeEscalation") is not False:
                report.add(where, "securityContext.allowPrivilegeEscalation should be false")
            check_command_flags(where, c, report, sources)
            check_mounted_paths(where, c, spec, docs, report)


def check_command_flags(where, c, report, sources):
    """Flags in the command, args and exec probes exist in the binary's source."""
    lines = [list(c.get("command", []) or []) + list(c.get("args", []) or [])]
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        cmd = ((c.get(probe) or {}).get("exec") or {}).get("command")
        if cmd:
            lines.append(list(cmd))
    for argv in lines:
        if not argv:
            continue
        program = os.path.basename(str(argv[0]))
        if program == "vmae-coordinator":
            known = sources["coordinator"]
        elif program == "vmae-worker":
            known = sources["agent"]
        elif program == "vmaectl":
            known = {w.replace("-", "_") for w in sources["vmaectl"]}
        else:
            continue
        for flag in flag_names(argv[1:]):
            if flag not in known:
                report.add(where, f"{program} has no flag --{flag.replace('_', '-')} "
                                  "(check its --help and the sources)")


def check_mounted_paths(where, c, spec, docs, report):
    """Every absolute path in args and probes lies under a volume mount; a
    path inside a ConfigMap or Secret mount names one of its keys."""
    volumes = {v.get("name"): v for v in spec.get("volumes", []) or []}
    mounts = c.get("volumeMounts", []) or []
    words = [str(a) for a in (c.get("args", []) or [])]
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        words += [str(a) for a in ((c.get(probe) or {}).get("exec") or {}).get("command", []) or []]
    paths = []
    for w in words:
        value = w.split("=", 1)[1] if w.startswith("--") and "=" in w else w
        if value.startswith("/") and not value.startswith("/dev/"):
            paths.append(value)
    for path in paths:
        best = None
        for m in mounts:
            mp = m.get("mountPath", "").rstrip("/")
            if path == mp or path.startswith(mp + "/"):
                if best is None or len(mp) > len(best.get("mountPath", "")):
                    best = m
        if best is None:
            report.add(where, f"path {path} is not under any volumeMount "
                              "(the root file system is read-only)")
            continue
        vol = volumes.get(best.get("name"), {})
        source = vol.get("secret") or vol.get("configMap")
        if source is None:
            continue
        key = best.get("subPath") or path[len(best["mountPath"].rstrip("/")) + 1:]
        items = source.get("items")
        if items:
            if key not in {i.get("path") for i in items}:
                report.add(where, f"{path}: volume {best.get('name')} projects no item '{key}'")
            continue
        kind = "Secret" if "secret" in vol else "ConfigMap"
        ref = source.get("secretName") or source.get("name")
        obj = [d for d in docs if d.get("kind") == kind and d["metadata"]["name"] == ref]
        if obj and key not in (obj[0].get("data") or {}):
            report.add(where, f"{path}: {kind} {ref} has no key '{key}'")


def check_references(label, docs, report):
    """ConfigMaps, Secrets and PVCs a workload uses exist in the same render."""
    have = {(d.get("kind"), d.get("metadata", {}).get("name")) for d in docs}
    for doc in docs:
        if doc.get("kind") not in WORKLOAD_KINDS:
            continue
        spec = pod_spec(doc)
        for v in spec.get("volumes", []) or []:
            refs = []
            if "configMap" in v:
                refs.append(("ConfigMap", v["configMap"].get("name")))
            if "secret" in v:
                refs.append(("Secret", v["secret"].get("secretName")))
            if "persistentVolumeClaim" in v:
                refs.append(("PersistentVolumeClaim", v["persistentVolumeClaim"].get("claimName")))
            for kind, ref in refs:
                if (kind, ref) not in have and ref not in EXTERNAL_SECRETS:
                    if label != "submit":  # submit/ uses the base's objects
                        report.add(f"{label} {name_of(doc)} volume {v.get('name')}",
                                   f"{kind} {ref} is not defined")
        for _, c in containers(spec):
            for e in c.get("env", []) or []:
                ref = ((e.get("valueFrom") or {}).get("secretKeyRef")) or {}
                if ref and label != "submit" and ("Secret", ref.get("name")) not in have:
                    report.add(f"{label} {name_of(doc)} env {e.get('name')}",
                               f"Secret {ref.get('name')} is not defined")


def check_secret_values(label, docs, report):
    """Token values that reach environment variables or flags are bare."""
    for d in docs:
        if d.get("kind") != "Secret":
            continue
        for key, value in (d.get("data") or {}).items():
            text = base64.b64decode(value).decode("utf-8", "replace")
            if key == "token" and text != text.strip():
                report.add(f"{label} {name_of(d)} key {key}",
                           "has surrounding whitespace or a newline; VMAE_TOKEN would carry it "
                           "into the authorization header (write the file with printf '%s')")
            if key in ("token", "join-token") and len(text.strip()) < 16:
                report.add(f"{label} {name_of(d)} key {key}",
                           "is shorter than the 16 characters the coordinator requires")


def check_coordinator(label, docs, report):
    deps = find(docs, "Deployment", "coordinator")
    if len(deps) != 1:
        report.add(label, f"expected one coordinator Deployment, found {len(deps)}")
        return
    dep = deps[0]
    where = f"{label} {name_of(dep)}"
    if dep["spec"].get("replicas") != 1:
        report.add(where, f"replicas must be 1 (SQLite has one writer), is "
                          f"{dep['spec'].get('replicas')}")
    if (dep["spec"].get("strategy") or {}).get("type") != "Recreate":
        report.add(where, "strategy must be Recreate so two coordinators never share the state")
    c = pod_spec(dep)["containers"][0]
    args = [str(a) for a in c.get("args", []) or []]
    state_mounts = [m for m in c.get("volumeMounts", []) or []
                    if m.get("mountPath") == "/var/lib/vmae/state"]
    if "--state-dir=/var/lib/vmae/state" not in args:
        report.add(where, "the coordinator must run with --state-dir=/var/lib/vmae/state")
    if not state_mounts:
        report.add(where, "nothing is mounted at the state dir /var/lib/vmae/state")
    for m in state_mounts:
        vol = next((v for v in pod_spec(dep).get("volumes", []) if v["name"] == m["name"]), {})
        claim = (vol.get("persistentVolumeClaim") or {}).get("claimName")
        pvcs = [p for p in docs if p.get("kind") == "PersistentVolumeClaim"
                and p["metadata"]["name"] == claim]
        if not pvcs:
            report.add(where, f"the state dir is not on a PersistentVolumeClaim ({vol})")
        elif pvcs[0]["spec"].get("accessModes") != ["ReadWriteOnce"]:
            report.add(f"{label} {name_of(pvcs[0])}",
                       f"the state PVC must be ReadWriteOnce (block storage), is "
                       f"{pvcs[0]['spec'].get('accessModes')}")
    for flag in ("--tls-cert", "--tls-key", "--auth-tokens"):
        if not any(a.startswith(flag + "=") for a in args):
            report.add(where, f"{flag} is missing: beyond loopback the coordinator needs TLS "
                              "and tokens")
    if not any(a.startswith(("--worker-join-token-file=", "--worker-join-token=")) for a in args):
        report.add(where, "no worker join token (--worker-join-token-file)")
    check_coordinator_flagfile(label, docs, dep, report)
    # Services: ports 7070 and 9464 reach the container's ports.
    ports = {p.get("name"): p.get("containerPort") for p in c.get("ports", []) or []}
    svcs = [s for s in docs if s.get("kind") == "Service"
            and selects({"matchLabels": s["spec"].get("selector") or {}}, pod_labels(dep))
            and s["spec"].get("selector")]
    if not svcs:
        report.add(label, "no Service selects the coordinator's pods")
    for svc in svcs:
        have = {p.get("port"): p for p in svc["spec"].get("ports", []) or []}
        for pname, number in COORDINATOR_PORTS.items():
            p = have.get(number)
            if p is None:
                report.add(f"{label} {name_of(svc)}", f"port {number} ({pname}) is missing")
                continue
            target = p.get("targetPort", number)
            if target not in ports and target not in ports.values():
                report.add(f"{label} {name_of(svc)}",
                           f"port {number} targets {target}, which the container does not expose")
            if p.get("name") != pname:
                report.add(f"{label} {name_of(svc)}",
                           f"port {number} must be named '{pname}' (the ServiceMonitor scrapes "
                           "the port named metrics)")


def check_coordinator_flagfile(label, docs, dep, report):
    args = [str(a) for a in pod_spec(dep)["containers"][0].get("args", []) or []]
    flagfiles = [a.split("=", 1)[1] for a in args if a.startswith("--flagfile=")]
    for path in flagfiles:
        cms = [d for d in docs if d.get("kind") == "ConfigMap"
               and path.rsplit("/", 1)[-1] in (d.get("data") or {})]
        if not cms:
            report.add(f"{label} {name_of(dep)}", f"no ConfigMap holds the flag file {path}")
            continue
        text = cms[0]["data"][path.rsplit("/", 1)[-1]]
        for n, line in enumerate(text.splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            where = f"{label} {name_of(cms[0])} line {n}"
            if not line.startswith("--"):
                report.add(where, f"'{line}' is not a --flag=value line")
                continue
            name = line[2:].split("=", 1)[0]
            if "-" in name:
                report.add(where, f"--{name}: Abseil reads flag files itself and needs "
                                  f"underscores (--{name.replace('-', '_')})")
            elif name not in report.coordinator_flags:
                report.add(where, f"vmae-coordinator has no flag --{name}")


def check_agents(label, docs, report, gpu):
    dss = find(docs, "DaemonSet", "agent")
    if len(dss) != 1:
        report.add(label, f"expected one agent DaemonSet, found {len(dss)}")
        return
    ds = dss[0]
    where = f"{label} {name_of(ds)}"
    spec = pod_spec(ds)
    if (spec.get("nodeSelector") or {}).get("vmae.io/worker") != "true":
        report.add(where, "nodeSelector must be vmae.io/worker: \"true\"")
    c = spec["containers"][0]
    volumes = {v["name"]: v for v in spec.get("volumes", []) or []}
    shm = [m for m in c.get("volumeMounts", []) or [] if m.get("mountPath") == "/dev/shm"]
    if not shm or ((volumes.get(shm[0]["name"], {}).get("emptyDir") or {}).get("medium")
                   != "Memory"):
        report.add(where, "needs a memory-backed emptyDir (medium: Memory) at /dev/shm")
    elif not (volumes[shm[0]["name"]]["emptyDir"].get("sizeLimit")):
        report.add(where, "the /dev/shm emptyDir needs a sizeLimit")
    env = env_map(c)
    for name in ("NCCL_SOCKET_IFNAME", "GLOO_SOCKET_IFNAME"):
        if (env.get(name) or {}).get("value") != "eth0":
            report.add(where, f"{name} must be eth0")
    for name, path in (("POD_IP", "status.podIP"), ("POD_NAME", "metadata.name"),
                       ("NODE_NAME", "spec.nodeName")):
        got = (((env.get(name) or {}).get("valueFrom") or {}).get("fieldRef") or {}).get("fieldPath")
        if got != path:
            report.add(where, f"{name} must come from the downward API ({path})")
    data = [m for m in c.get("volumeMounts", []) or [] if m.get("mountPath") == "/data"]
    if not data or data[0].get("readOnly") is not True:
        report.add(where, "the data volume must be mounted read-only at /data")
    else:
        claim = (volumes.get(data[0]["name"], {}).get("persistentVolumeClaim") or {})
        pvc = [p for p in docs if p.get("kind") == "PersistentVolumeClaim"
               and p["metadata"]["name"] == claim.get("claimName")]
        if not pvc or pvc[0]["spec"].get("accessModes") != ["ReadOnlyMany"]:
            report.add(where, "the data volume must be a ReadOnlyMany PVC")
    devices = (env.get("VMAE_DEVICES") or {}).get("value", "")
    limits = (c.get("resources") or {}).get("limits") or {}
    requests = (c.get("resources") or {}).get("requests") or {}
    if gpu:
        if "nvidia.com/gpu" not in limits:
            report.add(where, "the gpu overlay must set resources.limits nvidia.com/gpu")
        elif requests.get("nvidia.com/gpu") != limits["nvidia.com/gpu"]:
            report.add(where, "nvidia.com/gpu requests must equal limits")
        if devices != "cuda:all":
            report.add(where, f"VMAE_DEVICES must be cuda:all on GPU nodes, is '{devices}'")
        if not any(t.get("key") == "nvidia.com/gpu" for t in spec.get("tolerations", []) or []):
            report.add(where, "needs a toleration for nvidia.com/gpu")
        if not str(c.get("image", "")).endswith("-cuda"):
            report.add(where, f"the gpu overlay must run the CUDA image, not {c.get('image')}")
    else:
        if "nvidia.com/gpu" in limits:
            report.add(where, "a CPU agent must not request GPUs")
        if not re.fullmatch(r"cpu:\d+", devices):
            report.add(where, f"VMAE_DEVICES must be cpu:N, is '{devices}'")
    # The headless Service.
    heads = [s for s in docs if s.get("kind") == "Service"
             and s["spec"].get("clusterIP") == "None"
             and selects({"matchLabels": s["spec"].get("selector") or {}}, pod_labels(ds))]
    if not heads:
        report.add(label, "no headless Service (clusterIP: None) selects the agents")


def rule_allows_all_tcp(rule):
    ports = rule.get("ports")
    if not ports:
        return True
    return any(p.get("protocol", "TCP") == "TCP" and "port" not in p for p in ports)


def rule_allows_port(rule, port):
    ports = rule.get("ports")
    if not ports:
        return True
    return any(p.get("protocol", "TCP") == "TCP" and p.get("port") in (None, port) for p in ports)


def peers_match(rule, labels):
    for peer in rule.get("from", []) or []:
        if "podSelector" in peer and "namespaceSelector" not in peer and \
                selects(peer["podSelector"], labels):
            return True
    return not rule.get("from")


def check_network_policies(label, docs, report):
    dss = find(docs, "DaemonSet", "agent")
    deps = find(docs, "Deployment", "coordinator")
    if not dss or not deps:
        return
    agent, coord = pod_labels(dss[0]), pod_labels(deps[0])
    pols = [d for d in docs if d.get("kind") == "NetworkPolicy"]

    def rules_for(labels):
        return [r for p in pols if selects(p["spec"].get("podSelector"), labels)
                for r in p["spec"].get("ingress", []) or []]

    if not any(peers_match(r, agent) and rule_allows_all_tcp(r) for r in rules_for(agent)):
        report.add(label, "no NetworkPolicy lets agent pods reach each other on all TCP ports "
                          "(collectives use ephemeral ports)")
    coord_rules = rules_for(coord)
    if not any(peers_match(r, agent) and rule_allows_port(r, 7070) for r in coord_rules):
        report.add(label, "no NetworkPolicy lets agents reach the coordinator on 7070")
    clients = [r for r in coord_rules if rule_allows_port(r, 7070) and any(
        "vmae.io/client" in ((peer.get("podSelector") or {}).get("matchLabels") or {})
        for peer in r.get("from", []) or [])]
    if not clients:
        report.add(label, "no NetworkPolicy lets clients (vmae.io/client=true) reach 7070")
    if not any(rule_allows_port(r, 9464) and r.get("from") and not rule_allows_port(r, 7070)
               for r in coord_rules):
        report.add(label, "no NetworkPolicy rule admits Prometheus to 9464")


def check_submit(label, docs, report):
    jobs = [d for d in docs if d.get("kind") == "Job"]
    if len(jobs) != 1:
        report.add(label, f"expected one Job, found {len(jobs)}")
        return
    job = jobs[0]
    c = pod_spec(job)["containers"][0]
    where = f"{label} {name_of(job)}"
    argv = list(c.get("command", []) or []) + [str(a) for a in c.get("args", []) or []]
    if argv[:3] != ["vmaectl", "submit", "/etc/vmae/job.yaml"] or \
            "vmae-coordinator.vmae.svc:7070" not in argv:
        report.add(where, "must run vmaectl submit /etc/vmae/job.yaml --server "
                          "vmae-coordinator.vmae.svc:7070")
    token = env_map(c).get("VMAE_TOKEN") or {}
    if not (token.get("valueFrom") or {}).get("secretKeyRef"):
        report.add(where, "VMAE_TOKEN must come from a Secret")
    if pod_labels(job).get("vmae.io/client") != "true":
        report.add(where, "the pod needs the label vmae.io/client: \"true\" to pass the "
                          "NetworkPolicy")
    cms = [d for d in docs if d.get("kind") == "ConfigMap" and "job.yaml" in (d.get("data") or {})]
    if not cms:
        report.add(where, "no ConfigMap holds job.yaml")
    else:
        spec = yaml.safe_load(cms[0]["data"]["job.yaml"])
        root = ((spec or {}).get("data") or {}).get("root", "")
        if not str(root).startswith("/data/"):
            report.add(f"{label} {name_of(cms[0])}", f"data.root '{root}' is not under /data, "
                                                      "the coordinator's --data-root")


def check_render(label, docs, report, sources):
    check_containers(label, docs, report, sources)
    check_references(label, docs, report)
    check_secret_values(label, docs, report)
    if label == "submit":
        check_submit(label, docs, report)
        return
    check_coordinator(label, docs, report)
    check_agents(label, docs, report, gpu=(label == "overlays/gpu"))
    check_network_policies(label, docs, report)


def check_tokens(root, report):
    """The example tokens are consistent: the submit token is a user token,
    the join token is none of them."""
    tdir = os.path.join(root, "deploy", "kubernetes", "base", "tokens")
    try:
        with open(os.path.join(tdir, "client-tokens.example"), encoding="utf-8") as f:
            users = {}
            for line in f:
                parts = line.split()
                if parts and not parts[0].startswith("#"):
                    users[parts[0]] = parts[1:]
        with open(os.path.join(tdir, "client-token.example"), encoding="utf-8") as f:
            client = f.read().strip()
        with open(os.path.join(tdir, "join-token.example"), encoding="utf-8") as f:
            join = f.read().strip()
    except OSError as e:
        report.add(tdir, f"cannot read the example tokens: {e}")
        return
    if client not in users:
        report.add(tdir, "client-token.example is not a token in client-tokens.example")
    if join in users:
        report.add(tdir, "the join token is also a user token; the coordinator refuses that")
    for token, rest in users.items():
        if len(rest) != 2 or rest[1] not in ("admin", "user") or len(token) < 16:
            report.add(tdir, f"client-tokens.example: bad line for '{token[:8]}...'")


# ---------------------------------------------------------------- self-test

def find_one(docs, kind, component):
    return find(docs, kind, component)[0]


def breakages():
    """(description, expected message part, label, function that breaks docs)."""

    def coord(d):
        return find_one(d, "Deployment", "coordinator")

    def agent(d):
        return find_one(d, "DaemonSet", "agent")

    def agent_c(d):
        return pod_spec(agent(d))["containers"][0]

    def coord_c(d):
        return pod_spec(coord(d))["containers"][0]

    def drop_env(d, name):
        c = agent_c(d)
        c["env"] = [e for e in c["env"] if e["name"] != name]

    def svc_drop_metrics(d):
        svc = [s for s in d if s.get("kind") == "Service" and s["spec"].get("clusterIP") != "None"]
        svc[0]["spec"]["ports"] = [p for p in svc[0]["spec"]["ports"] if p["port"] != 9464]

    def pvc_rwx(d):
        for p in d:
            if p.get("kind") == "PersistentVolumeClaim" and "state" in p["metadata"]["name"]:
                p["spec"]["accessModes"] = ["ReadWriteMany"]

    def agent_policy_port(d):
        for p in d:
            if p.get("kind") == "NetworkPolicy" and "agent" in p["metadata"]["name"]:
                p["spec"]["ingress"][0]["ports"] = [{"protocol": "TCP", "port": 29500}]

    def shm_disk(d):
        for v in pod_spec(agent(d))["volumes"]:
            if v["name"] == "shm":
                v["emptyDir"] = {}

    def set_key(getter, path, value):
        def f(d):
            obj = getter(d)
            for k in path[:-1]:
                obj = obj[k]
            if value is None:
                obj.pop(path[-1], None)
            else:
                obj[path[-1]] = value
        return f

    gpu = "overlays/gpu"
    return [
        ("coordinator without cpu limit", "resources.limits.cpu is missing", gpu,
         lambda d: coord_c(d)["resources"]["limits"].pop("cpu")),
        ("agent without memory request", "resources.requests.memory is missing", gpu,
         lambda d: agent_c(d)["resources"]["requests"].pop("memory")),
        ("agent without readiness probe", "readinessProbe is missing", gpu,
         set_key(agent_c, ["readinessProbe"], None)),
        ("coordinator without liveness probe", "livenessProbe is missing", gpu,
         set_key(coord_c, ["livenessProbe"], None)),
        ("image latest", "uses the tag 'latest'", gpu, set_key(coord_c, ["image"], "vmae:latest")),
        ("image without tag", "is not pinned by a tag", gpu, set_key(agent_c, ["image"], "vmae")),
        ("two coordinators", "replicas must be 1", gpu,
         set_key(coord, ["spec", "replicas"], 2)),
        ("rolling coordinator", "strategy must be Recreate", gpu,
         set_key(coord, ["spec", "strategy"], {"type": "RollingUpdate"})),
        ("state on RWX", "must be ReadWriteOnce", gpu, pvc_rwx),
        ("shm on disk", "memory-backed emptyDir", gpu, shm_disk),
        ("no NCCL_SOCKET_IFNAME", "NCCL_SOCKET_IFNAME must be eth0", gpu,
         lambda d: drop_env(d, "NCCL_SOCKET_IFNAME")),
        ("no GLOO_SOCKET_IFNAME", "GLOO_SOCKET_IFNAME must be eth0", gpu,
         lambda d: drop_env(d, "GLOO_SOCKET_IFNAME")),
        ("no GPU limit", "must set resources.limits nvidia.com/gpu", gpu,
         lambda d: agent_c(d)["resources"]["limits"].pop("nvidia.com/gpu")),
        ("agents on one port", "reach each other on all TCP ports", gpu, agent_policy_port),
        ("no metrics port", "port 9464 (metrics) is missing", gpu, svc_drop_metrics),
        ("misspelt agent flag", "has no flag --join-tokn-file", gpu,
         lambda d: agent_c(d)["args"].__setitem__(
             agent_c(d)["args"].index("--join-token-file"), "--join-tokn-file")),
        ("dashed flag in flag file", "needs underscores", gpu,
         lambda d: [c.__setitem__("data", {"coordinator.flags": "--lease-ms=15000\n"})
                    for c in d if c.get("kind") == "ConfigMap"
                    and "coordinator.flags" in (c.get("data") or {})]),
        ("unmounted TLS key", "is not under any volumeMount", gpu,
         lambda d: coord_c(d).__setitem__("volumeMounts", [
             m for m in coord_c(d)["volumeMounts"] if m["name"] != "tls"])),
        ("root user", "must run as non-root", gpu,
         set_key(lambda d: pod_spec(agent(d)), ["securityContext", "runAsUser"], 0)),
        ("token with newline", "surrounding whitespace", gpu,
         lambda d: [s["data"].__setitem__("token", base64.b64encode(
             b"0123456789abcdef0123\n").decode()) for s in d
             if s.get("kind") == "Secret" and "token" in (s.get("data") or {})]),
    ]


def run_self_test(rendered, sources):
    failures = 0
    for label, docs in rendered.items():
        report = Report()
        report.coordinator_flags = sources["coordinator"]
        check_render(label, docs, report, sources)
        if report.problems:
            print(f"self-test: the unbroken {label} already fails:\n  " +
                  "\n  ".join(report.problems))
            failures += 1
    for what, expected, label, breaker in breakages():
        docs = copy.deepcopy(rendered[label])
        breaker(docs)
        report = Report()
        report.coordinator_flags = sources["coordinator"]
        check_render(label, docs, report, sources)
        hits = [p for p in report.problems if expected in p]
        if hits:
            print(f"self-test ok: {what}: {hits[0]}")
        else:
            failures += 1
            print(f"self-test FAILED: breaking '{what}' was not reported (expected '{expected}');"
                  f" got: {report.problems or 'nothing'}")
    return failures


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kubectl", default="kubectl", help="kubectl with kustomize built in")
    parser.add_argument("--source-root", required=True, help="the vmae checkout")
    parser.add_argument("--self-test", action="store_true",
                        help="check that deliberately broken manifests are reported")
    args = parser.parse_args()
    root = os.path.abspath(args.source_root)
    sources = {"coordinator": coordinator_flags(root), "agent": agent_flags(root),
               "vmaectl": vmaectl_words(root)}
    if len(sources["coordinator"]) < 5 or len(sources["agent"]) < 5:
        print("cannot find the flag definitions in server/coordinator_main.cc or "
              "worker/agent/agent_config.cc; update check_manifests.py's parsers")
        return 1
    report = Report()
    report.coordinator_flags = sources["coordinator"]
    parsed = load_source_files(root, report)
    rendered = {}
    for k in KUSTOMIZATIONS:
        try:
            rendered[k] = kustomize(args.kubectl, os.path.join(root, "deploy", "kubernetes", k))
        except (RuntimeError, OSError, subprocess.TimeoutExpired, yaml.YAMLError) as e:
            report.add(f"deploy/kubernetes/{k}", str(e))
    if args.self_test:
        if report.problems:
            print("cannot self-test: the manifests do not render:\n  " +
                  "\n  ".join(report.problems))
            return 1
        failures = run_self_test(rendered, sources)
        print(f"self-test: {len(breakages())} breakages, {failures} failures")
        return 1 if failures else 0
    for label, docs in rendered.items():
        check_render(label, docs, report, sources)
    check_tokens(root, report)
    for p in report.problems:
        print(f"FAIL {p}")
    total = sum(len(d) for d in rendered.values())
    print(f"{parsed} source documents parsed, {total} rendered objects in "
          f"{len(rendered)} kustomizations checked: {len(report.problems)} problems")
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main())
