"""Every event the core reports to front ends: one base type, one ``Emit``.

The core reports progress and changes by calling an ``Emit`` callback with an :class:`Event`. The
CLI prints events, the TUI posts them as messages, tests compare them: every event is a frozen
dataclass, compared by its fields. ``time`` (wall clock, epoch seconds) records when the event was
made; it is keyword-only and left out of comparisons, hashes and ``repr``, so that two events that
say the same thing are equal. Front ends dispatch on the class (``isinstance`` or ``match``),
never on class names.

Who emits what, and from which thread. Every event below is emitted from the thread that called
the core function (for the CLI, the main thread); background threads the core starts (the Engine
event reader, container starts, probes, the snapshot's revision query) report through queues or
return values and never call ``emit`` themselves. So a front end needs no lock of its own for the
core's sake (the TUI still has to hop to its event loop with ``post_message``).

- stack (:func:`devenv.core.stack.up`, :meth:`Stack.down <devenv.core.stack.Stack.down>`):
  :class:`StepStarted`, :class:`ComposeOutput`;
- the readiness wait (:class:`devenv.core.waiter.Waiter`, inside ``up``): :class:`ServiceChanged`,
  :class:`ServiceReady`, :class:`ServiceFailed`, :class:`WaitFinished`;
- per-service actions (:mod:`devenv.core.actions`: start, stop, restart, recreate, rebuild):
  :class:`ActionStarted`, :class:`ServiceStopped`, plus the stack and wait events of ``up``;
- migrations and seed (:mod:`devenv.core.migrations`): :class:`MigrationWaiting`,
  :class:`MigrationStarted`, :class:`MigrationOutput`, :class:`MigrationFinished`,
  :class:`MigrationInterrupted`, plus the stack
  and wait events of the ``up`` they may run first;
- database flows (:mod:`devenv.core.db`): :class:`DbStep`, :class:`DbOutput`,
  :class:`SnapshotWritten`, :class:`DbNotice`, plus the events of the ``up``, migrations and seed
  they run.

- the stack monitor (:class:`devenv.core.monitor.StackMonitor`): :class:`MonitorSynced`,
  :class:`StatusChanged`, :class:`EngineUnreachable`, :class:`EngineReconnected`,
  :class:`ContainerStats`. The monitor is the exception to the rule above: it runs a thread of its
  own and calls its subscribers from that thread (the threading contract is in
  :mod:`devenv.core.cancel`).

- the debugger (:class:`devenv.core.debug.session.DebugSession`): its events (``DebugStopped``,
  ``DebugOutput``...) live in :mod:`devenv.core.debug.dapmodel`; like the monitor's, they come from
  threads of its own (one DAP reader thread per attached process).

Events of later capabilities (watch) belong here too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from time import time as _now
from typing import TYPE_CHECKING

from devenv.core.models import Failure, Readiness, ServiceStatus

if TYPE_CHECKING:
    from devenv.core.db.snapshot_files import SnapshotInfo

__all__ = [
    "ActionStarted",
    "ComposeOutput",
    "ContainerStats",
    "DbNotice",
    "DbOutput",
    "DbStep",
    "Emit",
    "EngineReconnected",
    "EngineUnreachable",
    "Event",
    "MigrationFinished",
    "MigrationInterrupted",
    "MigrationOutput",
    "MigrationStarted",
    "MigrationWaiting",
    "MonitorSynced",
    "ServiceChanged",
    "ServiceFailed",
    "ServiceReady",
    "ServiceStopped",
    "SnapshotWritten",
    "StatusChanged",
    "StepStarted",
    "WaitFinished",
]


@dataclass(frozen=True)
class Event:
    """The base of every event. ``time``: when it was made (epoch seconds; not compared)."""

    time: float = field(default_factory=_now, compare=False, repr=False, kw_only=True)


Emit = Callable[[Event], None]


# ------------------------------------------------------------------------------------------ stack
@dataclass(frozen=True)
class StepStarted(Event):
    """A phase of an operation began: "config", "create", "build", "start", "wait", "migrate", "down"."""

    step: str
    detail: str = ""


@dataclass(frozen=True)
class ComposeOutput(Event):
    """A line printed by a ``docker compose`` command devenv runs (build output, pulls...)."""

    line: str


# ---------------------------------------------------------------------------- per-service actions
@dataclass(frozen=True)
class ActionStarted(Event):
    """A per-service action began: "start", "stop", "restart", "recreate" or "rebuild".

    ``services``: the services it acts on (empty: every service of the profile).
    """

    action: str
    services: tuple[str, ...]


@dataclass(frozen=True)
class ServiceStopped(Event):
    """Every container of a service stopped (``stop``, and the stop half of ``restart``)."""

    status: ServiceStatus
    elapsed: float


# ------------------------------------------------------------------------------- readiness wait
@dataclass(frozen=True)
class ServiceChanged(Event):
    """A service's aggregated status changed during a wait."""

    status: ServiceStatus
    readiness: Readiness
    elapsed: float
    note: str = ""  # e.g. "waiting for postgres (healthy)"


@dataclass(frozen=True)
class ServiceReady(Event):
    service: str
    how: str  # "healthy", "running", "completed", "probe", "healthcheck passed (devenv check)"
    elapsed: float


