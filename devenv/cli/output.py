"""One output object for every command: TTY vs plain vs ``--json``.

Rules: with ``--json`` stdout carries exactly one JSON document and everything else goes to
stderr. Progress always goes to stderr. Color only on a TTY and never with NO_COLOR.

A reader that goes away (``devenv migrate status | head -1``) does not stop a command: what it
would have read is discarded and the command runs to its end, so its exit code is its real result.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import IO, Any

from devenv.errors import ConfigError, DevenvError


class Output:
    def __init__(self, *, json_mode: bool = False, color: bool | None = None) -> None:
        self.json_mode = json_mode
        self.out: IO[str] = sys.stdout
        self.err: IO[str] = sys.stderr
        self.err_tty = self.err.isatty()
        self.out_tty = self.out.isatty()
        if color is None:
            color = self.err_tty and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"
        self.color = color
        self.stdout_closed = False  # the reader of stdout went away; the rest is discarded
        self.stderr_closed = False

    # -- styling -------------------------------------------------------------------------------
    def style(self, text: str, code: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.color else text

    def bold(self, text: str) -> str:
        return self.style(text, "1")

    def red(self, text: str) -> str:
        return self.style(text, "31")

    def green(self, text: str) -> str:
        return self.style(text, "32")

    def yellow(self, text: str) -> str:
        return self.style(text, "33")

    def dim(self, text: str) -> str:
        return self.style(text, "2")

    # -- writing -------------------------------------------------------------------------------
    def print(self, text: str = "") -> None:
        """Main output (stdout) for non-JSON commands."""
        self.write_out(text + "\n")

    def write_out(self, text: str) -> None:
        """Write ``text`` to stdout and flush; discarded once the reader of stdout went away."""
        if self.stdout_closed:
            return
        try:
            self.out.write(text)
            self.out.flush()
        except BrokenPipeError:
            self.discard_stdout()

    def discard_stdout(self) -> None:
        """The reader of stdout went away: discard what is still written there (and at exit)."""
        self.stdout_closed = True
        _discard(self.out)

    def info(self, text: str) -> None:
        """Progress and notes (stderr)."""
        if self.stderr_closed:
            return
        try:
            self.err.write(text + "\n")
            self.err.flush()
        except BrokenPipeError:
            self.stderr_closed = True
            _discard(self.err)

    def warn(self, text: str) -> None:
        """A warning on stderr (never on stdout, also with ``--json``)."""
        self.info(self.yellow("devenv: warning: ") + text)

    def json(self, document: Any) -> None:
        self.write_out(json.dumps(document, indent=2, default=str) + "\n")

    def error(self, error: DevenvError | str, *, prefix: str = "devenv: error: ") -> None:
        if isinstance(error, DevenvError):
            text = error.message
            # Config messages usually name their file already, relative to the project root.
            if isinstance(error, ConfigError) and error.path and os.path.basename(error.path) not in text:
                text = f"{error.path}: {text}"
            self.info(self.red(prefix) + text)
            if error.hint:
                self.info(error.hint)
        else:
            self.info(self.red(prefix) + error)


def _discard(stream: IO[str]) -> None:
    """Point ``stream``'s file descriptor at /dev/null, so later writes and the flush at exit succeed."""
    try:
        fd = stream.fileno()
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), fd)
    except (OSError, ValueError):  # no file descriptor (a StringIO in tests), or already closed
        pass


def reader_gone(stream: IO[str]) -> bool:
    """Whether ``stream`` is a pipe (or socket) whose reading end was closed."""
    try:
        import select

        poller = select.poll()
        poller.register(stream.fileno(), 0)  # POLLERR and POLLHUP are always reported
        return any(events & (select.POLLERR | select.POLLHUP) for _fd, events in poller.poll(0))
    except (AttributeError, OSError, ValueError):
        return False


def table(rows: list[list[str]], header: list[str]) -> str:
    widths = [len(h) for h in header]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    lines = ["  ".join(h.ljust(widths[i]) for i, h in enumerate(header)).rstrip()]
    for row in rows:
        lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
    return "\n".join(lines)


def human_size(n: int) -> str:
    """Bytes as the CLI and the TUI show them: "812 B", "4.2 MiB"."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


def human_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    if seconds < 86400:
        return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"
    return f"{seconds // 86400}d{(seconds % 86400) // 3600}h"


def uptime(started_at: float | None) -> str:
    return human_duration(time.time() - started_at) if started_at else "-"
