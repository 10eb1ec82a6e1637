"""``devenv status --follow``: one line per change (or one JSON object per line) until Ctrl-C.

The lines come from :class:`devenv.core.monitor.StackMonitor`: first the current status of every
service ("initial"), then every change as the Engine reports it. With ``--json`` each line is one
JSON object (NDJSON) with the service shape of ``status --json`` plus ``"time"`` (epoch seconds)
and ``"event"``:

- ``"initial"``: a service's status when following began;
- ``"changed"``: a service changed; also ``"cause"`` (the Engine action: "die", "start",
  "health_status: unhealthy"..., "resync" after a reconnect, "engine unreachable"),
  ``"previous"`` (state, health, ready before; null for a service seen for the first time),
  ``"restart_count"``, ``"health_output"`` and ``"engine_time"`` (the Engine event's time);
- ``"engine_unreachable"`` (``"error"``, ``"retry_in"``) and ``"reconnected"`` (``"down_for"``,
  ``"attempts"``): while unreachable every service is "unknown" (a "changed" line each says so).

Ctrl-C ends it with exit 130 (SIGTERM 143); a closed stdout (``| head``) with 0.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from devenv.cli.output import Output
from devenv.core.events import EngineReconnected, EngineUnreachable, Event, MonitorSynced, StatusChanged
from devenv.core.models import ServiceStatus
from devenv.errors import ExitCode


def follow(args: argparse.Namespace, out: Output, stack: Any) -> int:
    from devenv.core.monitor import StackMonitor

    monitor = StackMonitor.for_stack(stack, args.services or None)
    events = monitor.events()  # before start: the "initial" statuses come through it too
    monitor.start()
    if not args.json:
        out.info(out.dim(f"following project {stack.name}, profile {stack.profile.name} (Ctrl-C to stop)"))
    try:
        for event in events:
            for line in render_json(event) if args.json else render_text(event, out):
                out.write_out(line + "\n")
            if out.stdout_closed:  # the reader went away (`| head`): done, not failed
                return int(ExitCode.OK)
    except KeyboardInterrupt:
        return int(ExitCode.INTERRUPTED)  # main() turns it into 143 after SIGTERM
    finally:
        monitor.close()
    return int(ExitCode.OK)


def service_json(s: ServiceStatus) -> dict[str, Any]:
    """The service entry of ``status --json``."""
    return {**s.to_json(), "uptime_seconds": round(time.time() - s.started_at, 1) if s.started_at else None}


def render_json(event: Event) -> list[str]:
    """The NDJSON lines of one monitor event (none for events the CLI does not show)."""
    head: dict[str, Any] = {"time": round(event.time, 6)}
    docs: list[dict[str, Any]] = []
    if isinstance(event, MonitorSynced) and event.reason == "initial":
        docs = [{**head, "event": "initial", **service_json(s)} for s in event.statuses]
    elif isinstance(event, StatusChanged):
        old = event.old
        previous = {"state": old.state, "health": old.health.value, "ready": old.ready} if old else None
        docs = [
            {
                **head,
                "event": "changed",
                **service_json(event.new),
                "cause": event.cause,
                "previous": previous,
                "restart_count": event.restart_count,
                "health_output": event.health_output,
                "engine_time": event.engine_time,
            }
        ]
    elif isinstance(event, EngineUnreachable):
        docs = [{**head, "event": "engine_unreachable", "error": event.error, "retry_in": event.retry_in}]
    elif isinstance(event, EngineReconnected):
        docs = [{**head, "event": "reconnected", "down_for": event.down_for, "attempts": event.attempts}]
    return [json.dumps(d, separators=(",", ":"), default=str) for d in docs]


def _clock(t: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(t)) + f".{int(t * 1000) % 1000:03d}"


def _state(s: ServiceStatus) -> str:
    state = s.state + (f" ({s.exit_code})" if s.exit_code not in (None, 0) else "")
    return state + (f", {s.health.value}" if s.health.value != "none" else "")


def render_text(event: Event, out: Output) -> list[str]:
    """The text lines of one monitor event."""
    clock = out.dim(_clock(event.time))
    if isinstance(event, MonitorSynced) and event.reason == "initial":
        width = max([12, *(len(s.service) for s in event.statuses)])
        return [
            f"{clock} {_paint(out, s)(s.service.ljust(width))} {_state(s)}  {out.dim(s.detail)}" for s in event.statuses
        ]
    if isinstance(event, StatusChanged):
        s, old = event.new, event.old
        was = f"{_state(old)} -> " if old is not None else ""
        extra = [f"restarts: {event.restart_count}"] if event.restart_count else []
        if s.health.value == "unhealthy" and event.health_output:
            extra.append(f"health output: {event.health_output.splitlines()[-1][:120]}")
        tail = out.dim(f"[{event.cause}] {s.detail}" + "".join(f"; {e}" for e in extra))
        return [f"{clock} {_paint(out, s)(s.service)}: {was}{_state(s)}  {tail}"]
    if isinstance(event, EngineUnreachable):
        return [f"{clock} {out.red('engine unreachable')}: {event.error} (retrying in {event.retry_in:g}s)"]
    if isinstance(event, EngineReconnected):
        return [f"{clock} {out.green('reconnected')} after {event.down_for:.1f}s; statuses resynchronised"]
    return []


def _paint(out: Output, s: ServiceStatus) -> Any:
    if s.ready:
        return out.green
    return out.dim if s.state in ("missing", "unknown") else out.red
