"""The tasktracker worker: marks pending tasks as done and keeps a heartbeat file fresh.

python3 -m app.worker           run the loop (SIGTERM / SIGINT stop it cleanly)
python3 -m app.worker --check   exit 0 iff the heartbeat is fresh (a liveness probe)
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

HEARTBEAT = os.environ.get("WORKER_HEARTBEAT", "/tmp/worker-heartbeat")
MAX_AGE = 5.0
POLL_INTERVAL = 0.5
BATCH = 10

log = logging.getLogger("tasktracker.worker")

PROCESS_SQL = text(
    """
    UPDATE tasks SET status = 'done', updated_at = now()
    WHERE id IN (
        SELECT id FROM tasks WHERE status = 'pending'
        ORDER BY priority DESC, id LIMIT :batch FOR UPDATE SKIP LOCKED
    )
    RETURNING id
    """
)


def beat(path: str = HEARTBEAT) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w") as fh:
        fh.write(f"{time.time():.3f}\n")
    os.replace(tmp, path)


def check(path: str = HEARTBEAT, max_age: float = MAX_AGE) -> int:
    try:
        age = time.time() - os.stat(path).st_mtime
    except FileNotFoundError:
        print(f"no heartbeat at {path}", file=sys.stderr)
        return 1
    if age >= max_age:
        print(f"heartbeat is stale: {age:.1f}s old (limit {max_age:.0f}s)", file=sys.stderr)
        return 1
    print(f"heartbeat ok: {age:.1f}s old")
    return 0


def process_batch() -> list[int]:
    from app.db import get_engine

    with get_engine().begin() as conn:
        return [row.id for row in conn.execute(PROCESS_SQL, {"batch": BATCH})]


def run() -> int:
    from app.db import APP_ENV, setup_logging

    setup_logging()
    stop = threading.Event()

    def _stop(signum: int, _frame: object) -> None:
        log.info("received %s, stopping", signal.Signals(signum).name)
        stop.set()

    # As PID 1 in a container, Python would otherwise ignore SIGTERM and `docker stop` would wait.
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    log.info("tasktracker worker starting (APP_ENV=%s)", APP_ENV)
    failing = False
    while not stop.is_set():
        try:
            done = process_batch()
            if failing:
                log.info("processing resumed")
            failing = False
            for task_id in done:
                log.info("processed task %s", task_id)
        except SQLAlchemyError as exc:
            if not failing:
                log.warning("processing failed, will retry: %s", str(exc).splitlines()[0])
            failing = True
        beat()
        stop.wait(POLL_INTERVAL)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m app.worker", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 0 iff the heartbeat is fresh")
    args = parser.parse_args(argv)
    return check() if args.check else run()


if __name__ == "__main__":
    sys.exit(main())
