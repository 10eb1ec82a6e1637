"""Pilot tests with a fake core (no Docker): the app's UI and its calls into the core."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")


@pytest.fixture(autouse=True)
def _user_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every test gets its own empty XDG config folder (never the developer's own keys)."""
    config = tmp_path / "xdg"
    config.mkdir()
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config))
    monkeypatch.setenv("TEXTUAL_ANIMATIONS", "none")
    yield config
