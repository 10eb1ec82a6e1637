"""devenv.config: devenv.toml + profiles/*.toml + zero-config detection (no Docker)."""

from __future__ import annotations

import json
import math
import re
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devenv.config import (
    COMPOSE_FILE_NAMES,
    DatabaseConfig,
    MigrationsConfig,
    Probe,
    Profile,
    Project,
    Readiness,
    SeedConfig,
    find_project_root,
    load_project,
    normalize_project_name,
)
from devenv.errors import ConfigError, ExitCode, UnknownProfileError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def write(root: Path, rel: str, text: str = "") -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def load(start: Path, environ: dict[str, str] | None = None) -> Project:
    return load_project(start, environ={} if environ is None else environ)


def config_error(start: Path, environ: dict[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load(start, environ)
    return info.value


@pytest.fixture
def proj(tmp_path: Path) -> Path:
    """A project folder with a compose.yml and nothing else."""
    root = tmp_path / "proj"
    write(root, "compose.yml", "services:\n  api:\n    image: busybox\n")
    return root


FULL_TOML = """\
[project]
name = "TaskTracker"
compose_files = ["compose/compose.yml", "compose/compose.extra.yml"]
env_files = [".env"]
default_profile = "dev"
profiles_dir = "envs"

[readiness]
timeout = 90
settle = 2.5

[probes.worker]
cmd = ["python", "-m", "worker.ping"]
interval = 1
timeout = 3.5

[probes.api]
http = "http://localhost:8000/health"

[database]
service = "postgres"
engine = "postgres"
name = "tasks"
user = "app"
password = "secret"

[migrations]
service = "api"
tool = "alembic"
upgrade = "alembic upgrade head"
downgrade = "alembic downgrade -1"
status = "alembic current"
new = "alembic revision -m {message}"
run_on_up = true

[seed]
service = "api"
command = "python -m app.seed"

[profiles.ci]
description = "CI"
compose_files = ["compose/compose.ci.yml"]
"""

DEV_TOML = """\
description = "Local development: reload, debug ports, exposed DB"
compose_files = ["compose/compose.dev.yml", "compose/compose.debug.yml"]
env_files = [".env.development"]
protected = false

[readiness]
settle = 0.5

[probes.api]
tcp = 8000

[probes.cache]
cmd = "redis-cli ping"

[database]
name = "tasks_dev"

[migrations]
mode = "run"

[seed]
command = "python -m app.seed --small"
"""

PROD_TOML = """\
description = "Production-like"
compose_files = ["compose/compose.prod.yml"]
protected = true
"""


@pytest.fixture
def full(tmp_path: Path) -> Path:
    root = tmp_path / "tasktracker-repo"
    for rel in (
        "compose/compose.yml",
        "compose/compose.extra.yml",
        "compose/compose.dev.yml",
        "compose/compose.debug.yml",
        "compose/compose.prod.yml",
        "compose/compose.ci.yml",
        ".env",
        ".env.development",
    ):
        write(root, rel, "services: {}\n" if rel.endswith(".yml") else "A=1\n")
    write(root, "devenv.toml", FULL_TOML)
    write(root, "envs/dev.toml", DEV_TOML)
    write(root, "envs/prod.toml", PROD_TOML)
    return root


# --------------------------------------------------------------------------------------------
# the devenv.toml contract
# --------------------------------------------------------------------------------------------


def test_full_contract_project_fields(full: Path) -> None:
    project = load(full)
    assert project.root == full
    assert project.name == "tasktracker"
    assert project.config_file == full / "devenv.toml"
    assert project.default_profile == "dev"
    assert project.zero_config is False
    assert list(project.profiles) == ["default", "ci", "dev", "prod"]


def test_full_contract_dev_profile(full: Path) -> None:
    dev = load(full).profiles["dev"]
    assert dev.name == "dev"
    assert dev.description == "Local development: reload, debug ports, exposed DB"
    assert dev.compose_files == (
        full / "compose/compose.yml",
        full / "compose/compose.extra.yml",
        full / "compose/compose.dev.yml",
        full / "compose/compose.debug.yml",
    )
    assert all(p.is_absolute() for p in dev.compose_files + dev.env_files)
    assert dev.env_files == (full / ".env", full / ".env.development")
    assert dev.protected is False
    assert dev.source == full / "envs/dev.toml"
    # readiness: the profile overrides settle only
    assert dev.readiness == Readiness(timeout=90.0, settle=0.5)
    assert isinstance(dev.readiness.timeout, float)
    # probes: project-level merged with profile-level, the profile wins per service
    assert dict(dev.probes) == {
        "worker": Probe(service="worker", cmd=("python", "-m", "worker.ping"), interval=1.0, timeout=3.5),
        "api": Probe(service="api", tcp=8000),
        "cache": Probe(service="cache", cmd=("redis-cli", "ping")),
    }
    assert dev.probes["api"].http is None
    assert [p.kind for p in dev.probes.values()] == ["cmd", "tcp", "cmd"]
    assert dev.database == DatabaseConfig(
        service="postgres", engine="postgres", name="tasks_dev", user="app", password="secret"
    )
    assert dev.migrations == MigrationsConfig(
        service="api",
        mode="run",
        tool="alembic",
        upgrade="alembic upgrade head",
        downgrade="alembic downgrade -1",
        status="alembic current",
        new="alembic revision -m {message}",
        run_on_up=True,
    )
    assert dev.seed == SeedConfig(service="api", command="python -m app.seed --small")


def test_full_contract_other_profiles(full: Path) -> None:
    project = load(full)
    default = project.profiles["default"]
    assert default.description == "Base compose files only"
    assert default.compose_files == (full / "compose/compose.yml", full / "compose/compose.extra.yml")
    assert default.env_files == (full / ".env",)
    assert default.protected is False
    assert default.readiness == Readiness(timeout=90.0, settle=2.5)
    assert default.probes["api"] == Probe(service="api", http="http://localhost:8000/health")
    assert default.migrations.mode == "exec"
    assert default.seed.command == "python -m app.seed"
    assert default.source == full / "devenv.toml"

    prod = project.profiles["prod"]
    assert prod.protected is True
    assert prod.compose_files[-1] == full / "compose/compose.prod.yml"
    assert prod.env_files == (full / ".env",)
    assert prod.database.name == "tasks"  # inherited untouched

    ci = project.profiles["ci"]
    assert ci.description == "CI"
    assert ci.source == full / "devenv.toml"
    assert ci.compose_files[-1] == full / "compose/compose.ci.yml"


def test_profile_mappings_are_read_only(full: Path) -> None:
    project = load(full)
    with pytest.raises(TypeError):
        project.profiles["x"] = project.profiles["dev"]  # type: ignore[index]
    with pytest.raises(TypeError):
        project.profiles["dev"].probes["x"] = Probe(service="x", tcp=1)  # type: ignore[index]
    with pytest.raises(AttributeError):
        project.name = "other"  # type: ignore[misc]


def test_minimal_devenv_toml_defaults(proj: Path) -> None:
    write(proj, "devenv.toml", "")
    project = load(proj)
    assert project.name == "proj"
    assert project.default_profile is None
    assert list(project.profiles) == ["default"]
    default = project.profiles["default"]
    assert default.compose_files == (proj / "compose.yml",)
    assert default.env_files == ()
    assert default.readiness == Readiness()
    assert default.probes == {}
    assert default.database == DatabaseConfig()
    assert default.migrations == MigrationsConfig()
    assert default.seed == SeedConfig()
    # .env is not loaded implicitly when devenv.toml exists
    write(proj, ".env", "A=1\n")
    assert load(proj).profiles["default"].env_files == ()


def test_default_compose_file_follows_compose_preference(proj: Path) -> None:
    write(proj, "docker-compose.yml", "services: {}\n")
    write(proj, "compose.yaml", "services: {}\n")
    write(proj, "devenv.toml", "[project]\n")
    assert load(proj).profiles["default"].compose_files == (proj / "compose.yaml",)


def test_no_compose_file_and_no_compose_files_key(tmp_path: Path) -> None:
    write(tmp_path, "devenv.toml", '[project]\nname = "x"\n')
    err = config_error(tmp_path)
    assert err.key == "project.compose_files"
    assert err.path == str(tmp_path / "devenv.toml")
    assert "no compose file" in err.message and "compose.yaml" in err.message


def test_empty_compose_files_list_is_an_error(proj: Path) -> None:
    write(proj, "devenv.toml", "[project]\ncompose_files = []\n")
    err = config_error(proj)
    assert err.key == "project.compose_files"
    assert "at least one" in err.message


def test_inline_and_file_profiles_are_combined(proj: Path) -> None:
    write(proj, "compose.a.yml")
    write(proj, "compose.b.yml")
    write(proj, "devenv.toml", '[profiles.zeta]\ncompose_files = ["compose.a.yml"]\n[profiles.alpha]\n')
    write(proj, "profiles/mid.toml", 'compose_files = ["compose.b.yml"]\n')
    project = load(proj)
    assert list(project.profiles) == ["default", "alpha", "mid", "zeta"]
    assert project.profiles["zeta"].compose_files == (proj / "compose.yml", proj / "compose.a.yml")
    assert project.profiles["mid"].source == proj / "profiles/mid.toml"
    assert project.profiles["zeta"].source == proj / "devenv.toml"
    # a profile without a description describes its files
    assert project.profiles["mid"].description == "compose.yml + compose.b.yml"
    assert project.profiles["alpha"].compose_files == (proj / "compose.yml",)


def test_same_profile_inline_and_as_file_is_an_error(proj: Path) -> None:
    write(proj, "devenv.toml", '[profiles.dev]\ndescription = "inline"\n')
    write(proj, "profiles/dev.toml", 'description = "file"\n')
    err = config_error(proj)
    assert "devenv.toml [profiles.dev]" in err.message
    assert "profiles/dev.toml" in err.message
    assert '"dev"' in err.message and "defined twice" in err.message
    assert err.path == str(proj / "profiles/dev.toml")
    assert err.key == "profiles.dev"


def test_user_defined_default_profile_replaces_the_builtin_one(proj: Path) -> None:
    write(proj, "compose.dev.yml")
    write(proj, "devenv.toml", "")
    write(proj, "profiles/default.toml", 'description = "Mine"\ncompose_files = ["compose.dev.yml"]\n')
    default = load(proj).profiles["default"]
    assert default.description == "Mine"
    assert default.compose_files == (proj / "compose.yml", proj / "compose.dev.yml")
    assert default.source == proj / "profiles/default.toml"


def test_profile_paths_are_relative_to_the_project_root(proj: Path) -> None:
    write(proj, "overlays/compose.dev.yml")
    write(proj, "devenv.toml", '[project]\nprofiles_dir = "conf/profiles"\n')
    write(proj, "conf/profiles/dev.toml", 'compose_files = ["overlays/compose.dev.yml"]\n')
    dev = load(proj).profiles["dev"]
    assert dev.compose_files == (proj / "compose.yml", proj / "overlays/compose.dev.yml")


def test_explicit_profiles_dir_must_exist(proj: Path) -> None:
    write(proj, "devenv.toml", '[project]\nprofiles_dir = "nope"\n')
    err = config_error(proj)
    assert err.key == "project.profiles_dir"
    assert '"nope" does not exist' in err.message and str(proj / "nope") in err.message


def test_hidden_and_non_toml_files_in_profiles_dir_are_ignored(proj: Path) -> None:
    write(proj, "devenv.toml", "")
    write(proj, "profiles/.#dev.toml", "garbage [[[")
    write(proj, "profiles/README.md", "# profiles\n")
    write(proj, "profiles/dev.toml", "")
    assert list(load(proj).profiles) == ["default", "dev"]


def test_profile_order_is_insertion_default_first(proj: Path) -> None:
    write(proj, "devenv.toml", "")
    for name in ("b", "A", "a", "0x", "default-extra"):
        write(proj, f"profiles/{name}.toml", "")
    assert list(load(proj).profiles) == ["default", "0x", "A", "a", "b", "default-extra"]


# --------------------------------------------------------------------------------------------
# project name
# --------------------------------------------------------------------------------------------


def test_explicit_project_name_is_normalized(proj: Path) -> None:
    write(proj, "devenv.toml", '[project]\nname = "-My App.v2"\n')
    assert load(proj).name == "myappv2"


def test_explicit_project_name_without_usable_characters(proj: Path) -> None:
    write(proj, "devenv.toml", '[project]\nname = "!!!"\n')
    err = config_error(proj)
    assert err.key == "project.name"
    assert '"!!!"' in err.message and err.message.startswith("devenv.toml: ")


def test_project_name_from_the_last_base_compose_file_with_a_name(tmp_path: Path) -> None:
    root = tmp_path / "Repo"
    write(root, "a.yml", "name: first\nservices: {}\n")
    write(root, "b.yml", "name: Second_Name\n")
    write(root, "c.yml", "name: ${PROJECT:-x}\n")  # interpolated: skipped
    write(root, "d.yml", "services: {}\n")
    write(root, "devenv.toml", '[project]\ncompose_files = ["a.yml", "b.yml", "c.yml", "d.yml"]\n')
    assert load(root).name == "second_name"


def test_project_name_falls_back_to_the_folder(tmp_path: Path) -> None:
    root = tmp_path / "My.Repo"
    write(root, "compose.yml", "name: $NAME\n")
    write(root, "devenv.toml", "")
    assert load(root).name == "myrepo"


def test_compose_project_name_env_is_ignored_with_devenv_toml(proj: Path) -> None:
    write(proj, "devenv.toml", '[project]\nname = "fromtoml"\n')
    assert load(proj, {"COMPOSE_PROJECT_NAME": "fromenv"}).name == "fromtoml"


def test_profile_overlays_do_not_change_the_project_name(proj: Path) -> None:
    write(proj, "compose.dev.yml", "name: other\n")
    write(proj, "devenv.toml", "")
    write(proj, "profiles/dev.toml", 'compose_files = ["compose.dev.yml"]\n')
    assert load(proj).name == "proj"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("tasktracker", "tasktracker"),
        ("My_App", "my_app"),
        ("__x", "x"),
        ("-a.b", "ab"),
        ("Hello World 2", "helloworld2"),
        ("_-_9lives", "9lives"),
        ("café", "caf"),
    ],
)
def test_normalize_project_name(raw: str, expected: str) -> None:
    assert normalize_project_name(raw) == expected


