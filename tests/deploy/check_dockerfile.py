#!/usr/bin/python3
"""Checks the Dockerfile without a Docker engine (none is reachable in CI):
its build stages run the CI scripts (scripts/install-deps.sh and
scripts/build.sh), every FROM is a pinned image tag (never `latest`) or an
earlier stage, every stage a `${VARIANT}` FROM can name exists, and the
final stage runs as a user other than root and has a HEALTHCHECK.

  check_dockerfile.py --dockerfile Dockerfile
  check_dockerfile.py --dockerfile Dockerfile --self-test

--self-test breaks the real Dockerfile one way at a time (in memory) and
fails unless every breakage is reported. Problems print as "<where>: <what>".
"""

import argparse
import re
import sys


def instructions(text):
    """[(line_no, KEYWORD, rest)] with continuations joined and comments dropped."""
    out = []
    pending, start = "", 0
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip()
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if pending and line.lstrip().startswith("#"):
            continue  # comment lines inside a continued instruction
        if not pending:
            start = n
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        keyword, _, rest = full.partition(" ")
        out.append((start, keyword.upper(), rest.strip()))
    return out


def stages(text):
    """[{name, base, line, body: [(line, KEYWORD, rest)]}] and the global ARGs."""
    result, args = [], {}
    for n, kw, rest in instructions(text):
        if kw == "FROM":
            words = [w for w in rest.split() if not w.startswith("--")]
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            result.append({"name": name, "base": words[0], "line": n, "body": []})
        elif not result:
            if kw == "ARG":
                key, _, default = rest.partition("=")
                args[key.strip()] = default.strip()
        else:
            result[-1]["body"].append((n, kw, rest))
    return result, args


def variants(text):
    """Values VARIANT may take, from the comment 'VARIANT=a|b' or the stage names."""
    names = set()
    for s in stages(text)[0]:
        m = re.fullmatch(r"(?:build|runtime)-(\w+)", s["name"] or "")
        if m and m.group(1) != "base":
            names.add(m.group(1))
    return names


def check(text):
    problems = []
    all_stages, args = stages(text)
    if not all_stages:
        return ["Dockerfile: no FROM"]
    known = set()
    values = variants(text)
    if "VARIANT" not in args:
        problems.append("Dockerfile: no global ARG VARIANT (cpu|cuda) before the first FROM")
    elif args["VARIANT"] != "cpu":
        problems.append(f"Dockerfile: ARG VARIANT defaults to '{args['VARIANT']}', expected cpu")
    for want in ("cpu", "cuda"):
        if want not in values:
            problems.append(f"Dockerfile: no build-{want}/runtime-{want} stage for VARIANT={want}")
    by_name = {}
    for s in all_stages:
        where = f"Dockerfile:{s['line']}"
        base = s["base"]
        if "${VARIANT}" in base or "$VARIANT" in base:
            for v in sorted(values | {"cpu", "cuda"}):
                target = base.replace("${VARIANT}", v).replace("$VARIANT", v)
                if target not in known:
                    problems.append(f"{where}: FROM {base} with VARIANT={v} names no earlier "
                                    f"stage '{target}'")
        elif base in known or base == "scratch":
            pass
        elif "$" in base:
            problems.append(f"{where}: FROM {base}: an ARG in the image hides whether it is pinned")
        else:
            last = base.rsplit("/", 1)[-1]
            if "@sha256:" in base:
                pass
            elif ":" not in last:
                problems.append(f"{where}: FROM {base} is not pinned by a tag")
            elif last.split(":", 1)[1] == "latest":
                problems.append(f"{where}: FROM {base} uses 'latest'; pin a version tag")
        if s["name"]:
            known.add(s["name"])
            by_name[s["name"]] = s

    def chain(stage):
        """The stage and the earlier stages it builds on."""
        out = [stage]
        while stage["base"] in by_name and by_name[stage["base"]] is not stage:
            stage = by_name[stage["base"]]
            out.append(stage)
        return out

    def runs(stage, needle):
        return any(kw == "RUN" and needle in rest for st in chain(stage)
                   for _, kw, rest in st["body"])

    build_stages = [s for s in all_stages if re.fullmatch(r"build-\w+", s["name"] or "")
                    and s["name"] != "build-base"]
    if not build_stages:
        problems.append("Dockerfile: no build-<variant> stage")
    for s in build_stages:
        for script in ("scripts/install-deps.sh", "scripts/build.sh"):
            if not runs(s, script):
                problems.append(f"Dockerfile:{s['line']}: stage {s['name']} never RUNs {script} "
                                "(build with the scripts CI runs)")
    final = all_stages[-1]
    users = [rest for st in chain(final) for _, kw, rest in st["body"] if kw == "USER"]
    own = [rest for _, kw, rest in final["body"] if kw == "USER"]
    if not own:
        problems.append(f"Dockerfile:{final['line']}: the final stage sets no USER")
    if users:
        user = users[0].split(":", 1)[0]
        if user in ("root", "0"):
            problems.append(f"Dockerfile:{final['line']}: the final stage runs as root ({users[0]})")
    health = [rest for _, kw, rest in final["body"] if kw == "HEALTHCHECK"]
    if not health or "health" not in health[0].split("CMD", 1)[-1] or "vmaectl" not in health[0]:
        problems.append(f"Dockerfile:{final['line']}: the final stage needs "
                        "HEALTHCHECK ... CMD vmaectl ... health (the gRPC health service)")
    return problems


