"""Unit tests for the database safety checks that run before anything is dropped."""

from __future__ import annotations

import gzip
import hashlib
import json
import threading
import time
from dataclasses import asdict
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from devenv.core import db
from devenv.core.events import DbOutput, Event, SnapshotWritten
from devenv.errors import DevenvError, ExitCode, Terminated, UsageError


# ------------------------------------------------------------------------ import file validation
def test_valid_sql_gz_passes(tmp_path: Path) -> None:
    path = tmp_path / "dump.sql.gz"
    path.write_bytes(gzip.compress(b"CREATE TABLE t (id int);\n" * 1000))
    assert db.check_import_file(path, "postgres") == "sql.gz"


def test_truncated_sql_gz_is_refused(tmp_path: Path) -> None:
    data = gzip.compress(b"INSERT INTO t VALUES (1);\n" * 5000)
    path = tmp_path / "dump.sql.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(UsageError) as err:
        db.check_import_file(path, "postgres")
    assert "Nothing was changed" in err.value.message
    assert str(path) in err.value.message


def test_not_gzip_at_all_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "dump.sql.gz"
    path.write_bytes(b"this is plain text, not gzip")
    with pytest.raises(UsageError, match=r"not a valid sql\.gz file"):
        db.check_import_file(path, "mariadb")


def test_pg_custom_dump_needs_signature(tmp_path: Path) -> None:
    good = tmp_path / "good.dump"
    good.write_bytes(b"PGDMP\x01\x0e\x00rest")
    assert db.check_import_file(good, "postgres") == "native"
    bad = tmp_path / "bad.dump"
    bad.write_bytes(b"SELECT 1;")
    with pytest.raises(UsageError, match="PGDMP"):
        db.check_import_file(bad, "postgres")


