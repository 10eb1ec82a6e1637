"""The Logs view: selection, follow, search with next/previous, filter, timestamps, export, bound, ANSI."""

from __future__ import annotations

from pathlib import Path

from devenv.core.models import LogLine
from devenv.tui.app import DevenvApp, create_app
from devenv.tui.logbuffer import LogBuffer, split_ansi, strip_ansi
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


def test_colours_are_kept_and_other_escapes_dropped() -> None:
    uvicorn = '\x1b[32mINFO\x1b[0m:     127.0.0.1 - \x1b[1m"GET / HTTP/1.1"\x1b[0m 200'
    assert split_ansi(uvicorn) == ('INFO:     127.0.0.1 - "GET / HTTP/1.1" 200', uvicorn)
    garbage = (
        "\x1b[2K\x1b[1Gdone\x1b]0;title\x07 \x1b(B\x1b[38;5;196mred\x1b[m \x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\\x1b"
    )
    assert split_ansi(garbage) == ("done red link", "done \x1b[38;5;196mred\x1b[m link")
    assert split_ansi("\x1b[Hhome\x1b[?25l") == ("home", None)  # no colour left: no coloured form
    assert split_ansi("plain") == ("plain", None)
    buf = LogBuffer()
    entry = buf.add("api", "", uvicorn)
    assert entry.text.startswith("INFO:") and entry.ansi == "api      | " + uvicorn
    plain, coloured = buf.lines([entry, buf.add("api", "", "x")], None, "get /", False)
    assert plain == ['api      | INFO:     127.0.0.1 - "GET / HTTP/1.1" 200']  # the filter reads the plain text
    assert coloured == [f"api      | {uvicorn}"]


async def test_ansi_colours_are_rendered_search_reads_plain_text(tmp_path: Path) -> None:
    logs = [
        LogLine(
            "api", "p-api-1", "\x1b[32mINFO\x1b[0m:\tstarted \x1b[1;31mERROR\x1b[0m \x1b[2Kdone", "2026-01-01T00:00:01Z"
        ),
        LogLine("api", "p-api-1", "plain line", "2026-01-01T00:00:02Z"),
    ]
    app = create_app(core=FakeCore(initial_logs=logs, root=tmp_path))
    async with app.run_test(size=(120, 35)) as pilot:
        await opened(pilot, app)
        view = app.logs.view
        head = "api".ljust(app.logs.buffer.width) + " | "
        assert view.lines[0] == head + "INFO:\tstarted ERROR done"  # plain: no escape left
        strip = view._render_line_strip(0, view.rich_style)
        styles = {seg.text: seg.style for seg in strip if seg.text.strip()}
        assert styles["INFO"].color.number == 2  # green
        assert styles["ERROR"].bold and styles["ERROR"].color.number == 1  # bold red
        assert "\x1b" not in strip.text and strip.text.startswith((head + "INFO:\tstarted ERROR done").expandtabs())
        await pilot.press("slash", *"started err", "enter")
        await pilot.pause()
        assert app.logs.match_line == 0
        strip = view._render_line_strip(0, view.rich_style)
        marked = "".join(
            seg.text for seg in strip if seg.style and seg.style.bgcolor and seg.style.bgcolor.name == "yellow"
        )
        assert marked == "started ERR"  # the match, over the service's own colours
        await pilot.press("F", *"INFO:", "enter")
        await pilot.pause()
        assert view.lines == [head + "INFO:\tstarted ERROR done"]
        target = app.logs.export(str(tmp_path / "out.log"))
        assert target.read_text() == head + "INFO:\tstarted ERROR done\n"


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


def test_drain_takes_what_is_queued_and_stops_at_the_close() -> None:
    import queue

    from devenv.tui.core import drain

    class Source:
        def __init__(self) -> None:
            self.queue: queue.Queue[object] = queue.Queue(maxsize=10)

        def close(self) -> None:
            pass

    src = Source()
    for i in range(7):
        src.queue.put(i)
    batches = drain(src, 0.01, 5)
    assert next(batches) == [0, 1, 2, 3, 4]  # at most the limit, in one go
    assert next(batches) == [5, 6]
    assert next(batches) == []  # nothing within the interval: the caller may check for a stop
    for item in ("a", None, "after the close"):
        src.queue.put(item)
    assert next(batches) == ["a"]
    assert list(batches) == []  # closed: what followed the close is not read


