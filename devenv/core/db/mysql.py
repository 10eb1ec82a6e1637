"""MySQL and MariaDB: the ``Adapter`` behind ``devenv db`` for both engines.

Every command runs inside the database container through ``Adapter.run`` (the Engine API exec
connection), with the client binaries the image ships: ``mariadb`` / ``mariadb-dump`` when the
container has them, else ``mysql`` / ``mysqldump`` (detected once per adapter). The password
travels in the exec's environment as ``MYSQL_PWD``, which both clients read; it is never put on a
command line.

Snapshots are plain SQL from ``mariadb-dump`` / ``mysqldump`` (one consistent transaction, with
routines, triggers and events, without ``CREATE DATABASE``/``USE`` so a dump loads into a database
of any name), gzip-compressed on the host while it streams to the file: ``<name>.sql.gz``, which
``gunzip -c | mariadb DB`` also loads by hand. ``load`` recognises gzip by its magic bytes, so it
takes a compressed snapshot and a plain ``.sql`` file alike.
"""

from __future__ import annotations

import gzip
import io
import posixpath
import zlib
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, cast

from devenv.core.db.adapter import Adapter, DatabaseError
from devenv.core.db.target import DatabaseTarget, FileSecrets
from devenv.core.engine.execio import ExecResult
from devenv.core.events import DbOutput, DbStep, Emit

if TYPE_CHECKING:
    from devenv.core.stack import Stack

GZIP_MAGIC = b"\x1f\x8b"
CHARSET = "utf8mb4"
LOCK_WAIT_SECONDS = 5  # how long DROP DATABASE waits for other sessions' locks before ending them again
DROP_ATTEMPTS = 3
LINE_MAX = 300  # longest client error line shown (a failing statement can be a multi-megabyte INSERT)
RULE = "-" * 14  # the client frames the statement that failed between two such lines

_DETECT = 'd="$(command -v mariadb-dump || command -v mysqldump)" || exit 127; echo "$d"; "$d" --version 2>&1 || true'


def ident(name: str) -> str:
    """A backquoted identifier: database, table or account part."""
    return "`" + name.replace("`", "``") + "`"


def literal(value: str) -> str:
    """A utf8mb4 string literal written in hex: correct whatever the quoting/escaping SQL mode."""
    return f"CONVERT(X'{value.encode().hex()}' USING {CHARSET})"


