"""Benchmark: ``devenv debug SERVICE`` to ready-to-attach, against the manual route.

Run (after scripts/provision.sh, in the repo root):

    .venv/bin/python bench/bench_debug.py [--pairs 5] [--out bench/results/debug.json]

The service is the ``web`` service of ``tests/integration/stacks/debug`` (a FastAPI app whose
image has no debugpy; its command is the image's CMD, a ``uvicorn`` console script), running and
healthy before each run. Each pair times, in alternating order:

- devenv: ``devenv debug web``, which returns once debugpy's adapter listens and the program is
  connected to it (read from ``/proc`` in the container);
- manual: writing an overlay by hand (the same wrapped command, port on 127.0.0.1, read-only
  debugpy mount and ``PYTHONPATH``: the manual route is handed the answer devenv works out), then
  ``docker compose ... up -d --wait web``, then the same DAP probe until it answers.

Between runs the service is put back (``devenv debug off web`` / ``compose up -d --wait`` without
the overlay), untimed. A first ``devenv debug web`` before the pairs fills debugpy's cache; its time
(provisioning included when the cache was empty) is reported apart. Reports medians and the
median of per-pair ratios (devenv / manual; < 1 means devenv is faster), with the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEVENV = str(Path(sys.executable).parent / "devenv")
STACK = ROOT / "tests" / "integration" / "stacks" / "debug"
LONG = ["--wait-timeout", "600"]  # a loaded machine can take minutes to start a service under debugpy


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run(cmd: list[str], cwd: Path, env: dict[str, str], check: bool = True) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    elapsed = time.perf_counter() - t0
    if check and proc.returncode != 0:
        raise SystemExit(
            f"command failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stdout[-2000:]}{proc.stderr[-3000:]}"
        )
    return elapsed


def wait_probe(port: int, timeout: float = 120.0) -> None:
    from devenv.core.debug.probe import probe_debugpy

    deadline = time.monotonic() + timeout
    while not probe_debugpy("127.0.0.1", port, 1.0):
        if time.monotonic() > deadline:
            raise SystemExit(f"debugpy never answered on 127.0.0.1:{port}")
        time.sleep(0.1)


MANUAL_OVERLAY = """services:
  web:
    entrypoint: ["/usr/bin/python3", "-m", "debugpy", "--listen", "0.0.0.0:5678"]
    command: ["/usr/local/bin/uvicorn", "web.main:app", "--host", "0.0.0.0", "--port", "8000"]
    ports: ["127.0.0.1:{port}:5678"]
    volumes: ["{debugpy}:/opt/devenv/debugpy:ro"]
    environment:
      PYTHONPATH: /opt/devenv/debugpy
      PYDEVD_DISABLE_FILE_VALIDATION: "1"
"""


def bench(pairs: int) -> dict[str, Any]:
    from devenv.core.debug.provision import cache_root

    with tempfile.TemporaryDirectory() as tmp:
        project = f"dvtbench{uuid.uuid4().hex[:8]}"
        folder = Path(tmp) / project
        shutil.copytree(STACK, folder)
        env = {**os.environ, "PORT": str(free_port()), "API_PORT": str(free_port()), "DEV_PORT": str(free_port())}
        env.pop("DEVENV_PROFILE", None)
        compose = ["docker", "compose", "-p", project, "-f", str(folder / "compose.yml")]
        try:
            run([DEVENV, "up", "web", "--timeout", "600"], folder, env)
            first = run([DEVENV, "debug", "web", *LONG], folder, env)
            run([DEVENV, "debug", "off", "web", *LONG], folder, env)
            debugpy = cache_root() / "3.11-x86_64"
            devenv_times, manual_times, ratios = [], [], []
            for i in range(pairs):
                order = ["devenv", "manual"] if i % 2 == 0 else ["manual", "devenv"]
                result: dict[str, float] = {}
                for tool in order:
                    if tool == "devenv":
                        result[tool] = run([DEVENV, "debug", "web", *LONG], folder, env)
                        run([DEVENV, "debug", "off", "web", *LONG], folder, env)
                    else:
                        port = free_port()
                        overlay = folder / "manual-debug.yml"
                        t0 = time.perf_counter()
                        overlay.write_text(MANUAL_OVERLAY.format(port=port, debugpy=debugpy))
                        run([*compose, "-f", str(overlay), "up", "-d", "--wait", "web"], folder, env)
                        wait_probe(port)
                        result[tool] = time.perf_counter() - t0
                        run([*compose, "up", "-d", "--wait", "web"], folder, env)
                devenv_times.append(result["devenv"])
                manual_times.append(result["manual"])
                ratios.append(result["devenv"] / result["manual"])
                print(
                    f"  pair {i + 1}: devenv {result['devenv']:.2f}s  manual {result['manual']:.2f}s  "
                    f"(load {os.getloadavg()[0]:.1f})",
                    file=sys.stderr,
                )
        finally:
            subprocess.run([*compose, "down", "-v", "-t", "0"], capture_output=True, env=env)
    return {
        "pairs": pairs,
        "first_devenv_debug_s": round(first, 3),
        "devenv_median_s": round(statistics.median(devenv_times), 3),
        "manual_median_s": round(statistics.median(manual_times), 3),
        "median_ratio": round(statistics.median(ratios), 3),
        "devenv_s": [round(t, 3) for t in devenv_times],
        "manual_s": [round(t, 3) for t in manual_times],
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "debug.json")
    args = parser.parse_args()
    result = bench(args.pairs)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