def test_drain_waits_without_wakeups_while_the_caller_holds_nothing() -> None:
    import queue
    import threading
    import time

    from devenv.tui.core import drain

    class Source:
        def __init__(self) -> None:
            self.queue: queue.Queue[object] = queue.Queue()

        def close(self) -> None:
            self.queue.put(None)

    src = Source()
    holding = [True]
    batches = drain(src, 0.01, 5, idle=lambda: not holding[0])
    assert next(batches) == []  # holding lines: the wait is timed, so the caller can hand them on
    holding[0] = False
    got: list[object] = []
    reader = threading.Thread(target=lambda: got.extend(batches))
    reader.start()
    time.sleep(0.3)  # thirty intervals: a timed wait would have yielded empty batches by now
    assert got == []
    src.queue.put("line")
    time.sleep(0.1)
    assert got == [["line"]]
    src.close()  # closing ends the untimed wait
    reader.join(timeout=2)
    assert not reader.is_alive() and got == [["line"]]


async def test_the_scrollbar_is_drawn_again_only_when_its_thumb_moves(tmp_path: Path) -> None:
    from textual.scrollbar import ScrollBarRender

    core = FakeCore(initial_logs=lines(100), root=tmp_path)
    app = create_app(core=core)
    async with app.run_test(size=(120, 35)) as pilot:
        for _ in range(20):
            await pilot.pause(0.1)
        view = app.logs.view
        bar = view.vertical_scrollbar
        drawn: list[int] = []
        original = bar.refresh

        def counting(*regions, **kw):  # type: ignore[no-untyped-def]
            drawn.append(1)
            return original(*regions, **kw)

        bar.refresh = counting  # type: ignore[method-assign]

        def thumb() -> str:  # what the bar shows, rendered from its current state
            segments = ScrollBarRender.render_bar(
                bar.size.height, bar.window_virtual_size, bar.window_size, bar.position
            )
            return "".join(f"{s.text}{s.style.bgcolor if s.style else ''}|" for s in segments.segments)

        async def one_line(i: int) -> None:
            core.follower.queue.put(LogLine("api", "p-api-1", f"health {i}", "2026-01-01T00:01:00Z"))
            await pilot.pause(0.3)
            assert view.is_vertical_scroll_end and view.lines[-1].endswith(f"health {i}")
            # The bar's state follows the view's, drawn or not.
            assert (bar.window_virtual_size, bar.position) == (view.virtual_size.height, view.scroll_y)

        before = thumb()
        await one_line(0)  # 100 lines: one more shrinks the thumb
        assert thumb() != before and drawn, "the thumb changed but the bar was not drawn again"
        for i in range(3000):
            core.follower.queue.put(LogLine("api", "p-api-1", f"burst {i}", "2026-01-01T00:01:00Z"))
        await pilot.pause(0.5)
        drawn.clear()
        before = thumb()
        await one_line(1)
        assert thumb() == before and drawn == []  # 3000 lines: one more does not move the thumb
        view.scroll_home(animate=False)  # the user scrolls: the bar follows at once
        await pilot.pause()
        assert drawn and bar.position == 0 and thumb() != before


async def test_scrolling_up_pauses_the_follow_and_the_end_resumes_it(tmp_path: Path) -> None:
    core = FakeCore(initial_logs=lines(300), root=tmp_path)
    app = create_app(core=core)
    async with app.run_test(size=(120, 35)) as pilot:
        for _ in range(20):
            await pilot.pause(0.05)
        view = app.logs.view
        assert view.is_vertical_scroll_end
        view.scroll_to(y=50, animate=False)  # the user scrolls up to read
        await pilot.pause()
        for i in range(20):
            core.follower.queue.put(LogLine("api", "p-api-1", f"later {i}", "2026-01-01T00:02:00Z"))
        await pilot.pause(0.5)
        assert view.lines[-1].endswith("later 19") and view.scroll_y == 50  # the lines wait below
        view.scroll_end(animate=False)  # back at the end: following again
        await pilot.pause()
        core.follower.queue.put(LogLine("api", "p-api-1", "last", "2026-01-01T00:03:00Z"))
        await pilot.pause(0.5)
        assert view.lines[-1].endswith("last") and view.is_vertical_scroll_end


async def test_what_is_typed_in_a_prompt_is_on_screen(tmp_path: Path) -> None:
    """The log search prompt and the services filter are one row; focused, they still show what is
    typed (found in tmux: Input's own focus style drew a 3-row border into the one row, and the
    text was hidden under it)."""
    from textual.widgets import Input

    app = create_app(core=FakeCore(initial_logs=lines(20), root=tmp_path))
    async with app.run_test(size=(160, 40)) as pilot:
        await opened(pilot, app)
        for keys, selector in ((("slash",), "#log-input"), (("ctrl+f",), "#service-filter")):
            await pilot.press(*keys, *"typed-here")
            await pilot.pause()
            field = app.query_one(selector, Input)
            assert field.has_focus, selector
            assert field.region.height == 1 and field.content_region.height == 1, (selector, field.region)
            row = field.region.y
            shown = "".join(seg.text for seg in app.screen._compositor.render_strips()[row])
            assert "typed-here" in shown, (selector, shown)
            await pilot.press("escape")