def test_missing_import_file(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        db.check_import_file(tmp_path / "nope.sql", "postgres")


def test_unknown_extension(tmp_path: Path) -> None:
    path = tmp_path / "dump.txt"
    path.write_text("x")
    with pytest.raises(UsageError, match="Cannot tell the format"):
        db.check_import_file(path, "postgres")


# ------------------------------------------------------------------------ export target validation
def test_export_to_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        db.check_export_path(tmp_path / "no" / "such" / "dump.sql")


def test_export_to_existing_file_needs_force(tmp_path: Path) -> None:
    path = tmp_path / "dump.sql"
    path.write_text("keep me")
    with pytest.raises(UsageError, match="--force"):
        db.check_export_path(path)
    db.check_export_path(path, force=True)
    assert path.read_text() == "keep me"


def test_export_to_a_folder(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="is a folder"):
        db.check_export_path(tmp_path, force=True)


# ------------------------------------------------------------------------ snapshot store
MAGIC = {"postgres": b"PGDMP", "mariadb": b"\x1f\x8b", "mysql": b"\x1f\x8b"}  # what a real dump starts with


def _snapshot(store: db.SnapshotStore, name: str, payload: bytes, engine: str = "postgres") -> db.SnapshotInfo:
    """A snapshot whose file is ``payload`` after the engine's format signature."""
    return _snapshot_with(store, name, lambda out: out.write(MAGIC[engine] + payload), engine=engine)


def test_store_write_records_size_and_checksum(tmp_path: Path) -> None:
    store = db.SnapshotStore(tmp_path, "dev")
    info = _snapshot(store, "one", b"x" * 1234)
    assert info.size == 1239
    assert info.sha256 == hashlib.sha256(b"PGDMP" + b"x" * 1234).hexdigest()
    meta = json.loads((store.dir / "one.json").read_text())
    assert meta == asdict(info)
    assert [s.name for s in store.list()] == ["one"]
    assert not list(store.dir.glob(".*partial"))


def test_failed_producer_leaves_nothing_listed(tmp_path: Path) -> None:
    store = db.SnapshotStore(tmp_path, "dev")

    def boom(out: Any) -> None:
        out.write(b"half a dump")
        raise RuntimeError("pg_dump died")

    with pytest.raises(RuntimeError):
        _snapshot_with(store, "broken", boom)
    assert store.list() == []
    assert list(store.dir.iterdir()) == []


def _snapshot_with(store: db.SnapshotStore, name: str, producer: Any, engine: str = "postgres") -> db.SnapshotInfo:
    fmt = "pgdump" if engine == "postgres" else "sql.gz"
    info = db.SnapshotInfo(
        name=name,
        profile=store.profile,
        engine=engine,
        database="app",
        service="postgres",
        created=time.time(),
        size=0,
        file=f"{name}.{fmt}",
        format=fmt,
    )
    return store.write(info, producer)


def test_verify_detects_damage(tmp_path: Path) -> None:
    store = db.SnapshotStore(tmp_path, "dev")
    info = _snapshot(store, "one", b"a" * 100)
    assert store.verify(info) == store.dir / "one.pgdump"
    (store.dir / "one.pgdump").write_bytes(b"PGDMP" + b"b" * 100)  # same size, other content
    with pytest.raises(UsageError, match="checksum"):
        store.verify(info)
    (store.dir / "one.pgdump").write_bytes(b"PGDMP" + b"a" * 50)
    with pytest.raises(UsageError, match="55 bytes"):
        store.verify(info)


@pytest.mark.parametrize("name", ["", "../etc", "a b", ".hidden", "x" * 101])
def test_bad_snapshot_names(tmp_path: Path, name: str) -> None:
    with pytest.raises(UsageError, match="Invalid snapshot name"):
        db.SnapshotStore(tmp_path, "dev").check_new_name(name)


def test_taken_snapshot_name(tmp_path: Path) -> None:
    store = db.SnapshotStore(tmp_path, "dev")
    _snapshot(store, "one", b"a")
    with pytest.raises(UsageError, match="already exists"):
        store.check_new_name("one")
    store.check_new_name("two")


def test_engine_families(tmp_path: Path) -> None:
    store = db.SnapshotStore(tmp_path, "dev")
    maria = _snapshot(store, "m", b"a", engine="mariadb")
    db.check_engine(maria, "mysql")
    db.check_engine(maria, "mariadb")
    with pytest.raises(UsageError, match="Nothing was changed"):
        db.check_engine(maria, "postgres")


# ------------------------------------------------------------------------ error messages after a failure
def _stack() -> Any:
    return SimpleNamespace(profile=SimpleNamespace(name="dev"))


def test_at_risk_names_the_snapshot_and_keeps_the_hint(tmp_path: Path) -> None:
    store = db.SnapshotStore(tmp_path, "dev")
    snap = _snapshot(store, "before-reset", b"a")
    cause = DevenvError("Migration failed (exit code 1)", hint="Fix the migration, then run devenv migrate")
    err = db._at_risk(cause, snap, _stack())
    assert isinstance(err, db.DataAtRiskError)
    assert "safe in snapshot 'before-reset'" in err.message
    assert err.hint is not None
    assert "Fix the migration" in err.hint
    assert "devenv db restore before-reset --profile dev" in err.hint


def test_at_risk_without_snapshot_says_data_is_gone() -> None:
    err = db._at_risk(DevenvError("boom"), None, _stack())
    assert "the old data is gone" in err.message


@pytest.mark.parametrize(
    ("exc", "code", "word"),
    [(KeyboardInterrupt(), ExitCode.INTERRUPTED, "Ctrl-C"), (Terminated(), ExitCode.TERMINATED, "SIGTERM")],
)
def test_interruption_after_the_drop_names_the_way_back(
    tmp_path: Path, exc: KeyboardInterrupt, code: ExitCode, word: str
) -> None:
    store = db.SnapshotStore(tmp_path, "dev")
    snap = _snapshot(store, "s1", b"a")
    err = db._at_risk(exc, snap, _stack())
    assert isinstance(err, db.DataAtRiskError)
    assert err.exit_code == code
    assert word in err.message
    assert "devenv db restore s1 --profile dev" in (err.hint or "")


def test_non_devenv_error_after_drop_is_wrapped(tmp_path: Path) -> None:
    store = db.SnapshotStore(tmp_path, "dev")
    snap = _snapshot(store, "s1", b"a")
    err = db._at_risk(EOFError("Compressed file ended before the end-of-stream marker"), snap, _stack())
    assert "EOFError" in err.message and "s1" in err.message


# ------------------------------------------------------------------------ events and threads
class _ThreadedAdapter(db.Adapter):
    """An adapter whose revision query prints a line, as a client tool may (it runs in a helper thread)."""

    engine = "postgres"
    native_ext = "pgdump"

    def env(self) -> dict[str, str]:
        return {}

    def drop_and_create(self) -> None:
        return None

    def dump(self, out: Any, *, plain_sql: bool = False) -> None:
        self.emit(DbOutput("dumping"))
        out.write(b"PGDMP" + b"\0" * 64)

    def load(self, src: Any, *, plain_sql: bool = False) -> None:
        return None

    def scalar(self, sql: str) -> str | None:
        return None

    def shell_argv(self) -> list[str]:
        return []

    def revision(self) -> str | None:
        self.emit(DbOutput("revision query says hello"))
        return "abc123"


def test_take_snapshot_emits_every_event_from_the_calling_thread(tmp_path: Path) -> None:
    api = SimpleNamespace(inspect_container=lambda _cid: {"State": {"Running": True, "StartedAt": "t0"}})
    stack = SimpleNamespace(
        api=api, name="shop", project=SimpleNamespace(root=tmp_path), profile=SimpleNamespace(name="dev")
    )
    target = db.DatabaseTarget(service="db", engine="postgres", name="app", user="app")
    seen: list[tuple[Event, int]] = []
    adapter = _ThreadedAdapter(cast(Any, stack), target, "c1", lambda e: seen.append((e, threading.get_ident())))
    session = db.Session(cast(Any, stack), target, adapter, db.SnapshotStore(tmp_path, "dev"))

    info = db.take_snapshot(session, "s1", emit=lambda e: seen.append((e, threading.get_ident())))

    assert info.revision == "abc123"
    assert {thread for _e, thread in seen} == {threading.get_ident()}
    lines = [e.line for e, _t in seen if isinstance(e, DbOutput)]
    assert sorted(lines) == ["dumping", "revision query says hello"]
    assert isinstance(seen[-1][0], SnapshotWritten)


def test_after_an_unfinished_operation_the_way_back_is_its_snapshot(tmp_path: Path) -> None:
    store = db.SnapshotStore(tmp_path, "dev")
    broken = _snapshot(store, "s2-of-the-broken-state", b"b")
    err = db._at_risk(KeyboardInterrupt(), "s1-good", _stack(), this=broken)
    assert "devenv db restore s1-good --profile dev" in (err.hint or "")
    assert "s2-of-the-broken-state" in err.message and "earlier operation did not finish" in err.message
    # --no-snapshot this time, but the earlier operation's snapshot still holds the data.
    err = db._at_risk(KeyboardInterrupt(), "s1-good", _stack(), this=None)
    assert "old data is gone" not in err.message
    assert "devenv db restore s1-good" in (err.hint or "")
