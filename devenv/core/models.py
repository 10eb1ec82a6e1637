"""Plain data the core hands to front ends: containers, service states, failures, results.

Everything here is a frozen dataclass or an enum, so the CLI can print it, the TUI can post it as
a message, and tests can compare it. Nothing here talks to Docker. The progress events that carry
these values are in :mod:`devenv.core.events`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class Health(str, Enum):
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"
    STARTING = "starting"
    NONE = "none"


class Readiness(str, Enum):
    """Where one service stands in a wait."""

    PENDING = "pending"  # not started yet (blocked on a dependency, or being created)
    WAITING = "waiting"  # started, not ready yet
    READY = "ready"
    FAILED = "failed"


@dataclass(frozen=True)
class PortBinding:
    container_port: int
    protocol: str
    host_ip: str
    host_port: int

    def __str__(self) -> str:
        return f"{self.host_ip}:{self.host_port}->{self.container_port}/{self.protocol}"


@dataclass(frozen=True)
class ContainerInfo:
    """One container as the Engine API reports it (from a list or an inspect)."""

    id: str
    name: str
    service: str
    number: int
    state: str  # Docker's vocabulary: created, running, restarting, exited, paused, dead, removing
    health: Health
    exit_code: int | None
    restart_count: int = 0
    restart_policy: str = "no"
    max_retries: int = 0  # on-failure:N (0: no maximum)
    has_healthcheck: bool = False
    started_at: float | None = None  # epoch seconds
    ports: tuple[PortBinding, ...] = ()
    image: str = ""
    oom_killed: bool = False
    health_output: str | None = None  # output of the last healthcheck run
    # Docker's health is still ``starting``, but devenv ran the container's healthcheck test (or its
    # host-side equivalent) and it passed (devenv.core.fastcheck): ready, "ready_by": "devenv-check".
    checked: bool = False


@dataclass(frozen=True)
class ServiceStatus:
    """A service, aggregated over its containers (replicas)."""

    service: str
    state: str  # Docker state of the worst container, or "missing" when no container exists
    health: Health
    ready: bool
    exit_code: int | None
    ports: tuple[PortBinding, ...] = ()
    detail: str = ""
    containers: tuple[ContainerInfo, ...] = ()
    started_at: float | None = None
    # How readiness was established: "docker" (Docker's own state: healthy, running, completed),
    # "devenv-check" (Docker still says starting; the healthcheck test passed when devenv ran it),
    # None while not ready.
    ready_by: str | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "service": self.service,
            "state": self.state,
            "health": self.health.value,
            "ready": self.ready,
            "ready_by": self.ready_by,
            "exit_code": self.exit_code,
            "ports": [str(p) for p in self.ports],
            "detail": self.detail,
            "containers": [c.name for c in self.containers],
            "started_at": self.started_at,
        }


@dataclass(frozen=True)
class LogLine:
    service: str
    container: str
    text: str
    timestamp: str = ""  # RFC 3339 from the engine ("" when unknown)


@dataclass(frozen=True)
class Failure:
    """Why one service failed, with what the user needs to act on it."""

    service: str
    reason: str  # "exited with code 3", "is unhealthy", "restart loop: ...", "timed out: ..."
    state: str
    health: Health
    exit_code: int | None
    restart_count: int = 0
    health_output: str | None = None
    logs: tuple[str, ...] = ()
    blocked_on: tuple[str, ...] = ()  # dependencies this service was still waiting for

    def report(self) -> list[tuple[str, str, str]]:
        """What both front ends show of it, line by line: ``(kind, lead, text)``.

        ``kind`` is "title" (the service and the reason), "detail" or "log" (one of its last log
        lines); ``lead`` is the indentation (and the ``|`` before a log line), which a front end may
        style apart (the CLI dims it). The CLI prints these lines, the TUI's Details view draws them.
        """
        state = self.state + (f" ({self.exit_code})" if self.exit_code is not None else "")
        out = [
            ("title", "", f"✘ {self.service}: {self.reason}"),
            ("detail", "    ", f"state: {state}, health: {self.health.value}, restarts: {self.restart_count}"),
        ]
        if self.blocked_on:
            out.append(("detail", "    ", f"blocked on: {', '.join(self.blocked_on)}"))
        if self.health_output:
            out.append(("detail", "    ", "last healthcheck output:"))
            out += [("detail", "      ", line) for line in self.health_output.splitlines()[-10:]]
        if self.logs:
            out.append(("detail", "    ", f"last {len(self.logs)} log lines:"))
            out += [("log", "      | ", line) for line in self.logs]
        elif self.state != "missing":
            out.append(("detail", "    ", "(no log output)"))
        return out

    def to_json(self) -> dict[str, object]:
        return {
            "reason": self.reason,
            "health_output": self.health_output,
            "logs": list(self.logs),
            "restart_count": self.restart_count,
            "blocked_on": list(self.blocked_on),
        }


@dataclass(frozen=True)
class UpResult:
    project: str
    profile: str
    ok: bool
    outcome: str  # "ready", "failed", "timeout", "interrupted"
    elapsed: float
    services: tuple[ServiceStatus, ...]
    failures: tuple[Failure, ...] = field(default=())