@pytest.mark.parametrize("raw", ["", "___", "-_-", "!!!", "日本"])
def test_normalize_project_name_rejects_unusable_names(raw: str) -> None:
    with pytest.raises(ConfigError) as info:
        normalize_project_name(raw)
    assert "no usable characters" in info.value.message
    assert info.value.exit_code == ExitCode.USAGE


# --------------------------------------------------------------------------------------------
# resolve_profile
# --------------------------------------------------------------------------------------------


def _resolve_project(root: Path, *, default_profile: str | None, profiles: tuple[str, ...]) -> Project:
    toml = "" if default_profile is None else f'[project]\ndefault_profile = "{default_profile}"\n'
    write(root, "devenv.toml", toml)
    for name in profiles:
        write(root, f"profiles/{name}.toml", "")
    return load(root)


@pytest.mark.parametrize(
    ("requested", "env", "default_profile", "profiles", "expected"),
    [
        ("prod", {"DEVENV_PROFILE": "ci"}, "staging", ("dev", "prod", "ci", "staging"), "prod"),
        (None, {"DEVENV_PROFILE": "ci"}, "staging", ("dev", "prod", "ci", "staging"), "ci"),
        (None, {"DEVENV_PROFILE": ""}, "staging", ("dev", "prod", "ci", "staging"), "staging"),
        (None, {}, "staging", ("dev", "prod", "ci", "staging"), "staging"),
        (None, {}, None, ("dev", "prod"), "dev"),
        (None, {}, None, ("prod",), "default"),
        ("default", {"DEVENV_PROFILE": "dev"}, "dev", ("dev",), "default"),
    ],
)
def test_resolve_profile_precedence(
    proj: Path,
    requested: str | None,
    env: dict[str, str],
    default_profile: str | None,
    profiles: tuple[str, ...],
    expected: str,
) -> None:
    project = _resolve_project(proj, default_profile=default_profile, profiles=profiles)
    profile = project.resolve_profile(requested, environ=env)
    assert isinstance(profile, Profile)
    assert profile.name == expected


