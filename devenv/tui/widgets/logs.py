"""The Logs view: the selected service or all merged, colour per service, follow, search, filter, export.

Lines arrive in batches (the app's thread worker reads :class:`~devenv.core.logs.LogFollower` and
posts a batch every ~50 ms) into a bounded :class:`~devenv.tui.logbuffer.LogBuffer`; the view is
Textual's ``Log`` (plain strings, renders only the visible lines, ``max_lines`` prunes from the
front) with each line's own ANSI colours kept beside it and drawn only when the line is visible,
and a highlighter that colours each service's prefix and marks search matches. Search, filter
and export work on the plain text.
Auto-scroll pauses when you scroll up and resumes at the end (``Log``'s own rule); ``f`` turns it
off and on.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from math import ceil
from pathlib import Path
from typing import TYPE_CHECKING

from rich.cells import cell_len
from rich.highlighter import Highlighter
from rich.style import Style
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.geometry import Region, Size
from textual.scrollbar import ScrollBar
from textual.strip import Strip
from textual.timer import Timer
from textual.widgets import Input, Log, Static

from devenv.core.models import LogLine
from devenv.tui.logbuffer import NOTICE, LogBuffer

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["LogView", "LogsPanel"]

# What ``Log`` shows as a replacement character: control characters but the tab (expanded later).
_CONTROL = re.compile("[\u0000-\u0008\u000a-\u0014]").sub

FRAME = 0.1  # seconds: how often a flood of lines is drawn
# A colour per service, one palette per kind of theme: ANSI names on dark (Textual maps them through
# its terminal theme), darker hues on light (each at 4.5:1 or more against the light theme's panels;
# the ANSI greens, yellows and bright colours were at 2-3:1 there).
PALETTE = ("cyan", "yellow", "magenta", "green", "blue", "bright_red", "bright_cyan", "bright_yellow")
LIGHT_PALETTE = ("#1a4fa0", "#7b2d8e", "#1e6b2a", "#a12622", "#00607a", "#7a4f00", "#4b3fb0", "#8c2461")
MATCH = "bold black on yellow"


def _widest(lines: list[str]) -> int:
    """The widest of ``lines`` in cells as ``Log`` draws them, cheaply: ``len`` for plain ASCII.

    (``Log`` measures every line with ``cell_len`` in a thread worker that reports back with
    ``call_from_thread``: a fifth of the ingestion's time at 50,000 lines/s.)
    """
    widest = max(map(len, lines), default=0)
    for line in lines:
        if not line.isascii() or "\t" in line:
            widest = max(widest, cell_len(Log._process_line(line)))
    return widest


def _thumb(bar: ScrollBar) -> tuple[int, ...]:
    """Where ``bar`` draws its thumb, in eighths of a cell (as ``ScrollBarRender.render_bar`` places it)."""
    size, virtual, window = bar.size.height, bar.window_virtual_size, bar.window_size
    if not (window and size and virtual) or size == virtual or virtual <= window:
        return (size, virtual, window)  # no thumb to place: redraw on any change
    thumb = max(1, window / (virtual / size))
    start = int((size - thumb) * (bar.position / (virtual - window)) * 8)
    return (size, start, start + ceil(thumb * 8))


class _Colours(Highlighter):
    def __init__(self, view: LogView) -> None:
        self.view = view

    def highlight(self, text: Text) -> None:
        plain = text.plain
        head, sep, _ = plain.partition(" | ")
        if sep:
            service = head.strip()
            text.stylize(self.view.colour(service), 0, len(head) + 2)
        pattern = self.view.pattern
        if pattern is not None:
            start = len(head) + len(sep) if sep else 0
            for m in pattern.finditer(plain, start):
                if m.end() > m.start():
                    text.stylize(MATCH, m.start(), m.end())


class LogView(Log):
    """``Log`` with a colour per service, the services' own ANSI colours and highlighted search matches.

    ``Log`` keeps plain strings (what selection, search and export read); beside them this view
    keeps each line's coloured form (or None), pruned in step, and turns it into styles only when
    the line is drawn (visible lines only; cached until the search or the theme changes).
    """

    def __init__(self, max_lines: int, on_show: Callable[[], None] | None = None, **kwargs: str) -> None:
        super().__init__(highlight=True, max_lines=max_lines, **kwargs)  # type: ignore[arg-type]
        self.on_show = on_show  # called when the screen catches up with new lines (the status line)
        self.highlighter = _Colours(self)
        self.pattern: re.Pattern[str] | None = None
        self.colours: dict[str, int] = {}  # service -> its place in the palette
        self._ansi: list[str | None] = []  # beside self._lines: the coloured form of each line
        self._shown_at = 0.0  # when the screen last caught up with the lines
        self._show_timer: Timer | None = None
        self._scroll_pending = False
        self._frame_style: Style | None = None
        self._bar_held = False  # True while _show updates the vertical bar (drawn once, if it moved)

    def colour(self, service: str) -> str:
        if self.app.no_color:  # NO_COLOR: Textual greys every colour by its brightness; some greys vanish
            return "bold" if service == NOTICE else ""
        if service == NOTICE:
            return "bold red"
        index = self.colours.setdefault(service, len(self.colours))
        palette = PALETTE if self.app.current_theme.dark else LIGHT_PALETTE
        return palette[index % len(palette)]

    def restyle(self) -> None:
        self._render_line_cache.clear()
        self.refresh()

    # -- writing: plain lines and their coloured forms, side by side
    def write_pairs(self, lines: list[str], coloured: list[str | None], scroll_end: bool | None = None) -> None:
        """Append ``lines`` (one log line each, no line breaks) with their coloured forms (or None).

        The lines are stored at once; the screen follows at most every ``FRAME`` seconds (a flood
        of lines draws ten frames a second, not one per batch: drawing was half the ingestion's
        time and what keys waited behind).
        """
        if not lines:
            return
        auto_scroll = self.auto_scroll if scroll_end is None else scroll_end
        if auto_scroll and not self.is_vertical_scrollbar_grabbed and self.is_vertical_scroll_end:
            self._scroll_pending = True
        self._lines.extend(lines)
        self._ansi.extend(coloured)
        if self.max_lines is not None and len(self._lines) > self.max_lines:
            self._prune_max_lines()
        self._width = max(self._width, _widest(lines))
        wait = FRAME - (time.monotonic() - self._shown_at)
        if wait <= 0:
            self._show()
        elif self._show_timer is None:
            self._show_timer = self.set_timer(wait, self._show)

    def _show(self) -> None:
        self._show_timer = None
        self._shown_at = time.monotonic()
        size = Size(self._width, len(self._lines))
        # The vertical bar is drawn again only if its thumb ends up elsewhere, by an eighth of a cell
        # or more (with thousands of lines, one more line does not move it). Textual redraws both bars
        # for every line: a third of a line's frame, and most of it for a bar that had not changed.
        bar = self.vertical_scrollbar if self.show_vertical_scrollbar else None
        before = _thumb(bar) if bar is not None else None
        self._bar_held = bar is not None
        try:
            if size != self.virtual_size:
                # Not ``self.virtual_size = size``: that reactive lays the whole screen out again, for
                # every line that arrives (most of the idle CPU with a chatty service). The view's own
                # box does not change; its scroll range and scrollbars do.
                wider = size.width != self.virtual_size.width
                self.set_reactive(LogView.virtual_size, size)
                if wider:
                    self._scroll_update(size)
                else:
                    self._lines_added(size)
            self.refresh()  # the new lines are not in the render cache: nothing to discard
            if self._scroll_pending:
                self._scroll_pending = False
                self.scroll_end(animate=False, immediate=True, x_axis=False)
        finally:
            self._bar_held = False
        if bar is not None and _thumb(bar) != before:
            bar.refresh()
        if self.on_show is not None:
            self.on_show()

    def _lines_added(self, size: Size) -> None:
        """``_scroll_update`` for lines that are no wider than before: the horizontal bar is left as it
        is, the vertical one is updated without drawing it (:meth:`_show` decides)."""
        self._refresh_scrollbars()
        if self.show_vertical_scrollbar and self.styles.scrollbar_size_vertical:
            bar = self.vertical_scrollbar
            bar.set_reactive(ScrollBar.window_virtual_size, size.height)
            bar.set_reactive(ScrollBar.window_size, self.container_size.height - self.scrollbar_size_horizontal)
            if not self._bar_held:
                bar.refresh()
        self.scroll_y = self.validate_scroll_y(self.scroll_y)

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        # ScrollView's, but while new lines are shown the bar waits for :meth:`_show`'s verdict.
        if self.show_vertical_scrollbar:
            bar = self.vertical_scrollbar
            bar.set_reactive(ScrollBar.position, new_value)
            if not self._bar_held:
                bar.refresh()
        if round(old_value) != round(new_value):
            self.refresh(self.size.region)

    def render_lines(self, crop: Region) -> list[Strip]:
        # ``Log`` asks for ``rich_style`` (a walk up the DOM for the background) once per line drawn:
        # a frame of new lines paid for it thirty times. Once per frame is enough.
        self._frame_style = self.rich_style
        try:
            return super().render_lines(crop)
        finally:
            self._frame_style = None

    def _render_line(self, y: int, scroll_x: int, width: int) -> Strip:
        rich_style = self._frame_style or self.rich_style
        if y >= len(self._lines):
            return Strip.blank(width, rich_style)
        line = self._render_line_strip(y, rich_style)
        return line.crop_extend(scroll_x, scroll_x + width, rich_style).apply_offsets(scroll_x, y)

    def write_lines(self, lines: Iterable[str], scroll_end: bool | None = None) -> Self:
        plain = [part for line in lines for part in line.splitlines()]
        self.write_pairs(plain, [None] * len(plain), scroll_end)
        return self

    def write(self, data: str, scroll_end: bool | None = None) -> Self:
        return self.write_lines(data.splitlines(), scroll_end)

    def _prune_max_lines(self) -> None:
        super()._prune_max_lines()
        extra = len(self._ansi) - len(self._lines)
        if extra > 0:
            del self._ansi[:extra]

    def clear(self) -> Self:
        super().clear()
        self._ansi.clear()
        self._scroll_pending = False
        return self

    # -- drawing
    def _coloured_text(self, y: int, line: str) -> Text | None:
        """Line ``y`` with its service's own colours; None when it has none (or they do not line up)."""
        raw = self._ansi[y] if y < len(self._ansi) else None
        if raw is None or self.app.no_color:
            return None
        from rich.ansi import AnsiDecoder

        decoded = AnsiDecoder().decode_line(_CONTROL("\ufffd", raw))
        decoded.expand_tabs()
        if decoded.plain != line:  # wide characters and tabs: plain rather than misplaced colours
            return None
        return Text(line, no_wrap=True, spans=decoded.spans)

    def _render_line_strip(self, y: int, rich_style: Style) -> Strip:
        selection = self.text_selection
        cache = self._render_line_cache
        if selection is None and y in cache:
            return cache[y]
        line = self._process_line(self._lines[y])
        text = self._coloured_text(y, line)
        if text is None:
            text = Text(line, no_wrap=True, style=rich_style)
        else:
            text.stylize_before(rich_style)
        text = self.highlighter(text)
        if selection is not None and (span := selection.get_span(y - self._clear_y)) is not None:
            start, end = span
            selected = self.screen.get_component_rich_style("screen--selection")
            text.stylize(selected, start, len(text) if end == -1 else end)
        strip = Strip(text.render(self.app.console), cell_len(line))
        if selection is None:
            cache[y] = strip
        return strip


class LogsPanel(Vertical):
    """The Logs tab. The app feeds it (``add``) and tells it the selected service (``select``)."""

    DEFAULT_CSS = """
    LogsPanel > #log-status {
        height: 1;
        background: $boost;
        padding: 0 1;
    }
    LogsPanel > Input {
        height: 1;
        border: none;
        padding: 0 1;
        display: none;
    }
    LogsPanel.prompting > Input {
        display: block;
    }
    """

    def __init__(self, max_lines: int = 100_000, root: Path | None = None, **kwargs: str) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.buffer = LogBuffer(max_lines)
        self.root = root or Path.cwd()
        self.service: str | None = None  # the selected service
        self.all_services = True
        self.text_filter = ""
        self.timestamps = False
        self.search_text = ""
        self.prompt_mode = ""  # "search" | "filter" | "export"
        self.match_line: int | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="log-status")
        yield LogView(self.buffer.max_lines, on_show=self._status, id="log-view")
        yield Input(id="log-input", compact=True)  # one row; without compact, focus draws a 3-row border in it

    def on_mount(self) -> None:
        self._status()

    @property
    def view(self) -> LogView:
        return self.query_one(LogView)

    @property
    def shown_service(self) -> str | None:
        return None if self.all_services else self.service

    # -- feeding -------------------------------------------------------------------------------
    def set_services(self, names: Iterable[str]) -> None:
        names = list(names)
        for name in names:
            self.view.colour(name)
        if self.buffer.set_services(names):
            self.rerender()

    def add(self, items: Iterable[LogLine]) -> None:
        """Append a batch (from the follower; the TUI's own notices as the service ``devenv``)."""
        add = self.buffer.add
        fresh = [add(item.service, item.timestamp, item.text) for item in items]
        lines, coloured = self.buffer.lines(fresh, self.shown_service, self.text_filter, self.timestamps)
        self.view.write_pairs(lines, coloured)  # the status line follows when the view is drawn

    def notice(self, text: str) -> None:
        self.add([LogLine(NOTICE, "", text)])

    def rerender(self) -> None:
        view = self.view
        view.clear()
        lines, coloured = self.buffer.view(self.shown_service, self.text_filter, self.timestamps)
        view.write_pairs(lines, coloured, scroll_end=True)
        self.match_line = None
        self._status()

    # -- settings ------------------------------------------------------------------------------
    def select(self, service: str | None) -> None:
        if service == self.service:
            return
        self.service = service
        if not self.all_services:
            self.rerender()
        else:
            self._status()

    def toggle_all(self) -> None:
        self.all_services = not self.all_services
        self.rerender()

    def toggle_timestamps(self) -> None:
        self.timestamps = not self.timestamps
        self.rerender()

    def toggle_follow(self) -> None:
        view = self.view
        view.auto_scroll = not view.auto_scroll
        if view.auto_scroll:
            view.scroll_end(animate=False)
        self._status()

    def set_filter(self, text: str) -> None:
        self.text_filter = text
        self.rerender()

    def set_search(self, text: str) -> bool:
        """Highlight ``text`` (a regex, case-insensitive); False (nothing changed) when it is invalid."""
        if not text:
            self.view.pattern = None
            self.search_text = ""
        else:
            try:
                self.view.pattern = re.compile(text, re.IGNORECASE)
            except re.error as exc:
                self.notify(f"invalid regular expression: {exc}", severity="error")
                return False
            self.search_text = text
        self.view.restyle()
        self.match_line = None
        self._status()
        return True

    def next_match(self, forward: bool = True) -> int | None:
        """Scroll to the next (or previous) line matching the search; its index, or None."""
        pattern = self.view.pattern
        if pattern is None:
            return None
        lines = self.view.lines
        if not lines:
            return None
        count = len(lines)
        if self.match_line is None:
            start = int(self.view.scroll_y) + (0 if forward else self.view.size.height)
            start = min(max(start, 0), count - 1)
            here = start - 1 if forward else start + 1
        else:
            here = self.match_line
        step = 1 if forward else -1
        for i in range(1, count + 1):
            y = (here + step * i) % count
            if pattern.search(lines[y].partition(" | ")[2] or lines[y]):
                self.match_line = y
                self.view.auto_scroll = False
                self.view.scroll_to(y=max(0, y - self.view.size.height // 2), animate=False)
                self._status()
                return y
        self.notify(f"no line matches /{self.search_text}/", severity="warning")
        return None

    def export(self, path: str) -> Path:
        target = Path(path).expanduser()
        if not target.is_absolute():
            target = self.root / target
        target.parent.mkdir(parents=True, exist_ok=True)
        lines = self.view.lines
        target.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
        return target

    def default_export_path(self) -> str:
        return f"devenv-logs-{self.shown_service or 'all'}.log"

    # -- the prompt (search / filter / export) --------------------------------------------------
    def prompt(self, mode: str) -> None:
        field = self.query_one("#log-input", Input)
        self.prompt_mode = mode
        placeholders = {
            "search": "search (regex): enter to find, escape to close; n / N next / previous",
            "filter": "show only lines containing this text (empty: all lines)",
            "export": "export the visible lines to this file",
        }
        field.placeholder = placeholders[mode]
        field.value = {"search": self.search_text, "filter": self.text_filter}.get(mode, self.default_export_path())
        self.add_class("prompting")
        field.focus()

    def close_prompt(self) -> None:
        self.prompt_mode = ""
        self.remove_class("prompting")
        self.view.focus()

    @on(Input.Submitted, "#log-input")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        mode, value = self.prompt_mode, event.value
        if mode == "search":
            if not self.set_search(value):
                return
            if value:
                self.next_match(forward=False)
        elif mode == "filter":
            self.set_filter(value)
        elif mode == "export":
            try:
                target = self.export(value or self.default_export_path())
            except OSError as exc:
                self.notify(f"could not export: {exc}", severity="error")
                return
            self.notify(f"exported {len(self.view.lines)} lines to {target}")
        self.close_prompt()

    def key_escape(self) -> None:
        if self.prompt_mode:
            self.close_prompt()

    def _status(self) -> None:
        view = self.query_one(LogView)
        # What the user typed first: at 80 columns the pane is narrow and the line is cut at its end.
        parts = []
        if self.search_text:
            parts.append(f"/{self.search_text}/")
        if self.text_filter:
            parts.append(f"filter: {self.text_filter}")
        parts.append("follow" if view.auto_scroll else "paused")
        parts.append("all services" if self.all_services else (self.service or "no service selected"))
        if self.timestamps:
            parts.append("timestamps")
        parts.append(f"{view.line_count} lines")
        # Plain text: a search such as "tick [0-9]+" must not be read as markup.
        self.query_one("#log-status", Static).update(Text(" · ".join(parts)), layout=False)  # one line, always
