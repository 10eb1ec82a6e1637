"""Database flows: snapshot, restore, reset, export, import, shell, with typed progress events.

A flow opens a :class:`Session` (the resolved database, its running container, the engine's
adapter and the snapshot store; the service is started and waited for when needed). Every
destructive flow snapshots first unless told not to and runs its destructive part inside
:func:`destroying`: journaled, and when a step after the drop fails, the error names the snapshot
and the command that brings the data back. Destructive flows hold the project's db lock
exclusively, snapshots and exports share it.

Cancellation (:mod:`devenv.core.cancel`): a session opened with ``cancel=`` hands its token to every
exec of its adapter, and the flows check it between steps. A cancel raises ``Cancelled`` (a
``KeyboardInterrupt``), so it takes the Ctrl-C paths below: a snapshot leaves no file and ends its
``pg_dump``; after the drop, the error names the snapshot and the restore command.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import re
import time
import uuid
import zlib
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from devenv.core.cancel import Cancelled, check
from devenv.core.db import journal
from devenv.core.db.adapter import Adapter, DataAtRiskError, DatabaseError
from devenv.core.db.dumpfiles import check_import_file, file_format
from devenv.core.db.postgres import PostgresAdapter
from devenv.core.db.snapshots import SnapshotInfo, SnapshotStore
from devenv.core.db.target import DatabaseTarget, resolve_database, running_container
from devenv.core.events import DbNotice, DbStep, Emit, Event, SnapshotWritten
from devenv.core.state import ProjectLock, db_lock
from devenv.errors import DevenvError, ExitCode, ServiceFailedError, UsageError, interrupt_code

if TYPE_CHECKING:
    from devenv.core.cancel import CancelToken
    from devenv.core.stack import Stack


def adapter_for(stack: Stack, target: DatabaseTarget, container: str, emit: Emit) -> Adapter:
    if target.engine == "postgres":
        return PostgresAdapter(stack, target, container, emit)
    from devenv.core.db.mysql import MySQLAdapter

    adapter: Adapter = MySQLAdapter(stack, target, container, emit)
    return adapter


# ------------------------------------------------------------------------------------------ flows
@dataclass
class Session:
    """A resolved database, a running container and its adapter, ready for a flow."""

    stack: Stack
    target: DatabaseTarget
    adapter: Adapter
    store: SnapshotStore
    cancel: CancelToken | None = None


def open_session(stack: Stack, emit: Emit | None = None, cancel: CancelToken | None = None) -> Session:
    """Resolve the database, make sure its service is up and healthy, and return an adapter to it."""
    sink: Emit = emit or (lambda _e: None)
    check(cancel)
    target = resolve_database(stack)
    container = running_container(stack, target.service)
    if container is None or not _is_healthy(stack, container):  # start it and wait on its health
        sink(DbStep("wait", f"starting {target.service} and waiting until it is healthy"))
        ensure_up(stack, [target.service], sink, cancel)
        container = running_container(stack, target.service)
        if container is None:
            raise DatabaseError(f'Service "{target.service}" is not running after `up`.')
        target = resolve_database(stack)  # *_FILE secrets can only be read from a running container
    adapter = adapter_for(stack, target, container, sink)
    adapter.token = cancel
    unfinished = journal.pending(stack.project.root)
    if unfinished is not None:
        sink(DbNotice(unfinished.recovery()))
    return Session(stack, target, adapter, SnapshotStore(stack.project.root, stack.profile.name), cancel)


def _is_healthy(stack: Stack, container: str) -> bool:
    state = stack.api.inspect_container(container).get("State") or {}
    health = state.get("Health")
    return bool(state.get("Running")) and (health is None or health.get("Status") == "healthy")


def ensure_up(stack: Stack, services: list[str], emit: Emit, cancel: CancelToken | None = None) -> None:
    from devenv.core.migrations import run_on_up
    from devenv.core.stack import up

    result = up(stack, services, emit=emit, after_ready=run_on_up, cancel=cancel)
    check(cancel)  # a cancelled wait is an interruption here, as Ctrl-C in it
    if not result.ok:
        reasons = "; ".join(f"{f.service}: {f.reason}" for f in result.failures) or result.outcome
        raise ServiceFailedError(f"Could not get {', '.join(services)} ready: {reasons}", result=result)


def take_snapshot(session: Session, name: str | None = None, *, reason: str = "manual", emit: Emit) -> SnapshotInfo:
    store, target, adapter = session.store, session.target, session.adapter
    check(session.cancel)
    name = name or store.new_name("" if reason == "manual" else re.sub(r"[^a-z0-9]+", "-", reason).strip("-"))
    emit(DbStep("snapshot", f"{target.engine} database {target.name!r} -> {store.dir / name}"))
    info = SnapshotInfo(
        name=name,
        profile=store.profile,
        engine=target.engine,
        database=target.name,
        service=target.service,
        created=time.time(),
        size=0,
        file=f"{name}.{adapter.native_ext}",
        format=adapter.native_ext,
        reason=reason,
        project=session.stack.name,
    )
    # The revision query (one short exec) runs while the dump streams, not before it. Its thread
    # emits nothing: what its tool prints is kept and emitted here, once the dump is written.
    held: list[Event] = []
    revision: Future[tuple[str | None, list[Event]]]

    def late() -> dict[str, Any]:
        value, events = revision.result()
        held.extend(events)
        return {"revision": value}

    try:
        with (
            locked(session.stack, emit, exclusive=False, what="db snapshot"),
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="devenv-revision") as pool,
        ):
            revision = pool.submit(adapter.holding_events, adapter.revision)
            info = store.write(info, lambda out: adapter.dump(out), late=late)
    except KeyboardInterrupt:
        adapter.cancel()  # a pg_dump waiting on a lock would wait on inside the container
        raise
    for event in held:
        emit(event)
    emit(SnapshotWritten(info))
    return info


def restore_snapshot(session: Session, info: SnapshotInfo, *, emit: Emit) -> None:
    """Drop and recreate the database, then load the snapshot: the database is exactly that state."""
    check_engine(info, session.target.engine)
    path = session.store.verify(info)
    check(session.cancel)
    emit(DbStep("drop", f"dropping and recreating {session.target.name!r}"))
    session.adapter.drop_and_create()
    check(session.cancel)
    emit(DbStep("load", f"restoring {info.name}"))
    with open(path, "rb") as src:
        session.adapter.load(src)


def _family(engine: str) -> str:
    return "mysql" if engine in ("mysql", "mariadb") else engine


def check_engine(info: SnapshotInfo, engine: str) -> None:
    """A snapshot loads into the same engine family (MySQL and MariaDB dumps are interchangeable)."""
    if _family(info.engine) != _family(engine):
        raise UsageError(
            f'Snapshot "{info.name}" is a {info.engine} dump; this database is {engine}. Nothing was changed.'
        )


@dataclass(frozen=True)
class ResetResult:
    snapshot: SnapshotInfo | None
    migrated: bool
    seeded: bool
    elapsed: float
    notes: tuple[str, ...] = ()


def reset(
    stack: Stack,
    *,
    hard: bool = False,
    snapshot: bool = True,
    migrate: bool = True,
    seed: bool = True,
    emit: Emit | None = None,
    cancel: CancelToken | None = None,
) -> ResetResult:
    """Quick reset (drop + create, killing other sessions) or hard reset (recreate the volume)."""
    sink: Emit = emit or (lambda _e: None)
    with locked(stack, sink, exclusive=True, what="db reset"):
        return _reset(stack, hard=hard, snapshot=snapshot, migrate=migrate, seed=seed, emit=sink, cancel=cancel)


def locked(stack: Stack, emit: Emit, *, exclusive: bool, what: str) -> ProjectLock:
    """The project's db lock: destructive flows exclusive, snapshots and exports shared.

    A second command waits (saying for whom) and gives up after two minutes with exit 1.
    """
    return db_lock(stack.project.root, exclusive=exclusive, what=what, on_wait=lambda m: emit(DbStep("wait", m)))


def _reset(
    stack: Stack, *, hard: bool, snapshot: bool, migrate: bool, seed: bool, emit: Emit, cancel: CancelToken | None
) -> ResetResult:
    sink = emit
    t0 = time.monotonic()
    session = open_session(stack, sink, cancel)
    if hard:
        db_volumes(stack, session.target.service)  # refuses external or shared volumes before any change
    snap = take_snapshot(session, reason="before reset", emit=sink) if snapshot else None
    current = [session]
    finish: list[str] = []  # how to finish the reset instead of restoring, once the drop happened
    with destroying(current, "db reset --hard" if hard else "db reset", snap, finish=finish):
        if hard:
            current[0] = _recreate_volumes(session, sink)
        else:
            sink(DbStep("drop", f"dropping {session.target.name!r} (ending other sessions) and recreating it"))
            session.adapter.drop_and_create()
        finish.append(_finish_reset(stack, hard=hard, migrate=migrate, seed=seed))
        check(cancel)
        migrated, seeded, notes = _migrate_and_seed(stack, migrate, seed, sink, cancel)
    return ResetResult(snap, migrated, seeded, time.monotonic() - t0, tuple(notes))


def _finish_reset(stack: Stack, *, hard: bool, migrate: bool, seed: bool) -> str:
    """The command that finishes an interrupted reset once its drop happened: the same reset again.

    Without a snapshot: the database was emptied, a new one would hold nothing of value (the
    journal keeps pointing at the snapshot taken before the first attempt).
    """
    flags = ["--hard"] if hard else []
    flags += ["--no-migrate"] if not migrate else []
    flags += ["--no-seed"] if not seed else []
    return " ".join(["devenv db reset", *flags, "--no-snapshot", "--profile", stack.profile.name])


@contextlib.contextmanager
def destroying(
    current: list[Session], operation: str, snap: SnapshotInfo | None, *, finish: list[str] | None = None
) -> Iterator[None]:
    """The destructive part of a flow, from its first drop to its end.

    It is journaled (``devenv.core.db.journal``) so that a killed process is noticed by the next
    command; a failure or an interruption (Ctrl-C, SIGTERM) ends what the flow started inside the
    database (its sessions; a migration or seed is stopped in its container by the migrations
    core before the interruption gets here) and raises an error that names the safety snapshot
    and the command to restore it. ``current`` holds the session, which a hard reset replaces on
    the way; ``finish``, once filled, holds the command that finishes the operation instead.
    """
    stack = current[0].stack
    earlier = journal.pending(stack.project.root)
    # After an unfinished operation the good data is in ITS snapshot, not in one of the broken state.
    keep = earlier.snapshot if earlier is not None and earlier.snapshot else (snap.name if snap else None)
    op = journal.begin(stack.project.root, operation, stack.profile.name, keep)
    try:
        yield
    except KeyboardInterrupt as exc:
        _shield_from_signals()
        current[-1].adapter.cancel()
        raise _at_risk(exc, keep, stack, this=snap, finish=finish) from None
    except (DevenvError, OSError, EOFError, zlib.error) as exc:
        raise _at_risk(exc, keep, stack, this=snap, finish=finish) from None
    journal.finish(stack.project.root, op)


def _shield_from_signals() -> None:
    """After an interruption past the drop, further Ctrl-C / SIGTERM must not cut the recovery report.

    Only in the main thread of a command-line process (a TUI runs flows in worker threads, and
    Python only lets the main thread set handlers): the process is on its way out anyway.
    """
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError, OSError):
                signal.signal(sig, signal.SIG_IGN)


def _migrate_and_seed(
    stack: Stack, migrate: bool, seed: bool, emit: Emit, cancel: CancelToken | None = None
) -> tuple[bool, bool, list[str]]:
    from devenv.core import migrations
    from devenv.core.secrets import mask_text

    notes: list[str] = []
    migrated = seeded = False
    if migrate:
        try:
            plan = migrations.resolve_migrations(stack)
        except DevenvError as exc:
            plan = None
            notes.append(f"migrations skipped: {exc.message}")
        if plan is not None:
            emit(DbStep("migrate", mask_text(plan.commands.get("upgrade", ""))))
            result = migrations.migrate_up(stack, emit, db_service=None, cancel=cancel)
            if result.exit_code != 0:
                tail = "\n".join(result.output_tail)
                raise DatabaseError(f"Migration failed (exit code {result.exit_code}):\n{tail}")
            migrated = True
    if seed and stack.profile.seed.command:
        emit(DbStep("seed", mask_text(stack.profile.seed.command)))
        seed_result = migrations.run_seed(stack, emit, cancel=cancel)
        if seed_result.exit_code != 0:
            tail = "\n".join(seed_result.output_tail)
            raise DatabaseError(f"Seeding failed (exit code {seed_result.exit_code}):\n{tail}")
        seeded = True
    return migrated, seeded, notes


def _at_risk(
    exc: BaseException,
    snap: SnapshotInfo | str | None,
    stack: Stack,
    *,
    this: SnapshotInfo | None = None,
    finish: list[str] | None = None,
) -> DevenvError:
    """The error of a destructive flow, saying where the old data is (and how to get it back).

    ``snap``: the snapshot that holds the last good data (after an earlier unfinished operation,
    that one's, not a snapshot of the broken state); ``this``: the one this flow took, if other;
    ``finish``: the command that finishes the operation instead (named after the restore).
    """
    name = snap.name if isinstance(snap, SnapshotInfo) else snap
    if isinstance(exc, KeyboardInterrupt):
        code = interrupt_code(exc)
        what = "SIGTERM" if code == ExitCode.TERMINATED else "cancelled" if isinstance(exc, Cancelled) else "Ctrl-C"
        message, hint = f"Interrupted ({what}) after the database was changed.", None
    elif isinstance(exc, DevenvError):
        message, hint, code = exc.message, exc.hint, exc.exit_code
    else:
        message, hint, code = f"{type(exc).__name__}: {exc}", None, DataAtRiskError.exit_code
    hints = [hint] if hint else []
    if name is None:
        text = f"{message}\nThe database was changed without a snapshot (--no-snapshot); the old data is gone."
    else:
        text = f"{message}\nYour previous data is safe in snapshot {name!r}."
        if this is not None and this.name != name:
            text += (
                f" (An earlier operation did not finish: {name!r} is from before it; snapshot "
                f"{this.name!r} holds the state this command started from.)"
            )
        hints.append(f"Get it back with: devenv db restore {name} --profile {stack.profile.name}")
    if finish:
        hints.append(f"Or finish the reset instead: {finish[-1]}")
    err = DataAtRiskError(text, hint="\n".join(hints) or None)
    err.exit_code = code
    return err


def db_volumes(stack: Stack, service: str) -> list[str]:
    """Engine names of the named volumes the DB service mounts; refuses volumes shared with others."""
    raw = stack.model.raw
    top = raw.get("volumes") or {}
    mine: dict[str, str] = {}
    for mount in raw["services"][service].get("volumes") or []:
        if isinstance(mount, dict) and mount.get("type") == "volume" and mount.get("source"):
            src = mount["source"]
            mine[src] = str((top.get(src) or {}).get("name") or f"{stack.name}_{src}")
            if (top.get(src) or {}).get("external"):
                raise UsageError(
                    f'Volume "{src}" of service "{service}" is external; devenv will not delete it. '
                    "Use a quick reset (without --hard)."
                )
    for other, svc in (raw.get("services") or {}).items():
        if other == service:
            continue
        for mount in svc.get("volumes") or []:
            if isinstance(mount, dict) and mount.get("type") == "volume" and mount.get("source") in mine:
                raise UsageError(
                    f'Volume "{mount["source"]}" is also mounted by service "{other}"; a hard reset would '
                    "destroy its data too. Use a quick reset (without --hard)."
                )
    return list(mine.values())


def _recreate_volumes(session: Session, emit: Emit) -> Session:
    stack, service = session.stack, session.target.service
    volumes = db_volumes(stack, service)
    emit(DbStep("remove", f"removing {service} and its volumes: {', '.join(volumes) or '(anonymous only)'}"))
    stack.rm([service], volumes=True)
    for volume in volumes:
        try:
            stack.api.remove_volume(volume)
        except Exception as exc:
            if "no such volume" not in str(exc).lower():
                raise DatabaseError(f"Could not remove volume {volume}: {exc}") from None
    check(session.cancel)
    emit(DbStep("wait", f"recreating {service} and waiting until it is healthy"))
    return open_session(stack, emit, session.cancel)


# ------------------------------------------------------------------------------- export / import
def export(session: Session, path: Path, *, emit: Emit) -> int:
    fmt = file_format(path, session.target.engine)
    check(session.cancel)
    emit(DbStep("export", f"{session.target.name!r} -> {path} ({fmt})"))
    partial = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:6]}.partial")
    try:
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # a dump holds all the data
        with (
            locked(session.stack, emit, exclusive=False, what="db export"),
            open(fd, "wb") as raw,
        ):
            if fmt == "sql.gz":
                with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6) as gz:
                    session.adapter.dump(gz, plain_sql=True)  # type: ignore[arg-type]
            else:
                session.adapter.dump(raw, plain_sql=fmt == "sql")
        os.replace(partial, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            partial.unlink()
        if isinstance(exc, OSError) and exc.filename is None and exc.errno is not None:
            # A failed write() names no file: the user needs to know which one (and which disk).
            raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from None
        raise
    return path.stat().st_size


def import_(session: Session, path: Path, *, snapshot: bool = True, emit: Emit) -> SnapshotInfo | None:
    with locked(session.stack, emit, exclusive=True, what="db import"):
        return _import(session, path, snapshot=snapshot, emit=emit)


def _import(session: Session, path: Path, *, snapshot: bool, emit: Emit) -> SnapshotInfo | None:
    fmt = check_import_file(path, session.target.engine)
    session.adapter.check_dump(path, fmt)
    snap = take_snapshot(session, reason="before import", emit=emit) if snapshot else None
    check(session.cancel)
    with destroying([session], "db import", snap):
        emit(DbStep("drop", f"dropping and recreating {session.target.name!r}"))
        session.adapter.drop_and_create()
        check(session.cancel)
        emit(DbStep("load", f"importing {path.name}"))
        with open(path, "rb") as raw:
            if fmt == "sql.gz":
                with gzip.open(raw, "rb") as gz:
                    session.adapter.load(gz, plain_sql=True)  # type: ignore[arg-type]
            else:
                session.adapter.load(raw, plain_sql=fmt == "sql")
    return snap


def restore(
    stack: Stack, name: str, *, snapshot: bool = True, emit: Emit | None = None, cancel: CancelToken | None = None
) -> tuple[SnapshotInfo, SnapshotInfo | None]:
    sink: Emit = emit or (lambda _e: None)
    with locked(stack, sink, exclusive=True, what=f"db restore {name}"):
        return _restore(stack, name, snapshot=snapshot, emit=sink, cancel=cancel)


def _restore(
    stack: Stack, name: str, *, snapshot: bool, emit: Emit, cancel: CancelToken | None = None
) -> tuple[SnapshotInfo, SnapshotInfo | None]:
    sink = emit
    store = SnapshotStore(stack.project.root, stack.profile.name)
    info = store.get(name)  # an unknown name fails before the database is started or touched
    store.verify(info)
    session = open_session(stack, sink, cancel)
    check_engine(info, session.target.engine)
    safety = take_snapshot(session, reason="before restore", emit=sink) if snapshot else None
    check(cancel)
    with destroying([session], f"db restore {info.name}", safety):
        restore_snapshot(session, info, emit=sink)
    return info, safety


def shell_command(stack: Stack) -> tuple[list[str], dict[str, str]]:
    """``docker exec -it`` argv for an interactive client, and the environment to run it with.

    Secrets pass by name (``-e PGPASSWORD``), taking their value from that environment, so they
    never appear on a command line.
    """
    session = open_session(stack)
    env = session.adapter.env()
    argv = ["docker", "exec", "-it"]
    for key in env:
        argv += ["-e", key]
    return [*argv, session.adapter.container, *session.adapter.shell_argv()], env
