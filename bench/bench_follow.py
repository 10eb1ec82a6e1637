"""Benchmark: ``devenv status --follow --json`` event-to-line latency.

Run (after scripts/provision.sh, in the repo root):

    .venv/bin/python bench/bench_follow.py [--rounds 20] [--out bench/results/follow.json]

Brings up the monitor fixture stack (tests/integration/stacks/monitor) under a unique project,
starts ``devenv status --follow --json`` and then, ``--rounds`` times each, ``docker kill``s and
``docker restart``s a container (through the Engine API, so no CLI start-up is in the figures).
For every NDJSON "changed" line it measures:

- event -> line: the time the line was read from the pipe minus the Engine event's own timestamp
  (``timeNano``, carried in the line as ``engine_time``): devenv's share;
- call -> line: the time the line was read minus the time the kill / restart call was made
  (includes the engine's own work: signal, process exit, clean-up).

Prints median and p95 of each; target: event -> line <= 50 ms median.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEVENV = str(Path(sys.executable).parent / "devenv")
STACK = ROOT / "tests" / "integration" / "stacks" / "monitor"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(values: list[float]) -> dict[str, float]:
    ms = [v * 1000 for v in values]
    return {"n": len(ms), "median_ms": round(statistics.median(ms), 2), "p95_ms": round(pct(ms, 0.95), 2)}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    import docker

    api = docker.APIClient(version="auto")
    project = f"dvtbench{uuid.uuid4().hex[:8]}"
    folder = Path(tempfile.mkdtemp()) / project
    shutil.copytree(STACK, folder)
    compose = ["docker", "compose", "-p", project]
    subprocess.run([*compose, "up", "-d", "plain", "web"], cwd=folder, check=True, capture_output=True)
    proc = subprocess.Popen(
        [DEVENV, "status", "--follow", "--json"],
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
    )
    lines: queue.Queue[tuple[float, dict[str, Any]]] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put((time.time(), json.loads(line)))

    threading.Thread(target=pump, daemon=True).start()

    def wait_line(state: str, timeout: float = 30) -> tuple[float, dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            at, doc = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            if doc.get("event") == "changed" and doc.get("service") == "plain" and doc.get("state") == state:
                return at, doc

    results: dict[str, dict[str, list[float]]] = {
        k: {"event_to_line": [], "call_to_line": []} for k in ("kill", "restart")
    }
    try:
        while lines.get(timeout=30)[1].get("service") != "plain":
            pass
        cid = api.containers(filters={"label": [f"com.docker.compose.project={project}",
                                                "com.docker.compose.service=plain"]})[0]["Id"]  # fmt: skip
        for _ in range(args.rounds):
            t0 = time.time()
            api.kill(cid)
            at, doc = wait_line("exited")
            results["kill"]["event_to_line"].append(at - doc["engine_time"])
            results["kill"]["call_to_line"].append(at - t0)
            api.start(cid)
            wait_line("running")
            t0 = time.time()
            api.restart(cid, timeout=0)
            at, doc = wait_line("exited")  # die
            results["restart"]["event_to_line"].append(at - doc["engine_time"])
            results["restart"]["call_to_line"].append(at - t0)
            at, doc = wait_line("running")  # start
            results["restart"]["event_to_line"].append(at - doc["engine_time"])
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(10)
        subprocess.run([*compose, "down", "-v", "-t", "0"], cwd=folder, capture_output=True)
        shutil.rmtree(folder.parent, ignore_errors=True)

    report: dict[str, Any] = {"rounds": args.rounds, "exit_code": proc.returncode}
    for kind, series in results.items():
        for name, values in series.items():
            report[f"{kind}_{name}"] = summary(values)
            s = report[f"{kind}_{name}"]
            print(f"{kind:8} {name:14} n={s['n']:3}  median {s['median_ms']:8.2f} ms  p95 {s['p95_ms']:8.2f} ms")
    both = results["kill"]["event_to_line"] + results["restart"]["event_to_line"]
    report["all_event_to_line"] = summary(both)
    print(f"all event -> line: median {report['all_event_to_line']['median_ms']:.2f} ms (target <= 50 ms)")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
