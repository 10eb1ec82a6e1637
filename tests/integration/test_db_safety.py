"""Data safety of the db commands under hostile use, on the real engine (real PostgreSQL 15).

Each test here reproduces a way the db commands used to lose data or hang: empty imports, a
stack started under a protected profile reset from another profile, interruptions (Ctrl-C,
SIGTERM) after the drop, a snapshot blocked by another session's lock, the database container
dying under a command. The example stack is shared by the module (``pg_stack``) and put back
into a known state (``fresh``) by each test.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from devenv_testlib import Stack, core_stack, docker, health_status, ok, snapshot_names, wait_for, wait_for_line
from test_db_postgres import (
    DB_NAME,
    DB_USER,
    checksum,
    fresh,
    insert_rows,
    partial_files,
    pg_container,
    pg_stack,
    prod_stack,
    psql,
    snapshot_dir,
    tagged,
)

pytestmark = pytest.mark.docker
__all__ = ["pg_stack", "prod_stack"]  # module fixtures shared with test_db_postgres


def docker_inspect(cid: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(docker("inspect", cid, check=True).stdout)[0]
    return doc


RESTORE_CMD = re.compile(r"devenv db restore (\S+) --profile (\S+)")


def devenv_sessions(st: Stack) -> int:
    """PostgreSQL sessions opened by devenv flows (application_name devenv-<pid>-<id>)."""
    return int(
        psql(
            st,
            "SELECT count(*) FROM pg_stat_activity WHERE application_name ~ '^devenv-[0-9]+-'",
            db="postgres",
        )
    )


def finish(proc: subprocess.Popen[str], head: list[str], timeout: float = 120) -> tuple[int, str]:
    _out, err = proc.communicate(timeout=timeout)
    return proc.returncode, "".join(head) + err


@contextmanager
def lock_held(st: Stack, app: str = "dvt-blocker") -> Iterator[subprocess.Popen[str]]:
    """Another session that holds an exclusive lock on ``tasks`` in an open transaction."""
    proc = subprocess.Popen(
        ["docker", "exec", "-i", "-e", f"PGAPPNAME={app}", pg_container(st), "psql", "-X", "-q", "-At", "-U", DB_USER,
         "-d", DB_NAME],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write("BEGIN; LOCK TABLE tasks IN ACCESS EXCLUSIVE MODE; SELECT 'locked';\n")
    proc.stdin.flush()
    assert proc.stdout.readline().strip() == "locked"
    try:
        yield proc
    finally:
        proc.stdin.close()  # psql ends, the transaction rolls back
        proc.wait(timeout=30)


# ------------------------------------------------------------------------------- 1. empty imports
def test_imports_that_would_empty_the_database_are_refused(pg_stack: Stack, tmp_path: Path) -> None:
    st = pg_stack
    fresh(st)
    insert_rows(st, "keep", 10)
    before = checksum(st)
    snaps = snapshot_names(st)
    # A real header-only dump and a custom-format archive of an empty database, from pg_dump itself.
    cid = pg_container(st)
    docker("exec", cid, "createdb", "-U", DB_USER, "dvt_empty", check=True)
    header = docker("exec", cid, "pg_dump", "-U", DB_USER, "dvt_empty", check=True).stdout
    archive = subprocess.run(
        ["docker", "exec", cid, "pg_dump", "-Fc", "-U", DB_USER, "dvt_empty"], capture_output=True, check=True
    ).stdout
    docker("exec", cid, "dropdb", "-U", DB_USER, "dvt_empty", check=True)
    files = {
        "empty.sql.gz": gzip.compress(b""),
        "empty.sql": b"",
        "comments.sql": b"-- nothing\n/* CREATE TABLE x (id int); */\n",
        "header.sql": header.encode(),
        "header.sql.gz": gzip.compress(header.encode()),
        "empty.dump": archive,
    }
    for name, data in files.items():
        path = tmp_path / name
        path.write_bytes(data)
        res = st.devenv("db", "import", str(path), "--yes")
        assert res.returncode == 2, res.dump()
        assert "empty database" in res.stderr and "Nothing was changed" in res.stderr, res.dump()
    assert checksum(st) == before
    assert tagged(st, "keep") == 10
    assert snapshot_names(st) == snaps  # refused before the safety snapshot, too


# ---------------------------------------------------------------- 2. profiles share one stack
def test_a_stack_started_under_prod_stays_protected_from_other_profiles(prod_stack: Stack) -> None:
    st = prod_stack
    insert_rows(st, "prod", 6)
    before = checksum(st)

    # status follows the running stack; an explicit other profile is shown as such.
    doc = ok(st.devenv("status", "--json")).json()
    assert doc["profile"] == "prod" and doc["running_profile"] == "prod", doc
    res = ok(st.devenv("status", "--profile", "dev"))
    assert "started with profile prod" in res.stderr, res.dump()
    doc = ok(st.devenv("status", "--json", "--profile", "dev")).json()
    assert doc["profile"] == "dev" and doc["running_profile"] == "prod", doc

    # No profile given: the command follows prod, so prod's protection applies.
    res = st.devenv("db", "reset", "--yes")
    assert res.returncode == 2, res.dump()
    assert "--confirm-profile prod" in res.stderr, res.dump()
    # dev given explicitly: refused, the stack is prod's.
    for args in (
        ("db", "reset", "--yes", "--profile", "dev"),
        ("db", "restore", "latest", "--yes", "--profile", "dev"),
    ):
        res = st.devenv(*args)
        assert res.returncode == 2, res.dump()
        assert "started with profile prod" in res.stderr and "Nothing was changed" in res.stderr, res.dump()
    res = st.devenv("down", "--volumes", "--yes", "--profile", "dev")
    assert res.returncode == 2 and "--confirm-profile prod" in res.stderr, res.dump()
    assert checksum(st) == before

    # A snapshot without --profile goes where `--profile prod` finds it.
    ok(st.devenv("db", "snapshot", "kept"))
    assert (snapshot_dir(st, "prod") / "kept.pgdump").is_file()
    assert snapshot_names(st, "--profile", "prod") == ["kept"]
    assert not snapshot_dir(st, "dev").exists()

    # Switching the stack to dev must be explicit, and confirmed when leaving a protected profile.
    res = st.devenv("up", "--profile", "dev")
    assert res.returncode == 2 and "--switch-profile" in res.stderr, res.dump()
    res = st.devenv("up", "--profile", "dev", "--switch-profile", "--yes")
    assert res.returncode == 2 and "--confirm-profile prod" in res.stderr, res.dump()
    assert checksum(st) == before
    # The example's profiles use different database passwords; the data volume (created under
    # prod) keeps prod's, so the switched stack is given it.
    same_password = {"POSTGRES_PASSWORD": "change-me-not-a-real-secret"}
    switch = ("--switch-profile", "--yes", "--confirm-profile", "prod")
    res = st.devenv("up", "--profile", "dev", *switch, env=same_password, timeout=300)
    assert res.returncode == 0, res.dump()
    doc = ok(st.devenv("status", "--json", env=same_password)).json()
    assert doc["running_profile"] == "dev" and doc["profile"] == "dev", doc
    assert tagged(st, "prod") == 6  # a switch keeps the volumes


# ------------------------------------------------------------------ 3. interrupted restore / reset
@pytest.mark.parametrize(
    ("sig", "group", "code"),
    [(signal.SIGINT, True, 130), (signal.SIGTERM, False, 143)],
    ids=["ctrl-c", "sigterm"],
)
def test_interrupted_restore_names_the_way_back(pg_stack: Stack, sig: int, group: bool, code: int) -> None:
    st = pg_stack
    fresh(st)
    # Enough rows that the load takes a while after the drop.
    psql(
        st,
        "INSERT INTO tasks (title, status, priority) "
        "SELECT 'bulk-' || g || repeat('x', 150), 'done', g % 10 FROM generate_series(1, 400000) AS g",
    )
    insert_rows(st, "mine", 5)
    before = checksum(st)
    big = f"big-{code}"
    ok(st.devenv("db", "snapshot", big, timeout=240))

    proc = st.popen_devenv("db", "restore", big, "--yes")
    head = wait_for_line(proc, rf"\bload: restoring {big}")
    wait_for(lambda: devenv_sessions(st) > 0, 30, "pg_restore to be connected and loading")
    if group:
        os.killpg(proc.pid, sig)  # what a terminal's Ctrl-C does
    else:
        os.kill(proc.pid, sig)
    rc, err = finish(proc, head)
    assert rc == code, err
    assert "Traceback" not in err
    match = RESTORE_CMD.search(err)
    assert match, err
    safety, profile = match.groups()
    assert profile == "dev"
    assert wait_for(lambda: devenv_sessions(st) == 0, 15, "the interrupted pg_restore to end")

    # The next db command notices the unfinished restore and says how to recover.
    res = ok(st.devenv("db", "snapshots"))
    assert "did not finish" in res.stderr and f"devenv db restore {safety}" in res.stderr, res.dump()
    ok(st.devenv("db", "restore", safety, "--yes", timeout=300))
    assert checksum(st) == before
    res = ok(st.devenv("db", "snapshots"))
    assert "did not finish" not in res.stderr, res.dump()


def test_interrupted_hard_reset_exits_130_with_the_restore_command(pg_stack: Stack) -> None:
    st = pg_stack
    fresh(st)
    insert_rows(st, "hard", 7)
    before = checksum(st)
    proc = st.popen_devenv("db", "reset", "--hard", "--yes")
    head = wait_for_line(proc, r"\bremove: ")
    os.killpg(proc.pid, signal.SIGINT)
    rc, err = finish(proc, head, timeout=180)
    assert rc == 130, err
    match = RESTORE_CMD.search(err)
    assert match, err
    # Bring the database back up and restore what the command named.
    ok(st.devenv("up", timeout=300))
    ok(st.devenv("db", "restore", match.group(1), "--yes", timeout=300))
    assert checksum(st) == before


# ------------------------------------------------------------------------- 6. a blocked snapshot
def test_a_snapshot_blocked_by_a_lock_names_the_session_and_leaves_nothing_behind(pg_stack: Stack) -> None:
    st = pg_stack
    fresh(st)
    insert_rows(st, "locked", 4)
    with lock_held(st):
        started = time.monotonic()
        res = st.devenv("db", "reset", "--yes", timeout=120)
        assert res.returncode == 1, res.dump()
        assert time.monotonic() - started < 60
        assert "dvt-blocker" in res.stderr, res.dump()
        assert "locks tasks" in res.stderr and "idle in transaction" in res.stderr, res.dump()
        assert re.search(r"pg_terminate_backend\(\d+\)", res.stderr), res.dump()
        assert "Nothing was changed" in res.stderr, res.dump()
        assert devenv_sessions(st) == 0

        # Ctrl-C while a snapshot waits on the lock: nothing keeps waiting in the container.
        proc = st.popen_devenv("db", "snapshot")
        head = wait_for_line(proc, r"\bsnapshot: ")
        wait_for(lambda: devenv_sessions(st) > 0, 15, "pg_dump to wait on the lock")
        os.killpg(proc.pid, signal.SIGINT)
        rc, err = finish(proc, head)
        assert rc == 130, err
        assert wait_for(lambda: devenv_sessions(st) == 0, 10, "pg_dump to be ended on the server")
        assert partial_files(st) == []
    assert tagged(st, "locked") == 4


# --------------------------------------------------------------- 16. the database container dies
def test_a_database_container_killed_under_a_snapshot_is_named(pg_stack: Stack) -> None:
    st = pg_stack
    fresh(st)
    with lock_held(st):
        proc = st.popen_devenv("db", "snapshot", "doomed")
        head = wait_for_line(proc, r"\bsnapshot: ")
        wait_for(lambda: devenv_sessions(st) > 0, 15, "pg_dump to wait on the lock")
        docker("kill", pg_container(st), check=True)
        rc, err = finish(proc, head)
    assert rc == 1, err
    # The example's database restarts by policy, so it may already run again: either is named.
    assert re.search(r"the database container stopped( \(exit code 137\)| and was restarted)", err), err
    assert "doomed" not in [p.name for p in snapshot_dir(st).glob("*")]
    assert partial_files(st) == []
    fresh(st)  # brings the stack back for whatever runs next


# ------------------------------------------------------------------ 4. concurrent destructive commands
def test_two_resets_at_once_run_one_after_the_other(pg_stack: Stack) -> None:
    st = pg_stack
    fresh(st)
    first = st.popen_devenv("db", "reset", "--yes", "--no-snapshot")
    second = st.popen_devenv("db", "reset", "--yes", "--no-snapshot")
    results = [p.communicate(timeout=240) for p in (first, second)]
    codes = [first.returncode, second.returncode]
    errs = [err for _out, err in results]
    assert codes == [0, 0], errs
    assert any("waiting for another devenv command on this project" in e for e in errs), errs
    assert all("Traceback" not in e for e in errs), errs
    assert tagged(st, "keep") == 0


# ------------------------------------------------------------- 7. partial files of a killed snapshot
def test_partial_files_of_a_killed_snapshot_are_cleaned_by_the_next_command(pg_stack: Stack) -> None:
    st = pg_stack
    fresh(st)
    with lock_held(st):
        proc = st.popen_devenv("db", "snapshot", "killed")
        head = wait_for_line(proc, r"\bsnapshot: ")
        wait_for(lambda: partial_files(st), 15, "the snapshot's partial file")
        os.killpg(proc.pid, signal.SIGKILL)  # nothing of devenv runs after this
        finish(proc, head)
        assert partial_files(st), "the killed snapshot left no partial file to clean"
    # pg_dump ends by itself inside the container (its lock wait is bounded).
    wait_for(lambda: devenv_sessions(st) == 0, 30, "the orphaned pg_dump to give up")
    assert "killed" not in snapshot_names(st)
    assert partial_files(st) == []


# ----------------------------------------------------- hostile review: repeated and nested interruptions
def test_a_second_interrupted_restore_still_names_the_good_snapshot(pg_stack: Stack) -> None:
    st = pg_stack
    fresh(st)
    psql(
        st,
        "INSERT INTO tasks (title, status, priority) "
        "SELECT 'bulk-' || g || repeat('y', 150), 'done', g % 10 FROM generate_series(1, 400000) AS g",
    )
    before = checksum(st)
    ok(st.devenv("db", "snapshot", "nested", timeout=240))

    def interrupted_restore(signals: int) -> str:
        proc = st.popen_devenv("db", "restore", "nested", "--yes")
        head = wait_for_line(proc, r"\bload: restoring nested")
        time.sleep(0.3)
        for _ in range(signals):  # an impatient user presses Ctrl-C again and again
            os.killpg(proc.pid, signal.SIGINT)
            time.sleep(0.05)
        rc, err = finish(proc, head)
        assert rc == 130, err
        match = RESTORE_CMD.search(err)
        assert match, err
        return match.group(1)

    good = interrupted_restore(1)
    # The database is now half-loaded; a second attempt snapshots that broken state first, but
    # the way back it prints must still be the snapshot of the good data.
    assert interrupted_restore(3) == good
    ok(st.devenv("db", "restore", good, "--yes", timeout=300))
    assert checksum(st) == before


def test_a_paused_database_fails_the_snapshot_instead_of_hanging(pg_stack: Stack) -> None:
    st = pg_stack
    fresh(st)
    cid = pg_container(st)
    try:
        with lock_held(st):  # the dump waits on the lock, so the pause lands in the middle of it
            proc = st.popen_devenv("db", "snapshot", "paused")
            head = wait_for_line(proc, r"\bsnapshot: ")
            wait_for(lambda: devenv_sessions(st) > 0, 15, "pg_dump to wait on the lock")
            docker("pause", cid, check=True)
            rc, err = finish(proc, head, timeout=60)
            docker("unpause", cid, check=True)
    finally:
        docker("unpause", cid)
        # Its healthcheck failed while paused: let it be healthy again for the tests that follow.
        wait_for(lambda: health_status(docker_inspect(cid)) == "healthy", 60, "postgres to be healthy again")
    assert rc == 1, err
    assert "is paused" in err, err
    assert partial_files(st) == []
    assert "paused" not in snapshot_names(st)


def test_a_dump_that_creates_its_own_database_is_refused(pg_stack: Stack, tmp_path: Path) -> None:
    st = pg_stack
    fresh(st)
    insert_rows(st, "own", 3)
    before = checksum(st)
    dump = docker("exec", pg_container(st), "pg_dump", "--create", "-U", DB_USER, DB_NAME, check=True).stdout
    path = tmp_path / "create.sql"
    path.write_text(dump)
    res = st.devenv("db", "import", str(path), "--yes")
    assert res.returncode == 2, res.dump()
    assert "creates its own database" in res.stderr and "Nothing was changed" in res.stderr, res.dump()
    assert checksum(st) == before


def test_a_cancel_token_after_the_drop_names_the_restore_command(
    pg_stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The TUI's escape on a reset, past the drop: the flow stops (in a worker thread, as the TUI runs
    it) with the error that names the safety snapshot and the restore command, which works."""
    import threading

    from devenv.core.cancel import CancelToken
    from devenv.core.db.flows import reset
    from devenv.core.db.postgres import PostgresAdapter
    from devenv.core.events import DbStep
    from devenv.errors import DevenvError

    st = pg_stack
    fresh(st)
    insert_rows(st, "cancel", 9)
    before = checksum(st)
    core = core_stack(st, monkeypatch, "dev")
    token = CancelToken()
    steps: list[str] = []

    def emit(ev: Any) -> None:
        if isinstance(ev, DbStep):
            steps.append(ev.step)

    drop_and_create = PostgresAdapter.drop_and_create

    def drop_then_cancel(self: PostgresAdapter) -> None:
        drop_and_create(self)
        token.cancel()  # the escape lands right after the drop

    monkeypatch.setattr(PostgresAdapter, "drop_and_create", drop_then_cancel)

    outcome: list[BaseException] = []

    def run() -> None:
        try:
            reset(core, emit=emit, cancel=token)
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    worker.join(300)
    assert not worker.is_alive() and outcome, steps
    err = outcome[0]
    assert isinstance(err, DevenvError), repr(err)
    text = f"{err.message}\n{err.hint or ''}"
    assert "Interrupted (cancelled) after the database was changed." in text, text
    assert "drop" in steps and "migrate" not in steps, steps  # dropped, and nothing ran past the cancel
    match = RESTORE_CMD.search(text)
    assert match, text
    ok(st.devenv("db", "restore", match.group(1), "--yes", timeout=300))
    assert checksum(st) == before
