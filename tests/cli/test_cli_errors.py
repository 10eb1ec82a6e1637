"""Usage and config errors that need the engine or Compose (exit 2), Docker/Compose unavailable (exit 3).

Those that need neither are in ``tests/unit/test_cli_no_engine.py``.
"""

from __future__ import annotations

import subprocess

import pytest
from devenv_testlib import base_env, check_status_document, docker


def low(text: str) -> str:
    return text.lower()


def assert_exit(res, code: int) -> None:
    assert res.returncode == code, res.dump()
    assert res.returncode != 70, f"internal error:\n{res.dump()}"


# ------------------------------------------------------------------------------- unknown service
@pytest.mark.parametrize("command", [["up", "--timeout", "30"], ["logs"]])
def test_unknown_service(stack, command):
    st = stack("zeroconf")
    res = st.devenv(*command, "nosuchservice", "--profile", "dev")
    assert_exit(res, 2)
    assert "nosuchservice" in res.stderr, res.dump()
    assert st.container_ids() == []


def test_service_of_another_profile_is_unknown(stack):
    """devtools exists only in compose.dev.yml."""
    st = stack("zeroconf")
    res = st.devenv("up", "devtools", "--profile", "default", "--timeout", "30")
    assert_exit(res, 2)
    assert "devtools" in res.stderr, res.dump()


# --------------------------------------------------------------------------- invalid compose file
def compose_complaint(st) -> str:
    plain = docker("compose", "config", cwd=st.path)
    assert plain.returncode != 0
    return plain.stderr


# Every command that reads the compose files gives Compose's own complaint, exit 2. `status` and the
# other fast reads parse the YAML themselves and ask `docker compose config --quiet` for Compose's
# checks (schema, interpolation) whenever the files changed since their last good read.
@pytest.mark.parametrize(
    "command",
    [
        ["up", "--timeout", "30"],
        ["up", "app", "--timeout", "30"],
        ["config"],
        ["down"],
        ["status"],
        ["status", "--json"],
        ["status", "app"],
        ["logs"],
        ["start"],
        ["stop", "app"],
        ["restart", "app"],
        ["recreate", "app"],
        ["db", "snapshots"],
        ["migrate", "status"],
    ],
)
def test_invalid_compose_file(stack, command):
    st = stack("invalid")
    complaint = compose_complaint(st)
    assert "bogus_option" in complaint
    res = st.devenv(*command)
    assert_exit(res, 2)
    assert "bogus_option" in res.stderr, f"compose's complaint not shown:\n{res.dump()}"
    assert "Compose rejected the files of profile" in res.stderr, res.dump()
    assert st.container_ids() == []


def test_status_checks_again_once_the_files_changed(stack):
    """The check runs when the files changed since the last good read (the service-name cache)."""
    st = stack("invalid")
    compose = st.path / "compose.yml"
    broken = compose.read_text()
    compose.write_text(broken.replace("    bogus_option: 42\n", ""))
    (st.path / ".devenv").mkdir()  # where the cache lives (any `devenv up` makes it)
    assert_exit(st.devenv("status"), 0)
    assert_exit(st.devenv("status"), 0)  # from the cache
    compose.write_text(broken)
    res = st.devenv("status")
    assert_exit(res, 2)
    assert "bogus_option" in res.stderr, res.dump()


def test_invalid_compose_yaml_syntax(stack):
    st = stack("invalid")
    (st.path / "compose.yml").write_text("services:\n  app:\n    image: [unclosed\n")
    res = st.devenv("up", "--timeout", "30")
    assert_exit(res, 2)
    assert "compose.yml" in res.stderr or "yaml" in low(res.stderr), res.dump()


def test_missing_required_variable_is_a_config_error(stack):
    st = stack("ports")
    env = {"PORT": ""}
    res = st.devenv("up", "--timeout", "30", env=env)
    assert_exit(res, 2)
    assert "PORT must be set" in res.stderr, res.dump()


# --------------------------------------------------------------------------- confirmation (no containers)
def test_down_volumes_protected_profile_without_confirmation(stack):
    st = stack("zeroconf")
    res = st.devenv("down", "--profile", "prod", "--volumes")
    assert_exit(res, 2)
    assert "--confirm-profile" in res.stderr or "confirm" in low(res.stderr), res.dump()


# ---------------------------------------------------------------------------- config / profiles
def test_config_command(stack):
    st = stack("zeroconf")
    res = st.devenv("config", "--profile", "dev")
    assert_exit(res, 0)
    assert "web-mode=dev" in res.stdout, res.dump()
    assert "devtools" in res.stdout, res.dump()
    res = st.devenv("config", "--profile", "dev", "--json")
    assert_exit(res, 0)
    res.json()


# ---------------------------------------------------------------------- Docker / Compose missing
@pytest.mark.parametrize("command", [["up", "--timeout", "30"], ["status"], ["down"], ["logs"]])
def test_docker_unreachable_exit_3(stack, command):
    st = stack("zeroconf")
    res = st.devenv(*command, env={"DOCKER_HOST": "unix:///tmp/nope.sock"}, timeout=60)
    assert_exit(res, 3)
    assert "docker" in low(res.stderr), res.dump()
    assert res.duration < 30, res.dump()


def test_docker_unreachable_json(stack):
    st = stack("zeroconf")
    res = st.devenv("status", "--json", env={"DOCKER_HOST": "unix:///tmp/nope.sock"}, timeout=60)
    assert_exit(res, 3)
    assert "docker" in low(res.stderr), res.dump()
    doc = res.json()
    check_status_document(doc)
    assert doc["ok"] is False and doc["exit_code"] == 3 and doc["error"]["kind"] == "DockerUnavailableError", doc


@pytest.mark.parametrize("command", [["up", "--timeout", "30"], ["down"], ["config"]])
def test_compose_v2_missing_exit_3(stack, tmp_path, command):
    empty = tmp_path / "empty-docker-config"
    empty.mkdir()
    # Sanity: with this DOCKER_CONFIG the docker CLI really has no compose plugin.
    probe = subprocess.run(
        ["docker", "compose", "version"],
        capture_output=True,
        text=True,
        env=base_env({"DOCKER_CONFIG": str(empty)}),
        timeout=30,
    )
    if probe.returncode == 0:
        pytest.fail(f"compose is still found with DOCKER_CONFIG={empty}: {probe.stdout}")
    st = stack("zeroconf")
    res = st.devenv(*command, env={"DOCKER_CONFIG": str(empty)}, timeout=60)
    assert_exit(res, 3)
    assert "compose v2" in low(res.stderr), res.dump()
    assert st.container_ids() == []
