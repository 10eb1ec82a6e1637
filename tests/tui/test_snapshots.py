"""Snapshots of the main screen (pytest-textual-snapshot) at 120x35 and 80x24, with a fake core.

Stable by construction: no clock on screen, a fixed project and endpoint, uptimes from a fixed
offset, animations off; the shot waits for the initial sync and the first log batch.
Update with ``pytest tests/tui/test_snapshots.py --snapshot-update`` after a deliberate change.
"""

from __future__ import annotations

from pathlib import Path

from devenv.core.models import LogLine
from devenv.tui.app import create_app
from tests.tui.fakes import FakeCore, status

LOGS = [
    LogLine("postgres", "p-postgres-1", "database system is ready to accept connections", "2026-01-01T00:00:01Z"),
    LogLine("api", "p-api-1", "INFO:     Application startup complete.", "2026-01-01T00:00:02Z"),
    LogLine("worker", "p-worker-1", "worker heartbeat 241: tasks present", "2026-01-01T00:00:03Z"),
    LogLine("api", "p-api-1", 'INFO:     127.0.0.1 - "GET /api/health HTTP/1.1" 200 OK', "2026-01-01T00:00:04Z"),
    LogLine("worker", "p-worker-1", "worker heartbeat 242: tasks present", "2026-01-01T00:00:05Z"),
]


def _core(tmp_path: Path) -> FakeCore:
    core = FakeCore(initial_logs=LOGS, root=tmp_path)
    core.statuses[3] = status("worker", "exited", "none", exit_code=137)
    return core


async def _loaded(pilot) -> None:  # type: ignore[no-untyped-def]
    for _ in range(8):
        await pilot.pause(0.1)


def test_main_screen_120x35(snap_compare, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(create_app(core=_core(tmp_path)), terminal_size=(120, 35), run_before=_loaded)


def test_main_screen_80x24(snap_compare, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(create_app(core=_core(tmp_path)), terminal_size=(80, 24), run_before=_loaded)


def test_help_screen_120x35(snap_compare, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(
        create_app(core=_core(tmp_path)), terminal_size=(120, 35), press=["question_mark"], run_before=_loaded
    )
