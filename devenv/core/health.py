"""Readiness rules: what a service's state means, and how Engine events change it.

Shared by ``devenv status`` (a snapshot: :func:`aggregate`), the ``up`` waiter
(:mod:`devenv.core.waiter`) and any long-lived follower of a stack. Pure functions and plain
state, no Docker and no threads: the callers read the Engine and feed what they read in here.

- :func:`aggregate`: one status for a service from its containers (the worst container speaks);
- :class:`Tracked` and :func:`apply_event`: the event reducer. A tracked container's state follows
  the Engine's ``/events`` (start, die, health_status, oom, destroy, pause, unpause); a failure is
  recorded at the first event that proves it (a restart loop at its third quick ``die``);
- :func:`container_readiness` and :func:`condition_met`: the verdicts of a wait, and whether a
  ``depends_on`` condition holds.

Verdicts:
- healthcheck: ready when healthy; ``unhealthy`` fails at once;
- no healthcheck: ready once running for ``settle`` seconds without dying; an exit fails it unless
  its restart policy retries it (below; plain ``docker compose up --wait`` calls a crash-looping
  service without healthcheck healthy; we do not);
- a probe (``[probes.<service>]``), when configured, must pass as well (the waiter runs it);
- a fast check (:mod:`devenv.core.fastcheck`: the container's own healthcheck test, or its
  host-side equivalent, run by devenv) that passed while Docker's health is still ``starting``
  counts as healthy: for the service's own verdict, for ``service_healthy`` dependents and for
  ``devenv status`` (``ready_by: "devenv-check"``; Docker's own flag is ``ready_by: "docker"``);
- exit 0 with restart policy "no"/"on-failure": "completed" (a one-shot such as ``migrate``);
- non-zero exit under "no": failed;
- restart policies (:func:`on_die`): under "on-failure:N" a non-zero exit the engine restarts is a
  retry, not a failure; it fails when the N restarts are used up (or at the deadline). Under
  "always", "unless-stopped" and "on-failure" without a maximum, a crash loop fails fast:
  ``LOOP_EXITS`` exits in a row, each after a run shorter than ``QUICK_RUN`` seconds (Docker's own
  back-off reset); a run that lasts longer starts the count again, so a service that crashed once
  while a dependency came up and then stays up is ready.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from devenv.core.models import ContainerInfo, Health, Readiness, ServiceStatus

RESTARTING_POLICIES = ("always", "unless-stopped")
LOOP_EXITS = 3  # exits in a row, each after a quick run, that make a crash loop
QUICK_RUN = 10.0  # seconds; Docker resets its restart back-off after a run this long

# How readiness was established (ServiceStatus.ready_by).
READY_BY_DOCKER = "docker"
READY_BY_CHECK = "devenv-check"
CHECKED = "healthcheck passed (devenv check)"  # detail of a container ready by devenv's check


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
    ready_by = None
    if ready:
        ready_by = READY_BY_CHECK if any(checked_ready(c) for c in containers) else READY_BY_DOCKER
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
        ready_by=ready_by,
    )


def checked_ready(c: ContainerInfo) -> bool:
    """Docker still says ``starting``, and devenv's run of the healthcheck test passed (in this start)."""
    return c.checked and c.state == "running" and c.has_healthcheck and c.health == Health.STARTING


def _container_ready(c: ContainerInfo) -> tuple[bool, str]:
    """Readiness as ``devenv status`` sees it (a snapshot; the wait, container_readiness, is stricter)."""
    if c.state == "running":
        if c.has_healthcheck:
            if checked_ready(c):
                return True, CHECKED
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
    quick_exits: int = 0  # exits in a row after runs shorter than QUICK_RUN (crash-loop rule)
    retry: str = ""  # the last exit the restart policy retries, while it is being retried


def tracked_from_inspect(info: ContainerInfo, *, wall: float, mono: float) -> Tracked:
    """A container first seen in an inspect (``wall``/``mono``: now): its start time and, for a
    container between an exit and its policy's restart or already unhealthy, the verdict so far
    (``health_status`` events fire only on a change: an already-unhealthy container sends none)."""
    t = Tracked(info=info, needs_start=info.state not in ("running", "restarting", "paused"))
    if info.state == "running" and info.started_at:
        t.started_mono = mono - max(0.0, wall - info.started_at)
    if info.state == "restarting":
        t.quick_exits = 1  # a crash loop when it has been going on
        if info.restart_count >= LOOP_EXITS and not (info.restart_policy == "on-failure" and info.max_retries):
            t.failure = loop_reason(info, info.exit_code)
    elif info.state == "running" and info.health == Health.UNHEALTHY:
        t.failure = "is unhealthy"
    return t


def uninspectable(cid: str, attrs: Mapping[str, Any], error: str) -> Tracked:
    """A container seen in a ``create`` event that could not be inspected: failed, with the reason."""
    name = str(attrs.get("name") or cid[:12])
    service = str(attrs.get("com.docker.compose.service") or "")
    info = ContainerInfo(cid, name, service, 1, state="created", health=Health.NONE, exit_code=None)
    return Tracked(info=info, needs_start=False, failure=f"its new container {name} could not be inspected: {error}")


def event_parts(ev: Mapping[str, Any]) -> tuple[str, str, Mapping[str, Any]]:
    """``(action, container id, actor attributes)`` of one ``/events`` message."""
    action = str(ev.get("Action") or ev.get("status") or "")
    actor = ev.get("Actor") or {}
    attrs = actor.get("Attributes") or {}
    cid = str(actor.get("ID") or ev.get("id") or "")
    return action, cid, attrs


