"""Snapshots of the main screen (pytest-textual-snapshot) at 120x35 and 80x24, with a fake core.

Stable by construction: no clock on screen, a fixed project and endpoint, uptimes from a fixed
offset, animations off; the shot waits for the initial sync and the first log batch.
Update with ``pytest tests/tui/test_snapshots.py --snapshot-update`` after a deliberate change.
"""

from __future__ import annotations

import time
from pathlib import Path

from devenv.core.events import EngineReconnected, EngineUnreachable
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


def _badged(tmp_path: Path) -> FakeCore:
    """A protected profile, a stack started under another one, a failed service: every header badge."""
    core = _core(tmp_path)
    core.profile_name, core.protected, core.running = "prod", True, "dev (started with devenv up --profile dev)"
    return core


async def _loaded(pilot) -> None:  # type: ignore[no-untyped-def]
    for _ in range(8):
        await pilot.pause(0.1)


def test_main_screen_120x35(snap_compare, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(create_app(core=_core(tmp_path)), terminal_size=(120, 35), run_before=_loaded)


def test_main_screen_80x24(snap_compare, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(create_app(core=_core(tmp_path)), terminal_size=(80, 24), run_before=_loaded)


def test_help_screen_120x35(snap_compare, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # The help names the config file: a fixed path (a tmp path's length moved the scrollbar).
    monkeypatch.setenv("XDG_CONFIG_HOME", "/home/dev/.config")
    assert snap_compare(
        create_app(core=_core(tmp_path)), terminal_size=(120, 35), press=["question_mark"], run_before=_loaded
    )


def test_no_color_120x35(snap_compare, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """NO_COLOR: Textual draws in monochrome; states still read from their words and ✔ / ✘ marks."""
    monkeypatch.setenv("NO_COLOR", "1")
    assert snap_compare(create_app(core=_badged(tmp_path)), terminal_size=(120, 35), run_before=_loaded)


def test_light_theme_120x35(snap_compare, tmp_path: Path, _user_config: Path) -> None:  # type: ignore[no-untyped-def]
    """``[tui] theme = "textual-light"``: the header's badges and the services' log colours read on light."""
    (_user_config / "devenv").mkdir()
    (_user_config / "devenv" / "config.toml").write_text('[tui]\ntheme = "textual-light"\n')
    assert snap_compare(create_app(core=_badged(tmp_path)), terminal_size=(120, 35), run_before=_loaded)


def test_details_view_120x35(snap_compare, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """`i` on the exited worker: containers, image, command, health, restart policy, masked environment."""

    async def on_worker(pilot) -> None:  # type: ignore[no-untyped-def]
        await _loaded(pilot)
        await pilot.press("down", "down", "down", "i")
        await _loaded(pilot)

    assert snap_compare(create_app(core=_core(tmp_path)), terminal_size=(120, 35), run_before=on_worker)


def test_config_view_120x35(snap_compare, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """`c`: the merged config, secrets masked, the selected service's section first."""

    async def config(pilot) -> None:  # type: ignore[no-untyped-def]
        await _loaded(pilot)
        await pilot.press("down", "down", "c")
        await _loaded(pilot)

    assert snap_compare(create_app(core=_core(tmp_path)), terminal_size=(120, 35), run_before=config)


def test_events_view_120x35(snap_compare, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """`h`: the history since the app opened: a death with its exit code, health flips with the check's
    output, a restart by policy, the engine going away and coming back; errors also as toasts."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    core = _core(tmp_path)
    t0 = 1_767_225_600.0  # 2026-01-01 00:00:00 UTC

    async def history(pilot) -> None:  # type: ignore[no-untyped-def]
        await _loaded(pilot)
        core.change(
            status("api", "running", "unhealthy"),
            "health_status: unhealthy",
            engine_time=t0 + 61,
            health_output="curl: (7) Failed to connect to 127.0.0.1 port 8000",
        )
        core.change(status("api", "running", "healthy"), "health_status: healthy", engine_time=t0 + 64)
        core.change(status("worker", "exited", "none", exit_code=137), "die", engine_time=t0 + 70)
        core.change(status("worker", "running", "none", restarts=1), "start", engine_time=t0 + 71, restart_count=1)
        core.emit(EngineUnreachable("connection refused", 0.5, time=t0 + 80))
        core.emit(EngineReconnected(2.5, 3, time=t0 + 82.5))
        await pilot.press("h")
        await _loaded(pilot)

    try:
        assert snap_compare(create_app(core=core), terminal_size=(120, 35), run_before=history)
    finally:
        monkeypatch.undo()
        time.tzset()
