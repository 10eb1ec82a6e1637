"""The Logs view: the selected service or all merged, colour per service, follow, search, filter, export.

Lines arrive in batches (the app's thread worker reads :class:`~devenv.core.logs.LogFollower` and
posts a batch every ~50 ms) into a bounded :class:`~devenv.tui.logbuffer.LogBuffer`; the view is
Textual's ``Log`` (plain strings, renders only the visible lines, ``max_lines`` prunes from the
front), with a highlighter that colours each service's prefix and marks search matches.
Auto-scroll pauses when you scroll up and resumes at the end (``Log``'s own rule); ``f`` turns it
off and on.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from rich.highlighter import Highlighter
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Input, Log, Static

from devenv.core.models import LogLine
from devenv.tui.logbuffer import NOTICE, Entry, LogBuffer

__all__ = ["LogView", "LogsPanel"]

PALETTE = ("cyan", "yellow", "magenta", "green", "blue", "bright_red", "bright_cyan", "bright_yellow")
MATCH = "bold black on yellow"


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
    """``Log`` with a colour per service and highlighted search matches."""

    def __init__(self, max_lines: int, **kwargs: str) -> None:
        super().__init__(highlight=True, max_lines=max_lines, **kwargs)  # type: ignore[arg-type]
        self.highlighter = _Colours(self)
        self.pattern: re.Pattern[str] | None = None
        self.colours: dict[str, str] = {NOTICE: "bold red"}

    def colour(self, service: str) -> str:
        if service not in self.colours:
            self.colours[service] = PALETTE[(len(self.colours) - 1) % len(PALETTE)]
        return self.colours[service]

    def restyle(self) -> None:
        self._render_line_cache.clear()
        self.refresh()


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
        yield LogView(self.buffer.max_lines, id="log-view")
        yield Input(id="log-input")

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

    def add(self, items: Iterable[LogLine | Entry]) -> None:
        """Append a batch (LogLine from the follower; Entry for the TUI's own notices)."""
        fresh: list[Entry] = []
        for item in items:
            fresh.append(self.buffer.add(item.service, item.timestamp, item.text))
        lines = self.buffer.lines(fresh, self.shown_service, self.text_filter, self.timestamps)
        if lines:
            self.view.write_lines(lines)
        self._status()

    def notice(self, text: str) -> None:
        self.add([Entry(NOTICE, "", text)])

    def rerender(self) -> None:
        view = self.view
        view.clear()
        view.write_lines(self.buffer.view(self.shown_service, self.text_filter, self.timestamps), scroll_end=True)
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
        self.query_one("#log-status", Static).update(Text(" · ".join(parts)))
