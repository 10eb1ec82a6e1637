"""Database operations for any Compose project: reset, snapshot, restore, export, import, shell.

Layers:
- ``resolve_database(stack)``: which service, engine, database, user and password, from
  ``[database]`` or detected from the service's image and its resolved environment (``*_FILE``
  secrets are read inside the container).
- ``Adapter``: engine-specific commands (PostgreSQL here; MySQL/MariaDB in ``database_mysql``),
  all run through ``execio.exec_in`` so dumps stream through the exec connection.
- ``SnapshotStore``: ``.devenv/snapshots/<profile>/<name>.<ext>`` plus ``<name>.json`` metadata,
  written atomically (a partial file is never listed).
- Flows (``snapshot``, ``restore``, ``reset``, ``export``, ``import_``) with typed progress events.
  Every destructive flow snapshots first unless told not to; when a step after the drop fails, the
  error names the snapshot and the command that brings the data back.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import re
import time
import uuid
import zlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from devenv.core import journal
from devenv.core.dumpfiles import check_export_path as check_export_path
from devenv.core.dumpfiles import check_import_file as check_import_file
from devenv.core.dumpfiles import empty_dump_error, file_format, toc_has_content
from devenv.core.execio import ExecResult, exec_in
from devenv.core.secrets import mask_text
from devenv.core.snapshots import SnapshotInfo as SnapshotInfo
from devenv.core.snapshots import SnapshotStore as SnapshotStore
from devenv.core.stack import PROJECT_LABEL, SERVICE_LABEL
from devenv.core.state import ProjectLock, db_lock
from devenv.errors import ConfigError, DevenvError, ExitCode, ServiceFailedError, UsageError, interrupt_code

if TYPE_CHECKING:
    from devenv.core.stack import Stack

ENGINES = ("postgres", "mysql", "mariadb")


# ---------------------------------------------------------------------------------------- events
@dataclass(frozen=True)
class DbStep:
    """A phase of a database flow: "wait", "snapshot", "drop", "create", "load", "migrate", "seed"..."""

    step: str
    detail: str = ""


@dataclass(frozen=True)
class DbOutput:
    """A line printed by a database tool (psql, pg_restore, mysql...)."""

    line: str


@dataclass(frozen=True)
class SnapshotWritten:
    snapshot: SnapshotInfo


@dataclass(frozen=True)
class DbNotice:
    """Something the user must know before going on (e.g. an earlier operation did not finish)."""

    message: str


DbEvent = DbStep | DbOutput | SnapshotWritten | DbNotice
Emit = Callable[[Any], None]


class DatabaseError(ServiceFailedError):
    """A database command failed (exit 1)."""


class DataAtRiskError(DatabaseError):
    """A step after the drop failed: the message says how to get the old data back."""


# ---------------------------------------------------------------------------------------- target
@dataclass(frozen=True)
class DatabaseTarget:
    service: str
    engine: str
    name: str
    user: str
    password: str | None = field(default=None, repr=False)


def _environment(svc: Mapping[str, Any]) -> dict[str, str]:
    env = svc.get("environment") or {}
    if isinstance(env, list):
        out = {}
        for item in env:
            k, _, v = str(item).partition("=")
            out[k] = v
        return out
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def detect_engine(image: str, env: Mapping[str, str]) -> str | None:
    image = image.lower()
    base = image.rsplit("/", 1)[-1]
    for engine in ("mariadb", "mysql", "postgres"):
        if engine in base or engine in image:
            return engine
    if "postgis" in image or "timescale" in image:
        return "postgres"
    if any(k.startswith("POSTGRES_") for k in env):
        return "postgres"
    if any(k.startswith("MARIADB_") for k in env):
        return "mariadb"
    if any(k.startswith("MYSQL_") for k in env):
        return "mysql"
    return None


def _running_services(stack: Stack) -> dict[str, tuple[str, dict[str, str], str]]:
    """service -> (image, environment as the container really runs it, container id), running only."""
    out: dict[str, tuple[str, dict[str, str], str]] = {}
    for item in stack.reader.containers(filters={"label": [f"{PROJECT_LABEL}={stack.name}"], "status": "running"}):
        labels = item.get("Labels") or {}
        service = labels.get(SERVICE_LABEL)
        if not service or labels.get("com.docker.compose.oneoff") == "True" or service in out:
            continue
        config = stack.reader.inspect_container(item["Id"]).get("Config") or {}
        env = dict(str(kv).partition("=")[::2] for kv in config.get("Env") or [])
        out[service] = (str(config.get("Image") or item.get("Image") or ""), env, str(item["Id"]))
    return out


def resolve_database(stack: Stack) -> DatabaseTarget:
    """The database of the active profile: ``[database]`` keys first, then detection.

    When the database container runs, its environment is read from the engine (one inspect):
    exactly what the server was started with, and no ``docker compose config`` spawn. Otherwise
    the profile's merged compose config (interpolated with its env files) is used.
    """
    cfg = stack.profile.database
    running = _running_services(stack)
    services: dict[str, tuple[str, dict[str, str]]] = {k: (v[0], v[1]) for k, v in running.items()}
    use_model = (
        cfg.service not in running
        if cfg.service
        else not any(detect_engine(image, env) for image, env in services.values())
    )
    if use_model:
        raw: Mapping[str, Any] = stack.model.raw.get("services") or {}
        services = {name: (str(svc.get("image") or ""), _environment(svc)) for name, svc in raw.items()}
    service = cfg.service
    if service is None:
        candidates = [name for name, (image, env) in services.items() if detect_engine(image, env) is not None]
        if not candidates:
            raise ConfigError(
                "No database service found in this profile's compose files (looked for postgres, mysql and "
                "mariadb images or POSTGRES_*/MYSQL_*/MARIADB_* environment).",
                key="database.service",
                hint='Set it in devenv.toml:  [database] service = "db"',
            )
        if len(candidates) > 1:
            raise ConfigError(
                f"Several services look like databases ({', '.join(candidates)}); devenv will not guess.",
                key="database.service",
                hint=f'Set it in devenv.toml:  [database] service = "{candidates[0]}"',
            )
        service = candidates[0]
    if service not in services:
        from devenv.core.stack import check_services

        check_services([service], services)
    image, env = services[service]
    engine = cfg.engine or detect_engine(image, env)
    if engine not in ENGINES:
        raise ConfigError(
            f'Cannot tell the database engine of service "{service}" (image {image!r}).',
            key="database.engine",
            hint='Set it in devenv.toml:  [database] engine = "postgres"   (or mysql, mariadb)',
        )
    secrets = FileSecrets(stack, service, env, running.get(service, ("", {}, ""))[2] or None)
    if engine == "postgres":
        user = cfg.user or secrets.get("POSTGRES_USER") or "postgres"
        password = cfg.password or secrets.get("POSTGRES_PASSWORD")
        name = cfg.name or secrets.get("POSTGRES_DB") or user
    else:
        prefixes = ("MARIADB_", "MYSQL_") if engine == "mariadb" else ("MYSQL_", "MARIADB_")
        user = cfg.user or _first(secrets, prefixes, "USER") or "root"
        if user == "root":
            password = cfg.password or _first(secrets, prefixes, "ROOT_PASSWORD")
        else:
            password = cfg.password or _first(secrets, prefixes, "PASSWORD")
        name = cfg.name or _first(secrets, prefixes, "DATABASE") or ""
        if not name:
            raise ConfigError(
                f'Service "{service}" sets no MYSQL_DATABASE/MARIADB_DATABASE.',
                key="database.name",
                hint='Set it in devenv.toml:  [database] name = "app"',
            )
    return DatabaseTarget(service=service, engine=engine, name=name, user=user, password=password)


def _first(secrets: FileSecrets, prefixes: tuple[str, ...], suffix: str) -> str | None:
    for prefix in prefixes:
        value = secrets.get(prefix + suffix)
        if value:
            return value
    return None


class FileSecrets:
    """Environment values, reading ``NAME_FILE`` secrets inside the container when ``NAME`` is unset."""

    def __init__(self, stack: Stack, service: str, env: Mapping[str, str], container: str | None = None) -> None:
        self.stack, self.service, self.env, self.container = stack, service, env, container

    def get(self, key: str) -> str | None:
        if self.env.get(key):
            return self.env[key]
        path = self.env.get(key + "_FILE")
        if not path:
            return None
        cid = self.container or running_container(self.stack, self.service)
        if cid is None:
            return None
        result = exec_in(self.stack.api, cid, ["cat", path])
        return result.stdout.decode(errors="replace").strip() if result.exit_code == 0 else None


def running_container(stack: Stack, service: str) -> str | None:
    items = stack.reader.containers(
        filters={"label": [f"{PROJECT_LABEL}={stack.name}", f"{SERVICE_LABEL}={service}"], "status": "running"}
    )
    items = [i for i in items if (i.get("Labels") or {}).get("com.docker.compose.oneoff") != "True"]
    return str(items[0]["Id"]) if items else None


# --------------------------------------------------------------------------------------- adapters
class Adapter(ABC):
    """Engine-specific commands, run inside the database container."""

    engine: str
    native_ext: str  # snapshot file extension

    def __init__(self, stack: Stack, target: DatabaseTarget, container: str, emit: Emit) -> None:
        self.stack, self.target, self.container, self.emit = stack, target, container, emit
        self.started_at = self._state().get("StartedAt")  # a restart under a command changes it

    def _state(self) -> dict[str, Any]:
        try:
            return dict(self.stack.api.inspect_container(self.container).get("State") or {})
        except Exception as exc:
            if "No such container" in str(exc) or "404" in str(exc):
                return {"Removed": True}
            return {}

    def run(
        self,
        argv: list[str],
        *,
        stdin: IO[bytes] | None = None,
        stdout: IO[bytes] | None = None,
        what: str = "",
        check: bool = True,
    ) -> ExecResult:
        result = exec_in(
            self.stack.api,
            self.container,
            argv,
            env=self.env(),
            stdin=stdin,
            stdout=stdout,
            on_stderr_line=lambda line: self.emit(DbOutput(line)) if line.strip() else None,
        )
        if check and result.exit_code != 0:
            tail = "\n".join(result.stderr.strip().splitlines()[-20:])
            raise self.failure(what or argv[0], result.exit_code, tail)
        return result

    def failure(self, what: str, code: int, detail: str) -> DatabaseError:
        """The error for a failed command; says so when the container itself stopped under it."""
        stopped = self.container_stopped()
        lost = ("server closed the connection", "terminated abnormally", "Lost connection", "gone away")
        if stopped is None and (code in (137, 143, -1) or any(s in detail for s in lost)):
            # Killed by a signal: the engine may not have recorded the container's own end yet.
            # Bounded re-check (1 s at most), only on this failure path.
            for _ in range(10):
                time.sleep(0.1)
                stopped = self.container_stopped()
                if stopped:
                    break
        if stopped:
            return DatabaseError(
                f"{what} failed in service {self.target.service!r}: the database container {stopped}.",
                hint=f"Look at its logs: devenv logs {self.target.service}",
            )
        return DatabaseError(
            f"{what} failed in service {self.target.service!r} (exit code {code}): {detail or 'no error output'}"
        )

    def container_stopped(self) -> str | None:
        """How the container ended ("stopped (exit code 137, killed: out of memory)"), or None if it runs."""
        state = self._state()
        if state.get("Removed"):
            return "was removed"
        if not state:
            return None
        if state.get("Paused"):
            return "is paused (docker unpause it)"
        why = ", killed: out of memory" if state.get("OOMKilled") else ""
        if not state.get("Running"):
            return f"stopped (exit code {state.get('ExitCode')}{why})"
        if self.started_at and state.get("StartedAt") != self.started_at:
            return f"stopped and was restarted by its restart policy{why}"
        return None

    def cancel(self) -> None:
        """Stop, inside the database, whatever this adapter started (after an interruption)."""
        return None

    @abstractmethod
    def env(self) -> dict[str, str]: ...
    @abstractmethod
    def drop_and_create(self) -> None: ...
    @abstractmethod
    def dump(self, out: IO[bytes], *, plain_sql: bool = False) -> None: ...
    @abstractmethod
    def load(self, src: IO[bytes], *, plain_sql: bool = False) -> None: ...
    @abstractmethod
    def scalar(self, sql: str) -> str | None: ...
    @abstractmethod
    def shell_argv(self) -> list[str]: ...

    def check_dump(self, path: Path, fmt: str) -> None:
        """Engine-side checks of an import file, before anything is dropped (none by default)."""
        return None

    def revision(self) -> str | None:
        """The migration revision the database is at (alembic or django), if any."""
        for sql in (
            "SELECT string_agg(version_num, ',') FROM alembic_version",
            "SELECT concat(app, '.', name) FROM django_migrations ORDER BY id DESC LIMIT 1",
        ):
            try:
                value = self.scalar(sql)
            except DatabaseError:
                continue
            if value:
                return value
        return None


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


CUSTOM_FORMAT_COMPRESSION = 1
LOCK_WAIT_SECONDS = 10.0  # how long a snapshot waits for a table another session locked


class PostgresAdapter(Adapter):
    engine = "postgres"
    native_ext = "pgdump"

    def __init__(self, stack: Stack, target: DatabaseTarget, container: str, emit: Emit) -> None:
        super().__init__(stack, target, container, emit)
        # Every session this adapter opens carries this name, so that an interrupted flow can end
        # them on the server (a pg_dump waiting on a lock never notices its client went away).
        self.application = f"devenv-{os.getpid()}-{uuid.uuid4().hex[:8]}"

    def env(self, application: str | None = None) -> dict[str, str]:
        env = {
            "PGUSER": self.target.user,
            "PGDATABASE": self.target.name,
            "PGCONNECT_TIMEOUT": "10",
            "PGAPPNAME": application or self.application,
        }
        if self.target.password:
            env["PGPASSWORD"] = self.target.password
        return env

    def cancel(self) -> None:
        sql = (
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            f"WHERE application_name = {_literal(self.application)} AND pid <> pg_backend_pid()"
        )
        argv = ["psql", "-X", "-At", "-d", self.maintenance_db(), "-c", sql]
        with contextlib.suppress(Exception):
            exec_in(self.stack.api, self.container, argv, env=self.env("devenv-cancel"))

    def blockers(self) -> list[str]:
        """Other sessions holding exclusive locks in the database: "pid N (application, state, for T s): query"."""
        sql = (
            "SELECT a.pid, coalesce(nullif(a.application_name, ''), '-'), coalesce(a.usename, '-'), a.state, "
            "coalesce(extract(epoch FROM now() - a.xact_start)::int, 0), "
            "(SELECT string_agg(DISTINCT l.relation::regclass::text, ', ') FROM pg_locks l "
            " WHERE l.pid = a.pid AND l.granted AND l.mode = 'AccessExclusiveLock' AND l.relation IS NOT NULL), "
            "left(regexp_replace(coalesce(a.query, ''), '\\s+', ' ', 'g'), 160) "
            "FROM pg_stat_activity a WHERE a.datname = current_database() AND a.pid <> pg_backend_pid() "
            "AND a.pid IN (SELECT l.pid FROM pg_locks l WHERE l.granted AND l.mode = 'AccessExclusiveLock') "
            "ORDER BY a.xact_start"
        )
        argv = ["psql", "-X", "-At", "-F", "\t", "-c", sql]
        result = exec_in(self.stack.api, self.container, argv, env=self.env("devenv-diagnose"))
        out = []
        for line in result.stdout.decode(errors="replace").splitlines():
            cells = line.split("\t")
            if len(cells) == 7:
                pid, app, user, state, secs, tables, query = cells
                on = f" locks {tables}" if tables else ""
                query = mask_text(query)
                out.append(f"pid {pid} (application {app}, user {user}, {state} for {secs} s){on}; last query: {query}")
        return out

    def psql(self, sql: str, db: str | None = None) -> str:
        argv = ["psql", "-X", "-v", "ON_ERROR_STOP=1", "-At", "-d", db or self.target.name, "-c", sql]
        return self.run(argv, what="psql").stdout.decode(errors="replace").strip()

    def scalar(self, sql: str) -> str | None:
        result = self.run(["psql", "-X", "-v", "ON_ERROR_STOP=1", "-At", "-c", sql], what="psql", check=False)
        if result.exit_code != 0:
            raise DatabaseError(result.stderr.strip() or "query failed")
        value = result.stdout.decode(errors="replace").strip()
        return value or None

    def maintenance_db(self) -> str:
        return "template1" if self.target.name == "postgres" else "postgres"

    def drop_and_create(self) -> None:
        """One psql session: DROP ... WITH (FORCE) on 13+, else block connections, end them, drop."""
        name, lit = _ident(self.target.name), _literal(self.target.name)
        script = f"""
