"""Benchmarks for the foundation: devenv up vs plain Compose, event-to-report latency, status latency.

Run (after scripts/provision.sh, in the repo root):

    .venv/bin/python bench/bench_up.py [--pairs 5] [--out bench/results/up.json]

1. ``up``: the bundled example stack, profile dev, copied under a unique project name with free
   ports (so it never meets another run's stack). Each pair runs ``devenv up --profile dev`` and
   the equivalent ``docker compose -p ... -f ... --env-file ... up -d --wait``, alternating which
   goes first, with ``down -v`` between runs so every run starts from nothing. Reports medians,
   the median of per-pair ratios (devenv / compose; < 1 means devenv is faster) and the 1-minute
   load average before each pair (the machine may be shared: read the ratios).
2. ``latency``: how long after the Docker event (``health_status: healthy`` or ``die``) each tool
   reports it. devenv: the core's emit callback time minus the event's timeNano. Compose: the
   time ``up -d --wait`` returns (healthy) or fails (crash) minus the same event's timeNano.
3. ``status``: ``devenv status --json`` wall time vs ``docker compose ps --format json`` on the
   running example stack.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEVENV = str(Path(sys.executable).parent / "devenv")
IMAGES = {
    "POSTGRES_IMAGE": "devenv-test/postgres:latest",
    "APP_IMAGE": "devenv-test/tasktracker-app:latest",
}


def env() -> dict[str, str]:
    e = dict(os.environ)
    e.update(IMAGES)
    return e


def run(cmd: list[str], cwd: Path, check: bool = True) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env(), capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if check and proc.returncode != 0:
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-3000:]}")
    return elapsed


def compose_args(project: str, root: Path = ROOT) -> list[str]:
    sys.path.insert(0, str(ROOT))
    from devenv.config import load_project

    proj = load_project(root)
    prof = proj.resolve_profile("dev")
    args = ["docker", "compose", "-p", project]
    for f in prof.compose_files:
        args += ["-f", str(f)]
    for f in prof.env_files:
        args += ["--env-file", str(f)]
    return args


# ------------------------------------------------------------------------------------------ up
def load_1min() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def bench_up(pairs: int) -> dict[str, Any]:
    from bench_status import copy_example

    with tempfile.TemporaryDirectory() as tmp:
        folder, ports = copy_example(Path(tmp))
        os.environ.update(ports)  # the shell environment wins over the env files: fresh ports
        try:
            return _bench_up(pairs, folder)
        finally:
            for key in ports:
                os.environ.pop(key, None)
            # Whatever happened (a failed run ends the bench): nothing of this stack is left behind.
            subprocess.run(
                [DEVENV, "down", "--volumes", "--yes", "--confirm-profile", "dev", "--profile", "dev"],
                cwd=folder,
                env=env(),
                capture_output=True,
            )


def _bench_up(pairs: int, folder: Path) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT))
    from devenv.config import load_project

    project = load_project(folder).name  # compose gets the same name with -p
    base = compose_args(project, folder)
    down = [*base, "down", "-v", "--remove-orphans", "-t", "0"]
    run(down, folder, check=False)
    devenv_times, compose_times, ratios, loads = [], [], [], []
    failed: list[str] = []
    i = 0
    while len(ratios) < pairs and len(failed) < pairs:
        order = ["devenv", "compose"] if i % 2 == 0 else ["compose", "devenv"]
        i += 1
        result: dict[str, float] = {}
        load = load_1min()
        try:
            for tool in order:
                if tool == "devenv":
                    result[tool] = run([DEVENV, "up", "--profile", "dev", "--timeout", "600"], folder)
                else:
                    result[tool] = run([*base, "up", "-d", "--wait"], folder)
                run(down, folder)
        except SystemExit as exc:  # one run failed (a busy machine: a healthcheck ran out of retries)
            run(down, folder, check=False)
            failed.append(f"pair {i} (load {load:.1f}): {str(exc).splitlines()[0]}")
            print(f"  {failed[-1]}\n{str(exc)[-1500:]}", file=sys.stderr, flush=True)
            continue
        loads.append(load)
        devenv_times.append(result["devenv"])
        compose_times.append(result["compose"])
        ratios.append(result["devenv"] / result["compose"])
        print(
            f"  pair {i}: devenv {result['devenv']:.2f}s  compose {result['compose']:.2f}s  (load {loads[-1]:.1f})",
            file=sys.stderr,
            flush=True,
        )
    return {
        "pairs": pairs,
        "load_1min_before_each_pair": loads,
        "failed_pairs": failed,
        "devenv_median_s": round(statistics.median(devenv_times), 3),
        "compose_median_s": round(statistics.median(compose_times), 3),
        "median_ratio": round(statistics.median(ratios), 3),
        "devenv_s": [round(t, 3) for t in devenv_times],
        "compose_s": [round(t, 3) for t in compose_times],
    }


# ------------------------------------------------------------------------------------- latency
LATENCY_COMPOSE = """
services:
  slow:
    image: devenv-test/python:latest
    init: true
    command: ["sh", "-c", "sleep 2.3; touch /tmp/ok; exec sleep infinity"]
    healthcheck: {test: ["CMD", "test", "-f", "/tmp/ok"], interval: 1s, timeout: 2s, retries: 30}
  crash:
    image: devenv-test/python:latest
    command: ["sh", "-c", "sleep ${CRASH_AFTER:-2.3}; exit 3"]
    # A check that never passes keeps both tools waiting until the exit (without one, Compose's
    # --wait returns as soon as the container runs and never sees the crash).
    healthcheck: {test: ["CMD", "false"], interval: 1s, timeout: 2s, retries: 30}
    profiles: ["crash"]