def test_resolve_profile_reads_os_environ_by_default(proj: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = _resolve_project(proj, default_profile=None, profiles=("dev", "ci"))
    monkeypatch.setenv("DEVENV_PROFILE", "ci")
    assert project.resolve_profile().name == "ci"


def test_unknown_profile_with_did_you_mean(proj: Path) -> None:
    project = _resolve_project(proj, default_profile=None, profiles=("dev", "prod"))
    with pytest.raises(UnknownProfileError) as info:
        project.resolve_profile("prdo", environ={})
    err = info.value
    assert isinstance(err, ConfigError)
    assert err.exit_code == ExitCode.USAGE
    assert 'unknown profile "prdo"' in err.message
    assert '(did you mean "prod"?)' in err.message
    assert "available: default, dev, prod" in err.message
    assert err.path == str(proj / "devenv.toml")


def test_unknown_profile_without_close_match(proj: Path) -> None:
    project = _resolve_project(proj, default_profile=None, profiles=("dev",))
    with pytest.raises(UnknownProfileError) as info:
        project.resolve_profile("zzzzzzzz", environ={})
    assert "did you mean" not in info.value.message
    assert "available: default, dev" in info.value.message


def test_unknown_profile_from_devenv_profile_names_the_variable(proj: Path) -> None:
    project = _resolve_project(proj, default_profile=None, profiles=("dev",))
    with pytest.raises(UnknownProfileError) as info:
        project.resolve_profile(None, environ={"DEVENV_PROFILE": "dve"})
    assert "DEVENV_PROFILE" in info.value.message
    assert '(did you mean "dev"?)' in info.value.message
    assert info.value.key == "DEVENV_PROFILE"


def test_default_profile_must_exist(proj: Path) -> None:
    write(proj, "devenv.toml", '[project]\ndefault_profile = "deve"\n')
    write(proj, "profiles/dev.toml", "")
    err = config_error(proj)
    assert err.key == "project.default_profile"
    assert '"deve"' in err.message and '(did you mean "dev"?)' in err.message
    assert "available: default, dev" in err.message


# --------------------------------------------------------------------------------------------
# zero-config
# --------------------------------------------------------------------------------------------


def test_zero_config_plain_compose_file(proj: Path) -> None:
    project = load(proj)
    assert project.zero_config is True
    assert project.config_file is None
    assert project.default_profile is None
    assert project.name == "proj"
    assert list(project.profiles) == ["default"]
    default = project.profiles["default"]
    assert default.description == "What plain `docker compose up` uses"
    assert default.compose_files == (proj / "compose.yml",)
    assert default.env_files == ()
    assert default.source is None
    assert default.protected is False
    assert default.readiness == Readiness()
    assert project.resolve_profile(environ={}).name == "default"


def test_zero_config_override_belongs_to_default_only(proj: Path) -> None:
    write(proj, "compose.override.yml")
    write(proj, "compose.dev.yml")
    write(proj, ".env")
    project = load(proj)
    assert list(project.profiles) == ["default", "dev"]
    assert project.profiles["default"].compose_files == (proj / "compose.yml", proj / "compose.override.yml")
    assert project.profiles["default"].env_files == (proj / ".env",)
    dev = project.profiles["dev"]
    assert dev.compose_files == (proj / "compose.yml", proj / "compose.dev.yml")
    assert dev.description == "compose.yml + compose.dev.yml"
    assert project.resolve_profile(environ={}).name == "dev"


def test_zero_config_env_files_with_long_forms(proj: Path) -> None:
    for name in ("dev", "prod", "stage", "test", "lonely"):
        write(proj, f"compose.{name}.yml")
    for env in (".env", ".env.dev", ".env.development", ".env.production", ".env.stage", ".env.staging"):
        write(proj, env, "A=1\n")
    write(proj, ".env.testing", "A=1\n")
    profiles = load(proj).profiles
    assert profiles["dev"].env_files == (proj / ".env", proj / ".env.dev", proj / ".env.development")
    assert profiles["prod"].env_files == (proj / ".env", proj / ".env.production")
    assert profiles["stage"].env_files == (proj / ".env", proj / ".env.stage")  # no long form
    assert profiles["test"].env_files == (proj / ".env",)  # .env.testing is not a long form
    assert profiles["lonely"].env_files == (proj / ".env",)


def test_zero_config_env_files_without_dot_env(proj: Path) -> None:
    write(proj, "compose.production.yml")
    write(proj, ".env.production")
    profiles = load(proj).profiles
    assert profiles["production"].env_files == (proj / ".env.production",)
    assert profiles["default"].env_files == ()


def test_zero_config_prod_and_production_are_protected(proj: Path) -> None:
    for name in ("prod", "production", "dev", "staging", "Prod"):
        write(proj, f"compose.{name}.yaml")
    profiles = load(proj).profiles
    assert {n: p.protected for n, p in profiles.items()} == {
        "default": False,
        "Prod": False,
        "dev": False,
        "prod": True,
        "production": True,
        "staging": False,
    }
    assert profiles["prod"].description == "compose.yml + compose.prod.yaml"


def test_zero_config_docker_compose_family(tmp_path: Path) -> None:
    root = tmp_path / "legacy"
    write(root, "docker-compose.yml")
    write(root, "docker-compose.override.yml")
    write(root, "docker-compose.dev.yml")
    write(root, "docker-compose.prod.yaml")
    profiles = load(root).profiles
    assert profiles["default"].compose_files == (
        root / "docker-compose.yml",
        root / "docker-compose.override.yml",
    )
    assert profiles["dev"].compose_files == (root / "docker-compose.yml", root / "docker-compose.dev.yml")
    assert profiles["prod"].compose_files == (root / "docker-compose.yml", root / "docker-compose.prod.yaml")
    assert profiles["dev"].description == "docker-compose.yml + docker-compose.dev.yml"


def test_zero_config_base_file_preference(tmp_path: Path) -> None:
    root = tmp_path / "p"
    for name in reversed(COMPOSE_FILE_NAMES):
        write(root, name)
    assert load(root).profiles["default"].compose_files == (root / "compose.yaml",)
    (root / "compose.yaml").unlink()
    assert load(root).profiles["default"].compose_files == (root / "compose.yml",)
    (root / "compose.yml").unlink()
    base = load(root).profiles["default"].compose_files[0]
    assert base.name == COMPOSE_FILE_NAMES[2]


def test_zero_config_overlay_choice_prefers_base_family_then_yaml(proj: Path) -> None:
    write(proj, "compose.dev.yml")
    write(proj, "compose.dev.yaml")
    write(proj, "docker-compose.dev.yaml")
    write(proj, "docker-compose.ci.yml")
    write(proj, "docker-compose.ci.yaml")
    profiles = load(proj).profiles
    assert profiles["dev"].compose_files[-1] == proj / "compose.dev.yaml"
    assert profiles["ci"].compose_files[-1] == proj / "docker-compose.ci.yaml"


def test_zero_config_override_of_the_compose_family_wins_in_default(proj: Path) -> None:
    write(proj, "compose.override.yaml")
    write(proj, "docker-compose.override.yml")
    assert load(proj).profiles["default"].compose_files == (proj / "compose.yml", proj / "compose.override.yaml")


def test_zero_config_override_follows_compose_own_order(tmp_path: Path) -> None:
    # Compose takes the first existing of compose.override.yml, compose.override.yaml,
    # docker-compose.override.yml, docker-compose.override.yaml, whatever the base file is.
    root = tmp_path / "p"
    write(root, "docker-compose.yml")
    write(root, "docker-compose.override.yml")
    write(root, "compose.override.yaml")
    assert load(root).profiles["default"].compose_files == (
        root / "docker-compose.yml",
        root / "compose.override.yaml",
    )
    write(root, "compose.override.yml")
    assert load(root).profiles["default"].compose_files[-1] == root / "compose.override.yml"


def test_zero_config_ignores_files_that_are_not_overlays(proj: Path) -> None:
    write(proj, "compose.override.yaml")
    write(proj, "docker-compose.override.yml")
    write(proj, "compose.my profile.yml")
    write(proj, "compose.dev.json")
    write(proj, "compose..yml")
    write(proj, "compose.default.yml")
    (proj / "compose.folder.yml").mkdir()
    assert list(load(proj).profiles) == ["default"]


def test_zero_config_name_from_compose_file(tmp_path: Path) -> None:
    root = tmp_path / "folder"
    write(root, "compose.yaml", "name: Shop_API\nservices: {}\n")
    assert load(root).name == "shop_api"


@pytest.mark.parametrize(
    "content",
    [
        "name: ${NAME}\n",
        "name: 42\n",
        "name: [a]\n",
        "name: '!!!'\n",
        "services: [unclosed\n  name: x\n",
        "- just\n- a list\n",
        "name: a\n---\nname: b\n",
        "\t\x00 not yaml name",
    ],
)
def test_zero_config_unusable_compose_name_falls_back_to_folder(tmp_path: Path, content: str) -> None:
    root = tmp_path / "Fallback-Folder"
    write(root, "compose.yml", content)
    assert load(root).name == "fallback-folder"


def test_zero_config_non_utf8_compose_file_falls_back_to_folder(tmp_path: Path) -> None:
    root = tmp_path / "bin"
    root.mkdir()
    (root / "compose.yml").write_bytes(b"name: \xff\xfe\n")
    assert load(root).name == "bin"


def test_zero_config_compose_project_name(proj: Path) -> None:
    write(proj, "compose.yml", "name: fromfile\n")
    assert load(proj, {"COMPOSE_PROJECT_NAME": "From_Env"}).name == "from_env"
    assert load(proj, {"COMPOSE_PROJECT_NAME": ""}).name == "fromfile"


def test_zero_config_compose_project_name_in_dot_env(proj: Path) -> None:
    write(proj, ".env", "# comment\nexport COMPOSE_PROJECT_NAME='dotenv_name'  \nOTHER=1\n")
    assert load(proj).name == "dotenv_name"
    assert load(proj, {"COMPOSE_PROJECT_NAME": "envwins"}).name == "envwins"
    write(proj, ".env", "COMPOSE_PROJECT_NAME=plain # trailing comment\n")
    assert load(proj).name == "plain"
    write(proj, ".env", "COMPOSE_PROJECT_NAME=${X}\n")
    assert load(proj).name == "proj"


def test_zero_config_unusable_compose_project_name(proj: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load(proj, {"COMPOSE_PROJECT_NAME": "***"})
    assert info.value.key == "COMPOSE_PROJECT_NAME"
    assert '"***"' in info.value.message


def test_zero_config_settings_are_defaults(proj: Path) -> None:
    write(proj, "compose.dev.yml")
    dev = load(proj).profiles["dev"]
    assert dev.probes == {}
    assert dev.readiness == Readiness()
    assert dev.database == DatabaseConfig()
    assert dev.migrations == MigrationsConfig()
    assert dev.seed == SeedConfig()
    assert dev.source is None


# --------------------------------------------------------------------------------------------
# discovery
# --------------------------------------------------------------------------------------------


def test_discovery_from_a_nested_subfolder(proj: Path) -> None:
    nested = proj / "src" / "app" / "deep"
    nested.mkdir(parents=True)
    assert find_project_root(nested) == proj
    assert load(nested).root == proj
    write(proj, "devenv.toml", "")
    assert load(nested).config_file == proj / "devenv.toml"


def test_discovery_prefers_devenv_toml_over_a_nearer_compose_file(tmp_path: Path) -> None:
    write(tmp_path, "devenv.toml", '[project]\ncompose_files = ["services/compose.yml"]\n')
    write(tmp_path, "services/compose.yml")
    start = tmp_path / "services" / "sub"
    start.mkdir()
    assert find_project_root(start) == tmp_path
    project = load(start)
    assert project.root == tmp_path
    assert project.zero_config is False
    assert project.profiles["default"].compose_files == (tmp_path / "services/compose.yml",)


def test_discovery_nearest_compose_folder_wins(tmp_path: Path) -> None:
    write(tmp_path, "compose.yml")
    inner = tmp_path / "inner"
    write(inner, "docker-compose.yml")
    assert find_project_root(inner / "x") == inner
    assert load(inner).root == inner


def test_discovery_from_a_file_path(proj: Path) -> None:
    assert find_project_root(proj / "compose.yml") == proj


def test_discovery_finds_nothing(tmp_path: Path) -> None:
    for folder in (tmp_path, *tmp_path.parents):
        if (folder / "devenv.toml").exists() or any((folder / n).exists() for n in COMPOSE_FILE_NAMES):
            pytest.skip(f"{folder} holds a compose file or devenv.toml")
    start = tmp_path / "empty"
    start.mkdir()
    with pytest.raises(ConfigError) as info:
        find_project_root(start)
    err = info.value
    assert err.message.startswith("no devenv.toml or compose file (compose.yaml, compose.yml, docker-compose.")
    assert f"in {start} or any parent folder" in err.message
    assert err.hint is not None and "Compose project" in err.hint
    assert err.path == str(start)
    with pytest.raises(ConfigError):
        load(start)


# --------------------------------------------------------------------------------------------
# errors: TOML syntax and encoding
# --------------------------------------------------------------------------------------------


def test_broken_toml_shows_line_number_and_text(proj: Path) -> None:
    write(proj, "devenv.toml", '[project]\nname = "x"\ncompose_files ["compose.yml"]\n')
    err = config_error(proj)
    assert err.line == 3
    assert err.path == str(proj / "devenv.toml")
    first, second = err.message.split("\n")
    assert first.startswith("devenv.toml:3: Expected '=' after a key")
    assert "column" in first
    assert second == '    3 | compose_files ["compose.yml"]'


def test_broken_toml_in_a_profile_file(proj: Path) -> None:
    write(proj, "devenv.toml", "")
    write(proj, "profiles/dev.toml", 'description = "ok"\nprotected = yes\n')
    err = config_error(proj)
    assert err.line == 2
    assert err.path == str(proj / "profiles/dev.toml")
    assert err.message.startswith("profiles/dev.toml:2: ")
    assert err.message.endswith("    2 | protected = yes")


def test_broken_toml_at_end_of_document(proj: Path) -> None:
    write(proj, "devenv.toml", "[project]\nname = [\n")
    err = config_error(proj)
    assert err.line == 2
    assert err.message.startswith("devenv.toml:2: ")
    assert "    2 | name = [" in err.message


def test_broken_toml_control_characters_are_escaped_in_the_quote(proj: Path) -> None:
    write(proj, "devenv.toml", 'x = "a\x01b"\n')
    err = config_error(proj)
    assert err.line == 1
    assert "\x01" not in err.message
    assert "\\u0001" in err.message


def test_duplicate_keys_are_a_toml_error(proj: Path) -> None:
    write(proj, "devenv.toml", "[project]\n[project]\n")
    err = config_error(proj)
    assert err.line == 2 and "devenv.toml:2:" in err.message


def test_non_utf8_devenv_toml(proj: Path) -> None:
    (proj / "devenv.toml").write_bytes(b'[project]\nname = "caf\xe9"\n')
    err = config_error(proj)
    assert err.line == 2
    assert err.path == str(proj / "devenv.toml")
    assert "UTF-8" in err.message and "0xe9" in err.message
    assert not isinstance(err.__cause__, UnicodeDecodeError)


def test_utf8_bom_is_accepted(proj: Path) -> None:
    (proj / "devenv.toml").write_bytes('\ufeff[project]\nname = "bom"\n'.encode())
    assert load(proj).name == "bom"


def test_folder_named_like_a_profile_file_is_ignored(proj: Path) -> None:
    write(proj, "profiles/dev.toml/inner", "")  # a folder named dev.toml is not a profile file
    write(proj, "devenv.toml", "")
    assert list(load(proj).profiles) == ["default"]


# --------------------------------------------------------------------------------------------
# errors: unknown keys
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "content", "file", "key", "suggestion", "allowed"),
    [
        (
            "devenv.toml",
            '[project]\ncompose_file = ["compose.yml"]\n',
            "devenv.toml",
            "project.compose_file",
            "compose_files",
            "name, compose_files, env_files, default_profile, profiles_dir",
        ),
        (
            "devenv.toml",
            "[projects]\n",
            "devenv.toml",
            "projects",
            "project",
            "project, readiness, probes, database, migrations, seed, profiles",
        ),
        ("devenv.toml", "[readiness]\ntimout = 3\n", "devenv.toml", "readiness.timout", "timeout", "timeout, settle"),
        (
            "devenv.toml",
            "[probes.worker]\ntcp = 1\nintreval = 2\n",
            "devenv.toml",
            "probes.worker.intreval",
            "interval",
            "tcp, http, cmd, interval, timeout",
        ),
        (
            "devenv.toml",
            '[database]\nengnie = "postgres"\n',
            "devenv.toml",
            "database.engnie",
            "engine",
            "service, engine, name, user, password",
        ),
        (
            "devenv.toml",
            "[migrations]\nrun_on_upp = true\n",
            "devenv.toml",
            "migrations.run_on_upp",
            "run_on_up",
            "service, mode, tool, upgrade, downgrade, status, new, run_on_up",
        ),
        ("devenv.toml", '[seed]\ncommands = "x"\n', "devenv.toml", "seed.commands", "command", "service, command"),
        (
            "devenv.toml",
            "[profiles.dev]\nprotect = true\n",
            "devenv.toml",
            "profiles.dev.protect",
            "protected",
            "description, compose_files, env_files, protected, readiness",
        ),
        (
            "profiles/dev.toml",
            'descripton = "x"\n',
            "profiles/dev.toml",
            "descripton",
            "description",
            "description, compose_files, env_files, protected, readiness, probes, database, migrations, seed",
        ),
        (
            "profiles/dev.toml",
            "[readiness]\nsetle = 1\n",
            "profiles/dev.toml",
            "readiness.setle",
            "settle",
            "timeout, settle",
        ),
        (
            "profiles/dev.toml",
            '[probes.api]\nhttp = "http://x"\nurl = "y"\n',
            "profiles/dev.toml",
            "probes.api.url",
            None,
            "tcp, http, cmd, interval, timeout",
        ),
    ],
)
def test_unknown_keys(
    proj: Path, where: str, content: str, file: str, key: str, suggestion: str | None, allowed: str
) -> None:
    if where != "devenv.toml":
        write(proj, "devenv.toml", "")
    write(proj, where, content)
    err = config_error(proj)
    assert err.path == str(proj / file)
    assert err.key == key
    assert err.message.startswith(f'{file}: unknown key "{key}"')
    if suggestion is None:
        assert "did you mean" not in err.message
    else:
        assert f'(did you mean "{suggestion}"?)' in err.message
    assert f"allowed: {allowed}" in err.message
    assert "\n" not in err.message


