"""The doctor panel on the real core and engine: a project whose external network is missing opens on
the panel; ``f`` creates the network and the check after it finds nothing wrong."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from devenv_testlib import BASE_IMAGE, cleanup_project, docker, free_ports, unique_name

from devenv.tui.app import create_app
from devenv.tui.core import RealCore
from devenv.tui.screens.doctor import DoctorScreen


async def until(pilot: Any, check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        await pilot.pause(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


async def test_real_core_opens_on_the_doctor_panel_and_fixes_the_network(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = unique_name()
    network = f"{name}-shared"
    root = tmp_path / name
    root.mkdir()
    (root / "compose.yml").write_text(
        f"name: {name}\nservices:\n  app:\n    image: {BASE_IMAGE}\n    command: [sleep, infinity]\n"
        '    ports: ["127.0.0.1:${APP_PORT:?set APP_PORT}:8000"]\n    networks: [shared]\n'
        "networks:\n  shared:\n    external: true\n    name: ${SHARED_NET:?set SHARED_NET}\n"
    )
    monkeypatch.setenv("APP_PORT", str(free_ports(1)[0]))
    monkeypatch.setenv("SHARED_NET", network)
    monkeypatch.delenv("DEVENV_PROFILE", raising=False)
    app = create_app(root)
    assert isinstance(app.core, RealCore)
    try:
        async with app.run_test(size=(120, 35)) as pilot:
            await until(pilot, lambda: isinstance(app.screen, DoctorScreen) and app.screen.rows, 60, "the panel")
            screen = app.screen
            assert isinstance(screen, DoctorScreen)
            errors = [f for f in screen.rows if f.severity == "error"]
            assert [f.check for f in errors] == ["network"] and network in errors[0].message
            assert "1 error" in str(screen.title_line.render())
            screen.table.move_cursor(row=screen.rows.index(errors[0]))
            await pilot.press("f")
            await until(pilot, lambda: not screen.busy and not screen.report.errors, 60, "the check after the fix")
            assert docker("network", "inspect", network).returncode == 0
            assert f"fixed: created network {network}" in str(screen.title_line.render())
            await pilot.press("escape")
            assert not isinstance(app.screen, DoctorScreen)
    finally:
        cleanup_project(name)
        docker("network", "rm", network)
