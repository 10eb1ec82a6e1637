"""The doctor panel: every problem that would stop ``up`` (``devenv doctor``'s findings), with fixes.

It takes a :class:`~devenv.tui.core.DoctorSource` (the core's bridge to ``devenv.core.doctor``).
Checks and fixes run in a thread worker; after each fix the project is checked again. Keys: ``f``
applies the selected finding's safe fix, ``A`` every safe fix, ``r`` checks again, ``escape``
goes back to the services.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

__all__ = ["DoctorScreen"]

STYLE = {"error": "bold red", "warning": "yellow", "ok": "green"}
ORDER = {"error": 0, "warning": 1, "ok": 2}


class DoctorScreen(Screen[None]):
    DEFAULT_CSS = """
    DoctorScreen {
        layout: vertical;
    }
    DoctorScreen #doctor-title {
        height: auto;
        padding: 0 1;
        background: $boost;
    }
    DoctorScreen #doctor-table {
        height: 1fr;
    }
    DoctorScreen #doctor-detail {
        height: auto;
        max-height: 10;
        padding: 0 1;
        border-top: solid $primary 50%;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f", "fix", "apply fix"),
        Binding("A", "fix_all", "all safe fixes"),
        Binding("r", "recheck", "check again"),
        Binding("escape,q", "close", "back"),
    ]

    class Checked(Message):
        """A check (or a fix and the check after it) finished in the worker."""

        def __init__(self, report: Any, done: list[str]) -> None:
            super().__init__()
            self.report = report
            self.done = done

    def __init__(self, source: Any, report: Any | None = None) -> None:
        super().__init__()
        self.source = source
        self.report = report
        self.busy = False
        self.rows: list[Any] = []
        # Kept, not queried: the panel may be pushed from a worker's callback before its children settle.
        self.title_line = Static("doctor: checking…", id="doctor-title")
        self.table: DataTable[Any] = DataTable(id="doctor-table", cursor_type="row", zebra_stripes=True)
        self.detail = Static("", id="doctor-detail")

    def compose(self) -> ComposeResult:
        yield self.title_line
        yield self.table
        yield self.detail
        yield Footer()

    def on_mount(self) -> None:
        table = self.table
        table.add_columns("", "check", "where", "finding")
        if self.report is not None:
            self.show(self.report)
        else:
            self.run_check()
        table.focus()

    # -- showing ---------------------------------------------------------------------------------
    def show(self, report: Any, done: list[str] | None = None) -> None:
        self.report = report
        findings = sorted(report.findings, key=lambda f: ORDER.get(f.severity, 3))
        self.rows = findings
        table = self.table
        table.clear()
        for f in findings:
            table.add_row(
                Text(f.severity, style=STYLE.get(f.severity, "")),
                f.check,
                Text(f.where or "", style="dim"),
                Text(f.message),
            )
        errors, warnings = len(report.errors), len(report.warnings)
        fixable = len(report.fixable)
        title = (
            f"[b]doctor[/b]  project {report.project or '?'}  profile {report.profile or '?'}:  "
            f"[red]{errors} error{'s' if errors != 1 else ''}[/red], {warnings} warning{'s' if warnings != 1 else ''}"
        )
        if fixable:
            title += f"  ·  {fixable} safe fix{'es' if fixable != 1 else ''} (f: selected, A: all)"
        if done:
            title += "\n" + "\n".join(done)
        self.title_line.update(title)
        self.describe(table.cursor_row if findings else None)

    def describe(self, row: int | None) -> None:
        detail = self.detail
        if row is None or not 0 <= row < len(self.rows):
            detail.update("")
            return
        f = self.rows[row]
        text = Text()
        text.append(f"{f.severity} · {f.check}", style=STYLE.get(f.severity, ""))
        if f.where:
            text.append(f"  at {f.where}", style="dim")
        text.append(f"\n{f.message}")
        if f.fix:
            text.append("\nfix: ", style="bold")
            text.append(f.fix)
        if f.safe_fix is not None:
            text.append("\npress f to apply this fix", style="bold green")
        detail.update(text)

    def on_data_table_row_highlighted(self, message: DataTable.RowHighlighted) -> None:
        self.describe(message.cursor_row)

    # -- working ---------------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="doctor", exit_on_error=False)
    def run_check(self, fixes: list[Any] | None = None) -> None:
        done: list[str] = []
        try:
            for finding in fixes or []:
                outcome = self.source.fix(finding)
                done.append(("fixed: " if outcome.done else "not fixed: ") + outcome.message)
            report = self.source.check()
        except Exception as exc:  # the check itself failed: keep what is shown, say why
            self.app.call_from_thread(self.notify, f"doctor: {exc}", severity="error")
            self.busy = False
            return
        self.post_message(self.Checked(report, done))

    def on_doctor_screen_checked(self, message: DoctorScreen.Checked) -> None:
        self.busy = False
        self.show(message.report, message.done)
        for line in message.done:
            self.notify(line, severity="information" if line.startswith("fixed") else "warning")

    def _start(self, fixes: list[Any] | None, what: str) -> None:
        if self.busy:
            self.notify("the doctor is still checking", severity="warning")
            return
        self.busy = True
        self.title_line.update(f"doctor: {what}…")
        self.run_check(fixes)

    def action_recheck(self) -> None:
        self._start(None, "checking again")

    def action_fix(self) -> None:
        row = self.table.cursor_row
        finding = self.rows[row] if 0 <= row < len(self.rows) else None
        if finding is None or finding.safe_fix is None:
            self.notify("no safe fix for this finding: its fix line says what to do", severity="warning")
            return
        self._start([finding], "fixing")

    def action_fix_all(self) -> None:
        fixable = [f for f in self.rows if f.safe_fix is not None]
        if not fixable:
            self.notify("nothing to fix automatically", severity="warning")
            return
        self._start(fixable, "fixing")

    def action_close(self) -> None:
        self.dismiss(None)