def test_unknown_key_with_special_characters_is_quoted(proj: Path) -> None:
    write(proj, "devenv.toml", '[profiles."a.b"]\n"weird key" = 1\n')
    err = config_error(proj)
    assert err.key == 'profiles."a.b"."weird key"'


# --------------------------------------------------------------------------------------------
# errors: wrong types and values
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("devenv_toml", "profile_toml", "key", "fragment"),
    [
        ("", 'protected = "yes"\n', "protected", 'protected must be a boolean (true or false), got string "yes"'),
        ("", "protected = 1\n", "protected", "got integer 1"),
        ("", "description = 3\n", "description", "description must be a string, got integer 3"),
        (
            "",
            'compose_files = "compose.yml"\n',
            "compose_files",
            'must be an array of strings, got string "compose.yml"',
        ),
        ("", "env_files = [1]\n", "env_files", "must be an array of strings, but item 1 is integer 1"),
        ("", "[readiness]\ntimeout = true\n", "readiness.timeout", "must be a number of seconds, got boolean true"),
        ("", "[readiness]\ntimeout = 0\n", "readiness.timeout", "must be a number greater than 0, got integer 0"),
        ("", "[readiness]\nsettle = -1.5\n", "readiness.settle", "got float -1.5"),
        ("", "[readiness]\nsettle = inf\n", "readiness.settle", "greater than 0, got float inf"),
        ("", "[readiness]\nsettle = nan\n", "readiness.settle", "got float nan"),
        ("", 'readiness = "fast"\n', "readiness", 'readiness must be a table, got string "fast"'),
        ("", "probes = [1]\n", "probes", "probes must be a table, got an array"),
        ("", "probes.api = 5\n", "probes.api", "probes.api must be a table, got integer 5"),
        ("", '[migrations]\nrun_on_up = "yes"\n', "migrations.run_on_up", 'got string "yes"'),
        ("", '[database]\nengine = "postgresql"\n', "database.engine", '(did you mean "postgres"?)'),
        ("", "[database]\nengine = 5\n", "database.engine", "database.engine must be a string, got integer 5"),
        ("", '[database]\nservice = ""\n', "database.service", "database.service must not be empty"),
        ("", '[migrations]\nmode = "exe"\n', "migrations.mode", 'must be one of exec, run, got "exe"'),
        ("", '[migrations]\ntool = "flyway"\n', "migrations.tool", "must be one of alembic, django, custom"),
        ("", "[seed]\ncommand = 1979-05-27\n", "seed.command", "seed.command must be a string, got date 1979-05-27"),
    ],
)
def test_wrong_types_in_profile_file(proj: Path, devenv_toml: str, profile_toml: str, key: str, fragment: str) -> None:
    write(proj, "devenv.toml", devenv_toml)
    write(proj, "profiles/dev.toml", profile_toml)
    err = config_error(proj)
    assert err.path == str(proj / "profiles/dev.toml")
    assert err.key == key
    assert err.message.startswith("profiles/dev.toml: ")
    assert fragment in err.message


