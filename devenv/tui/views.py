"""The app's view keys: tabs, the logs view's keys, help, the palette's commands, the external panels.

Mixed into :class:`devenv.tui.app.DevenvApp`, which provides the widgets.
"""

from __future__ import annotations

from typing import Any

from textual.app import SystemCommand
from textual.containers import Vertical
from textual.widgets import Static, TabbedContent

from devenv.tui.settings import KEY_HELP
from devenv.tui.widgets.events_panel import EventsPanel
from devenv.tui.widgets.services import ServicesPanel

__all__ = ["EXTERNAL_PANELS", "TABS", "ViewsMixin"]

TABS = {
    "logs": "tab-logs",
    "details": "tab-details",
    "config": "tab-config",
    "events": "tab-events",
    "database": "tab-database",
    "migrations": "tab-migrations",
    "debugger": "tab-debugger",
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
        """The Database and Migrations panels (their own modules), when they exist."""
        import importlib

        from textual.widget import Widget

        for pane_id, module_name in EXTERNAL_PANELS.items():
            slot = self._ui.query_one(f"#{pane_id.removeprefix('tab-')}-slot", Vertical)
            slot.remove_children()
            title = pane_id.removeprefix("tab-").capitalize()
            try:
                module = importlib.import_module(module_name)
            except ImportError:
                slot.mount(Static(f"The {title} panel is not available in this build."))
                continue
            classes = [
                c
                for c in vars(module).values()
                if isinstance(c, type) and issubclass(c, Widget) and c.__module__ == module.__name__
            ]
            panel: Any = getattr(module, "PANEL", None) or next(
                (c for c in classes if c.__name__.endswith("Panel")), None
            )
            stack = getattr(self._ui.core, "stack", None)
            if panel is None or stack is None:
                slot.mount(Static(f"The {title} panel is not available here."))
                continue
            try:
                widget = panel(stack, confirm=self._ui.confirm)  # the panels' constructor: (stack, *, confirm)
            except Exception as exc:
                slot.mount(Static(f"The {title} panel could not open: {exc}", markup=False))
                continue
            slot.mount(widget)

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
        self._tab_to("database")
        self._ui.call_after_refresh(self._focus_panel, "database")

    def action_migrations(self) -> None:
        self._tab_to("migrations")
        self._ui.call_after_refresh(self._focus_panel, "migrations")

    def _focus_panel(self, name: str) -> None:
        """Into the panel, so that its own keys (snapshot, reset, upgrade...) answer at once."""
        for widget in self._ui.query_one(f"#{name}-slot", Vertical).query("*"):
            if widget.focusable:
                widget.focus()
                return

    def action_debugger(self) -> None:
        self._tab_to("debugger")

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
            yield SystemCommand(
                text.split(" (")[0].capitalize(), f"key: {self._ui.settings.keys.get(action, key)}", method
            )
        yield SystemCommand("Cancel the running action", "escape", self._ui.cancel_action)
