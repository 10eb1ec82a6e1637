"""The stopped program in the debugger panel: threads, the stack, the source, the variables.

``StoppedView`` is part of :class:`devenv.tui.widgets.debug_panel.DebugPanel`: the panel calls
:meth:`StoppedView.show` when the program stops and :meth:`StoppedView.clear` when it runs on.
Each read (threads and stack, a frame's scopes and source, a variable's children) is a session
call in a thread worker; the result comes back as a message. A variable's children are read when
its node is expanded, never before.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import DataTable, Static, Tree

from devenv.core.cancel import Cancelled
from devenv.core.debug.dapmodel import EvalResult, Frame, Scope, Stopped, ThreadInfo, Variable
from devenv.tui.widgets.debug_views import frame_row, shown_path, source_view, variable_label
from devenv.tui.widgets.flow import error_text

if TYPE_CHECKING:
    from devenv.core.debug.session import DebugSession

__all__ = ["StoppedView"]


class StoppedView(Horizontal):
    DEFAULT_CSS = """
    StoppedView { height: 1fr; }
    StoppedView #dbg-left { width: 2fr; }
    StoppedView #dbg-right { width: 3fr; }
    StoppedView #dbg-threads { height: auto; max-height: 6; }
    StoppedView #dbg-stack { height: 1fr; min-height: 3; }
    StoppedView #dbg-source {
        height: auto; max-height: 10; padding: 0 1; border-top: solid $primary 40%; border-title-align: left;
        text-wrap: nowrap; text-overflow: ellipsis;
    }
    StoppedView #dbg-vars { height: 1fr; min-height: 3; border-top: solid $primary 40%; }
    """

    class Loaded(Message):
        """Threads and the stack of one thread of the stopped process."""

        def __init__(self, stopped: Stopped, threads: list[ThreadInfo], thread: int, frames: list[Frame]) -> None:
            super().__init__()
            self.stopped = stopped
            self.threads = threads
            self.thread = thread
            self.frames = frames

    class FrameLoaded(Message):
        def __init__(self, frame: Frame, scopes: list[Scope], source: str | None, note: str) -> None:
            super().__init__()
            self.frame = frame
            self.scopes = scopes
            self.source = source
            self.note = note

    class ChildrenLoaded(Message):
        def __init__(self, node_id: int, variables: list[Variable], error: str | None) -> None:
            super().__init__()
            self.node_id = node_id
            self.variables = variables
            self.error = error

    class Said(Message):
        """Lines for the panel's output pane: a failed read, an evaluation."""

        def __init__(self, lines: list[str]) -> None:
            super().__init__()
            self.lines = lines

    def __init__(self, roots: Callable[[], list[str]], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.roots = roots
        self.session: DebugSession | None = None
        self.stopped: Stopped | None = None
        self.thread: int | None = None  # the thread whose stack is shown
        self.frames: list[Frame] = []
        self.frame: Frame | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="dbg-left"):
            threads: DataTable[str] = DataTable(id="dbg-threads", cursor_type="row")
            threads.add_columns(" ", "THREAD")
            yield threads
            stack: DataTable[str] = DataTable(id="dbg-stack", cursor_type="row")
            stack.add_columns("FRAME", "WHERE")
            yield stack
        with Vertical(id="dbg-right"):
            yield Static("", id="dbg-source")
            tree: Tree[Any] = Tree("variables", id="dbg-vars")
            tree.show_root = False
            yield tree

    # -------------------------------------------------------------------------------- the panel's
    def show(self, session: DebugSession, stopped: Stopped, thread: int | None = None) -> None:
        """The program stopped: read its threads and the stack of ``thread`` (the stopped one)."""
        self.session = session
        self.stopped = stopped
        self._load(session, stopped, thread or stopped.thread_id)

    def clear(self) -> None:
        self.stopped, self.thread, self.frames, self.frame = None, None, [], None
        self.query_one("#dbg-threads", DataTable).clear()
        self.query_one("#dbg-stack", DataTable).clear()
        source = self.query_one("#dbg-source", Static)
        source.update("")
        source.border_title = None
        self.query_one("#dbg-vars", Tree).clear()

    def stepping(self) -> Stopped | None:
        """Where to step: the stopped thread, or the thread selected in the list (same process)."""
        if self.stopped is None or self.thread is None:
            return self.stopped
        return replace(self.stopped, thread_id=self.thread)

    def evaluate(self, expression: str) -> bool:
        """Evaluate in the selected frame (False: no frame); the result goes under the variables
        (expandable when it has children) and to the output pane."""
        if self.session is None or self.frame is None:
            return False
        self._evaluate(self.session, expression, self.frame)
        return True

    @work(thread=True, exit_on_error=False, group="dbg-eval")
    def _evaluate(self, session: DebugSession, expression: str, frame: Frame) -> None:
        try:
            result = session.evaluate(expression, frame.process, frame.id)
        except (Exception, Cancelled) as exc:
            self.post_message(self.Said([f"» {expression}", f"  ✘ {error_text(exc)[0]}"]))
            return
        self.app.call_from_thread(self._show_result, result)

    def _show_result(self, result: EvalResult) -> None:
        tree: Tree[Any] = self.query_one("#dbg-vars", Tree)
        tree.root.add(variable_label(result), data=result, allow_expand=result.reference > 0)
        kind = f"  ({result.type})" if result.type else ""
        self.post_message(self.Said([f"» {result.expression}", f"  {result.value}{kind}"]))

    # ---------------------------------------------------------------------------- threads, stack
    @work(thread=True, exclusive=True, exit_on_error=False, group="dbg-stop")
    def _load(self, session: DebugSession, stopped: Stopped, thread: int) -> None:
        try:
            threads = session.threads()
            frames = session.stack(stopped.process, thread)
        except (Exception, Cancelled) as exc:
            self.post_message(self.Said([f"stack: {error_text(exc)[0]}"]))
            return
        self.post_message(self.Loaded(stopped, threads, thread, frames))

    def on_stopped_view_loaded(self, message: Loaded) -> None:
        message.stop()
        if self.stopped != message.stopped:
            return  # the program moved on meanwhile
        self.thread, self.frames = message.thread, message.frames
        threads = self.query_one("#dbg-threads", DataTable)
        threads.clear()
        mine = [t for t in message.threads if t.process == message.stopped.process]
        for t in mine:
            mark = "⏸" if t.id == message.stopped.thread_id else " "
            threads.add_row(mark, f"{t.name} ({t.id})", key=str(t.id))
        at = next((i for i, t in enumerate(mine) if t.id == message.thread), None)
        if at is not None:
            threads.move_cursor(row=at, animate=False)
        stack = self.query_one("#dbg-stack", DataTable)
        stack.clear()
        roots = self.roots()
        for i, f in enumerate(message.frames):
            stack.add_row(*frame_row(f, roots), key=str(i))
        if message.frames:
            stack.move_cursor(row=0, animate=False)
            self.select_frame(message.frames[0])
            stack.focus()

    @on(DataTable.RowSelected, "#dbg-threads")
    def _thread_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        key = event.row_key.value
        if self.session is not None and self.stopped is not None and key and int(key) != self.thread:
            self._load(self.session, self.stopped, int(key))

    @on(DataTable.RowHighlighted, "#dbg-stack")
    def _frame_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        key = event.row_key.value
        if key is not None and int(key) < len(self.frames) and self.frames[int(key)] != self.frame:
            self.select_frame(self.frames[int(key)])

    # ------------------------------------------------------------------------ a frame: source, vars
    def select_frame(self, frame: Frame) -> None:
        self.frame = frame
        if self.session is not None:
            self._load_frame(self.session, frame)

    @work(thread=True, exclusive=True, exit_on_error=False, group="dbg-frame")
    def _load_frame(self, session: DebugSession, frame: Frame) -> None:
        notes: list[str] = []
        scopes: list[Scope] = []
        source: str | None = None
        try:
            scopes = session.scopes(frame.process, frame.id)
        except (Exception, Cancelled) as exc:
            notes.append(f"variables: {error_text(exc)[0]}")
        try:
            source = session.source(frame)
        except (Exception, Cancelled) as exc:
            notes.append(f"source of {frame.path}: {error_text(exc)[0]}")
        self.post_message(self.FrameLoaded(frame, scopes, source, "; ".join(notes)))

    def on_stopped_view_frame_loaded(self, message: FrameLoaded) -> None:
        message.stop()
        if self.frame != message.frame or self.stopped is None:
            return
        frame = message.frame
        session = self.session
        marks = [b.spec.line for b in session.breakpoints() if b.spec.path == frame.path] if session else []
        view = self.query_one("#dbg-source", Static)
        if message.source:
            view.update(source_view(message.source, frame.line, marks, around=4))
            view.border_title = f"{shown_path(frame.path, self.roots())}:{frame.line}"
        else:
            view.update(message.note or "(no source)")
        tree: Tree[Any] = self.query_one("#dbg-vars", Tree)
        tree.clear()
        for i, scope in enumerate(message.scopes):
            node = tree.root.add(scope.name, data=scope, allow_expand=scope.reference > 0)
            if i == 0 and not scope.expensive:
                node.expand()
        if message.note:
            self.post_message(self.Said([message.note]))

    @on(Tree.NodeExpanded, "#dbg-vars")
    def _expanded(self, event: Tree.NodeExpanded[Any]) -> None:
        event.stop()
        node, data = event.node, event.node.data
        if node.children or self.session is None or data is None or not getattr(data, "reference", 0):
            return
        self._load_children(self.session, node.id, data.process, data.reference)

    @work(thread=True, exit_on_error=False, group="dbg-vars")
    def _load_children(self, session: DebugSession, node_id: int, process: int, reference: int) -> None:
        try:
            variables, error = session.variables(process, reference), None
        except (Exception, Cancelled) as exc:
            variables, error = [], error_text(exc)[0]
        self.post_message(self.ChildrenLoaded(node_id, variables, error))

    def on_stopped_view_children_loaded(self, message: ChildrenLoaded) -> None:
        message.stop()
        tree: Tree[Any] = self.query_one("#dbg-vars", Tree)
        try:
            node = tree.get_node_by_id(message.node_id)  # type: ignore[arg-type]
        except Exception:
            return  # the tree was refilled meanwhile
        if message.error:
            node.add_leaf(f"({message.error})")
        for var in message.variables:
            node.add(variable_label(var), data=var, allow_expand=var.reference > 0)
        if not message.variables and not message.error:
            node.add_leaf("(empty)")
