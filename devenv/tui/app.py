"""The devenv TUI: services on the left, one wide view on the right, state in the header, keys in the footer.

:func:`create_app` builds the app on a core (:class:`devenv.tui.core.RealCore`, or a fake in tests).
The first thing the app does is connect the stack monitor in a thread worker: its initial sync (one
list + inspect) fills the table; then the logs follower, the compose model (dependency order) and
the rest. Core events reach widgets as messages (``post_message`` from the core's threads); every
action runs in a thread worker with a :class:`~devenv.core.cancel.CancelToken` (see
:mod:`devenv.tui.actions`).
"""

from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path
from typing import Any, ClassVar

from textual import events, on, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.driver import Driver
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Input, Static, TabbedContent, TabPane

from devenv.core.events import (
    ContainerStats,
    EngineReconnected,
    EngineUnreachable,
    Event,
    LogNotice,
    MonitorSynced,
    StatusChanged,
)
from devenv.core.models import ServiceStatus
from devenv.errors import DevenvError
from devenv.tui.actions import ActionsMixin
from devenv.tui.core import RealDoctor, TuiCore, drain, load_core
from devenv.tui.doctor import DoctorMixin
from devenv.tui.logbuffer import settle_gc
from devenv.tui.settings import FOOTER, KEY_HELP, Settings, load_settings
from devenv.tui.views import TABS, ViewsMixin
from devenv.tui.watching import WatchMixin
from devenv.tui.widgets.config_panel import ConfigPanel
from devenv.tui.widgets.details import DetailsPanel
from devenv.tui.widgets.events_panel import EventsPanel, Happening, describe_change
from devenv.tui.widgets.header import StatusHeader, overall_state
from devenv.tui.widgets.logs import LogsPanel
from devenv.tui.widgets.services import ServicesPanel, ServicesTable

__all__ = ["DevenvApp", "create_app"]


LOG_BATCH = 2000  # log lines per message at most: a key waits behind one batch (a few ms) at most


def _bindings() -> list[BindingType]:
    out: list[BindingType] = []
    for action, (key, text) in KEY_HELP.items():
        if action == "palette":
            continue  # Textual's own ctrl+p binding (App.COMMAND_PALETTE_BINDING)
        short = FOOTER.get(action) or text.split(":")[0].split(" (")[0]
        out.append(Binding(key, action.replace("quit", "quit_app"), short, show=action in FOOTER, id=action))
    out += [Binding("ctrl+f", "filter_table", "filter services", show=False), Binding("o", "sort", "sort", show=False)]
    return out


class _Tabs(TabbedContent):
    def on_resize(self) -> None:  # its own width (not the terminal's) decides full or short tab labels
        self.app.call_after_refresh(self.app.fit_tabs)  # type: ignore[attr-defined]


class CoreEvent(Message):
    """An event from the stack monitor (posted from its thread)."""

    def __init__(self, event: Event) -> None:
        super().__init__()
        self.event = event


class Connected(Message):
    """The monitor is connected (its initial sync follows as a CoreEvent)."""


class ConnectFailed(Message):
    def __init__(self, error: DevenvError) -> None:
        super().__init__()
        self.error = error


class LogBatch(Message):
    """Log lines and notices read since the last batch; ``ack`` lets the reader send the next one."""

    def __init__(self, items: list[Any], ack: threading.Event) -> None:
        super().__init__()
        self.items = items
        self.ack = ack


