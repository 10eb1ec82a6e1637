"""The app's view keys: tabs, the logs view's keys, help, the palette's commands, the external panels.

Mixed into :class:`devenv.tui.app.DevenvApp`, which provides the widgets.
"""

from __future__ import annotations

from typing import Any

from textual import work
from textual.app import SystemCommand
from textual.containers import Vertical
from textual.widgets import Static, TabbedContent, TabPane
from textual.widgets._tabbed_content import ContentTab

from devenv.errors import DevenvError
from devenv.tui.settings import KEY_HELP
from devenv.tui.widgets.config_panel import ConfigPanel
from devenv.tui.widgets.details import DetailsPanel, describe
from devenv.tui.widgets.events_panel import EventsPanel
from devenv.tui.widgets.services import ServicesPanel

__all__ = ["EXTERNAL_PANELS", "SHORT_TABS", "TABS", "ViewsMixin"]

TABS = {
    "logs": "tab-logs",
    "details": "tab-details",
    "config": "tab-config",
    "events": "tab-events",
    "database": "tab-database",
    "migrations": "tab-migrations",
    "debugger": "tab-debugger",
}
# The tab labels at narrow widths (80 columns leave the tabs about 44). A tab missing here is cut
# to its first letters; when even the short labels do not fit, the tab bar scrolls (Textual keeps
# the active tab in view) and the view keys reach every tab anyway.
SHORT_TABS = {
    "tab-logs": "Logs",
    "tab-details": "Info",
    "tab-config": "Cfg",
    "tab-events": "Hist",
    "tab-database": "DB",
    "tab-migrations": "Migr",
    "tab-debugger": "Dbg",
}
EXTERNAL_PANELS = {
    "tab-database": "devenv.tui.widgets.db_panel",
    "tab-migrations": "devenv.tui.widgets.migrations_panel",
}


