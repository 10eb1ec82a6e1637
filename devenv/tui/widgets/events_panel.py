"""The Events view: what happened to each service since the app opened, timestamped.

Created, started, died (with the exit code), health flips (with the check's output), restarts,
OOM kills, the engine going away and coming back. The selected service only, or all (``a``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Log, Static

from devenv.core.events import StatusChanged

__all__ = ["EventsPanel", "Happening", "describe_change"]


@dataclass(frozen=True)
class Happening:
    when: float
    service: str  # "" for the engine
    what: str
    severity: str = "information"  # "information" | "warning" | "error"


def describe_change(ev: StatusChanged) -> Happening | None:
    """What a monitor change means to a user, or None when it is not worth a line."""
    new, old = ev.new, ev.old
    when = ev.engine_time or ev.time
    cause = ev.cause
    if cause == "engine unreachable":
        return None
    oom = any(c.oom_killed for c in new.containers) and not (old and any(c.oom_killed for c in old.containers))
    if oom:
        return Happening(when, ev.service, f"OOM-killed (exit {new.exit_code})", "error")
    if cause == "die" or (new.state == "exited" and (old is None or old.state != "exited")):
        code = new.exit_code
        bad = code not in (0, None)
        return Happening(when, ev.service, f"died, exit code {code}", "error" if bad else "information")
    if cause.startswith("health_status"):
        flip = new.health.value
        out = (ev.health_output or "").strip().splitlines()
        detail = f": {out[-1][:200]}" if out and flip != "healthy" else ""
        return Happening(when, ev.service, f"health {flip}{detail}", "error" if flip == "unhealthy" else "information")
    if cause == "start":
        restarted = old is not None and ev.restart_count > sum(c.restart_count for c in old.containers)
        return Happening(when, ev.service, "restarted by its policy" if restarted else "started", "information")
    if cause in ("create", "destroy", "stop", "kill", "pause", "unpause", "restart", "resync"):
        return Happening(when, ev.service, f"{cause}: {new.state}", "information")
    return Happening(when, ev.service, f"{cause}: {new.state}", "information")


class EventsPanel(Vertical):
    DEFAULT_CSS = """
    EventsPanel > #events-status {
        height: 1;
        background: $boost;
        padding: 0 1;
    }
    """

    def __init__(self, **kwargs: str) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.history: list[Happening] = []
        self.service: str | None = None
        self.all_services = True

    def compose(self) -> ComposeResult:
        yield Static("all services", id="events-status")
        yield Log(id="events-log", max_lines=10_000)

    @staticmethod
    def line(h: Happening) -> str:
        stamp = time.strftime("%H:%M:%S", time.localtime(h.when))
        return f"{stamp}  {(h.service or 'engine').ljust(12)} {h.what}"

    def add(self, h: Happening) -> None:
        self.history.append(h)
        if self.all_services or h.service in (self.service, ""):
            self.query_one(Log).write_line(self.line(h))
            self._count()

    def select(self, service: str | None) -> None:
        self.service = service
        if not self.all_services:
            self.rerender()

    def toggle_all(self) -> None:
        self.all_services = not self.all_services
        self.rerender()

    def rerender(self) -> None:
        log = self.query_one(Log)
        log.clear()
        shown = [h for h in self.history if self.all_services or h.service in (self.service, "")]
        log.write_lines([self.line(h) for h in shown])
        self._count()

    def _count(self) -> None:
        shown = sum(1 for h in self.history if self.all_services or h.service in (self.service, ""))
        label = "all services" if self.all_services else (self.service or "no service selected")
        self.query_one("#events-status", Static).update(f"{label} · {shown} events since the app opened")
