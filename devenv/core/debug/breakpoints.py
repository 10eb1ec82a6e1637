"""Breakpoints of a debug session, the host's mapped source files, and ``file:line`` locations.

:class:`BreakpointBook` keeps what the user asked for (by host path) and what each attached
process answered (``setBreakpoints`` responses, ``breakpoint`` events); a breakpoint counts as
verified when any process verified it (``uvicorn --reload``'s reloader never imports the app, its
worker does). Thread-safe. :func:`mapped_sources` lists the files a picker offers;
:func:`parse_location` turns ``main.py:42 if x > 3`` into a host path, a line and a condition.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Sequence
from typing import Any

from devenv.core.debug.dapmodel import BreakpointState, SourceBreakpoint
from devenv.core.debug.target import DebugTarget
from devenv.errors import UsageError

__all__ = ["BreakpointBook", "is_mapped", "mapped_sources", "parse_location"]


class BreakpointBook:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._specs: dict[str, list[SourceBreakpoint]] = {}
        self._answers: dict[int, dict[str, list[dict[str, Any]]]] = {}  # process -> path -> answers
        self.exception_filters: tuple[str, ...] = ("uncaught",)

    def paths(self) -> list[str]:
        with self._lock:
            return list(self._specs)

    def specs(self, path: str) -> list[SourceBreakpoint]:
        with self._lock:
            return list(self._specs.get(path, []))

    def replace(self, path: str, specs: Sequence[SourceBreakpoint]) -> None:
        with self._lock:
            if specs:
                self._specs[path] = sorted(
                    (SourceBreakpoint(path, s.line, s.condition or None) for s in specs), key=lambda s: s.line
                )
            else:
                self._specs.pop(path, None)

    def with_line(self, path: str, line: int, condition: str | None) -> list[SourceBreakpoint]:
        """The file's breakpoints with one at ``line`` (replacing one there)."""
        return [*self.without_line(path, line), SourceBreakpoint(path, line, condition or None)]

    def without_line(self, path: str, line: int) -> list[SourceBreakpoint]:
        return [s for s in self.specs(path) if s.line != line]

    @staticmethod
    def request_arguments(path: str, specs: Sequence[SourceBreakpoint]) -> dict[str, Any]:
        return {
            "source": {"path": path, "name": os.path.basename(path)},
            "breakpoints": [{"line": s.line, **({"condition": s.condition} if s.condition else {})} for s in specs],
            "lines": [s.line for s in specs],
            "sourceModified": False,
        }

    def record(self, process: int, path: str, answers: list[dict[str, Any]]) -> None:
        """A process's ``setBreakpoints`` answer for ``path`` (one dict per breakpoint, in order)."""
        with self._lock:
            table = self._answers.setdefault(process, {})
            if answers:
                table[path] = answers
            else:
                table.pop(path, None)

    def update(self, process: int, bp: dict[str, Any]) -> bool:
        """A ``breakpoint`` event (by the debugger's id); True when it changed a known breakpoint."""
        ident = bp.get("id")
        if ident is None:
            return False
        found = False
        with self._lock:
            for answers in self._answers.get(process, {}).values():
                for answer in answers:
                    if answer.get("id") == ident:
                        answer.update({k: bp[k] for k in ("verified", "line", "message") if k in bp})
                        found = True
        return found

    def forget(self, process: int) -> None:
        with self._lock:
            self._answers.pop(process, None)

    def states(self) -> list[BreakpointState]:
        out: list[BreakpointState] = []
        with self._lock:
            for path, specs in sorted(self._specs.items()):
                for i, spec in enumerate(specs):
                    answers = [a for table in self._answers.values() for a in table.get(path, [])[i : i + 1]]
                    good = [a for a in answers if a.get("verified")]
                    message = next((str(a["message"]) for a in answers if a.get("message")), "")
                    line = _int(good[0].get("line")) if good else 0
                    out.append(BreakpointState(spec, bool(good), line or None, message))
        return out


def mapped_sources(target: DebugTarget, *, limit: int = 5000) -> list[str]:
    """The Python files on the host under the target's mapped source folders (for a file picker)."""
    out: list[str] = []
    skip = {"__pycache__", "node_modules", "venv"}
    for m in target.path_mappings:
        for dirpath, dirnames, filenames in os.walk(m.local_root):
            dirnames[:] = sorted(d for d in dirnames if d not in skip and not d.startswith("."))
            out += [os.path.join(dirpath, f) for f in sorted(filenames) if f.endswith(".py")]
            if len(out) >= limit:
                return out[:limit]
    return out


def is_mapped(target: DebugTarget, path: str | None) -> bool:
    """``path`` is a file under a mapped source folder on the host (so the host's copy is the code)."""
    if not path:
        return False
    roots = [os.path.abspath(m.local_root).rstrip("/") + "/" for m in target.path_mappings]
    return any(path.startswith(root) for root in roots) and os.path.isfile(path)


_LOCATION = re.compile(r"^\s*(?P<file>.+?):(?P<line>\d+)\s*(?:\bif\b\s*(?P<cond>.*\S))?\s*$")


def parse_location(text: str, candidates: Sequence[str], roots: Sequence[str]) -> tuple[str, int, str | None]:
    """``FILE:LINE [if CONDITION]`` -> (host path, line, condition).

    FILE is an absolute path, a path relative to one of ``roots`` (the mapped source folders, then
    the project), or the end of exactly one of ``candidates`` (``main.py`` for ``.../app/main.py``).
    Raises UsageError with what was wrong.
    """
    m = _LOCATION.match(text)
    if not m:
        raise UsageError(
            f"{text.strip()!r} is not a breakpoint location.", hint="Write FILE:LINE, or FILE:LINE if CONDITION."
        )
    name, line, cond = m.group("file").strip(), int(m.group("line")), m.group("cond")
    if line < 1:
        raise UsageError(f"Line {line} does not exist: lines start at 1.")
    if os.path.isabs(name):
        if not os.path.isfile(name):
            raise UsageError(f"{name} is not a file.")
        return os.path.normpath(name), line, cond
    for root in roots:
        path = os.path.normpath(os.path.join(root, name))
        if os.path.isfile(path):
            return path, line, cond
    suffix = "/" + name.lstrip("./")
    matches = sorted({c for c in candidates if c.endswith(suffix)})
    if len(matches) == 1:
        return matches[0], line, cond
    if not matches:
        raise UsageError(
            f"No source file matches {name!r} under the mapped source folders.",
            hint="Press f to pick a file, or give a path relative to the project.",
        )
    shown = ", ".join(matches[:4]) + (" ..." if len(matches) > 4 else "")
    raise UsageError(f"{name!r} matches several files: {shown}.", hint="Give more of the path.")


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0
