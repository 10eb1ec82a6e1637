"""The help screen: every key (the user's own from ``[tui.keys]``) and what it does."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from devenv.tui.settings import KEY_HELP

__all__ = ["HelpScreen"]


def key_label(key: str) -> str:
    names = {"question_mark": "?", "slash": "/", "escape": "esc", "exclamation_mark": "!"}
    return ", ".join(names.get(k.strip(), k.strip()) for k in key.split(","))


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen {
        align: center middle;
    }
    HelpScreen > VerticalScroll {
        width: 84;
        max-width: 100%;
        height: 90%;
        border: thick $accent;
        background: $surface;
        padding: 0 1;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "dismiss", "Close"),
    ]

    def __init__(self, keys: dict[str, str], config_path: str) -> None:
        super().__init__()
        self.keys = keys
        self.config_path = config_path

    def compose(self) -> ComposeResult:
        table = Table(box=None, show_header=True, header_style="bold", expand=True)
        table.add_column("key", style="bold cyan", no_wrap=True)
        table.add_column("action")
        table.add_column("id", style="dim", no_wrap=True)
        for action, (_default, text) in KEY_HELP.items():
            table.add_row(key_label(self.keys.get(action, _default)), text, action)
        table.add_row("ctrl+f", "filter the services table by name or state", "")
        table.add_row("o", "sort the services table: dependency order, name, state", "")
        table.add_row("tab / shift+tab", "move focus", "")
        table.add_row("j / k, arrows", "move in the services table", "")
        with VerticalScroll():
            yield Static("[b]devenv keys[/b]  (esc closes)")
            yield Static(table)
            yield Static(
                f'\nChange keys in [b]{self.config_path}[/b]:\n  [tui.keys]\n  restart = "R"\n'
                "The id column names the action. Quitting never stops the stack.",
                markup=True,
            )

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(None)