@pytest.mark.parametrize(
    ("devenv_toml", "key", "fragment"),
    [
        ("project = 3\n", "project", "project must be a table, got integer 3"),
        ("[project]\nname = 7\n", "project.name", "project.name must be a string, got integer 7"),
        ("[project]\ndefault_profile = true\n", "project.default_profile", "got boolean true"),
        ('[project]\nprofiles_dir = ""\n', "project.profiles_dir", "must not be empty"),
        ("[project]\nenv_files = {}\n", "project.env_files", "must be an array of strings, got a table"),
        ("profiles = 1\n", "profiles", "profiles must be a table, got integer 1"),
        ('profiles.dev = "x"\n', "profiles.dev", 'profiles.dev must be a table, got string "x"'),
        (
            "[profiles.dev]\nprotected = 0\n",
            "profiles.dev.protected",
            "must be a boolean (true or false), got integer 0",
        ),
        ("[readiness]\ntimeout = false\n", "readiness.timeout", "got boolean false"),
        ('[readiness]\ntimeout = "90"\n', "readiness.timeout", 'got string "90"'),
    ],
)
def test_wrong_types_in_devenv_toml(proj: Path, devenv_toml: str, key: str, fragment: str) -> None:
    write(proj, "devenv.toml", devenv_toml)
    err = config_error(proj)
    assert err.path == str(proj / "devenv.toml")
    assert err.key == key
    assert err.message.startswith("devenv.toml: ")
    assert fragment in err.message
    assert "\n" not in err.message


