"""The migrations panel: tool, current revision, history with applied/pending marks, and ``devenv migrate``.

``MigrationsPanel(stack, *, confirm=None)``. The plan (:func:`devenv.core.migrations.resolve_migrations`)
and the history (:func:`devenv.core.migrations.migration_history`, ``start=False``: opening the
panel never starts a service) are read in a thread worker, on mount and after every action. The
actions are the CLI's calls (``migrate_up``, ``migrate_down``, ``migrate_new``, ``migrate_status``)
run by :class:`~devenv.tui.widgets.flow.FlowPanel`; a downgrade is confirmed first (a protected
profile needs its name typed, like ``devenv migrate down``). A command's exit status is the
result: a non-zero exit shows the CLI's failure line and hint.

Keys (inside the panel): ``U`` upgrade, ``B`` downgrade N (the steps field), ``M`` new revision
(the message field), ``S`` status, ``H`` re-read the history, ``escape`` cancel: the running
command is stopped inside its container (the core's cancel token), and the panel says so with the
revision the database is left at and the command that finishes the job.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import DataTable, Input, Static

from devenv.core.events import Emit, Event, MigrationInterrupted
from devenv.errors import DevenvError
from devenv.tui.widgets.flow import FlowPanel

if TYPE_CHECKING:
    from devenv.core.cancel import CancelToken
    from devenv.core.migrations import MigrationHistory, MigrationPlan, MigrationResult

__all__ = ["MigrationsPanel"]

KEYS_HELP = "U upgrade  B downgrade N  M new revision  S status  H history  esc cancel"
_CLI = {"upgrade": "up", "downgrade": "down", "new": "new", "status": "status"}


def result_text(action: str, result: MigrationResult, profile: str) -> tuple[bool, str]:
    """The CLI's closing line for a migration command (``devenv migrate``), plus its hint on failure."""
    cli = _CLI.get(action, action)
    if result.exit_code == 0:
        return True, f"migrate {cli}: done in {result.elapsed:.1f}s ({result.service}), exit status 0"
    lines = [f"migrate {cli}: `{result.command}` exited with code {result.exit_code} in {result.service}"]
    again = f"devenv migrate {cli} --profile {profile}"
    if cli == "new":
        again = f'devenv migrate new "MESSAGE" --profile {profile}'
    if cli in ("up", "down"):
        lines.append(f"Fix the failing migration (the error is in the output above), then run `{again}` again.")
    else:
        lines.append(f"Fix the problem shown in the output above, then run `{again}` again.")
    return False, "\n".join(lines)


def positive_steps(text: str) -> int:
    """The CLI's ``migrate down N`` rule; UsageError otherwise."""
    from devenv.errors import UsageError

    try:
        value = int(text.strip() or "1")
    except ValueError:
        raise UsageError(f"expected a positive number of migrations, got {text!r}") from None
    if value < 1:
        raise UsageError(f"expected a positive number of migrations, got {value}")
    return value


def interrupted_text(action: str, event: MigrationInterrupted) -> str:
    """The closing lines of a cancelled migration command: stopped or not, the state, how to finish."""
    cli = _CLI.get(action, action)
    stopped = "stopped in the container" if event.stopped else "NOT confirmed stopped in the container"
    lines = [f"migrate {cli} cancelled: `{event.command}` {stopped}"]
    if event.state:
        lines.append(event.state)
    if event.hint:
        lines.append(f"To finish it: {event.hint}")
    return "\n".join(lines)


