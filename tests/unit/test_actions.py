"""Per-service actions without Docker: which services, in which order, parsing, and stop() on a fake engine."""

from __future__ import annotations

import io
import queue
import threading
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from devenv.cli.action_cmds import ActionRenderer
from devenv.cli.main import build_parser, main
from devenv.cli.output import Output
from devenv.core import actions
from devenv.core.compose.model import ComposeModel
from devenv.core.events import ActionStarted, Event, ServiceStopped, StepStarted
from devenv.core.models import ContainerInfo, Health, ServiceStatus
from devenv.errors import DevenvError, UnknownServiceError

# db <- api (service_healthy); db <- follower (restart: true); follower <- tail (restart: true);
# api <- web (restart: true); extra alone.
CONFIG: dict[str, Any] = {
    "name": "shop",
    "services": {
        "db": {"healthcheck": {"test": ["CMD", "true"]}},
        "api": {"depends_on": {"db": {"condition": "service_healthy"}}},
        "follower": {"depends_on": {"db": {"condition": "service_started", "restart": True}}},
        "tail": {"depends_on": {"follower": {"condition": "service_started", "restart": True}}},
        "web": {"depends_on": {"api": {"condition": "service_started", "restart": True}}},
        "extra": {},
    },
}


@pytest.fixture()
def model() -> ComposeModel:
    return ComposeModel.from_json(CONFIG)


# ------------------------------------------------------------------------------ service selection
def test_isolated_keeps_only_dependencies_inside_the_set(model: ComposeModel) -> None:
    cut = model.isolated(["api", "web"])
    assert cut.services["api"].depends_on == ()
    assert [d.service for d in cut.services["web"].depends_on] == ["api"]
    assert cut.services["follower"] == model.services["follower"]  # outside the set: unchanged
    assert model.services["api"].depends_on  # the original is untouched


def test_restart_targets_follow_restart_true_dependents_transitively(model: ComposeModel) -> None:
    assert actions.restart_targets(model, ["db"]) == ["db", "follower", "tail"]  # not api: no restart: true
    assert actions.restart_targets(model, ["api"]) == ["api", "web"]
    assert actions.restart_targets(model, ["db"], no_deps=True) == ["db"]
    assert actions.restart_targets(model, ["extra"]) == ["extra"]
    assert set(actions.restart_targets(model, [])) == set(model.services)


def test_stop_levels_put_dependents_first(model: ComposeModel) -> None:
    assert actions.stop_levels(model, ["db", "api", "web"]) == [["web"], ["api"], ["db"]]
    waves = actions.stop_levels(model, list(model.services))
    position = {s: i for i, wave in enumerate(waves) for s in wave}
    for name, spec in model.services.items():
        for dep in spec.depends_on:
            assert position[name] < position[dep.service], waves
    # Dependents outside the set do not hold a service back; a chain through them still orders it.
    assert actions.stop_levels(model, ["db", "tail"]) == [["tail"], ["db"]]
    assert [sorted(w) for w in actions.stop_levels(model, ["extra", "db"])] == [["db", "extra"]]


# ----------------------------------------------------------------------------------- a fake engine
def inspect_doc(cid: str, service: str, *, running: bool, stop_timeout: int | None = None) -> dict[str, Any]:
    return {
        "Id": cid,
        "Name": f"/shop-{service}-1",
        "Config": {
            "Labels": {
                "com.docker.compose.project": "shop",
                "com.docker.compose.service": service,
                "com.docker.compose.container-number": "1",
            },
            "StopTimeout": stop_timeout,
        },
        "State": {
            "Status": "running" if running else "exited",
            "Running": running,
            "ExitCode": 0,
            "StartedAt": "2026-01-01T00:00:00Z",
        },
    }


class FakeApi:
    """The docker-py calls stop() makes; ``stop`` ends a container and sends die + stop events."""

    def __init__(self, docs: list[dict[str, Any]]) -> None:
        self.docs = {d["Id"]: d for d in docs}
        self.stops: list[tuple[str, int]] = []
        self.events_q: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.lock = threading.Lock()

    def events(self, decode: bool, filters: dict[str, Any]) -> Iterator[dict[str, Any]]:
        def read() -> Iterator[dict[str, Any]]:
            while (item := self.events_q.get()) is not None:
                yield item

        return read()

    def containers(self, all: bool, filters: dict[str, Any]) -> list[dict[str, Any]]:
        return [{"Id": cid, "Labels": d["Config"]["Labels"]} for cid, d in self.docs.items()]

    def inspect_container(self, cid: str) -> dict[str, Any]:
        return self.docs[cid]

    def stop(self, cid: str, timeout: int) -> None:
        with self.lock:
            self.stops.append((cid, timeout))
            state = self.docs[cid]["State"]
            state.update(Status="exited", Running=False, ExitCode=143)
            for action in ("kill", "die", "stop"):
                self.events_q.put({"Action": action, "Actor": {"ID": cid, "Attributes": {}}})


class FakeStack:
    def __init__(self, api: FakeApi, model: ComposeModel) -> None:
        self.api = api
        self.model = model
        self.name = "shop"
        self.profile = SimpleNamespace(name="dev")

    def status(self, services: list[str]) -> list[ServiceStatus]:
        return [ServiceStatus(s, "exited", Health.NONE, False, 143) for s in services]

    def containers(self) -> list[ContainerInfo]:
        return []

    def enable_services(self, names: list[str]) -> list[str]:
        return []  # every service of these tests is enabled


