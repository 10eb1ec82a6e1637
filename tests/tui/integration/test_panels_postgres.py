"""The database and migrations panels on the real core, against the bundled example (real PostgreSQL).

The panels run in-process (Pilot) with a real :class:`devenv.core.stack.Stack` of a copy of the
example, the one ``tests/integration/test_db_postgres.py`` brings up (module fixture ``pg_stack``);
the database is checked with ``docker exec ... psql`` as there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from devenv_testlib import Stack as ExampleStack
from test_db_postgres import (
    assert_fresh,
    checksum,
    fresh,
    head_revision,
    insert_rows,
    pg_stack,
    revision,
    snapshot_dir,
    tagged,
)
from textual.widgets import DataTable, Input

from devenv.config import load_project
from devenv.core.stack import Stack
from devenv.tui.widgets.db_panel import DatabasePanel
from devenv.tui.widgets.migrations_panel import MigrationsPanel
from tests.tui.panel_fakes import Confirms, Harness, log_text, settle, status_text

pytestmark = [pytest.mark.docker, pytest.mark.timeout(900)]
__all__ = ["pg_stack"]  # the module fixture shared with test_db_postgres

FLOW_TIMEOUT = 240.0


def real_stack(st: ExampleStack, monkeypatch: pytest.MonkeyPatch) -> Stack:
    """The core's Stack for the copied example, with the test's images and ports in the environment."""
    for key, value in st.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("DEVENV_PROFILE", raising=False)
    project = load_project(Path(st.path))
    return Stack(project, project.resolve_profile("dev"))


def row_keys(table: DataTable[Any]) -> list[str]:
    return [str(table.coordinate_to_cell_key((i, 0)).row_key.value) for i in range(table.row_count)]


async def test_snapshot_reset_and_restore_from_the_panel(
    pg_stack: ExampleStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    st = pg_stack
    fresh(st)
    insert_rows(st, "tui", 12)
    before = checksum(st)
    confirm = Confirms(True, True)
    panel = DatabasePanel(real_stack(st, monkeypatch), confirm=confirm)
    async with Harness(panel).run_test(size=(120, 35)) as pilot:
        await settle(pilot, panel, FLOW_TIMEOUT)
        table = panel.query_one("#db-snapshots", DataTable)

        # snapshot: the file appears, and its row
        panel.query_one("#db-name", Input).focus()
        await pilot.press(*"tui-s1", "enter")
        await settle(pilot, panel, FLOW_TIMEOUT)
        assert status_text(panel).startswith("✔ snapshot tui-s1: "), status_text(panel) + log_text(panel)
        assert (snapshot_dir(st) / "tui-s1.pgdump").is_file()
        assert "tui-s1" in row_keys(table)
        assert "snapshot: postgres database 'tasktracker' ->" in log_text(panel)

        # quick reset: the rows are gone, the seed is back
        table.focus()
        await pilot.press("x")
        await settle(pilot, panel, FLOW_TIMEOUT)
        assert status_text(panel).startswith("✔ database reset in "), status_text(panel) + log_text(panel)
        assert "(migrated, seeded); previous data in snapshot" in status_text(panel)
        assert tagged(st, "tui") == 0
        assert_fresh(st)

        # restore the snapshot: the checksum is back
        table.move_cursor(row=row_keys(table).index("tui-s1"))
        table.focus()
        await pilot.press("R")
        await settle(pilot, panel, FLOW_TIMEOUT)
        assert status_text(panel).startswith("✔ restored tui-s1"), status_text(panel) + log_text(panel)
        assert checksum(st) == before
    assert confirm.asked == [("reset the database", None), ("restore snapshot tui-s1", None)]


async def test_downgrade_and_upgrade_from_the_migrations_panel(
    pg_stack: ExampleStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    st = pg_stack
    fresh(st)
    head = head_revision(st)
    confirm = Confirms(True)
    panel = MigrationsPanel(real_stack(st, monkeypatch), confirm=confirm)
    async with Harness(panel).run_test(size=(120, 35)) as pilot:
        await settle(pilot, panel, FLOW_TIMEOUT)
        table = panel.query_one("#mig-revisions", DataTable)
        assert panel.history is not None and panel.history.current == (head,), panel.history
        assert panel.history.pending == 0

        table.focus()
        await pilot.press("B")  # downgrade 1
        await settle(pilot, panel, FLOW_TIMEOUT)
        assert status_text(panel).startswith("✔ migrate down: done"), status_text(panel) + log_text(panel)
        down = revision(st)
        assert down is not None and down != head
        assert panel.history is not None and panel.history.current == (down,) and panel.history.pending == 1
        assert str(table.get_row_at(0)[0]) == "○ pending"

        await pilot.press("U")
        await settle(pilot, panel, FLOW_TIMEOUT)
        assert status_text(panel).startswith("✔ migrate up: done"), status_text(panel) + log_text(panel)
        assert revision(st) == head
        assert "$ alembic upgrade head   in api" in log_text(panel)
        assert panel.history is not None and panel.history.current == (head,)
    assert confirm.asked == [(f"roll back 1 migration of project {st.name}", None)]
