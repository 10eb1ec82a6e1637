"""The log buffer behind the Logs view: bounded, ANSI-free, filtered and formatted on demand.

Plain data and string work, no Textual: the view (``widgets/logs.py``) asks for the visible lines
of a selection (one service or all merged), a text filter and the timestamps setting.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["NOTICE", "Entry", "LogBuffer", "strip_ansi"]

NOTICE = "devenv"  # the "service" of the TUI's own notices in the log (stream lost, reconnected)

# CSI sequences (colours, cursor moves), OSC sequences (titles, links), other two-byte escapes.
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")


def strip_ansi(text: str) -> str:
    """The text without terminal escape sequences (colours are dropped, never shown as garbage)."""
    return _ANSI.sub("", text) if "\x1b" in text else text


@dataclass(slots=True)
class Entry:
    service: str
    timestamp: str
    text: str


class LogBuffer:
    """The last ``max_lines`` log lines of every service, in arrival order."""

    def __init__(self, max_lines: int = 100_000) -> None:
        self.max_lines = max_lines
        self.entries: deque[Entry] = deque(maxlen=max_lines)
        self.width = 8  # the widest service name seen (for the aligned prefix)

    def add(self, service: str, timestamp: str, text: str) -> Entry:
        entry = Entry(service, timestamp, strip_ansi(text))
        self.entries.append(entry)
        return entry

    def set_services(self, names: Iterable[str]) -> bool:
        """Align the prefix to the widest of ``names``; True when the width changed (re-render)."""
        width = min(max([8, *(len(n) for n in names)]), 24)
        changed, self.width = width != self.width, width
        return changed

    @staticmethod
    def matches(entry: Entry, service: str | None, text_filter: str) -> bool:
        if service is not None and entry.service not in (service, NOTICE):
            return False
        return not text_filter or text_filter.lower() in entry.text.lower()

    def format(self, entry: Entry, timestamps: bool) -> str:
        stamp = f"{entry.timestamp[:23].replace('T', ' ')} " if timestamps and entry.timestamp else ""
        return f"{entry.service.ljust(self.width)} | {stamp}{entry.text}"

    def view(self, service: str | None, text_filter: str, timestamps: bool) -> list[str]:
        return self.lines(self.entries, service, text_filter, timestamps)

    def lines(self, entries: Iterable[Entry], service: str | None, text_filter: str, timestamps: bool) -> list[str]:
        return [self.format(e, timestamps) for e in entries if self.matches(e, service, text_filter)]
