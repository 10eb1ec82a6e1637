"""The database and migrations panels on the real core, against the bundled example (real PostgreSQL),
and the real ``devenv`` console script in tmux on the same running example.

The panels run in-process (Pilot) with a real :class:`devenv.core.stack.Stack` of a copy of the
example, the one ``tests/integration/test_db_postgres.py`` brings up (module fixture ``pg_stack``);
the database is checked with ``docker exec ... psql`` as there.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from devenv_testlib import DEVENV
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
from tests.tui.integration.tmuxlib import Tmux, have_tmux
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


def screen_row(screen: str, service: str) -> str:
    """The services table's row of ``service`` on a tmux screen ("" when it is not shown)."""
    for line in screen.splitlines():
        cells = line.replace("│", " ").split()
        if len(cells) >= 3 and service in cells[:2]:
            return line
    return ""


def logs_status(screen: str) -> str:
    """The logs view's status line (``follow · api · 20 lines``)."""
    return next((line for line in screen.splitlines() if " lines" in line and " · " in line), "")


def shown_service(screen: str) -> str:
    """The service the logs view shows (``api`` of ``/GET/ · follow · api · 20 lines``), "" when unknown."""
    parts = logs_status(screen).split(" · ")
    return parts[-2].strip() if len(parts) >= 3 else ""


def table_order(screen: str) -> list[str]:
    """The services table's rows, top to bottom (the service name is each row's second cell)."""
    names: list[str] = []
    for line in screen.splitlines():
        cells = line.split("│")
        if len(cells) < 3:
            continue
        words = cells[1].split()
        if len(words) < 3 or "SERVICE" in words:
            continue
        name = words[1] if not words[0][0].isalnum() else words[0]  # after the state glyph
        if name not in names:
            names.append(name)
    return names


def select_row(term: Tmux, service: str) -> None:
    """Move the table's cursor (``j``/``k``) until the logs view says it shows ``service``: ``a``
    first when it shows all services merged (as when the app opens), and ``shift+tab`` back to the
    table when a key went to another view. Only the shown service counts as a move (the line count
    on the same status line changes with every new log line), and each key waits for its move, so
    the cursor never overshoots."""
    if "· all services ·" in term.screen():
        term.press("a")
        term.wait_for(lambda s: "· all services ·" not in s, 5, "the logs of the selected service only")
    for _ in range(12):
        screen = term.screen()
        current = shown_service(screen)
        if current == service:
            return
        order = table_order(screen)
        up = current in order and service in order and order.index(service) < order.index(current)
        term.press("k" if up else "j")
        try:
            term.wait_for(lambda s: shown_service(s) != current, 3, "the cursor to move")  # noqa: B023
        except AssertionError:
            term.press("BTab")  # the table did not have the focus
    term.wait_for(lambda s: shown_service(s) == service, 5, f"the cursor on {service}")


def restarted_in_the_logs(screen: str) -> bool:
    lines = screen.splitlines()
    stops = [i for i, line in enumerate(lines) if "received SIGTERM, stopping" in line]
    return bool(stops) and any("tasktracker worker start" in line for line in lines[stops[-1] :])


@pytest.mark.skipif(not have_tmux(), reason="tmux is not installed (scripts/provision.sh installs it)")
def test_devenv_console_script_in_tmux_on_the_bundled_stack(pg_stack: ExampleStack) -> None:
    """What a user sees and presses: the real ``devenv`` console script in a real terminal (tmux),
    on the bundled example (dev profile: PostgreSQL, the migrate one-shot, the api under debugpy
    and uvicorn's reloader, the worker; plus the test's sidecar)."""
    st = pg_stack
    env = {**st.env, "TEXTUAL_ANIMATIONS": "none", "TERM": "xterm-256color", "PATH": os.environ["PATH"]}
    term = Tmux([str(DEVENV)], st.path, env, width=160, height=40)  # wide enough for uvicorn's access lines
    try:
        screen = term.wait_for(lambda s: "5/5 ready" in s and "sidecar" in s, 30, "the five services ready")
        assert f"{st.name}" in screen and "dev" in screen, screen
        for service in ("postgres", "migrate", "api", "worker"):
            assert screen_row(screen, service), (service, screen)
        # the api's logs: uvicorn's access line for each healthcheck; a search pauses the follow
        select_row(term, "api")
        term.press("l")
        term.wait_for(lambda s: "GET /health" in s, 30, "the api's access log lines")
        term.press("/")
        term.wait_for(lambda s: "search (regex): enter to find" in s, 10, "the search prompt")
        term.type("GET /health")
        term.press("Enter")
        term.wait_for(lambda s: "/GET /health/" in s and "paused" in s, 10, "the search in the status line")
        term.press("f")
        term.wait_for(lambda s: "follow" in s and "paused" not in s, 10, "follow back on")
        # restart the worker from its row: the engine restarts it, the TUI says when it is ready
        select_row(term, "worker")
        before = st.inspect("worker")["State"]["StartedAt"]
        term.press("r")
        term.wait_for(lambda s: "service(s) ready in" in s, 120, "the restart's notification")
        assert st.inspect("worker")["State"]["StartedAt"] != before
        # its log view goes on across the restart: the old run's last line, then the new run's first
        term.wait_for(restarted_in_the_logs, 30, "the worker's stop and new start in its logs")
        # the database panel on the same stack: the target and its snapshots table
        term.press("d")
        term.wait_for(lambda s: "postgres" in s and "tasktracker" in s and "snapshot" in s.lower(), 30, "the db panel")
        term.press("q")
        term.wait_for(lambda s: "DEVENV-EXIT=0" in s, 15, "devenv to quit with 0")
        for service in ("postgres", "api", "worker"):
            assert st.inspect(service)["State"]["Running"], service  # quitting never stops the stack
    finally:
        term.close()
