"""The debugger panel: attach to a service's debugpy, breakpoints, and the stopped program's state.

``DebugPanel(core)``. ``a`` attaches to the service selected in the table: the core bridge's
``debug_target`` turns debugpy on first when needed (:func:`devenv.core.debug.enable.enable_debug`)
and a :class:`~devenv.core.debug.session.DebugSession` attaches (``d`` detaches; the service keeps
running). Breakpoints: ``b`` types ``FILE:LINE [if CONDITION]`` (``f`` picks the file among the
mapped sources), ``delete`` removes the selected one, ``E`` / ``U`` stop on raised / uncaught
exceptions. When the program stops: its threads, the stack of the stopped thread, the variables of
the selected frame (expanded on demand), the source around the line (read on the host through the
path mappings), and ``e`` evaluates an expression in that frame. ``c`` continue, ``p`` pause,
``n`` step over, ``s`` step into, ``o`` step out (F5, F6, F10, F11, shift+F11 too). What the
program prints, and what the debugger says, goes to the output pane.

Every session call blocks, so it runs in a thread worker; the session's events arrive from its
reader threads and are posted to the panel as messages (output in batches).
"""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING, Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.css.query import NoMatches
from textual.message import Message
from textual.widget import Widget
from textual.widgets import DataTable, Input, Log, Static

from devenv.core.cancel import Cancelled, CancelToken
from devenv.core.debug.breakpoints import mapped_sources, parse_location
from devenv.core.debug.dapmodel import (
    DebugAttached,
    DebugBreakpoints,
    DebugContinued,
    DebugDetached,
    DebugOutput,
    DebugProcess,
    DebugStopped,
    Stopped,
)
from devenv.core.events import Event
from devenv.errors import DevenvError
from devenv.tui.widgets.debug_stopped import StoppedView
from devenv.tui.widgets.debug_views import (
    OutputLines,
    breakpoint_row,
    shown_path,
)
from devenv.tui.widgets.flow import error_text, event_lines

if TYPE_CHECKING:
    from devenv.core.debug.session import DebugSession

__all__ = ["DebugPanel"]

KEYS_HELP = "a attach  d detach  b/f breakpoint  del remove  E/U exceptions  c n s o p  e evaluate"