def test_integer_seconds_are_accepted_as_floats(proj: Path) -> None:
    write(proj, "devenv.toml", "[readiness]\ntimeout = 30\nsettle = 1\n")
    readiness = load(proj).profiles["default"].readiness
    assert readiness == Readiness(timeout=30.0, settle=1.0)
    assert isinstance(readiness.settle, float)


# --------------------------------------------------------------------------------------------
# errors: probes
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("probe", "key", "fragment"),
    [
        ("interval = 1\n", "probes.db", "probes.db must set exactly one of tcp, http or cmd (got none)"),
        ('tcp = 5432\nhttp = "http://x"\n', "probes.db", "(got tcp and http)"),
        ('tcp = 1\nhttp = "http://x"\ncmd = "x"\n', "probes.db", "(got tcp and http and cmd)"),
        ("tcp = 0\n", "probes.db.tcp", "must be a port number (1-65535), got integer 0"),
        ("tcp = 65536\n", "probes.db.tcp", "got integer 65536"),
        ("tcp = true\n", "probes.db.tcp", "got boolean true"),
        ('tcp = "5432"\n', "probes.db.tcp", 'got string "5432"'),
        ("tcp = 5432.0\n", "probes.db.tcp", "got float 5432.0"),
        ('http = "localhost:8000"\n', "probes.db.http", 'must be an http:// or https:// URL, got "localhost:8000"'),
        ('http = "ftp://x"\n', "probes.db.http", "http:// or https://"),
        ('http = "http://"\n', "probes.db.http", "http:// or https://"),
        ("http = 80\n", "probes.db.http", "must be a string, got integer 80"),
        ("cmd = []\n", "probes.db.cmd", "must name a command to run"),
        ('cmd = ""\n', "probes.db.cmd", "must name a command to run"),
        ('cmd = ["pg_isready", 1]\n', "probes.db.cmd", "must be an array of strings (or a string), got an array"),
        ("cmd = 3\n", "probes.db.cmd", "got integer 3"),
        ('cmd = "sh -c \'unclosed"\n', "probes.db.cmd", "cannot split"),
        ('cmd = "x"\ninterval = 0\n', "probes.db.interval", "must be a number greater than 0"),
        ('cmd = "x"\ntimeout = false\n', "probes.db.timeout", "got boolean false"),
        ('cmd = "x"\ntimeout = "2s"\n', "probes.db.timeout", 'got string "2s"'),
        ('cmd = "x"\n[probes.""]\ntcp = 1\n', 'probes.""', "the service name must not be empty"),
    ],
)
def test_bad_probe_definitions(proj: Path, probe: str, key: str, fragment: str) -> None:
    write(proj, "devenv.toml", "[probes.db]\n" + probe)
    err = config_error(proj)
    assert err.key == key
    assert err.path == str(proj / "devenv.toml")
    assert err.message.startswith("devenv.toml: ")
    assert fragment in err.message


