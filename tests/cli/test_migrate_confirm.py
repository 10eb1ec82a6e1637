"""``devenv migrate down`` on a protected profile asks for confirmation, like ``db reset``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from devenv_testlib import BASE_IMAGE, DevenvResult, cleanup_project, docker, run_devenv, unique_name

COMPOSE = f"""services:
  app:
    image: {BASE_IMAGE}
    init: true
    command: ["sleep", "infinity"]
"""

TOML = """[project]
name = "{name}"
compose_files = ["compose.yml"]

[profiles.dev]
description = "unprotected"

[profiles.live]
description = "protected"
protected = true

[migrations]
service = "app"
tool = "custom"
upgrade = "echo upgraded"
downgrade = "echo rolled back {{steps}} | tee -a /tmp/dvt-rollbacks"
status = "cat /tmp/dvt-rollbacks 2>/dev/null || echo none"
new = "echo new {{message}}"
"""


class Project:
    def __init__(self, root: Path, name: str) -> None:
        self.root = root
        self.name = name

    def devenv(self, *args: str) -> DevenvResult:
        return run_devenv(args, self.root)

    def containers(self) -> list[str]:
        return docker("ps", "-aq", "--filter", f"label=com.docker.compose.project={self.name}").stdout.split()


@pytest.fixture()
def project(tmp_path: Path) -> Iterator[Project]:
    name = unique_name()
    root = tmp_path / name
    root.mkdir()
    (root / "compose.yml").write_text(COMPOSE)
    (root / "devenv.toml").write_text(TOML.format(name=name))
    try:
        yield Project(root, name)
    finally:
        cleanup_project(name)


def test_migrate_down_on_a_protected_profile_is_refused_without_confirmation(project: Project) -> None:
    res = project.devenv("migrate", "down", "--profile", "live")
    assert res.returncode == 2, res.dump()
    assert "Refusing to roll back 1 migration of project" in res.stderr, res.dump()
    assert 'protected profile "live"' in res.stderr and "Nothing was changed" in res.stderr, res.dump()
    assert "--yes --confirm-profile live" in res.stderr, res.dump()
    assert res.stdout == "", res.dump()
    assert project.containers() == [], "a refused rollback must not start anything"

    res = project.devenv("migrate", "down", "2", "--profile", "live", "--yes", "--confirm-profile", "dev")
    assert res.returncode == 2, res.dump()
    assert "Refusing to roll back 2 migrations" in res.stderr and '"dev" does not match' in res.stderr, res.dump()

    res = project.devenv("migrate", "down", "--profile", "live", "--yes")  # --yes alone is not enough
    assert res.returncode == 2, res.dump()

    res = project.devenv("--json", "--profile", "live", "migrate", "down")
    assert res.returncode == 2, res.dump()
    doc = res.json()
    assert doc["ok"] is False and doc["action"] == "down" and doc["profile"] == "live", doc
    assert doc["error"]["kind"] == "ConfirmationRequired", doc
    assert project.containers() == []


def test_migrate_down_runs_when_confirmed_and_on_unprotected_profiles(project: Project) -> None:
    res = project.devenv("migrate", "down", "--profile", "live", "--yes", "--confirm-profile", "live")
    assert res.returncode == 0, res.dump()
    assert "rolled back 1" in res.stdout, res.dump()

    # Other actions on the protected profile need nothing.
    res = project.devenv("migrate", "status", "--profile", "live")
    assert res.returncode == 0, res.dump()
    assert res.stdout.splitlines() == ["rolled back 1"], res.dump()

    # The stack now runs under "live": a rollback without --profile follows it and asks too.
    res = project.devenv("migrate", "down")
    assert res.returncode == 2, res.dump()
    assert 'protected profile "live"' in res.stderr, res.dump()


def test_migrate_down_on_an_unprotected_profile_needs_no_confirmation(project: Project) -> None:
    res = project.devenv("migrate", "down", "3", "--profile", "dev")
    assert res.returncode == 0, res.dump()
    assert "rolled back 3" in res.stdout, res.dump()