class ViewsMixin:
    """Every method reaches the app through ``self._ui``: the mixin declares nothing the App has."""

    @property
    def _ui(self) -> Any:
        return self

    def mount_external_panels(self) -> None:
        """The Database and Migrations panels (their own modules), mounted when their tab is first shown.

        Called when the core connects (and again after a profile switch): a panel's module, its
        widgets and its first reads cost nothing until the user opens it.
        """
        pending: set[str] = self._ui.__dict__.setdefault("_pending_panels", set())
        pending.update(EXTERNAL_PANELS)
        self.mount_pending_panel()

    def mount_pending_panel(self, pane_id: str | None = None) -> None:
        """Mount the external panel of ``pane_id`` (default: the active tab) if it is still pending."""
        pane_id = pane_id or self._ui.query_one(TabbedContent).active
        if pane_id == TABS["debugger"]:
            self._mount_debug_now()
            return
        pending: set[str] = self._ui.__dict__.setdefault("_pending_panels", set())
        if pane_id not in pending:
            return
        pending.discard(pane_id)
        import importlib

        from textual.widget import Widget

        module_name = EXTERNAL_PANELS[pane_id]
        slot = self._ui.query_one(f"#{pane_id.removeprefix('tab-')}-slot", Vertical)
        slot.remove_children()
        title = pane_id.removeprefix("tab-").capitalize()
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            slot.mount(Static(f"The {title} panel is not available in this build."))
            return
        classes = [
            c
            for c in vars(module).values()
            if isinstance(c, type) and issubclass(c, Widget) and c.__module__ == module.__name__
        ]
        panel: Any = getattr(module, "PANEL", None) or next((c for c in classes if c.__name__.endswith("Panel")), None)
        stack = getattr(self._ui.core, "stack", None)
        if panel is None or stack is None:
            slot.mount(Static(f"The {title} panel is not available here."))
            return
        try:
            widget = panel(stack, confirm=self._ui.confirm)  # the panels' constructor: (stack, *, confirm)
        except Exception as exc:
            slot.mount(Static(f"The {title} panel could not open: {exc}", markup=False))
            return
        slot.mount(widget)

    def apply_theme(self, name: str) -> str | None:
        """The user's ``[tui] theme``; an unknown name is ignored: the problem (with a did-you-mean)."""
        themes = sorted(self._ui.available_themes)
        if name in themes:
            self._ui.theme = name
            return None
        import difflib

        close = difflib.get_close_matches(name, themes, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else f"; themes: {', '.join(themes)}"
        return f"unknown theme tui.theme = {name!r}{hint}"

    def fit_tabs(self) -> None:
        """Full tab labels when they fit the tab bar, the short ones (``SHORT_TABS``) otherwise."""
        tabbed = self._ui.query_one(TabbedContent)
        width = tabbed.size.width
        if not width:
            return
        tabs = [tabbed.get_tab(pane) for pane in tabbed.query(TabPane)]
        full: dict[str, str] = self._ui.__dict__.setdefault("_full_tab_labels", {})
        for tab in tabs:
            full.setdefault(tab.id or "", tab.label_text)
        narrow = sum(len(full[tab.id or ""]) + 2 for tab in tabs) > width
        for tab in tabs:
            pane = (tab.id or "").removeprefix(ContentTab._PREFIX)
            label = full[tab.id or ""]
            wanted = (SHORT_TABS.get(pane) or label[:4]) if narrow else label
            if tab.label_text != wanted:
                tab.label = wanted

    def mount_debug_panel(self) -> None:
        """The debugger panel, on the app's core (it attaches through ``core.debug_target``),
        mounted when its tab is first shown, like the Database and Migrations panels: at connect,
        its module and widgets cost the frame in which the rows appear (40 ms under a profiler)."""
        slot = self._ui.query_one("#debugger-slot", Vertical)
        slot.remove_children()  # a profile switch: the old panel detaches its sessions now, not on the next view
        self._ui.__dict__["_debug_pending"] = True
        if self._ui.query_one(TabbedContent).active == TABS["debugger"]:
            self._mount_debug_now()

    def _mount_debug_now(self) -> None:
        if not self._ui.__dict__.pop("_debug_pending", False):
            return
        from devenv.tui.widgets.debug_panel import DebugPanel

        slot = self._ui.query_one("#debugger-slot", Vertical)
        slot.remove_children()
        panel = DebugPanel(self._ui.core, classes="follows-selection")
        slot.mount(panel)
        panel.select(self._ui.selected)

    def follow_selection(self, service: str | None) -> None:
        """Panels that act on the selected service (the debugger) learn of a new selection."""
        for panel in self._ui.query(".follows-selection"):
            panel.select(service)

    # -- keys --------------------------------------------------------------------------------
    def _tab_to(self, name: str) -> None:
        self._ui.query_one(TabbedContent).active = TABS[name]

    def action_logs(self) -> None:
        self._tab_to("logs")

    def action_details(self) -> None:
        self._tab_to("details")

    def action_config(self) -> None:
        self._tab_to("config")

    def action_events(self) -> None:
        self._tab_to("events")

    def action_database(self) -> None:
        self.mount_pending_panel(TABS["database"])
        self._tab_to("database")
        self._ui.call_after_refresh(self._focus_panel, "database")

    def action_migrations(self) -> None:
        self.mount_pending_panel(TABS["migrations"])
        self._tab_to("migrations")
        self._ui.call_after_refresh(self._focus_panel, "migrations")

    def _focus_panel(self, name: str, again: bool = True) -> None:
        """Into the panel, so that its own keys (snapshot, reset, upgrade...) answer at once."""
        for widget in self._ui.query_one(f"#{name}-slot", Vertical).query("*"):
            if widget.focusable:
                widget.focus()
                return
        if again:  # mounted just now: its widgets arrive with the next refresh
            self._ui.call_after_refresh(self._focus_panel, name, False)

    def action_debugger(self) -> None:
        self.mount_pending_panel(TABS["debugger"])
        self._tab_to("debugger")
        self._ui.call_after_refresh(self._focus_panel, "debugger")

    def _logs_prompt(self, mode: str) -> None:
        self._tab_to("logs")
        self._ui.logs.prompt(mode)

    def action_filter_services(self) -> None:
        self._logs_prompt("search")

    def action_log_filter(self) -> None:
        self._logs_prompt("filter")

    def action_export(self) -> None:
        self._logs_prompt("export")

    def action_next_match(self) -> None:
        self._tab_to("logs")
        self._ui.logs.next_match(True)

    def action_prev_match(self) -> None:
        self._tab_to("logs")
        self._ui.logs.next_match(False)

    def action_follow(self) -> None:
        self._tab_to("logs")
        self._ui.logs.toggle_follow()

    def action_timestamps(self) -> None:
        self._tab_to("logs")
        self._ui.logs.toggle_timestamps()

    def action_all_services(self) -> None:
        if self._ui.query_one(TabbedContent).active == TABS["events"]:
            self._ui.query_one(EventsPanel).toggle_all()
            return
        self._tab_to("logs")
        self._ui.logs.toggle_all()

    def action_filter_table(self) -> None:
        self._ui.query_one(ServicesPanel).start_filter()

    def action_sort(self) -> None:
        self._ui.notify(f"services sorted by {self._ui.table.cycle_sort()}")

    def action_help(self) -> None:
        from devenv.tui.screens.help import HelpScreen
        from devenv.tui.settings import DEFAULT_KEYS, config_path

        self._ui.push_screen(HelpScreen({**DEFAULT_KEYS, **self._ui.settings.keys}, str(config_path())))

    def palette_commands(self) -> Any:
        """One command palette entry per action (with its key)."""
        for action, (key, text) in KEY_HELP.items():
            if action in ("palette", "cancel"):
                continue
            method = getattr(self._ui, f"action_{action.replace('quit', 'quit_app')}")
            shown = self._ui.settings.keys.get(action, key)
            yield SystemCommand(
                text.split(" (")[0].capitalize(), f"key: {'!' if shown == 'exclamation_mark' else shown}", method
            )
        yield SystemCommand("Cancel the running action", "escape", self._ui.cancel_action)

    # -- the Details and Config views' reads (thread workers)
    @work(thread=True, exclusive=True, group="details", exit_on_error=False)
    def load_details(self, service: str) -> None:
        core = self._ui.core
        if core is None:
            return
        try:
            content: Any = describe(service, core.inspect(service), self._ui.failures.get(service))
        except Exception as exc:
            content = f"could not inspect {service}: {exc}"
        self._ui.call_from_thread(self._ui.query_one(DetailsPanel).show, content)

    @work(thread=True, exclusive=True, group="config", exit_on_error=False)
    def load_config(self, service: str | None) -> None:
        core = self._ui.core
        if core is None:
            return
        try:
            text = core.config_text(service)
        except DevenvError as exc:
            text = f"{exc.message}\n{exc.hint or ''}"
        except Exception as exc:
            text = f"could not read the config: {exc}"
        self._ui.call_from_thread(self._ui.query_one(ConfigPanel).show, text)
