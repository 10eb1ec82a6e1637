"""ConfirmScreen: the modal every destructive TUI action goes through (the CLI's typed-name rule)."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.widgets import Button, Input, Static

from devenv.tui.screens.confirm import ConfirmScreen, confirmation_matches


class Host(App[None]):
    def __init__(self, screen: ConfirmScreen) -> None:
        super().__init__()
        self.modal = screen
        self.answer: bool | None = None

    def compose(self) -> ComposeResult:
        yield Static("host")

    def on_mount(self) -> None:
        self.push_screen(self.modal, self._done)

    def _done(self, answer: bool | None) -> None:
        self.answer = answer


def test_confirmation_rule_is_the_clis() -> None:
    assert confirmation_matches("prod", "prod")
    assert confirmation_matches("prod", "  prod\n")  # the CLI strips what was typed
    assert not confirmation_matches("prod", "Prod")
    assert not confirmation_matches("prod", "")


async def test_unprotected_yes_and_no() -> None:
    app = Host(ConfirmScreen("remove the volumes"))
    async with app.run_test() as pilot:
        await pilot.press("y")
        await pilot.pause()
    assert app.answer is True
    app = Host(ConfirmScreen("remove the volumes"))
    async with app.run_test() as pilot:
        await pilot.press("escape")
        await pilot.pause()
    assert app.answer is False


async def test_protected_needs_the_exact_name() -> None:
    app = Host(ConfirmScreen("remove the volumes", protected_profile="prod"))
    async with app.run_test() as pilot:
        await pilot.press("y")  # a letter in the input, not a yes
        await pilot.pause()
        assert app.answer is None
        assert app.modal.query_one("#confirm-yes", Button).disabled
        await pilot.press("enter")  # "y" does not match
        await pilot.pause()
        assert app.answer is None
        app.modal.query_one("#confirm-input", Input).value = ""
        await pilot.press(*"prod")
        await pilot.pause()
        assert not app.modal.query_one("#confirm-yes", Button).disabled
        await pilot.press("enter")
        await pilot.pause()
    assert app.answer is True


async def test_protected_escape_cancels() -> None:
    app = Host(ConfirmScreen("reset the database", protected_profile="prod"))
    async with app.run_test() as pilot:
        await pilot.press(*"prod", "escape")
        await pilot.pause()
    assert app.answer is False