def test_stop_stops_dependents_first_with_the_given_or_configured_timeout(model: ComposeModel) -> None:
    api = FakeApi(
        [
            inspect_doc("c-db", "db", running=True, stop_timeout=30),
            inspect_doc("c-api", "api", running=True),
            inspect_doc("c-web", "web", running=True),
            inspect_doc("c-extra", "extra", running=False),
        ]
    )
    events: list[Event] = []
    result = actions.stop(FakeStack(api, model), ["db", "api", "web", "extra"], emit=events.append)  # type: ignore[arg-type]
    assert result.ok and result.outcome == "stopped", result
    assert api.stops == [("c-web", 10), ("c-api", 10), ("c-db", 30)]  # extra was not running
    stopped = [e.status.service for e in events if isinstance(e, ServiceStopped)]
    assert stopped.index("web") < stopped.index("api") < stopped.index("db")
    assert events[0] == ActionStarted("stop", ("db", "api", "web", "extra"))

    api2 = FakeApi([inspect_doc("c-db", "db", running=True, stop_timeout=30)])
    actions.stop(FakeStack(api2, model), ["db"], timeout=0)  # type: ignore[arg-type]
    assert api2.stops == [("c-db", 0)]


def test_stop_reports_a_failed_stop_call(model: ComposeModel) -> None:
    api = FakeApi([inspect_doc("c-db", "db", running=True)])

    def refuse(cid: str, timeout: int) -> None:
        raise RuntimeError("cannot stop container: permission denied")

    api.stop = refuse  # type: ignore[method-assign]
    result = actions.stop(FakeStack(api, model), ["db"])  # type: ignore[arg-type]
    assert result.outcome == "failed" and not result.ok
    assert result.failures[0].service == "db"
    assert "permission denied" in result.failures[0].reason


def test_unknown_service_fails_before_anything_happens(model: ComposeModel) -> None:
    api = FakeApi([inspect_doc("c-db", "db", running=True)])
    for verb in (actions.start, actions.stop, actions.restart):
        with pytest.raises(UnknownServiceError, match='Did you mean "follower"'):
            verb(FakeStack(api, model), ["folower"])  # type: ignore[operator]
    assert api.stops == []


def test_start_without_containers_names_them_and_points_to_up(model: ComposeModel) -> None:
    with pytest.raises(DevenvError) as info:
        actions.start(FakeStack(FakeApi([]), model), ["api"])  # type: ignore[arg-type]
    assert "no container for db, api" in info.value.message
    assert info.value.hint is not None and "devenv up api" in info.value.hint


# ---------------------------------------------------------------------------------------- parsing
def test_parse_restart_flags() -> None:
    args = build_parser().parse_args(["restart", "api", "web", "-t", "5", "--wait-timeout", "30", "--no-deps"])
    assert (args.command, args.services, args.stop_timeout, args.wait_timeout, args.no_deps) == (
        "restart",
        ["api", "web"],
        5,
        30.0,
        True,
    )
    args = build_parser().parse_args(["stop"])
    assert (args.services, args.stop_timeout) == ([], None)
    args = build_parser().parse_args(["start", "db", "--json"])
    assert (args.services, args.wait_timeout, args.json) == (["db"], None, True)
    for verb in ("recreate", "rebuild"):
        args = build_parser().parse_args([verb, "api", "--timeout", "3"])
        assert (args.services, args.stop_timeout) == (["api"], 3)


def test_parse_up_compose_flags() -> None:
    args = build_parser().parse_args(["up", "api", "--build", "--force-recreate", "--no-deps", "--wait-timeout", "9"])
    flags = (args.services, args.build, args.force_recreate, args.no_deps, args.timeout)
    assert flags == (["api"], True, True, True, 9)
    args = build_parser().parse_args(["up"])
    assert (args.force_recreate, args.no_deps) == (False, False)


@pytest.mark.parametrize(
    "argv",
    [
        ["stop", "--wait-timeout", "5"],  # stop does not wait for readiness
        ["start", "-t", "5"],  # start stops nothing
        ["stop", "-t", "-1"],
        ["stop", "-t", "1.5"],  # whole seconds, as Compose
        ["restart", "--wait-timeout", "0"],
        ["recreate", "--no-deps"],  # recreate never touches dependencies anyway
    ],
)
def test_bad_action_arguments_are_usage_errors(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert "devenv: error:" in capsys.readouterr().err


def test_every_action_argument_has_help() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for verb in ("start", "stop", "restart", "recreate", "rebuild", "up"):
        p = sub.choices[verb]  # type: ignore[index]
        assert p.description or verb == "up"
        for action in p._actions:
            assert action.help, f"{verb} {action.option_strings or action.dest} has no help"


# -------------------------------------------------------------------------------------- rendering
def test_action_renderer_prints_stopped_services_and_the_steps() -> None:
    out = Output(color=False)
    out.out, out.err = io.StringIO(), io.StringIO()
    renderer = ActionRenderer(out, live=False)
    renderer(ActionStarted("restart", ("db",)))
    renderer(StepStarted("stop", "db"))
    renderer(ServiceStopped(ServiceStatus("db", "exited", Health.UNHEALTHY, False, 143), 0.4))
    renderer(StepStarted("wait", "db"))
    renderer.close()
    lines = [line.split("] ", 1)[1] for line in out.err.getvalue().splitlines()]
    assert lines == ["■ db           exited (143)", "wait: db"]
