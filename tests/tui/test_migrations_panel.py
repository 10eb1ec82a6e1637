"""MigrationsPanel with a fake core: history marks, confirmation of a downgrade, exit status, inputs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.widgets import DataTable, Input, Static

from devenv.core import migrations
from devenv.core.events import MigrationOutput, MigrationStarted
from devenv.core.migrations import MigrationHistory, MigrationResult, Revision
from devenv.tui.widgets.migrations_panel import MigrationsPanel
from tests.tui.panel_fakes import (
    Confirms,
    FakeProfile,
    FakeStack,
    Harness,
    log_text,
    no_running_stack,
    settle,
    status_text,
    wait_until,
)

PLAN = migrations.MigrationPlan("api", "exec", "alembic", migrations.PRESETS["alembic"])
HISTORY = MigrationHistory(
    "alembic",
    (
        Revision("0001", "create tasks", applied=True, current=True),
        Revision("0002", "add task priority", applied=False, head=True, parents=("0001",)),
    ),
    command="alembic history --indicate-current",
    exit_code=0,
)


@pytest.fixture()
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any]]:
    recorded: list[tuple[str, Any]] = []
    no_running_stack(monkeypatch)
    monkeypatch.setattr(migrations, "resolve_migrations", lambda stack: PLAN)
    monkeypatch.setattr(migrations, "migration_history", lambda stack, **kw: HISTORY)

    def runner(action: str, code: int = 0) -> Any:
        def run(stack: Any, *args: Any, cancel: Any = None) -> MigrationResult:
            emit = args[-1]
            recorded.append((action, args[:-1]))
            emit(MigrationStarted(f"alembic {action}", "api", "exec"))
            emit(MigrationOutput(f"INFO running {action}", "stdout"))
            return MigrationResult(f"alembic {action}", "api", code, (f"INFO running {action}",), 1.25, action)

        return run

    monkeypatch.setattr(migrations, "migrate_up", runner("upgrade"))
    monkeypatch.setattr(migrations, "migrate_down", runner("downgrade"))
    monkeypatch.setattr(migrations, "migrate_new", runner("new", code=2))
    monkeypatch.setattr(migrations, "migrate_status", runner("status"))
    return recorded


def rows(panel: MigrationsPanel) -> list[list[str]]:
    table = panel.query_one("#mig-revisions", DataTable)
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


async def test_tool_current_revision_and_history_marks(tmp_path: Path, calls: Any) -> None:
    panel = MigrationsPanel(FakeStack(tmp_path))  # type: ignore[arg-type]
    async with Harness(panel).run_test(size=(100, 30)) as pilot:
        await settle(pilot, panel)
        info = str(panel.query_one("#mig-info", Static).render())
        assert info == "tool: alembic · service: api (exec) · current: 0001 · 1 pending"
        assert rows(panel) == [
            ["○ pending", "0002 (head)", "add task priority"],
            ["● current", "0001", "create tasks"],
        ]


async def test_history_not_read_when_services_are_down(
    tmp_path: Path, calls: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[dict[str, Any]] = []

    def history(stack: Any, **kw: Any) -> MigrationHistory:
        seen.append(kw)
        return MigrationHistory("alembic", not_ready="database postgres is not ready (missing)")

    monkeypatch.setattr(migrations, "migration_history", history)
    panel = MigrationsPanel(FakeStack(tmp_path))  # type: ignore[arg-type]
    async with Harness(panel).run_test(size=(100, 30)) as pilot:
        await settle(pilot, panel)
        note = str(panel.query_one("#mig-note", Static).render())
        assert note == "history not read: database postgres is not ready (missing) (S or U starts them)"
        assert rows(panel) == []
    assert seen == [{"start": False}]  # opening the panel starts nothing


async def test_upgrade_streams_output_and_the_exit_status(tmp_path: Path, calls: Any) -> None:
    panel = MigrationsPanel(FakeStack(tmp_path))  # type: ignore[arg-type]
    async with Harness(panel).run_test(size=(100, 30)) as pilot:
        await settle(pilot, panel)
        panel.query_one("#mig-revisions", DataTable).focus()
        await pilot.press("U")
        await settle(pilot, panel)
        assert calls == [("upgrade", ())]
        assert "$ alembic upgrade   in api" in log_text(panel)
        assert "INFO running upgrade" in log_text(panel)
        assert status_text(panel) == "✔ migrate up: done in 1.2s (api), exit status 0"


async def test_downgrade_is_confirmed_and_refusal_calls_nothing(tmp_path: Path, calls: Any) -> None:
    confirm = Confirms(False, True)
    panel = MigrationsPanel(FakeStack(tmp_path), confirm=confirm)  # type: ignore[arg-type]
    async with Harness(panel).run_test(size=(100, 30)) as pilot:
        await settle(pilot, panel)
        panel.query_one("#mig-steps", Input).value = "2"
        panel.query_one("#mig-revisions", DataTable).focus()
        await pilot.press("B")
        await settle(pilot, panel)
        assert calls == [] and "Not confirmed" in status_text(panel)
        await pilot.press("B")
        await settle(pilot, panel)
    assert confirm.asked == [("roll back 2 migrations of project shop", None)] * 2
    assert calls == [("downgrade", (2,))]


async def test_downgrade_on_a_protected_profile_needs_the_name(tmp_path: Path, calls: Any) -> None:
    stack = FakeStack(tmp_path, FakeProfile(name="prod", protected=True))
    panel = MigrationsPanel(stack)  # type: ignore[arg-type]
    async with Harness(panel).run_test(size=(100, 30)) as pilot:
        await settle(pilot, panel)
        panel.query_one("#mig-revisions", DataTable).focus()
        await pilot.press("B")
        await wait_until(pilot, lambda: len(pilot.app.screen_stack) > 1)
        await pilot.press("d", "e", "v", "enter", "escape")
        await settle(pilot, panel)
        assert calls == []
        await pilot.press("B")
        await wait_until(pilot, lambda: len(pilot.app.screen_stack) > 1)
        await pilot.press(*"prod", "enter")
        await settle(pilot, panel)
    assert calls == [("downgrade", (1,))]


async def test_bad_steps_and_empty_message_are_refused_before_anything_runs(tmp_path: Path, calls: Any) -> None:
    panel = MigrationsPanel(FakeStack(tmp_path), confirm=Confirms(True))  # type: ignore[arg-type]
    async with Harness(panel).run_test(size=(100, 30)) as pilot:
        await settle(pilot, panel)
        panel.query_one("#mig-steps", Input).value = "0"
        panel.query_one("#mig-revisions", DataTable).focus()
        await pilot.press("B")
        await settle(pilot, panel)
        assert status_text(panel) == "✘ expected a positive number of migrations, got 0"
        await pilot.press("M")
        await settle(pilot, panel)
        assert "needs a message" in status_text(panel)
    assert calls == []


async def test_a_failing_command_shows_its_exit_code_and_the_clis_hint(tmp_path: Path, calls: Any) -> None:
    panel = MigrationsPanel(FakeStack(tmp_path))  # type: ignore[arg-type]
    async with Harness(panel).run_test(size=(100, 30)) as pilot:
        await settle(pilot, panel)
        panel.query_one("#mig-message", Input).focus()
        await pilot.press(*"add due date", "enter")
        await settle(pilot, panel)
        assert calls == [("new", ("add due date",))]
        assert status_text(panel) == (
            "✘ migrate new: `alembic new` exited with code 2 in api\n"
            'Fix the problem shown in the output above, then run `devenv migrate new "MESSAGE" --profile dev` again.'
        )
        assert panel.query_one("#mig-message", Input).value == "add due date"  # kept to fix and retry


async def test_escape_cancels_the_running_command_and_says_where_it_stopped(
    tmp_path: Path, calls: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """escape hands the cancel to the core call (its token); the panel shows the core's report."""
    from devenv.core.cancel import Cancelled
    from devenv.core.events import MigrationInterrupted

    tokens: list[Any] = []

    def slow(stack: Any, emit: Any, *, cancel: Any = None) -> MigrationResult:
        tokens.append(cancel)
        emit(MigrationStarted("alembic upgrade head", "api", "exec"))
        assert cancel.wait(10), "the panel never cancelled the token"
        emit(
            MigrationInterrupted(
                "alembic upgrade head",
                "api",
                "cancelled",
                True,
                ("0002",),
                1,
                "the database is at revision 0002; 1 pending",
                "devenv migrate up --profile dev",
            )
        )
        raise Cancelled()

    monkeypatch.setattr(migrations, "migrate_up", slow)
    panel = MigrationsPanel(FakeStack(tmp_path))  # type: ignore[arg-type]
    async with Harness(panel).run_test(size=(100, 30)) as pilot:
        await settle(pilot, panel)
        panel.query_one("#mig-revisions", DataTable).focus()
        await pilot.press("U")
        await wait_until(pilot, lambda: panel.running == "upgrade" and "running" in status_text(panel))
        assert "escape cancels" in status_text(panel)
        await pilot.press("escape")
        await settle(pilot, panel)
        assert panel.running is None
        assert tokens and tokens[0].cancelled
        assert status_text(panel) == (
            "✘ migrate up cancelled: `alembic upgrade head` stopped in the container\n"
            "the database is at revision 0002; 1 pending\n"
            "To finish it: devenv migrate up --profile dev"
        )
        assert "cancelled: `alembic upgrade head` in api was stopped in the container" in log_text(panel)


def test_snapshot_of_the_panel(tmp_path: Path, calls: Any, snap_compare: Any) -> None:
    """100x30, fake core: the tool, the current revision, one applied and one pending migration."""
    panel = MigrationsPanel(FakeStack(tmp_path))  # type: ignore[arg-type]

    async def run_before(pilot: Any) -> None:
        await settle(pilot, panel)
        panel.query_one("#mig-revisions", DataTable).focus()
        await pilot.pause()

    assert snap_compare(Harness(panel), terminal_size=(100, 30), run_before=run_before)
