"""DatabasePanel with a fake core: what it shows, what it asks, what it calls, what it says on failure."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import DataTable, Input, Static

from devenv.core import db
from devenv.core.cancel import CancelToken
from devenv.core.db import DataAtRiskError, journal
from devenv.core.db.flows import ResetResult, _at_risk
from devenv.core.events import DbStep
from devenv.core.running import RunningProfile
from devenv.tui.widgets.db_panel import DatabasePanel
from tests.tui.panel_fakes import (
    Confirms,
    FakeProfile,
    FakeStack,
    Harness,
    damage,
    log_text,
    no_running_stack,
    settle,
    status_text,
    utc,
    wait_until,
    write_snapshot,
)


@pytest.fixture()
def calls(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[tuple[str, Any]]:
    """The fake core: records every flow call; flows emit one step and succeed."""
    recorded: list[tuple[str, Any]] = []
    utc(monkeypatch)
    no_running_stack(monkeypatch)
    monkeypatch.setattr(db, "resolve_database", lambda stack: db.DatabaseTarget("postgres", "postgres", "app", "app"))

    def reset(stack: Any, *, hard: bool = False, emit: Any = None, cancel: Any = None, **kw: Any) -> ResetResult:
        recorded.append(("reset", {"hard": hard}))
        emit(DbStep("drop", "dropping 'app' (ending other sessions) and recreating it"))
        return ResetResult(None, True, True, 2.0)

    def restore(stack: Any, name: str, *, emit: Any = None, cancel: Any = None, **kw: Any) -> Any:
        recorded.append(("restore", name))
        info = db.SnapshotStore(stack.project.root, "dev").get(name)
        return info, None

    monkeypatch.setattr(db, "reset", reset)
    monkeypatch.setattr(db, "restore", restore)
    return recorded


def rows(panel: DatabasePanel) -> list[list[str]]:
    table = panel.query_one("#db-snapshots", DataTable)
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


async def test_target_snapshots_damaged_ones_and_the_unfinished_operation(tmp_path: Path, calls: Any) -> None:
    write_snapshot(tmp_path, "s1", created=1_767_225_600.0)
    write_snapshot(tmp_path, "s2", created=1_767_225_660.0, revision=None)
    write_snapshot(tmp_path, "broken")
    damage(tmp_path, "broken")
    journal.begin(tmp_path, "db reset", "dev", "before-reset-1")
    panel = DatabasePanel(FakeStack(tmp_path))  # type: ignore[arg-type]
    app = Harness(panel)
    async with app.run_test(size=(110, 30)) as pilot:
        await settle(pilot, panel)
        assert "postgres · postgres · app" in str(panel.query_one("#db-target", Static).render())
        assert rows(panel) == [
            ["s2", "2026-01-01 00:01:00", "2.0 KiB", "-", "manual"],
            ["s1", "2026-01-01 00:00:00", "2.0 KiB", "0002", "manual"],
            [
                "⚠ broken",
                "2026-01-01 00:00:00",
                "-",
                "-",
                "damaged: its metadata is not valid JSON (Expecting property name enclosed in double quotes: "
                "line 1 column 2 (char 1))",
            ],
        ]
        warning = str(panel.query_one("#db-warning", Static).render())
        assert "did not finish" in warning and "devenv db restore before-reset-1 --profile dev" in warning
        # A damaged snapshot is refused before anything is asked.
        panel.query_one("#db-snapshots", DataTable).move_cursor(row=2)
        await pilot.press("R")
        await settle(pilot, panel)
        assert 'Snapshot "broken" is damaged' in status_text(panel) and "Nothing was changed" in status_text(panel)
    assert calls == []


async def test_refused_confirmation_calls_nothing(tmp_path: Path, calls: Any) -> None:
    write_snapshot(tmp_path, "s1")
    confirm = Confirms(False, False, False)
    panel = DatabasePanel(FakeStack(tmp_path), confirm=confirm)  # type: ignore[arg-type]
    async with Harness(panel).run_test(size=(110, 30)) as pilot:
        await settle(pilot, panel)
        panel.query_one("#db-snapshots", DataTable).focus()
        for key in ("x", "X", "R"):
            await pilot.press(key)
            await settle(pilot, panel)
        assert "Not confirmed: nothing was changed." in status_text(panel)
    assert confirm.asked == [
        ("reset the database", None),
        ("reset the database and its volumes", None),
        ("restore snapshot s1", None),
    ]
    assert calls == []


async def test_confirmed_reset_streams_its_steps_and_refreshes(tmp_path: Path, calls: Any) -> None:
    panel = DatabasePanel(FakeStack(tmp_path), confirm=Confirms(True))  # type: ignore[arg-type]
    async with Harness(panel).run_test(size=(110, 30)) as pilot:
        await settle(pilot, panel)
        panel.query_one("#db-snapshots", DataTable).focus()
        await pilot.press("x")
        await settle(pilot, panel)
        assert calls == [("reset", {"hard": False})]
        assert "drop: dropping 'app' (ending other sessions) and recreating it" in log_text(panel)
        assert "✔ database reset in 2s (migrated, seeded)" in status_text(panel)


async def test_protected_profile_needs_its_name_typed(tmp_path: Path, calls: Any) -> None:
    stack = FakeStack(tmp_path, FakeProfile(name="prod", protected=True))
    panel = DatabasePanel(stack)  # type: ignore[arg-type]  # the real ConfirmScreen
    async with Harness(panel).run_test(size=(110, 30)) as pilot:
        await settle(pilot, panel)
        panel.query_one("#db-snapshots", DataTable).focus()
        await pilot.press("x")
        await wait_until(pilot, lambda: pilot.app.screen is not pilot.app.screen_stack[0])
        await pilot.press("P", "r", "o", "d", "enter")  # wrong case: refused by the CLI's rule
        await pilot.pause(0.1)
        await pilot.press("escape")
        await settle(pilot, panel)
        assert calls == []
        assert "Not confirmed" in status_text(panel)
        await pilot.press("x")
        await wait_until(pilot, lambda: len(pilot.app.screen_stack) > 1)
        await pilot.press("p", "r", "o", "d", "enter")
        await settle(pilot, panel)
    assert calls == [("reset", {"hard": False})]


async def test_a_stack_that_mixes_a_protected_profile_is_refused(
    tmp_path: Path, calls: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = FakeStack(tmp_path)
    stack.project.profiles["prod"] = FakeProfile(name="prod", protected=True)
    no_running_stack(monkeypatch, RunningProfile(("dev", "prod"), 2, 0, ()))
    confirm = Confirms(True)
    panel = DatabasePanel(stack, confirm=confirm)  # type: ignore[arg-type]
    async with Harness(panel).run_test(size=(110, 30)) as pilot:
        await settle(pilot, panel)
        panel.query_one("#db-snapshots", DataTable).focus()
        await pilot.press("x")
        await settle(pilot, panel)
        assert "mixes containers started with profiles dev + prod" in log_text(panel)
    # Whose data it is cannot be told: nothing is asked and nothing runs (the CLI's rule).
    assert confirm.asked == [] and calls == []


async def test_another_profiles_stack_is_refused(tmp_path: Path, calls: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    no_running_stack(monkeypatch, RunningProfile(("staging",), 2, 0, ()))
    confirm = Confirms(True)
    panel = DatabasePanel(FakeStack(tmp_path), confirm=confirm)  # type: ignore[arg-type]
    async with Harness(panel).run_test(size=(110, 30)) as pilot:
        await settle(pilot, panel)
        panel.query_one("#db-snapshots", DataTable).focus()
        await pilot.press("x")
        await settle(pilot, panel)
        assert "refusing to run `db reset` across profiles" in status_text(panel)
    assert confirm.asked == [] and calls == []


async def test_cancel_after_the_drop_shows_the_restore_command(
    tmp_path: Path, calls: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = threading.Event()
    tokens: list[CancelToken] = []

    def reset(stack: Any, *, hard: bool = False, emit: Any = None, cancel: Any = None, **kw: Any) -> ResetResult:
        tokens.append(cancel)
        snap = write_snapshot(stack.project.root, "before-reset-1")
        emit(DbStep("drop", "dropping 'app'"))
        started.set()
        assert cancel.wait(10), "not cancelled"
        try:
            cancel.raise_if_cancelled()
        except KeyboardInterrupt as exc:  # what flows.destroying does with it
            raise _at_risk(exc, snap, stack) from None
        raise AssertionError("unreachable")

    monkeypatch.setattr(db, "reset", reset)
    panel = DatabasePanel(FakeStack(tmp_path), confirm=Confirms(True))  # type: ignore[arg-type]
    async with Harness(panel).run_test(size=(110, 30)) as pilot:
        await settle(pilot, panel)
        panel.query_one("#db-snapshots", DataTable).focus()
        await pilot.press("x")
        await wait_until(pilot, started.is_set)
        assert panel.running == "reset"
        await pilot.press("escape")
        await settle(pilot, panel)
        status = status_text(panel)
        assert "Interrupted (cancelled) after the database was changed." in status
        assert "Get it back with: devenv db restore before-reset-1 --profile dev" in status
        assert "before-reset-1" in [r[0] for r in rows(panel)]  # refreshed after the action
    assert tokens[0].cancelled


async def test_a_failed_restore_shows_the_error_and_its_restore_command(
    tmp_path: Path, calls: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_snapshot(tmp_path, "s1")

    def restore(stack: Any, name: str, **kw: Any) -> Any:
        raise DataAtRiskError(
            "pg_restore failed: out of disk\nYour previous data is safe in snapshot 'before-restore-1'.",
            hint="Get it back with: devenv db restore before-restore-1 --profile dev",
        )

    monkeypatch.setattr(db, "restore", restore)
    panel = DatabasePanel(FakeStack(tmp_path), confirm=Confirms(True))  # type: ignore[arg-type]
    async with Harness(panel).run_test(size=(110, 30)) as pilot:
        await settle(pilot, panel)
        panel.query_one("#db-snapshots", DataTable).focus()
        await pilot.press("enter")
        await settle(pilot, panel)
        status = status_text(panel)
        assert status.startswith("✘ pg_restore failed: out of disk")
        assert "devenv db restore before-restore-1 --profile dev" in status
        assert "devenv db restore before-restore-1 --profile dev" in log_text(panel)


async def test_snapshot_with_a_name_then_the_row_appears(
    tmp_path: Path, calls: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[str | None, bool]] = []

    def open_session(stack: Any, emit: Any = None, cancel: Any = None) -> Any:
        class S:
            store = db.SnapshotStore(stack.project.root, "dev")

        return S()

    def take_snapshot(session: Any, name: str | None = None, *, emit: Any, **kw: Any) -> Any:
        seen.append((name, True))
        return write_snapshot(session.store.root, name or "auto")

    monkeypatch.setattr(db, "open_session", open_session)
    monkeypatch.setattr(db, "take_snapshot", take_snapshot)
    panel = DatabasePanel(FakeStack(tmp_path))  # type: ignore[arg-type]
    async with Harness(panel).run_test(size=(110, 30)) as pilot:
        await settle(pilot, panel)
        panel.query_one("#db-name", Input).focus()
        await pilot.press(*"mine", "enter")
        await settle(pilot, panel)
        assert seen == [("mine", True)]
        assert [r[0] for r in rows(panel)] == ["mine"]
        assert status_text(panel).startswith("✔ snapshot mine: ")
        assert panel.query_one("#db-name", Input).value == ""
        panel.query_one("#db-name", Input).value = "bad name!"
        panel.query_one("#db-snapshots", DataTable).focus()
        await pilot.press("n")
        await settle(pilot, panel)
        assert seen == [("mine", True)]  # the name check ran before the database was touched
        assert status_text(panel).startswith("✘ ")


async def test_export_and_import_paths_are_checked_first(tmp_path: Path, calls: Any) -> None:
    confirm = Confirms(False)
    panel = DatabasePanel(FakeStack(tmp_path), confirm=confirm)  # type: ignore[arg-type]
    async with Harness(panel).run_test(size=(110, 30)) as pilot:
        await settle(pilot, panel)
        panel.query_one("#db-snapshots", DataTable).focus()
        await pilot.press("E")
        await settle(pilot, panel)
        assert "Type a file path first" in status_text(panel)
        panel.query_one("#db-path", Input).value = str(tmp_path / "nowhere" / "x.sql")
        panel.query_one("#db-snapshots", DataTable).focus()
        await pilot.press("E")
        await settle(pilot, panel)
        assert "the folder" in status_text(panel) and "does not exist" in status_text(panel)
        existing = tmp_path / "old.sql"
        existing.write_text("CREATE TABLE t (id int);\n")
        panel.query_one("#db-path", Input).value = str(existing)
        await pilot.press("E")  # exists: asks to overwrite; refused
        await settle(pilot, panel)
        assert "it was left as it is" in status_text(panel)
        panel.query_one("#db-path", Input).value = str(tmp_path / "missing.sql")
        await pilot.press("I")
        await settle(pilot, panel)
        assert "does not exist or is not a file" in status_text(panel)
    assert confirm.asked == [(f"overwrite {existing}", None)]
    assert calls == []


async def test_a_failing_pre_flight_is_reported_and_the_panel_stays_usable(
    tmp_path: Path, calls: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(stack: Any, action: str) -> Any:
        raise RuntimeError("engine went away")

    monkeypatch.setattr("devenv.tui.widgets.flow.preflight", boom)
    confirm = Confirms(True)
    panel = DatabasePanel(FakeStack(tmp_path), confirm=confirm)  # type: ignore[arg-type]
    async with Harness(panel).run_test(size=(110, 30)) as pilot:
        await settle(pilot, panel)
        panel.query_one("#db-snapshots", DataTable).focus()
        await pilot.press("x")
        await settle(pilot, panel)
        assert status_text(panel) == "✘ RuntimeError: engine went away"
        assert panel.running is None
    assert confirm.asked == [] and calls == []


def test_snapshot_of_the_panel(tmp_path: Path, calls: Any, snap_compare: Any) -> None:
    """100x30, fake core: target, the unfinished operation, two snapshots and a damaged one."""
    import json
    import os

    write_snapshot(tmp_path, "s1")
    write_snapshot(tmp_path, "before-reset-1", created=1_767_225_900.0)
    write_snapshot(tmp_path, "broken")
    damage(tmp_path, "broken")
    op = {"operation": "db reset", "profile": "dev", "snapshot": "before-reset-1", "started": 1_767_226_000.0}
    (tmp_path / ".devenv" / "operation.json").write_text(json.dumps({**op, "pid": os.getpid()}))
    panel = DatabasePanel(FakeStack(tmp_path))  # type: ignore[arg-type]

    async def run_before(pilot: Any) -> None:
        await settle(pilot, panel)
        panel.query_one("#db-snapshots", DataTable).focus()
        await pilot.pause()

    assert snap_compare(Harness(panel), terminal_size=(100, 30), run_before=run_before)


async def test_d_opens_the_panel_inside_the_app_and_its_reset_asks_through_the_apps_modal(
    tmp_path: Path, calls: Any
) -> None:
    from devenv.tui.app import create_app
    from devenv.tui.screens.confirm import ConfirmScreen
    from devenv.tui.widgets.migrations_panel import MigrationsPanel
    from tests.tui.fakes import FakeCore

    write_snapshot(tmp_path, "s1")
    core = FakeCore(root=tmp_path)
    core.stack = FakeStack(tmp_path)  # type: ignore[attr-defined]  # what the panels are built on
    app = create_app(core=core)
    async with app.run_test(size=(120, 35)) as pilot:
        for _ in range(10):
            await pilot.pause(0.05)
        await pilot.press("d")
        await wait_until(pilot, lambda: bool(app.query(DatabasePanel)))
        panel = app.query_one(DatabasePanel)
        await wait_until(pilot, lambda: panel.running is None and bool(rows(panel)))  # the app's log reader runs on
        assert app.query_one("TabbedContent").active == "tab-database"  # type: ignore[attr-defined]
        assert rows(panel)[0][0] == "s1"
        assert app.focused is not None and panel in app.focused.ancestors_with_self  # its keys answer at once
        await pilot.press("x")  # reset: the app's own confirmation modal
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_until(pilot, lambda: calls == [("reset", {"hard": False})] and panel.running is None)
        await pilot.press("m")
        await wait_until(pilot, lambda: bool(app.query(MigrationsPanel)))
        assert app.query_one("TabbedContent").active == "tab-migrations"  # type: ignore[attr-defined]
