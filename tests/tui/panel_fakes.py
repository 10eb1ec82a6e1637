"""A fake stack and a harness app for the panels' Pilot tests (the core's flows are monkeypatched).

The snapshot store, the journal and the confirmation modal are the real ones, on ``tmp_path``.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from textual.app import App, ComposeResult
from textual.pilot import Pilot
from textual.widget import Widget

from devenv.config import DatabaseConfig, MigrationsConfig, SeedConfig
from devenv.core.db.snapshots import SnapshotInfo, SnapshotStore

# A fixed time for what the panels show (snapshot dates), so snapshots of the screen are stable.
CREATED = 1_767_225_600.0  # 2026-01-01 00:00:00 UTC


@dataclass
class FakeProfile:
    name: str = "dev"
    protected: bool = False
    database: DatabaseConfig = field(default_factory=lambda: DatabaseConfig(service="postgres", engine="postgres"))
    migrations: MigrationsConfig = field(default_factory=lambda: MigrationsConfig(service="api", tool="alembic"))
    seed: SeedConfig = field(default_factory=SeedConfig)


@dataclass
class FakeProject:
    root: Path
    name: str = "shop"
    profiles: dict[str, FakeProfile] = field(default_factory=dict)


class FakeStack:
    def __init__(self, root: Path, profile: FakeProfile | None = None) -> None:
        self.profile = profile or FakeProfile()
        self.project = FakeProject(root, profiles={self.profile.name: self.profile})
        self.name = "shop"


class Harness(App[None]):
    """Mounts one panel, full screen."""

    CSS = "Screen { layout: vertical; }"

    def __init__(self, panel: Widget) -> None:
        super().__init__()
        self.panel = panel

    def compose(self) -> ComposeResult:
        yield self.panel


class Confirms:
    """A ``confirm=`` hook that records what it was asked and answers from a list."""

    def __init__(self, *answers: bool) -> None:
        self.answers = list(answers)
        self.asked: list[tuple[str, str | None]] = []

    async def __call__(self, action: str, protected_profile: str | None) -> bool:
        self.asked.append((action, protected_profile))
        return self.answers.pop(0) if self.answers else False


def utc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()


def no_running_stack(monkeypatch: pytest.MonkeyPatch, found: Any = None) -> None:
    """The stack on the engine (devenv.core.running.running_profile): none by default."""
    monkeypatch.setattr("devenv.core.running.running_profile", lambda _stack: found)


def write_snapshot(root: Path, name: str, *, created: float = CREATED, revision: str | None = "0002") -> SnapshotInfo:
    store = SnapshotStore(root, "dev")
    info = SnapshotInfo(
        name=name,
        profile="dev",
        engine="postgres",
        database="app",
        service="postgres",
        created=created,
        size=0,
        file=f"{name}.pgdump",
        format="pgdump",
        reason="manual",
        project="shop",
    )
    return store.write(info, lambda out: out.write(b"PGDMP" + b"x" * 2043), late=lambda: {"revision": revision})


def damage(root: Path, name: str) -> None:
    meta = root / ".devenv" / "snapshots" / "dev" / f"{name}.json"
    meta.write_text("{not json")
    os.utime(meta, (CREATED, CREATED))


async def settle(pilot: Pilot[Any], panel: Any, timeout: float = 10.0) -> None:
    """Wait until the panel runs nothing and every worker is done, then let messages land."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        await pilot.pause(0.02)
        busy = any(w.is_running for w in pilot.app.workers)
        if panel.running is None and not busy:
            await pilot.pause(0.05)
            return
    raise AssertionError(f"the panel is still busy: {panel.running!r}")


async def wait_until(pilot: Pilot[Any], predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        await pilot.pause(0.02)
    raise AssertionError("condition not reached")


def log_text(panel: Widget) -> str:
    from textual.widgets import Log

    return "\n".join(panel.query_one("#flow-log", Log).lines)


def status_text(panel: Widget) -> str:
    from textual.widgets import Static

    return str(panel.query_one("#flow-status", Static).render())


__all__ = ["asyncio"]
