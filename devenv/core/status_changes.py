"""What counts as a change of a service's status, for the monitor (:mod:`devenv.core.monitor`).

:func:`status_key` is what a :class:`~devenv.core.events.StatusChanged` compares; :func:`unknown_status`
is a service while the engine is unreachable (never stale data shown as current); :func:`event_time`
is an Engine event's own time (the monitor's reports, the ``up`` waiter's start times). Pure functions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from devenv.core.models import Health, ServiceStatus

UNKNOWN = "unknown"  # the state of every service while the engine is unreachable


def unknown_status(last: ServiceStatus, why: str = "engine unreachable") -> ServiceStatus:
    """``last`` made "unknown": the last seen containers are kept, nothing claims to be current."""
    if last.state == UNKNOWN:
        return last
    return replace(
        last,
        state=UNKNOWN,
        health=Health.NONE,
        ready=False,
        ready_by=None,
        exit_code=None,
        ports=(),
        detail=f"{why} (last seen: {last.state})",
        started_at=None,
    )


def restarts(status: ServiceStatus) -> int:
    return sum(c.restart_count for c in status.containers)


def health_output(status: ServiceStatus) -> str | None:
    return next((c.health_output for c in status.containers if c.health_output), None)


def status_key(s: ServiceStatus) -> tuple[Any, ...]:
    return (
        s.state,
        s.health,
        s.ready,
        s.ready_by,
        s.exit_code,
        s.detail,
        s.ports,
        restarts(s),
        tuple((c.id, c.state, c.health) for c in s.containers),
    )


def event_time(ev: Mapping[str, Any]) -> float | None:
    nano = ev.get("timeNano")
    if isinstance(nano, int | float) and nano:
        return float(nano) / 1e9
    seconds = ev.get("time")
    return float(seconds) if isinstance(seconds, int | float) and seconds else None


def describe_error(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return text if len(text) <= 300 else text[:297] + "..."
