"""Watching from the TUI: ``w`` (and the palette) turns ``develop.watch`` and live config on and off.

The watch is the CLI's own :class:`devenv.core.watch.Watcher` (through ``TuiCore.watch``), in a
thread worker of its own, beside the one-at-a-time actions; it follows containers with the app's
monitor. Each sync, rebuild, restart, config change and error is a line in the Events view as it
happens; errors and invalid config edits also raise a notification. Quitting stops it (the stack
keeps running).
"""

from __future__ import annotations

import time
from typing import Any

from textual import work
from textual.message import Message

from devenv.core.cancel import CancelToken
from devenv.core.events import Event
from devenv.core.watch import events as w
from devenv.tui.widgets.events_panel import EventsPanel, Happening

__all__ = ["WatchMixin", "describe_watch"]


class WatchEvent(Message):
    """An event of the running watch (posted from its worker thread)."""

    def __init__(self, event: Event) -> None:
        super().__init__()
        self.event = event


class WatchEnded(Message):
    def __init__(self, error: BaseException | None) -> None:
        super().__init__()
        self.error = error


def _files(paths: tuple[str, ...]) -> str:
    return ", ".join(paths[:2]) + (f" (+{len(paths) - 2})" if len(paths) > 2 else "")


def describe_watch(ev: Event) -> Happening | None:
    """A watch event as an Events-view line, or None for the core events it carries along."""
    when = ev.time
    if isinstance(ev, w.WatchStarted):
        return Happening(when, "", f"watching {', '.join(ev.services) or '(no develop.watch rules)'}")
    if isinstance(ev, w.WatchSynced):
        what = f"synced {len(ev.files)} file(s)" + (f", deleted {len(ev.deleted)}" if ev.deleted else "")
        extra = "" if ev.reason == "change" else f" ({ev.reason})"
        return Happening(
            when, ev.service, f"{what} in {ev.elapsed * 1000:.0f} ms{extra}: {_files(ev.files or ev.deleted)}"
        )
    if isinstance(ev, w.WatchRebuilt):
        bad = ev.outcome != "ready"
        return Happening(
            when,
            ", ".join(ev.services),
            f"rebuilt {ev.image}: {ev.outcome} in {ev.elapsed:.1f}s",
            "error" if bad else "information",
        )
    if isinstance(ev, w.WatchRestarted):
        return Happening(when, ", ".join(ev.services), f"restarted by watch: {ev.outcome}", "information")
    if isinstance(ev, w.WatchExec):
        return Happening(
            when,
            ev.service,
            f"`{' '.join(ev.command)}` exited {ev.exit_code}",
            "error" if ev.exit_code else "information",
        )
    if isinstance(ev, w.WatchConfigApplied):
        changed = ", ".join(ev.recreated + ev.started) or "no service changed"
        return Happening(when, "", f"config {', '.join(ev.files)}: {changed} ({ev.outcome})")
    if isinstance(ev, w.WatchConfigInvalid):
        where = ev.file + (f":{ev.line}" if ev.line else "")
        return Happening(when, "", f"config {where} invalid, stack left as it is: {ev.message}", "error")
    if isinstance(ev, w.WatchError):
        return Happening(when, ev.service, f"{ev.action} failed {ev.path}: {ev.message}".replace("  ", " "), "error")
    if isinstance(ev, w.WatchNotice):
        return Happening(when, ev.service, ev.text, "warning")
    if isinstance(ev, w.WatchStopped):
        return Happening(when, "", "watch stopped")
    return None


class WatchMixin:
    """Mixed into :class:`devenv.tui.app.DevenvApp`; ``action_watch`` is the ``watch`` key's action."""

    _watch_token: CancelToken | None = None

    def action_watch(self) -> None:
        app: Any = self
        if self._watch_token is not None:
            self._watch_token.cancel("turned off in the TUI")
            return
        core = app.core
        if core is None:
            app.notify("No project here: nothing to watch.", severity="error")
            return
        self._watch_token = CancelToken()
        app.notify("watch: on (w turns it off)")
        self._watch_worker(core, self._watch_token)

    @property
    def watching(self) -> bool:
        return self._watch_token is not None

    @work(thread=True, group="watch", exit_on_error=False)
    def _watch_worker(self, core: Any, token: CancelToken) -> None:
        app: Any = self
        try:
            core.watch(lambda ev: app.post_message(WatchEvent(ev)), token)
        except BaseException as exc:  # a setup problem, or Cancelled: reported, never raised in the app
            app.post_message(WatchEnded(exc))
            return
        app.post_message(WatchEnded(None))

    def on_watch_event(self, message: WatchEvent) -> None:
        app: Any = self
        happening = describe_watch(message.event)
        if happening is None:
            return
        app.query_one(EventsPanel).add(happening)
        if isinstance(message.event, w.WatchConfigApplied) and app.core is not None:
            app.core.forget_config()  # the Config view shows the config the stack now runs
            app._load_active(app.selected)
        if happening.severity == "error":
            app.notify(
                f"watch: {happening.service + ': ' if happening.service else ''}{happening.what}", severity="error"
            )

    def on_watch_ended(self, message: WatchEnded) -> None:
        app: Any = self
        self._watch_token = None
        error = message.error
        if error is None or isinstance(error, KeyboardInterrupt):
            app.notify("watch: off")
            return
        text = getattr(error, "message", None) or f"{type(error).__name__}: {error}"
        app.query_one(EventsPanel).add(Happening(time.time(), "", f"watch could not start: {text}", "error"))
        app.notify(f"watch: {text}", severity="error")

    def stop_watching(self) -> None:
        if self._watch_token is not None:
            self._watch_token.cancel("the TUI quit")
