"""``devenv status --json`` vs ``docker compose ps --all --format json`` on the same running stack.

Run (after scripts/provision.sh, in the repo root):

    .venv/bin/python bench/bench_status.py [--pairs 15] [--dir FOLDER] [--out bench/results/status.json]

Without ``--dir``, the bundled example is copied into a temporary folder under a unique project
name and unused ports (so it never meets a stack another run or engineer has up), started with
``devenv up --profile dev``, measured, and removed with ``devenv down --volumes``. With ``--dir``,
the stack of that project folder must already run (profile dev) and is left as it is.

``--breakdown`` also prints where ``status --json`` spends its time: the interpreter's own start,
the imports (``-X importtime``, by top-level module, medians of 5 runs) and, in one process, the
config load, the compose files' YAML, the Engine calls and the rendering.

Both commands run as fresh processes, interleaved (the order alternates each pair), after two
unmeasured warm-up runs each. Compose gets the same files, env files and project name devenv uses
(``Stack.compose_args()``), so both read the same compose files. Reports both medians, the ratio of
the medians and the median of the per-pair ratios (devenv / compose; <= 1 means devenv is as fast),
and the CPU time each command used (steadier than wall time on a shared machine).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEVENV = str(Path(sys.executable).parent / "devenv")
IMAGES = {
    "POSTGRES_IMAGE": "devenv-test/postgres:latest",
    "APP_IMAGE": "devenv-test/tasktracker-app:latest",
    "PYTHON_IMAGE": "devenv-test/python:latest",
    "APP_BASE_IMAGE": "devenv-test/python:latest",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> float:
    return timed_cpu(cmd, cwd, env)[0]


def timed_cpu(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the command and its children: user + system)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-3000:]}")
    return elapsed, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def copy_example(into: Path) -> tuple[Path, dict[str, str]]:
    """The bundled example under a unique project name; its ports come from the environment."""
    folder = into / "example"
    folder.mkdir()
    shutil.copy2(ROOT / "devenv.toml", folder / "devenv.toml")
    shutil.copytree(ROOT / "compose", folder / "compose")
    shutil.copytree(ROOT / "profiles", folder / "profiles")
    name = f"dvtstatus{os.getpid()}"
    toml = (folder / "devenv.toml").read_text(encoding="utf-8")
    (folder / "devenv.toml").write_text(toml.replace('name = "tasktracker"', f'name = "{name}"', 1), encoding="utf-8")
    # The shell environment wins over env files for Compose's interpolation: fresh ports.
    ports = {k: str(free_port()) for k in ("API_PORT", "POSTGRES_PORT", "DEBUG_PORT")}
    return folder, ports


def compose_ps(folder: Path, env: dict[str, str]) -> list[str]:
    sys.path.insert(0, str(ROOT))
    os.environ.update(env)
    from devenv.config import load_project
    from devenv.core.stack import Stack

    project = load_project(folder)
    args: list[str] = Stack(project, project.resolve_profile("dev")).compose_args()
    return [*args, "ps", "--all", "--format", "json"]


PHASES = r"""
import json, sys, time
t = [("start", time.perf_counter())]
def mark(name): t.append((name, time.perf_counter()))
from devenv.cli.main import main; from devenv.cli import stack_cmds; from devenv.core import running, rawapi, stack
from devenv.config import load_project
mark("import devenv (cli, config, core)")
project = load_project(None); profile = project.resolve_profile("dev"); mark("config: load_project + profile")
s = stack.Stack(project, profile); reader = s.reader; reader.api_version; mark("engine: /_ping (version)")
running.running_profile(s); mark("engine: list (running profile)")
names = s.service_names(); mark("compose files: service names (YAML or cache)")
listed = reader.containers(all=True, filters={"label": [f"com.docker.compose.project={s.name}"]}); mark("engine: list")
docs = [reader.inspect_container(c["Id"]) for c in listed]; mark(f"engine: {len(docs)} inspects")
infos = [stack.container_from_inspect(d) for d in docs]
statuses = [stack.aggregate(n, [c for c in infos if c.service == n]) for n in names]
json.dumps([x.to_json() for x in statuses]); mark("aggregate + JSON")
print(json.dumps([[name, (b - a) * 1000] for (_, a), (name, b) in zip(t, t[1:])]))
"""


def breakdown(folder: Path, env: dict[str, str], runs: int = 5) -> dict[str, Any]:
    """Where ``status --json`` spends its time (see the module docstring)."""
    py = sys.executable
    startup = [timed([py, "-c", "pass"], folder, env) for _ in range(runs * 2)]
    imports: dict[str, list[float]] = {}
    for _ in range(runs):
        code = "import sys; from devenv.cli.main import main; sys.exit(main(['status', '--profile', 'dev', '--json']))"
        proc = subprocess.run([py, "-X", "importtime", "-c", code], cwd=folder, env=env, capture_output=True, text=True)
        for line in proc.stderr.splitlines():
            if not line.startswith("import time:") or "|" not in line or "cumulative" in line:
                continue
            _self_us, cumulative_us, name = line.split(":", 1)[1].split("|")
            if not name.startswith("  "):  # top level: what status itself imported
                imports.setdefault(name.strip(), []).append(int(cumulative_us) / 1000)
    phases: dict[str, list[float]] = {}
    for _ in range(runs):
        proc = subprocess.run([py, "-c", PHASES], cwd=folder, env=env, capture_output=True, text=True, check=True)
        for name, ms in json.loads(proc.stdout.splitlines()[-1]):
            phases.setdefault(name, []).append(ms)
    top = sorted(((statistics.median(v), k) for k, v in imports.items()), reverse=True)
    return {
        "python_startup_ms": round(statistics.median(startup) * 1000, 1),
        "imports_total_ms": round(sum(ms for ms, _ in top), 1),
        "imports_top_ms": {k: round(ms, 2) for ms, k in top[:15]},
        "phases_ms": {k: round(statistics.median(v), 2) for k, v in phases.items()},
    }


def measure(folder: Path, env: dict[str, str], pairs: int) -> dict[str, Any]:
    ours_cmd = [DEVENV, "status", "--profile", "dev", "--json"]
    theirs_cmd = compose_ps(folder, env)
    for _ in range(2):  # warm-up: page cache, the engine's own caches
        timed(ours_cmd, folder, env)
        timed(theirs_cmd, folder, env)
    ours: list[float] = []
    theirs: list[float] = []
    ratios: list[float] = []
    cpu: dict[str, list[float]] = {"devenv": [], "compose": []}
    for i in range(pairs):
        order = ("devenv", "compose") if i % 2 == 0 else ("compose", "devenv")
        got: dict[str, float] = {}
        for tool in order:
            got[tool], used = timed_cpu(ours_cmd if tool == "devenv" else theirs_cmd, folder, env)
            cpu[tool].append(used)
        ours.append(got["devenv"])
        theirs.append(got["compose"])
        ratios.append(got["devenv"] / got["compose"])
        print(f"  pair {i + 1:2}: devenv {got['devenv'] * 1000:6.1f} ms  compose {got['compose'] * 1000:6.1f} ms")
    return {
        "pairs": pairs,
        "devenv_status_json_median_s": round(statistics.median(ours), 4),
        "compose_ps_json_median_s": round(statistics.median(theirs), 4),
        "ratio_of_medians": round(statistics.median(ours) / statistics.median(theirs), 3),
        "median_pair_ratio": round(statistics.median(ratios), 3),
        # CPU time (user + system, all processes of the command): steadier than wall time on a busy
        # machine, though Go's threads (Compose) may spend CPU in parallel where Python cannot.
        "devenv_cpu_median_s": round(statistics.median(cpu["devenv"]), 4),
        "compose_cpu_median_s": round(statistics.median(cpu["compose"]), 4),
        "devenv_s": [round(t, 4) for t in ours],
        "compose_s": [round(t, 4) for t in theirs],
        "compose_command": " ".join(theirs_cmd),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=15)
    parser.add_argument("--dir", type=Path, default=None, help="a project folder whose stack already runs (dev)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "status.json")
    parser.add_argument("--breakdown", action="store_true", help="also show where status spends its time")
    parser.add_argument(
        "--no-bytecode-cache",
        action="store_true",
        help="keep PYTHONDONTWRITEBYTECODE: devenv's sources are compiled again on every run",
    )
    args = parser.parse_args()
    if shutil.which("docker") is None:
        raise SystemExit("docker CLI not found: run scripts/provision.sh first")
    if args.pairs < 1:
        raise SystemExit("--pairs must be at least 1")
    env = {**os.environ, **IMAGES}
    report: dict[str, Any] = {"when": time.strftime("%Y-%m-%d %H:%M:%S"), "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="devenv-bench-status-") as tmp:
        if not args.no_bytecode_cache:
            # An installed devenv runs from bytecode pip compiled at install time; an editable
            # checkout with PYTHONDONTWRITEBYTECODE=1 would compile every source on every run.
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            env["PYTHONPYCACHEPREFIX"] = str(Path(tmp) / "pycache")
        report["bytecode_cache"] = not args.no_bytecode_cache
        if args.dir is not None:
            folder = args.dir.resolve()
            report["status"] = measure(folder, env, args.pairs)
            if args.breakdown:
                report["breakdown"] = breakdown(folder, env)
        else:
            folder, ports = copy_example(Path(tmp))
            env.update(ports)
            print(f"starting the example in {folder} ...", file=sys.stderr)
            timed([DEVENV, "up", "--profile", "dev"], folder, env)
            try:
                report["status"] = measure(folder, env, args.pairs)
                if args.breakdown:
                    report["breakdown"] = breakdown(folder, env)
            finally:
                subprocess.run(
                    [DEVENV, "down", "--profile", "dev", "--volumes", "--yes", "--timeout", "0"],
                    cwd=folder,
                    env=env,
                    capture_output=True,
                )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    if "breakdown" in report:
        print(json.dumps(report["breakdown"], indent=2))
    s = report["status"]
    print(
        f"status --json median {s['devenv_status_json_median_s'] * 1000:.1f} ms, "
        f"compose ps median {s['compose_ps_json_median_s'] * 1000:.1f} ms, "
        f"ratio {s['ratio_of_medians']:.3f} (median pair ratio {s['median_pair_ratio']:.3f}); "
        f"CPU {s['devenv_cpu_median_s'] * 1000:.1f} vs {s['compose_cpu_median_s'] * 1000:.1f} ms"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
