"""The main screen with a fake core: rows from the initial sync, live changes, header, logs, views."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import TabbedContent

from devenv.core.events import ContainerStats, EngineReconnected, EngineUnreachable, StatusChanged
from devenv.core.models import LogLine
from devenv.errors import ConfigError, DockerUnavailableError
from devenv.tui.app import DevenvApp, create_app
from devenv.tui.widgets.details import DetailsPanel
from devenv.tui.widgets.header import StatusHeader
from devenv.tui.widgets.services import STATS_EVERY
from tests.tui.fakes import FakeCore, status


def header_text(app: DevenvApp) -> str:
    return str(app.query_one(StatusHeader).render())


async def settle(pilot, app: DevenvApp) -> None:  # type: ignore[no-untyped-def]
    """Let the workers that end (connect, details, config, stats, actions) finish; the logs reader runs on."""
    for _ in range(3):
        ending = [w for w in app.workers if w.group != "logs"]
        if ending:  # (an empty list would mean "every worker")
            await app.workers.wait_for_complete(ending)
        await pilot.pause()


async def test_rows_from_the_initial_sync_and_header() -> None:
    core = FakeCore()
    app = create_app(core=core)
    async with app.run_test(size=(120, 35)) as pilot:
        await settle(pilot, app)
        assert [str(r.key.value) for r in app.table.ordered_rows] == [
            "postgres",
            "nats",
            "api",
            "worker",
            "dashboard",
            "nginx",
        ]
        text = header_text(app)
        assert "tasktracker" in text and "[dev]" in text and "6/6 ready" in text
        assert "unix:///var/run/docker.sock" in text
        assert app.first_rows_at is not None


async def test_the_dependency_order_rebuilds_the_table_only_when_rows_move() -> None:
    """The order arrives after the rows (Compose's config is read meanwhile): the same order draws
    nothing again; another one reorders the rows, the selection staying on its service."""
    app = create_app(core=FakeCore())
    async with app.run_test(size=(120, 35)) as pilot:
        await settle(pilot, app)
        rows = [str(r.key.value) for r in app.table.ordered_rows]
        rebuilds: list[int] = []
        rebuild = app.table.rebuild
        app.table.rebuild = lambda: (rebuilds.append(1), rebuild())[1]  # type: ignore[method-assign]
        app.table.set_order(list(rows))
        assert rebuilds == []
        app.table.move_cursor(row=rows.index("api"))
        await pilot.pause()
        app.table.set_order(list(reversed(rows)))
        await pilot.pause()
        assert rebuilds == [1]
        assert [str(r.key.value) for r in app.table.ordered_rows] == list(reversed(rows))
        assert app.selected == "api"


async def test_status_change_updates_the_row_and_notifies_a_crash() -> None:
    core = FakeCore()
    app = create_app(core=core)
    async with app.run_test(size=(120, 35)) as pilot:
        await settle(pilot, app)
        app.action_details()  # another view is open: the crash still notifies
        core.change(status("worker", "exited", "none", exit_code=137), "die")
        await pilot.pause()
        await pilot.pause()
        row = app.table.get_row("worker")
        assert "exited (137)" in str(row[2])
        assert "worker exited (137)" in header_text(app)
        assert any("worker: died, exit code 137" in n.message for n in app._notifications)


async def test_engine_unreachable_and_back() -> None:
    core = FakeCore()
    app = create_app(core=core)
    async with app.run_test(size=(120, 35)) as pilot:
        await settle(pilot, app)
        core.emit(EngineUnreachable("connection refused", 0.1))
        await pilot.pause()
        assert "engine unreachable - reconnecting" in header_text(app)
        core.emit(EngineReconnected(1.5, 2))
        await pilot.pause()
        assert "6/6 ready" in header_text(app)


async def test_stats_for_visible_rows_only_when_their_columns_are_in_view() -> None:
    core = FakeCore()
    app = create_app(core=core)
    async with app.run_test(size=(120, 35)) as pilot:
        await settle(pilot, app)
        # At 120 columns CPU and MEM are right of the panel's edge: no figures are asked for.
        assert not app.table.stats_shown()
        assert core.watched in ([], [()])
        app.table.scroll_to(x=app.table.max_scroll_x, animate=False)  # the user scrolls to them
        await pilot.pause()
        await pilot.pause()
        assert app.table.stats_shown()
        assert core.watched and set(core.watched[-1]) == {s.service for s in core.statuses}
        core.emit(ContainerStats("api", "proj-api-1", 12.4, 50 * 1024 * 1024, 0, 0))
        await pilot.pause()
        assert str(app.table.get_row("api")[7]) != "12%"  # figures are shown every STATS_EVERY seconds
        await pilot.pause(STATS_EVERY + 0.3)
        assert str(app.table.get_row("api")[7]) == "12%"
        # Only that row is drawn again (not the whole table), and what it draws is the new figure.
        core.emit(ContainerStats("api", "proj-api-1", 37.0, 50 * 1024 * 1024, 0, 0))
        await pilot.pause(STATS_EVERY + 0.3)
        line = app.table.render_line(app.table.get_row_index("api") + 1)  # below the header row
        drawn = "".join(segment.text for segment in line)
        assert "37%" in drawn and "12%" not in drawn, drawn
        app.table.scroll_to(x=0, animate=False)  # scrolled back: the streams stop
        await pilot.pause()
        await pilot.pause()
        assert core.watched[-1] == ()
    core = FakeCore()
    app = create_app(core=core)
    async with app.run_test(size=(170, 40)) as pilot:  # wide enough: in view from the start
        await settle(pilot, app)
        assert app.table.stats_shown()
        assert core.watched and set(core.watched[-1]) == {s.service for s in core.statuses}
    app = create_app(core=FakeCore())
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        assert app.table.compact
        assert app.core.watched in ([], [()])  # type: ignore[union-attr]


async def test_protected_profile_badge_and_running_profile() -> None:
    core = FakeCore(profile_name="prod", protected=True, running="dev", explicit_profile=True)
    app = create_app(core=core)
    async with app.run_test(size=(120, 35)) as pilot:
        await settle(pilot, app)
        text = header_text(app)
        assert "PROTECTED" in text and "running: dev" in text


async def test_no_project_shows_the_clis_message(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    app = create_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert app.core is None
        banner = str(app.query_one("#banner").render())
        assert "devenv.toml" in banner or "compose" in banner
        await pilot.press("u")
        await pilot.pause()
        assert any("No project" in n.message for n in app._notifications)


async def test_engine_down_shows_the_message_and_retries() -> None:
    error = DockerUnavailableError(
        "Cannot reach the Docker engine at unix:///x: refused", hint="Is the Docker daemon running?"
    )
    core = FakeCore(connect_error=error)
    app = create_app(core=core)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause(0.3)
        banner = str(app.query_one("#banner").render())
        assert "Cannot reach the Docker engine" in banner and "Is the Docker daemon running?" in banner
        core.connect_error = None
        for _ in range(60):  # the retry comes after 1 s; a loaded machine may take longer
            await pilot.pause(0.1)
            if app.table.row_count == 6 and not app.query_one("#banner").has_class("shown"):
                break
        assert app.table.row_count == 6
        assert not app.query_one("#banner").has_class("shown")


async def test_config_error_is_shown() -> None:
    app = DevenvApp(None, error=ConfigError("unknown key project.nmae", hint="did you mean name?"))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert "unknown key project.nmae" in str(app.query_one("#banner").render())


async def test_logs_arrive_in_batches_coloured_per_service() -> None:
    core = FakeCore(
        initial_logs=[LogLine("api", "proj-api-1", f"api line {i}", "2026-01-01T00:00:0{i % 10}Z") for i in range(30)]
    )
    app = create_app(core=core)
    async with app.run_test(size=(120, 35)) as pilot:
        await settle(pilot, app)
        await pilot.pause(0.2)
        lines = app.logs.view.lines
        assert len(lines) == 30 and lines[0].startswith("api") and lines[-1].endswith("api line 29")
        core.follower.queue.put(LogLine("worker", "proj-worker-1", "\x1b[31mred\x1b[0m tick", ""))
        await pilot.pause(0.2)
        assert app.logs.view.lines[-1].endswith("| red tick")  # ANSI stripped


async def test_details_and_config_tabs_load_for_the_selection() -> None:
    core = FakeCore()
    app = create_app(core=core)
    async with app.run_test(size=(120, 35)) as pilot:
        await settle(pilot, app)
        await pilot.press("down", "down", "i")  # api
        await settle(pilot, app)
        assert app.query_one(TabbedContent).active == "tab-details"
        assert ("inspect", "api") in core.calls
        body = str(app.query_one(DetailsPanel).query_one("#details-body").render())
        assert "img/api" in body and "unless-stopped" in body
        assert "abc123" not in body and "hunter2" not in body and "MODE=dev" in body
        await pilot.press("c")
        await settle(pilot, app)
        assert ("config", "api") in core.calls


async def test_events_history() -> None:
    core = FakeCore()
    app = create_app(core=core)
    async with app.run_test(size=(120, 35)) as pilot:
        await settle(pilot, app)
        old = core.statuses[2]
        new = status("api", "running", "unhealthy")
        core.emit(StatusChanged("api", old, new, "health_status: unhealthy", health_output="curl: (7) refused"))
        await pilot.press("h")
        await pilot.pause()
        events = app.query_one("#events-log")
        assert any("health unhealthy: curl: (7) refused" in line for line in events.lines)  # type: ignore[attr-defined]


async def test_theme_setting_and_an_unknown_theme(_user_config: Path) -> None:
    from devenv.tui.widgets.logs import LIGHT_PALETTE, PALETTE

    (_user_config / "devenv").mkdir()
    config = _user_config / "devenv" / "config.toml"
    config.write_text('[tui]\ntheme = "textual-light"\n')
    app = create_app(core=FakeCore())
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause(0.3)
        assert app.theme == "textual-light" and not app.current_theme.dark
        assert app.logs.view.colour("postgres") in LIGHT_PALETTE
        strip = app.query_one(StatusHeader).render_line(0)
        colours = {
            seg.style.color.triplet.hex for seg in strip if seg.style and seg.style.color and seg.style.color.triplet
        }
        assert app.theme_variables["text-success"].lower() in colours  # "6/6 ready" in the theme's own green
    config.write_text('[tui]\ntheme = "textual-lite"\n')
    app = create_app(core=FakeCore())
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause(0.3)
        assert app.theme == "textual-dark" and app.logs.view.colour("postgres") in PALETTE
        assert any("did you mean 'textual-light'" in n.message for n in app._notifications)


def test_stats_are_drawn_again_only_when_they_moved_enough() -> None:
    from devenv.tui.widgets.services import stats_moved

    mb = 1024 * 1024
    assert not stats_moved((0.4, 50 * mb), (0.6, 50 * mb))  # idle jitter
    assert stats_moved((0.4, 50 * mb), (1.5, 50 * mb))
    assert not stats_moved((40.0, 50 * mb), (43.0, 50 * mb))  # within 10 % above 10 %
    assert stats_moved((40.0, 50 * mb), (45.0, 50 * mb))
    assert not stats_moved((1.0, 50 * mb), (1.0, 50 * mb + 100 * 1024))  # 100 KB of 50 MB
    assert stats_moved((1.0, 50 * mb), (1.0, 51 * mb))
    assert stats_moved((1.0, 0), (1.0, 4096))


async def test_resizes_are_followed() -> None:
    from textual.widgets import TabbedContent

    app = create_app(core=FakeCore())
    async with app.run_test(size=(120, 35)) as pilot:
        await settle(pilot, app)
        tabs = app.query_one(TabbedContent)

        def labels() -> list[str]:
            return [tabs.get_tab(p).label_text for p in ("tab-details", "tab-events")]

        assert not app.table.compact and "UP" in [str(c.label) for c in app.table.columns.values()]
        assert labels() == ["Details", "Events"]
        await pilot.resize_terminal(80, 24)
        await settle(pilot, app)
        assert app.table.compact and "UP" not in [str(c.label) for c in app.table.columns.values()]
        assert labels() == ["Info", "Hist"]  # the short labels fit the narrow tab bar
        assert app.table.row_count == 6 and app.table.region.height <= 22
        await pilot.resize_terminal(160, 45)
        await settle(pilot, app)
        assert not app.table.compact and labels() == ["Details", "Events"]