@dataclass(frozen=True)
class ServiceFailed(Event):
    failure: Failure
    elapsed: float


@dataclass(frozen=True)
class WaitFinished(Event):
    ok: bool
    elapsed: float
    outcome: str  # "ready", "failed", "timeout", "interrupted"


# ------------------------------------------------------------------------------------ migrations
@dataclass(frozen=True)
class MigrationWaiting(Event):
    """Services have to be started (or waited for) before the command can run."""

    services: tuple[str, ...]
    reason: str  # e.g. "database postgres is not healthy (missing)"


@dataclass(frozen=True)
class MigrationStarted(Event):
    """The command starts. ``command`` is the configured command string with placeholders filled."""

    command: str
    service: str
    mode: str  # "exec" | "run"


@dataclass(frozen=True)
class MigrationOutput(Event):
    """One line printed by the command (secrets masked). ``stream`` is "stdout" or "stderr".

    The command's stderr is merged into its stdout in the container (see
    :func:`devenv.core.migrations.shell_argv`) so lines keep their order; "stderr" lines come from
    ``docker compose run`` itself (mode run).
    """

    line: str
    stream: str


@dataclass(frozen=True)
class MigrationFinished(Event):
    exit_code: int
    elapsed: float


@dataclass(frozen=True)
class MigrationInterrupted(Event):
    """The command was interrupted (``why``: "Ctrl-C", "SIGTERM" or "cancelled") and stopped.

    ``stopped``: the engine said its processes ended in the container (False: it may still run
    there). ``revision``: the current revision(s) read afterwards with the tool's history (empty:
    none applied); ``pending``: how many are not applied; ``state``: that state in one line, or
    why it could not be read. ``hint``: the command that finishes the job.
    """

    command: str
    service: str
    why: str
    stopped: bool
    revision: tuple[str, ...] | None = None
    pending: int | None = None
    state: str = ""
    hint: str = ""

    def lines(self) -> list[str]:
        """The report as front ends print it (the CLI and the TUI share the wording)."""
        stopped = "stopped in the container" if self.stopped else "NOT confirmed stopped in the container"
        out = [f"{self.why}: `{self.command}` in {self.service} was {stopped}"]
        if self.state:
            out.append(f"  {self.state}")
        if self.hint:
            out.append(f"  to finish it: {self.hint}")
        return out


# -------------------------------------------------------------------------------------- database
@dataclass(frozen=True)
class DbStep(Event):
    """A phase of a database flow: "wait", "snapshot", "drop", "create", "load", "migrate", "seed"..."""

    step: str
    detail: str = ""


@dataclass(frozen=True)
class DbOutput(Event):
    """A line printed by a database tool (psql, pg_restore, mysql...)."""

    line: str


@dataclass(frozen=True)
class SnapshotWritten(Event):
    snapshot: SnapshotInfo


@dataclass(frozen=True)
class DbNotice(Event):
    """Something the user must know before going on (e.g. an earlier operation did not finish)."""

    message: str


# ---------------------------------------------------------------------------------------- logs
@dataclass(frozen=True)
class LogNotice(Event):
    """Something the reader of followed logs should know that is not a log line (stream lost, back)."""

    text: str


# --------------------------------------------------------------------------------------- monitor
@dataclass(frozen=True)
class MonitorSynced(Event):
    """The monitor read the whole stack: at start ("initial") and after a reconnect ("resync")."""

    statuses: tuple[ServiceStatus, ...]
    reason: str  # "initial" | "resync"


@dataclass(frozen=True)
class StatusChanged(Event):
    """A service's status changed (state, health, readiness, exit code, restarts, containers).

    ``old`` is what the monitor showed before (None for a service it did not know); ``cause`` is
    the Engine action behind the change ("die", "start", "health_status: unhealthy", "destroy"...),
    "devenv-check" when devenv's run of a ``starting`` container's healthcheck test passed (ready,
    ``ready_by: "devenv-check"``), "resync" after a reconnect, or "engine unreachable" when the
    status became unknown.
    ``engine_time``: the Engine event's own time (``timeNano``, epoch seconds), when there is one.
    """

    service: str
    old: ServiceStatus | None
    new: ServiceStatus
    cause: str
    restart_count: int = 0  # summed over the service's containers (the Engine's RestartCount)
    health_output: str | None = None  # the last healthcheck output (secrets masked)
    engine_time: float | None = None


@dataclass(frozen=True)
class EngineUnreachable(Event):
    """The event stream broke; every status is now "unknown" until :class:`EngineReconnected`."""

    error: str
    retry_in: float  # seconds until the next attempt


@dataclass(frozen=True)
class EngineReconnected(Event):
    """The monitor is subscribed again; a :class:`MonitorSynced` ("resync") follows."""

    down_for: float  # seconds without the engine
    attempts: int


@dataclass(frozen=True)
class ContainerStats(Event):
    """One resource sample of a container (``StackMonitor.watch_stats``), about once a second."""

    service: str
    container: str
    cpu_percent: float  # of one CPU: 200.0 is two full cores
    memory_bytes: int  # usage without the page cache
    memory_limit: int
    restart_count: int
