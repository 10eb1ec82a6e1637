"""Profiles on another Docker engine, on a real second daemon started by this module.

The second engine (tests/integration/second_engine.py) has its own socket, bridge, data and exec
roots; it gets the stack's images with ``docker save | docker -H S load`` (it cannot pull). A profile
with ``docker_host = "unix://S"`` must run entirely there: ``up``, ``status``, ``logs``, a database
snapshot and ``down``, checked by listing containers, volumes and networks on both daemons. It needs
root; CI runs as root, so a daemon that cannot start FAILS these tests (never a skip).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import second_engine
from devenv_testlib import BASE_IMAGE, POSTGRES_IMAGE, PROJECT_LABEL, SERVICE_LABEL, Stack, docker


@pytest.fixture(scope="module")
def engine2(docker_ready: None) -> Iterator[second_engine.SecondEngine]:
    try:
        engine = second_engine.start()
    except RuntimeError as exc:
        pytest.fail(f"the second Docker engine could not be started: {exc}", pytrace=False)
    try:
        engine.load(BASE_IMAGE, POSTGRES_IMAGE)
        yield engine
    finally:
        problems = engine.stop()
        assert problems == [], f"the second engine was not cleaned up: {problems}"
        assert not Path(engine.root).exists() and not Path(engine.exec_root).exists()


def _services_on(run: Callable[..., object], project: str) -> set[str]:
    proc = run(
        "ps", "-a", "--filter", f"label={PROJECT_LABEL}={project}", "--format", f'{{{{.Label "{SERVICE_LABEL}"}}}}'
    )
    assert proc.returncode == 0, proc.stderr  # type: ignore[attr-defined]
    return set(proc.stdout.split())  # type: ignore[attr-defined]


def _default(*args: str) -> object:
    return docker(*args, env={"DOCKER_HOST": "unix:///var/run/docker.sock"})


def _labelled(run: Callable[..., object], kind: str, project: str) -> list[str]:
    proc = run(kind, "ls", "-q", "--filter", f"label={PROJECT_LABEL}={project}")
    return proc.stdout.split()  # type: ignore[attr-defined]


def test_a_profile_with_docker_host_runs_everything_on_that_engine(
    stack: Callable[..., Stack], engine2: second_engine.SecondEngine, tmp_path: Path
) -> None:
    st = stack("remote")
    (st.path / "profiles").mkdir()
    (st.path / "profiles" / "remote.toml").write_text(
        f'description = "on the second engine"\ndocker_host = "{engine2.host}"\n'
    )
    # The same engine through a docker context, in a CLI config folder of its own.
    config_dir = tmp_path / "docker-config"
    config_dir.mkdir()
    created = docker(
        "context", "create", "dvt-second", "--docker", f"host={engine2.host}", env={"DOCKER_CONFIG": str(config_dir)}
    )
    assert created.returncode == 0, created.stderr
    (st.path / "profiles" / "viactx.toml").write_text('context = "dvt-second"\n')

    up = st.devenv("up", "--profile", "remote", "--json", timeout=240)
    assert up.returncode == 0, up.dump()
    assert f"engine: {engine2.host} (profile remote: docker_host)" in up.stderr
    assert {s["service"] for s in up.json()["services"] if s["ready"]} == {"db", "web"}

    # There, and only there.
    assert _services_on(engine2.docker, st.name) == {"db", "web"}
    assert _services_on(_default, st.name) == set()
    assert _labelled(engine2.docker, "volume", st.name) and _labelled(engine2.docker, "network", st.name)
    assert _labelled(_default, "volume", st.name) == [] and _labelled(_default, "network", st.name) == []

    status = st.devenv("status", "--profile", "remote", "--json")
    assert status.returncode == 0, status.dump()
    doc = status.json()
    assert doc["engine"]["host"] == engine2.host and doc["engine"]["source"] == "profile remote: docker_host"
    assert doc["engine"]["remote"] is False  # a Unix socket: this machine
    by_name = {s["service"]: s for s in doc["services"]}
    assert by_name["db"]["state"] == "running"
    # Ready by Docker's verdict, or by devenv's own run of its healthcheck while Docker says starting.
    web = by_name["web"]
    assert (web["ready"], web["health"], web["ready_by"]) in (
        (True, "healthy", "docker"),
        (True, "starting", "devenv-check"),
    ), web
    assert by_name["db"]["addresses"] == [f"127.0.0.1:{st.port('POSTGRES_PORT')}"]
    text = st.devenv("status", "--profile", "remote")
    assert text.returncode == 0 and f"engine {engine2.host} (profile remote: docker_host)" in text.stderr, text.dump()

    # The default profile looks at the default engine: nothing of this project there.
    default = st.devenv("status", "--profile", "default", "--json")
    assert default.returncode == 0, default.dump()
    assert {s["state"] for s in default.json()["services"]} == {"missing"}

    # The docker context names the same engine.
    via_ctx = st.devenv("status", "--profile", "viactx", "--json", env={"DOCKER_CONFIG": str(config_dir)})
    assert via_ctx.returncode == 0, via_ctx.dump()
    assert via_ctx.json()["engine"]["context"] == "dvt-second"
    assert {s["service"]: s["state"] for s in via_ctx.json()["services"]} == {"db": "running", "web": "running"}

    # DOCKER_HOST in the environment still wins over the profile's docker_host.
    env_wins = st.devenv("status", "--profile", "remote", "--json", env={"DOCKER_HOST": "unix:///var/run/docker.sock"})
    assert env_wins.returncode == 0, env_wins.dump()
    assert env_wins.json()["engine"]["source"] == "DOCKER_HOST"
    assert {s["state"] for s in env_wins.json()["services"]} == {"missing"}

    logs = st.devenv("logs", "--profile", "remote", "web")
    assert logs.returncode == 0 and "web-marker: up" in logs.stdout, logs.dump()

    # A health-gated action: its events and health wait come from that engine too.
    restart = st.devenv("restart", "--profile", "remote", "web", "--json")
    assert restart.returncode == 0, restart.dump()
    assert [s["service"] for s in restart.json()["services"] if s["ready"]] == ["web"]

    snap = st.devenv("db", "snapshot", "--profile", "remote", "first")
    assert snap.returncode == 0, snap.dump()
    dump = st.path / ".devenv" / "snapshots" / "remote" / "first.pgdump"
    assert dump.is_file() and dump.stat().st_size > 0
    meta = json.loads((st.path / ".devenv" / "snapshots" / "remote" / "first.json").read_text())
    assert meta["service"] == "db"

    down = st.devenv("down", "--profile", "remote")
    assert down.returncode == 0, down.dump()
    assert _services_on(engine2.docker, st.name) == set()
    assert _labelled(engine2.docker, "network", st.name) == []
    assert _services_on(_default, st.name) == set()


def test_doctor_checks_and_fixes_on_the_profiles_engine(
    stack: Callable[..., Stack], engine2: second_engine.SecondEngine
) -> None:
    st = stack("remote")
    net = f"{st.name}-ext"
    (st.path / "compose.ext.yml").write_text(
        f"services:\n  web:\n    networks: [default, ext]\nnetworks:\n  ext:\n    external: true\n    name: {net}\n"
    )
    (st.path / "profiles").mkdir()
    (st.path / "profiles" / "remote.toml").write_text(
        f'compose_files = ["compose.ext.yml"]\ndocker_host = "{engine2.host}"\n'
    )
    try:
        result = st.devenv("doctor", "--profile", "remote", "--json")
        assert result.returncode == 1, result.dump()  # the missing network is an error
        findings = result.json()["findings"]
        (context,) = [f for f in findings if f["check"] == "context"]
        assert context["message"] == f"engine endpoint: {engine2.host} (profile remote: docker_host)", context
        (network,) = [f for f in findings if f["check"] == "network"]
        assert (network["severity"], network["message"]) == ("error", f"external network {net} does not exist")
        assert network["fix"].startswith(f"DOCKER_HOST={engine2.host} docker network create {net}"), network
        # Checked on that engine: the images are there (loaded), the default engine is not asked.
        assert not [f for f in findings if f["check"] == "image" and f["severity"] != "ok"], findings

        fixed = st.devenv("doctor", "--profile", "remote", "--fix")
        assert f"created network {net}" in fixed.stderr, fixed.dump()
        assert engine2.docker("network", "inspect", net).returncode == 0
        assert _default("network", "inspect", net).returncode != 0  # type: ignore[attr-defined]
        again = st.devenv("doctor", "--profile", "remote", "--json")
        assert again.returncode == 0, again.dump()
    finally:
        engine2.docker("network", "rm", net)


def test_a_profile_naming_a_missing_context_says_so(stack: Callable[..., Stack], tmp_path: Path) -> None:
    st = stack("remote")
    (st.path / "profiles").mkdir()
    (st.path / "profiles" / "gone.toml").write_text('context = "no-such-context"\n')
    env = {"DOCKER_CONFIG": str(tmp_path), "DOCKER_HOST": "", "DOCKER_CONTEXT": ""}
    result = st.devenv("status", "--profile", "gone", env=env)
    assert result.returncode == 3, result.dump()
    assert "no-such-context" in result.stderr and "does not exist" in result.stderr
    assert os.environ.get("DOCKER_CONTEXT") in (None, "")  # the test's own environment is untouched
