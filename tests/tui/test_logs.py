"""The Logs view: selection, follow, search with next/previous, filter, timestamps, export, bound, ANSI."""

from __future__ import annotations

from pathlib import Path

from devenv.core.models import LogLine
from devenv.tui.app import DevenvApp, create_app
from devenv.tui.logbuffer import LogBuffer, strip_ansi
from tests.tui.fakes import FakeCore


def lines(n: int) -> list[LogLine]:
    out = []
    for i in range(n):
        service = ("api", "worker")[i % 2]
        out.append(LogLine(service, f"p-{service}-1", f"{service} message {i}", f"2026-01-01T00:00:{i % 60:02d}.0Z"))
    return out


async def opened(pilot, app: DevenvApp) -> None:  # type: ignore[no-untyped-def]
    for _ in range(6):
        await pilot.pause(0.1)


def test_strip_ansi_and_bounded_buffer() -> None:
    assert strip_ansi("\x1b[1;31mERROR\x1b[0m done \x1b]8;;http://x\x07link\x1b]8;;\x07") == "ERROR done link"
    buf = LogBuffer(max_lines=100)
    for i in range(1000):
        buf.add("api", "", f"line {i}")
    assert len(buf.entries) == 100 and buf.entries[0].text == "line 900"


async def test_all_merged_or_selected_only(tmp_path: Path) -> None:
    app = create_app(core=FakeCore(initial_logs=lines(40), root=tmp_path))
    async with app.run_test(size=(120, 35)) as pilot:
        await opened(pilot, app)
        assert len(app.logs.view.lines) == 40
        await pilot.press("down", "down", "a")  # api only
        await pilot.pause()
        view = app.logs.view.lines
        assert len(view) == 20 and all(line.startswith("api") for line in view)
        await pilot.press("a")
        await pilot.pause()
        assert len(app.logs.view.lines) == 40


async def test_search_highlights_and_moves_between_matches(tmp_path: Path) -> None:
    app = create_app(core=FakeCore(initial_logs=lines(200), root=tmp_path))
    async with app.run_test(size=(120, 35)) as pilot:
        await opened(pilot, app)
        await pilot.press("slash", *"message 1[0-9]$", "enter")
        await pilot.pause()
        first = app.logs.match_line
        assert first is not None and app.logs.view.lines[first].endswith("message 19")  # from the bottom up
        assert not app.logs.view.auto_scroll  # reading matches pauses follow
        await pilot.press("N")
        assert app.logs.view.lines[app.logs.match_line or 0].endswith("message 18")
        await pilot.press("n")
        assert app.logs.match_line == first
        strip = app.logs.view._render_line_strip(first, app.logs.view.rich_style)
        assert any(seg.style and seg.style.bgcolor is not None for seg in strip)  # the match is marked
        await pilot.press("f")
        assert app.logs.view.auto_scroll


async def test_invalid_regex_is_reported(tmp_path: Path) -> None:
    app = create_app(core=FakeCore(initial_logs=lines(5), root=tmp_path))
    async with app.run_test(size=(120, 35)) as pilot:
        await opened(pilot, app)
        await pilot.press("slash", *"([", "enter")
        await pilot.pause()
        assert any("invalid regular expression" in n.message for n in app._notifications)


async def test_filter_timestamps_and_export(tmp_path: Path) -> None:
    app = create_app(core=FakeCore(initial_logs=lines(50), root=tmp_path))
    async with app.run_test(size=(120, 35)) as pilot:
        await opened(pilot, app)
        await pilot.press("F", *"message 4", "enter")
        await pilot.pause()
        view = list(app.logs.view.lines)
        assert len(view) == 11 and all("message 4" in line for line in view)
        await pilot.press("t")
        await pilot.pause()
        assert app.logs.view.lines[0].split(" | ", 1)[1].startswith("2026-01-01 00:00:04")
        await pilot.press("x")
        await pilot.pause()
        app.logs.query_one("#log-input").value = "out/export.log"  # type: ignore[attr-defined]
        await pilot.press("enter")
        await pilot.pause()
        shown = list(app.logs.view.lines)
    exported = (tmp_path / "out" / "export.log").read_text().splitlines()
    assert exported == shown and len(exported) == 11


async def test_log_notices_from_the_follower_are_shown(tmp_path: Path) -> None:
    from devenv.core.events import LogNotice

    core = FakeCore(root=tmp_path)
    app = create_app(core=core)
    async with app.run_test(size=(120, 35)) as pilot:
        await opened(pilot, app)
        core.follower.queue.put(LogNotice("log stream lost: refused; reconnecting…"))
        await opened(pilot, app)
        assert app.logs.view.lines[-1].endswith("log stream lost: refused; reconnecting…")
