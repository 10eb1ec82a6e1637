"""Benchmark: ``devenv watch`` against ``docker compose watch``, in one run, on the same stack.

Run (after scripts/provision.sh, in the repo root):

    .venv/bin/python bench/bench_watch.py [--edits 20] [--rounds 2] [--idle 30] [--out bench/results/watch.json]

Brings the watch fixture stack (tests/integration/stacks/watch: a service built from a local image,
no bind mounts, ``develop.watch`` sync rules) up under a unique project, then, for each tool in turn
(``--rounds`` alternations, ``--edits`` saves each time, so each tool gets rounds x edits edits):

- save -> visible: a file of the sync rule is rewritten on the host; a poller running inside the
  container (an exec of python3 reading the file every 2 ms and printing each new content) says when
  the container sees it. The figure is the time from the write on the host to that line;
- burst: 200 new files written at once; how many copies the tool made (devenv: its ``synced``
  events; Compose: its "Syncing service" lines), and when all 200 were in the container;
- idle CPU: the watcher's own CPU time (user + system, with its children) over ``--idle`` seconds
  of no change, as a percentage of one core.

``docker compose watch --no-up`` runs with COMPOSE_BAKE=false (no buildx here). The load average
is recorded with the figures: on a shared machine they move with it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
DEVENV = str(Path(sys.executable).parent / "devenv")
STACK = ROOT / "tests" / "integration" / "stacks" / "watch"
POLLER = (
    "import os, sys, time\n"
    "last = 0\n"
    "while True:\n"
    "    try:\n"
    "        with open(sys.argv[1]) as f: now = f.read()\n"
    "    except OSError: now = None\n"
    "    if now != last:\n"
    "        last = now\n"
    "        print(repr(now), flush=True)\n"
    "    time.sleep(0.002)\n"
)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(values: list[float]) -> dict[str, float]:
    ms = [v * 1000 for v in values]
    return {
        "n": len(ms),
        "median_ms": round(statistics.median(ms), 1),
        "p95_ms": round(pct(ms, 0.95), 1),
        "min_ms": round(min(ms), 1),
    }


class Lines:
    """The lines of a process's pipe, with their arrival times, read by a thread."""

    def __init__(self, pipe: Any) -> None:
        self.items: list[tuple[float, str]] = []
        self.cond = threading.Condition()
        threading.Thread(target=self._read, args=(pipe,), daemon=True).start()

    def _read(self, pipe: Any) -> None:
        for line in pipe:
            with self.cond:
                self.items.append((time.monotonic(), line.rstrip("\n")))
                self.cond.notify_all()

    def wait(self, pred: Callable[[str], bool], start: int = 0, timeout: float = 60) -> tuple[float, int]:
        deadline = time.monotonic() + timeout
        with self.cond:
            i = start
            while True:
                while i < len(self.items):
                    if pred(self.items[i][1]):
                        return self.items[i][0], i
                    i += 1
                left = deadline - time.monotonic()
                if left <= 0:
                    tail = "\n".join(t for _a, t in self.items[-10:])
                    raise TimeoutError(f"no matching line within {timeout}s; last lines:\n{tail}")
                self.cond.wait(left)

    def count(self) -> int:
        with self.cond:
            return len(self.items)


class Tool:
    """One watcher (devenv or Compose) running on the stack."""

    def __init__(self, name: str, argv: list[str], cwd: Path, env: dict[str, str], ready: Callable[[str], bool]):
        self.name = name
        self.proc = subprocess.Popen(
            argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
        )
        self.out = Lines(self.proc.stdout)
        self.out.wait(ready, timeout=120)
        time.sleep(1.0)  # initial syncs done, watches in place

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def cpu_seconds(self) -> float:
        try:
            p = psutil.Process(self.proc.pid)
            total = sum(p.cpu_times()[:2])
            for child in p.children(recursive=True):
                total += sum(child.cpu_times()[:2])
            return total
        except psutil.NoSuchProcess:
            return 0.0


def start_tool(name: str, folder: Path, env: dict[str, str], project: str) -> Tool:
    if name == "devenv":
        argv = [DEVENV, "watch", "--json", "--no-config"]
        return Tool(name, argv, folder, env, lambda line: '"event":"started"' in line)
    compose_env = {**env, "COMPOSE_BAKE": "false"}
    argv = ["docker", "compose", "-p", project, "watch", "--no-up", "app"]
    return Tool(name, argv, folder, compose_env, lambda line: "Watch enabled" in line)