def test_good_probe_definitions(proj: Path) -> None:
    write(
        proj,
        "devenv.toml",
        "[probes.a]\ntcp = 65535\n"
        '[probes.b]\nhttp = "HTTPS://example.test/ready?x=1"\ninterval = 0.1\ntimeout = 10\n'
        "[probes.c]\ncmd = \"sh -c 'pg_isready -U app'\"\n"
        '[probes.d]\ncmd = ["pg_isready", "-U", "app"]\n',
    )
    probes = load(proj).profiles["default"].probes
    assert probes["a"] == Probe(service="a", tcp=65535)
    assert probes["b"] == Probe(service="b", http="HTTPS://example.test/ready?x=1", interval=0.1, timeout=10.0)
    assert probes["c"].cmd == ("sh", "-c", "pg_isready -U app")
    assert probes["d"].cmd == ("pg_isready", "-U", "app")
    assert (probes["c"].interval, probes["c"].timeout) == (0.5, 2.0)
    assert [p.kind for p in probes.values()] == ["tcp", "http", "cmd", "cmd"]


# --------------------------------------------------------------------------------------------
# errors: missing files and bad names
# --------------------------------------------------------------------------------------------


def test_missing_overlay_in_profile_file(proj: Path) -> None:
    write(proj, "devenv.toml", "")
    write(proj, "profiles/dev.toml", 'compose_files = ["compose.dev.yml"]\n')
    err = config_error(proj)
    assert err.message == (
        f'profiles/dev.toml: compose_files: "compose.dev.yml" does not exist (looked for {proj / "compose.dev.yml"})'
    )
    assert err.path == str(proj / "profiles/dev.toml")
    assert err.key == "compose_files"


@pytest.mark.parametrize(
    ("devenv_toml", "profile_toml", "file", "key", "missing"),
    [
        (
            '[project]\ncompose_files = ["compose.yml", "nope.yml"]\n',
            None,
            "devenv.toml",
            "project.compose_files",
            "nope.yml",
        ),
        ('[project]\nenv_files = [".env"]\n', None, "devenv.toml", "project.env_files", ".env"),
        ("", 'env_files = [".env.dev"]\n', "profiles/dev.toml", "env_files", ".env.dev"),
        (
            '[profiles.ci]\ncompose_files = ["../outside/compose.ci.yml"]\n',
            None,
            "devenv.toml",
            "profiles.ci.compose_files",
            "../outside/compose.ci.yml",
        ),
        (
            '[profiles.ci]\nenv_files = ["nul\\u0000byte"]\n',
            None,
            "devenv.toml",
            "profiles.ci.env_files",
            "nul\\u0000byte",
        ),
        ('[profiles.ci]\nenv_files = ["' + "x" * 5000 + '"]\n', None, "devenv.toml", "profiles.ci.env_files", "xxxx"),
    ],
)
def test_missing_referenced_files(
    proj: Path, devenv_toml: str, profile_toml: str | None, file: str, key: str, missing: str
) -> None:
    write(proj, "devenv.toml", devenv_toml)
    if profile_toml is not None:
        write(proj, "profiles/dev.toml", profile_toml)
    err = config_error(proj)
    assert err.path == str(proj / file)
    assert err.key == key
    assert err.message.startswith(f'{file}: {key}: "{missing}')
    assert "does not exist (looked for " in err.message


def test_referenced_folder_is_not_a_file(proj: Path) -> None:
    (proj / "overlays").mkdir()
    write(proj, "devenv.toml", '[project]\nenv_files = ["overlays"]\n')
    err = config_error(proj)
    assert err.key == "project.env_files"
    assert '"overlays" is not a file' in err.message


@pytest.mark.parametrize("name", ["-dev", "dev stage", "_x", ".x", "dév", ""])
def test_bad_inline_profile_names(proj: Path, name: str) -> None:
    write(proj, "devenv.toml", f"[profiles.{json.dumps(name)}]\n")
    err = config_error(proj)
    assert "is not valid" in err.message
    assert f"profile name {json.dumps(name, ensure_ascii=False)}" in err.message
    assert err.key is not None and err.key.startswith("profiles.")
    assert err.path == str(proj / "devenv.toml")


@pytest.mark.parametrize("file_name", ["-dev.toml", "dev stage.toml", "_x.toml", "dév.toml"])
def test_bad_profile_file_names(proj: Path, file_name: str) -> None:
    write(proj, "devenv.toml", "")
    write(proj, f"profiles/{file_name}", "")
    err = config_error(proj)
    assert "is not valid" in err.message and "the file name without .toml" in err.message
    assert err.path == str(proj / "profiles" / file_name)


@pytest.mark.parametrize("name", ["dev", "Dev2", "0", "staging.eu-west_1"])
def test_good_profile_names(proj: Path, name: str) -> None:
    write(proj, "devenv.toml", f"[profiles.{json.dumps(name)}]\n")
    assert name in load(proj).profiles


def test_every_config_error_is_exit_code_2(proj: Path) -> None:
    write(proj, "devenv.toml", "[project]\nnope = 1\n")
    assert config_error(proj).exit_code == ExitCode.USAGE
    assert int(ExitCode.USAGE) == 2


# --------------------------------------------------------------------------------------------
# hostile input (hypothesis)
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fuzz_root() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "fuzz"
        for rel in ("compose.yml", "compose.dev.yml", ".env", ".env.dev"):
            write(root, rel, "services: {}\n" if rel.endswith(".yml") else "A=1\n")
        write(root, "profiles/dev.toml", 'compose_files = ["compose.dev.yml"]\n')
        yield root


def _load_or_config_error(root: Path) -> None:
    try:
        project = load_project(root, environ={})
    except ConfigError as exc:
        assert isinstance(exc.message, str) and exc.message
        assert exc.path is None or isinstance(exc.path, str)
        return
    assert project.root == root
    assert "default" in project.profiles
    assert re.fullmatch(r"[a-z0-9][a-z0-9_-]*", project.name)
    for profile in project.profiles.values():
        assert all(p.is_absolute() for p in profile.compose_files)


FUZZ_SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ_SETTINGS
@given(st.text(max_size=300))
def test_fuzz_arbitrary_text_as_devenv_toml(fuzz_root: Path, text: str) -> None:
    (fuzz_root / "devenv.toml").write_text(text, encoding="utf-8")
    _load_or_config_error(fuzz_root)


