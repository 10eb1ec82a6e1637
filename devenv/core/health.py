"""Readiness rules: what a service's state means, and how Engine events change it.

Shared by ``devenv status`` (a snapshot: :func:`aggregate`), the ``up`` waiter
(:mod:`devenv.core.waiter`) and any long-lived follower of a stack. Pure functions and plain
state, no Docker and no threads: the callers read the Engine and feed what they read in here.

- :func:`aggregate`: one status for a service from its containers (the worst container speaks);
- :class:`Tracked` and :func:`apply_event`: the event reducer. A tracked container's state follows
  the Engine's ``/events`` (start, die, health_status, oom, destroy, pause, unpause); a failure is
  recorded at the first event that proves it (restart loops at the first ``die``);
- :func:`container_readiness` and :func:`condition_met`: the verdicts of a wait, and whether a
  ``depends_on`` condition holds.

Verdicts:
- healthcheck: ready when healthy; ``unhealthy`` fails at once;
- no healthcheck: ready once running for ``settle`` seconds without dying; any exit or restart
  before the whole wait ends fails it (plain ``docker compose up --wait`` calls a crash-looping
  service without healthcheck healthy; we do not);
- a probe (``[probes.<service>]``), when configured, must pass as well (the waiter runs it);
- ``service_healthy`` for dependents also holds once a fast check passed while the health is
  ``starting`` (:mod:`devenv.core.fastcheck`); the service's own verdict still waits for Docker;
- exit 0 with restart policy "no"/"on-failure": "completed" (a one-shot such as ``migrate``);
- non-zero exit: failed; any exit under "always"/"unless-stopped" (or non-zero under
  "on-failure"): a restart loop, failed at the first ``die``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from devenv.core.models import ContainerInfo, Health, Readiness, ServiceStatus

RESTARTING_POLICIES = ("always", "unless-stopped")


# ------------------------------------------------------------------------------ status snapshot
SEVERITY = {"dead": 6, "restarting": 5, "exited": 4, "paused": 3, "removing": 3, "created": 2, "running": 1}


def aggregate(service: str, containers: list[ContainerInfo], settle: float = 0.0) -> ServiceStatus:
    """One status line for a service from its containers: the worst container speaks for it."""
    if not containers:
        return ServiceStatus(service, "missing", Health.NONE, False, None, detail="not created")
    worst = max(containers, key=lambda c: (SEVERITY.get(c.state, 0), c.health == Health.UNHEALTHY))
    # Health of the service: the least healthy container that has a healthcheck.
    rank = {Health.UNHEALTHY: 0, Health.STARTING: 1, Health.HEALTHY: 2, Health.NONE: 3}
    checked = [c.health for c in containers if c.has_healthcheck or c.health != Health.NONE]
    health = min(checked, key=lambda h: rank[h]) if checked else worst.health
    ready, detail = _container_ready(worst)
    if ready:
        for c in containers:
            r, d = _container_ready(c)
            if not r:
                ready, detail = False, d
    ports = tuple(p for c in containers for p in c.ports)
    started = [c.started_at for c in containers if c.started_at]
    return ServiceStatus(
        service=service,
        state=worst.state,
        health=health,
        ready=ready,
        exit_code=worst.exit_code,
        ports=ports,
        detail=detail if len(containers) == 1 else f"{detail} ({len(containers)} containers)",
        containers=tuple(sorted(containers, key=lambda c: c.number)),
        started_at=min(started) if started else None,
    )


def _container_ready(c: ContainerInfo) -> tuple[bool, str]:
    """Readiness as ``devenv status`` sees it (a snapshot; the wait, container_readiness, is stricter)."""
    if c.state == "running":
        if c.has_healthcheck:
            return c.health == Health.HEALTHY, c.health.value if c.health != Health.NONE else "running"
        return True, "running"
    if c.state == "exited":
        if c.exit_code == 0 and c.restart_policy in ("no", "on-failure", ""):
            return True, "completed"
        return False, f"exited with code {c.exit_code}"
    if c.state == "restarting":
        return False, f"restarting (restarts: {c.restart_count})"
    return False, c.state


# ------------------------------------------------------------------------------- event reducer
@dataclass
class Tracked:
    """One container followed through Engine events."""

    info: ContainerInfo
    needs_start: bool  # not running when the wait began (or created later): we must start it
    started_mono: float | None = None  # monotonic time of the last start
    failure: str | None = None
    start_requested: bool = False
    oom: bool = False
    fast_ready: bool = False  # passed a fast check in this start (devenv.core.fastcheck)


def event_parts(ev: Mapping[str, Any]) -> tuple[str, str, Mapping[str, Any]]:
    """``(action, container id, actor attributes)`` of one ``/events`` message."""
    action = str(ev.get("Action") or ev.get("status") or "")
    actor = ev.get("Actor") or {}
    attrs = actor.get("Attributes") or {}
    cid = str(actor.get("ID") or ev.get("id") or "")
    return action, cid, attrs


def loop_reason(info: ContainerInfo, code: int | None) -> str:
    code_text = f"exited with code {code}" if code is not None else "keeps exiting"
    return f'restart loop: {code_text} and restart policy "{info.restart_policy}" keeps restarting it'


def apply_event(t: Tracked, action: str, attrs: Mapping[str, Any], now: float) -> None:
    """Apply one Engine event (``action``, its actor's ``attrs``) to a tracked container.

    ``now`` is the monotonic time the event was handled (the start time of a ``start``).
    """
    info = t.info
    if action in ("start", "die"):
        t.fast_ready = False
    if action == "start":
        restarted = t.started_mono is not None and not t.needs_start and info.state != "running"
        t.info = replace(
            info,
            state="running",
            exit_code=None,
            health=Health.STARTING if info.has_healthcheck else Health.NONE,
            restart_count=info.restart_count + (1 if restarted else 0),
        )
        t.started_mono = now
        t.needs_start = False
        if restarted and t.failure is None:
            t.failure = loop_reason(t.info, info.exit_code)
    elif action == "die":
        code = _int(attrs.get("exitCode"))
        t.info = replace(info, state="exited", exit_code=code)
        policy = info.restart_policy
        if policy in RESTARTING_POLICIES or (policy == "on-failure" and code != 0):
            t.failure = t.failure or loop_reason(t.info, code)
        elif code != 0:
            oom = " (killed: out of memory)" if t.oom or (code == 137 and info.oom_killed) else ""
            t.failure = t.failure or f"exited with code {code}{oom}"
    elif action.startswith("health_status"):
        status = action.split(":", 1)[1].strip() if ":" in action else ""
        if status in Health._value2member_map_:
            t.info = replace(info, health=Health(status))
            if status == "unhealthy":
                t.failure = t.failure or "is unhealthy"
    elif action == "oom":
        t.oom = True
    elif action == "destroy":
        t.info = replace(info, state="removed")
        t.failure = t.failure or "was removed while devenv waited for it"
    elif action == "pause":
        t.info = replace(info, state="paused")
    elif action == "unpause":
        t.info = replace(info, state="running")


# ------------------------------------------------------------------------------------ verdicts
def container_readiness(t: Tracked, now: float, *, settle: float, probed: bool) -> tuple[Readiness, str, str]:
    """``(readiness, how, reason or note)`` of one tracked container at monotonic time ``now``.

    ``probed``: the service has a probe, which gates readiness instead of the settle window.
    """
    info = t.info
    if t.failure:
        return Readiness.FAILED, "", t.failure
    if t.needs_start:
        return Readiness.PENDING, "", ""
    if info.state == "running":
        if info.has_healthcheck:
            if info.health == Health.HEALTHY:
                return Readiness.READY, "healthy", ""
            if info.health == Health.UNHEALTHY:
                return Readiness.FAILED, "", "is unhealthy"
            return Readiness.WAITING, "", "health: starting" + (" (ready for dependents: fast check)" * t.fast_ready)
        started = t.started_mono if t.started_mono is not None else now
        # A configured probe is stronger evidence than the settle window: it gates instead.
        if probed or now - started >= settle:
            return Readiness.READY, "running", ""
        return Readiness.WAITING, "", "running, settling"
    if info.state == "exited":
        if info.exit_code == 0:
            return Readiness.READY, "completed", ""
        return Readiness.FAILED, "", f"exited with code {info.exit_code}"
    if info.state == "restarting":
        return Readiness.FAILED, "", loop_reason(info, info.exit_code)
    if info.state in ("dead", "removing"):
        return Readiness.FAILED, "", f"is {info.state}"
    if info.state == "paused":
        return Readiness.FAILED, "", "is paused (docker unpause it)"
    return Readiness.WAITING, "", info.state


def condition_met(containers: Iterable[Tracked], condition: str) -> bool:
    """Whether every one of a service's (existing) containers meets a ``depends_on`` condition."""
    for t in containers:
        if t.failure or t.needs_start:
            return False
        info = t.info
        if condition == "service_healthy":
            # A fast check pass (the service's own test, or its host-side equivalent) counts too.
            fast = t.fast_ready and info.state == "running" and info.health == Health.STARTING
            ok = info.health == Health.HEALTHY or fast if info.has_healthcheck else info.state == "running"
        elif condition == "service_completed_successfully":
            ok = info.state == "exited" and info.exit_code == 0
        else:  # service_started
            ok = info.state in ("running", "exited")
        if not ok:
            return False
    return True


def describe_condition(condition: str) -> str:
    """A ``depends_on`` condition in words: "healthy", "completed successfully", "started"."""
    return {
        "service_healthy": "healthy",
        "service_completed_successfully": "completed successfully",
        "service_started": "started",
    }.get(condition, condition)


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
