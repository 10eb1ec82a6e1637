"""A profile's own Docker engine: ``context`` / ``docker_host`` in its TOML, resolution, child processes,
and how published ports are named (no Docker needed)."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from devenv.config import load_project
from devenv.core.compose.runner import ComposeProcess
from devenv.core.engine.endpoint import Endpoint, for_profile, published_host, unreachable_note
from devenv.core.models import PortBinding
from devenv.core.stack import Stack
from devenv.errors import ConfigError, DockerUnavailableError


def _project(tmp_path: Path, profile_toml: str) -> Path:
    (tmp_path / "compose.yml").write_text("services:\n  web:\n    image: busybox\n")
    (tmp_path / "devenv.toml").write_text('[project]\nname = "p"\n')
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "far.toml").write_text(profile_toml)
    return tmp_path


def test_docker_host_and_context_are_read_from_the_profile(tmp_path: Path) -> None:
    project = load_project(_project(tmp_path, 'docker_host = "ssh://me@buildbox"\n'))
    assert project.profiles["far"].docker_host == "ssh://me@buildbox"
    assert project.profiles["far"].context is None
    assert project.profiles["default"].docker_host is None


def test_inline_profiles_take_them_too(tmp_path: Path) -> None:
    (tmp_path / "compose.yml").write_text("services:\n  web:\n    image: busybox\n")
    (tmp_path / "devenv.toml").write_text('[profiles.box]\ncontext = "buildbox"\n')
    assert load_project(tmp_path).profiles["box"].context == "buildbox"


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ('docker_host = "http://box:2375"\n', 'unknown scheme "http"; use one of unix://, tcp://, ssh://'),
        ('docker_host = "box:2375"\n', "it has no scheme"),
        ('docker_host = "unix://relative.sock"\n', "needs an absolute socket path"),
        ('docker_host = "tcp://:2375"\n', "a tcp:// address needs a host name"),
        ('docker_host = "ssh://"\n', "a ssh:// address needs a host name"),
        ('docker_host = ""\n', "must not be empty"),
        ('context = "a b"\n', "is not a docker context name"),
        ("docker_host = 5\n", "must be a string"),
        ('context = "x"\ndocker_host = "tcp://h:1"\n', "are both set"),
    ],
)
def test_bad_engine_settings_are_config_errors(tmp_path: Path, toml: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_project(_project(tmp_path, toml))
    assert expected in info.value.message
    assert info.value.message.startswith("profiles/far.toml: ")
    assert info.value.exit_code == 2


@pytest.mark.parametrize(
    "host", ["unix:///run/x.sock", "tcp://10.0.0.5:2376", "ssh://me@box", "ssh://box:2222", "tcp://[::1]:2375"]
)
def test_good_addresses_load(tmp_path: Path, host: str) -> None:
    assert load_project(_project(tmp_path, f'docker_host = "{host}"\n')).profiles["far"].docker_host == host


def test_the_environment_wins_over_the_profile() -> None:
    env = {"DOCKER_HOST": "unix:///env.sock", "HOME": "/nonexistent"}
    found = for_profile("far", docker_host="ssh://me@box", environ=env)
    assert (found.host, found.source, found.child_env) == ("unix:///env.sock", "DOCKER_HOST", {})
    env = {"DOCKER_CONTEXT": "default", "HOME": "/nonexistent"}
    assert for_profile("far", context="other", environ=env).host == "unix:///var/run/docker.sock"


def test_the_profile_wins_over_the_current_context(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"currentContext": "nope"}))
    found = for_profile("far", docker_host="tcp://box:2375", environ={"DOCKER_CONFIG": str(tmp_path)})
    assert found.host == "tcp://box:2375"
    assert found.source == "profile far: docker_host"
    assert found.child_env == {"DOCKER_HOST": "tcp://box:2375"}
    assert found.remote and found.host_name == "box"


def test_a_profile_context_reads_the_cli_store(tmp_path: Path) -> None:
    digest = hashlib.sha256(b"buildbox").hexdigest()
    meta = tmp_path / "contexts" / "meta" / digest
    meta.mkdir(parents=True)
    (meta / "meta.json").write_text(json.dumps({"Name": "buildbox", "Endpoints": {"docker": {"Host": "ssh://ci@box"}}}))
    found = for_profile("far", context="buildbox", environ={"DOCKER_CONFIG": str(tmp_path)})
    assert (found.host, found.context, found.child_env) == ("ssh://ci@box", "buildbox", {"DOCKER_CONTEXT": "buildbox"})
    assert found.describe() == "ssh://ci@box (context buildbox, profile far: context)"
    with pytest.raises(DockerUnavailableError, match="'missing' \\(profile far: context\\) does not exist"):
        for_profile("far", context="missing", environ={"DOCKER_CONFIG": str(tmp_path)})


def test_no_engine_settings_resolve_like_the_cli() -> None:
    found = for_profile("dev", environ={"HOME": "/nonexistent"})
    assert (found.host, found.source, found.child_env) == ("unix:///var/run/docker.sock", "default", {})
    assert found.describe() == "unix:///var/run/docker.sock"
    assert not found.remote and found.host_name is None


@pytest.mark.parametrize(
    ("host", "name", "remote"),
    [
        ("tcp://127.0.0.1:2375", "127.0.0.1", False),
        ("tcp://localhost:2375", "localhost", False),
        ("ssh://me@build.example:22", "build.example", True),
        ("tcp://[fd00::5]:2376", "fd00::5", True),
        ("unix:///x.sock", None, False),
    ],
)
def test_host_names(host: str, name: str | None, remote: bool) -> None:
    endpoint = Endpoint(host)
    assert endpoint.host_name == name
    assert endpoint.remote is remote


def test_published_hosts_name_the_engine_host() -> None:
    local = Endpoint("unix:///var/run/docker.sock")
    far = Endpoint("ssh://me@box")
    assert published_host("0.0.0.0", local) == "127.0.0.1"
    assert published_host("127.0.0.1", local) == "127.0.0.1"
    assert published_host("0.0.0.0", far) == "box"
    assert published_host("::", far) == "box"
    assert published_host("127.0.0.1", far) is None
    assert published_host("192.0.2.9", far) == "192.0.2.9"
    note = unreachable_note(5432, far)
    assert "bound to 127.0.0.1 on box: not reachable from here" in note
    assert "ssh -L 5432:127.0.0.1:5432 me@box" in note


def test_status_text_names_the_remote_host() -> None:
    from devenv.cli.engine_text import addresses, port_text
    from devenv.core.models import Health, ServiceStatus

    far = Endpoint("tcp://box:2375")
    wide, loop = PortBinding(80, "tcp", "0.0.0.0", 8080), PortBinding(5432, "tcp", "127.0.0.1", 15432)
    assert port_text(wide, far) == "box:8080->80/tcp"
    assert port_text(loop, far) == "127.0.0.1:15432->5432/tcp (engine host only)"
    assert port_text(loop, Endpoint("unix:///s")) == "127.0.0.1:15432->5432/tcp"
    status = ServiceStatus("web", "running", Health.NONE, True, None, ports=(wide, loop))
    assert addresses(status, far) == ["box:8080"]


class _Target:
    """What ComposeProcess needs of a stack; the "compose" command prints DOCKER_HOST and DOCKER_CONTEXT."""

    def __init__(self, env: dict[str, str] | None) -> None:
        self.env = env

    def compose_args(self) -> list[str]:
        code = "import os; print(os.environ.get('DOCKER_HOST'), os.environ.get('DOCKER_CONTEXT'))"
        return [sys.executable, "-c", code]

    def map_compose_error(self, what: str, command: list[str], stderr: str, *, streamed: bool = False) -> Exception:
        return RuntimeError(stderr)

    def child_env(self) -> dict[str, str] | None:
        return self.env


def test_compose_children_get_the_profile_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.delenv("DOCKER_CONTEXT", raising=False)
    pinned = ComposeProcess(
        _Target({"PATH": "/usr/bin:/bin", "DOCKER_HOST": "ssh://me@box"}), "x", [], merge_output=False
    )
    assert pinned.wait().split() == ["ssh://me@box", "None"]
    inherited = ComposeProcess(_Target(None), "x", [], merge_output=False)
    assert inherited.wait().split() == ["None", "None"]


def test_a_stack_uses_its_profile_endpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.delenv("DOCKER_CONTEXT", raising=False)
    project = load_project(_project(tmp_path, 'docker_host = "unix:///run/far.sock"\n'))
    stack = Stack(project, project.profiles["far"])
    assert stack.endpoint.host == "unix:///run/far.sock"
    env = stack.child_env()
    assert env is not None and env["DOCKER_HOST"] == "unix:///run/far.sock"
    assert stack.reader.base_url == "unix:///run/far.sock"  # the stdlib reader dials that socket
    plain = Stack(project, project.profiles["default"])
    assert plain.child_env() is None


def test_the_tui_core_names_the_profile_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from devenv.tui.core import RealCore

    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.delenv("DOCKER_CONTEXT", raising=False)
    project = load_project(_project(tmp_path, 'docker_host = "tcp://buildbox:2375"\n'))
    core = RealCore(project, project.profiles["far"], explicit_profile=True)
    assert core.endpoint() == "tcp://buildbox:2375 (profile far: docker_host)"
    assert core.published_host("0.0.0.0") == "buildbox"
    assert core.published_host("127.0.0.1") is None
    env = core.shell_env()
    assert env is not None and env["DOCKER_HOST"] == "tcp://buildbox:2375"


def test_the_services_table_links_name_the_engine_host() -> None:
    from devenv.core.models import Health, ServiceStatus
    from devenv.tui.widgets.services import _ports

    status = ServiceStatus(
        "web",
        "running",
        Health.NONE,
        True,
        None,
        ports=(PortBinding(80, "tcp", "0.0.0.0", 8080), PortBinding(5432, "tcp", "127.0.0.1", 15432)),
    )
    far = Endpoint("ssh://me@buildbox")
    text = _ports(status, lambda ip: published_host(ip, far))
    assert text.plain == ":8080↗ :15432"
    links = [span.style.link for span in text.spans if hasattr(span.style, "link") and span.style.link]
    assert links == ["http://buildbox:8080"]


def test_an_unreachable_profile_engine_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.delenv("DOCKER_CONTEXT", raising=False)
    project = load_project(_project(tmp_path, f'docker_host = "unix://{tmp_path}/none.sock"\n'))
    with pytest.raises(DockerUnavailableError) as info:
        Stack(project, project.profiles["far"]).status()
    assert f"unix://{tmp_path}/none.sock (profile far: docker_host)" in info.value.message
    assert info.value.hint is not None and "the engine this profile names" in info.value.hint
    assert info.value.exit_code == 3


def test_commands_shown_to_copy_name_the_profiles_engine() -> None:
    """A `docker compose ...` or `docker network create ...` a message prints must reach the
    profile's engine when pasted into a shell: its DOCKER_HOST / DOCKER_CONTEXT come first."""
    from types import SimpleNamespace

    from devenv.core.compose.runner import compose_command, engine_prefix
    from devenv.core.doctor.resources import Locator, check_external

    def stack(pinned: dict[str, str]) -> Any:
        return SimpleNamespace(
            endpoint=SimpleNamespace(child_env=pinned),
            compose_args=lambda: ["docker", "compose", "-p", "shop", "-f", "/src/my app/compose.yml"],
        )

    remote = stack({"DOCKER_HOST": "ssh://dev@build box"})
    assert compose_command(remote, "config") == (
        "DOCKER_HOST='ssh://dev@build box' docker compose -p shop -f '/src/my app/compose.yml' config"
    )
    assert compose_command(stack({}), "logs", "api") == "docker compose -p shop -f '/src/my app/compose.yml' logs api"
    assert engine_prefix(stack({"DOCKER_CONTEXT": "ci", "DOCKER_HOST": "tcp://h:2376"})) == (
        "DOCKER_CONTEXT=ci DOCKER_HOST=tcp://h:2376 "
    )

    class Api:
        def networks(self, names: list[str]) -> list[dict[str, str]]:
            return []

    config = {"networks": {"edge": {"external": True, "name": "edge"}}}
    (finding,) = check_external(config, Api(), Locator([], Path("/src")), engine_prefix(remote))
    assert finding.fix is not None and finding.fix.startswith(
        "DOCKER_HOST='ssh://dev@build box' docker network create edge"
    )

    class NoImages:
        def inspect_image(self, name: str) -> None:
            raise LookupError(name)

    from devenv.core.doctor.resources import check_images

    services = {"services": {"api": {"image": "registry.internal/shop/api:1"}}}
    (finding,) = check_images(services, NoImages(), False, None, Locator([], Path("/src")), "-", engine_prefix(remote))
    assert finding.fix is not None and finding.fix.startswith(
        "DOCKER_HOST='ssh://dev@build box' docker pull registry.internal/shop/api:1"
    )
