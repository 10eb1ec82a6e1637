"""PostgreSQL: the ``Adapter`` behind ``devenv db`` for postgres services (psql, pg_dump, pg_restore)."""

from __future__ import annotations

import contextlib
import io
import os
import uuid
from pathlib import Path
from typing import IO, TYPE_CHECKING

from devenv.core.db.adapter import Adapter, DatabaseError
from devenv.core.db.dumpfiles import empty_dump_error, toc_has_content
from devenv.core.engine.execio import exec_in
from devenv.core.events import Emit
from devenv.core.secrets import mask_text
from devenv.errors import UsageError

if TYPE_CHECKING:
    from devenv.core.db.target import DatabaseTarget
    from devenv.core.stack import Stack


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
        """A custom-format archive must list more than an empty database has (``pg_restore -l``) and
        read to its end (``pg_restore --file=/dev/null``: every data block)."""
        if fmt != "native":
            return
        with open(path, "rb") as src:
            listing = self.run(["pg_restore", "-l"], stdin=src, what="pg_restore -l", check=False)
        if listing.exit_code != 0:
            detail = " ".join(listing.stderr.strip().splitlines()[-3:]) or f"exit code {listing.exit_code}"
            raise UsageError(f"{path} cannot be imported: pg_restore cannot read it ({detail}). Nothing was changed.")
        if not toc_has_content(listing.stdout.decode(errors="replace")):
            raise empty_dump_error(path)
        # The listing reads the table of contents only: a truncated or damaged data part passes it.
        # A full read (every data block, into nothing) must succeed too before anything is dropped.
        with open(path, "rb") as src:
            full = self.run(
                ["pg_restore", "--file=/dev/null"], stdin=src, what="pg_restore --file=/dev/null", check=False
            )
        if full.exit_code != 0:
            detail = " ".join(full.stderr.strip().splitlines()[-3:]) or f"exit code {full.exit_code}"
            raise UsageError(
                f"{path} cannot be imported: pg_restore cannot read the whole archive ({detail}); "
                "it is damaged or truncated. Nothing was changed."
            )

    def connections(self) -> int:
        return int(
            self.psql(
                f"SELECT count(*) FROM pg_stat_activity WHERE datname = {_literal(self.target.name)}",
                db=self.maintenance_db(),
            )
            or 0
        )
