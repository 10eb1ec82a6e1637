"""The log buffer behind the Logs view: bounded, filtered and formatted on demand, colours kept apart.

Plain data and string work, no Textual: the view (``widgets/logs.py``) asks for the visible lines
of a selection (one service or all merged), a text filter and the timestamps setting.

A service's ANSI colours (uvicorn, pytest, ...) are kept: every entry holds its plain text (what
search, filter and export see) and, only when the line had colours, the same text with its SGR
colour sequences and nothing else (cursor moves, OSC titles and links, charset switches are
dropped). The view turns that into styles when a line is drawn, so ingestion pays two regex passes
per coloured line and nothing per plain one.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable
from typing import NamedTuple

__all__ = ["NOTICE", "Entry", "LogBuffer", "settle_gc", "split_ansi", "strip_ansi"]

NOTICE = "devenv"  # the "service" of the TUI's own notices in the log (stream lost, reconnected)

# Every escape sequence but SGR colours: CSI other than SGR (cursor moves, erase), OSC (titles,
# links) to BEL or ST, DCS/SOS/PM/APC strings, charset designations, other two-byte escapes, a
# truncated CSI and a stray ESC.
_NOT_SGR = re.compile(
    r"\x1b\[(?![0-9;:]*m)[0-?]*[ -/]*[@-~]"
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"
    r"|\x1b[()*+].?"
    r"|\x1b\[[0-?]*[ -/]*(?![ -~])"
    r"|\x1b(?!\[)[ -~]?"
)
_SGR = re.compile(r"\x1b\[[0-9;:]*m")


def settle_gc() -> None:
    """Called once the app has drawn its first frame: what is loaded by then stays out of the
    collector's walks (``gc.freeze``), and collections come every 20,000 new objects, not 700 (a
    flood of log lines made collections pause the keys)."""
    import gc

    gc.freeze()
    gc.set_threshold(20_000, 20, 100)


def split_ansi(text: str) -> tuple[str, str | None]:
    """(plain text, the text with only its SGR colour sequences, or None when it has no colour)."""
    if "\x1b" not in text:
        return text, None
    plain = _SGR.sub("", text)
    if "\x1b" not in plain:  # colours only (the usual case): one pass
        return plain, (text if len(text) != len(plain) else None)
    styled = _NOT_SGR.sub("", text)
    plain = _SGR.sub("", styled)
    return plain, (styled if len(styled) != len(plain) else None)


def strip_ansi(text: str) -> str:
    """The text without terminal escape sequences (never shown as garbage)."""
    return split_ansi(text)[0]


class Entry(NamedTuple):
    """One line. A tuple of strings on purpose: the garbage collector stops tracking it, so a full
    buffer (100,000 entries) costs the collector nothing (a slots dataclass made every full
    collection walk the whole buffer: pauses of tens of ms while lines were flowing).

    ``line`` is the line as the view shows it by default (``service | text``, aligned to the width
    of the moment), so the view keeps the very same string: one copy of each line in memory.
    """

    service: str
    timestamp: str
    line: str  # "service | text": plain, what search, filter and export see
    cut: int  # where the text starts in ``line``
    ansi: str | None = None  # the same line with the service's colour sequences, when it had any

    @property
    def text(self) -> str:
        return self.line[self.cut :]


class LogBuffer:
    """The last ``max_lines`` log lines of every service, in arrival order."""

    def __init__(self, max_lines: int = 100_000) -> None:
        self.max_lines = max_lines
        self.entries: deque[Entry] = deque(maxlen=max_lines)
        self.width = 8  # the widest service name seen (for the aligned prefix)
        self.added = 0  # every line ever added (the bench's ingestion counter)

    def add(self, service: str, timestamp: str, text: str) -> Entry:
        head = f"{service.ljust(self.width)} | "
        if "\x1b" in text:
            plain, ansi = split_ansi(text)
            entry = Entry(service, timestamp, head + plain, len(head), None if ansi is None else head + ansi)
        else:
            entry = Entry(service, timestamp, head + text, len(head))
        self.entries.append(entry)
        self.added += 1
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

    def prefix(self, entry: Entry, timestamps: bool) -> str:
        stamp = f"{entry.timestamp[:23].replace('T', ' ')} " if timestamps and entry.timestamp else ""
        return f"{entry.service.ljust(self.width)} | {stamp}"

    def format(self, entry: Entry, timestamps: bool) -> str:
        return self.prefix(entry, timestamps) + entry.text

    def view(self, service: str | None, text_filter: str, timestamps: bool) -> tuple[list[str], list[str | None]]:
        return self.lines(self.entries, service, text_filter, timestamps)

    def lines(
        self, entries: Iterable[Entry], service: str | None, text_filter: str, timestamps: bool
    ) -> tuple[list[str], list[str | None]]:
        """The formatted plain lines of the ``entries`` shown, and beside each its coloured form (or None).

        Without timestamps, at the entry's own width (the usual case), the entry's own strings.
        """
        plain: list[str] = []
        coloured: list[str | None] = []
        needle = text_filter.lower()
        cut = self.width + 3
        for e in entries:
            if service is not None and e.service != service and e.service != NOTICE:
                continue
            if needle and e.line.lower().find(needle, e.cut) < 0:
                continue
            if not timestamps and e.cut == cut:
                plain.append(e.line)
                coloured.append(e.ansi)
                continue
            head = self.prefix(e, timestamps)
            plain.append(head + e.line[e.cut :])
            coloured.append(None if e.ansi is None else head + e.ansi[e.cut :])
        return plain, coloured
