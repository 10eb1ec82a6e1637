"""The snapshot store under hostile conditions: concurrent writers, forged metadata, leftovers,
permissions, unreadable folders, the project lock (devenv.core.db.snapshots and devenv.core.state)."""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from devenv.core.db import snapshots as snap
from devenv.errors import DevenvError, ExitCode, UsageError

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


# ======================================================================= concurrent writers (4)
def _race_threads(tmp_path: Path, names: list[str | None]) -> list[snap.SnapshotInfo | BaseException]:
    """Each thread is a command of its own (its own store): it picks its name, then all dump at once."""
    barrier = threading.Barrier(len(names), timeout=10)
    results: list[snap.SnapshotInfo | BaseException] = [RuntimeError("not run")] * len(names)

    def run(i: int, name: str | None) -> None:
        store = snap.SnapshotStore(tmp_path, "dev")
        try:
            chosen = name or store.new_name()
            barrier.wait()  # every name is chosen before any snapshot is published
            results[i] = store.write(_info(store, chosen), _dump(b"%d" % i, 40, lambda: time.sleep(0.001)))
        except BaseException as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i, n)) for i, n in enumerate(names)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


def test_two_threads_with_auto_names_get_two_valid_snapshots(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(time, "strftime", lambda *_a: STAMP)  # the same second for both
    results = _race_threads(tmp_path, [None, None])
    infos = [r for r in results if isinstance(r, snap.SnapshotInfo)]
    assert len(infos) == 2, results
    assert sorted(i.name for i in infos) == [STAMP, f"{STAMP}-2"]
    store = snap.SnapshotStore(tmp_path, "dev")
    for info in infos:
        assert store.get(info.name) == info
        store.verify(info)
    assert {store.verify(i).read_bytes()[5:6] for i in infos} == {b"0", b"1"}  # each its own dump
    assert not [f for f in _files(store.dir) if f.endswith(".partial")]


def test_same_user_name_at_once_exactly_one_wins(tmp_path: Path) -> None:
    results = _race_threads(tmp_path, ["shared", "shared"])
    wins = [r for r in results if isinstance(r, snap.SnapshotInfo)]
    losses = [r for r in results if isinstance(r, BaseException)]
    assert len(wins) == 1 and len(losses) == 1, results
    assert isinstance(losses[0], UsageError) and "already exists" in losses[0].message
    store = snap.SnapshotStore(tmp_path, "dev")
    assert store.verify(store.get("shared")) == store.dir / "shared.pgdump"
    assert _files(store.dir) == ["shared.json", "shared.pgdump"]


_SCRIPT = """
import json, sys, time
from pathlib import Path
stamp = sys.argv[5]
time.strftime = lambda *a: stamp  # both processes in the same second
from devenv.core.db.snapshots import SnapshotInfo, SnapshotStore
root, name, ready, tag = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3]), sys.argv[4]
store = SnapshotStore(root, "dev")
name = name or store.new_name()
(ready / tag).touch()
deadline = time.time() + 20
while len(list(ready.iterdir())) < 2 and time.time() < deadline:  # both have chosen a name
    time.sleep(0.005)
def produce(out):
    out.write(b"PGDMP")
    for _ in range(40):
        out.write(tag.encode() * 4096)
        time.sleep(0.002)
info = SnapshotInfo(name=name, profile="dev", engine="postgres", database="app", service="db",
                    created=time.time(), size=0, file=name + ".pgdump", format="pgdump")
try:
    print(json.dumps({"name": store.write(info, produce).name}))
except Exception as exc:
    print(json.dumps({"error": type(exc).__name__, "message": str(exc)}))
"""


def _race_processes(tmp_path: Path, name: str) -> list[dict[str, str]]:
    ready = tmp_path / "ready"
    ready.mkdir()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _SCRIPT, str(tmp_path), name, str(ready), tag, STAMP],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for tag in ("a", "b")
    ]
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=60)
        assert p.returncode == 0, stderr
        out.append(json.loads(stdout.strip().splitlines()[-1]))
    return out


def test_two_processes_with_auto_names_get_two_valid_snapshots(tmp_path: Path) -> None:
    results = _race_processes(tmp_path, "")
    assert sorted(r.get("name", str(r)) for r in results) == [STAMP, f"{STAMP}-2"], results
    store = snap.SnapshotStore(tmp_path, "dev")
    listed = store.list()
    assert [s.name for s in sorted(listed, key=lambda s: s.name)] == [STAMP, f"{STAMP}-2"]
    for info in listed:
        assert _sha(store.verify(info)) == info.sha256
    assert store.problems() == []
    assert not [f for f in _files(store.dir) if f.endswith(".partial")]


