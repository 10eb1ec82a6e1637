"""What the database and migrations panels share: one core flow at a time, in a thread worker.

:class:`FlowPanel` runs an action the way the CLI does: the pre-flight check (one profile per
stack; the protection of the profile the stack was started with, :mod:`devenv.core.running`), a
confirmation for destructive actions (:class:`~devenv.tui.screens.confirm.ConfirmScreen`, or the
``confirm`` callable given to the panel; a protected profile needs its name typed), then the core
call in a thread worker with a :class:`~devenv.core.cancel.CancelToken`. The core's events become
text lines (the CLI's wording, no colour) posted in batches (:class:`LineBatcher`: every 50 ms or
500 lines) to a :class:`~textual.widgets.Log`; the end is one :class:`FlowPanel.ActionFinished`
message with the outcome, or the error's message and hint (for a destructive database flow that
failed after the drop, the hint is the exact ``devenv db restore NAME --profile P`` command).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Button, Log, Static

from devenv.cli.output import human_size
from devenv.core.cancel import Cancelled, CancelToken
from devenv.core.events import (
    ComposeOutput,
    DbNotice,
    DbOutput,
    DbStep,
    Emit,
    Event,
    MigrationInterrupted,
    MigrationOutput,
    MigrationStarted,
    MigrationWaiting,
    ServiceChanged,
    SnapshotWritten,
    StepStarted,
)
from devenv.errors import DevenvError

if TYPE_CHECKING:
    from devenv.core.stack import Stack

#: ``confirm(action, protected_profile) -> bool``: the panels' confirmation hook.
Confirm = Callable[[str, str | None], Awaitable[bool]]
#: A flow run in the worker thread: ``run(emit, cancel) -> (ok, summary)``; may raise.
Flow = Callable[[Emit, CancelToken], tuple[bool, str]]


# ----------------------------------------------------------------------------------- batching
class LineBatcher:
    """Collects lines in the worker thread; hands them to ``post`` at most every ``interval`` seconds.

    A helper thread flushes what waits while the flow is blocked (a long ``pg_dump``), so a step's
    line shows when it starts, not when the next one comes. Batches keep their order.
    """

    def __init__(self, post: Callable[[list[str]], object], *, interval: float = 0.05, max_lines: int = 500) -> None:
        self._post = post
        self._interval = interval
        self._max = max_lines
        self._lines: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last = 0.0

    def add(self, line: str) -> None:
        with self._lock:
            self._lines.append(line)
            due = len(self._lines) >= self._max or time.monotonic() - self._last >= self._interval
        if due:
            self.flush()

    def flush(self) -> None:
        with self._lock:
            lines, self._lines = self._lines, []
            self._last = time.monotonic()
            if lines:
                self._post(lines)  # under the lock: two flushing threads never swap batches

    def __enter__(self) -> LineBatcher:
        self._thread = threading.Thread(target=self._loop, name="devenv-tui-lines", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.flush()

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            self.flush()


# --------------------------------------------------------------------------------- event text
def event_lines(event: Event) -> list[str]:
    """An event as the CLI prints it (``devenv db`` / ``devenv migrate``), without colour."""
    if isinstance(event, DbNotice):
        return [f"warning: {event.message}"]
    if isinstance(event, DbStep):
        return [f"{event.step}: {event.detail}"]
    if isinstance(event, DbOutput):
        return [f"    {event.line}"]
    if isinstance(event, SnapshotWritten):
        s = event.snapshot
        return [f"snapshot {s.name} written ({human_size(s.size)}, revision {s.revision or '-'})"]
    if isinstance(event, MigrationStarted):
        where = f"in {event.service}" + (" (one-off container)" if event.mode == "run" else "")
        return [f"$ {event.command}   {where}"]
    if isinstance(event, MigrationOutput):
        return [event.line]
    if isinstance(event, MigrationWaiting):
        return [f"starting {', '.join(event.services)}: {event.reason}"]
    if isinstance(event, MigrationInterrupted):
        return event.lines()
    if isinstance(event, ServiceChanged):
        return [f"  {event.status.service}: {event.readiness.value} {event.note}".rstrip()]
    if isinstance(event, StepStarted):
        return [f"{event.step}: {event.detail}".rstrip(": ")]
    if isinstance(event, ComposeOutput):
        return [f"  compose: {event.line}"]
    return []


def error_text(exc: BaseException) -> tuple[str, str | None]:
    """The message and hint a failed flow shows (the CLI's wording)."""
    if isinstance(exc, DevenvError):
        return exc.message, exc.hint
    if isinstance(exc, Cancelled):
        return "Cancelled before anything was changed.", None
    if isinstance(exc, KeyboardInterrupt):
        return "Interrupted.", None
    return f"{type(exc).__name__}: {exc}", None


# ------------------------------------------------------------------------------------ pre-flight
@dataclass(frozen=True)
class Guard:
    """What the CLI's ``load_stack(running="strict")`` and ``confirm`` decide before an action."""

    protected_profile: str | None  # the name to type, when protected
    note: str = ""  # e.g. "the stack on the engine was started with protected profile 'prod'"
    refusal: str | None = None  # the action acts across profiles: refused, nothing changed
    refusal_hint: str | None = None


def preflight(stack: Stack, action: str) -> Guard:
    """Blocking (one Engine read): run in a thread."""
    from devenv.core.running import check_same_profile, protection, running_profile

    try:
        found = running_profile(stack)
    except Exception:  # the engine is away: the action will say so; keep the profile's own protection
        found = None
    guard = protection(stack, found)
    name = guard.profile if guard.protected else None
    try:
        check_same_profile(stack, found, action)
    except DevenvError as exc:
        return Guard(name, guard.reason, exc.message, exc.hint)
    return Guard(name, guard.reason)


# ----------------------------------------------------------------------------------- the panel
class FlowPanel(Widget):
    """Base of the database and migrations panels: runs one flow at a time (see the module doc).

    Also the layout pieces both panels share: a row of input fields, a row of buttons (each
    ``PREFIX-ACTION``, pressing it runs ``action_ACTION``), the status line, the output log and the
    keys line (``KEYS_HELP``).
    """

    DEFAULT_CSS = """
    FlowPanel { layout: vertical; height: 1fr; }
    FlowPanel .fields { height: auto; }
    FlowPanel .fields Input { width: 1fr; }
    FlowPanel .fields .label { width: auto; color: $text-muted; }
    FlowPanel .buttons { height: auto; }
    FlowPanel .buttons Button { min-width: 0; width: auto; margin-right: 1; }
    FlowPanel .flow-status { height: auto; max-height: 5; }
    FlowPanel .flow-status.error { color: $error; }
    FlowPanel .flow-log { height: 1fr; min-height: 3; border-top: solid $primary 50%; }
    FlowPanel .keys { height: 1; color: $text-muted; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel", show=True)]
    CANCELLABLE: ClassVar[bool] = True
    PREFIX: ClassVar[str] = "flow"  # the buttons' id prefix
    KEYS_HELP: ClassVar[str] = ""

    class Output(Message):
        """A batch of output lines of the running flow."""

        def __init__(self, lines: list[str]) -> None:
            super().__init__()
            self.lines = lines

    class Notice(Message):
        """A warning the core reported (an unfinished earlier operation)."""

        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    class ActionFinished(Message):
        """An action ended (bubbles to the app): ``ok``, its summary, and an error's hint (or None).

        ``panel`` (also ``control``) is the panel that ran it; ``action`` names it ("snapshot",
        "reset", "upgrade", ...). A failed destructive database flow's hint holds the restore command.
        """

        def __init__(self, panel: FlowPanel, action: str, ok: bool, message: str, hint: str | None = None) -> None:
            super().__init__()
            self.panel = panel
            self.action = action
            self.ok = ok
            self.message = message
            self.hint = hint

        @property
        def control(self) -> FlowPanel:
            return self.panel

    def __init__(
        self,
        stack: Stack,
        *,
        confirm: Confirm | None = None,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.stack = stack
        self._confirm_hook = confirm
        self._token: CancelToken | None = None
        self.running: str | None = None  # the action in progress
        self.init_state()

    def init_state(self) -> None:
        """Subclasses set up their own attributes here (no constructor of their own to repeat)."""

    # -- pieces the subclasses place in their layout
    def output_log(self) -> Log:
        return Log(max_lines=5000, id="flow-log", classes="flow-log")

    def status_line(self) -> Static:
        return Static("", id="flow-status", classes="flow-status")

    def fields(self, *widgets: Widget) -> Horizontal:
        """The row of input fields (and their labels)."""
        return Horizontal(*widgets, classes="fields")

    def buttons(self, *items: tuple[str, str]) -> Horizontal:
        """The row of buttons: ``(label, action)``; pressing one runs ``action_<action>``."""
        return Horizontal(
            *(Button(label, id=f"{self.PREFIX}-{action}", compact=True) for label, action in items), classes="buttons"
        )

    def bottom(self) -> ComposeResult:
        """The status line, the output log and the keys line, under the panel's own widgets."""
        yield self.status_line()
        yield self.output_log()
        yield Static(self.KEYS_HELP, classes="keys")

    @on(Button.Pressed)
    def _button(self, event: Button.Pressed) -> None:
        event.stop()
        self.trigger((event.button.id or "").removeprefix(f"{self.PREFIX}-"))

    def trigger(self, ident: str) -> None:
        """Run the action named like a key binding's (``snapshot``, ``upgrade``, ... ``cancel``)."""
        method = getattr(self, f"action_{ident}", None)
        if callable(method):
            method()

    # -- confirmation
    async def ask(self, action: str, protected_profile: str | None) -> bool:
        if self._confirm_hook is not None:
            return bool(await self._confirm_hook(action, protected_profile))
        from devenv.tui.screens.confirm import ConfirmScreen

        answer = await self.app.push_screen_wait(ConfirmScreen(action, protected_profile=protected_profile))
        return bool(answer)

    # -- running
    def start(self, action: str, flow: Flow, *, destructive: str | None = None, check: str | None = None) -> None:
        """Run ``flow`` as ``action``; ``destructive``: the text to confirm; ``check``: the pre-flight's."""
        if self.running is not None:
            self.notify(f"{self.running} is still running (escape cancels it)", severity="warning")
            return
        self.running = action
        self.run_worker(
            self._start(action, flow, destructive, check or action),
            group="flow-start",
            exclusive=True,
            exit_on_error=False,
        )

    async def _start(self, action: str, flow: Flow, destructive: str | None, check: str) -> None:
        try:
            self.set_status(f"… {action}: checking")
            guard = await asyncio.to_thread(preflight, self.stack, check)
            if guard.refusal is not None:
                self.post_message(self.ActionFinished(self, action, False, guard.refusal, guard.refusal_hint))
                return
            if destructive is not None:
                if guard.note:
                    self.write_lines([f"note: {guard.note}."])
                self.set_status(f"… {action}: waiting for confirmation")
                if not await self.ask(destructive, guard.protected_profile):
                    self.post_message(self.ActionFinished(self, action, False, "Not confirmed: nothing was changed."))
                    return
            token = CancelToken()
            self._token = token
            self.set_status(f"… {action} running" + (" (escape cancels)" if self.CANCELLABLE else ""))
            self.write_lines([f"── {action} ──"])
            self._run_flow(action, flow, token)
        except Exception as exc:  # a failed pre-flight or confirmation: nothing was run
            message, hint = error_text(exc)
            self.post_message(self.ActionFinished(self, action, False, message, hint))
        except BaseException:  # the worker was cancelled (the panel went away)
            self.running = None
            raise

    def _run_flow(self, action: str, flow: Flow, token: CancelToken) -> None:
        self.run_worker(
            lambda: self._work(action, flow, token),
            thread=True,
            exclusive=True,
            exit_on_error=False,
            group="flow",
            name=action,
        )

    def _work(self, action: str, flow: Flow, token: CancelToken) -> None:
        """The worker thread: the core call, its events as batched lines, one ActionFinished."""
        hint: str | None = None
        with LineBatcher(lambda lines: self.post_message(self.Output(lines))) as batcher:

            def emit(event: Event) -> None:
                if isinstance(event, DbNotice):
                    self.post_message(self.Notice(event.message))
                for line in event_lines(event):
                    batcher.add(line)

            try:
                ok, message = flow(emit, token)
            except (Exception, KeyboardInterrupt) as exc:
                ok = False
                message, hint = error_text(exc)
        self.post_message(self.ActionFinished(self, action, ok, message, hint))

    def action_cancel(self) -> None:
        if self.running is None:
            return
        if not self.CANCELLABLE:
            self.notify(f"{self.running} cannot be cancelled from here; it runs to its end", severity="warning")
            return
        if self._token is not None and not self._token.cancelled:
            self._token.cancel()
            self.set_status(f"… {self.running}: cancelling")
            self.write_lines(["cancelling…"])

    # -- UI side
    def write_lines(self, lines: list[str]) -> None:
        self.query_one("#flow-log", Log).write_lines(lines)

    def set_status(self, text: str, *, error: bool = False) -> None:
        status = self.query_one("#flow-status", Static)
        status.update(text)
        status.set_class(error, "error")

    def on_flow_panel_output(self, message: FlowPanel.Output) -> None:
        message.stop()
        self.write_lines(message.lines)

    def on_flow_panel_action_finished(self, message: FlowPanel.ActionFinished) -> None:
        # Not stopped: the app may notify with it. The panel's own bookkeeping happens here.
        self.running = None
        self._token = None
        text = ("✔ " if message.ok else "✘ ") + message.message
        if message.hint:
            text += "\n" + message.hint
        self.set_status(text, error=not message.ok)
        self.write_lines(text.splitlines())
        self.after_action(message)

    def after_action(self, message: FlowPanel.ActionFinished) -> None:
        """Subclasses refresh what the action changed."""
