"""One output object for every command: TTY vs plain vs ``--json``.

Rules: with ``--json`` stdout carries exactly one JSON document and everything else goes to
stderr. Progress always goes to stderr. Color only on a TTY and never with NO_COLOR.
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
        self.out.write(text + "\n")
        self.out.flush()

    def info(self, text: str) -> None:
        """Progress and notes (stderr)."""
        self.err.write(text + "\n")
        self.err.flush()

    def json(self, document: Any) -> None:
        self.out.write(json.dumps(document, indent=2, default=str) + "\n")
        self.out.flush()

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


def table(rows: list[list[str]], header: list[str]) -> str:
    widths = [len(h) for h in header]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    lines = ["  ".join(h.ljust(widths[i]) for i, h in enumerate(header)).rstrip()]
    for row in rows:
        lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
    return "\n".join(lines)


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
