"""Benchmarks for issues §11 and §9: ``devenv up`` vs ``docker compose up -d --wait`` as the stack grows.

Run (after scripts/provision.sh, in the repo root):

    .venv/bin/python bench/bench_scale.py [--pairs 5] [--only wide10 --only depth8 ...]

Scenarios (generated into a temporary folder, one compose project each, removed at the end):

- ``wide10`` / ``wide30`` / ``wide60``: N independent services, each ready at once, with a 1 s
  healthcheck (``test -f /tmp/ready``, exec'd by Docker);
- ``depth8``: a chain of 8 services, each ``depends_on`` the previous with
  ``condition: service_healthy``, each ready 0.3 s after it starts, 1 s healthchecks. Also run
  with ``[readiness] fast_checks = false`` (the third column) to show what §9 changes.

Each round runs every variant once, rotating which goes first, with ``down -v -t 0`` after every
run: the variants of a round see the same load. Reports medians and the median of per-round
ratios (devenv / compose; < 1 means devenv is faster). The machine is shared: read the ratios,
not the absolute times.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEVENV = str(Path(sys.executable).parent / "devenv")
IMAGE = "devenv-test/python:latest"
HEALTHCHECK = '{test: ["CMD", "test", "-f", "/tmp/ready"], interval: 1s, timeout: 2s, retries: 60}'


def wide(n: int) -> str:
    lines = ["services:"]
    for i in range(n):
        lines += [
            f"  s{i:02d}:",
            f"    image: {IMAGE}",
            "    init: true",
            '    command: ["sh", "-c", "touch /tmp/ready; exec sleep infinity"]',
            f"    healthcheck: {HEALTHCHECK}",
        ]
    return "\n".join(lines) + "\n"


def chain(n: int) -> str:
    lines = ["services:"]
    for i in range(n):
        lines += [
            f"  c{i}:",
            f"    image: {IMAGE}",
            "    init: true",
            '    command: ["sh", "-c", "sleep 0.3; touch /tmp/ready; exec sleep infinity"]',
            f"    healthcheck: {HEALTHCHECK}",
        ]
        if i:
            lines += ["    depends_on:", f"      c{i - 1}: {{condition: service_healthy}}"]
    return "\n".join(lines) + "\n"


SCENARIOS = {
    "wide10": (lambda: wide(10), False),
    "wide30": (lambda: wide(30), False),
    "wide60": (lambda: wide(60), False),
    "depth8": (lambda: chain(8), True),
}


def timed(cmd: list[str], cwd: Path) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-3000:]}")
    return elapsed


def bench(name: str, rounds: int, tmp: Path) -> dict[str, Any]:
    make, with_off = SCENARIOS[name]
    project = f"dvbench{name}{os.getpid() % 10000}"  # a fresh name: a crashed run's network cannot block it
    folder = tmp / project
    folder.mkdir()
    (folder / "compose.yml").write_text(make())
    base = ["docker", "compose", "-p", project, "-f", str(folder / "compose.yml")]
    down = [*base, "down", "-v", "--remove-orphans", "-t", "0"]

    def devenv(fast: bool) -> float:
        toml = f'[project]\nname = "{project}"\ncompose_files = ["compose.yml"]\n'
        toml += "" if fast else "[readiness]\nfast_checks = false\n"
        (folder / "devenv.toml").write_text(toml)
        return timed([DEVENV, "up", "--timeout", "300"], folder)

    variants = {"devenv": lambda: devenv(True), "compose": lambda: timed([*base, "up", "-d", "--wait"], folder)}
    if with_off:
        variants["devenv_no_fast_checks"] = lambda: devenv(False)
    names = list(variants)
    times: dict[str, list[float]] = {v: [] for v in names}
    loads: list[float] = []
    subprocess.run(down, capture_output=True)
    try:
        for r in range(rounds):
            loads.append(float(Path("/proc/loadavg").read_text().split()[0]))
            order = names[r % len(names) :] + names[: r % len(names)]
            for v in order:
                times[v].append(variants[v]())
                done = subprocess.run(down, capture_output=True, text=True)
                if done.returncode != 0:
                    raise SystemExit(f"down failed: {done.stderr[-2000:]}")
            line = "  ".join(f"{v} {times[v][-1]:.2f}s" for v in names)
            print(f"  {name} round {r + 1}: {line}  (load {loads[-1]:.1f})", file=sys.stderr, flush=True)
    finally:
        subprocess.run(down, capture_output=True)
    out: dict[str, Any] = {"rounds": rounds, "load_1min_before_each_round": loads}
    for v in names:
        out[f"{v}_median_s"] = round(statistics.median(times[v]), 3)
        out[f"{v}_s"] = [round(t, 3) for t in times[v]]
    for v in names:
        if v != "compose":
            ratios = [a / b for a, b in zip(times[v], times["compose"], strict=True)]
            out[f"{v}_vs_compose_median_ratio"] = round(statistics.median(ratios), 3)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=5, help="rounds per scenario")
    parser.add_argument("--only", choices=list(SCENARIOS), action="append")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "scale.json")
    args = parser.parse_args()
    report: dict[str, Any] = {"when": time.strftime("%Y-%m-%d %H:%M:%S")}
    load = Path("/proc/loadavg")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.only or list(SCENARIOS):
            before = load.read_text().split()[0] if load.exists() else "?"
            report[name] = bench(name, args.pairs, Path(tmp))
            report[name]["load_1min_before"] = before
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