def test_two_processes_with_the_same_user_name_one_wins(tmp_path: Path) -> None:
    results = _race_processes(tmp_path, "shared")
    assert sorted(r.get("name", r.get("error", "")) for r in results) == ["UsageError", "shared"], results
    assert "already exists" in next(r["message"] for r in results if "error" in r)
    store = snap.SnapshotStore(tmp_path, "dev")
    store.verify(store.get("shared"))
    assert _files(store.dir) == ["shared.json", "shared.pgdump"]


def test_name_taken_during_the_dump(tmp_path: Path) -> None:
    """Taken after the up-front check: a user name fails cleanly, an auto name moves on."""
    store = snap.SnapshotStore(tmp_path, "dev")
    store.dir.mkdir(parents=True)

    def sneaky(out: Any) -> None:  # another command publishes metadata under our name meanwhile
        (store.dir / "mine.json").write_text('{"other": true}')
        out.write(b"PGDMP data")

    with pytest.raises(UsageError, match="already exists"):
        store.write(_info(store, "mine"), sneaky)
    assert _files(store.dir) == ["mine.json"]  # the other's metadata untouched, no file of ours left
    assert json.loads((store.dir / "mine.json").read_text()) == {"other": True}

    auto = store.new_name("x")
    (store.dir / f"{auto}.pgdump").write_bytes(b"someone else's")
    info = store.write(_info(store, auto), _dump(b"z"))
    assert info.name == f"{auto}-2" and info.file == f"{auto}-2.pgdump"
    assert (store.dir / f"{auto}.pgdump").read_bytes() == b"someone else's"
    store.verify(store.get(info.name))


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


# ================================================================ metadata is not trusted (5)
def _forge(store: snap.SnapshotStore, snapshot: str, **changes: Any) -> None:
    """Rewrite the metadata of ``snapshot`` with ``changes`` (a value None removes the key)."""
    meta = store.dir / f"{snapshot}.json"
    data = json.loads(meta.read_text())
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    meta.write_text(json.dumps(data))


def _outside(tmp_path: Path) -> Path:
    """A file ``../../etc/hostname`` from the snapshot folder reaches: .devenv/etc/hostname."""
    target = tmp_path / ".devenv" / "etc" / "hostname"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(b"PGDMP-not-a-snapshot\n")
    return target


FORGERIES: dict[str, Callable[[snap.SnapshotStore, Path], str]] = {}


def forgery(fn: Callable[[snap.SnapshotStore, Path], str]) -> Callable[[snap.SnapshotStore, Path], str]:
    FORGERIES[fn.__name__] = fn
    return fn


@forgery
def parent_path(store: snap.SnapshotStore, tmp_path: Path) -> str:
    target = _outside(tmp_path)
    _forge(store, "s1", file="../../etc/hostname", size=target.stat().st_size, sha256=_sha(target))
    return "points outside the snapshot folder"


@forgery
def absolute_path(store: snap.SnapshotStore, tmp_path: Path) -> str:
    target = _outside(tmp_path)
    _forge(store, "s1", file=str(target), size=target.stat().st_size, sha256=_sha(target))
    return "points outside the snapshot folder"


@forgery
def symlink_out(store: snap.SnapshotStore, tmp_path: Path) -> str:
    target = _outside(tmp_path)
    (store.dir / "s1.pgdump").unlink()
    (store.dir / "s1.pgdump").symlink_to(target)
    _forge(store, "s1", size=target.stat().st_size, sha256=_sha(target))
    return "is a symbolic link"


@forgery
def no_sha256(store: snap.SnapshotStore, tmp_path: Path) -> str:
    _forge(store, "s1", sha256=None)
    return "has no sha256"


@forgery
def empty_sha256(store: snap.SnapshotStore, tmp_path: Path) -> str:
    _forge(store, "s1", sha256="")
    return "sha256 checksum is missing or malformed"


@forgery
def size_zero(store: snap.SnapshotStore, tmp_path: Path) -> str:
    _forge(store, "s1", size=0)
    return "not a positive number of bytes"


@forgery
def size_as_text(store: snap.SnapshotStore, tmp_path: Path) -> str:
    _forge(store, "s1", size="13")
    return "is '13', not an int"


