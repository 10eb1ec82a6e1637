"""The watch's events (``devenv watch``, ``devenv up --watch``, the TUI's watch), on the core's one base.

Every class here is an :class:`~devenv.core.events.Event`: front ends render them like the others
(the CLI as lines, the TUI in the Events view and its status line). They are emitted from the
thread that runs :meth:`devenv.core.watch.Watcher.run`, never from the file watcher's or the
monitor's threads. A rebuild, a restart and a recreate after a config edit also emit the events of
the core action they run (:class:`~devenv.core.events.ActionStarted`, ``ServiceChanged``...).
"""

from __future__ import annotations

from dataclasses import dataclass

from devenv.core.events import Event

__all__ = [
    "WatchConfigApplied",
    "WatchConfigInvalid",
    "WatchError",
    "WatchExec",
    "WatchNotice",
    "WatchRebuilt",
    "WatchRestarted",
    "WatchStarted",
    "WatchStopped",
    "WatchSynced",
]


@dataclass(frozen=True)
class WatchStarted(Event):
    """Watching began. ``services``: those with rules; ``paths``: the folders watched for code;
    ``config_files``: the files whose edits are applied live (empty: config not watched)."""

    services: tuple[str, ...]
    paths: tuple[str, ...]
    config_files: tuple[str, ...]


@dataclass(frozen=True)
class WatchSynced(Event):
    """Files were copied into (and deleted from) every running container of ``service``.

    ``files``: container paths copied; ``deleted``: container paths removed; ``containers``: how
    many containers got them; ``reason``: "change", "initial" (a rule's ``initial_sync``, at start
    or for a new container) or "catch-up" (a container that was stopped during a change);
    ``elapsed``: seconds from the batch to the last container done; ``latency``: seconds from the
    first change the file watcher saw to done (None for an initial sync).
    """

    service: str
    files: tuple[str, ...]
    deleted: tuple[str, ...]
    containers: int
    reason: str
    elapsed: float
    latency: float | None = None


@dataclass(frozen=True)
class WatchRebuilt(Event):
    """An image was built once and the services using it were recreated (health-gated) or not.

    ``outcome``: "ready", "failed" (the build failed: ``error`` has Compose's last lines; nothing was
    recreated), or the recreate's outcome ("failed", "timeout", "interrupted").
    """

    image: str
    services: tuple[str, ...]
    outcome: str
    elapsed: float
    trigger: str = ""  # a changed file that asked for it
    error: str = ""


@dataclass(frozen=True)
class WatchRestarted(Event):
    services: tuple[str, ...]
    outcome: str  # the restart's UpResult outcome
    elapsed: float


@dataclass(frozen=True)
class WatchExec(Event):
    """A ``sync+exec`` command ran in one container after its sync."""

    service: str
    container: str
    command: tuple[str, ...]
    exit_code: int
    output: str  # the last lines (stdout and stderr)


@dataclass(frozen=True)
class WatchConfigApplied(Event):
    """Edited config files were resolved: ``recreated`` services changed (new config hash) and were
    recreated (health-gated), ``started`` are new; the others kept their containers."""

    files: tuple[str, ...]
    recreated: tuple[str, ...]
    started: tuple[str, ...]
    outcome: str  # "ready", "unchanged", or the recreate's outcome
    elapsed: float


@dataclass(frozen=True)
class WatchConfigInvalid(Event):
    """An edit made the config invalid: nothing was changed on the engine."""

    file: str
    line: int | None
    message: str


@dataclass(frozen=True)
class WatchError(Event):
    """Something failed; the watch goes on. ``action``: "sync", "rebuild", "restart", "exec", "config"."""

    action: str
    service: str
    path: str
    message: str


@dataclass(frozen=True)
class WatchNotice(Event):
    """Something worth a line that is not an error (a rule skipped, the engine back, a new container)."""

    text: str
    service: str = ""


@dataclass(frozen=True)
class WatchStopped(Event):
    reason: str
