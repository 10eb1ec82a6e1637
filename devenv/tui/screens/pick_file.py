"""A modal file picker: type to filter, enter picks; dismisses with the file's path (None: cancel)."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

__all__ = ["PickFileScreen"]

SHOWN = 300  # options listed at once (the filter narrows the rest)


class PickFileScreen(ModalScreen[str | None]):
    DEFAULT_CSS = """
    PickFileScreen { align: center middle; }
    PickFileScreen > Vertical {
        width: 90; max-width: 95%; height: 80%;
        border: thick $primary; background: $surface; padding: 0 1;
    }
    PickFileScreen #pick-title { height: 1; text-style: bold; }
    PickFileScreen #pick-count { height: 1; color: $text-muted; }
    PickFileScreen OptionList { height: 1fr; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("down", "down", show=False),
        Binding("up", "up", show=False),
    ]

    def __init__(self, title: str, files: list[tuple[str, str]]) -> None:
        """``files``: (shown name, path) pairs."""
        super().__init__()
        self.title_text = title
        self.files = files

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.title_text, id="pick-title", markup=False)
            yield Input(placeholder="filter (part of the path)", id="pick-filter")
            yield Static("", id="pick-count")
            yield OptionList(id="pick-list")

    def on_mount(self) -> None:
        self._fill("")
        self.query_one("#pick-filter", Input).focus()

    def _fill(self, text: str) -> None:
        words = text.lower().split()
        found = [(shown, path) for shown, path in self.files if all(w in shown.lower() for w in words)]
        options = self.query_one("#pick-list", OptionList)
        options.clear_options()
        options.add_options([Option(shown, id=path) for shown, path in found[:SHOWN]])
        if found:
            options.highlighted = 0
        more = f" (first {SHOWN})" if len(found) > SHOWN else ""
        self.query_one("#pick-count", Static).update(f"{len(found)} of {len(self.files)} files{more}")

    @on(Input.Changed, "#pick-filter")
    def _filter(self, event: Input.Changed) -> None:
        self._fill(event.value)

    @on(Input.Submitted, "#pick-filter")
    def _submit(self, event: Input.Submitted) -> None:
        event.stop()
        options = self.query_one("#pick-list", OptionList)
        if options.highlighted is not None:
            self.dismiss(options.get_option_at_index(options.highlighted).id)

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(event.option.id)

    def action_down(self) -> None:
        self.query_one("#pick-list", OptionList).action_cursor_down()

    def action_up(self) -> None:
        self.query_one("#pick-list", OptionList).action_cursor_up()

    def action_cancel(self) -> None:
        self.dismiss(None)
