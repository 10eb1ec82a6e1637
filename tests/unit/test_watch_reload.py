"""Live config without Docker: which files are watched, and edits that make the config invalid are
reported with the file and the line before Compose or the engine is asked anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from devenv.config import load_project
from devenv.core.stack import Stack
from devenv.core.watch.reload import ConfigProblem, config_files, is_config_path, resolve


def _project(root: Path) -> Stack:
    (root / "profiles").mkdir()
    (root / "compose.yml").write_text("services:\n  api:\n    image: x\n")
    (root / "compose.dev.yml").write_text("services:\n  api:\n    environment:\n      A: '1'\n")
    (root / ".env.dev").write_text("A=1\n")
    (root / "devenv.toml").write_text(
        '[project]\nname = "p"\ncompose_files = ["compose.yml"]\nprofiles_dir = "profiles"\n'
    )
    (root / "profiles" / "dev.toml").write_text('compose_files = ["compose.dev.yml"]\nenv_files = [".env.dev"]\n')
    project = load_project(root)
    return Stack(project, project.profiles["dev"])


def test_the_files_whose_edits_are_applied(tmp_path: Path) -> None:
    stack = _project(tmp_path)
    files = config_files(stack)
    names = {str(f.relative_to(tmp_path)) for f in files}
    assert {"compose.yml", "compose.dev.yml", ".env.dev", ".env", "devenv.toml", "profiles/dev.toml"} <= names
    assert is_config_path(str(tmp_path / "compose.dev.yml"), files)
    assert is_config_path(str(tmp_path / "profiles" / "staging.toml"), files)  # a profile file added later
    assert not is_config_path(str(tmp_path / "src" / "main.py"), files)
    assert not is_config_path(str(tmp_path / "compose.prod.yml"), files)  # another profile's overlay


def test_broken_toml_is_reported_with_file_and_line(tmp_path: Path) -> None:
    stack = _project(tmp_path)
    (tmp_path / "profiles" / "dev.toml").write_text('compose_files = ["compose.dev.yml"\nenv_files = 3\n')
    with pytest.raises(ConfigProblem) as caught:
        resolve(stack, [str(tmp_path / "profiles" / "dev.toml")])
    assert caught.value.file.endswith("dev.toml") and caught.value.line is not None


def test_broken_yaml_is_reported_with_file_and_line(tmp_path: Path) -> None:
    stack = _project(tmp_path)
    (tmp_path / "compose.dev.yml").write_text("services:\n  api:\n    environment: [a\n")
    with pytest.raises(ConfigProblem) as caught:
        resolve(stack, [str(tmp_path / "compose.dev.yml")])
    assert caught.value.file == str(tmp_path / "compose.dev.yml")
    assert caught.value.line == 4 and "invalid YAML" in caught.value.message


def test_a_profile_that_disappears_is_reported(tmp_path: Path) -> None:
    stack = _project(tmp_path)
    (tmp_path / "profiles" / "dev.toml").rename(tmp_path / "profiles" / "other.toml")
    with pytest.raises(ConfigProblem, match="no longer defined"):
        resolve(stack, [])


def test_a_reload_keeps_the_open_connection_only_for_the_same_engine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Reading the files never connects (CI's fast lane has no engine); an engine change drops the old client.
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.delenv("DOCKER_CONTEXT", raising=False)
    monkeypatch.setattr(Stack, "config_json", lambda self: {"name": "p", "services": {"api": {"image": "x"}}})
    stack = _project(tmp_path)
    assert resolve(stack, [])[0]._api is None
    client = object()
    stack._api = client
    assert resolve(stack, [])[0]._api is client
    with (tmp_path / "profiles" / "dev.toml").open("a") as f:
        f.write('docker_host = "tcp://127.0.0.1:2375"\n')
    moved, _ = resolve(stack, [])
    assert moved._api is None and moved.endpoint.host == "tcp://127.0.0.1:2375"


def test_the_services_own_env_files_are_watched(tmp_path: Path) -> None:
    stack = _project(tmp_path)
    (tmp_path / "compose.yml").write_text(
        "services:\n"
        "  api:\n    image: x\n    env_file: conf/api.env\n"
        "  worker:\n    image: x\n    env_file:\n      - conf/worker.env\n"
        "      - path: ./conf/optional.env\n        required: false\n      - ${SECRETS_DIR}/s.env\n"
    )
    (tmp_path / "compose.dev.yml").write_text("services:\n  api:\n    env_file: [../shared/api.env]\n")
    files = config_files(stack)
    names = {str(f.relative_to(tmp_path.parent)) for f in files}
    root = tmp_path.name
    assert {f"{root}/conf/api.env", f"{root}/conf/worker.env", f"{root}/conf/optional.env", "shared/api.env"} <= names
    assert not any("$" in str(f) for f in files)  # a path with a variable is not guessed
    assert is_config_path(str(tmp_path / "conf" / "worker.env"), files)
    (tmp_path / "compose.dev.yml").write_text("services:\n  api:\n    environment: [a\n")
    assert is_config_path(str(tmp_path / "conf" / "api.env"), config_files(stack))  # a broken overlay: the rest
    # Compose's own YAML tags, and an include: (its relative paths are its own folder's)
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "cache.yml").write_text("services:\n  cache:\n    image: x\n    env_file: cache.env\n")
    (tmp_path / "compose.dev.yml").write_text(
        "include: [lib/cache.yml]\nservices:\n  api:\n    env_file: !override [conf/dev.env]\n"
    )
    files = config_files(stack)
    assert tmp_path / "lib" / "cache.env" in files and tmp_path / "conf" / "dev.env" in files, files
