"""A debug session on one service: attach, breakpoints, threads, stack, variables, evaluate, stepping.

``DebugSession(target, emit=...)`` drives :class:`~devenv.core.debug.dap.DapConnection`\\ s to the
debugpy adapter a :class:`~devenv.core.debug.target.DebugTarget` names. :meth:`DebugSession.attach`
does the handshake VS Code does (``initialize``; ``attach`` with the target's ``pathMappings`` and
``justMyCode: false``; on ``initialized``: the breakpoints, the exception filters,
``configurationDone``). debugpy reports each child process of the debuggee (``uvicorn --reload``'s
worker, multiprocessing children) with a ``debugpyAttach`` event; the session attaches to each one
on a connection of its own, with the same breakpoints, so a breakpoint in a request handler hits in
the reloader's child. :meth:`DebugSession.detach` completes ``disconnect`` on every connection:
the service keeps running, stopped threads resume.

Breakpoints are kept by the session (host paths): sent on attach, and to every process on change.

Threading: every method but the properties blocks (one or a few DAP requests) and raises
:class:`~devenv.core.debug.dap.DapError` subclasses (:class:`~devenv.core.debug.dap.AlreadyAttachedError`
when an IDE is attached already). The ``emit`` callback receives the events of
:mod:`devenv.core.debug.dapmodel` from the connections' reader threads (and from the thread that
attaches a child process), one at a time per connection; it must return quickly (the TUI:
``post_message``). Never call the session's blocking methods from ``emit``.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from devenv.core.cancel import CancelToken
from devenv.core.debug.breakpoints import BreakpointBook, is_mapped
from devenv.core.debug.dap import DapClosed, DapConnectError, DapConnection, DapError
from devenv.core.debug.dapmodel import (
    BreakpointState,
    DebugAttached,
    DebugBreakpoints,
    DebugContinued,
    DebugDetached,
    DebugOutput,
    DebugProcess,
    DebugStopped,
    DebugThread,
    EvalResult,
    Frame,
    ProcessInfo,
    Scope,
    SourceBreakpoint,
    Stopped,
    ThreadInfo,
    Variable,
)
from devenv.core.debug.target import DebugTarget
from devenv.core.events import Emit, Event

__all__ = ["EXCEPTION_FILTERS", "INITIALIZE_ARGS", "DebugSession"]

INITIALIZE_ARGS: dict[str, Any] = {
    "clientID": "devenv",
    "clientName": "devenv",
    "adapterID": "debugpy",
    "locale": "en-US",
    "linesStartAt1": True,
    "columnsStartAt1": True,
    "pathFormat": "path",
    "supportsVariableType": True,
    "supportsVariablePaging": False,
    "supportsRunInTerminalRequest": False,
}
EXCEPTION_FILTERS = ("raised", "uncaught")  # debugpy's filters: every raise / uncaught only
STEPS = {"next": "next", "in": "stepIn", "out": "stepOut"}


class _Process:
    """One DAP connection: the first process attached, or a child debugpy announced."""

    def __init__(self, key: int, conn: DapConnection, pid: int | None, name: str) -> None:
        self.key = key
        self.conn = conn
        self.pid = pid
        self.name = name
        self.exit_code: int | None = None
        self.bp_lock = threading.Lock()  # one setBreakpoints at a time, the newest specs last

    def info(self) -> ProcessInfo:
        return ProcessInfo(self.key, self.pid, self.name)


class DebugSession:
    """See the module doc. ``timeout``: the default limit of one request, in seconds."""

    def __init__(self, target: DebugTarget, *, emit: Emit | None = None, timeout: float = 10.0) -> None:
        self.target = target
        self.timeout = timeout
        self._emit_fn = emit
        self._lock = threading.RLock()
        self._keys = itertools.count(1)
        self._processes: dict[int, _Process] = {}
        self._root: _Process | None = None
        self.book = BreakpointBook()
        self._stopped: dict[int, Stopped] = {}  # process -> where it stopped, the latest last
        self._children: set[int] = set()  # pids announced by debugpyAttach
        self._child_threads: list[threading.Thread] = []
        self._detaching = False

    # -- state ------------------------------------------------------------------------------------
    @property
    def address(self) -> str:
        return f"{self.target.host}:{self.target.port}"

    @property
    def attached(self) -> bool:
        with self._lock:
            return self._root is not None and not self._detaching

    @property
    def stopped(self) -> Stopped | None:
        """Where the program stopped last (None while it runs)."""
        with self._lock:
            return next(reversed(self._stopped.values()), None)

    def processes(self) -> list[ProcessInfo]:
        with self._lock:
            return [p.info() for p in self._processes.values()]

    def _emit(self, event: Event) -> None:
        if self._emit_fn is not None:
            with contextlib.suppress(Exception):
                self._emit_fn(event)

    # -- attach / detach --------------------------------------------------------------------------
    def attach(self, *, timeout: float = 15.0, cancel: CancelToken | None = None) -> None:
        """Attach to the target's debugpy (idempotent). Raises DapError (AlreadyAttachedError...)."""
        if self.attached:
            return
        t = self.target
        conn = DapConnection.open(t.host, t.port, name=t.service, timeout=min(timeout, 5.0), cancel=cancel)
        with self._lock:
            self._detaching = False
        deadline = time.monotonic() + timeout
        try:
            self._start(conn, self.attach_arguments(), None, timeout, cancel, root=True)
            # debugpy announces the children it has (debugpyAttach) before it reads our next request:
            # once this round trip is back, every child is known; wait until they are configured too,
            # so that a breakpoint set now hits in them (the reloader's worker) from the start.
            conn.request("threads", {}, timeout=timeout, cancel=cancel)
            with self._lock:
                children = list(self._child_threads)
            for thread in children:
                thread.join(max(0.0, deadline - time.monotonic()))
        except BaseException:
            self._close_all()
            conn.close()  # completes `disconnect`, so that debugpy's adapter stays up for the next try
            raise
        self._emit(DebugAttached(t.service, self.address, tuple(self.processes())))

    def attach_arguments(self) -> dict[str, Any]:
        """The ``attach`` request's arguments (the ones a VS Code launch.json entry would hold)."""
        t = self.target
        return {
            "name": f"devenv: attach {t.service}",
            "type": "debugpy",
            "request": "attach",
            "connect": {"host": t.host, "port": t.port},
            "pathMappings": [{"localRoot": m.local_root, "remoteRoot": m.remote_root} for m in t.path_mappings],
            "justMyCode": False,
            "redirectOutput": True,
            "subProcess": True,
        }

    def _start(
        self,
        conn: DapConnection,
        args: dict[str, Any],
        pid: int | None,
        timeout: float,
        cancel: CancelToken | None,
        *,
        root: bool,
    ) -> _Process:
        """The handshake on ``conn``; the process is registered once the adapter is initialized."""
        name = self.target.service if root else f"{self.target.service} (pid {pid})"
        proc = _Process(0, conn, pid, name)
        conn.subscribe(lambda event, body: self._on_event(proc, event, body))
        try:
            conn.request("initialize", INITIALIZE_ARGS, timeout=timeout, cancel=cancel)
        except DapClosed:
            raise DapConnectError(
                f"The debugger port of {self.target.service} ({self.address}) accepts connections but no "
                "debug adapter answers.",
                hint="If an earlier client closed without detaching, debugpy's adapter is gone until the "
                "service restarts: restart the service (r in the TUI), then attach again.",
            ) from None
        initialized = conn.expect_event("initialized")
        attach = conn.send_request("attach", args)
        attach.on_done(initialized.wake)
        if initialized.wait(timeout, cancel) is None:  # the attach failed (or ended) before `initialized`
            conn.wait(attach, timeout=0, cancel=cancel)
        with self._lock:
            proc.key = next(self._keys)
            self._processes[proc.key] = proc
            if root:
                self._root = proc
        conn.on_close(lambda reason: self._on_closed(proc, reason))
        try:
            for path in self.book.paths():
                self._send_breakpoints(proc, path, cancel)
            filters = list(self.book.exception_filters)
            conn.request("setExceptionBreakpoints", {"filters": filters}, timeout=timeout, cancel=cancel)
            conn.request("configurationDone", {}, timeout=timeout, cancel=cancel)
            conn.wait(attach, timeout=timeout, cancel=cancel)
        except BaseException:
            self._forget(proc)
            raise
        return proc

    def detach(self) -> None:
        """Complete ``disconnect`` on every connection (the service keeps running). Idempotent."""
        if self._close_all():
            self._emit(DebugDetached("detached", by_user=True))

    def _close_all(self) -> bool:
        with self._lock:
            self._detaching = True
            procs = sorted(self._processes.values(), key=lambda p: -p.key)  # children first
            was_attached = self._root is not None
        for proc in procs:
            proc.conn.close()
        with self._lock:
            self._processes.clear()
            self._stopped.clear()
            self._children.clear()
            self._root = None
        return was_attached

    def _forget(self, proc: _Process) -> None:
        self.book.forget(proc.key)
        with self._lock:
            self._processes.pop(proc.key, None)
            self._stopped.pop(proc.key, None)
            if self._root is proc:
                self._root = None

    def _attach_child(self, body: dict[str, Any]) -> None:
        """A child process announced by ``debugpyAttach``: attach on a new connection (own thread)."""
        pid = body.get("subProcessId")
        args = dict(body)
        args["connect"] = {"host": self.target.host, "port": self.target.port}  # the adapter as we reach it
        try:
            conn = DapConnection.open(self.target.host, self.target.port, name=f"{self.target.service} pid {pid}")
        except DapError as exc:
            self._emit(DebugOutput(0, "console", f"could not attach to child process {pid}: {exc.message}\n"))
            return
        try:
            proc = self._start(conn, args, pid if isinstance(pid, int) else None, self.timeout, None, root=False)
        except (DapError, OSError) as exc:
            conn.close()
            if not self._detaching:
                self._emit(DebugOutput(0, "console", f"could not attach to child process {pid}: {exc}\n"))
            return
        if not self.attached:  # detached meanwhile
            conn.close()
            self._forget(proc)
            return
        self._emit(DebugProcess(proc.info(), True))

    # -- events (reader threads) ------------------------------------------------------------------
    def _on_event(self, proc: _Process, event: str, body: dict[str, Any]) -> None:
        if event == "stopped":
            stopped = Stopped(
                proc.key,
                _as_int(body.get("threadId")),
                str(body.get("reason") or ""),
                str(body.get("description") or ""),
                str(body.get("text") or ""),
                bool(body.get("allThreadsStopped", True)),
            )
            with self._lock:
                self._stopped.pop(proc.key, None)
                self._stopped[proc.key] = stopped
            self._emit(DebugStopped(stopped))
        elif event == "continued":
            with self._lock:
                self._stopped.pop(proc.key, None)
            self._emit(DebugContinued(proc.key, _as_int(body.get("threadId")), bool(body.get("allThreadsContinued"))))
        elif event == "output":
            category = str(body.get("category") or "console")
            if category != "telemetry":
                self._emit(DebugOutput(proc.key, category, str(body.get("output") or "")))
        elif event == "thread":
            self._emit(DebugThread(proc.key, _as_int(body.get("threadId")), str(body.get("reason") or "")))
        elif event == "breakpoint":
            if self.book.update(proc.key, body.get("breakpoint") or {}):
                self._emit(DebugBreakpoints(tuple(self.book.states())))
        elif event == "process":
            proc.pid = _as_int(body.get("systemProcessId")) or proc.pid
        elif event == "debugpyAttach":
            pid = body.get("subProcessId")
            with self._lock:
                if pid in self._children or self._detaching:
                    return
                self._children.add(_as_int(pid))
                thread = threading.Thread(target=self._attach_child, args=(body,), name="devenv-dap-child", daemon=True)
                self._child_threads = [t for t in self._child_threads if t.is_alive()] + [thread]
            thread.start()
        elif event == "exited":
            proc.exit_code = _as_int(body.get("exitCode"))
        elif event == "terminated":
            with self._lock:
                self._stopped.pop(proc.key, None)
            # Not from this (the reader) thread: disconnect waits for the reader to deliver its answer.
            threading.Thread(target=proc.conn.close, name="devenv-dap-close", daemon=True).start()

    def _on_closed(self, proc: _Process, reason: str) -> None:
        with self._lock:
            known = proc.key in self._processes
            detaching = self._detaching
            root = self._root is proc
        if not known or detaching:
            return
        self._forget(proc)
        if proc.exit_code is not None:
            reason = f"exited with code {proc.exit_code}"
        if root:
            with self._lock:
                self._detaching = True
            threading.Thread(target=self.detach, name="devenv-dap-detach", daemon=True).start()
            self._emit(DebugDetached(f"{self.target.service}: {reason}"))
        else:
            self._emit(DebugProcess(proc.info(), False, reason))

    # -- breakpoints ------------------------------------------------------------------------------
    def breakpoints(self) -> list[BreakpointState]:
        """Every breakpoint with its verified state (verified in any process)."""
        return self.book.states()

    def set_breakpoints(
        self, path: str, specs: Sequence[SourceBreakpoint], *, cancel: CancelToken | None = None
    ) -> list[BreakpointState]:
        """Replace the breakpoints of file ``path`` (sent to every attached process)."""
        path = os.path.abspath(path)
        self.book.replace(path, specs)
        with self._lock:
            procs = list(self._processes.values())
        errors: list[DapError] = []
        for proc in procs:
            try:
                self._send_breakpoints(proc, path, cancel)
            except DapClosed:
                continue  # that process is going away
            except DapError as exc:
                errors.append(exc)
        states = self.book.states()
        self._emit(DebugBreakpoints(tuple(states)))
        if errors:
            raise errors[0]
        return [s for s in states if s.spec.path == path]

    def add_breakpoint(
        self, path: str, line: int, condition: str | None = None, *, cancel: CancelToken | None = None
    ) -> BreakpointState:
        """Add (or replace, on the same line) one breakpoint."""
        path = os.path.abspath(path)
        states = self.set_breakpoints(path, self.book.with_line(path, line, condition), cancel=cancel)
        return next(s for s in states if s.spec.line == line)

    def remove_breakpoint(self, path: str, line: int, *, cancel: CancelToken | None = None) -> None:
        path = os.path.abspath(path)
        self.set_breakpoints(path, self.book.without_line(path, line), cancel=cancel)

    def _send_breakpoints(self, proc: _Process, path: str, cancel: CancelToken | None) -> None:
        with proc.bp_lock:
            specs = self.book.specs(path)
            args = self.book.request_arguments(path, specs)
            body = proc.conn.request("setBreakpoints", args, timeout=self.timeout, cancel=cancel)
            self.book.record(proc.key, path, [dict(b) for b in body.get("breakpoints") or [] if isinstance(b, dict)])

    @property
    def exception_filters(self) -> tuple[str, ...]:
        return self.book.exception_filters

    def set_exception_breakpoints(self, *, raised: bool, uncaught: bool, cancel: CancelToken | None = None) -> None:
        """Stop on every raised exception, on uncaught ones, both or neither (every process)."""
        filters = tuple(f for f, on in zip(EXCEPTION_FILTERS, (raised, uncaught), strict=True) if on)
        self.book.exception_filters = filters
        with self._lock:
            procs = list(self._processes.values())
        for proc in procs:
            with contextlib.suppress(DapClosed):
                proc.conn.request(
                    "setExceptionBreakpoints", {"filters": list(filters)}, timeout=self.timeout, cancel=cancel
                )
        self._emit(DebugBreakpoints(tuple(self.book.states())))

    # -- inspecting ----------------------------------------------------------------------------
    def _conn(self, process: int) -> DapConnection:
        with self._lock:
            proc = self._processes.get(process)
        if proc is None:
            raise DapClosed(f"Process {process} of {self.target.service} is no longer attached.")
        return proc.conn

    def threads(self) -> list[ThreadInfo]:
        """The threads of every attached process."""
        with self._lock:
            procs = list(self._processes.values())
        out: list[ThreadInfo] = []
        for proc in procs:
            with contextlib.suppress(DapClosed):
                for t in proc.conn.request("threads", {}, timeout=self.timeout).get("threads") or []:
                    out.append(ThreadInfo(proc.key, _as_int(t.get("id")), str(t.get("name") or "")))
        return out

    def stack(self, process: int, thread_id: int, *, levels: int = 64) -> list[Frame]:
        args = {"threadId": thread_id, "startFrame": 0, "levels": levels}
        body = self._conn(process).request("stackTrace", args, timeout=self.timeout)
        frames = [Frame.from_dap(process, f) for f in body.get("stackFrames") or []]
        return [replace(f, local=is_mapped(self.target, f.path)) for f in frames]

    def scopes(self, process: int, frame_id: int) -> list[Scope]:
        body = self._conn(process).request("scopes", {"frameId": frame_id}, timeout=self.timeout)
        return [Scope.from_dap(process, s) for s in body.get("scopes") or []]

    def variables(self, process: int, reference: int) -> list[Variable]:
        """The children of ``reference`` (a scope's or a variable's): fetched only when asked."""
        body = self._conn(process).request("variables", {"variablesReference": reference}, timeout=self.timeout)
        return [Variable.from_dap(process, v) for v in body.get("variables") or []]

    def evaluate(self, expression: str, process: int, frame_id: int | None, *, context: str = "repl") -> EvalResult:
        """``expression`` in the frame (``context`` "repl": statements work too)."""
        args: dict[str, Any] = {"expression": expression, "context": context}
        if frame_id is not None:
            args["frameId"] = frame_id
        body = self._conn(process).request("evaluate", args, timeout=self.timeout)
        return EvalResult.from_dap(process, expression, body)

    def source(self, frame: Frame) -> str:
        """The text of the frame's file: read on the host when mapped, else asked of the debugger."""
        if frame.local and frame.path:
            return Path(frame.path).read_text(encoding="utf-8", errors="replace")
        ref = frame.source_reference
        args = {"source": {"path": frame.path, "sourceReference": ref}, "sourceReference": ref}
        return str(self._conn(frame.process).request("source", args, timeout=self.timeout).get("content") or "")

    # -- running -----------------------------------------------------------------------------------
    def still_stopped(self, stop: Stopped) -> bool:
        """Whether ``stop`` is still its process's current (newest) stop; a replaced stop's thread
        stays suspended, its stack readable, until the process (every thread) is continued."""
        with self._lock:
            return self._stopped.get(stop.process) is stop

    def resume(self, only: Stopped | None = None) -> None:
        """Continue every stopped process, or only the process of ``only`` when that is still its
        current stop (another process's stop, already reported, stays for the caller to read)."""
        with self._lock:
            if only is None:
                stopped = list(self._stopped.values())
            else:
                stopped = [only] if self._stopped.get(only.process) is only else []  # still_stopped
        for s in stopped:
            with contextlib.suppress(DapClosed):
                self._conn(s.process).request("continue", {"threadId": s.thread_id}, timeout=self.timeout)
            self._ran(s)

    def pause(self) -> None:
        """Pause the process that runs the code: the newest one (a reloader's worker), else the first."""
        with self._lock:
            procs = list(self._processes.values())
        if not procs:
            raise DapClosed(f"Not attached to {self.target.service}.")
        procs[-1].conn.request("pause", {"threadId": 0}, timeout=self.timeout)

    def step(self, kind: str, stopped: Stopped | None = None) -> None:
        """Step ``kind`` ("next", "in", "out") in the stopped thread (``stopped`` or the latest)."""
        where = stopped or self.stopped
        if where is None:
            raise DapError("The program is running: pause it or wait for a breakpoint before stepping.")
        with self._lock:
            before = self._stopped.get(where.process)
        self._conn(where.process).request(STEPS[kind], {"threadId": where.thread_id}, timeout=self.timeout)
        if before is not None:
            self._ran(before)

    def _ran(self, stop: Stopped) -> None:
        """The program left ``stop`` (unless a newer stop, already reported, replaced it)."""
        with self._lock:
            if self._stopped.get(stop.process) is stop:
                del self._stopped[stop.process]


def _as_int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0