def breakages(text):
    """(what, expected message part, broken text)."""
    def sub(pattern, repl, count=1):
        out, n = re.subn(pattern, repl, text, count=count, flags=re.M)
        if n == 0:
            raise ValueError(f"self-test: pattern {pattern!r} not in the Dockerfile")
        return out
    last_user = text.rfind("\nUSER ")
    no_user = text[:last_user] + "\n# USER removed" + text[last_user + 5:]
    root_user = text[:last_user] + "\nUSER root" + text[text.index("\n", last_user + 1):]
    return [
        ("no build.sh", "never RUNs scripts/build.sh",
         text.replace("scripts/build.sh", "cmake --build")),
        ("no install-deps.sh", "never RUNs scripts/install-deps.sh",
         re.sub(r"RUN scripts/install-deps.sh", "RUN apt-get install -y cmake", text)),
        ("latest", "uses 'latest'", sub(r"^FROM debian:[^ ]+ AS build-base",
                                        "FROM debian:latest AS build-base")),
        ("no tag", "is not pinned by a tag", sub(r"^FROM debian:[^ ]+-slim", "FROM debian")),
        ("no USER", "sets no USER", no_user),
        ("root USER", "runs as root", root_user),
        ("missing variant stage", "names no earlier stage 'build-cuda'",
         sub(r"AS build-cuda$", "AS build-gpu")),
        ("no healthcheck", "HEALTHCHECK", sub(r"^HEALTHCHECK", "# HEALTHCHECK")),
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dockerfile", required=True)
    parser.add_argument("--self-test", action="store_true")
    args = parser.parse_args()
    with open(args.dockerfile, encoding="utf-8") as f:
        text = f.read()
    if args.self_test:
        failures = 0
        base = check(text)
        if base:
            print("self-test: the real Dockerfile already fails:\n  " + "\n  ".join(base))
            failures += 1
        for what, expected, broken in breakages(text):
            hits = [p for p in check(broken) if expected in p]
            if hits:
                print(f"self-test ok: {what}: {hits[0]}")
            else:
                failures += 1
                print(f"self-test FAILED: '{what}' was not reported (expected '{expected}')")
        print(f"self-test: {len(breakages(text))} breakages, {failures} failures")
        return 1 if failures else 0
    problems = check(text)
    for p in problems:
        print(f"FAIL {p}")
    print(f"{args.dockerfile}: {len(stages(text)[0])} stages checked, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