class MigrationsPanel(FlowPanel):
    """Migration history and the migrate actions of the stack's profile."""

    DEFAULT_CSS = """
    MigrationsPanel #mig-info { height: auto; text-style: bold; }
    MigrationsPanel #mig-note { height: auto; color: $text-muted; }
    MigrationsPanel #mig-revisions { height: 1fr; min-height: 4; }
    MigrationsPanel #mig-steps { width: 8; margin-right: 1; }
    MigrationsPanel #mig-message { width: 1fr; }
    """
    PREFIX = "mig"
    KEYS_HELP = KEYS_HELP

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("U", "upgrade", "Upgrade"),
        Binding("B", "downgrade", "Downgrade N"),
        Binding("M", "new", "New revision"),
        Binding("S", "status", "Status"),
        Binding("H", "history", "History"),
        Binding("escape", "cancel", "Cancel", show=False),
    ]

    ActionFinished = FlowPanel.ActionFinished

    class Loaded(Message):
        """The plan and the history, read in a worker (``error``: why they could not be)."""

        def __init__(self, plan: MigrationPlan | None, history: MigrationHistory | None, error: str | None) -> None:
            super().__init__()
            self.plan = plan
            self.history = history
            self.error = error

    def init_state(self) -> None:
        self.history: MigrationHistory | None = None

    def compose(self) -> ComposeResult:
        yield Static("migrations: …", id="mig-info")
        yield Static("", id="mig-note")
        table: DataTable[str | Text] = DataTable(id="mig-revisions", cursor_type="row", zebra_stripes=True)
        table.add_columns("STATE", "REVISION", "MESSAGE")
        yield table
        yield self.fields(
            Static("downgrade N: ", classes="label"),
            Input("1", placeholder="N", id="mig-steps", type="integer", compact=True),
            Input(placeholder="message of a new revision", id="mig-message", compact=True),
        )
        yield self.buttons(
            ("Upgrade", "upgrade"),
            ("Downgrade N", "downgrade"),
            ("New revision", "new"),
            ("Status", "status"),
            ("History", "history"),
        )
        yield from self.bottom()

    def on_mount(self) -> None:
        self.refresh_data()

    # ----------------------------------------------------------------------------------- reading
    def refresh_data(self) -> None:
        """Re-read the plan and the history (in a thread worker; nothing is started)."""
        self._load()

    @work(thread=True, exclusive=True, exit_on_error=False, group="mig-load")
    def _load(self) -> None:
        from devenv.core import migrations

        plan = history = None
        error: str | None = None
        try:
            plan = migrations.resolve_migrations(self.stack)
            history = migrations.migration_history(self.stack, start=False)
        except DevenvError as exc:
            error = exc.message
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
        self.post_message(self.Loaded(plan, history, error))

    def on_migrations_panel_loaded(self, message: Loaded) -> None:
        message.stop()
        plan, history = message.plan, message.history
        info = self.query_one("#mig-info", Static)
        note = self.query_one("#mig-note", Static)
        if plan is None:
            info.update("migrations: -")
            note.update(message.error or "")
            return
        self.history = history
        where = f"{plan.service} ({'one-off container' if plan.mode == 'run' else 'exec'})"
        current = "-"
        if history is not None and history.exit_code == 0:
            current = ", ".join(history.current) or "none (empty database)"
            current += f" · {history.pending} pending"
        info.update(f"tool: {plan.tool} · service: {where} · current: {current}")
        if message.error:
            note.update(f"history: {message.error}")
        elif history is None:
            note.update("")
        elif history.not_ready:
            note.update(f"history not read: {history.not_ready} (S or U starts them)")
        elif history.exit_code not in (0, None):
            tail = history.output_tail[-1] if history.output_tail else "no output"
            note.update(f"history: `{history.command}` exited with code {history.exit_code}: {tail}")
        else:
            note.update("")
        table = self.query_one("#mig-revisions", DataTable)
        table.clear()
        for rev in reversed(history.revisions if history else ()):  # newest first, like the tools
            if rev.current:
                state = Text("● current", style="bold green")
            elif rev.applied:
                state = Text("✔ applied", style="green")
            else:
                state = Text("○ pending", style="yellow")
            label = rev.revision + (" (head)" if rev.head and not rev.app else "")
            table.add_row(state, label, rev.message, key=rev.revision)

    def after_action(self, message: FlowPanel.ActionFinished) -> None:
        if message.ok and message.action == "new revision":
            self.query_one("#mig-message", Input).value = ""
        self.refresh_data()

    # ----------------------------------------------------------------------------------- actions
    @on(Input.Submitted, "#mig-message")
    def _message_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_new()

    @on(Input.Submitted, "#mig-steps")
    def _steps_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_downgrade()

    def _migrate(self, action: str, label: str, call: str, *, steps: int = 1, message: str = "") -> None:
        from devenv.core import migrations

        stack = self.stack
        profile = stack.profile.name

        def flow(emit: Emit, cancel: CancelToken) -> tuple[bool, str]:
            from devenv.core.cancel import Cancelled

            seen: list[MigrationInterrupted] = []

            def sink(event: Event) -> None:
                if isinstance(event, MigrationInterrupted):
                    seen.append(event)
                emit(event)

            try:
                if action == "upgrade":
                    result = migrations.migrate_up(stack, sink, cancel=cancel)
                elif action == "downgrade":
                    result = migrations.migrate_down(stack, steps, sink, cancel=cancel)
                elif action == "new":
                    result = migrations.migrate_new(stack, message, sink, cancel=cancel)
                else:
                    result = migrations.migrate_status(stack, sink, cancel=cancel)
            except Cancelled:
                if not seen:  # cancelled before the command ran
                    raise
                return False, interrupted_text(action, seen[-1])
            return result_text(action, result, profile)

        destructive = None
        if action == "downgrade":
            many = f"{steps} migrations" if steps != 1 else "1 migration"
            destructive = f"roll back {many} of project {stack.name}"
        self.start(label, flow, destructive=destructive, check=f"run `migrate {call}`")

    def action_upgrade(self) -> None:
        self._migrate("upgrade", "upgrade", "up")

    def action_downgrade(self) -> None:
        try:
            steps = positive_steps(self.query_one("#mig-steps", Input).value)
        except DevenvError as exc:
            self.set_status(f"✘ {exc.message}", error=True)
            return
        self._migrate("downgrade", f"downgrade {steps}", "down", steps=steps)

    def action_new(self) -> None:
        text = self.query_one("#mig-message", Input).value.strip()
        if not text:
            self.set_status('✘ A new migration needs a message, e.g. "add due date".', error=True)
            self.query_one("#mig-message", Input).focus()
            return
        self._migrate("new", "new revision", "new", message=text)

    def action_status(self) -> None:
        self._migrate("status", "status", "status")

    def action_history(self) -> None:
        self.refresh_data()
