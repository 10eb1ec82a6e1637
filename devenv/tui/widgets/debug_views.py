"""What the debugger panel draws: the source around a line, variables, frames, output lines.

Plain functions over :mod:`devenv.core.debug.dapmodel` values (no widgets): the panel
(:mod:`devenv.tui.widgets.debug_panel`) puts them on screen.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from rich.text import Text

from devenv.core.debug.dapmodel import BreakpointState, DebugOutput, EvalResult, Frame, Variable

__all__ = ["OutputLines", "breakpoint_row", "frame_row", "shown_path", "source_view", "variable_label"]

VALUE_WIDTH = 160  # characters of a value shown in the tree (the rest: evaluate it)


def shown_path(path: str | None, roots: Iterable[str]) -> str:
    """``path`` relative to the first root it is under (the project, a mapped folder), else as it is."""
    if not path:
        return "?"
    for root in roots:
        base = root.rstrip("/") + "/"
        if path.startswith(base):
            return path[len(base) :]
    return path


def source_view(text: str, line: int, marks: Iterable[int], *, around: int = 6) -> Text:
    """Lines ``line - around`` to ``line + around`` numbered; ▶ and reverse video on ``line``, ● on
    breakpoint lines."""
    lines = text.splitlines()
    if not lines:
        return Text("(no source)", style="dim")
    line = min(max(line, 1), len(lines))
    start, end = max(1, line - around), min(len(lines), line + around)
    width = len(str(end))
    marked = set(marks)
    out = Text(no_wrap=True, overflow="ellipsis")
    for n in range(start, end + 1):
        current = n == line
        marker = "▶" if current else ("●" if n in marked else " ")
        out.append(marker, style="bold yellow" if current else "bold red")
        out.append(f"{n:>{width}} ", style="bold" if current else "dim")
        out.append(lines[n - 1].expandtabs(4), style="reverse" if current else "")
        if n < end:
            out.append("\n")
    return out


def variable_label(var: Variable | EvalResult) -> Text:
    name = var.name if isinstance(var, Variable) else f"» {var.expression}"
    value = var.value if len(var.value) <= VALUE_WIDTH else var.value[: VALUE_WIDTH - 1] + "…"
    label = Text(no_wrap=True, overflow="ellipsis")
    label.append(name, style="bold")
    label.append(" = ")
    label.append(value.replace("\n", "⏎"))
    if var.type:
        label.append(f"  {var.type}", style="dim")
    return label


def frame_row(frame: Frame, roots: Iterable[str]) -> tuple[str, str]:
    where = f"{os.path.basename(frame.path)}:{frame.line}" if frame.path else f"?:{frame.line}"
    if frame.path and not frame.local:
        where = f"{shown_path(frame.path, roots)}:{frame.line}"
    return frame.name, where


def breakpoint_row(state: BreakpointState, roots: Iterable[str]) -> tuple[Text, str]:
    spec = state.spec
    mark = Text("●", style="bold red") if state.verified else Text("○", style="dim")
    where = f"{shown_path(spec.path, roots)}:{spec.line}"
    if state.line and state.line != spec.line:
        where += f" (→{state.line})"
    if spec.condition:
        where += f" if {spec.condition}"
    if not state.verified and state.message:
        where += f"  [{state.message}]"
    return mark, where


class OutputLines:
    """Output events arrive in pieces (``print`` writes its words and the newline apart): whole
    lines out, per process and stream; ``flush`` hands out what is left."""

    def __init__(self) -> None:
        self._partial: dict[tuple[int, str], str] = {}

    def feed(self, events: Iterable[DebugOutput]) -> list[str]:
        out: list[str] = []
        for ev in events:
            key = (ev.process, ev.category)
            text = self._partial.pop(key, "") + ev.text
            *whole, rest = text.split("\n")
            prefix = "" if ev.category in ("stdout", "console") else f"[{ev.category}] "
            out += [prefix + line.rstrip("\r") for line in whole]
            if rest:
                self._partial[key] = rest
        return out

    def flush(self) -> list[str]:
        out = [("" if cat in ("stdout", "console") else f"[{cat}] ") + t for (_p, cat), t in self._partial.items()]
        self._partial.clear()
        return out
