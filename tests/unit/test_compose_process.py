"""ComposeProcess: the `docker compose` commands `up` starts at once, with a stand-in `docker` CLI."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from devenv.core.compose.runner import ComposeProcess
from devenv.core.events import ComposeOutput
from devenv.core.stack import Stack
from devenv.errors import ComposeCommandError, ComposeFileError, ComposeMissingError, DockerUnavailableError


def fake_stack() -> Any:
    stack = Stack.__new__(Stack)
    stack.profile = cast(Any, SimpleNamespace(name="dev", compose_files=[Path("/p/compose.yml")], env_files=[]))
    stack.project = cast(Any, SimpleNamespace(root=Path("/p"), name="demo"))
    return stack


@pytest.fixture()
def docker_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Install a `docker` script on PATH whose body the test chooses; it records its argv."""

    def install(body: str) -> Path:
        script = tmp_path / "docker"
        script.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > "{tmp_path}/argv"\n{body}\n')
        script.chmod(script.stat().st_mode | stat.S_IEXEC)
        monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
        return tmp_path / "argv"

    return install


def test_config_json_and_the_plain_command_line(docker_cli) -> None:
    argv_file = docker_cli('echo \'{"name": "demo", "services": {"web": {}}}\'')
    data = fake_stack().config_json()
    assert data == {"name": "demo", "services": {"web": {}}}
    argv = argv_file.read_text().split("\n")[:-1]
    assert argv == ["compose", "-p", "demo", "-f", "/p/compose.yml", "config", "--format", "json"]


def test_config_rejection_is_a_compose_file_error(docker_cli) -> None:
    docker_cli("echo 'validating /p/compose.yml: services.web additional properties x not allowed' >&2; exit 15")
    with pytest.raises(ComposeFileError) as info:
        fake_stack().config_json()
    assert "additional properties x not allowed" in info.value.message
    assert int(info.value.exit_code) == 2


def test_config_without_the_compose_plugin(docker_cli) -> None:
    docker_cli("echo \"docker: 'compose' is not a docker command.\" >&2; exit 1")
    with pytest.raises(ComposeMissingError):
        fake_stack().config_json()


def test_config_output_that_is_not_json(docker_cli) -> None:
    docker_cli("echo 'services: {}'")
    with pytest.raises(ComposeCommandError, match="not JSON"):
        fake_stack().config_json()


def test_create_streams_lines_and_fails_with_its_conclusion(docker_cli) -> None:
    argv_file = docker_cli(
        "echo ' Container demo-web-1  Creating' >&2; echo; echo 'Error response from daemon: no'; exit 1"
    )
    events: list[Any] = []
    proc = fake_stack().start_create(["web"], build=True)
    with pytest.raises(ComposeCommandError) as info:
        proc.stream(events.append)
    assert events == [ComposeOutput(" Container demo-web-1  Creating"), ComposeOutput("Error response from daemon: no")]
    assert info.value.message == (
        "`docker compose` failed during create: Error response from daemon: no (the full output is above)"
    )
    argv = argv_file.read_text().split("\n")[:-1]
    assert argv[-6:] == ["up", "--detach", "--no-start", "--no-color", "--build", "web"]


def test_stop_ends_a_command_that_still_runs(docker_cli) -> None:
    docker_cli("exec sleep 30")
    proc = fake_stack().start_create(None, build=False)
    started = time.monotonic()
    proc.stop()
    assert proc.proc.returncode is not None
    assert time.monotonic() - started < 5
    proc.stop()  # idempotent


def test_no_docker_cli_at_all(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(DockerUnavailableError, match="docker CLI was not found"):
        ComposeProcess(fake_stack(), "config", ["config"], merge_output=False)
