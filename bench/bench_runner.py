"""The one Compose runner: python-on-whales against a plain ``docker compose`` child process.

Run (in the repo root, with python-on-whales installed for the comparison):

    .venv/bin/python bench/bench_runner.py [--rounds 7]

Measures, on a throw-away one-service project (``devenv-test/python``):

- the import time of ``python_on_whales`` (what every ``devenv`` command that used it paid first);
- ``down`` (nothing to remove), ``rm --stop --force -v`` (one stopped container), ``run --rm -T``
  (``true`` in a one-off container): each through python-on-whales and through ``subprocess``
  with the same ``docker compose`` arguments, alternating which goes first. Medians in ms.

Seen on this workplace's 2-core machines under load (two runs, medians of 5, python-on-whales
first / subprocess second): import 1104 / 279 ms; down 508 vs 406 and 170 vs 197 ms; rm 244 vs 193
and 254 vs 250 ms; run 1407 vs 1530 and 1215 vs 1282 ms. Per call it is a wash (both spawn the
same CLI); the import and a dependency are what python-on-whales adds. Decision: one runner, the
subprocess (``ComposeProcess``), which also lets ``up`` overlap ``config`` and ``create``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

COMPOSE = """\
services:
  one:
    image: devenv-test/python:latest
    command: ["true"]
"""


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()

    imp = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import python_on_whales"], capture_output=True, text=True
    )
    total_us = max(int(line.split("|")[1]) for line in imp.stderr.splitlines() if "python_on_whales" in line)
    print(f"import python_on_whales: {total_us / 1000:.0f} ms (cumulative, -X importtime)")

    from python_on_whales import DockerClient

    with tempfile.TemporaryDirectory() as tmp:
        compose_file = Path(tmp) / "compose.yml"
        compose_file.write_text(COMPOSE)
        project = f"benchrunner{uuid.uuid4().hex[:6]}"
        base = ["docker", "compose", "-p", project, "-f", str(compose_file)]
        whales = DockerClient(compose_files=[compose_file], compose_project_name=project)

        def sp(*argv: str) -> None:
            subprocess.run([*base, *argv], check=True, capture_output=True)

        def create() -> None:
            sp("up", "--no-start")

        verbs: dict[str, tuple[Callable[[], object], Callable[[], object], Callable[[], None] | None]] = {
            "down": (lambda: whales.compose.down(), lambda: sp("down"), None),
            "rm": (
                lambda: whales.compose.rm(["one"], stop=True, volumes=True),
                lambda: sp("rm", "--force", "--stop", "--volumes", "one"),
                create,
            ),
            "run": (
                lambda: whales.compose.run("one", ["true"], remove=True, dependencies=False, tty=False),
                lambda: sp("run", "--rm", "--no-deps", "-T", "one", "true"),
                None,
            ),
        }
        try:
            for verb, (w, s, prep) in verbs.items():
                tw, ts = [], []
                for i in range(args.rounds):
                    order = [("w", w), ("s", s)] if i % 2 == 0 else [("s", s), ("w", w)]
                    for tag, fn in order:
                        if prep:
                            prep()
                        (tw if tag == "w" else ts).append(timed(fn))
                mw, ms = statistics.median(tw), statistics.median(ts)
                print(f"{verb:5} python-on-whales {mw:7.0f} ms   subprocess {ms:7.0f} ms   (median of {args.rounds})")
        finally:
            sp("down", "-v", "--remove-orphans")


if __name__ == "__main__":
    main()
