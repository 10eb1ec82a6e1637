"""Database benchmarks on the bundled example stack (profile dev), side by side in one run.

Run (after scripts/provision.sh, in the repo root):

    .venv/bin/python bench/bench_db.py [--rounds 3] [--mb 100] [--out bench/results/db.json]

1. ``reset``: ``devenv db reset`` (quick) vs ``devenv db reset --hard`` vs the script teams use
   today: ``docker compose down -v; docker compose up -d postgres; sleep 5; <migrate>; <seed>``.
   Both devenv resets include their safety snapshot, migrations and seed.
2. ``snapshot``: at a database of about ``--mb`` MB, ``devenv db snapshot`` + ``devenv db restore``
   (which also takes its own safety snapshot first unless ``--no-snapshot``; measured without it, so
   both sides do one dump and one restore) vs raw ``docker exec pg_dump -Fc > file`` and
   ``dropdb/createdb`` + ``docker exec -i pg_restore < file``. Target ratio <= 1.10. devenv's
   snapshots use ``pg_dump -Fc -Z1`` (see PostgresAdapter.dump), so the same raw pair is also timed
   with ``-Z1``: that ratio is devenv's own overhead at equal settings.
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
ENV = {**os.environ, "POSTGRES_IMAGE": "devenv-test/postgres:latest", "APP_IMAGE": "devenv-test/tasktracker-app:latest"}
PG = "tasktracker-postgres-1"
PGENV = ["-e", "PGPASSWORD=dev-password", "-e", "PGUSER=tasktracker"]


def sh(cmd: list[str], *, stdin: Any = None, stdout: Any = None, check: bool = True) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(
        cmd,
        cwd=ROOT,
        env=ENV,
        stdin=stdin,
        stdout=stdout if stdout is not None else subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    elapsed = time.perf_counter() - t0
    if check and proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr.decode()[-3000:]}")
    return elapsed


def compose() -> list[str]:
    sys.path.insert(0, str(ROOT))
    from devenv.config import load_project

    prof = load_project(ROOT).resolve_profile("dev")
    args = ["docker", "compose", "-p", "tasktracker"]
    for f in prof.compose_files:
        args += ["-f", str(f)]
    for f in prof.env_files:
        args += ["--env-file", str(f)]
    return args


def psql(sql: str) -> str:
    out = subprocess.run(
        ["docker", "exec", *PGENV, PG, "psql", "-X", "-At", "-d", "tasktracker", "-c", sql],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def bench_reset(rounds: int) -> dict[str, Any]:
    c = compose()
    quick, hard, script = [], [], []
    for i in range(rounds):
        sh([DEVENV, "up", "--profile", "dev"])
        quick.append(sh([DEVENV, "db", "reset", "--profile", "dev"]))
        hard.append(sh([DEVENV, "db", "reset", "--hard", "--profile", "dev"]))
        t0 = time.perf_counter()
        sh([*c, "down", "-v", "-t", "0"])
        sh([*c, "up", "-d", "postgres"])
        time.sleep(5)  # the peer's `sleep 5`: exactly what the script under comparison does
        sh([*c, "run", "--rm", "--no-deps", "migrate"])
        sh([*c, "run", "--rm", "--no-deps", "api", "python3", "-m", "app.seed"])
        script.append(time.perf_counter() - t0)
        print(
            f"  round {i + 1}: quick {quick[-1]:.2f}s  hard {hard[-1]:.2f}s  script {script[-1]:.2f}s", file=sys.stderr
        )
    sh([*c, "down", "-v", "-t", "0"], check=False)
    med = statistics.median
    return {
        "rounds": rounds,
        "quick_reset_median_s": round(med(quick), 3),
        "hard_reset_median_s": round(med(hard), 3),
        "down_v_up_sleep5_migrate_seed_median_s": round(med(script), 3),
        "quick_vs_script_ratio": round(med(quick) / med(script), 3),
        "hard_vs_script_ratio": round(med(hard) / med(script), 3),
    }


def bench_snapshot(rounds: int, mb: int) -> dict[str, Any]:
    c = compose()
    sh([*c, "down", "-v", "-t", "0"], check=False)
    sh([DEVENV, "up", "--profile", "dev"])
    rows = mb * 1024 * 1024 // 330
    psql("CREATE TABLE IF NOT EXISTS bench (id bigint primary key, body text)")
    psql(f"INSERT INTO bench SELECT g, md5(g::text) || repeat(md5((g*7)::text), 8) FROM generate_series(1, {rows}) g")
    size = int(psql("SELECT pg_database_size('tasktracker')"))
    ours_snap, ours_restore, raw_dump, raw_restore = [], [], [], []
    raw_z1_dump: list[float] = []
    raw_z1_restore: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        dump = Path(tmp) / "raw.pgdump"
        for i in range(rounds):
            name = f"bench-{int(time.time())}-{i}"
            ours_snap.append(sh([DEVENV, "db", "snapshot", name, "--profile", "dev"]))
            ours_restore.append(sh([DEVENV, "db", "restore", name, "--no-snapshot", "--profile", "dev"]))
            with open(dump, "wb") as out:
                raw_dump.append(sh(["docker", "exec", *PGENV, PG, "pg_dump", "-Fc", "-d", "tasktracker"], stdout=out))
            raw_restore.append(raw_pg_restore(dump))
            with open(dump, "wb") as out:
                raw_z1_dump.append(
                    sh(["docker", "exec", *PGENV, PG, "pg_dump", "-Fc", "-Z1", "-d", "tasktracker"], stdout=out)
                )
            raw_z1_restore.append(raw_pg_restore(dump))
            snap_dir = ROOT / ".devenv" / "snapshots" / "dev"
            for f in snap_dir.glob(f"{name}.*"):
                f.unlink()
            print(
                f"  round {i + 1}: devenv snapshot {ours_snap[-1]:.2f}s restore {ours_restore[-1]:.2f}s | "
                f"raw pg_dump {raw_dump[-1]:.2f}s pg_restore {raw_restore[-1]:.2f}s | "
                f"raw -Z1 {raw_z1_dump[-1]:.2f}s + {raw_z1_restore[-1]:.2f}s",
                file=sys.stderr,
            )
    sh([*c, "down", "-v", "-t", "0"], check=False)
    med = statistics.median
    ours = [a + b for a, b in zip(ours_snap, ours_restore, strict=True)]
    raw = [a + b for a, b in zip(raw_dump, raw_restore, strict=True)]
    raw_z1 = [a + b for a, b in zip(raw_z1_dump, raw_z1_restore, strict=True)]
    return {
        "rounds": rounds,
        "database_bytes": size,
        "devenv_snapshot_median_s": round(med(ours_snap), 3),
        "devenv_restore_median_s": round(med(ours_restore), 3),
        "raw_pg_dump_median_s": round(med(raw_dump), 3),
        "raw_pg_restore_median_s": round(med(raw_restore), 3),
        "snapshot_ratio": round(med(ours_snap) / med(raw_dump), 3),
        "restore_ratio": round(med(ours_restore) / med(raw_restore), 3),
        "snapshot_plus_restore_ratio": round(med(ours) / med(raw), 3),
        "raw_z1_snapshot_plus_restore_median_s": round(med(raw_z1), 3),
        "snapshot_plus_restore_ratio_vs_same_compression": round(med(ours) / med(raw_z1), 3),
    }


def raw_pg_restore(dump: Path) -> float:
    """What a script does by hand: drop, create, pg_restore from the file (timed together)."""
    t0 = time.perf_counter()
    for sql in ("DROP DATABASE tasktracker WITH (FORCE)", "CREATE DATABASE tasktracker OWNER tasktracker"):
        sh(["docker", "exec", *PGENV, PG, "psql", "-X", "-d", "postgres", "-c", sql])
    with open(dump, "rb") as src:
        sh(
            ["docker", "exec", "-i", *PGENV, PG, "pg_restore", "--exit-on-error", "-d", "tasktracker"],
            stdin=src,
        )
    return time.perf_counter() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--mb", type=int, default=100)
    parser.add_argument("--only", choices=["reset", "snapshot"], action="append")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "db.json")
    args = parser.parse_args()
    todo = args.only or ["reset", "snapshot"]
    report: dict[str, Any] = {"when": time.strftime("%Y-%m-%d %H:%M:%S")}
    if "reset" in todo:
        print("reset: quick vs hard vs down -v/up/sleep 5/migrate/seed", file=sys.stderr)
        report["reset"] = bench_reset(args.rounds)
    if "snapshot" in todo:
        print(f"snapshot + restore at ~{args.mb} MB vs raw pg_dump/pg_restore", file=sys.stderr)
        report["snapshot"] = bench_snapshot(args.rounds, args.mb)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