class DevenvApp(DoctorMixin, ActionsMixin, ViewsMixin, WatchMixin, App[None]):
    CSS_PATH = "devenv.tcss"
    TITLE = "devenv"
    BINDINGS: ClassVar[list[BindingType]] = _bindings()

    def __init__(
        self,
        core: TuiCore | None,
        *,
        error: DevenvError | None = None,
        settings: Settings | None = None,
        preview: list[ServiceStatus] | None = None,
    ):
        super().__init__()
        self.preview = preview
        self.core = core
        self.settings = settings or Settings()
        self.open_error = error
        self.error_text: str | None = None
        self.connected = False
        self.engine_lost = False  # between EngineUnreachable and EngineReconnected
        self.synced = False
        self.first_rows_at: float | None = None
        self._generation = 0
        self._follower: Any = None
        self._stats_wanted: tuple[str, ...] = ()
        self._stats_lock = threading.Lock()
        self._stopping = threading.Event()
        self._endpoint = "-"
        self.init_actions()
        self.theme_problem = self.apply_theme(self.settings.theme) if self.settings.theme else None

    # -- layout --------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield StatusHeader(id="header")
        yield Static(id="banner")
        with Horizontal(id="main"):
            yield ServicesPanel(id="services-panel")
            with _Tabs(id="tabs", initial=TABS["logs"]):
                with TabPane("Logs", id=TABS["logs"]):
                    yield LogsPanel(self.settings.log_lines, root=self.core.root if self.core else None, id="logs")
                with TabPane("Details", id=TABS["details"]):
                    yield DetailsPanel(id="details")
                with TabPane("Config", id=TABS["config"]):
                    yield ConfigPanel(id="config")
                with TabPane("Events", id=TABS["events"]):
                    yield EventsPanel(id="events")
                with TabPane("Database", id=TABS["database"]):
                    yield Vertical(id="database-slot")
                with TabPane("Migrations", id=TABS["migrations"]):
                    yield Vertical(id="migrations-slot")
                with TabPane("Debugger", id=TABS["debugger"]):
                    yield Vertical(id="debugger-slot")
        yield Footer()

    @property
    def table(self) -> ServicesTable:
        return self.query_one(ServicesTable)

    @property
    def logs(self) -> LogsPanel:
        return self.query_one(LogsPanel)

    @property
    def selected(self) -> str | None:
        try:
            return self.table.selected
        except NoMatches:  # the screen is gone (the app is closing)
            return None

    def get_driver_class(self) -> type[Driver]:
        """Textual's driver, with an input thread that sleeps while nothing is typed (devenv.tui.driver)."""
        from devenv.tui.driver import driver_class

        chosen: type[Driver] = driver_class(super().get_driver_class())
        return chosen

    def on_mount(self) -> None:
        if self.settings.keys:
            self.set_keymap(self.settings.keys)
        for problem in (*self.settings.problems, *filter(None, [self.theme_problem])):
            self.notify(problem, severity="warning", timeout=10)
        self.table.compact = self.size.width < 110
        if self.preview:  # read before Textual loaded: rows in the very first frame
            self.table.set_statuses(self.preview)
            self.logs.set_services(s.service for s in self.preview)
            self.first_rows_at = time.monotonic()
            self.synced = True
        else:
            self.table.rebuild()
        self.table.focus()
        self.call_after_refresh(settle_gc)
        self.set_interval(5, self.table.refresh_uptimes)
        self.refresh_header()
        self.check_on_open()  # the doctor panel opens when the project has errors
        if self.core is None:
            self.show_error(self.open_error or DevenvError("No project."))
            return
        self.call_after_refresh(self.start_core)  # the first frame first: docker-py loads in the worker

    def on_resize(self, event: events.Resize) -> None:
        compact = event.size.width < 110  # the event's: App.size may still be the old one here
        if compact != self.table.compact:
            self.table.compact = compact
            self.table.rebuild()

    def start_core(self) -> None:
        self._generation += 1
        self.connect_core(self._generation)

    def retarget(self, core: TuiCore) -> None:
        """Follow another profile's view of the project (the profile switcher)."""
        old, self.core = self.core, core
        if self._follower is not None:
            self._follower.close()
            self._follower = None
        if old is not None:
            old.close()
        self.connected = self.synced = False
        self.failures.clear()
        self.table.set_statuses([])
        self.logs.notice(f"view switched to profile {core.profile_name}")
        self.start_core()
        self.refresh_header()

    # -- the header and the banner ---------------------------------------------------------------
    def refresh_header(self) -> None:
        core = self.core
        statuses = self.table.statuses.values()
        state, level = overall_state(statuses, connected=not self.engine_lost, error=self.error_text)
        if core is not None and not self.synced and self.error_text is None:
            state, level = "connecting…", "warning"
        running = None
        if core is not None and self.synced:
            running = core.running_profile()
        self.query_one(StatusHeader).show(
            project=core.project_name if core else "(no project)",
            profile=core.profile_name if core else "-",
            protected=bool(core and core.protected),
            running=running,
            endpoint=self._endpoint,
            state=state,
            level=level,
            busy=self.busy_label(),
        )

    def show_error(self, error: DevenvError) -> None:
        """The CLI's message and fix, on screen (the app keeps running)."""
        banner = self.query_one("#banner", Static)
        banner.update(f"[b]{error.message}[/b]" + (f"\n{error.hint}" if error.hint else ""))
        banner.add_class("shown")
        self.error_text = error.message.split(":")[0].split(". ")[0][:60]
        self.refresh_header()

    def clear_error(self) -> None:
        self.query_one("#banner", Static).remove_class("shown")
        self.error_text = None
        self.refresh_header()

    # -- connecting ------------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="connect", exit_on_error=False)
    def connect_core(self, generation: int) -> None:
        core = self.core
        assert core is not None
        delay = 1.0
        try:  # the quick read first: rows on screen before docker-py has even loaded
            preview = [] if self.preview else core.preview()
            if preview and generation == self._generation:
                self.post_message(CoreEvent(MonitorSynced(tuple(preview), "preview")))
        except Exception:  # the monitor's connect below reports what is wrong
            pass
        with contextlib.suppress(Exception):  # named even while that engine cannot be reached
            self._endpoint = core.endpoint()
        while True:
            try:
                core.connect(lambda ev: self._from_monitor(generation, ev))
                self._endpoint = core.endpoint()
                self.post_message(Connected())
                break
            except DevenvError as exc:
                self.post_message(ConnectFailed(exc))
            except Exception as exc:  # an unexpected engine error: shown, retried
                self.post_message(ConnectFailed(DevenvError(f"{type(exc).__name__}: {exc}")))
            if self._stopping.wait(delay) or generation != self._generation:
                return
            delay = min(delay * 2, 10.0)
        self.follow_logs(generation)
        try:
            order = core.dependency_order()
        except DevenvError as exc:  # Compose v2 missing, an invalid compose file: the CLI's message
            self.post_message(ConnectFailed(exc))
            return
        except Exception:
            return
        self.call_from_thread(self.table.set_order, order)

    def _from_monitor(self, generation: int, event: Event) -> None:
        if generation == self._generation:
            self.post_message(CoreEvent(event))

    def on_connected(self, _message: Connected) -> None:
        self.connected = True
        if self.core is not None:  # links name the engine's host when it runs elsewhere
            self.table.reach = self.core.published_host
        self.clear_error()
        self.mount_external_panels()  # after connect: the stack may follow the running profile
        self.mount_debug_panel()
        self.update_stats()  # rows may have come into view before the connection

    def on_connect_failed(self, message: ConnectFailed) -> None:
        self.show_error(message.error)

    def on_core_event(self, message: CoreEvent) -> None:
        if self._stopping.is_set():
            return
        ev = message.event
        try:
            table = self.table
        except NoMatches:  # the screen is already gone: the app is closing
            return
        if isinstance(ev, MonitorSynced):
            table.set_statuses(ev.statuses)
            self.logs.set_services(s.service for s in ev.statuses)
            if self.first_rows_at is None:
                self.first_rows_at = time.monotonic()
            self.synced = True
            self.connected = self.connected or ev.reason != "preview"
        elif isinstance(ev, StatusChanged):
            table.update_status(ev.new)
            happening = describe_change(ev)
            if happening is not None:
                if happening.severity == "error" and ev.service in self.acting_on():  # a stop, not a crash
                    happening = Happening(happening.when, happening.service, happening.what + " (stopped by devenv)")
                self.query_one(EventsPanel).add(happening)
                if happening.severity == "error":
                    self.notify(f"{happening.service}: {happening.what}", severity="error", timeout=8)
            if ev.service == self.selected and self.query_one(TabbedContent).active == TABS["details"]:
                self.load_details(ev.service)
        elif isinstance(ev, ContainerStats):
            table.set_stats(ev)
            return
        elif isinstance(ev, EngineUnreachable):
            self.engine_lost = True
            self.query_one(EventsPanel).add(Happening(ev.time, "", f"engine unreachable: {ev.error}", "error"))
            self.notify(f"engine unreachable: {ev.error}; reconnecting", severity="error")
        elif isinstance(ev, EngineReconnected):
            self.engine_lost = False
            self.query_one(EventsPanel).add(Happening(ev.time, "", f"engine back after {ev.down_for:.1f}s"))
            self.notify(f"engine back after {ev.down_for:.1f}s")
        self.refresh_header()

    # -- logs ------------------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="logs", exit_on_error=False)
    def follow_logs(self, generation: int) -> None:
        core = self.core
        if core is None:
            return
        try:
            follower = core.follow_logs(tail=200)
        except Exception as exc:
            self.post_message(LogBatch([LogNotice(f"logs unavailable: {exc}")], threading.Event()))
            return
        self._follower = follower
        ack = threading.Event()
        ack.set()
        pending: list[Any] = []
        started = time.monotonic()
        merged = False
        # Read at each wait (late binding wanted): nothing held, so wait for the next line as long as it takes.
        for batch in drain(follower, 0.05, 5000, idle=lambda: merged and not pending):  # noqa: B023
            if batch is None or generation != self._generation or self._stopping.is_set():
                break
            pending.extend(batch)
            if not merged:  # the recent lines arrive container by container: show them merged in time order
                if time.monotonic() - started < 0.25:
                    continue
                pending.sort(key=lambda i: getattr(i, "timestamp", "") or "")
                merged = True
            # Back-pressure: one batch in flight, at most LOG_BATCH lines each (a key waits behind one
            # batch at most); while the app is behind, the follower's own bounded queue fills.
            while pending and (ack.is_set() or len(pending) >= LOG_BATCH):
                ack.wait()
                ack = threading.Event()
                self.post_message(LogBatch(pending[:LOG_BATCH], ack))
                del pending[:LOG_BATCH]
        follower.close()

    def on_log_batch(self, message: LogBatch) -> None:
        try:
            if self._stopping.is_set():
                return
            lines = [i for i in message.items if not isinstance(i, LogNotice)]
            if lines:
                self.logs.add(lines)
            for notice in (i for i in message.items if isinstance(i, LogNotice)):
                self.logs.notice(notice.text)
        finally:
            message.ack.set()

    # -- selection and the right side ----------------------------------------------------------
    @on(ServicesTable.Selected)
    def _selected(self, message: ServicesTable.Selected) -> None:
        tables = self.query(ServicesTable)  # none while the app closes
        if self._stopping.is_set() or not tables or not self.is_mounted(tables.first()):
            return
        self.logs.select(message.service)
        self.query_one(EventsPanel).select(message.service)
        self.follow_selection(message.service)
        self._load_active(message.service)

    @on(TabbedContent.TabActivated)
    def _tab(self, _message: TabbedContent.TabActivated) -> None:
        self.mount_pending_panel()
        self._load_active(self.selected)

    def _load_active(self, service: str | None) -> None:
        active = self.query_one(TabbedContent).active
        if active == TABS["details"] and service:
            self.load_details(service)
        elif active == TABS["config"]:
            self.load_config(service)

    @on(ServicesTable.VisibleChanged)
    def _visible(self, message: ServicesTable.VisibleChanged) -> None:
        self._stats_wanted = message.services
        self.update_stats()

    @work(thread=True, group="stats", exit_on_error=False)
    def update_stats(self) -> None:
        """Ask the core for the figures of the rows in view. Workers run in turn and each applies what
        is wanted when its turn comes: two changes in quick succession cannot end in the older one
        (a stop overtaken by the watch it followed left streams open for rows out of view)."""
        with self._stats_lock:
            core = self.core
            if core is None or not self.connected:
                return
            services = self._stats_wanted
            if services:
                core.watch_stats(services)
            else:
                core.stop_stats()

    def action_cancel(self) -> None:
        focused = self.focused
        if isinstance(focused, Input):
            if self.logs.prompt_mode:
                self.logs.close_prompt()
            else:
                self.query_one(ServicesPanel).key_escape()
            return
        self.cancel_action()

    async def action_quit_app(self) -> None:
        """Quit: the stack keeps running (nothing is stopped)."""
        self.exit()

    def on_unmount(self) -> None:
        """Close what reads from the engine (monitor, log streams); containers are left as they are."""
        self._stopping.set()
        self.stop_watching()
        if self._token is not None:
            self._token.cancel("the TUI quit")
        if self._follower is not None:
            self._follower.close()
        if self.core is not None:
            self.core.close()

    def get_system_commands(self, screen: Screen[Any]) -> Any:
        yield from super().get_system_commands(screen)
        yield from self.palette_commands()


def create_app(
    project_dir: Path | None = None,
    profile: str | None = None,
    *,
    core: TuiCore | None = None,
    preview: list[ServiceStatus] | None = None,
) -> DevenvApp:
    """The app on ``core``, or on the project found from ``project_dir`` (an error is shown in the app).

    ``preview``: statuses already read (``core.preview()``), shown in the first frame.
    """
    settings = load_settings()
    if core is not None:
        return DevenvApp(core, settings=settings, preview=preview)
    try:
        return DevenvApp(load_core(project_dir, profile), settings=settings)
    except DevenvError as exc:
        app = DevenvApp(None, error=exc, settings=settings)
        app._doctor_fallback = RealDoctor(project_dir, profile)  # what is broken, and how to fix it
        return app
