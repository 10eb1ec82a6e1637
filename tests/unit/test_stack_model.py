"""Pure parsing in devenv.core: the compose model, engine inspect data, aggregation, logs."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from devenv.core.compose.files import declared_services
from devenv.core.compose.model import ComposeModel, Dependency, Hook, check_services
from devenv.core.engine import containers as containers_module
from devenv.core.engine.containers import container_from_inspect
from devenv.core.engine.containers import epoch_seconds as _epoch
from devenv.core.health import aggregate
from devenv.core.logs import _lines, split_timestamp
from devenv.core.models import ContainerInfo, Health, PortBinding
from devenv.core.ports import parse_port_conflict
from devenv.errors import ExitCode, UnknownServiceError

# What `docker compose config --format json` prints for a small project (abridged).
CONFIG_JSON: dict[str, Any] = {
    "name": "shop",
    "services": {
        "db": {
            "image": "postgres:16",
            "environment": {"POSTGRES_PASSWORD": "secret", "POSTGRES_USER": "app"},
            "healthcheck": {"test": ["CMD-SHELL", "pg_isready -U app"], "interval": "1s", "retries": 30},
            "restart": "unless-stopped",
            "ports": [{"mode": "ingress", "host_ip": "127.0.0.1", "target": 5432, "published": "5432"}],
            "volumes": [{"type": "volume", "source": "pgdata", "target": "/var/lib/postgresql/data"}],
            "networks": {"default": None},
        },
        "migrate": {
            "image": "shop-api",
            "command": ["alembic", "upgrade", "head"],
            "depends_on": {"db": {"condition": "service_healthy", "required": True, "restart": False}},
            "healthcheck": {"disable": True},
        },
        "api": {
            "image": "shop-api",
            "depends_on": {
                "db": {"condition": "service_healthy", "required": True, "restart": True},
                "migrate": {"condition": "service_completed_successfully", "required": True},
                "cache": {"condition": "service_started", "required": False},
                "mailer": None,
            },
            "deploy": {"replicas": 3},
            "restart": "always",
            "post_start": [{"command": ["touch", "/tmp/started"]}],
        },
        "cache": {"image": "redis:7", "healthcheck": {"test": ["NONE"]}, "scale": 2},
        "worker": {"image": "shop-api", "scale": 0},
        "mailer": {"image": "mailhog"},
    },
}


# ------------------------------------------------------------------------------- ComposeModel
@pytest.fixture
def model() -> ComposeModel:
    return ComposeModel.from_json(CONFIG_JSON)


def test_from_json_depends_on_conditions_and_required(model: ComposeModel) -> None:
    assert model.name == "shop"
    assert list(model.services) == ["db", "migrate", "api", "cache", "worker", "mailer"]
    assert model.services["api"].depends_on == (
        Dependency("db", "service_healthy", True, restart=True),
        Dependency("migrate", "service_completed_successfully", True),
        Dependency("cache", "service_started", False),
        Dependency("mailer", "service_started", True),  # a null entry means the default condition
    )
    assert model.services["db"].depends_on == ()
    assert model.restart_dependents("db") == ["api"] and model.restart_dependents("migrate") == []


def test_from_json_healthcheck_detection(model: ComposeModel) -> None:
    assert model.services["db"].has_healthcheck is True
    assert model.services["migrate"].has_healthcheck is False  # disable: true
    assert model.services["cache"].has_healthcheck is False  # test: ["NONE"]
    assert model.services["mailer"].has_healthcheck is False  # none declared


def test_from_json_replicas_restart_and_other_fields(model: ComposeModel) -> None:
    s = model.services
    assert {n: s[n].replicas for n in s} == {"db": 1, "migrate": 1, "api": 3, "cache": 2, "worker": 0, "mailer": 1}
    assert {n: s[n].restart for n in s} == {
        "db": "unless-stopped",
        "migrate": "no",
        "api": "always",
        "cache": "no",
        "worker": "no",
        "mailer": "no",
    }
    assert s["migrate"].command == ("alembic", "upgrade", "head")
    assert s["db"].command is None
    assert s["db"].environment == {"POSTGRES_PASSWORD": "secret", "POSTGRES_USER": "app"}
    assert s["db"].image == "postgres:16"
    assert s["db"].ports[0]["target"] == 5432
    assert s["db"].volumes[0]["source"] == "pgdata"
    assert s["api"].has_post_start is True and s["db"].has_post_start is False
    assert s["api"].post_start == (Hook(("touch", "/tmp/started")),)


def test_from_json_deploy_replicas_wins_over_scale() -> None:
    m = ComposeModel.from_json({"services": {"a": {"scale": 5, "deploy": {"replicas": 2}}, "b": {"deploy": {}}}})
    assert (m.services["a"].replicas, m.services["b"].replicas) == (2, 1)
    assert m.name == ""


def test_from_json_empty_document() -> None:
    m = ComposeModel.from_json({"name": "x", "services": None})
    assert m.services == {}
    assert m.closure(["anything"]) == []


# ------------------------------------------------------------------------------------ closure
def test_closure_puts_dependencies_first(model: ComposeModel) -> None:
    assert model.closure(["api"]) == ["db", "migrate", "cache", "mailer", "api"]
    assert model.closure(["migrate"]) == ["db", "migrate"]
    assert model.closure(["db"]) == ["db"]


def test_closure_of_everything_has_each_service_once_after_its_deps(model: ComposeModel) -> None:
    order = model.closure(list(model.services))
    assert sorted(order) == sorted(model.services)
    for name in order:
        for dep in model.services[name].depends_on:
            assert order.index(dep.service) < order.index(name)


def test_closure_skips_missing_dependencies_and_unknown_names() -> None:
    m = ComposeModel.from_json(
        {
            "services": {
                "api": {"depends_on": {"ghost": {"condition": "service_started", "required": False}, "db": {}}},
                "db": {},
            }
        }
    )
    assert m.closure(["api", "nope"]) == ["db", "api"]


def test_closure_survives_a_dependency_cycle() -> None:
    m = ComposeModel.from_json({"services": {"a": {"depends_on": {"b": {}}}, "b": {"depends_on": {"a": {}}}}})
    assert m.closure(["a"]) == ["b", "a"]


# ------------------------------------------------------------------------------ check_services
def test_check_services_accepts_known_names() -> None:
    check_services(["api", "db"], ["db", "api", "cache"])  # no UnknownServiceError
    check_services([], [])


def test_check_services_unknown_with_did_you_mean() -> None:
    with pytest.raises(UnknownServiceError) as info:
        check_services(["api", "postgress"], ["postgres", "api", "cache"])
    assert info.value.message == (
        'Unknown service "postgress". Did you mean "postgres"? Services in this profile: api, cache, postgres.'
    )
    assert info.value.exit_code is ExitCode.USAGE
    assert int(info.value.exit_code) == 2


def test_check_services_unknown_without_close_match() -> None:
    with pytest.raises(UnknownServiceError, match=r'^Unknown service "zzz"\. Services in this profile: a, b\.$'):
        check_services(["zzz"], {"b": None, "a": None})


# ----------------------------------------------------------------------- container_from_inspect
def inspect(
    *,
    status: str = "running",
    exit_code: int = 0,
    health: dict[str, Any] | None = None,
    test: list[str] | None = None,
    started: str = "2024-01-02T03:04:05.123456789Z",
    ports: dict[str, Any] | None = None,
    restart: str | None = "always",
    **extra: Any,
) -> dict[str, Any]:
    config: dict[str, Any] = {
        "Image": "postgres:16",
        "Labels": {
            "com.docker.compose.project": "shop",
            "com.docker.compose.service": "db",
            "com.docker.compose.container-number": "2",
        },
    }
    if test is not None:
        config["Healthcheck"] = {"Test": test}
    state: dict[str, Any] = {
        "Status": status,
        "ExitCode": exit_code,
        "StartedAt": started,
        "FinishedAt": "0001-01-01T00:00:00Z",
        "OOMKilled": False,
    }
    if health is not None:
        state["Health"] = health
    data: dict[str, Any] = {
        "Id": "c0ffee" * 10 + "abcd",
        "Name": "/shop-db-2",
        "RestartCount": 0,
        "Config": config,
        "State": state,
        "HostConfig": {"RestartPolicy": {"Name": restart, "MaximumRetryCount": 0}} if restart is not None else {},
        "NetworkSettings": {"Ports": ports or {}},
    }
    data.update(extra)
    return data


EPOCH_123456 = datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=timezone.utc).timestamp()


def test_container_from_inspect_basic_fields() -> None:
    info = container_from_inspect(inspect(RestartCount=3))
    assert info == ContainerInfo(
        id="c0ffee" * 10 + "abcd",
        name="shop-db-2",
        service="db",
        number=2,
        state="running",
        health=Health.NONE,
        exit_code=None,
        restart_count=3,
        restart_policy="always",
        has_healthcheck=False,
        started_at=EPOCH_123456,
        ports=(),
        image="postgres:16",
        oom_killed=False,
        health_output=None,
    )


def test_container_from_inspect_ports() -> None:
    ports = {
        "9000/tcp": [{"HostIp": "0.0.0.0", "HostPort": "9000"}, {"HostIp": "::", "HostPort": "9000"}],
        "5432/tcp": [{"HostIp": "127.0.0.1", "HostPort": "15432"}],
        "8080/tcp": None,  # exposed, not published
        "53/udp": [{"HostIp": "", "HostPort": "5353"}],
        "6379/tcp": [{"HostIp": "0.0.0.0", "HostPort": ""}],
    }
    assert container_from_inspect(inspect(ports=ports)).ports == (
        PortBinding(53, "udp", "0.0.0.0", 5353),
        PortBinding(5432, "tcp", "127.0.0.1", 15432),
        PortBinding(9000, "tcp", "0.0.0.0", 9000),
        PortBinding(9000, "tcp", "::", 9000),
    )
    assert str(PortBinding(5432, "tcp", "127.0.0.1", 15432)) == "127.0.0.1:15432->5432/tcp"


def test_container_from_inspect_health() -> None:
    health = {
        "Status": "unhealthy",
        "FailingStreak": 3,
        "Log": [{"ExitCode": 0, "Output": "ok\n"}, {"ExitCode": 1, "Output": "  no response\n\n"}],
    }
    info = container_from_inspect(inspect(health=health, test=["CMD-SHELL", "pg_isready"]))
    assert (info.health, info.has_healthcheck, info.health_output) == (Health.UNHEALTHY, True, "no response")


@pytest.mark.parametrize(
    ("health", "test", "expected"),
    [
        ({"Status": "starting", "Log": []}, ["CMD", "true"], (Health.STARTING, True, None)),
        ({"Status": "healthy", "Log": [{"Output": ""}]}, ["CMD", "true"], (Health.HEALTHY, True, None)),
        ({"Status": "weird"}, ["CMD", "true"], (Health.NONE, True, None)),
        (None, ["NONE"], (Health.NONE, False, None)),
        (None, [], (Health.NONE, False, None)),
    ],
)
def test_container_from_inspect_health_variants(
    health: dict[str, Any] | None, test: list[str], expected: tuple[Health, bool, str | None]
) -> None:
    info = container_from_inspect(inspect(health=health, test=test))
    assert (info.health, info.has_healthcheck, info.health_output) == expected


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [("exited", 137, 137), ("exited", 0, 0), ("dead", 1, 1), ("running", 0, None), ("created", 0, None)],
)
def test_container_from_inspect_exit_code_only_when_stopped(status: str, code: int, expected: int | None) -> None:
    assert container_from_inspect(inspect(status=status, exit_code=code)).exit_code == expected


@pytest.mark.parametrize(
    ("status", "started", "expected"),
    [
        ("running", "2024-01-02T03:04:05.123456789Z", EPOCH_123456),
        ("restarting", "2024-01-02T03:04:05.123456789Z", EPOCH_123456),
        ("paused", "2024-01-02T03:04:05.123456789Z", EPOCH_123456),
        ("exited", "2024-01-02T03:04:05.123456789Z", None),  # not running: no uptime
        ("running", "0001-01-01T00:00:00Z", None),  # Go's zero time
        ("created", "0001-01-01T00:00:00Z", None),
    ],
)
def test_container_from_inspect_started_at(status: str, started: str, expected: float | None) -> None:
    assert container_from_inspect(inspect(status=status, started=started)).started_at == expected


def test_container_from_inspect_minimal_document() -> None:
    info = container_from_inspect({"Id": "abc"})
    assert (info.id, info.name, info.service, info.number, info.state) == ("abc", "", "", 1, "created")
    assert (info.restart_policy, info.exit_code, info.started_at, info.ports) == ("no", None, None, ())
    assert container_from_inspect(inspect(restart=None)).restart_policy == "no"
    assert container_from_inspect(inspect(restart="")).restart_policy == "no"


# ------------------------------------------------------------------------------------- _epoch
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-01-02T03:04:05.123456789Z", EPOCH_123456),
        ("2024-01-02T03:04:05.123456Z", EPOCH_123456),
        ("2024-01-02T05:04:05.123456789+02:00", EPOCH_123456),
        ("2024-01-02T03:04:05Z", EPOCH_123456 - 0.123456),
        ("2024-01-02T03:04:05.5Z", EPOCH_123456 - 0.123456 + 0.5),
        ("2024-01-02T03:04:05", EPOCH_123456 - 0.123456),  # no zone: UTC
        ("0001-01-01T00:00:00Z", None),
        ("", None),
        (None, None),
        ("yesterday", None),
    ],
)
def test_epoch(text: str | None, expected: float | None) -> None:
    result = _epoch(text)
    if expected is None:
        assert result is None
    else:
        assert result == pytest.approx(expected, abs=1e-6)


class _Py310DateTime(datetime):
    """``datetime.fromisoformat`` with Python 3.10's rule: a fraction has exactly 3 or 6 digits."""

    @classmethod
    def fromisoformat(cls, date_string: str) -> datetime:  # type: ignore[override]
        import re

        m = re.search(r"T\d\d:\d\d:\d\d(\.\d+)?", date_string)
        if m and m.group(1) and len(m.group(1)) - 1 not in (3, 6):
            raise ValueError(f"Invalid isoformat string: {date_string!r}")
        return datetime.fromisoformat(date_string)