@FUZZ_SETTINGS
@given(st.binary(max_size=300))
def test_fuzz_arbitrary_bytes_as_devenv_toml(fuzz_root: Path, data: bytes) -> None:
    (fuzz_root / "devenv.toml").write_bytes(data)
    _load_or_config_error(fuzz_root)


# Keys and strings that mean something to devenv, so generated documents get past the first check.
KNOWN_KEYS = [
    "project", "name", "compose_files", "env_files", "default_profile", "profiles_dir", "readiness",
    "timeout", "settle", "probes", "tcp", "http", "cmd", "interval", "database", "service", "engine",
    "user", "password", "migrations", "mode", "tool", "upgrade", "downgrade", "status", "new",
    "run_on_up", "seed", "command", "profiles", "dev", "default", "description", "protected",
]  # fmt: skip
KNOWN_STRINGS = [
    "compose.yml", "compose.dev.yml", ".env", ".env.dev", "profiles", "dev", "default", "postgres",
    "exec", "run", "alembic", "http://localhost:1/", "pg_isready", "", "$X", "../x", "\x00",
]  # fmt: skip

toml_keys = st.one_of(st.sampled_from(KNOWN_KEYS), st.text(max_size=8))
toml_scalars = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False),
    st.sampled_from(KNOWN_STRINGS),
    st.text(max_size=12),
)
toml_values = st.recursive(
    toml_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(toml_keys, children, max_size=5),
    ),
    max_leaves=12,
)
toml_documents = st.dictionaries(toml_keys, toml_values, max_size=6)


def _toml_string(text: str) -> str:
    # JSON string escapes are valid TOML basic-string escapes; TOML also wants DEL escaped.
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    assert isinstance(value, dict)
    return "{" + ", ".join(f"{_toml_string(k)} = {_toml_value(v)}" for k, v in value.items()) + "}"


def to_toml(document: dict[str, Any]) -> str:
    """A tiny TOML writer: top-level tables as [headers], everything else inline."""
    lines = [f"{_toml_string(k)} = {_toml_value(v)}" for k, v in document.items() if not isinstance(v, dict)]
    for key, value in document.items():
        if isinstance(value, dict):
            lines.append(f"[{_toml_string(key)}]")
            lines.extend(f"{_toml_string(k)} = {_toml_value(v)}" for k, v in value.items())
    return "\n".join(lines) + "\n"


@FUZZ_SETTINGS
@given(toml_documents)
def test_fuzz_toml_documents(fuzz_root: Path, document: dict[str, Any]) -> None:
    text = to_toml(document)
    assert tomllib.loads(text) == document  # the writer itself is right
    (fuzz_root / "devenv.toml").write_text(text, encoding="utf-8")
    _load_or_config_error(fuzz_root)


# Documents shaped like the real schema, with values that are often right and sometimes not, so
# that the checks deep inside (files, probes, merges, default_profile) are reached too.
plausible = st.one_of(
    st.sampled_from(KNOWN_STRINGS),
    st.lists(st.sampled_from(["compose.yml", "compose.dev.yml", ".env", ".env.dev", "nope.yml"]), max_size=2),
    st.booleans(),
    st.integers(min_value=-5, max_value=70000),
    st.floats(min_value=-1, max_value=1000),
    toml_scalars,
)


def section(*keys: str) -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(st.sampled_from(keys), plausible, max_size=len(keys))


probe_tables = st.dictionaries(
    st.sampled_from(["api", "db", ""]), section("tcp", "http", "cmd", "interval", "timeout"), max_size=2
)
shared_sections = {
    "readiness": section("timeout", "settle"),
    "probes": probe_tables,
    "database": section("service", "engine", "name", "user", "password"),
    "migrations": section("service", "mode", "tool", "upgrade", "downgrade", "status", "new", "run_on_up"),
    "seed": section("service", "command"),
}
profile_documents = st.fixed_dictionaries(
    {},
    optional={
        "description": plausible,
        "compose_files": plausible,
        "env_files": plausible,
        "protected": plausible,
        **shared_sections,
    },
)
schema_documents = st.fixed_dictionaries(
    {},
    optional={
        "project": section("name", "compose_files", "env_files", "default_profile", "profiles_dir"),
        "profiles": st.dictionaries(
            st.sampled_from(["dev", "ci", "default", "bad name"]), profile_documents, max_size=2
        ),
        **shared_sections,
    },
)


@FUZZ_SETTINGS
@given(schema_documents)
def test_fuzz_schema_shaped_devenv_toml(fuzz_root: Path, document: dict[str, Any]) -> None:
    text = to_toml(document)
    assert tomllib.loads(text) == document
    (fuzz_root / "devenv.toml").write_text(text, encoding="utf-8")
    _load_or_config_error(fuzz_root)


@FUZZ_SETTINGS
@given(profile_documents)
def test_fuzz_schema_shaped_profile_file(fuzz_root: Path, profile: dict[str, Any]) -> None:
    (fuzz_root / "devenv.toml").write_text("", encoding="utf-8")
    (fuzz_root / "profiles" / "dev.toml").write_text(to_toml(profile), encoding="utf-8")
    try:
        _load_or_config_error(fuzz_root)
    finally:
        (fuzz_root / "profiles" / "dev.toml").write_text('compose_files = ["compose.dev.yml"]\n', encoding="utf-8")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_fuzz_normalize_project_name(name: str) -> None:
    try:
        normalized = normalize_project_name(name)
    except ConfigError as exc:
        assert "no usable characters" in exc.message
        return
    assert re.fullmatch(r"[a-z0-9][a-z0-9_-]*", normalized)
    assert normalize_project_name(normalized) == normalized


def test_fast_checks_default_on_and_opt_out_per_profile_and_service(proj: Path) -> None:
    write(
        proj,
        "devenv.toml",
        "[readiness]\nfast_checks = true\n[readiness.services.db]\nfast_checks = false\n"
        "[readiness.services.cache]\nfast_checks = false\n",
    )
    ci_toml = "[readiness]\nfast_checks = false\n[readiness.services.cache]\nfast_checks = true\n"
    write(proj, "profiles/ci.toml", ci_toml)
    profiles = load(proj).profiles
    default, ci = profiles["default"].readiness, profiles["ci"].readiness
    assert Readiness().fast_checks is True
    assert (default.fast_checks_for("api"), default.fast_checks_for("db"), default.fast_checks_for("cache")) == (
        True,
        False,
        False,
    )
    # The profile turns them off, keeps the project's db opt-out and turns cache back on.
    assert (ci.fast_checks_for("api"), ci.fast_checks_for("db"), ci.fast_checks_for("cache")) == (False, False, True)


@pytest.mark.parametrize(
    ("text", "key", "fragment"),
    [
        ("[readiness]\nfast_checks = 1\n", "readiness.fast_checks", "a boolean"),
        ("[readiness.services.db]\nfast_check = false\n", "readiness.services.db.fast_check", "did you mean"),
    ],
)
def test_fast_checks_errors(proj: Path, text: str, key: str, fragment: str) -> None:
    write(proj, "devenv.toml", text)
    err = config_error(proj)
    assert err.key == key
    assert fragment in err.message.lower()