SELECT current_setting('server_version_num')::int >= 130000 AS has_force \\gset
\\if :has_force
DROP DATABASE IF EXISTS {name} WITH (FORCE);
\\else
SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = {lit}) AS db_exists \\gset
\\if :db_exists
ALTER DATABASE {name} ALLOW_CONNECTIONS false;
SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = {lit} AND pid <> pg_backend_pid();
DROP DATABASE IF EXISTS {name};
\\endif
\\endif
CREATE DATABASE {name} OWNER {_ident(self.target.user)};
"""
        argv = ["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d", self.maintenance_db(), "-f", "-"]
        self.run(argv, stdin=io.BytesIO(script.encode()), what="psql (drop and create)")

    def revision(self) -> str | None:
        """alembic_version or django_migrations, in one psql session (tables may not exist)."""
        script = """
SELECT to_regclass('alembic_version') IS NOT NULL AS has_alembic,
       to_regclass('django_migrations') IS NOT NULL AS has_django \\gset
\\if :has_alembic
SELECT string_agg(version_num, ',') FROM alembic_version;
\\elif :has_django
SELECT concat(app, '.', name) FROM django_migrations ORDER BY id DESC LIMIT 1;
\\endif
"""
        argv = ["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-f", "-"]
        result = self.run(argv, stdin=io.BytesIO(script.encode()), what="psql (revision)", check=False)
        value = result.stdout.decode(errors="replace").strip()
        if result.exit_code != 0:
            return None
        return value or None

    def dump(self, out: IO[bytes], *, plain_sql: bool = False) -> None:
        # Custom format at zlib level 1: on a 120 MB database pg_dump takes half the time of its
        # default level 6 for a file about 10 % larger, and pg_restore reads it faster too.
        fmt = ["-Fp"] if plain_sql else ["-Fc", f"-Z{CUSTOM_FORMAT_COMPRESSION}"]
        lock_wait = f"--lock-wait-timeout={int(LOCK_WAIT_SECONDS * 1000)}"
        argv = ["pg_dump", "-d", self.target.name, *fmt, lock_wait, "--no-password"]
        result = self.run(argv, stdout=out, what="pg_dump", check=False)
        if result.exit_code == 0:
            return
        # pg_dump's --lock-wait-timeout ends as "could not obtain lock" or, on newer servers, as a
        # statement timeout of its LOCK TABLE.
        if "could not obtain lock" in result.stderr or (
            "statement timeout" in result.stderr and "LOCK TABLE" in result.stderr
        ):
            held = self.blockers()
            pid = held[0].split()[1] if held else "PID"
            raise DatabaseError(
                f"pg_dump could not lock the tables of {self.target.name!r} within {LOCK_WAIT_SECONDS:.0f} s: "
                + ("; ".join(held) if held else "another session holds an exclusive lock")
                + ". Nothing was changed.",
                hint="Commit or roll back that session, or end it: run `devenv db shell`, then "
                + f"SELECT pg_terminate_backend({pid});",
            )
        tail = "\n".join(result.stderr.strip().splitlines()[-20:])
        raise self.failure("pg_dump", result.exit_code, tail)

    def load(self, src: IO[bytes], *, plain_sql: bool = False) -> None:
        if plain_sql:
            argv = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", self.target.name, "-f", "-"]
            self.run(argv, stdin=src, what="psql (import)")
        else:
            argv = ["pg_restore", "--exit-on-error", "--no-password", "-d", self.target.name]
            self.run(argv, stdin=src, what="pg_restore")

    def shell_argv(self) -> list[str]:
        return ["psql", "-d", self.target.name]

    def check_dump(self, path: Path, fmt: str) -> None:
        """A custom-format archive must list more than an empty database has (``pg_restore -l``)."""
        if fmt != "native":
            return
        with open(path, "rb") as src:
            listing = self.run(["pg_restore", "-l"], stdin=src, what="pg_restore -l", check=False)
        if listing.exit_code != 0:
            detail = " ".join(listing.stderr.strip().splitlines()[-3:]) or f"exit code {listing.exit_code}"
            raise UsageError(f"{path} cannot be imported: pg_restore cannot read it ({detail}). Nothing was changed.")
        if not toc_has_content(listing.stdout.decode(errors="replace")):
            raise empty_dump_error(path)

    def connections(self) -> int:
        return int(
            self.psql(
                f"SELECT count(*) FROM pg_stat_activity WHERE datname = {_literal(self.target.name)}",
                db=self.maintenance_db(),
            )
            or 0
        )


def adapter_for(stack: Stack, target: DatabaseTarget, container: str, emit: Emit) -> Adapter:
    if target.engine == "postgres":
        return PostgresAdapter(stack, target, container, emit)
    from devenv.core.database_mysql import MySQLAdapter

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


def open_session(stack: Stack, emit: Emit | None = None) -> Session:
    """Resolve the database, make sure its service is up and healthy, and return an adapter to it."""
    sink: Emit = emit or (lambda _e: None)
    target = resolve_database(stack)
    container = running_container(stack, target.service)
    if container is None or not _is_healthy(stack, container):  # start it and wait on its health
        sink(DbStep("wait", f"starting {target.service} and waiting until it is healthy"))
        ensure_up(stack, [target.service], sink)
        container = running_container(stack, target.service)
        if container is None:
            raise DatabaseError(f'Service "{target.service}" is not running after `up`.')
        target = resolve_database(stack)  # *_FILE secrets can only be read from a running container
    adapter = adapter_for(stack, target, container, sink)
    unfinished = journal.pending(stack.project.root)
    if unfinished is not None:
        sink(DbNotice(unfinished.recovery()))
    return Session(stack, target, adapter, SnapshotStore(stack.project.root, stack.profile.name))


def _is_healthy(stack: Stack, container: str) -> bool:
    state = stack.api.inspect_container(container).get("State") or {}
    health = state.get("Health")
    return bool(state.get("Running")) and (health is None or health.get("Status") == "healthy")


def ensure_up(stack: Stack, services: list[str], emit: Emit) -> None:
    from devenv.core.stack import up

    result = up(stack, services, emit=emit)
    if not result.ok:
        reasons = "; ".join(f"{f.service}: {f.reason}" for f in result.failures) or result.outcome
        raise ServiceFailedError(f"Could not get {', '.join(services)} ready: {reasons}", result=result)


def take_snapshot(session: Session, name: str | None = None, *, reason: str = "manual", emit: Emit) -> SnapshotInfo:
    store, target, adapter = session.store, session.target, session.adapter
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
    # The revision query (one short exec) runs while the dump streams, not before it.
    try:
        with (
            locked(session.stack, emit, exclusive=False, what="db snapshot"),
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="devenv-revision") as pool,
        ):
            revision = pool.submit(adapter.revision)
            info = store.write(info, lambda out: adapter.dump(out), late=lambda: {"revision": revision.result()})
    except KeyboardInterrupt:
        adapter.cancel()  # a pg_dump waiting on a lock would wait on inside the container
        raise
    emit(SnapshotWritten(info))
    return info


def restore_snapshot(session: Session, info: SnapshotInfo, *, emit: Emit) -> None:
    """Drop and recreate the database, then load the snapshot: the database is exactly that state."""
    check_engine(info, session.target.engine)
    path = session.store.verify(info)
    emit(DbStep("drop", f"dropping and recreating {session.target.name!r}"))
    session.adapter.drop_and_create()
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
) -> ResetResult:
    """Quick reset (drop + create, killing other sessions) or hard reset (recreate the volume)."""
    sink: Emit = emit or (lambda _e: None)
    with locked(stack, sink, exclusive=True, what="db reset"):
        return _reset(stack, hard=hard, snapshot=snapshot, migrate=migrate, seed=seed, emit=sink)


def locked(stack: Stack, emit: Emit, *, exclusive: bool, what: str) -> ProjectLock:
    """The project's db lock: destructive flows exclusive, snapshots and exports shared.

    A second command waits (saying for whom) and gives up after two minutes with exit 1.
    """
    return db_lock(stack.project.root, exclusive=exclusive, what=what, on_wait=lambda m: emit(DbStep("wait", m)))


def _reset(stack: Stack, *, hard: bool, snapshot: bool, migrate: bool, seed: bool, emit: Emit) -> ResetResult:
    sink = emit
    t0 = time.monotonic()
    session = open_session(stack, sink)
    if hard:
        db_volumes(stack, session.target.service)  # refuses external or shared volumes before any change
    snap = take_snapshot(session, reason="before reset", emit=sink) if snapshot else None
    current = [session]
    with destroying(current, "db reset --hard" if hard else "db reset", snap):
        if hard:
            current[0] = _recreate_volumes(session, sink)
        else:
            sink(DbStep("drop", f"dropping {session.target.name!r} (ending other sessions) and recreating it"))
            session.adapter.drop_and_create()
        migrated, seeded, notes = _migrate_and_seed(stack, migrate, seed, sink)
    return ResetResult(snap, migrated, seeded, time.monotonic() - t0, tuple(notes))


@contextlib.contextmanager
def destroying(current: list[Session], operation: str, snap: SnapshotInfo | None) -> Iterator[None]:
    """The destructive part of a flow, from its first drop to its end.

    It is journaled (``devenv.core.journal``) so that a killed process is noticed by the next
    command; a failure or an interruption (Ctrl-C, SIGTERM) ends what the flow started inside the
    database and raises an error that names the safety snapshot and the command to restore it.
    ``current`` holds the session, which a hard reset replaces on the way.
    """
    stack = current[0].stack
    earlier = journal.pending(stack.project.root)
    # After an unfinished operation the good data is in ITS snapshot, not in one of the broken state.
    keep = earlier.snapshot if earlier is not None and earlier.snapshot else (snap.name if snap else None)
    op = journal.begin(stack.project.root, operation, stack.profile.name, keep)
    try:
        yield
    except KeyboardInterrupt as exc:
        current[-1].adapter.cancel()
        raise _at_risk(exc, snap, stack) from None
    except (DevenvError, OSError, EOFError, zlib.error) as exc:
        raise _at_risk(exc, snap, stack) from None
    journal.finish(stack.project.root, op)


def _migrate_and_seed(stack: Stack, migrate: bool, seed: bool, emit: Emit) -> tuple[bool, bool, list[str]]:
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
            result = migrations.migrate_up(stack, emit, db_service=None)
            if result.exit_code != 0:
                tail = "\n".join(result.output_tail)
                raise DatabaseError(f"Migration failed (exit code {result.exit_code}):\n{tail}")
            migrated = True
    if seed and stack.profile.seed.command:
        emit(DbStep("seed", mask_text(stack.profile.seed.command)))
        seed_result = migrations.run_seed(stack, emit)
        if seed_result.exit_code != 0:
            tail = "\n".join(seed_result.output_tail)
            raise DatabaseError(f"Seeding failed (exit code {seed_result.exit_code}):\n{tail}")
        seeded = True
    return migrated, seeded, notes


def _at_risk(exc: BaseException, snap: SnapshotInfo | None, stack: Stack) -> DevenvError:
    """The error of a destructive flow, saying where the old data is (and how to get it back)."""
    if isinstance(exc, KeyboardInterrupt):
        code = interrupt_code(exc)
        what = "SIGTERM" if code == ExitCode.TERMINATED else "Ctrl-C"
        message, hint = f"Interrupted ({what}) after the database was changed.", None
    elif isinstance(exc, DevenvError):
        message, hint, code = exc.message, exc.hint, exc.exit_code
    else:
        message, hint, code = f"{type(exc).__name__}: {exc}", None, DataAtRiskError.exit_code
    hints = [hint] if hint else []
    if snap is None:
        text = f"{message}\nThe database was changed without a snapshot (--no-snapshot); the old data is gone."
    else:
        text = f"{message}\nYour previous data is safe in snapshot {snap.name!r}."
        hints.append(f"Get it back with: devenv db restore {snap.name} --profile {stack.profile.name}")
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
    stack.run_compose("rm", lambda: stack.compose.compose.rm([service], stop=True, volumes=True))
    for volume in volumes:
        try:
            stack.api.remove_volume(volume)
        except Exception as exc:
            if "no such volume" not in str(exc).lower():
                raise DatabaseError(f"Could not remove volume {volume}: {exc}") from None
    emit(DbStep("wait", f"recreating {service} and waiting until it is healthy"))
    return open_session(stack, emit)


# ------------------------------------------------------------------------------- export / import
def export(session: Session, path: Path, *, emit: Emit) -> int:
    fmt = file_format(path, session.target.engine)
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
    except BaseException:
        with contextlib.suppress(OSError):
            partial.unlink()
        raise
    return path.stat().st_size


def import_(session: Session, path: Path, *, snapshot: bool = True, emit: Emit) -> SnapshotInfo | None:
    with locked(session.stack, emit, exclusive=True, what="db import"):
        return _import(session, path, snapshot=snapshot, emit=emit)


def _import(session: Session, path: Path, *, snapshot: bool, emit: Emit) -> SnapshotInfo | None:
    fmt = check_import_file(path, session.target.engine)
    session.adapter.check_dump(path, fmt)
    snap = take_snapshot(session, reason="before import", emit=emit) if snapshot else None
    with destroying([session], "db import", snap):
        emit(DbStep("drop", f"dropping and recreating {session.target.name!r}"))
        session.adapter.drop_and_create()
        emit(DbStep("load", f"importing {path.name}"))
        with open(path, "rb") as raw:
            if fmt == "sql.gz":
                with gzip.open(raw, "rb") as gz:
                    session.adapter.load(gz, plain_sql=True)  # type: ignore[arg-type]
            else:
                session.adapter.load(raw, plain_sql=fmt == "sql")
    return snap


def restore(
    stack: Stack, name: str, *, snapshot: bool = True, emit: Emit | None = None
) -> tuple[SnapshotInfo, SnapshotInfo | None]:
    sink: Emit = emit or (lambda _e: None)
    with locked(stack, sink, exclusive=True, what=f"db restore {name}"):
        return _restore(stack, name, snapshot=snapshot, emit=sink)


def _restore(stack: Stack, name: str, *, snapshot: bool, emit: Emit) -> tuple[SnapshotInfo, SnapshotInfo | None]:
    sink = emit
    store = SnapshotStore(stack.project.root, stack.profile.name)
    info = store.get(name)  # an unknown name fails before the database is started or touched
    store.verify(info)
    session = open_session(stack, sink)
    check_engine(info, session.target.engine)
    safety = take_snapshot(session, reason="before restore", emit=sink) if snapshot else None
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