@forgery
def other_name(store: snap.SnapshotStore, tmp_path: Path) -> str:
    _forge(store, "s1", name="s2", file="s2.pgdump")
    return "metadata file is s1.json"


@forgery
def unknown_engine(store: snap.SnapshotStore, tmp_path: Path) -> str:
    _forge(store, "s1", engine="oracle")
    return "engine 'oracle' is unknown"


@forgery
def format_of_another_engine(store: snap.SnapshotStore, tmp_path: Path) -> str:
    _forge(store, "s1", format="sql.gz")
    return "its format 'sql.gz' is not a postgres format"


@forgery
def extension_of_another_format(store: snap.SnapshotStore, tmp_path: Path) -> str:
    (store.dir / "s1.pgdump").rename(store.dir / "s1.sql.gz")
    _forge(store, "s1", file="s1.sql.gz")
    return "does not match its name and format (expected s1.pgdump)"


@forgery
def not_json(store: snap.SnapshotStore, tmp_path: Path) -> str:
    (store.dir / "s1.json").write_text("{not json")
    return "not valid JSON"


@forgery
def file_missing(store: snap.SnapshotStore, tmp_path: Path) -> str:
    (store.dir / "s1.pgdump").unlink()
    return "s1.pgdump is missing"


@pytest.mark.parametrize("name", sorted(FORGERIES))
def test_forged_metadata_is_refused_and_reported(tmp_path: Path, name: str) -> None:
    store = snap.SnapshotStore(tmp_path, "dev")
    _write(store, "s1", b"the real dump")
    _write(store, "s0", b"another one")
    reason = FORGERIES[name](store, tmp_path)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}

    with pytest.raises(UsageError) as caught:
        store.get("s1")
    assert "damaged" in caught.value.message and reason in caught.value.message, caught.value.message
    assert "No snapshot named" not in caught.value.message
    assert [s.name for s in store.list()] == ["s0"]
    [problem] = store.problems()
    assert problem.name == "s1" and reason in problem.reason and problem.path == store.dir / "s1.json"
    try:  # the forged metadata, taken at its word (as a caller building SnapshotInfo would)
        forged = snap.SnapshotInfo(**json.loads((store.dir / "s1.json").read_text()))
    except (ValueError, TypeError):
        forged = None
    if forged is not None:
        with pytest.raises(UsageError, match="damaged"):
            store.verify(forged)
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before  # nothing touched


def test_verify_checks_the_format_signature(tmp_path: Path) -> None:
    """Size and checksum agree with the metadata, but the file is not a dump: refused before any drop."""
    store = snap.SnapshotStore(tmp_path, "dev")
    info = _write(store, "s1")
    fake = b"DROP DATABASE app;\n"
    (store.dir / "s1.pgdump").write_bytes(fake)
    _forge(store, "s1", size=len(fake), sha256=hashlib.sha256(fake).hexdigest())
    forged = store.get("s1")  # consistent metadata: listed
    assert snap.metadata_problem(forged) is None and snap.metadata_problem(info) is None
    with pytest.raises(UsageError, match=r"is not a pg_dump custom-format file .*Nothing was changed"):
        store.verify(forged)

    maria = store.write(_info(store, "m1", "mariadb"), lambda out: out.write(b"\x1f\x8b\x08rest"))
    plain = b"-- MariaDB dump\nCREATE TABLE t (id int);\n"
    (store.dir / "m1.sql.gz").write_bytes(plain)
    _forge(store, "m1", size=len(plain), sha256=hashlib.sha256(plain).hexdigest())
    with pytest.raises(UsageError, match="is not a gzip-compressed SQL dump"):
        store.verify(store.get("m1"))
    assert maria.format == "sql.gz" and info.format == "pgdump"


def test_verify_refuses_info_built_in_memory_that_points_outside(tmp_path: Path) -> None:
    store = snap.SnapshotStore(tmp_path, "dev")
    info = _write(store, "s1")
    target = _outside(tmp_path)
    forged = replace(info, file="../../etc/hostname", size=target.stat().st_size, sha256=_sha(target))
    with pytest.raises(UsageError, match="points outside"):
        store.verify(forged)


def test_a_dump_without_the_signature_is_not_published(tmp_path: Path) -> None:
    store = snap.SnapshotStore(tmp_path, "dev")
    with pytest.raises(DevenvError, match="does not start like a pg_dump"):
        store.write(_info(store, "s1"), lambda out: out.write(b"pg_dump: error: connection failed"))
    with pytest.raises(DevenvError, match="the dump is empty"):
        store.write(_info(store, "s2"), lambda out: None)
    assert _files(store.dir) == []