"""


class EventClock:
    """Records the engine's own timestamp of the first matching event per (service, action)."""

    def __init__(self, project: str) -> None:
        import docker

        self.api = docker.APIClient(version="auto")
        self.times: dict[tuple[str, str], float] = {}
        self.stream = self.api.events(
            decode=True, filters={"type": "container", "label": f"com.docker.compose.project={project}"}
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            for ev in self.stream:
                attrs = (ev.get("Actor") or {}).get("Attributes") or {}
                key = (attrs.get("com.docker.compose.service", ""), str(ev.get("Action")))
                self.times.setdefault(key, ev["timeNano"] / 1e9)
        except Exception:
            pass

    def close(self) -> None:
        self.stream.close()


def bench_latency(rounds: int) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT))
    from devenv.config import load_project
    from devenv.core.events import ServiceFailed, ServiceReady
    from devenv.core.stack import Stack, up

    ours_healthy, ours_crash, compose_healthy, compose_crash = [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "dvtlatency"
        folder.mkdir()
        (folder / "compose.yml").write_text(LATENCY_COMPOSE)
        base = ["docker", "compose", "-p", "dvtlatency", "-f", str(folder / "compose.yml")]
        # A crashed run's containers would make the next `up` a no-op (already healthy: no event).
        subprocess.run([*base, "--profile", "crash", "down", "-t", "0"], capture_output=True)
        for _ in range(rounds):
            for scenario in ("healthy", "crash"):
                os.environ["COMPOSE_PROFILES"] = "crash" if scenario == "crash" else ""
                # devenv, in-process: emit time vs the engine's event time
                clock = EventClock("dvtlatency")
                seen: dict[str, float] = {}

                def emit(event: Any, seen: dict[str, float] = seen) -> None:
                    if isinstance(event, ServiceReady) and event.service == "slow":
                        seen.setdefault("healthy", time.time())
                    if isinstance(event, ServiceFailed) and event.failure.service == "crash":
                        seen.setdefault("crash", time.time())

                project = load_project(folder)
                stack = Stack(project, project.resolve_profile("default"))
                services = ["crash"] if scenario == "crash" else ["slow"]
                up(stack, services, timeout=30, emit=emit)
                time.sleep(0.2)  # let the reader thread record the event (bench only)
                if scenario == "healthy":
                    # devenv's fast check (a stat of /tmp/ok) may report the service ready before
                    # Docker's own check passes: wait for Docker's event; the figure is then negative.
                    deadline = time.monotonic() + 5
                    while ("slow", "health_status: healthy") not in clock.times and time.monotonic() < deadline:
                        time.sleep(0.05)
                    ours_healthy.append(seen["healthy"] - clock.times[("slow", "health_status: healthy")])
                else:
                    ours_crash.append(seen["crash"] - clock.times[("crash", "die")])
                clock.close()
                subprocess.run([*base, "down", "-t", "0"], capture_output=True)
                # compose: the moment `up -d --wait` returns vs the same kind of event
                clock = EventClock("dvtlatency")
                cmd = [*base, "--profile", "crash"] if scenario == "crash" else base
                subprocess.run([*cmd, "up", "-d", "--wait", *services], capture_output=True)
                returned = time.time()
                time.sleep(0.2)
                if scenario == "healthy":
                    compose_healthy.append(returned - clock.times[("slow", "health_status: healthy")])
                else:
                    compose_crash.append(returned - clock.times[("crash", "die")])
                clock.close()
                subprocess.run([*cmd, "down", "-t", "0"], capture_output=True)
        os.environ.pop("COMPOSE_PROFILES", None)

    def med(values: list[float]) -> float:
        return round(statistics.median(values), 4)

    return {
        "rounds": rounds,
        "devenv_healthy_to_report_s": med(ours_healthy),
        "devenv_die_to_report_s": med(ours_crash),
        "compose_healthy_to_return_s": med(compose_healthy),
        "compose_die_to_return_s": med(compose_crash),
        "note": "compose times include its CLI exit; devenv times are in-process emit callbacks",
    }


# -------------------------------------------------------------------------------------- status
def bench_status(rounds: int) -> dict[str, Any]:
    base = compose_args("tasktracker")
    run([DEVENV, "up", "--profile", "dev"], ROOT)
    try:
        ours = [run([DEVENV, "status", "--profile", "dev", "--json"], ROOT) for _ in range(rounds)]
        theirs = [run([*base, "ps", "--all", "--format", "json"], ROOT) for _ in range(rounds)]
    finally:
        run([*base, "down", "-v", "-t", "0"], ROOT, check=False)
    return {
        "rounds": rounds,
        "devenv_status_json_median_s": round(statistics.median(ours), 3),
        "compose_ps_json_median_s": round(statistics.median(theirs), 3),
        "ratio": round(statistics.median(ours) / statistics.median(theirs), 3),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--only", choices=["up", "latency", "status"], action="append")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "up.json")
    args = parser.parse_args()
    if shutil.which("docker") is None:
        raise SystemExit("docker CLI not found: run scripts/provision.sh first")
    todo = args.only or ["up", "latency", "status"]
    report: dict[str, Any] = {"when": time.strftime("%Y-%m-%d %H:%M:%S")}
    if "up" in todo:
        print("up: devenv up --profile dev vs docker compose up -d --wait", file=sys.stderr)
        report["up"] = bench_up(args.pairs)
    if "latency" in todo:
        print("latency: Docker event -> reported", file=sys.stderr)
        report["latency"] = bench_latency(args.rounds)
    if "status" in todo:
        print("status: devenv status --json vs docker compose ps --format json", file=sys.stderr)
        report["status"] = bench_status(max(args.rounds, 7))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
