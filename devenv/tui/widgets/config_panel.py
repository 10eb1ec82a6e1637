"""The Config view: the merged compose config of the profile, secrets masked, the selected service first."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

__all__ = ["ConfigPanel"]


class ConfigPanel(VerticalScroll):
    DEFAULT_CSS = """
    ConfigPanel > Static {
        padding: 0 1;
    }
    """

    def compose(self) -> ComposeResult:
        yield Static("loading the merged config…", id="config-body", markup=False)

    def show(self, text: str) -> None:
        self.query_one("#config-body", Static).update(text)
        self.scroll_home(animate=False)
