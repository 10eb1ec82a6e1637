"""Actions with a fake core: each key is one call into the core, in a worker, cancellable, reported."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from textual.widgets import Input

from devenv.core.models import UpResult
from devenv.tui.app import DevenvApp, create_app
from devenv.tui.core import ProfileInfo
from devenv.tui.screens.choice import ChoiceScreen
from devenv.tui.screens.confirm import ConfirmScreen
from devenv.tui.screens.help import HelpScreen
from devenv.tui.screens.profiles import ProfileScreen
from devenv.tui.settings import KEY_HELP
from devenv.tui.widgets.header import StatusHeader
from tests.tui.fakes import FakeCore, failure, status


async def settle(pilot, app: DevenvApp) -> None:  # type: ignore[no-untyped-def]
    for _ in range(3):
        ending = [w for w in app.workers if w.group != "logs"]
        if ending:
            await app.workers.wait_for_complete(ending)
        await pilot.pause()


def messages(app: DevenvApp) -> list[str]:
    return [n.message for n in app._notifications]


async def test_restart_rebuild_stop_start_call_the_core_for_the_selected_service() -> None:
    core = FakeCore()
    app = create_app(core=core)
    async with app.run_test(size=(120, 35)) as pilot:
        await settle(pilot, app)
        await pilot.press("down", "down")  # api
        await pilot.press("r")
        await settle(pilot, app)
        await pilot.press("b")
        await settle(pilot, app)
        await pilot.press("s")  # api runs: stop
        await settle(pilot, app)
        core.change(status("api", "exited", "none", exit_code=0), "die")
        await pilot.pause()
        await pilot.press("s")  # now stopped: start
        await settle(pilot, app)
    assert [c for c in core.calls if c[0] in ("restart", "rebuild", "stop", "start")] == [
        ("restart", "api"),
        ("rebuild", "api"),
        ("stop", "api"),
        ("start", "api"),
    ]
    assert any("restart api: 1 service(s) ready" in m for m in messages(app))


async def test_marked_services_are_acted_on_together() -> None:
    core = FakeCore()
    app = create_app(core=core)
    async with app.run_test(size=(120, 35)) as pilot:
        await settle(pilot, app)
        order = [str(row.key.value) for row in app.table.ordered_rows]
        await pilot.press("down", "down", "space", "down", "space")  # the 3rd and 4th rows
        marked = order[2:4]
        assert app.table.marked_in_order() == marked
        line = "".join(seg.text for seg in app.table.render_line(app.table.get_row_index(marked[0]) + 1))
        assert "•" in line  # shown as marked
        await pilot.press("r")
        await settle(pilot, app)
        assert [c for c in core.calls if c[0] == "restart"] == [("restart", s) for s in marked]
        assert any(f"restart {' '.join(marked)}: 2 service(s) ready" in m for m in messages(app)), messages(app)
        # One of them stopped: `s` starts that one only; with both running again, `s` stops both.
        core.change(status(marked[0], "exited", "none", exit_code=0), "die")
        await pilot.pause()
        await pilot.press("s")
        await settle(pilot, app)
        assert [c for c in core.calls if c[0] in ("start", "stop")] == [("start", marked[0])]
        core.change(status(marked[0]), "start")
        await pilot.pause()
        await pilot.press("s")
        await settle(pilot, app)
        assert [c for c in core.calls if c[0] == "stop"] == [("stop", s) for s in marked]
        # Unmarked again: the highlighted service alone.
        await pilot.press("space")
        await pilot.press("up", "space")
        assert app.table.marked_in_order() == []
        await pilot.press("b")
        await settle(pilot, app)
        assert [c for c in core.calls if c[0] == "rebuild"] == [("rebuild", marked[0])]


async def test_progress_shows_in_the_row_and_escape_cancels() -> None:
    block = threading.Event()
    core = FakeCore(block=block)
    app = create_app(core=core)
    async with app.run_test(size=(120, 35)) as pilot:
        await settle(pilot, app)
        await pilot.press("u")
        await pilot.pause(0.2)
        assert "up" in str(app.query_one(StatusHeader).render())
        assert "uping" in str(app.table.get_row("api")[-1])  # the wait's note, in the row
        await pilot.press("r")  # one action at a time
        await pilot.pause()
        assert any("busy: up" in m for m in messages(app))
        await pilot.press("escape")
        await settle(pilot, app)
        assert any("stopped waiting" in m for m in messages(app))
        assert str(app.table.get_row("api")[-1]) == ""


async def test_failed_up_puts_the_diagnostics_in_details() -> None:
    core = FakeCore()
    core.up_result = UpResult("tasktracker", "dev", False, "failed", 3.0, tuple(core.statuses), (failure("api"),))
    app = create_app(core=core)
    async with app.run_test(size=(120, 35)) as pilot:
        await settle(pilot, app)
        await pilot.press("down", "down", "u")
        await settle(pilot, app)
        assert any("up failed: api: exited with code 3" in m for m in messages(app))
        await pilot.press("i")
        await settle(pilot, app)
        body = str(app.query_one("#details-body").render())
        assert "✘ api: exited with code 3" in body and "| boom" in body


async def test_down_asks_and_volumes_on_a_protected_profile_needs_the_name() -> None:
    core = FakeCore(profile_name="prod", protected=True)
    app = create_app(core=core)
    async with app.run_test(size=(120, 35)) as pilot:
        await settle(pilot, app)
        await pilot.press("D")
        await pilot.pause()
        assert isinstance(app.screen, ChoiceScreen)
        await pilot.click("#choice-volumes")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen) and app.screen.protected_profile == "prod"
        await pilot.press(*"dev", "enter")  # wrong name: nothing happens
        await pilot.pause()
        assert ("down", True) not in core.calls
        app.screen.query_one(Input).value = ""
        await pilot.press(*"prod", "enter")
        await settle(pilot, app)
        assert ("down", True) in core.calls
        await pilot.press("D")
        await pilot.pause()
        await pilot.click("#choice-down")
        await settle(pilot, app)
        assert ("down", False) in core.calls


async def test_down_cancelled_changes_nothing() -> None:
    core = FakeCore()
    app = create_app(core=core)
    async with app.run_test(size=(120, 35)) as pilot:
        await settle(pilot, app)
        await pilot.press("D", "escape")
        await settle(pilot, app)
    assert not [c for c in core.calls if c[0] == "down"]


async def test_shell_without_a_terminal_says_so() -> None:
    app = create_app(core=FakeCore())
    async with app.run_test(size=(120, 35)) as pilot:
        await settle(pilot, app)
        await pilot.press("e")
        await pilot.pause()
    assert any(m.startswith("shell:") for m in messages(app))  # headless: no terminal to hand over


async def screen_is(pilot, app, kind: type) -> None:  # type: ignore[no-untyped-def]
    """Wait for a modal (the worker that pushes it runs a little later on a loaded machine)."""
    for _ in range(50):
        if isinstance(app.screen, kind):
            return
        await pilot.pause(0.1)
    assert isinstance(app.screen, kind)


async def switch_to_the_next_profile(pilot, app, how: str) -> None:  # type: ignore[no-untyped-def]
    """`p`, the second profile of the list, then the choice ``how`` ("keep" or "down")."""
    await settle(pilot, app)
    await pilot.press("p")
    await screen_is(pilot, app, ProfileScreen)
    await pilot.press("down", "enter")
    await screen_is(pilot, app, ChoiceScreen)
    await pilot.click(f"#choice-{how}")


async def test_profile_switch_retargets_the_view() -> None:
    core = FakeCore(other_profiles=[ProfileInfo("prod", "Production-like", True)])
    app = create_app(core=core)
    async with app.run_test(size=(120, 35)) as pilot:
        await switch_to_the_next_profile(pilot, app, "keep")
        await settle(pilot, app)
        assert ("retarget", "prod") in core.calls and ("close",) in core.calls
        assert app.core is not None and app.core.profile_name == "prod"
        text = str(app.query_one(StatusHeader).render())
        assert "[prod]" in text and "PROTECTED" in text
        assert app.table.row_count == 6


async def test_profile_switch_removes_the_old_debugger_panel_even_when_its_tab_is_hidden() -> None:
    """The panel holds the old core's debug sessions: it goes (and detaches them) at the switch, not
    when its tab is next shown; the new profile's panel comes when the tab is."""
    from devenv.tui.widgets.debug_panel import DebugPanel

    core = FakeCore(other_profiles=[ProfileInfo("prod", "Production-like", True)])
    app = create_app(core=core)
    async with app.run_test(size=(120, 35)) as pilot:
        await settle(pilot, app)
        await pilot.press("g")
        await settle(pilot, app)
        old = app.query_one(DebugPanel)
        app.table.focus()
        await pilot.press("l")
        await switch_to_the_next_profile(pilot, app, "keep")
        await settle(pilot, app)
        assert app.core is not None and app.core.profile_name == "prod"
        assert len(app.query(DebugPanel)) == 0 and not old.is_attached
        app.table.focus()
        await pilot.press("g")
        await settle(pilot, app)
        assert len(app.query(DebugPanel)) == 1 and app.query_one(DebugPanel) is not old