def test_latest_does_not_skip_a_damaged_newest_snapshot(tmp_path: Path) -> None:
    store = snap.SnapshotStore(tmp_path, "dev")
    old = _write(store, "old")
    _write(store, "new")
    _forge(store, "new", sha256=None)
    with pytest.raises(UsageError, match='"new", is damaged'):
        store.get("latest")
    (store.dir / "new.json").unlink()
    assert store.get("latest") == old


# ======================================================================= leftover partials (7)
def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    with pytest.raises(ProcessLookupError):
        os.kill(proc.pid, 0)
    return proc.pid


def test_partials_of_dead_writers_are_removed_live_ones_kept(tmp_path: Path) -> None:
    store = snap.SnapshotStore(tmp_path, "dev")
    _write(store, "s1")
    dead = [
        f".s2.pgdump.k2j3h4g5.{_dead_pid()}.partial",
        f".s2.json.a8b7c6d5.{_dead_pid()}.partial",
        ".s3.pgdump.partial",  # older devenv: no pid, an hour old
    ]
    live = [f".s4.pgdump.q1w2e3r4.{os.getpid()}.partial", ".s5.pgdump.partial"]  # ours; no pid but recent
    for name in dead + live:
        (store.dir / name).write_bytes(b"PGDMP half")
    hour_ago = time.time() - 3700
    os.utime(store.dir / ".s3.pgdump.partial", (hour_ago, hour_ago))
    assert [s.name for s in store.list()] == ["s1"]
    assert _files(store.dir) == sorted([*live, "s1.json", "s1.pgdump"])


def test_a_running_writer_keeps_its_partial_while_others_list(tmp_path: Path) -> None:
    store = snap.SnapshotStore(tmp_path, "dev")
    seen: list[list[str]] = []

    def produce(out: Any) -> None:
        out.write(b"PGDMP first half")
        snap.SnapshotStore(tmp_path, "dev").list()  # another command lists meanwhile
        seen.append([f for f in _files(store.dir) if f.endswith(".partial")])
        out.write(b" second half")

    info = store.write(_info(store, "s1"), produce)
    [[partial]] = seen
    assert partial.startswith(".s1.pgdump.") and partial.endswith(f".{os.getpid()}.partial")
    assert (store.dir / "s1.pgdump").read_bytes() == b"PGDMP first half second half"
    assert info.size == len(b"PGDMP first half second half")
    assert _files(store.dir) == ["s1.json", "s1.pgdump"]


def test_write_also_sweeps(tmp_path: Path) -> None:
    store = snap.SnapshotStore(tmp_path, "dev")
    store.dir.mkdir(parents=True)
    (store.dir / f".old.pgdump.abcdefgh.{_dead_pid()}.partial").write_bytes(b"x")
    _write(store, "s1")
    assert _files(store.dir) == ["s1.json", "s1.pgdump"]


# ============================================================================ permissions (10)
def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_snapshots_are_private_and_ignored_by_git(tmp_path: Path) -> None:
    store = snap.SnapshotStore(tmp_path, "dev")
    _write(store, "s1")
    for folder in (tmp_path / ".devenv", tmp_path / ".devenv" / "snapshots", store.dir):
        assert _mode(folder) == 0o700, folder
    for file in ("s1.json", "s1.pgdump"):
        assert _mode(store.dir / file) == 0o600, file
    lines = (tmp_path / ".devenv" / ".gitignore").read_text().splitlines()
    assert "*" in lines


def test_existing_folders_and_files_are_tightened_on_write(tmp_path: Path) -> None:
    store = snap.SnapshotStore(tmp_path, "dev")
    store.dir.mkdir(parents=True)
    for folder in (tmp_path / ".devenv", store.dir.parent, store.dir):
        folder.chmod(0o755)
    (store.dir / "old.pgdump").write_bytes(b"PGDMP old")
    (store.dir / "old.pgdump").chmod(0o644)
    (tmp_path / ".devenv" / ".gitignore").write_text("snapshots/\n")
    _write(store, "s1")
    for folder in (tmp_path / ".devenv", store.dir.parent, store.dir):
        assert _mode(folder) == 0o700, folder
    assert _mode(store.dir / "old.pgdump") == 0o600
    assert (tmp_path / ".devenv" / ".gitignore").read_text() == "snapshots/\n"  # the user's, kept


