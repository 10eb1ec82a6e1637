"""The snapshot store under hostile conditions: concurrent writers, forged metadata, leftovers,
permissions, unreadable folders, the project lock (devenv.core.snapshots and devenv.core.state)."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from devenv.core import snapshots as snap
from devenv.errors import DevenvError, ExitCode

REPO = Path(__file__).resolve().parents[2]
STAMP = "20250101-120000"


def _info(store: snap.SnapshotStore, name: str, engine: str = "postgres") -> snap.SnapshotInfo:
    fmt = "pgdump" if engine == "postgres" else "sql.gz"
    return snap.SnapshotInfo(
        name=name,
        profile=store.profile,
        engine=engine,
        database="app",
        service="db",
        created=time.time(),
        size=0,
        file=f"{name}.{fmt}",
        format=fmt,
    )


def _dump(tag: bytes, chunks: int = 1, pause: Callable[[], Any] = lambda: None) -> Callable[[Any], None]:
    def produce(out: Any) -> None:
        out.write(b"PGDMP")
        for _ in range(chunks):
            out.write(tag * 4096)
            pause()

    return produce


def _write(store: snap.SnapshotStore, name: str, payload: bytes = b"data") -> snap.SnapshotInfo:
    return store.write(_info(store, name), lambda out: out.write(b"PGDMP" + payload))


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ====================================================================== the project lock (4)
def _hold(root: Path, exclusive: bool, what: str, release: threading.Event) -> threading.Event:
    """Hold the lock in another thread until ``release`` is set; returns an event set once held."""
    held = threading.Event()

    def run() -> None:
        with snap.db_lock(root, exclusive=exclusive, what=what):
            held.set()
            release.wait(30)

    threading.Thread(target=run, daemon=True).start()
    assert held.wait(10)
    return held


def test_lock_waiter_names_the_holder_then_times_out(tmp_path: Path) -> None:
    release = threading.Event()
    _hold(tmp_path, True, "db reset", release)
    messages: list[str] = []
    t0 = time.monotonic()
    try:
        with pytest.raises(snap.LockTimeoutError) as caught:  # noqa: SIM117
            with snap.db_lock(tmp_path, exclusive=False, what="db snapshot", on_wait=messages.append, timeout=0.5):
                pytest.fail("took a lock held exclusive")
    finally:
        release.set()
    assert 0.4 < time.monotonic() - t0 < 5
    assert len(messages) == 1, messages  # printed once, not at every poll
    assert messages[0].startswith("waiting for another devenv command on this project")
    assert f"pid {os.getpid()}: db reset, started 0 s ago" in messages[0]
    err = caught.value
    assert isinstance(err, DevenvError) and err.exit_code == ExitCode.SERVICE_FAILED
    assert f"pid {os.getpid()}: db reset" in err.message and "gave up waiting after" in err.message


def test_lock_file_records_the_holder_privately(tmp_path: Path) -> None:
    with snap.db_lock(tmp_path, exclusive=True, what="db restore") as lock:
        assert lock.path == tmp_path / ".devenv" / "db.lock"
        record = json.loads(lock.path.read_text().splitlines()[0])
        assert record["pid"] == os.getpid() and record["command"] == "db restore"
        assert abs(record["started"] - time.time()) < 5
        assert stat.S_IMODE(lock.path.stat().st_mode) == 0o600
        assert stat.S_IMODE((tmp_path / ".devenv").stat().st_mode) == 0o700
        assert [h.command for h in lock.holders()] == ["db restore"]
    assert lock.path.read_text() == ""  # a released lock names nobody


def test_lock_is_released_on_exception(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="boom"), snap.db_lock(tmp_path, exclusive=True, what="db reset"):
        raise RuntimeError("boom")
    with open(tmp_path / ".devenv" / "db.lock", "rb") as f:  # a fresh open file: free if released
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)


def test_lock_shared_holders_coexist_and_exclusive_waits_for_them(tmp_path: Path) -> None:
    release = threading.Event()
    _hold(tmp_path, False, "db snapshot", release)
    with snap.db_lock(tmp_path, exclusive=False, what="db export", timeout=0):
        pass  # shared with shared: no wait
    threading.Timer(0.3, release.set).start()
    messages: list[str] = []
    with snap.db_lock(tmp_path, exclusive=True, what="db reset", on_wait=messages.append, timeout=10):
        assert release.is_set()
    assert len(messages) == 1 and "db snapshot" in messages[0]


def test_lock_is_reentrant_within_a_thread(tmp_path: Path) -> None:
    with snap.db_lock(tmp_path, exclusive=True, what="db reset"):
        with snap.db_lock(tmp_path, exclusive=False, what="db snapshot", timeout=0.2):
            pass
        with snap.db_lock(tmp_path, exclusive=True, what="db reset", timeout=0.2):
            pass
    with (
        snap.db_lock(tmp_path, exclusive=False, what="db snapshot"),
        pytest.raises(RuntimeError, match="exclusive while holding it shared"),
        snap.db_lock(tmp_path, exclusive=True, what="db reset", timeout=0.2),
    ):
        pass


def test_lock_wait_ends_on_ctrl_c(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The wait sleeps in Python between non-blocking attempts, so Ctrl-C interrupts it."""
    release = threading.Event()
    _hold(tmp_path, True, "db reset", release)

    def interrupted(_seconds: float) -> None:
        raise KeyboardInterrupt

    from devenv.core import state

    monkeypatch.setattr(state.time, "sleep", interrupted)
    try:
        with pytest.raises(KeyboardInterrupt), snap.db_lock(tmp_path, exclusive=True, what="db restore"):
            pytest.fail("took a held lock")
    finally:
        release.set()


# ======================================================================= private state folder
def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_ensure_state_dir(tmp_path: Path) -> None:
    state = snap.ensure_state_dir(tmp_path)
    assert state == tmp_path / ".devenv" and _mode(state) == 0o700
    assert "*" in (state / ".gitignore").read_text().splitlines()
    assert snap.ensure_state_dir(tmp_path) == state
