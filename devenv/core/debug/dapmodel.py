"""What a debug session shows, and the events it reports (:mod:`devenv.core.debug.session`).

Plain frozen dataclasses. A service under debug may be several processes (``uvicorn --reload``:
the reloader and the worker it spawns; each is one DAP connection to the same debugpy adapter), so
threads, frames, scopes and variables carry the ``process`` they belong to (the session's key for
that process: 1 for the process attached first, then 2, 3... in order of appearance); every id
(thread, frame, variables reference) is only meaningful inside its process.

The events are :class:`devenv.core.events.Event` subclasses, emitted from the session's threads
(the DAP reader threads): see :mod:`devenv.core.debug.session` for the threading contract.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from devenv.core.events import Event

__all__ = [
    "BreakpointState",
    "DebugAttached",
    "DebugBreakpoints",
    "DebugContinued",
    "DebugDetached",
    "DebugOutput",
    "DebugProcess",
    "DebugStopped",
    "DebugThread",
    "EvalResult",
    "Frame",
    "ProcessInfo",
    "Scope",
    "SourceBreakpoint",
    "Stopped",
    "ThreadInfo",
    "Variable",
]


# ------------------------------------------------------------------------------------------ model
@dataclass(frozen=True)
class SourceBreakpoint:
    """A line breakpoint as the user asked for it: the host path (absolute), a line, a condition."""

    path: str
    line: int
    condition: str | None = None

    def label(self, root: str | None = None) -> str:
        shown = self.path
        if root and shown.startswith(root.rstrip("/") + "/"):
            shown = shown[len(root.rstrip("/")) + 1 :]
        return f"{shown}:{self.line}" + (f" if {self.condition}" if self.condition else "")


@dataclass(frozen=True)
class BreakpointState:
    """A breakpoint and what the debugger said of it: ``verified`` (in any process), the line it
    really binds to (may differ from the asked one), and the debugger's message when unverified."""

    spec: SourceBreakpoint
    verified: bool = False
    line: int | None = None
    message: str = ""


@dataclass(frozen=True)
class ProcessInfo:
    key: int
    pid: int | None
    name: str


@dataclass(frozen=True)
class ThreadInfo:
    process: int
    id: int
    name: str


@dataclass(frozen=True)
class Frame:
    """A stack frame. ``path`` is the host path when the file is under a mapped source folder,
    else the path in the container (``local`` False: read it through the debugger)."""

    process: int
    id: int
    name: str
    path: str | None
    line: int
    column: int = 0
    local: bool = False
    source_reference: int = 0

    @classmethod
    def from_dap(cls, process: int, f: dict[str, Any]) -> Frame:
        source = f.get("source") or {}
        path = source.get("path")
        return cls(
            process,
            _int(f.get("id")),
            str(f.get("name") or "?"),
            str(path) if path else None,
            _int(f.get("line")),
            _int(f.get("column")),
            source_reference=_int(source.get("sourceReference")),
        )


@dataclass(frozen=True)
class Scope:
    process: int
    name: str
    reference: int
    expensive: bool = False

    @classmethod
    def from_dap(cls, process: int, s: dict[str, Any]) -> Scope:
        return cls(process, str(s.get("name") or ""), _int(s.get("variablesReference")), bool(s.get("expensive")))


@dataclass(frozen=True)
class Variable:
    """A variable; ``reference`` > 0 when it has children (fetched on demand)."""

    process: int
    name: str
    value: str
    type: str = ""
    reference: int = 0

    @classmethod
    def from_dap(cls, process: int, v: dict[str, Any]) -> Variable:
        kind = str(v.get("type") or "")
        return cls(
            process, str(v.get("name") or ""), str(v.get("value") or ""), kind, _int(v.get("variablesReference"))
        )


@dataclass(frozen=True)
class EvalResult:
    process: int
    expression: str
    value: str
    type: str = ""
    reference: int = 0

    @classmethod
    def from_dap(cls, process: int, expression: str, body: dict[str, Any]) -> EvalResult:
        value, kind = str(body.get("result") or ""), str(body.get("type") or "")
        return cls(process, expression, value, kind, _int(body.get("variablesReference")))


@dataclass(frozen=True)
class Stopped:
    """Where the program stopped: the process and thread, why ("breakpoint", "step", "exception",
    "pause"...), and the debugger's description (an exception's text)."""

    process: int
    thread_id: int
    reason: str
    description: str = ""
    text: str = ""
    all_threads: bool = True


# ----------------------------------------------------------------------------------------- events
@dataclass(frozen=True)
class DebugAttached(Event):
    service: str
    address: str  # host:port of the adapter
    processes: tuple[ProcessInfo, ...]


@dataclass(frozen=True)
class DebugProcess(Event):
    """A process of the service joined the session (``started``) or left it."""

    process: ProcessInfo
    started: bool
    detail: str = ""  # why it left ("exited with code 0", "connection lost")


@dataclass(frozen=True)
class DebugStopped(Event):
    stopped: Stopped


@dataclass(frozen=True)
class DebugContinued(Event):
    process: int
    thread_id: int
    all_threads: bool = True


@dataclass(frozen=True)
class DebugThread(Event):
    process: int
    thread_id: int
    reason: str  # "started" | "exited"


@dataclass(frozen=True)
class DebugOutput(Event):
    """Program output (``stdout``/``stderr``) or a debugger message (``console``, ``important``)."""

    process: int
    category: str
    text: str


@dataclass(frozen=True)
class DebugBreakpoints(Event):
    """The breakpoints or their verified state changed."""

    breakpoints: tuple[BreakpointState, ...]


@dataclass(frozen=True)
class DebugDetached(Event):
    """The session ended: ``by_user`` after detach; else why (the service stopped, connection lost)."""

    reason: str
    by_user: bool = False


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0