def latency(tool: Tool, folder: Path, cid: str, edits: int, tag: str) -> list[float]:
    target = folder / "src" / "bench.txt"
    poller = subprocess.Popen(
        ["docker", "exec", "-i", cid, "python3", "-u", "-c", POLLER, "/srv/app/bench.txt"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    seen = Lines(poller.stdout)
    try:
        seen.wait(lambda line: True, timeout=30)  # the poller runs
        out = []
        for i in range(edits):
            content = f"{tool.name}-{tag}-{i}\n"
            mark = seen.count()
            t0 = time.monotonic()
            target.write_text(content)
            at, _ = seen.wait(lambda line, c=content: line == repr(c), start=mark, timeout=30)
            out.append(at - t0)
            time.sleep(0.3)
        return out
    finally:
        poller.kill()
        poller.wait()


def burst(tool: Tool, folder: Path, cid: str, tag: str) -> dict[str, Any]:
    where = folder / "src" / f"burst-{tool.name}-{tag}"
    mark = tool.out.count()
    where.mkdir()
    t0 = time.monotonic()
    for i in range(200):
        (where / f"f{i:03}.py").write_text(f"N = {i}\n")
    written = time.monotonic() - t0
    inside = f"/srv/app/{where.name}"
    present = 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        r = subprocess.run(
            ["docker", "exec", cid, "sh", "-c", f"ls {inside} 2>/dev/null | wc -l"], capture_output=True, text=True
        )
        present = int(r.stdout.strip() or 0)
        if present >= 200:
            break
        time.sleep(0.05)
    all_in = time.monotonic() - t0
    time.sleep(1.5)  # anything still coming counts
    lines = [t for _a, t in tool.out.items[mark:]]
    if tool.name == "devenv":
        copies = [json.loads(t) for t in lines if '"event":"synced"' in t]
        batches = [len(c["files"]) for c in copies]
    else:
        batches = [int(t.split(" after ")[1].split()[0]) for t in lines if "Syncing service" in t and " after " in t]
    return {"write_s": round(written, 3), "all_present_s": round(all_in, 3), "present": present, "copies": batches}


def container_id(project: str) -> str:
    labels = [
        "--filter",
        f"label=com.docker.compose.project={project}",
        "--filter",
        "label=com.docker.compose.service=app",
    ]
    return subprocess.run(["docker", "ps", "-q", *labels], capture_output=True, text=True, check=True).stdout.split()[0]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--edits", type=int, default=10, help="saves per tool per round")
    parser.add_argument("--rounds", type=int, default=2, help="alternations devenv / Compose")
    parser.add_argument("--idle", type=float, default=30.0, help="seconds of idle watching measured")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    project = f"dvtbench{uuid.uuid4().hex[:8]}"
    folder = Path(tempfile.mkdtemp()) / project
    shutil.copytree(STACK, folder)
    env = {**os.environ, "NO_COLOR": "1", "WATCH_IMAGE": f"{project}-shared:dev"}
    compose = ["docker", "compose", "-p", project]
    report: dict[str, Any] = {"load_before": os.getloadavg()}
    up = subprocess.run([DEVENV, "up"], cwd=folder, env=env, capture_output=True, text=True)
    if up.returncode != 0:
        print(up.stderr, file=sys.stderr)
        return 1
    samples: dict[str, list[float]] = {"devenv": [], "compose": []}
    try:
        cid = container_id(project)
        for r in range(args.rounds):
            for name in ("devenv", "compose"):
                tool = start_tool(name, folder, env, project)
                try:
                    samples[name] += latency(tool, folder, cid, args.edits, str(r))
                    if r == 0:
                        report[f"{name}_burst"] = burst(tool, folder, cid, str(r))
                        before, t0 = tool.cpu_seconds(), time.monotonic()
                        time.sleep(args.idle)
                        used = tool.cpu_seconds() - before
                        report[f"{name}_idle_cpu_percent"] = round(100 * used / (time.monotonic() - t0), 3)
                finally:
                    tool.stop()
                print(
                    f"round {r + 1} {name}: median so far {statistics.median(samples[name]) * 1000:.0f} ms", flush=True
                )
    finally:
        subprocess.run([*compose, "down", "-v", "-t", "0", "--rmi", "all"], cwd=folder, env=env, capture_output=True)
        shutil.rmtree(folder.parent, ignore_errors=True)
    report["load_after"] = os.getloadavg()
    for name, values in samples.items():
        report[f"{name}_save_to_visible"] = summary(values)
    for name in ("devenv", "compose"):
        s = report[f"{name}_save_to_visible"]
        b = report[f"{name}_burst"]
        print(
            f"{name:8} save->visible n={s['n']} median {s['median_ms']:7.1f} ms  p95 {s['p95_ms']:7.1f} ms  | "
            f"burst of 200: {len(b['copies'])} copy/copies {b['copies']}, all present after {b['all_present_s']}s  | "
            f"idle CPU {report[f'{name}_idle_cpu_percent']}%"
        )
    print(f"load average before {report['load_before']}, after {report['load_after']}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
