"""Interrupting a migration stops it *inside the container*, on the real engine (the bundled stack).

A revision that sleeps (``0003_slow``, bind-mounted into ``api`` by the dev profile) is cancelled
mid-run three ways: a :class:`CancelToken` from another thread (what the TUI's escape does),
SIGTERM / Ctrl-C to ``devenv migrate up``, and SIGTERM to ``devenv db reset`` in its migrate step.
Each time no process of the migration is left in the container (``docker top``), the reported
revision is what ``alembic_version`` holds, and the exit code is the documented one.
"""

from __future__ import annotations

import signal
import threading
import time
from typing import Any

import pytest
from devenv_testlib import Stack, docker, wait_for_line
from test_migrate import alembic_version, environment, up, versions_dir

pytestmark = pytest.mark.docker

SLOW_REVISION = '''"""sleeps on purpose

Revision ID: 0003
Revises: 0002
"""

import time

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE TABLE dvt_slow (id integer)")
    print("dvt-slow-migration-sleeping", flush=True)
    time.sleep(300)


def downgrade() -> None:
    op.execute("DROP TABLE dvt_slow")
'''

MARK = "dvt-slow-migration-sleeping"


def migration_processes(st: Stack) -> list[str]:
    """Processes in the api container that belong to a migration (alembic, or its wrapper shell)."""
    api = st.container_ids("api")[0]
    top = docker("top", api, "-eo", "pid,args", check=True).stdout.splitlines()[1:]
    return [line for line in top if "alembic" in line or "devenv-exec-pid" in line]


def table_exists(st: Stack, table: str) -> bool:
    pg = st.container_ids("postgres")[0]
    proc = docker(
        "exec", pg, "psql", "-U", "tasktracker", "-d", "tasktracker", "-tAc", f"SELECT to_regclass('{table}')"
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip() == table


@pytest.fixture()
def slow_stack(example_stack: Any) -> Stack:
    st: Stack = example_stack()
    up(st)
    (versions_dir(st) / "0003_slow.py").write_text(SLOW_REVISION)
    return st


def test_cancel_token_stops_the_migration_in_the_container(slow_stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    from devenv.core import events as ev
    from devenv.core import migrations
    from devenv.core.cancel import Cancelled, CancelToken

    st = slow_stack
    token = CancelToken()
    events: list[Any] = []
    sleeping = threading.Event()
    raised: list[BaseException] = []

    def emit(event: Any) -> None:
        events.append(event)
        if isinstance(event, ev.MigrationOutput) and MARK in event.line:
            sleeping.set()

    with environment(st, monkeypatch) as stack:

        def run() -> None:
            try:
                migrations.migrate_up(stack, emit, cancel=token)
            except BaseException as exc:
                raised.append(exc)

        worker = threading.Thread(target=run)
        worker.start()
        assert sleeping.wait(90), f"the slow migration never started: {events}"
        assert migration_processes(st), "the migration should be running in the container"
        t0 = time.monotonic()
        token.cancel()  # from this thread, as the TUI's escape does
        worker.join(60)
        assert not worker.is_alive()
    assert raised and isinstance(raised[0], Cancelled), raised
    assert migration_processes(st) == [], "a process of the migration is still in the container"
    stopped = [e for e in events if isinstance(e, ev.MigrationInterrupted)]
    assert len(stopped) == 1, events
    report = stopped[0]
    assert (report.why, report.stopped, report.service) == ("cancelled", True, "api"), report
    assert report.revision == ("0002",) and report.pending == 1, report
    assert alembic_version(st) == ["0002"]  # what was reported is what the database holds
    assert not table_exists(st, "dvt_slow")  # the killed migration's transaction was rolled back
    assert report.hint == "devenv migrate up --profile dev", report
    assert time.monotonic() - t0 < 30


@pytest.mark.parametrize(("sig", "code", "why"), [(signal.SIGTERM, 143, "SIGTERM"), (signal.SIGINT, 130, "Ctrl-C")])
def test_signals_stop_devenv_migrate_up_in_the_container(slow_stack: Stack, sig: int, code: int, why: str) -> None:
    st = slow_stack
    proc = st.popen_devenv("migrate", "up")
    assert proc.stdout is not None
    lines = []
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:  # the migration's own output is on stdout
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if MARK in line:
            break
    assert any(MARK in line for line in lines), "".join(lines)
    assert migration_processes(st)
    proc.send_signal(sig)  # to devenv only, as `kill` does (a terminal's Ctrl-C reaches the group)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == code, f"exit {proc.returncode}\n{out}\n{err}"
    assert f"{why}: `alembic upgrade head` in api was stopped in the container" in err, err
    assert "the database is at revision 0002; 1 pending" in err, err
    assert "to finish it: devenv migrate up --profile dev" in err, err
    assert "Traceback" not in err
    assert migration_processes(st) == []
    assert alembic_version(st) == ["0002"]


def test_sigterm_in_the_migrate_step_of_db_reset(slow_stack: Stack) -> None:
    st = slow_stack
    proc = st.popen_devenv("db", "reset")
    wait_for_line(proc, MARK, timeout=120)  # `db reset` shows the migration's output on stderr
    assert migration_processes(st)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, f"exit {proc.returncode}\n{out}\n{err}"
    assert "SIGTERM: `alembic upgrade head` in api was stopped in the container" in err, err
    # The reset ran every revision in one transaction: the kill rolled all of it back.
    assert "the database is at revision none (no migration applied); 3 pending" in err, err
    assert "Interrupted (SIGTERM) after the database was changed." in err, err
    assert "Get it back with: devenv db restore " in err, err
    assert "Or finish the reset instead: devenv db reset --no-snapshot --profile dev" in err, err
    assert migration_processes(st) == []
    # What was reported is what the database holds: no revision (alembic may have created its
    # version table on its own before the migrations' transaction).
    assert not table_exists(st, "alembic_version") or alembic_version(st) == []
    assert not table_exists(st, "dvt_slow")
