"""Benchmark: time from launching ``devenv`` (the TUI) to the first frame with the service rows populated.

Run (after scripts/provision.sh, in the repo root):

    .venv/bin/python bench/bench_tui.py [--runs 7] [--out bench/results/tui.json]

Brings up the fixture stack tests/integration/stacks/healthy under a unique project (5 services),
then ``--runs`` times starts the real ``devenv`` console script in a detached tmux session
(120x35) and polls ``tmux capture-pane`` every 5 ms until every service row shows its state
(the header's "5/5 ready" and the row of the last service). Reports each run, the median and the
worst. Goal: <= 0.4 s, never above 1.0 s. Also the same for an app that never sees an engine
(``DOCKER_HOST`` pointing nowhere) to separate devenv's reads from imports and Textual's start.
Each run also reports the devenv process's CPU time when its rows showed (a figure the load of a
shared machine barely moves: on an idle machine the wall time is close to it).
``--compare LAUNCHER`` interleaves the runs of another devenv launcher (an older checkout) so
that both see the same load on a shared machine.
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
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# A tmux server of the bench's own: on the default socket, another user's last session ending
# took the server down under a starting run ("server exited unexpectedly").
TMUX = ["tmux", "-L", f"devenv-bench-{os.getpid()}"]
DEVENV = Path(sys.executable).parent / "devenv"
sys.path.insert(0, str(REPO / "tests" / "integration"))

from devenv_testlib import cleanup_project, free_ports  # noqa: E402

CPU: list[float] = []  # the devenv process's CPU seconds (user + system) when its rows showed, per run


def devenv_cpu(session: str) -> float:
    """CPU seconds used so far by the devenv process of ``session`` (the child of the pane's shell)."""
    shell = subprocess.run([*TMUX, "display", "-p", "-t", session, "#{pane_pid}"], capture_output=True, text=True)
    children = subprocess.run(["pgrep", "-P", shell.stdout.strip()], capture_output=True, text=True).stdout.split()
    if not children:
        return float("nan")
    fields = Path(f"/proc/{children[0]}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def one_run(cwd: Path, env: dict[str, str], until: str, timeout: float = 10.0, devenv: Path = DEVENV) -> float:
    name = f"dvt-bench-{uuid.uuid4().hex[:8]}"
    exports = " ".join(f"{k}={v}" for k, v in env.items())
    script = f"cd {cwd} && env {exports} {devenv}; sleep 30"
    t0 = time.perf_counter()
    subprocess.run([*TMUX, "new-session", "-d", "-s", name, "-x", "120", "-y", "35", script], check=True)
    try:
        while time.perf_counter() - t0 < timeout:
            out = subprocess.run([*TMUX, "capture-pane", "-p", "-t", name], capture_output=True, text=True).stdout
            if until in out:
                wall = time.perf_counter() - t0
                CPU.append(devenv_cpu(name))
                return wall
            time.sleep(0.005)
        raise RuntimeError(f"no {until!r} on screen after {timeout}s:\n{out}")
    finally:
        subprocess.run([*TMUX, "kill-session", "-t", name], capture_output=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "tui.json")
    parser.add_argument(
        "--compare",
        type=Path,
        help="another devenv launcher (e.g. one running an older checkout): its runs are interleaved with "
        "these, so both see the same machine load",
    )
    args = parser.parse_args()
    if not shutil.which("tmux"):
        print("tmux is needed (scripts/provision.sh installs it)", file=sys.stderr)
        return 2
    project = f"dvtb{uuid.uuid4().hex[:8]}"
    folder = Path(tempfile.mkdtemp()) / project
    shutil.copytree(REPO / "tests" / "integration" / "stacks" / "healthy", folder)
    (port,) = free_ports(1)
    # PYTHONDONTWRITEBYTECODE= : bytecode caches as a user's install has them (some shells here set it).
    env = {
        "API_PORT": str(port),
        "TEXTUAL_ANIMATIONS": "none",
        "TERM": "xterm-256color",
        "PATH": os.environ["PATH"],
        "PYTHONDONTWRITEBYTECODE": "",
    }
    subprocess.run([*TMUX, "new-session", "-d", "-s", "hold", "sleep 3600"], check=True)  # keeps the server up
    try:
        up = subprocess.run([str(DEVENV), "up"], cwd=folder, env={**os.environ, **env}, capture_output=True, text=True)
        if up.returncode != 0:
            print(up.stderr, file=sys.stderr)
            return 1
        one_run(folder, env, "5/5 ready")  # warm the page cache (and write the bytecode caches)
        rows: list[float] = []
        other: list[float] = []
        if args.compare:
            one_run(folder, env, "5/5 ready", devenv=args.compare)
        cpu: list[float] = []
        other_cpu: list[float] = []
        for _ in range(args.runs):
            rows.append(one_run(folder, env, "5/5 ready"))
            cpu.append(CPU[-1])
            if args.compare:
                other.append(one_run(folder, env, "5/5 ready", devenv=args.compare))
                other_cpu.append(CPU[-1])
        no_engine_env = {**env, "DOCKER_HOST": "unix:///nonexistent.sock"}
        frames = [one_run(folder, no_engine_env, "Cannot reach the Docker engine") for _ in range(args.runs)]
    finally:
        subprocess.run([*TMUX, "kill-server"], capture_output=True)
        cleanup_project(project)
    result = {
        "what": "launch -> first frame with 5 service rows (tmux 120x35, healthy stack)",
        "runs_s": [round(r, 3) for r in rows],
        "median_s": round(statistics.median(rows), 3),
        "max_s": round(max(rows), 3),
        "cpu_s_until_rows": [round(c, 2) for c in cpu],
        "cpu_s_until_rows_median": round(statistics.median(cpu), 2),
        "no_engine_first_message_median_s": round(statistics.median(frames), 3),
        "compare": (
            {
                "devenv": str(args.compare),
                "runs_s": [round(r, 3) for r in other],
                "cpu_s_until_rows_median": round(statistics.median(other_cpu), 2),
                "median_s": round(statistics.median(other), 3),
                "max_s": round(max(other), 3),
            }
            if other
            else None
        ),
        "load_average": os.getloadavg(),
        "goal_s": 0.4,
        "limit_s": 1.0,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