async def test_profile_switch_brings_the_stack_down_first_and_stays_when_that_fails() -> None:
    from devenv.errors import DevenvError

    for failing in (False, True):
        core = FakeCore(
            other_profiles=[ProfileInfo("prod", "Production-like", True)],
            down_error=DevenvError("Compose could not remove the network") if failing else None,
        )
        app = create_app(core=core)
        async with app.run_test(size=(120, 35)) as pilot:
            await switch_to_the_next_profile(pilot, app, "down")
            for _ in range(20):
                await pilot.pause(0.1)
            await settle(pilot, app)
            assert ("down", False) in core.calls
            if failing:  # still running under dev: the view does not pretend otherwise
                assert ("retarget", "prod") not in core.calls and app.core is core
                assert any("dev was not brought down" in m for m in messages(app)), messages(app)
            else:
                assert core.calls.index(("down", False)) < core.calls.index(("retarget", "prod"))
                assert app.core is not None and app.core.profile_name == "prod"


async def test_help_lists_every_key_and_user_keys_apply(_user_config: Path) -> None:
    (_user_config / "devenv").mkdir()
    (_user_config / "devenv" / "config.toml").write_text('[tui.keys]\nrestart = "R"\nrestrat = "x"\n')
    core = FakeCore()
    app = create_app(core=core)
    async with app.run_test(size=(120, 35)) as pilot:
        await settle(pilot, app)
        assert any("did you mean 'restart'" in m for m in messages(app))
        await pilot.press("r")
        await settle(pilot, app)
        assert ("restart", "postgres") not in core.calls
        await pilot.press("R")
        await settle(pilot, app)
        assert ("restart", "postgres") in core.calls
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        assert app.screen.keys["restart"] == "R" and app.screen.keys["quit"] == "q"
        assert set(app.screen.keys) == set(KEY_HELP)


async def test_palette_has_every_action() -> None:
    app = create_app(core=FakeCore())
    async with app.run_test(size=(120, 35)) as pilot:
        await settle(pilot, app)
        titles = [c.title for c in app.get_system_commands(app.screen)]
    for wanted in ("Up: start the stack, wait until ready", "Restart the selected service", "Profile switcher"):
        assert wanted in titles


async def test_quitting_never_stops_the_stack() -> None:
    core = FakeCore()
    app = create_app(core=core)
    async with app.run_test(size=(120, 35)) as pilot:
        await settle(pilot, app)
        await pilot.press("q")
        await pilot.pause()
    assert not [c for c in core.calls if c[0] in ("down", "stop")]
    assert ("close",) in core.calls


async def test_the_panels_confirm_hook_keeps_the_protected_profile() -> None:
    """The Database and Migrations panels call ``app.confirm(action, protected_profile)`` positionally."""
    app = create_app(core=FakeCore())
    async with app.run_test(size=(120, 35)) as pilot:
        await settle(pilot, app)
        asked = asyncio.ensure_future(app.confirm("reset the database", "prod"))
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen) and app.screen.protected_profile == "prod"
        await pilot.press(*"prod", "enter")
        await pilot.pause()
        assert await asked is True
