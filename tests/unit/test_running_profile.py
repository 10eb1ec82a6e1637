"""Which profile a project's containers were created with, from Compose's own labels."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from devenv.config import Project, load_project
from devenv.core.running import (
    CONFIG_FILES_LABEL,
    ENV_FILES_LABEL,
    check_same_profile,
    from_labels,
    protection,
    record_up,
    running_profile,
)
from devenv.core.stack import Stack
from devenv.errors import UsageError


@pytest.fixture()
def project(tmp_path: Path) -> Project:
    (tmp_path / "compose.yml").write_text("services:\n  db:\n    image: postgres\n")
    for name in ("dev", "prod", "staging"):
        (tmp_path / f"compose.{name}.yml").write_text("services: {}\n")
        (tmp_path / f".env.{name}").write_text("X=1\n")
    (tmp_path / ".env.qa").write_text("X=2\n")
    (tmp_path / "devenv.toml").write_text(
        '[project]\nname = "demo"\ncompose_files = ["compose.yml"]\ndefault_profile = "dev"\n'
        '[profiles.dev]\ncompose_files = ["compose.dev.yml"]\nenv_files = [".env.dev"]\n'
        '[profiles.prod]\ncompose_files = ["compose.prod.yml"]\nenv_files = [".env.prod"]\nprotected = true\n'
        '[profiles.staging]\ncompose_files = ["compose.staging.yml"]\nenv_files = [".env.staging"]\n'
        # qa: the same compose files as staging, other env file
        '[profiles.qa]\ncompose_files = ["compose.staging.yml"]\nenv_files = [".env.qa"]\n'
    )
    return load_project(tmp_path, environ={})


def labels(project: Project, profile: str, **extra: str) -> dict[str, str]:
    p = project.profiles[profile]
    return {
        "com.docker.compose.project": "demo",
        CONFIG_FILES_LABEL: ",".join(str(f) for f in p.compose_files),
        ENV_FILES_LABEL: ",".join(str(f) for f in p.env_files),
        **extra,
    }


def test_no_containers_means_no_running_profile(project: Project) -> None:
    assert from_labels(project, []) is None


def test_containers_created_by_prod_are_prod(project: Project) -> None:
    found = from_labels(project, [labels(project, "prod"), labels(project, "prod")])
    assert found is not None
    assert found.name == "prod"
    assert found.containers == 2


def test_env_files_break_a_tie_between_profiles_with_the_same_compose_files(project: Project) -> None:
    found = from_labels(project, [labels(project, "qa")])
    assert found is not None and found.name == "qa"


def test_one_off_containers_are_ignored(project: Project) -> None:
    found = from_labels(
        project, [labels(project, "dev"), labels(project, "prod", **{"com.docker.compose.oneoff": "True"})]
    )
    assert found is not None and found.profiles == ("dev",)


def test_mixed_and_unknown_containers(project: Project) -> None:
    other: dict[str, Any] = {CONFIG_FILES_LABEL: str(project.root / "elsewhere.yml")}
    found = from_labels(project, [labels(project, "dev"), labels(project, "prod"), other])
    assert found is not None
    assert found.profiles == ("dev", "prod")
    assert found.unknown == 1
    assert found.name is None
    assert "elsewhere.yml" in found.describe()


def test_a_stack_started_under_a_protected_profile_stays_protected(project: Project) -> None:
    running = from_labels(project, [labels(project, "prod")])
    guard = protection(Stack(project, project.profiles["dev"]), running)
    assert guard.protected
    assert guard.profile == "prod"
    assert "prod" in guard.reason
    assert not protection(
        Stack(project, project.profiles["dev"]), from_labels(project, [labels(project, "dev")])
    ).protected
    assert protection(Stack(project, project.profiles["prod"]), None).protected


def test_acting_across_profiles_is_refused(project: Project) -> None:
    running = from_labels(project, [labels(project, "prod")])
    with pytest.raises(UsageError) as err:
        check_same_profile(Stack(project, project.profiles["dev"]), running, "reset the database")
    assert "started with profile prod" in err.value.message
    assert "Nothing was changed" in err.value.message
    assert "--switch-profile" in (err.value.hint or "")
    check_same_profile(Stack(project, project.profiles["prod"]), running, "reset the database")
    check_same_profile(Stack(project, project.profiles["dev"]), None, "reset the database")


class FakeEngine:
    def __init__(self, containers: list[dict[str, Any]]) -> None:
        self.listed = containers

    def containers(self, **_kw: Any) -> list[dict[str, Any]]:
        return self.listed


def test_devenv_record_tells_apart_profiles_with_the_same_files(tmp_path: Path) -> None:
    (tmp_path / "compose.yml").write_text("services:\n  db:\n    image: postgres\n")
    (tmp_path / "devenv.toml").write_text(
        '[project]\nname = "same"\ncompose_files = ["compose.yml"]\n[profiles.guarded]\nprotected = true\n'
    )
    project = load_project(tmp_path, environ={})
    files = ",".join(str(f) for f in project.profiles["default"].compose_files)
    engine = FakeEngine([{"Id": "c1", "Labels": {CONFIG_FILES_LABEL: files}}])
    default = Stack(project, project.profiles["default"], api=engine)  # type: ignore[arg-type]
    guarded = Stack(project, project.profiles["guarded"], api=engine)  # type: ignore[arg-type]
    # Without a record both match, and the protected one wins.
    found = running_profile(default)
    assert found is not None and set(found.profiles) == {"default", "guarded"}
    assert protection(default, found).protected
    record_up(default)
    found = running_profile(guarded)
    assert found is not None and found.name == "default"
    assert not protection(default, found).protected
    record_up(guarded)
    found = running_profile(default)
    assert found is not None and found.name == "guarded"
    # A container the record does not know (created by someone else): no guess.
    engine.listed.append({"Id": "c2", "Labels": {CONFIG_FILES_LABEL: files}})
    found = running_profile(default)
    assert found is not None and found.name is None and protection(default, found).protected


def test_db_commands_refuse_a_stack_that_mixes_profiles(project: Project) -> None:
    running = from_labels(project, [labels(project, "dev"), labels(project, "prod")])
    with pytest.raises(UsageError, match="mixes containers started with profiles dev \\+ prod"):
        check_same_profile(Stack(project, project.profiles["dev"]), running, "take a snapshot")