def test_ensure_state_dir(tmp_path: Path) -> None:
    state = snap.ensure_state_dir(tmp_path)
    assert state == tmp_path / ".devenv" and _mode(state) == 0o700
    assert "*" in (state / ".gitignore").read_text().splitlines()
    assert snap.ensure_state_dir(tmp_path) == state


# ================================================================== unreadable folders (15)
@pytest.mark.parametrize("in_the_way", [".devenv/snapshots/dev", ".devenv/snapshots", ".devenv"])
def test_a_file_where_the_folder_should_be(tmp_path: Path, in_the_way: str) -> None:
    (tmp_path / in_the_way).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / in_the_way).write_text("oops")
    store = snap.SnapshotStore(tmp_path, "dev")
    with pytest.raises(DevenvError) as caught:
        store.list()
    assert caught.value.exit_code == ExitCode.SERVICE_FAILED
    assert str(store.dir) in caught.value.message and "not a folder" in caught.value.message
    with pytest.raises(DevenvError) as caught:
        _write(store, "s1")
    assert caught.value.exit_code == ExitCode.SERVICE_FAILED and in_the_way.split("/")[-1] in caught.value.message


def test_an_unreadable_folder_is_not_no_snapshots(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = snap.SnapshotStore(tmp_path, "dev")
    assert store.list() == []  # a missing folder is "no snapshots yet" (and reading creates nothing)
    assert not (tmp_path / ".devenv").exists()
    _write(store, "s1")
    real_scandir = os.scandir

    def denied(path: Any = ".") -> Any:
        if Path(path) == store.dir:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", denied)  # root reads anything: simulate a 0000 folder
    with pytest.raises(DevenvError) as caught:
        store.list()
    assert caught.value.exit_code == ExitCode.SERVICE_FAILED
    assert f"Cannot read the snapshots folder {store.dir}: Permission denied" in caught.value.message
    with pytest.raises(DevenvError, match="Permission denied"):
        store.get("s1")


# ================================================================= names and write errors (17)
@pytest.mark.parametrize("name", ["latest", "LATEST", "Latest"])
def test_latest_is_not_a_snapshot_name(tmp_path: Path, name: str) -> None:
    store = snap.SnapshotStore(tmp_path, "dev")
    with pytest.raises(UsageError, match="means the newest snapshot"):
        store.check_new_name(name)
    with pytest.raises(UsageError, match="means the newest snapshot"):
        _write(store, name)
    assert store.list() == []


def test_no_space_left_is_a_clear_error_and_leaves_nothing(tmp_path: Path) -> None:
    store = snap.SnapshotStore(tmp_path, "dev")

    def full_disk(out: Any) -> None:
        out.write(b"PGDMP" + b"x" * 10000)
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(DevenvError) as caught:
        store.write(_info(store, "s1"), full_disk)
    err = caught.value
    assert err.exit_code == ExitCode.SERVICE_FAILED
    assert f'Could not write snapshot "s1" in {store.dir}: No space left on device' in err.message
    assert err.hint and "disk space" in err.hint
    assert _files(store.dir) == [] and store.list() == []

    def dropped(out: Any) -> None:  # not about the folder: the producer's own error, unchanged
        out.write(b"PGDMP")
        raise ConnectionResetError(errno.ECONNRESET, "Connection reset by peer")

    with pytest.raises(ConnectionResetError):
        store.write(_info(store, "s1"), dropped)
    assert _files(store.dir) == []


def test_a_failing_file_write_is_a_clear_error(tmp_path: Path) -> None:
    """The snapshot file itself refuses a write: reported against the folder, whatever the errno."""
    store = snap.SnapshotStore(tmp_path, "dev")

    def produce(out: Any) -> None:
        out.raw = _Failing(out.raw, OSError(errno.EINVAL, "Invalid argument"))  # the file under the writer
        out.write(b"PGDMP")

    with pytest.raises(DevenvError, match=f"in {store.dir}: Invalid argument"):
        store.write(_info(store, "s1"), produce)
    assert _files(store.dir) == []


class _Failing:
    def __init__(self, raw: Any, exc: OSError) -> None:
        self.raw, self.exc = raw, exc

    def write(self, data: bytes) -> int:
        raise self.exc

    def flush(self) -> None:
        self.raw.flush()

    def fileno(self) -> int:
        return int(self.raw.fileno())
