"""The engine adapter: the commands of one database engine, run inside its container.

:class:`Adapter` is the base (exec through the Engine API, output lines as
:class:`~devenv.core.events.DbOutput`, "the container stopped under the command" diagnosis); the
engines are :mod:`devenv.core.db.postgres` and :mod:`devenv.core.db.mysql`.
"""

from __future__ import annotations

import contextlib
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from functools import cached_property
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeVar

from devenv.core.cancel import Cancelled, CancelToken
from devenv.core.engine.execio import ExecResult, container_state, exec_in
from devenv.core.events import DbOutput, Emit, Event
from devenv.core.secrets import Masker
from devenv.errors import ServiceFailedError

if TYPE_CHECKING:
    from devenv.core.db.target import DatabaseTarget
    from devenv.core.stack import Stack

T = TypeVar("T")


class DatabaseError(ServiceFailedError):
    """A database command failed (exit 1)."""


class DataAtRiskError(DatabaseError):
    """A step after the drop failed: the message says how to get the old data back."""


class Adapter(ABC):
    """Engine-specific commands, run inside the database container."""

    engine: str
    native_ext: str  # snapshot file extension

    def __init__(self, stack: Stack, target: DatabaseTarget, container: str, emit: Emit) -> None:
        self.stack, self.target, self.container = stack, target, container
        self._emit = emit
        self._held = threading.local()
        self.token: CancelToken | None = None  # cancels every exec of this adapter (set by open_session)
        self.started_at = self._state().get("StartedAt")  # a restart under a command changes it

    def emit(self, event: Event) -> None:
        """Report ``event``; inside :meth:`holding_events` (in that thread) it is kept instead."""
        held: list[Event] | None = getattr(self._held, "events", None)
        if held is None:
            self._emit(event)
        else:
            held.append(event)

    def holding_events(self, fn: Callable[[], T]) -> tuple[T, list[Event]]:
        """Run ``fn`` in this thread, keeping the events it makes instead of emitting them.

        For work done in a helper thread: the caller emits the kept events from its own thread
        (every event is emitted from the thread that called the flow; see ``devenv.core.events``).
        """
        held: list[Event] = []
        self._held.events = held
        try:
            return fn(), held
        finally:
            del self._held.events

    def _state(self) -> dict[str, Any]:
        return container_state(self.stack.api, self.container)

    def run(
        self,
        argv: list[str],
        *,
        stdin: IO[bytes] | None = None,
        stdout: IO[bytes] | None = None,
        what: str = "",
        check: bool = True,
    ) -> ExecResult:
        result = self.exec(
            argv,
            stdin=stdin,
            stdout=stdout,
            what=what,
            on_line=lambda line: self.emit(DbOutput(self.mask(line))) if line.strip() else None,
        )
        if check and result.exit_code != 0:
            tail = "\n".join(result.stderr.strip().splitlines()[-20:])
            raise self.failure(what or argv[0], result.exit_code, tail)
        return result

    def exec(
        self,
        argv: list[str],
        *,
        stdin: IO[bytes] | None,
        stdout: IO[bytes] | None,
        what: str,
        on_line: Callable[[str], None],
    ) -> ExecResult:
        """``exec_in`` with this adapter's environment and token; a dump or a load (``stdin`` or
        ``stdout`` given) is also ended when the container pauses, stops or goes away."""
        streaming = stdin is not None or stdout is not None
        with self.watched() if streaming else contextlib.nullcontext(self.token) as token:
            try:
                return exec_in(
                    self.stack.api,
                    self.container,
                    argv,
                    env=self.env(),
                    stdin=stdin,
                    stdout=stdout,
                    on_stderr_line=on_line,
                    cancel=token,
                    stoppable=stdin is not None,  # an input that fails ends the client in the container too
                )
            except Cancelled:
                if token is not None and token.reason.startswith("container "):
                    raise self.failure(what or argv[0], -1, "") from None
                raise

    @cached_property
    def mask(self) -> Masker:
        """Masks the database password (and anything secret-shaped) in the tools' output."""
        return Masker([self.target.password] if self.target.password else [])

    @contextlib.contextmanager
    def watched(self) -> Iterator[CancelToken]:
        """A token for one long exec that is cancelled when the container pauses, stops or goes away.

        An exec into a paused container waits forever without a sign; the Engine's events for this
        container (not polling) end it, and ``failure`` then names what happened to the container.
        The adapter's own token (a user's cancel) cancels it too.
        """
        token = CancelToken()
        outer = self.token
        unhook = outer.on_cancel(lambda: token.cancel(outer.reason)) if outer is not None else None
        try:
            stream = self.stack.api.events(
                decode=True,
                filters={"container": self.container, "event": ["pause", "die", "stop", "kill", "destroy"]},
            )
        except Exception:
            stream = None

        def watch() -> None:
            with contextlib.suppress(Exception):
                for event in stream or ():
                    token.cancel(f"container {event.get('Action') or event.get('status')}")
                    return

        if stream is not None:
            threading.Thread(target=watch, name="devenv-db-watch", daemon=True).start()
        try:
            yield token
        finally:
            if unhook is not None:
                unhook()
            if stream is not None:
                with contextlib.suppress(Exception):
                    stream.close()

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
        detail = self.mask(detail)
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