def grant_pattern(name: str) -> str:
    """The database part of a ``GRANT ... ON db.*``: ``_`` and ``%`` are wildcards there."""
    return ident(name.replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%"))


class MySQLAdapter(Adapter):
    """MySQL and MariaDB (``target.engine`` is "mysql" or "mariadb")."""

    engine = "mysql"
    native_ext = "sql.gz"

    def __init__(self, stack: Stack, target: DatabaseTarget, container: str, emit: Emit) -> None:
        super().__init__(stack, target, container, emit)
        self._tools: tuple[str, str, bool] | None = None  # client, dump tool, dump tool is MySQL's

    # ------------------------------------------------------------------------------------ tools
    def tools(self) -> tuple[str, str, bool]:
        """``(client, dump tool, is_oracle_mysqldump)``, detected once from the container."""
        if self._tools is None:
            result = self.run(["sh", "-c", _DETECT], what="detecting the MySQL/MariaDB client", check=False)
            lines = result.stdout.decode(errors="replace").strip().splitlines()
            if result.exit_code != 0 or not lines:
                raise DatabaseError(
                    f"Neither mariadb-dump nor mysqldump is installed in service {self.target.service!r}; "
                    "devenv runs the database's own client tools inside its container."
                )
            dump = posixpath.basename(lines[0].strip())
            version = " ".join(lines[1:])
            if dump.startswith("mariadb"):
                self._tools = ("mariadb", dump, False)
            else:
                self._tools = ("mysql", dump, "mariadb" not in version.lower())
        return self._tools

    def client(self, *extra: str) -> list[str]:
        return [self.tools()[0], f"--default-character-set={CHARSET}", f"--user={self.target.user}", *extra]

    def env(self) -> dict[str, str]:
        return {"MYSQL_PWD": self.target.password} if self.target.password else {}

    def run(
        self,
        argv: list[str],
        *,
        stdin: IO[bytes] | None = None,
        stdout: IO[bytes] | None = None,
        what: str = "",
        check: bool = True,
        quiet: bool = False,
    ) -> ExecResult:
        """``Adapter.run`` for these clients: the statement a client echoes around an error (which
        can be a whole multi-row INSERT of a dump) is left out of the lines shown and of the error
        message. ``quiet``: no output lines at all (the caller reports the outcome)."""
        echo = _EchoFilter()

        def on_line(line: str) -> None:
            if not quiet and echo.keep(line) and line.strip():
                self.emit(DbOutput(self.mask(_clip(line))))

        result = self.exec(argv, stdin=stdin, stdout=stdout, what=what, on_line=on_line)
        if check and result.exit_code != 0:
            raise self.failure(what or argv[0], result.exit_code, client_errors(result.stderr))
        return result

    # ----------------------------------------------------------------------------------- queries
    def query(self, sql: str, *, db: str | None = None, what: str = "mysql") -> list[list[str]]:
        """Rows of tab-separated cells (raw batch output, no header); raises DatabaseError."""
        argv = self.client("--batch", "--raw", "--skip-column-names", "-e", sql)
        if db:
            argv.append(db)
        out = self.run(argv, what=what).stdout.decode(errors="replace")
        return [line.split("\t") for line in out.splitlines() if line]

    def scalar(self, sql: str) -> str | None:
        argv = self.client("--batch", "--raw", "--skip-column-names", "-e", sql, self.target.name)
        result = self.run(argv, what=self.tools()[0], check=False, quiet=True)
        if result.exit_code != 0:
            raise DatabaseError(client_errors(result.stderr))
        out = result.stdout.decode(errors="replace")
        first = out.split("\n", 1)[0].split("\t", 1)[0].strip()
        return None if first in ("", "NULL") else first

    def revision(self) -> str | None:
        """The alembic revision(s) or latest django migration; no query against a missing table."""
        try:
            tables = self.query(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = "
                f"{literal(self.target.name)} AND table_name IN ('alembic_version', 'django_migrations')",
                what="reading the migration revision",
            )
            names = {row[0].lower() for row in tables if row}
            if "alembic_version" in names:
                value = self.scalar(
                    "SELECT GROUP_CONCAT(version_num ORDER BY version_num SEPARATOR ',') FROM alembic_version"
                )
                if value:
                    return value
            if "django_migrations" in names:
                return self.scalar("SELECT CONCAT(app, '.', name) FROM django_migrations ORDER BY id DESC LIMIT 1")
        except DatabaseError:
            return None
        return None

    def _sessions_sql(self) -> str:
        return (
            "SELECT 'session', id FROM information_schema.processlist "
            f"WHERE db = {literal(self.target.name)} AND id <> CONNECTION_ID() AND command <> 'Daemon'"
        )

    def other_sessions(self) -> list[str]:
        """Ids of the other sessions using the database (only the user's own without PROCESS)."""
        return _tagged(self.query(self._sessions_sql(), what="listing sessions"), "session")

    def connections(self) -> int:
        return len(self.other_sessions())

    # ------------------------------------------------------------------------------ drop/create
    def drop_and_create(self) -> None:
        """End the other sessions on the database, drop it and create it again.

        The new database keeps the old one's character set and collation (utf8mb4 when it did not
        exist). Connected as root, the application user of the service's environment
        (MARIADB_USER / MYSQL_USER) gets ALL on it again. DROP DATABASE waits at most
        LOCK_WAIT_SECONDS for locks; on a timeout (a client reconnected meanwhile) the sessions
        are ended again, DROP_ATTEMPTS times in all.
        """
        name = self.target.name
        app_user = self._app_user()
        sql = [
            "SELECT 'charset', default_character_set_name, default_collation_name FROM information_schema.schemata "
            f"WHERE schema_name = {literal(name)}",
            self._sessions_sql(),
        ]
        if app_user:
            sql.append(f"SELECT 'account', host FROM mysql.user WHERE user = {literal(app_user)}")
        rows = self.query("; ".join(sql), what="inspecting the database")
        charset = next((row[1:3] for row in rows if row[0] == "charset" and len(row) == 3), None)
        sessions = _tagged(rows, "session")
        create = f"CREATE DATABASE {ident(name)} CHARACTER SET " + (
            f"{ident(charset[0])} COLLATE {ident(charset[1])}" if charset else CHARSET
        )
        script = [
            f"SET SESSION lock_wait_timeout = {LOCK_WAIT_SECONDS}",
            f"DROP DATABASE IF EXISTS {ident(name)}",
            create,
            *(
                f"GRANT ALL ON {grant_pattern(name)}.* TO {ident(app_user or '')}@{ident(host)}"
                for host in _tagged(rows, "account")
            ),
        ]
        for attempt in range(1, DROP_ATTEMPTS + 1):
            if attempt > 1:
                sessions = self.other_sessions()
                self.emit(
                    DbStep(
                        "drop", f"another session still holds a lock; ending sessions again ({attempt}/{DROP_ATTEMPTS})"
                    )
                )
            self._kill(sessions)
            # one client run: it stops at the first error, so nothing is created when the drop fails
            result = self.run(self.client("-e", "; ".join(script)), check=False, quiet=True)
            if result.exit_code == 0:
                return
            locked = "1205" in result.stderr  # ER_LOCK_WAIT_TIMEOUT
            if not locked or attempt == DROP_ATTEMPTS:
                advice = ""
                if locked:
                    advice = (
                        f" A session devenv could not end keeps a lock on it (connected as {self.target.user!r}, "
                        "devenv sees and ends only that user's sessions unless it has the PROCESS and "
                        "CONNECTION ADMIN/SUPER privileges). Stop the clients that use the database, or set "
                        '[database] user = "root", and retry.'
                    )
                raise DatabaseError(
                    f"Could not drop and recreate database {name!r} in service {self.target.service!r}: "
                    f"{client_errors(result.stderr)}.{advice}"
                )

    def _kill(self, ids: list[str]) -> None:
        if ids:
            sql = "; ".join(f"KILL CONNECTION {i}" for i in ids)
            # --force: a session that ended meanwhile ("Unknown thread id") must not stop the others
            self.run(self.client("--force", "-e", sql), check=False, quiet=True)

    def _app_user(self) -> str | None:
        """Connected as root: the application user the service's environment creates, if any."""
        if self.target.user != "root":
            return None
        config = self.stack.reader.inspect_container(self.container).get("Config") or {}
        env = dict(str(kv).partition("=")[::2] for kv in config.get("Env") or [])  # as the server runs
        secrets = FileSecrets(self.stack, self.target.service, env, self.container)
        user = secrets.get("MARIADB_USER") or secrets.get("MYSQL_USER")
        return user if user and user != "root" else None

    # ------------------------------------------------------------------------------- dump/load
    def dump_argv(self) -> list[str]:
        _client, dump, oracle = self.tools()
        argv = [
            dump,
            f"--default-character-set={CHARSET}",
            f"--user={self.target.user}",
            "--single-transaction",
            "--routines",
            "--triggers",
            "--events",
            "--hex-blob",
            "--no-tablespaces",  # MySQL 8 would otherwise need the PROCESS privilege
            "--skip-dump-date",
        ]
        if oracle:
            argv.append("--set-gtid-purged=OFF")  # a GTID_PURGED statement only root could load
        return [*argv, self.target.name]

    def dump(self, out: IO[bytes], *, plain_sql: bool = False) -> None:
        """Stream a SQL dump to ``out``: plain for export, gzip-compressed for a snapshot."""
        what = self.tools()[1]
        if plain_sql:
            self.run(self.dump_argv(), stdout=out, what=what)
            return
        with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=1, mtime=0) as gz:
            self.run(self.dump_argv(), stdout=cast(IO[bytes], gz), what=what)

    def load(self, src: IO[bytes], *, plain_sql: bool = False) -> None:
        """Stream SQL (plain or gzip-compressed, recognised by its first bytes) into the database."""
        stream = _SqlSource(src)
        self.run(self.client("--binary-mode", self.target.name), stdin=cast(IO[bytes], stream), what=self.tools()[0])

    def shell_argv(self) -> list[str]:
        return self.client(self.target.name)


