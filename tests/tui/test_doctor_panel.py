"""The doctor panel with a fake core: opens on errors, applies a safe fix with a key, checks again."""

from __future__ import annotations

import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from doctor_fixtures import broken_project

from devenv.core.doctor import Finding, FixOutcome, Report, SafeFix
from devenv.tui.app import DevenvApp, create_app
from devenv.tui.screens.doctor import DoctorScreen
from devenv.tui.settings import KEY_HELP
from tests.tui.fakes import FakeCore

NETWORK = Finding(
    "network",
    "error",
    "external network shared does not exist",
    where="compose.yml:33",
    fix="docker network create shared (or `devenv doctor --fix`)",
    safe_fix=SafeFix("network", "shared"),
)
VARIABLE = Finding(
    "variables",
    "error",
    "required variable DB_PASSWORD is not set",
    where="compose.yml:8",
    fix="Add DB_PASSWORD=... to .env.dev, or export DB_PASSWORD.",
)
ENGINE_OK = Finding("engine", "ok", "Docker Engine 20.10.24 answers")


@dataclass
class FakeDoctor:
    """Reports in turn: each check returns the next one (the last one again when none is left)."""

    reports: list[list[Finding]]
    checks: int = 0
    fixed: list[SafeFix] = field(default_factory=list)
    gate: threading.Event | None = None

    def check(self) -> Report:
        if self.gate is not None:
            self.gate.wait(5)
        index = min(self.checks, len(self.reports) - 1)
        self.checks += 1
        return Report("tasktracker", "dev", tuple(self.reports[index]))

    def fix(self, finding: Finding) -> FixOutcome:
        assert finding.safe_fix is not None
        self.fixed.append(finding.safe_fix)
        return FixOutcome(finding.safe_fix, True, f"created network {finding.safe_fix.target}")


@dataclass
class DoctorCore(FakeCore):
    doctor_source: FakeDoctor | None = None

    def doctor(self) -> FakeDoctor:
        assert self.doctor_source is not None
        return self.doctor_source


async def wait_until(pilot: Any, check: Any, what: str, rounds: int = 100) -> None:
    for _ in range(rounds):
        if check():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def cells(app: DevenvApp) -> list[str]:
    table = app.screen.table
    return [" ".join(str(c) for c in table.get_row_at(i)) for i in range(table.row_count)]


async def test_the_app_opens_on_the_doctor_panel_and_a_key_fixes_and_rechecks() -> None:
    doctor = FakeDoctor([[ENGINE_OK, VARIABLE, NETWORK], [ENGINE_OK, VARIABLE]])
    app = create_app(core=DoctorCore(doctor_source=doctor))
    async with app.run_test(size=(120, 35)) as pilot:
        await wait_until(
            pilot,
            lambda: isinstance(app.screen, DoctorScreen) and app.screen.table.row_count > 0,
            "the doctor panel with its rows",
        )
        rows = cells(app)
        assert rows[0].startswith("error variables compose.yml:8 required variable DB_PASSWORD")  # errors first
        assert "compose.yml:33" in rows[1] and rows[-1].startswith("ok engine")
        title = str(app.screen.title_line.render())
        assert "2 errors" in title and "1 safe fix" in title
        detail = str(app.screen.detail.render())
        assert "fix: Add DB_PASSWORD=... to .env.dev" in detail
        await pilot.press("f")  # the variable has no safe fix: nothing is run
        await pilot.pause()
        assert doctor.fixed == [] and doctor.checks == 1
        await pilot.press("down")
        detail = str(app.screen.detail.render())
        assert "press f to apply this fix" in detail
        await pilot.press("f")
        await wait_until(pilot, lambda: doctor.checks == 2 and len(cells(app)) == 2, "the check after the fix")
        assert doctor.fixed == [SafeFix("network", "shared")]
        title = str(app.screen.title_line.render())
        assert "1 error" in title and "fixed: created network shared" in title
        await pilot.press("escape")
        assert not isinstance(app.screen, DoctorScreen)


