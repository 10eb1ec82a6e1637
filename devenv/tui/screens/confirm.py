"""A reusable confirmation modal for destructive actions (``down --volumes``, DB reset, ...).

``ConfirmScreen(action, protected_profile=None)`` dismisses with ``True`` (go ahead) or ``False``.
On a protected profile the user must type the profile's name exactly: the same rule as the
CLI's :func:`devenv.core.safety.confirm_destructive` (which this screen calls to decide), so the
TUI can never be easier to talk into a destructive action than the CLI.

Usage from a screen or widget (inside a worker or an async handler)::

    ok = await self.app.push_screen_wait(ConfirmScreen("remove the volumes of project x", protected_profile="prod"))

or with a callback: ``self.app.push_screen(ConfirmScreen(...), callback)``.
"""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

__all__ = ["ConfirmScreen", "confirmation_matches"]


def confirmation_matches(profile: str, typed: str) -> bool:
    """Whether ``typed`` confirms a destructive action on the protected ``profile`` (the CLI's rule)."""
    from devenv.core.safety import confirm_destructive
    from devenv.errors import ConfirmationRequired

    try:
        confirm_destructive(profile, True, "confirm", ask=lambda _prompt: typed)
    except ConfirmationRequired:
        return False
    return True


class ConfirmScreen(ModalScreen[bool]):
    """Ask before a destructive action; dismisses with True (confirmed) or False."""

    DEFAULT_CSS = """
    ConfirmScreen {
        align: center middle;
    }
    ConfirmScreen > Vertical {
        width: 70;
        max-width: 95%;
        height: auto;
        border: thick $error;
        background: $surface;
        padding: 1 2;
    }
    ConfirmScreen .title {
        text-style: bold;
        margin-bottom: 1;
    }
    ConfirmScreen .protected {
        color: $error;
        margin-bottom: 1;
    }
    ConfirmScreen Horizontal {
        height: auto;
        margin-top: 1;
        align-horizontal: right;
    }
    ConfirmScreen Button {
        margin-left: 2;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("n", "cancel", "No", show=False),
        Binding("y", "confirm", "Yes", show=False),
    ]

    def __init__(self, action: str, *, protected_profile: str | None = None, title: str = "Are you sure?") -> None:
        super().__init__()
        self.action_text = action
        self.protected_profile = protected_profile
        self.title_text = title

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.title_text, classes="title")
            yield Static(f"This will {self.action_text}.", id="confirm-action")
            if self.protected_profile is not None:
                yield Static(
                    f'Profile "{self.protected_profile}" is protected. Type its name to {self.action_text}:',
                    classes="protected",
                    id="confirm-protected",
                )
                yield Input(placeholder=self.protected_profile, id="confirm-input")
            with Horizontal():
                yield Button("Cancel", id="confirm-no")
                yield Button(
                    "Confirm",
                    variant="error",
                    id="confirm-yes",
                    disabled=self.protected_profile is not None,
                )

    def on_mount(self) -> None:
        if self.protected_profile is not None:
            self.query_one("#confirm-input", Input).focus()
        else:
            self.query_one("#confirm-no", Button).focus()

    def _typed_ok(self) -> bool:
        if self.protected_profile is None:
            return True
        return confirmation_matches(self.protected_profile, self.query_one("#confirm-input", Input).value)

    @on(Input.Changed, "#confirm-input")
    def _typed(self, event: Input.Changed) -> None:
        self.query_one("#confirm-yes", Button).disabled = not self._typed_ok()

    @on(Input.Submitted, "#confirm-input")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if self._typed_ok():
            self.dismiss(True)
        else:
            self.notify("The name does not match: nothing was changed.", severity="warning")

    @on(Button.Pressed, "#confirm-yes")
    def _yes(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_confirm()

    @on(Button.Pressed, "#confirm-no")
    def _no(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(False)

    def action_confirm(self) -> None:
        # On a protected profile, `y` in the input is just a letter; only the typed name confirms.
        if self.protected_profile is not None:
            if isinstance(self.focused, Input):
                return
            if not self._typed_ok():
                return
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)