def client_errors(stderr: str) -> str:
    """The client's error lines (``ERROR 1205 (HY000) at line 1: ...``), without echoed statements."""
    echo = _EchoFilter()
    lines = [line.strip() for line in stderr.splitlines() if echo.keep(line) and line.strip()]
    errors = [line for line in lines if line.startswith(("ERROR", "mysqldump:", "mariadb-dump:"))] or lines
    return "; ".join(_clip(line) for line in errors[-5:]) or "no error output"


def _clip(line: str) -> str:
    return line if len(line) <= LINE_MAX else line[: LINE_MAX - 3] + "..."


class _EchoFilter:
    """Drops what the mariadb/mysql client prints between two ``--------------`` lines before an
    error (the failing statement) along with those lines."""

    def __init__(self) -> None:
        self.inside = False

    def keep(self, line: str) -> bool:
        if line.rstrip() == RULE:
            self.inside = not self.inside
            return False
        return not self.inside


def _tagged(rows: list[list[str]], tag: str) -> list[str]:
    """Second cells of the rows whose first cell is ``tag``."""
    return [row[1] for row in rows if len(row) >= 2 and row[0] == tag]


class _SqlSource:
    """Reads ``src``, decompressing it on the fly when it starts with the gzip magic bytes.

    A corrupt or truncated file raises ``DatabaseError`` (reported once the exec has ended).
    """

    def __init__(self, src: IO[bytes]) -> None:
        self.src = src
        self.gz: gzip.GzipFile | None = None
        self.head = self._guard(lambda: src.read(2))
        if self.head == GZIP_MAGIC:
            self.gz = gzip.GzipFile(fileobj=_Prefixed(self.head, src), mode="rb")
            self.head = b""

    def read(self, size: int = -1) -> bytes:
        return self._guard(lambda: self._read(size))

    def _read(self, size: int) -> bytes:
        if self.gz is not None:
            return self.gz.read(size)
        if self.head:
            head, self.head = self.head, b""
            return head + self.src.read(max(size - len(head), 0) if size >= 0 else -1)
        return self.src.read(size)

    @staticmethod
    def _guard(read: Callable[[], bytes]) -> bytes:
        try:
            return read()
        except (OSError, EOFError, zlib.error) as exc:
            raise DatabaseError(f"Cannot read the SQL input: {exc} (is the file truncated or corrupt?)") from None


class _Prefixed:
    """``head`` followed by the rest of ``src``."""

    def __init__(self, head: bytes, src: IO[bytes]) -> None:
        self.head, self.src = head, src

    def read(self, size: int = -1) -> bytes:
        if not self.head:
            return self.src.read(size)
        if size < 0:
            head, self.head = self.head, b""
            return head + self.src.read()
        head, self.head = self.head[:size], self.head[size:]
        return head

    def seek(self, offset: int, whence: int = 0) -> int:
        raise io.UnsupportedOperation("seek")  # a stream: gzip only rewinds on request