async def test_no_panel_when_the_project_has_no_errors_and_the_key_opens_it_any_time() -> None:
    doctor = FakeDoctor([[ENGINE_OK, Finding("env-example", "warning", "FEATURE_FLAGS is missing")]])
    app = create_app(core=DoctorCore(doctor_source=doctor))
    async with app.run_test(size=(120, 35)) as pilot:
        await wait_until(pilot, lambda: app.doctor_report is not None, "the opening check")
        await pilot.pause()
        assert not isinstance(app.screen, DoctorScreen)
        assert KEY_HELP["doctor"][0] == "exclamation_mark"
        await pilot.press("exclamation_mark")
        await wait_until(pilot, lambda: isinstance(app.screen, DoctorScreen) and len(cells(app)) == 2, "the panel")
        assert doctor.checks == 2  # opened by the key: checked again
        await pilot.press("r")
        await wait_until(pilot, lambda: doctor.checks == 3, "the re-check")
        await pilot.press("escape")
        assert not isinstance(app.screen, DoctorScreen)


async def test_the_palette_has_a_doctor_entry() -> None:
    doctor = FakeDoctor([[ENGINE_OK]])
    app = create_app(core=DoctorCore(doctor_source=doctor))
    async with app.run_test(size=(120, 35)) as pilot:
        await pilot.pause()
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert any(t.startswith("Doctor") for t in titles), titles
        entry = next(c for c in app.get_system_commands(app.screen) if c.title.startswith("Doctor"))
        entry.callback()
        await wait_until(pilot, lambda: isinstance(app.screen, DoctorScreen), "the panel from the palette")


async def test_fix_all_applies_every_safe_fix_then_checks_once() -> None:
    other = Finding("network", "error", "external network other does not exist", safe_fix=SafeFix("network", "other"))
    doctor = FakeDoctor([[NETWORK, other], [ENGINE_OK]])
    app = create_app(core=DoctorCore(doctor_source=doctor))
    async with app.run_test(size=(120, 35)) as pilot:
        await wait_until(
            pilot,
            lambda: isinstance(app.screen, DoctorScreen) and app.screen.table.row_count > 0,
            "the doctor panel with its rows",
        )
        await pilot.press("A")
        await wait_until(pilot, lambda: doctor.checks == 2 and len(cells(app)) == 1, "the check after the fixes")
        assert [f.target for f in doctor.fixed] == ["shared", "other"]
        assert "0 errors" in str(app.screen.title_line.render())


async def test_a_fake_core_without_a_doctor_opens_no_panel() -> None:
    app = create_app(core=FakeCore())
    async with app.run_test(size=(120, 35)) as pilot:
        await pilot.pause()
        await pilot.press("exclamation_mark")
        await pilot.pause()
        assert not isinstance(app.screen, DoctorScreen)


async def test_a_broken_configuration_opens_the_panel_with_the_real_doctor_and_no_engine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No core can be built (broken TOML): the folder's real doctor still runs, finds, and fixes."""
    root = broken_project(tmp_path / "p", "dvtdoctortui")
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/devenv-test-no-engine.sock")
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent))  # no docker CLI either
    app = create_app(root)
    assert app.core is None
    async with app.run_test(size=(120, 35)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, DoctorScreen) and app.screen.rows, "the panel", 400)
        screen = app.screen
        assert isinstance(screen, DoctorScreen)
        checks = {f.check for f in screen.rows if f.severity == "error"}
        assert {"engine", "compose", "config", "variables", "env-file"} <= checks
        env_file = next(f for f in screen.rows if f.check == "env-file")
        screen.table.move_cursor(row=screen.rows.index(env_file))
        await pilot.press("f")
        await wait_until(
            pilot, lambda: not screen.busy and not any(f.check == "env-file" for f in screen.rows), "the re-check", 400
        )
        assert (root / ".env.dev").read_text().startswith("# dev settings\nDB_PASSWORD=")
        assert "fixed: wrote" in str(screen.title_line.render())