def loop_reason(info: ContainerInfo, code: int | None, exits: int = 0) -> str:
    code_text = f"exited with code {code}" if code is not None else "keeps exiting"
    if exits:
        code_text += f" {exits} times in a row, each run under {QUICK_RUN:g} s,"
    return f'restart loop: {code_text} and restart policy "{policy_text(info)}" keeps restarting it'


def policy_text(info: ContainerInfo) -> str:
    """The restart policy as Compose writes it: ``always``, ``on-failure:3``..."""
    if info.restart_policy == "on-failure" and info.max_retries:
        return f"on-failure:{info.max_retries}"
    return info.restart_policy


def on_die(
    info: ContainerInfo, code: int | None, ran: float | None, quick_exits: int, *, oom: bool = False
) -> tuple[str, str, int]:
    """The restart-policy verdict of one ``die``: ``(failure, retry note, quick exits so far)``.

    ``info`` is the container before the exit (its restart count is the number of policy restarts
    since it was last started through the API); ``ran``: how long the run that ended lasted
    (``None``: unknown, counted as quick); ``quick_exits``: the count before this exit; ``oom``: the
    engine reported an out-of-memory kill. Exactly one
    of failure and note is non-empty when the exit matters; both are empty for a clean exit that
    nothing restarts (a completed one-shot).
    """
    policy = info.restart_policy
    killed = " (killed: out of memory)" if oom or (code == 137 and info.oom_killed) else ""
    restarts = policy in RESTARTING_POLICIES or (policy == "on-failure" and code != 0)
    if not restarts:
        return (f"exited with code {code}{killed}" if code != 0 else ""), "", 0
    if policy == "on-failure" and info.max_retries:
        # Retries, not a loop: the engine gives up after max_retries restarts.
        if info.restart_count >= info.max_retries:
            return (
                f'exited with code {code}{killed}; restart policy "{policy_text(info)}" gave up after '
                f"{info.restart_count} restart{'s' if info.restart_count != 1 else ''}",
                "",
                quick_exits,
            )
        attempt = info.restart_count + 1
        return (
            "",
            f"exited with code {code}{killed}, being retried (restart {attempt} of {info.max_retries})",
            quick_exits,
        )
    quick = ran is None or ran < QUICK_RUN
    exits = quick_exits + 1 if quick else 1
    if quick and exits >= LOOP_EXITS:
        return loop_reason(info, code, exits), "", exits
    count = f"quick exit {exits} of {LOOP_EXITS} that make a crash loop" if quick else f"after {ran:.0f} s up"
    note = f'exited with code {code}{killed}, restarted by policy "{policy_text(info)}" ({count})'
    return "", note, exits


def apply_event(t: Tracked, action: str, attrs: Mapping[str, Any], now: float) -> None:
    """Apply one Engine event (``action``, its actor's ``attrs``) to a tracked container.

    ``now`` is the monotonic time the event was handled (the start time of a ``start``).
    """
    info = t.info
    if action in ("start", "die") and info.checked:
        info = replace(info, checked=False)  # a check's pass holds for one start only
    if action == "start":
        # A start devenv asked for resets the engine's restart count (and its back-off); any other
        # start of a stopped container is the restart policy at work.
        restarted = t.started_mono is not None and not t.needs_start and info.state != "running"
        t.info = replace(
            info,
            state="running",
            exit_code=None,
            health=Health.STARTING if info.has_healthcheck else Health.NONE,
            restart_count=info.restart_count + 1 if restarted else 0 if t.needs_start else info.restart_count,
        )
        t.started_mono = now
        t.needs_start = False
    elif action == "die":
        code = _int(attrs.get("exitCode"))
        ran = now - t.started_mono if t.started_mono is not None else None
        failure, retry, t.quick_exits = on_die(info, code, ran, t.quick_exits, oom=t.oom)
        t.retry = retry
        # Between the exit and the policy's restart the engine says "restarting".
        t.info = replace(info, state="restarting" if retry else "exited", exit_code=code)
        if failure:
            t.failure = t.failure or failure
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
        again = f" (after {info.restart_count} restart{'s' if info.restart_count != 1 else ''})" if t.retry else ""
        if info.has_healthcheck:
            if info.health == Health.HEALTHY:
                return Readiness.READY, "healthy", ""
            if info.health == Health.UNHEALTHY:
                return Readiness.FAILED, "", "is unhealthy"
            if checked_ready(info):
                return Readiness.READY, CHECKED, ""
            return Readiness.WAITING, "", "health: starting" + again
        started = t.started_mono if t.started_mono is not None else now
        # A configured probe is stronger evidence than the settle window: it gates instead.
        if probed or now - started >= settle:
            return Readiness.READY, "running", ""
        return Readiness.WAITING, "", "running, settling" + again
    if info.state == "exited":
        if info.exit_code == 0:
            return Readiness.READY, "completed", ""
        return Readiness.FAILED, "", f"exited with code {info.exit_code}"
    if info.state == "restarting":
        return Readiness.WAITING, "", t.retry or f"restarting (restarts: {info.restart_count})"
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
            healthy = info.health == Health.HEALTHY or checked_ready(info)
            ok = healthy if info.has_healthcheck else info.state == "running"
        elif condition == "service_completed_successfully":
            ok = info.state == "exited" and info.exit_code == 0
        else:  # service_started: started once is enough (Compose does not wait for more)
            ok = info.state in ("running", "exited", "restarting")
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