@pytest.mark.parametrize("text", ["2024-01-02T03:04:05Z", "2024-01-02T03:04:05.5Z", "2024-01-02T03:04:05.12345Z"])
def test_epoch_works_with_python_310_fromisoformat(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(containers_module, "datetime", _Py310DateTime)
    assert _epoch(text) is not None


# ----------------------------------------------------------------------------------- aggregate
def ci(
    number: int = 1,
    state: str = "running",
    health: Health = Health.NONE,
    exit_code: int | None = None,
    **kw: Any,
) -> ContainerInfo:
    return ContainerInfo(
        id=f"id{number}",
        name=f"shop-api-{number}",
        service="api",
        number=number,
        state=state,
        health=health,
        exit_code=exit_code,
        **kw,
    )


def test_aggregate_missing_service() -> None:
    s = aggregate("api", [])
    assert (s.service, s.state, s.health, s.ready, s.exit_code, s.detail) == (
        "api",
        "missing",
        Health.NONE,
        False,
        None,
        "not created",
    )


def test_aggregate_worst_container_wins() -> None:
    good = ci(1, ports=(PortBinding(80, "tcp", "0.0.0.0", 8081),), started_at=200.0)
    bad = ci(2, state="exited", exit_code=1)
    good3 = ci(3, ports=(PortBinding(80, "tcp", "0.0.0.0", 8083),), started_at=100.0)
    s = aggregate("api", [good3, bad, good])
    assert (s.state, s.ready, s.exit_code) == ("exited", False, 1)
    assert s.detail == "exited with code 1 (3 containers)"
    assert [c.number for c in s.containers] == [1, 2, 3]
    assert [p.host_port for p in s.ports] == [8083, 8081]
    assert s.started_at == 100.0


def test_aggregate_restarting_is_worse_than_exited() -> None:
    s = aggregate("api", [ci(1, state="exited", exit_code=1), ci(2, state="restarting", restart_count=7)])
    assert (s.state, s.ready, s.detail) == ("restarting", False, "restarting (restarts: 7) (2 containers)")


def test_aggregate_any_unhealthy_container_makes_the_service_unhealthy() -> None:
    s = aggregate(
        "api",
        [ci(1, health=Health.HEALTHY, has_healthcheck=True), ci(2, health=Health.UNHEALTHY, has_healthcheck=True)],
    )
    assert (s.health, s.ready, s.detail) == (Health.UNHEALTHY, False, "unhealthy (2 containers)")


def test_aggregate_all_healthy_is_ready() -> None:
    s = aggregate("api", [ci(1, health=Health.HEALTHY, has_healthcheck=True)])
    assert (s.state, s.health, s.ready, s.detail) == ("running", Health.HEALTHY, True, "healthy")


@pytest.mark.parametrize(
    ("policy", "ready", "detail"),
    [("no", True, "completed"), ("on-failure", True, "completed"), ("always", False, "exited with code 0")],
)
def test_aggregate_completed_one_shot(policy: str, ready: bool, detail: str) -> None:
    s = aggregate("migrate", [ci(state="exited", exit_code=0, restart_policy=policy)])
    assert (s.state, s.ready, s.exit_code, s.detail) == ("exited", ready, 0, detail)


def test_aggregate_created_container_is_not_ready() -> None:
    s = aggregate("api", [ci(1), ci(2, state="created")])
    assert (s.state, s.ready, s.detail) == ("created", False, "created (2 containers)")


def test_aggregate_health_reflects_a_replica_still_starting() -> None:
    s = aggregate(
        "api",
        [ci(1, health=Health.HEALTHY, has_healthcheck=True), ci(2, health=Health.STARTING, has_healthcheck=True)],
    )
    assert s.ready is False
    assert s.health == Health.STARTING


# --------------------------------------------------------------------------- declared_services
def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def compose_files(tmp_path: Path) -> list[Path]:
    base = write(
        tmp_path / "compose.yml",
        "services:\n  db:\n    image: postgres\n  api:\n    image: api\n"
        "  debugger:\n    image: debug\n    profiles: [debug]\n",
    )
    broken = write(tmp_path / "compose.broken.yml", "services:\n  x: [unclosed\n")
    listy = write(tmp_path / "compose.list.yml", "- just\n- a list\n")
    override = write(
        tmp_path / "compose.override.yml",
        "services:\n  api:\n    ports: ['8000:8000']\n  worker:\n    image: api\n"
        "  mon:\n    image: grafana\n    profiles: [ops, full]\n",
    )
    empty = write(tmp_path / "compose.empty.yml", "")
    return [base, broken, tmp_path / "missing.yml", listy, override, empty]


def test_declared_services_union_in_order_without_profiles(
    compose_files: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("COMPOSE_PROFILES", raising=False)
    assert declared_services(compose_files) == ["db", "api", "worker"]


def test_declared_services_compose_profiles_enable_gated_services(
    compose_files: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COMPOSE_PROFILES", " full , debug")
    assert declared_services(compose_files) == ["db", "api", "debugger", "worker", "mon"]
    monkeypatch.setenv("COMPOSE_PROFILES", "ops")
    assert declared_services(compose_files) == ["db", "api", "worker", "mon"]


def test_declared_services_tolerates_only_broken_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COMPOSE_PROFILES", raising=False)
    bad = write(tmp_path / "bad.yml", "services: {a: [\n")
    latin = tmp_path / "latin.yml"
    latin.write_bytes(b"services:\n  caf\xe9: {}\n")
    no_services = write(tmp_path / "x.yml", "services: [a, b]\n")
    assert declared_services([bad, latin, no_services, tmp_path]) == []


def test_declared_services_empty_profiles_list_is_not_gated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COMPOSE_PROFILES", raising=False)
    f = write(tmp_path / "compose.yml", "services:\n  db:\n    image: postgres\n    profiles: []\n")
    assert declared_services([f]) == ["db"]


def test_declared_services_wildcard_profile_enables_all(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMPOSE_PROFILES", "*")
    f = write(tmp_path / "compose.yml", "services:\n  db: {}\n  dbg:\n    profiles: [debug]\n")
    assert declared_services([f]) == ["db", "dbg"]


# ----------------------------------------------------------------------- parse_port_conflict
@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (
            "driver failed programming external connectivity on endpoint shop-web-1 (3f2a): "
            "Bind for 127.0.0.1:8000 failed: port is already allocated",
            ("127.0.0.1", 8000),
        ),
        ("Bind for 0.0.0.0:8000 failed: port is already allocated", ("0.0.0.0", 8000)),
        (
            "driver failed programming external connectivity on endpoint shop-db-1 (9c1d): Error starting userland "
            "proxy: listen tcp4 0.0.0.0:5432: bind: address already in use",
            ("0.0.0.0", 5432),
        ),
        ("Error starting userland proxy: listen tcp 127.0.0.1:6379: bind: address already in use", ("127.0.0.1", 6379)),
        ("Error starting userland proxy: listen tcp6 [::]:5432: bind: address already in use", ("::", 5432)),
        ("Bind for [::1]:8080 failed: port is already allocated", ("::1", 8080)),
        ("Bind for :::8000 failed: port is already allocated", ("::", 8000)),
        (
            "failed to set up container networking: driver failed programming external connectivity on endpoint "
            "x (abc): failed to bind host port for 0.0.0.0:8000:172.18.0.2:80/tcp: address already in use",
            ("0.0.0.0", 8000),
        ),
        ("port is already allocated", None),
        ("Bind for 127.0.0.1:8000 failed: no space left on device", None),
        ('error mounting "/a" to rootfs at "/b": not a directory', None),
    ],
)
def test_parse_port_conflict(message: str, expected: tuple[str, int] | None) -> None:
    assert parse_port_conflict(message) == expected


# ------------------------------------------------------------------------------ logs helpers
@pytest.mark.parametrize(
    ("chunks", "expected"),
    [
        ([b"hel", b"lo\nwor", b"ld\r\n", b"", b"tail"], ["hello", "world", "tail"]),
        ([b"one\ntwo\n"], ["one", "two"]),
        ([b"a\n\nb\n"], ["a", "", "b"]),
        ([b"caf\xc3", b"\xa9 au lait\n"], ["café au lait"]),  # a UTF-8 character split over chunks
        ([b"x" * 16384, b"x" * 100 + b"\n"], ["x" * 16484]),  # the engine splits long lines at 16 KiB
        ([b"bad \xff byte\n"], ["bad \ufffd byte"]),
        ([], []),
        ([b"", b""], []),
    ],
)
def test_lines_reassembles_chunks(chunks: list[bytes], expected: list[str]) -> None:
    assert list(_lines(chunks)) == expected


def test_lines_is_lazy() -> None:
    def chunks() -> Any:
        yield b"first\nsec"
        raise AssertionError("read past the first complete line")

    assert next(iter(_lines(chunks()))) == "first"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2024-01-02T03:04:05.123456789Z hello world", ("2024-01-02T03:04:05.123456789Z", "hello world")),
        ("2024-01-02T03:04:05.123456789Z ", ("2024-01-02T03:04:05.123456789Z", "")),
        ("2024-01-02T03:04:05Z  indented", ("2024-01-02T03:04:05Z", " indented")),
        ("hello world", ("", "hello world")),
        ("2024-01-02 not a stamp", ("", "2024-01-02 not a stamp")),
        ("", ("", "")),
    ],
)
def test_split_timestamp(raw: str, expected: tuple[str, str]) -> None:
    assert split_timestamp(raw) == expected
