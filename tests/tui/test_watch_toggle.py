"""The TUI's watch toggle with a fake core: ``w`` starts the core's watch in a worker, its syncs and
errors show in the Events view as they happen, ``w`` again (or quitting) stops it; the palette has it."""

from __future__ import annotations

from textual.widgets import Log

from devenv.core.watch.events import WatchConfigInvalid, WatchRebuilt
from devenv.tui.app import DevenvApp, create_app
from devenv.tui.settings import KEY_HELP
from devenv.tui.watching import describe_watch
from devenv.tui.widgets.events_panel import EventsPanel
from tests.tui.fakes import FakeCore


async def wait_until(pilot, predicate, tries: int = 100) -> None:  # type: ignore[no-untyped-def]
    for _ in range(tries):
        if predicate():
            return
        await pilot.pause(0.02)
    raise AssertionError("condition not met")


def events_text(app: DevenvApp) -> str:
    return "\n".join(app.query_one(EventsPanel).query_one("#events-log", Log).lines)


async def test_w_turns_watching_on_shows_syncs_and_errors_then_off() -> None:
    core = FakeCore()
    app = create_app(core=core)
    async with app.run_test(size=(120, 35)) as pilot:
        await pilot.pause()
        await pilot.press("w")
        await wait_until(pilot, lambda: "synced 1 file(s)" in events_text(app))
        text = events_text(app)
        assert "watching api" in text
        assert "api" in text and "/srv/app/main.py" in text
        assert "Read-only file system" in text
        assert app.watching
        assert any("Read-only" in n.message for n in app._notifications)  # errors also notify
        await pilot.press("w")
        await wait_until(pilot, lambda: not app.watching)
        await wait_until(pilot, lambda: "watch stopped" in events_text(app))
    assert core.calls.count(("watch",)) == 1


async def test_quitting_stops_the_watch() -> None:
    core = FakeCore()
    app = create_app(core=core)
    async with app.run_test(size=(120, 35)) as pilot:
        await pilot.press("w")
        await wait_until(pilot, lambda: app.watching and "watching" in events_text(app))
        token = app._watch_token
    assert token is not None and token.cancelled


def test_watch_has_a_key_and_a_palette_entry() -> None:
    assert KEY_HELP["watch"][0] == "w"
    app = create_app(core=FakeCore())
    titles = [c.title for c in app.palette_commands()]
    assert any(t.lower().startswith("watch on/off") for t in titles), titles


def test_rebuilds_and_invalid_config_are_lines_of_their_own() -> None:
    h = describe_watch(WatchRebuilt("img:dev", ("app", "worker"), "failed", 3.2, "requirements.txt", "boom"))
    assert h is not None and h.severity == "error" and "rebuilt img:dev: failed" in h.what
    h = describe_watch(WatchConfigInvalid("compose.yml", 5, "invalid YAML"))
    assert h is not None and h.severity == "error" and "compose.yml:5" in h.what


async def test_a_live_config_reload_refreshes_the_config_view() -> None:
    from devenv.core.watch.events import WatchConfigApplied
    from devenv.tui.watching import WatchEvent
    from devenv.tui.widgets.config_panel import ConfigPanel

    core = FakeCore()
    app = create_app(core=core)

    def shown() -> str:
        return str(app.query_one(ConfigPanel).query_one("#config-body").render())

    async with app.run_test(size=(120, 35)) as pilot:
        await pilot.pause()
        await pilot.press("c")
        await wait_until(pilot, lambda: "********" in shown())
        core.config_password = "changed-by-the-edit"
        app.post_message(WatchEvent(WatchConfigApplied(("compose.yml",), ("api",), (), "ready", 1.2)))
        await wait_until(pilot, lambda: "changed-by-the-edit" in shown())
        assert ("forget_config", None) in core.calls
        assert "config compose.yml" in events_text(app)
