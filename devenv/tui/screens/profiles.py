"""The profile switcher: profiles with description and protection (the app then asks about the current stack)."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from devenv.tui.core import ProfileInfo

__all__ = ["ProfileScreen"]


class ProfileScreen(ModalScreen[str | None]):
    """Pick a profile; dismisses with its name, or None."""

    DEFAULT_CSS = """
    ProfileScreen { align: center middle; }
    ProfileScreen > Vertical {
        width: 80; max-width: 95%; height: auto; max-height: 80%;
        border: thick $accent; background: $surface; padding: 0 1;
    }
    ProfileScreen OptionList { height: auto; max-height: 20; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, profiles: list[ProfileInfo], current: str, running: str | None) -> None:
        super().__init__()
        self.profiles = profiles
        self.current = current
        self.running = running

    def compose(self) -> ComposeResult:
        options = []
        for p in self.profiles:
            label = Text()
            label.append("● " if p.name == self.current else "  ", style="bold green")
            label.append(p.name, style="bold")
            if p.protected:
                label.append(" PROTECTED", style="bold red")
            if self.running and p.name == self.running:
                label.append(" (the stack runs under it)", style="yellow")
            if p.description:
                label.append(f"  {p.description}", style="dim")
            options.append(Option(label, id=p.name))
        with Vertical():
            yield Label("[b]Switch profile[/b] (enter picks, esc cancels)")
            yield OptionList(*options, id="profile-list")

    def on_mount(self) -> None:
        olist = self.query_one(OptionList)
        names = [p.name for p in self.profiles]
        if self.current in names:
            olist.highlighted = names.index(self.current)
        olist.focus()

    @on(OptionList.OptionSelected)
    def _picked(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
