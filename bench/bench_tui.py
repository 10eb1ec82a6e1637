"""Benchmark: time from launching ``devenv`` (the TUI) to the first frame with the service rows populated.

Run (after scripts/provision.sh, in the repo root):

    .venv/bin/python bench/bench_tui.py [--runs 7] [--out bench/results/tui.json]

Brings up the fixture stack tests/integration/stacks/healthy under a unique project (5 services),
then ``--runs`` times starts the real ``devenv`` console script in a detached tmux session
(120x35) and polls ``tmux capture-pane`` every 5 ms until every service row shows its state
(the header's "5/5 ready" and the row of the last service). Reports each run, the median and the
worst. Goal: <= 0.4 s, never above 1.0 s. Also the same for an app that never sees an engine
(``DOCKER_HOST`` pointing nowhere) to separate devenv's reads from imports and Textual's start.
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
DEVENV = Path(sys.executable).parent / "devenv"
sys.path.insert(0, str(REPO / "tests" / "integration"))

from devenv_testlib import cleanup_project, free_ports  # noqa: E402


def one_run(cwd: Path, env: dict[str, str], until: str, timeout: float = 10.0) -> float:
    name = f"dvt-bench-{uuid.uuid4().hex[:8]}"
    exports = " ".join(f"{k}={v}" for k, v in env.items())
    script = f"cd {cwd} && env {exports} {DEVENV}; sleep 30"
    t0 = time.perf_counter()
    subprocess.run(["tmux", "new-session", "-d", "-s", name, "-x", "120", "-y", "35", script], check=True)
    try:
        while time.perf_counter() - t0 < timeout:
            out = subprocess.run(["tmux", "capture-pane", "-p", "-t", name], capture_output=True, text=True).stdout
            if until in out:
                return time.perf_counter() - t0
            time.sleep(0.005)
        raise RuntimeError(f"no {until!r} on screen after {timeout}s:\n{out}")
    finally:
        subprocess.run(["tmux", "kill-session", "-t", name], capture_output=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "tui.json")
    args = parser.parse_args()
    if not shutil.which("tmux"):
        print("tmux is needed (scripts/provision.sh installs it)", file=sys.stderr)
        return 2
    project = f"dvtb{uuid.uuid4().hex[:8]}"
    folder = Path(tempfile.mkdtemp()) / project
    shutil.copytree(REPO / "tests" / "integration" / "stacks" / "healthy", folder)
    (port,) = free_ports(1)
    env = {"API_PORT": str(port), "TEXTUAL_ANIMATIONS": "none", "TERM": "xterm-256color", "PATH": os.environ["PATH"]}
    try:
        up = subprocess.run([str(DEVENV), "up"], cwd=folder, env={**os.environ, **env}, capture_output=True, text=True)
        if up.returncode != 0:
            print(up.stderr, file=sys.stderr)
            return 1
        one_run(folder, env, "5/5 ready")  # warm the page cache
        rows = [one_run(folder, env, "5/5 ready") for _ in range(args.runs)]
        no_engine_env = {**env, "DOCKER_HOST": "unix:///nonexistent.sock"}
        frames = [one_run(folder, no_engine_env, "Cannot reach the Docker engine") for _ in range(args.runs)]
    finally:
        cleanup_project(project)
    result = {
        "what": "launch -> first frame with 5 service rows (tmux 120x35, healthy stack)",
        "runs_s": [round(r, 3) for r in rows],
        "median_s": round(statistics.median(rows), 3),
        "max_s": round(max(rows), 3),
        "no_engine_first_message_median_s": round(statistics.median(frames), 3),
        "goal_s": 0.4,
        "limit_s": 1.0,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