class DebugPanel(Widget):
    """See the module doc. ``core``: the TUI's bridge (``debug_target``, ``root``)."""

    DEFAULT_CSS = """
    DebugPanel { layout: vertical; height: 1fr; }
    DebugPanel #dbg-status { height: auto; max-height: 3; text-style: bold; }
    DebugPanel #dbg-status.error { color: $error; }
    DebugPanel #dbg-bottom { height: 8; border-top: solid $primary 50%; }
    DebugPanel #dbg-breakpoints { width: 2fr; height: 1fr; }
    DebugPanel #dbg-output { width: 3fr; height: 1fr; }
    DebugPanel .fields { height: auto; }
    DebugPanel .fields Input { width: 1fr; }
    DebugPanel .keys { height: 1; color: $text-muted; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "attach", "Attach"),
        Binding("d", "detach", "Detach"),
        Binding("b", "breakpoint", "Breakpoint"),
        Binding("f", "pick_file", "File"),
        Binding("delete,backspace", "remove_breakpoint", "Remove", show=False),
        Binding("E", "toggle_raised", "Raised", show=False),
        Binding("U", "toggle_uncaught", "Uncaught", show=False),
        Binding("c,f5", "resume", "Continue"),
        Binding("p,f6", "pause", "Pause", show=False),
        Binding("n,f10", "step('next')", "Over"),
        Binding("s,f11", "step('in')", "Into"),
        Binding("o,shift+f11", "step('out')", "Out"),
        Binding("e", "evaluate", "Evaluate"),
        Binding("escape", "leave_field", "Back", show=False),
    ]

    class SessionEvent(Message):
        def __init__(self, event: Event) -> None:
            super().__init__()
            self.event = event

    class OutputReady(Message):
        """Output events wait in the panel's buffer."""

    class Lines(Message):
        def __init__(self, lines: list[str]) -> None:
            super().__init__()
            self.lines = lines

    class Attached(Message):
        def __init__(self, session: DebugSession, sources: list[str]) -> None:
            super().__init__()
            self.session = session
            self.sources = sources

    class Failed(Message):
        def __init__(self, action: str, error: BaseException) -> None:
            super().__init__()
            self.action = action
            self.message, self.hint = error_text(error)

    def __init__(self, core: Any, *, name: str | None = None, id: str | None = None, classes: str | None = None):
        super().__init__(name=name, id=id, classes=classes)
        self.core = core
        self.service: str | None = None  # the service selected in the table
        self.session: DebugSession | None = None
        self.sessions: dict[str, DebugSession] = {}  # per service: breakpoints survive a detach
        self.sources: list[str] = []  # the mapped source files (the picker's list)
        self.stopped: Stopped | None = None
        self.busy: str | None = None  # the attach or detach in progress
        self._token: CancelToken | None = None
        self._output: list[DebugOutput] = []
        self._output_lock = threading.Lock()
        self._output_posted = False
        self._lines = OutputLines()

    def compose(self) -> ComposeResult:
        yield Static("", id="dbg-status", markup=False)
        yield StoppedView(self.roots, id="dbg-stopped")
        with Horizontal(id="dbg-bottom"):
            bps: DataTable[Any] = DataTable(id="dbg-breakpoints", cursor_type="row")
            bps.add_columns(" ", "BREAKPOINTS")
            yield bps
            yield Log(max_lines=2000, id="dbg-output")
        with Horizontal(classes="fields"):
            yield Input(
                placeholder="b: FILE:LINE [if CONDITION]", id="dbg-location", compact=True, select_on_focus=False
            )
            yield Input(
                placeholder="e: expression in the selected frame", id="dbg-expr", compact=True, select_on_focus=False
            )
        yield Static(KEYS_HELP, classes="keys")

    def on_mount(self) -> None:
        self.select(getattr(self.app, "selected", None))

    def on_unmount(self) -> None:
        if self._token is not None:
            self._token.cancel("the debugger panel closed")
        for session in self.sessions.values():
            # Not a daemon: the interpreter waits for it, so the `disconnect` completes even as the
            # app quits (debugpy 1.8's adapter exits for good when a client just goes away).
            threading.Thread(target=session.detach, name="devenv-dap-detach").start()

    # ---------------------------------------------------------------------------- the status line
    def select(self, service: str | None) -> None:
        """The service selected in the table (what ``a`` attaches to)."""
        self.service = service
        self.show_status()

    def show_status(self, text: str | None = None, *, error: bool = False) -> None:
        try:
            status = self.query_one("#dbg-status", Static)
        except NoMatches:  # not composed yet, or already gone (the app is closing)
            return
        status.set_class(error, "error")
        if text is None:
            text = self._state_text()
        status.update(text)

    def _state_text(self) -> str:
        session = self.session
        if self.busy:
            return f"… {self.busy}"
        if session is None or not session.attached:
            who = self.service or "no service selected"
            return f"debugger: {who} · not attached (a: attach, debugpy turned on if needed)"
        procs = session.processes()
        head = f"● {session.target.service} · {session.address} · {len(procs)} process{'es' if len(procs) > 1 else ''}"
        stopped = self.stopped
        if stopped is None:
            return f"{head} · running"
        pid = next((p.pid for p in procs if p.key == stopped.process), None)
        why = stopped.reason + (f": {stopped.description}" if stopped.description else "")
        return f"{head} · ⏸ stopped ({why}) · thread {stopped.thread_id}" + (f" · pid {pid}" if pid else "")

    def write(self, lines: list[str]) -> None:
        self.query_one("#dbg-output", Log).write_lines(lines)

    def roots(self) -> list[str]:
        out = [m.local_root for m in self.session.target.path_mappings] if self.session else []
        root = getattr(self.core, "root", None)
        return [*out, str(root)] if root else out

    # ---------------------------------------------------------------------------- attach / detach
    def action_attach(self) -> None:
        service = self.service
        if self.busy:
            return
        if service is None:
            self.show_status("✘ Select a service in the table first, then press a.", error=True)
            return
        if self.session is not None and self.session.attached and self.session.target.service == service:
            self.show_status()
            return
        self.busy = f"attaching to {service} (turning debugpy on if needed)"
        self._token = CancelToken()
        self.show_status()
        self.run_worker(self._confirm_then_attach(service, self._token), group="dbg-attach", exit_on_error=False)

    async def _confirm_then_attach(self, service: str, token: CancelToken) -> None:
        """On a protected profile, turning debug on recreates the service: the typed name first."""
        try:
            profile = await asyncio.to_thread(self.core.debug_protection, service)
            if profile is not None:
                from devenv.tui.screens.confirm import ConfirmScreen

                action = f"run {service} under debugpy (it is recreated)"
                if not await self.app.push_screen_wait(ConfirmScreen(action, protected_profile=profile)):
                    self.post_message(self.Failed("attach", DevenvError("Not confirmed: nothing was changed.")))
                    return
        except Exception as exc:
            self.post_message(self.Failed("attach", exc))
            return
        self._attach_work(service, self.session, token)

    @work(thread=True, exclusive=True, exit_on_error=False, group="dbg-attach")
    def _attach_work(self, service: str, current: DebugSession | None, token: CancelToken) -> None:
        from devenv.core.debug.session import DebugSession

        try:
            if current is not None and current.attached:
                current.detach()
            target = self.core.debug_target(service, lambda ev: self._emit_lines(ev), token)
            session = self.sessions.get(service)
            if session is None or session.target != target:
                fresh = DebugSession(target, emit=self._from_session)
                if session is not None:  # the same service on another port: keep its breakpoints
                    for path in session.book.paths():
                        fresh.book.replace(path, session.book.specs(path))
                    fresh.book.exception_filters = session.book.exception_filters
                session = fresh
            session.attach(timeout=30, cancel=token)
            self.post_message(self.Attached(session, mapped_sources(target)))
        except (Exception, Cancelled) as exc:
            self.post_message(self.Failed("attach", exc))

    def _emit_lines(self, event: Event) -> None:
        lines = event_lines(event)
        if lines:
            self.post_message(self.Lines(lines))

    def on_debug_panel_attached(self, message: Attached) -> None:
        message.stop()
        self.busy = None
        self.session = message.session
        self.sessions[message.session.target.service] = message.session
        self.sources = message.sources
        self.write([f"attached to {message.session.target.service} at {message.session.address}"])
        self.refresh_breakpoints()
        self.show_status()

    def on_debug_panel_failed(self, message: Failed) -> None:
        message.stop()
        if message.action in ("attach", "detach"):
            self.busy = None
        text = f"✘ {message.action}: {message.message}" + (f"\n{message.hint}" if message.hint else "")
        self.show_status(text, error=True)
        self.write(text.splitlines())

    def on_debug_panel_lines(self, message: Lines) -> None:
        message.stop()
        self.write(message.lines)

    def action_detach(self) -> None:
        if self.busy and self._token is not None:  # an attach in progress: cancel it
            self._token.cancel("detach")
            return
        if self.session is None or not self.session.attached:
            self.show_status("✘ Not attached.", error=True)
            return
        self.busy = f"detaching from {self.session.target.service}"
        self.show_status()
        self._call("detach", self.session.detach)

    @work(thread=True, exit_on_error=False, group="dbg-call")
    def _call(self, action: str, fn: Any, *args: Any, **kwargs: Any) -> None:
        """One blocking session call; a failure is shown in the status line."""
        try:
            fn(*args, **kwargs)
        except (Exception, Cancelled) as exc:
            self.post_message(self.Failed(action, exc))

    # ------------------------------------------------------------------------- the session's events
    def _from_session(self, event: Event) -> None:
        """The session's reader threads: output is batched, the rest posted as it comes."""
        if isinstance(event, DebugOutput):
            with self._output_lock:
                self._output.append(event)
                if self._output_posted:
                    return
                self._output_posted = True
            self.post_message(self.OutputReady())
            return
        self.post_message(self.SessionEvent(event))

    def on_debug_panel_output_ready(self, message: OutputReady) -> None:
        message.stop()
        with self._output_lock:
            events, self._output = self._output, []
            self._output_posted = False
        lines = self._lines.feed(events)
        if lines:
            self.write(lines)

    def on_debug_panel_session_event(self, message: SessionEvent) -> None:
        message.stop()
        ev = message.event
        if isinstance(ev, DebugStopped):
            self.stopped = ev.stopped
            if self.session is not None:
                self.stopped_view.show(self.session, ev.stopped)
        elif isinstance(ev, DebugContinued):
            if self.stopped is not None and self.stopped.process == ev.process:
                self.stopped = None
                self.stopped_view.clear()
        elif isinstance(ev, DebugBreakpoints):
            self.refresh_breakpoints()
        elif isinstance(ev, DebugProcess):
            pid = ev.process.pid or "?"
            self.write([f"process {pid} " + ("attached" if ev.started else f"left ({ev.detail})")])
            if not ev.started and self.stopped is not None and self.stopped.process == ev.process.key:
                self.stopped = None
                self.stopped_view.clear()
        elif isinstance(ev, DebugDetached):
            self.busy = None
            self.stopped = None
            self.stopped_view.clear()
            end = f"detached ({ev.reason})" if ev.by_user else f"session ended: {ev.reason}"
            self.write([*self._lines.flush(), end])
            if not ev.by_user:
                self.show_status(f"✘ the debug session ended: {ev.reason}", error=True)
                return
        elif isinstance(ev, DebugAttached):
            pass
        self.show_status()

    @property
    def stopped_view(self) -> StoppedView:
        return self.query_one(StoppedView)

    def on_stopped_view_said(self, message: StoppedView.Said) -> None:
        message.stop()
        self.write(message.lines)

    # ------------------------------------------------------------------------------- breakpoints
    def refresh_breakpoints(self) -> None:
        table = self.query_one("#dbg-breakpoints", DataTable)
        table.clear()
        session = self.session
        if session is None:
            return
        roots = self.roots()
        for state in session.breakpoints():
            table.add_row(*breakpoint_row(state, roots), key=f"{state.spec.path}:{state.spec.line}")
        filters = session.exception_filters
        table.add_row(
            "E" if "raised" in filters else "·", f"raised exceptions: {'on' if 'raised' in filters else 'off'}"
        )
        table.add_row(
            "U" if "uncaught" in filters else "·", f"uncaught exceptions: {'on' if 'uncaught' in filters else 'off'}"
        )

    def _need_session(self) -> DebugSession | None:
        if self.session is None or not self.session.attached:
            self.show_status("✘ Attach first (a): breakpoints live in the debugger of a service.", error=True)
            return None
        return self.session

    def action_breakpoint(self) -> None:
        self.query_one("#dbg-location", Input).focus()

    def action_pick_file(self) -> None:
        session = self._need_session()
        if session is None:
            return
        from devenv.tui.screens.pick_file import PickFileScreen

        roots = self.roots()
        files = [(shown_path(p, roots), p) for p in self.sources]

        def picked(path: str | None) -> None:
            if path:
                field = self.query_one("#dbg-location", Input)
                field.value = f"{shown_path(path, roots)}:"
                field.cursor_position = len(field.value)
                field.focus()

        self.app.push_screen(PickFileScreen(f"Breakpoint in which file of {session.target.service}?", files), picked)

    @on(Input.Submitted, "#dbg-location")
    def _location(self, event: Input.Submitted) -> None:
        event.stop()
        session = self._need_session()
        if session is None or not event.value.strip():
            return
        try:
            path, line, condition = parse_location(event.value, self.sources, self.roots())
        except DevenvError as exc:
            self.show_status(f"✘ {exc.message}" + (f"\n{exc.hint}" if exc.hint else ""), error=True)
            return
        event.input.value = ""
        self._call("breakpoint", session.add_breakpoint, path, line, condition)

    def action_remove_breakpoint(self) -> None:
        session = self._need_session()
        table = self.query_one("#dbg-breakpoints", DataTable)
        if session is None or table.row_count == 0:
            return
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        if key is None or key.startswith("exceptions:"):
            return
        path, _, line = key.rpartition(":")
        self._call("breakpoint", session.remove_breakpoint, path, int(line))

    def _toggle_exceptions(self, which: str) -> None:
        session = self._need_session()
        if session is None:
            return
        filters = set(session.exception_filters) ^ {which}
        self._call(
            "exceptions",
            lambda: session.set_exception_breakpoints(raised="raised" in filters, uncaught="uncaught" in filters),
        )

    def action_toggle_raised(self) -> None:
        self._toggle_exceptions("raised")

    def action_toggle_uncaught(self) -> None:
        self._toggle_exceptions("uncaught")

    # ----------------------------------------------------------------------------------- running
    def action_resume(self) -> None:
        session = self._need_session()
        if session is not None:
            self._call("continue", session.resume)

    def action_pause(self) -> None:
        session = self._need_session()
        if session is not None:
            self._call("pause", session.pause)

    def action_step(self, kind: str) -> None:
        session = self._need_session()
        if session is not None:
            self._call(f"step {kind}", session.step, kind, self.stopped_view.stepping())

    def action_leave_field(self) -> None:
        """Escape in a field of the panel: back to the panel's keys; elsewhere the app's cancel."""
        if isinstance(self.app.focused, Input) and self.app.focused in self.query(Input):
            stack = self.query_one("#dbg-stack", DataTable)
            (stack if stack.row_count else self.query_one("#dbg-breakpoints", DataTable)).focus()
            return
        cancel = getattr(self.app, "action_cancel", None)
        if callable(cancel):
            cancel()

    # --------------------------------------------------------------------------------- evaluate
    def action_evaluate(self) -> None:
        self.query_one("#dbg-expr", Input).focus()

    @on(Input.Submitted, "#dbg-expr")
    def _expression(self, event: Input.Submitted) -> None:
        event.stop()
        expression = event.value.strip()
        session = self._need_session()
        if session is None or not expression:
            return
        if self.stopped is None or not self.stopped_view.evaluate(expression):
            self.show_status("✘ The program is running: pause it (p) or wait for a breakpoint to evaluate.", error=True)
