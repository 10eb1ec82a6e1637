"""The database panel: target, unfinished-operation warning, snapshots, and the ``devenv db`` flows.

``DatabasePanel(stack, *, confirm=None)``. Every flow is the core call the CLI makes
(:mod:`devenv.core.db`: ``open_session`` + ``take_snapshot`` / ``export`` / ``import_``,
``restore``, ``reset``), run by :class:`~devenv.tui.widgets.flow.FlowPanel` in a thread worker
with a cancel token; reset, hard reset, restore and import are confirmed first (a protected profile,
or a stack started under one, needs the profile name typed). The target, the journal's warning and
the snapshot table are read in a thread worker too, on mount and after every action.

Keys (inside the panel): ``n`` snapshot (the name field is optional), ``enter``/``R`` restore the
selected snapshot, ``x`` quick reset, ``X`` hard reset, ``E`` export / ``I`` import (the path
field), ``escape`` cancel.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import DataTable, Input, Static

from devenv.cli.output import human_size
from devenv.core.events import Emit
from devenv.errors import DevenvError
from devenv.tui.widgets.flow import FlowPanel

if TYPE_CHECKING:
    from devenv.core.cancel import CancelToken
    from devenv.core.db import SnapshotInfo
    from devenv.core.db.snapshot_files import SnapshotProblem

__all__ = ["DatabasePanel"]

KEYS_HELP = "n snapshot  ⏎/R restore  x reset  X hard reset  E export  I import  esc cancel"
_DAMAGED = "damaged:"


def _when(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch)) if epoch else "-"


class DatabasePanel(FlowPanel):
    """Snapshots, restore, reset, export and import of the stack's database."""

    DEFAULT_CSS = """
    DatabasePanel #db-target { height: 1; text-style: bold; }
    DatabasePanel #db-warning { display: none; height: auto; padding: 0 1; background: $error 25%; color: $text; }
    DatabasePanel #db-warning.shown { display: block; }
    DatabasePanel #db-snapshots { height: 1fr; min-height: 4; }
    """
    PREFIX = "db"
    KEYS_HELP = KEYS_HELP

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "snapshot", "Snapshot"),
        Binding("R", "restore", "Restore"),
        Binding("x", "reset", "Reset"),
        Binding("X", "hard_reset", "Hard reset"),
        Binding("E", "export", "Export"),
        Binding("I", "import", "Import"),
        Binding("escape", "cancel", "Cancel"),
    ]

    # FlowPanel's messages, under this panel's name too (handlers: on_flow_panel_action_finished).
    ActionFinished = FlowPanel.ActionFinished

    class Loaded(Message):
        """The target, the unfinished operation and the snapshots, read in a worker."""

        def __init__(
            self,
            target: str,
            engine: str | None,
            pending: str | None,
            snapshots: list[SnapshotInfo],
            problems: list[SnapshotProblem],
            error: str | None,
        ) -> None:
            super().__init__()
            self.target = target
            self.engine = engine
            self.pending = pending
            self.snapshots = snapshots
            self.problems = problems
            self.error = error

    def init_state(self) -> None:
        self.engine: str | None = None
        self.snapshots: list[SnapshotInfo] = []
        self.problems: dict[str, str] = {}

    def compose(self) -> ComposeResult:
        yield Static("database: …", id="db-target")
        yield Static("", id="db-warning")
        table: DataTable[str | Text] = DataTable(id="db-snapshots", cursor_type="row", zebra_stripes=True)
        table.add_columns("NAME", "CREATED", "SIZE", "REVISION", "REASON")
        yield table
        yield self.fields(
            Input(placeholder="snapshot name (optional)", id="db-name", compact=True),
            Input(placeholder="file for export/import: .sql, .sql.gz, .dump", id="db-path", compact=True),
        )
        yield self.buttons(
            ("Snapshot", "snapshot"),
            ("Restore", "restore"),
            ("Reset", "reset"),
            ("Hard reset", "hard_reset"),
            ("Export", "export"),
            ("Import", "import"),
            ("Cancel", "cancel"),
        )
        yield from self.bottom()

    def on_mount(self) -> None:
        self.refresh_data()

    # ----------------------------------------------------------------------------------- reading
    def refresh_data(self) -> None:
        """Re-read the target, the journal and the snapshots (in a thread worker)."""
        self._load()

    @work(thread=True, exclusive=True, exit_on_error=False, group="db-load")
    def _load(self) -> None:
        from devenv.core.db import SnapshotStore, journal, resolve_database

        stack = self.stack
        errors: list[str] = []
        target, engine = "", None
        try:
            t = resolve_database(stack)
            target, engine = f"{t.service} · {t.engine} · {t.name}", t.engine
        except DevenvError as exc:
            errors.append(exc.message)
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
        op = journal.pending(stack.project.root)
        snapshots: list[SnapshotInfo] = []
        problems: list[SnapshotProblem] = []
        try:
            scan = SnapshotStore(stack.project.root, stack.profile.name).scan()
            snapshots, problems = scan.snapshots, scan.problems
        except DevenvError as exc:
            errors.append(exc.message)
        recovery = op.recovery() if op is not None else None
        self.post_message(self.Loaded(target, engine, recovery, snapshots, problems, "; ".join(errors) or None))

    def on_database_panel_loaded(self, message: Loaded) -> None:
        message.stop()
        self.engine = message.engine or self.engine
        profile = self.stack.profile.name
        head = f"database: {message.target}  (profile {profile})" if message.target else "database: -"
        self.query_one("#db-target", Static).update(head)
        self._show_warning(message.pending)
        if message.error:
            self.set_status(f"✘ {message.error}", error=True)
        self.snapshots = message.snapshots
        self.problems = {p.name: p.reason for p in message.problems}
        table = self.query_one("#db-snapshots", DataTable)
        selected = self.selected_key()
        table.clear()
        for s in reversed(message.snapshots):  # newest first
            table.add_row(s.name, _when(s.created), human_size(s.size), s.revision or "-", s.reason or "-", key=s.name)
        for p in message.problems:
            table.add_row(
                Text(f"⚠ {p.name}", style="bold red"),
                _when(p.modified),
                "-",
                "-",
                Text(f"damaged: {p.reason}", style="red"),
                key=f"{_DAMAGED}{p.name}",
            )
        if selected is not None:
            keys = [s.name for s in reversed(message.snapshots)] + [f"{_DAMAGED}{p.name}" for p in message.problems]
            if selected in keys:
                table.move_cursor(row=keys.index(selected))

    def _show_warning(self, text: str | None) -> None:
        warning = self.query_one("#db-warning", Static)
        warning.update(f"⚠ {text}" if text else "")
        warning.set_class(bool(text), "shown")

    def on_flow_panel_notice(self, message: FlowPanel.Notice) -> None:
        message.stop()
        self._show_warning(message.text)

    def selected_key(self) -> str | None:
        table = self.query_one("#db-snapshots", DataTable)
        if table.row_count == 0:
            return None
        try:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        except Exception:
            return None
        return str(key.value) if key.value is not None else None

    def after_action(self, message: FlowPanel.ActionFinished) -> None:
        if message.ok and message.action == "snapshot":
            self.query_one("#db-name", Input).value = ""
        self.refresh_data()

    # ----------------------------------------------------------------------------------- actions
    @on(Input.Submitted, "#db-name")
    def _name_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_snapshot()

    @on(DataTable.RowSelected, "#db-snapshots")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_restore()

    def refuse(self, text: str) -> None:
        self.set_status(f"✘ {text}", error=True)

    def action_snapshot(self) -> None:
        from devenv.core import db

        name = self.query_one("#db-name", Input).value.strip() or None
        stack = self.stack

        def flow(emit: Emit, cancel: CancelToken) -> tuple[bool, str]:
            if name:
                db.SnapshotStore(stack.project.root, stack.profile.name).check_new_name(name)
            session = db.open_session(stack, emit, cancel=cancel)
            info = db.take_snapshot(session, name, emit=emit)
            return True, f"snapshot {info.name}: {info.path(session.store.dir)}"

        self.start("snapshot", flow, check="run `db snapshot`")

    def action_restore(self) -> None:
        from devenv.core import db

        key = self.selected_key()
        if key is None:
            self.refuse("No snapshot selected. Take one with n (snapshot).")
            return
        if key.startswith(_DAMAGED):
            name = key.removeprefix(_DAMAGED)
            self.refuse(f'Snapshot "{name}" is damaged: {self.problems.get(name, "?")}. Nothing was changed.')
            return
        stack = self.stack

        def flow(emit: Emit, cancel: CancelToken) -> tuple[bool, str]:
            info, safety = db.restore(stack, key, emit=emit, cancel=cancel)
            kept = f"; the state before is in snapshot {safety.name}" if safety else ""
            return True, f"restored {info.name} (revision {info.revision or '-'}){kept}"

        self.start("restore", flow, destructive=f"restore snapshot {key}", check="run `db restore`")

    def _reset(self, hard: bool) -> None:
        from devenv.cli.output import human_duration
        from devenv.core import db

        stack = self.stack

        def flow(emit: Emit, cancel: CancelToken) -> tuple[bool, str]:
            result = db.reset(stack, hard=hard, emit=emit, cancel=cancel)
            notes = "".join(f"\nnote: {note}" for note in result.notes)
            done = [d for d in ("migrated" if result.migrated else "", "seeded" if result.seeded else "") if d]
            snap = f"; previous data in snapshot {result.snapshot.name}" if result.snapshot else ""
            kind = "hard reset" if hard else "reset"
            extra = f" ({', '.join(done)})" if done else ""
            return True, f"database {kind} in {human_duration(result.elapsed)}{extra}{snap}{notes}"

        what = "reset the database" + (" and its volumes" if hard else "")
        self.start("hard reset" if hard else "reset", flow, destructive=what, check="run `db reset`")

    def action_reset(self) -> None:
        self._reset(False)

    def action_hard_reset(self) -> None:
        self._reset(True)

    def _path(self) -> Path | None:
        text = self.query_one("#db-path", Input).value.strip()
        if not text:
            self.refuse("Type a file path first (.sql, .sql.gz, or .dump for PostgreSQL).")
            self.query_one("#db-path", Input).focus()
            return None
        return Path(text).expanduser()

    def action_export(self) -> None:
        path = self._path()
        if path is not None:
            self.run_worker(self._export(path), group="db-export", exclusive=True, exit_on_error=False)

    async def _export(self, path: Path) -> None:
        from devenv.core import db

        force = False
        if path.exists() and not path.is_dir():
            if not await self.ask(f"overwrite {path}", None):
                self.refuse(f"{path} exists; it was left as it is.")
                return
            force = True
        try:
            db.check_export_path(path, force=force)
        except DevenvError as exc:
            self.refuse(exc.message)
            return
        stack = self.stack

        def flow(emit: Emit, cancel: CancelToken) -> tuple[bool, str]:
            session = db.open_session(stack, emit, cancel=cancel)
            size = db.export(session, path, emit=emit)
            return True, f"exported {session.target.name} to {path} ({human_size(size)})"

        self.start("export", flow, check="run `db export`")

    def action_import(self) -> None:
        from devenv.core import db

        path = self._path()
        if path is None:
            return
        if not path.is_file():
            self.refuse(f"{path} does not exist or is not a file.")
            return
        stack = self.stack
        engine = stack.profile.database.engine

        def flow(emit: Emit, cancel: CancelToken) -> tuple[bool, str]:
            db.check_import_file(path, engine)
            session = db.open_session(stack, emit, cancel=cancel)
            safety = db.import_(session, path, emit=emit)
            kept = f"; the state before is in snapshot {safety.name}" if safety else ""
            return True, f"imported {path}{kept}"

        self.start("import", flow, destructive=f"replace the database with {path}", check="run `db import`")
