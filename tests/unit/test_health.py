"""The readiness engine (``devenv.core.waiter.Waiter``) driven by a scripted fake Docker engine.

No Docker here: ``FakeDocker`` answers the few APIClient calls the waiter makes (list, inspect,
start, logs) from in-memory containers, and turns every state change into the event dict the
Engine's ``/events`` stream would deliver, pushed into the queue the waiter blocks on.
"""

from __future__ import annotations

import hashlib
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, cast

import pytest

from devenv.core.compose.model import ComposeModel
from devenv.core.events import Event, ServiceChanged, ServiceFailed, ServiceReady, WaitFinished
from devenv.core.models import Failure, Health, Readiness, UpResult
from devenv.core.stack import Stack
from devenv.core.waiter import Waiter

PROJECT = "shop"
PG_HEALTHCHECK = ["CMD-SHELL", "pg_isready -U app"]


# ------------------------------------------------------------------------------------ the fakes
@dataclass
class Step:
    """One scripted engine transition, ``delay`` seconds after the previous one."""

    delay: float
    action: str  # "die", "start", "health_status: healthy", ...
    exit_code: int = 0  # for "die"
    health_output: str | None = None  # appended to State.Health.Log with a health_status


@dataclass
class FakeContainer:
    service: str
    number: int = 1
    healthcheck: list[str] | None = None
    restart: str = "no"
    status: str = "created"
    exit_code: int = 0
    health: str | None = None  # State.Health.Status once started (only with a healthcheck)
    health_log: list[str] = field(default_factory=list)
    restart_count: int = 0
    max_retries: int = 0  # on-failure:N
    started_at: str = "0001-01-01T00:00:00Z"
    ports: dict[str, list[dict[str, str]] | None] = field(default_factory=dict)
    after_start: list[Step] = field(default_factory=list)  # played after every successful start
    start_error: Exception | None = None
    logs: bytes = b""
    oneoff: bool = False

    @property
    def name(self) -> str:
        return f"{PROJECT}-{self.service}-{'run-1' if self.oneoff else self.number}"

    @property
    def id(self) -> str:
        return hashlib.sha256(self.name.encode()).hexdigest()

    @property
    def labels(self) -> dict[str, str]:
        return {
            "com.docker.compose.project": PROJECT,
            "com.docker.compose.service": self.service,
            "com.docker.compose.container-number": str(self.number),
            "com.docker.compose.oneoff": "True" if self.oneoff else "False",
            "com.docker.compose.config-hash": "0" * 64,
        }

    def inspect(self) -> dict[str, Any]:
        config: dict[str, Any] = {"Image": f"{self.service}:dev", "Labels": dict(self.labels)}
        state: dict[str, Any] = {
            "Status": self.status,
            "Running": self.status == "running",
            "Restarting": self.status == "restarting",
            "OOMKilled": False,
            "Dead": False,
            "Pid": 4242 if self.status == "running" else 0,
            "ExitCode": self.exit_code,
            "Error": "",
            "StartedAt": self.started_at,
            "FinishedAt": "0001-01-01T00:00:00Z",
        }
        if self.healthcheck is not None:
            config["Healthcheck"] = {"Test": list(self.healthcheck), "Interval": 1_000_000_000, "Retries": 3}
            if self.health is not None:
                state["Health"] = {
                    "Status": self.health,
                    "FailingStreak": 0,
                    "Log": [
                        {
                            "Start": "2024-05-01T10:00:00.1Z",
                            "End": "2024-05-01T10:00:00.2Z",
                            "ExitCode": 0 if self.health == "healthy" else 1,
                            "Output": out,
                        }
                        for out in self.health_log
                    ],
                }
        running = self.status in ("running", "restarting", "paused")
        return {
            "Id": self.id,
            "Created": "2024-05-01T10:00:00.000000001Z",
            "Name": "/" + self.name,
            "RestartCount": self.restart_count,
            "Config": config,
            "State": state,
            "HostConfig": {"RestartPolicy": {"Name": self.restart, "MaximumRetryCount": self.max_retries}},
            "NetworkSettings": {"Ports": dict(self.ports) if running else {}},
        }


class FakeAPIError(Exception):
    """Shaped like docker.errors.APIError: ``explanation`` carries the engine's message."""

    def __init__(self, explanation: str) -> None:
        super().__init__(f"500 Server Error: Internal Server Error ({explanation})")
        self.explanation = explanation


class FakeDocker:
    """The docker.APIClient calls the waiter makes, against scripted in-memory containers."""

    base_url = "http+docker://fake"

    def __init__(self, *containers: FakeContainer, foreign: list[dict[str, Any]] | None = None) -> None:
        self.queue: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.by_id = {c.id: c for c in containers}
        self.foreign = foreign or []  # other projects' running containers (docker ps)
        self.lock = threading.Lock()
        self.closed = threading.Event()
        self.start_calls: list[tuple[str, float]] = []  # (service, monotonic time of the call)
        self.pushed: list[tuple[str, str, float]] = []  # (service, action, monotonic time)
        self.inspected: list[str] = []

    # -- docker.APIClient surface -----------------------------------------------------------------
    def containers(self, all: bool = False, filters: dict[str, Any] | None = None, **_: Any) -> list[dict[str, Any]]:
        if filters is None:
            return list(self.foreign)
        assert filters == {"label": [f"com.docker.compose.project={PROJECT}"]}
        return [
            {
                "Id": c.id,
                "Names": ["/" + c.name],
                "Image": f"{c.service}:dev",
                "Labels": dict(c.labels),
                "State": c.status,
                "Ports": [],
            }
            for c in self.by_id.values()
            if all or c.status == "running"
        ]

    def inspect_container(self, cid: str) -> dict[str, Any]:
        c = self.by_id.get(cid)
        if c is None:
            raise FakeAPIError(f"No such container: {cid}")
        with self.lock:
            self.inspected.append(c.service)
            return c.inspect()

    def start(self, cid: str) -> None:
        c = self.by_id[cid]
        with self.lock:
            self.start_calls.append((c.service, time.monotonic()))
        if c.start_error is not None:
            raise c.start_error
        self.apply(c, Step(0, "start"))
        if c.after_start:
            threading.Thread(target=self._play, args=(c, list(c.after_start)), daemon=True).start()

    def logs(self, cid: str, stdout: bool = True, stderr: bool = True, tail: Any = "all", **_: Any) -> bytes:
        lines = self.by_id[cid].logs.splitlines(keepends=True)
        return b"".join(lines if tail == "all" else lines[-int(tail) :])

    # -- the engine's side ------------------------------------------------------------------------
    def _play(self, c: FakeContainer, steps: list[Step]) -> None:
        for step in steps:
            if self.closed.wait(step.delay):
                return
            self.apply(c, step)

    def apply(self, c: FakeContainer, step: Step) -> None:
        """Change the container's state as the engine would, then publish the event."""
        attrs: dict[str, str] = {}
        with self.lock:
            if step.action == "start":
                c.status = "running"
                c.exit_code = 0
                c.started_at = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + ".123456789Z"
                if c.healthcheck is not None:
                    c.health = "starting"
            elif step.action == "die":
                c.status = "exited"
                c.exit_code = step.exit_code
                attrs["exitCode"] = str(step.exit_code)
            elif step.action.startswith("health_status: "):
                c.health = step.action.split(": ", 1)[1]
                if step.health_output is not None:
                    c.health_log.append(step.health_output)
            self.pushed.append((c.service, step.action, time.monotonic()))
        self.push(c, step.action, attrs)

    def push(self, c: FakeContainer, action: str, extra: dict[str, str] | None = None) -> None:
        now = time.time()
        self.queue.put(
            (
                "event",
                {
                    "status": action,
                    "id": c.id,
                    "from": f"{c.service}:dev",
                    "Type": "container",
                    "Action": action,
                    "Actor": {
                        "ID": c.id,
                        "Attributes": {**c.labels, "image": f"{c.service}:dev", "name": c.name, **(extra or {})},
                    },
                    "scope": "local",
                    "time": int(now),
                    "timeNano": int(now * 1e9),
                },
            )
        )

    # -- helpers for assertions -------------------------------------------------------------------
    def started(self) -> list[str]:
        return [service for service, _ in self.start_calls]

    def start_time(self, service: str) -> float:
        return next(t for s, t in self.start_calls if s == service)

    def push_time(self, service: str, action: str) -> float:
        return next(t for s, a, t in self.pushed if s == service and a == action)


class FakeStream:
    """What ``Waiter.run`` needs of an ``EventStream``: the shared queue and ``drain()``."""

    def __init__(self, q: queue.Queue[tuple[str, Any]]) -> None:
        self.queue = q
        self.drained: list[tuple[str, Any]] = []

    def drain(self) -> list[tuple[str, Any]]:
        while True:
            try:
                self.drained.append(self.queue.get_nowait())
            except queue.Empty:
                return self.drained


class Recorder:
    """The ``emit`` callback: every progress event with the monotonic time it arrived."""

    def __init__(self) -> None:
        self.items: list[tuple[float, Event]] = []

    def __call__(self, event: Event) -> None:
        self.items.append((time.monotonic(), event))

    @property
    def events(self) -> list[Event]:
        return [e for _, e in self.items]

    def changes(self, service: str) -> list[Readiness]:
        """The readiness sequence of one service's ServiceChanged events, repeats collapsed."""
        out: list[Readiness] = []
        for e in self.events:
            if isinstance(e, ServiceChanged) and e.status.service == service and (not out or out[-1] != e.readiness):
                out.append(e.readiness)
        return out

    def ready_at(self, service: str) -> float:
        return next(t for t, e in self.items if isinstance(e, ServiceReady) and e.service == service)

    def ready(self, service: str) -> list[ServiceReady]:
        return [e for e in self.events if isinstance(e, ServiceReady) and e.service == service]


# ------------------------------------------------------------------------------------- helpers
def compose(services: dict[str, dict[str, Any]]) -> ComposeModel:
    """A model as ``docker compose config --format json`` would describe these services."""
    data: dict[str, Any] = {"name": PROJECT, "services": {}}
    for name, svc in services.items():
        full: dict[str, Any] = {"image": f"{name}:dev", "networks": {"default": None}, **svc}
        full["depends_on"] = {
            dep: {"condition": cond, "required": True, "restart": False}
            for dep, cond in (svc.get("depends_on") or {}).items()
        }
        if not full["depends_on"]:
            del full["depends_on"]
        data["services"][name] = full
    return ComposeModel.from_json(data)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def fakes() -> Iterator[list[FakeDocker]]:
    made: list[FakeDocker] = []
    yield made
    for f in made:
        f.closed.set()  # stop scripted event threads


def run_wait(
    fake: FakeDocker,
    model: ComposeModel,
    emit: Recorder,
    *,
    timeout: float = 2.0,
    settle: float = 0.05,
    targets: list[str] | None = None,
    with_logs: bool = True,
) -> UpResult:
    stack = Stack(cast(Any, None), cast(Any, None), api=cast(Any, fake))
    waiter = Waiter(
        api=cast(Any, fake),
        project=PROJECT,
        profile="dev",
        model=model,
        targets=targets or model.closure(list(model.services)),
        emit=emit,
        timeout=timeout,
        settle=settle,
        logs_tail=stack.logs_tail if with_logs else None,
    )
    return waiter.run(cast(Any, FakeStream(fake.queue)))


def only_failure(result: UpResult) -> Failure:
    assert len(result.failures) == 1, result.failures
    return result.failures[0]


# ---------------------------------------------------------------------------- dependency order
def test_service_healthy_dependency_starts_dependent_right_after_healthy_event(
    recorder: Recorder, fakes: list[FakeDocker]
) -> None:
    db = FakeContainer(
        "db",
        healthcheck=PG_HEALTHCHECK,
        restart="always",
        after_start=[Step(0.15, "health_status: healthy", health_output="accepting connections")],
    )
    api = FakeContainer("api")
    fake = FakeDocker(db, api)
    fakes.append(fake)
    model = compose({"db": {"healthcheck": {"test": PG_HEALTHCHECK}}, "api": {"depends_on": {"db": "service_healthy"}}})

    result = run_wait(fake, model, recorder)

    assert result.outcome == "ready" and result.ok
    assert fake.started() == ["db", "api"]
    healthy_at = fake.push_time("db", "health_status: healthy")
    api_started = fake.start_time("api")
    assert api_started >= healthy_at  # not before its condition held
    assert api_started - healthy_at < 0.2  # and within milliseconds after, not a 500 ms poll
    assert api_started - fake.start_time("db") >= 0.15
    assert [r.how for r in recorder.ready("db")] == ["healthy"]
    assert [r.how for r in recorder.ready("api")] == ["running"]
    assert {s.service: (s.state, s.health, s.ready) for s in result.services} == {
        "db": ("running", Health.HEALTHY, True),
        "api": ("running", Health.NONE, True),
    }


def test_pending_dependent_reports_what_it_waits_for(recorder: Recorder, fakes: list[FakeDocker]) -> None:
    db = FakeContainer("db", healthcheck=PG_HEALTHCHECK, after_start=[Step(0.1, "health_status: healthy")])
    fake = FakeDocker(db, FakeContainer("api"))
    fakes.append(fake)
    model = compose({"db": {"healthcheck": {"test": PG_HEALTHCHECK}}, "api": {"depends_on": {"db": "service_healthy"}}})

    run_wait(fake, model, recorder)

    api_changes = [e for e in recorder.events if isinstance(e, ServiceChanged) and e.status.service == "api"]
    assert api_changes[0].readiness == Readiness.PENDING
    assert api_changes[0].note == "waiting for db (healthy)"
    db_waiting = [
        e
        for e in recorder.events
        if isinstance(e, ServiceChanged) and e.status.service == "db" and e.readiness == Readiness.WAITING
    ]
    assert db_waiting and db_waiting[0].note == "health: starting"
    assert db_waiting[0].status.health == Health.STARTING


def test_service_completed_successfully_waits_for_exit_zero(recorder: Recorder, fakes: list[FakeDocker]) -> None:
    migrate = FakeContainer("migrate", after_start=[Step(0.15, "die", exit_code=0)])
    api = FakeContainer("api")
    fake = FakeDocker(migrate, api)
    fakes.append(fake)
    model = compose({"migrate": {}, "api": {"depends_on": {"migrate": "service_completed_successfully"}}})

    # settle (0.05 s) passes while migrate still runs: "running" is not "completed successfully".
    result = run_wait(fake, model, recorder, settle=0.05)

    assert result.outcome == "ready"
    assert fake.started() == ["migrate", "api"]
    died_at = fake.push_time("migrate", "die")
    assert fake.start_time("api") >= died_at
    assert fake.start_time("api") - died_at < 0.2
    assert recorder.ready("migrate")[-1].how == "completed"
    migrate_status = next(s for s in result.services if s.service == "migrate")
    assert (migrate_status.state, migrate_status.exit_code, migrate_status.ready) == ("exited", 0, True)
    assert migrate_status.detail == "completed"


def test_service_completed_successfully_never_starts_dependent_after_failure(
    recorder: Recorder, fakes: list[FakeDocker]
) -> None:
    migrate = FakeContainer("migrate", after_start=[Step(0.05, "die", exit_code=1)])
    fake = FakeDocker(migrate, FakeContainer("api"))
    fakes.append(fake)
    model = compose({"migrate": {}, "api": {"depends_on": {"migrate": "service_completed_successfully"}}})

    result = run_wait(fake, model, recorder)

    assert result.outcome == "failed"
    assert fake.started() == ["migrate"]
    failure = only_failure(result)
    assert (failure.service, failure.reason, failure.exit_code) == ("migrate", "exited with code 1", 1)


def test_service_started_dependency_does_not_wait_for_settle(recorder: Recorder, fakes: list[FakeDocker]) -> None:
    fake = FakeDocker(FakeContainer("redis"), FakeContainer("worker"))
    fakes.append(fake)
    model = compose({"redis": {}, "worker": {"depends_on": {"redis": "service_started"}}})

    result = run_wait(fake, model, recorder, settle=0.3)

    assert result.outcome == "ready"
    assert fake.started() == ["redis", "worker"]
    redis_started = fake.push_time("redis", "start")
    assert redis_started <= fake.start_time("worker") < redis_started + 0.2  # well inside redis's settle
    assert fake.start_time("worker") < recorder.ready_at("redis")


def test_independent_services_start_together_and_replicas_all_start(
    recorder: Recorder, fakes: list[FakeDocker]
) -> None:
    fake = FakeDocker(FakeContainer("web", number=1), FakeContainer("web", number=2), FakeContainer("cache"))
    fakes.append(fake)
    model = compose({"web": {"deploy": {"replicas": 2}}, "cache": {}})

    result = run_wait(fake, model, recorder)

    assert result.outcome == "ready"
    assert sorted(fake.started()) == ["cache", "web", "web"]
    web = next(s for s in result.services if s.service == "web")
    assert [c.number for c in web.containers] == [1, 2]
    assert web.detail == "running"


# ---------------------------------------------------------------------------------- healthchecks
def test_healthcheck_ready_only_on_healthy_event(recorder: Recorder, fakes: list[FakeDocker]) -> None:
    db = FakeContainer("db", healthcheck=PG_HEALTHCHECK, after_start=[Step(0.1, "health_status: healthy")])
    fake = FakeDocker(db)
    fakes.append(fake)

    result = run_wait(fake, compose({"db": {"healthcheck": {"test": PG_HEALTHCHECK}}}), recorder, settle=0.0)

    assert result.outcome == "ready"
    assert recorder.changes("db") == [Readiness.PENDING, Readiness.WAITING, Readiness.READY]
    assert recorder.ready_at("db") >= fake.push_time("db", "health_status: healthy")
    assert result.services[0].health == Health.HEALTHY


def test_unhealthy_fails_fast_with_healthcheck_output_and_logs(recorder: Recorder, fakes: list[FakeDocker]) -> None:
    db = FakeContainer(
        "db",
        healthcheck=PG_HEALTHCHECK,
        after_start=[Step(0.05, "health_status: unhealthy", health_output="/var/run/postgresql:5432 - no response\n")],
        logs=b"".join(f"log line {i}\n".encode() for i in range(30)) + b'FATAL:  role "app" does not exist\n',
    )
    fake = FakeDocker(db)
    fakes.append(fake)

    t0 = time.monotonic()
    result = run_wait(fake, compose({"db": {"healthcheck": {"test": PG_HEALTHCHECK}}}), recorder, timeout=5.0)

    assert time.monotonic() - t0 < 1.0  # "fails at once", nowhere near the 5 s timeout
    assert result.outcome == "failed" and not result.ok
    failure = only_failure(result)
    assert failure.service == "db"
    assert "unhealthy" in failure.reason
    assert failure.health == Health.UNHEALTHY
    assert failure.state == "running"
    assert failure.health_output == "/var/run/postgresql:5432 - no response"
    assert len(failure.logs) == 20
    assert failure.logs[-1] == 'FATAL:  role "app" does not exist'
    assert failure.logs[0] == "log line 11"


def test_failure_diagnostics_mask_the_secrets_of_the_compose_config(
    recorder: Recorder, fakes: list[FakeDocker]
) -> None:
    hc = ["CMD-SHELL", "PGPASSWORD=hc-secret-77 pg_isready"]
    db = FakeContainer(
        "db",
        healthcheck=hc,
        after_start=[Step(0.05, "health_status: unhealthy", health_output="auth failed for pw-secret-42\n")],
        logs=b"connecting with password pw-secret-42\nurl postgres://app:pw-secret-42@db/x\n--token=abc\n",
    )
    fake = FakeDocker(db)
    fakes.append(fake)
    model = compose({"db": {"environment": {"DB_PASS": "pw-secret-42"}, "healthcheck": {"test": hc}}})

    result = run_wait(fake, model, recorder, timeout=5.0)

    failure = only_failure(result)
    assert failure.health_output == "auth failed for ********"
    assert failure.logs == ("connecting with password ********", "url postgres://app:********@db/x", "--token=********")
    everything = repr(result) + repr(recorder.events)
    assert "pw-secret-42" not in everything and "hc-secret-77" not in everything


def test_start_errors_mask_secrets(recorder: Recorder, fakes: list[FakeDocker]) -> None:
    web = FakeContainer("web", start_error=FakeAPIError('exec: "--password=pw-secret-42": not found'))
    fake = FakeDocker(web)
    fakes.append(fake)

    result = run_wait(fake, compose({"web": {"environment": {"DB_PASS": "pw-secret-42"}}}), recorder)

    assert only_failure(result).reason == 'failed to start: exec: "--password=********": not found'
    assert "pw-secret-42" not in repr(result) + repr(recorder.events)


def test_already_healthy_container_is_not_restarted(recorder: Recorder, fakes: list[FakeDocker]) -> None:
    db = FakeContainer(
        "db",
        healthcheck=PG_HEALTHCHECK,
        status="running",
        health="healthy",
        health_log=["ok"],
        started_at="2024-05-01T10:00:00.5Z",
    )
    fake = FakeDocker(db)
    fakes.append(fake)

    result = run_wait(fake, compose({"db": {"healthcheck": {"test": PG_HEALTHCHECK}}}), recorder)

    assert result.outcome == "ready"
    assert fake.started() == []
    assert [r.how for r in recorder.ready("db")] == ["healthy"]


def test_already_unhealthy_container_fails_fast(recorder: Recorder, fakes: list[FakeDocker]) -> None:
    db = FakeContainer(
        "db",
        healthcheck=PG_HEALTHCHECK,
        status="running",
        health="unhealthy",
        health_log=["no response"],
        started_at="2024-05-01T10:00:00.5Z",
    )
    fake = FakeDocker(db)
    fakes.append(fake)

    result = run_wait(fake, compose({"db": {"healthcheck": {"test": PG_HEALTHCHECK}}}), recorder, timeout=0.3)

    assert result.outcome == "failed"
    assert "unhealthy" in only_failure(result).reason


# ---------------------------------------------------------------------------------- exits, loops
def test_non_zero_exit_fails_with_exit_code(recorder: Recorder, fakes: list[FakeDocker]) -> None:
    api = FakeContainer("api", after_start=[Step(0.02, "die", exit_code=3)], logs=b"Traceback...\nKeyError: 'DB'\n")
    fake = FakeDocker(api)
    fakes.append(fake)

    result = run_wait(fake, compose({"api": {}}), recorder, settle=0.5)

    failure = only_failure(result)
    assert result.outcome == "failed"
    assert failure.reason == "exited with code 3"
    assert (failure.state, failure.exit_code) == ("exited", 3)
    assert failure.logs == ("Traceback...", "KeyError: 'DB'")
    assert failure.health_output is None


@pytest.mark.parametrize("restart", ["no", "on-failure"])
def test_exit_zero_without_restart_is_completed(restart: str, recorder: Recorder, fakes: list[FakeDocker]) -> None:
    fake = FakeDocker(FakeContainer("migrate", restart=restart, after_start=[Step(0.01, "die", exit_code=0)]))
    fakes.append(fake)

    result = run_wait(fake, compose({"migrate": {"restart": restart}}), recorder, settle=0.3)

    assert result.outcome == "ready" and result.failures == ()
    assert [r.how for r in recorder.ready("migrate")] == ["completed"]
    status = result.services[0]
    assert (status.state, status.exit_code, status.ready, status.detail) == ("exited", 0, True, "completed")


@pytest.mark.parametrize(("restart", "code"), [("always", 1), ("always", 0), ("unless-stopped", 2), ("on-failure", 1)])
def test_restart_policy_and_die_is_a_restart_loop(
    restart: str, code: int, recorder: Recorder, fakes: list[FakeDocker]
) -> None:
    loop = [Step(0.02, "die", exit_code=code), Step(0.02, "start")] * 2 + [Step(0.02, "die", exit_code=code)]
    fake = FakeDocker(FakeContainer("worker", restart=restart, after_start=loop))
    fakes.append(fake)

    result = run_wait(fake, compose({"worker": {"restart": restart}}), recorder, settle=1.0)

    failure = only_failure(result)
    assert result.outcome == "failed"
    assert failure.reason.startswith("restart loop")
    assert f"exited with code {code}" in failure.reason
    assert f'"{restart}"' in failure.reason
    assert recorder.ready("worker") == []


def test_container_restarting_at_initial_inspect_fails_without_start(
    recorder: Recorder, fakes: list[FakeDocker]
) -> None:
    worker = FakeContainer(
        "worker", restart="always", status="restarting", exit_code=1, restart_count=4, started_at="2024-05-01T10:00:00Z"
    )
    fake = FakeDocker(worker)
    fakes.append(fake)

    t0 = time.monotonic()
    result = run_wait(fake, compose({"worker": {"restart": "always"}}), recorder, timeout=5.0)

    assert time.monotonic() - t0 < 1.0
    assert fake.started() == []
    failure = only_failure(result)
    assert result.outcome == "failed"
    assert "restart loop" in failure.reason
    assert (failure.state, failure.restart_count) == ("restarting", 4)


# ------------------------------------------------------------------------- no healthcheck: settle
def test_no_healthcheck_ready_only_after_settle(recorder: Recorder, fakes: list[FakeDocker]) -> None:
    fake = FakeDocker(FakeContainer("web"))
    fakes.append(fake)

    result = run_wait(fake, compose({"web": {}}), recorder, settle=0.2)

    assert result.outcome == "ready"
    started_at = fake.push_time("web", "start")
    assert recorder.ready_at("web") - started_at >= 0.2
    assert recorder.ready_at("web") - started_at < 0.6  # a timer wakes the waiter, no event needed
    waiting = [
        (t, e)
        for t, e in recorder.items
        if isinstance(e, ServiceChanged) and e.readiness == Readiness.WAITING and e.status.service == "web"
    ]
    assert waiting and waiting[0][1].note == "running, settling"
    assert waiting[0][0] < recorder.ready_at("web")
    assert [r.how for r in recorder.ready("web")] == ["running"]


def test_dies_during_settle_fails(recorder: Recorder, fakes: list[FakeDocker]) -> None:
    fake = FakeDocker(FakeContainer("web", after_start=[Step(0.05, "die", exit_code=2)]))
    fakes.append(fake)

    result = run_wait(fake, compose({"web": {}}), recorder, settle=0.5)

    assert result.outcome == "failed"
    assert only_failure(result).reason == "exited with code 2"
    assert result.elapsed < 0.5  # failed before the settle window would have ended
    assert recorder.ready("web") == []


def test_one_restart_during_settle_then_up_is_ready(recorder: Recorder, fakes: list[FakeDocker]) -> None:
    """Crashed once (say, while a dependency came up), restarted by its policy, then stays up: ready."""
    steps = [Step(0.03, "die", exit_code=1), Step(0.01, "start")]
    fake = FakeDocker(FakeContainer("web", restart="always", after_start=steps))
    fakes.append(fake)

    result = run_wait(fake, compose({"web": {"restart": "always"}}), recorder, settle=0.3)

    assert result.outcome == "ready", result.failures
    notes = [e.note for _, e in recorder.items if isinstance(e, ServiceChanged) and e.status.service == "web"]
    assert any('exited with code 1, restarted by policy "always" (quick exit 1 of 3' in n for n in notes), notes
    assert "running, settling (after 1 restart)" in notes, notes
    assert [r.how for r in recorder.ready("web")] == ["running"]


def test_on_failure_retries_then_healthy_is_ready(recorder: Recorder, fakes: list[FakeDocker]) -> None:
    """on-failure:3, two failed attempts, then it serves: what `docker compose up --wait` accepts."""
    steps = [Step(0.02, "die", exit_code=1), Step(0.02, "start")] * 2 + [Step(0.05, "health_status: healthy")]
    api = FakeContainer("api", healthcheck=PG_HEALTHCHECK, restart="on-failure", max_retries=3, after_start=steps)
    fake = FakeDocker(api)
    fakes.append(fake)
    model = compose({"api": {"restart": "on-failure:3", "healthcheck": {"test": PG_HEALTHCHECK}}})

    result = run_wait(fake, model, recorder)

    assert result.outcome == "ready", result.failures
    notes = [e.note for _, e in recorder.items if isinstance(e, ServiceChanged) and e.status.service == "api"]
    assert "exited with code 1, being retried (restart 1 of 3)" in notes, notes
    assert "exited with code 1, being retried (restart 2 of 3)" in notes, notes
    assert "health: starting (after 2 restarts)" in notes, notes


def test_on_failure_fails_when_its_retries_are_used_up(recorder: Recorder, fakes: list[FakeDocker]) -> None:
    steps = [Step(0.02, "die", exit_code=3), Step(0.02, "start")] * 2 + [Step(0.02, "die", exit_code=3)]
    fake = FakeDocker(FakeContainer("api", restart="on-failure", max_retries=2, after_start=steps))
    fakes.append(fake)

    result = run_wait(fake, compose({"api": {"restart": "on-failure:2"}}), recorder)

    assert result.outcome == "failed"
    assert only_failure(result).reason == 'exited with code 3; restart policy "on-failure:2" gave up after 2 restarts'


# ----------------------------------------------------------------------------- start errors
def test_port_conflict_on_start_names_port_and_holder(recorder: Recorder, fakes: list[FakeDocker]) -> None:
    message = (
        "driver failed programming external connectivity on endpoint x (abc): "
        "Bind for 127.0.0.1:8000 failed: port is already allocated"
    )
    web = FakeContainer("web", start_error=FakeAPIError(message))
    holder = {
        "Id": "f" * 64,
        "Names": ["/other-proxy-1"],
        "Labels": {"com.docker.compose.project": "other", "com.docker.compose.service": "proxy"},
        "Ports": [{"IP": "127.0.0.1", "PrivatePort": 80, "PublicPort": 8000, "Type": "tcp"}],
    }
    fake = FakeDocker(web, foreign=[holder])
    fakes.append(fake)

    result = run_wait(fake, compose({"web": {}}), recorder)

    failure = only_failure(result)
    assert result.outcome == "failed"
    assert "port 8000" in failure.reason
    assert "already in use" in failure.reason
    assert "127.0.0.1" in failure.reason
    assert "held by container other-proxy-1 (compose project 'other', service 'proxy')" in failure.reason
    assert failure.state == "created"


def test_other_start_error_is_reported_verbatim(recorder: Recorder, fakes: list[FakeDocker]) -> None:
    web = FakeContainer("web", start_error=FakeAPIError('error mounting "/src" to rootfs at "/app": no such file'))
    fake = FakeDocker(web)
    fakes.append(fake)

    result = run_wait(fake, compose({"web": {}}), recorder)

    assert only_failure(result).reason == 'failed to start: error mounting "/src" to rootfs at "/app": no such file'


# ---------------------------------------------------------------------------------- timeouts
def test_timeout_blocked_dependent_names_its_dependency(recorder: Recorder, fakes: list[FakeDocker]) -> None:
    db = FakeContainer("db", healthcheck=PG_HEALTHCHECK)  # starts, never becomes healthy
    fake = FakeDocker(db, FakeContainer("api"))
    fakes.append(fake)
    model = compose({"db": {"healthcheck": {"test": PG_HEALTHCHECK}}, "api": {"depends_on": {"db": "service_healthy"}}})

    result = run_wait(fake, model, recorder, timeout=0.3)

    assert result.outcome == "timeout" and not result.ok
    assert 0.3 <= result.elapsed < 1.0
    assert fake.started() == ["db"]
    failures = {f.service: f for f in result.failures}
    assert set(failures) == {"db", "api"}
    assert failures["db"].reason == "timed out: health: starting"
    assert failures["db"].blocked_on == ()
    assert failures["api"].blocked_on == ("db",)
    assert failures["api"].reason == "timed out: never started, waiting for db (healthy)"
    assert failures["api"].state == "created"
    finished = [e for e in recorder.events if isinstance(e, WaitFinished)]
    assert finished == [WaitFinished(False, finished[0].elapsed, "timeout")]


# ---------------------------------------------------------------------------- event sequencing
def test_emitted_events_are_in_a_sensible_order(recorder: Recorder, fakes: list[FakeDocker]) -> None:
    db = FakeContainer("db", healthcheck=PG_HEALTHCHECK, after_start=[Step(0.05, "health_status: healthy")])
    fake = FakeDocker(db, FakeContainer("api"))
    fakes.append(fake)
    model = compose({"db": {"healthcheck": {"test": PG_HEALTHCHECK}}, "api": {"depends_on": {"db": "service_healthy"}}})

    result = run_wait(fake, model, recorder)

    events = recorder.events
    assert result.outcome == "ready"
    assert recorder.changes("db") == [Readiness.PENDING, Readiness.WAITING, Readiness.READY]
    assert recorder.changes("api") == [Readiness.PENDING, Readiness.WAITING, Readiness.READY]
    # Every ServiceReady directly follows the ServiceChanged that made its service ready.
    for i, e in enumerate(events):
        if isinstance(e, ServiceReady):
            before = events[i - 1]
            assert isinstance(before, ServiceChanged)
            assert (before.status.service, before.readiness) == (e.service, Readiness.READY)
    # db is ready before api leaves PENDING; exactly one WaitFinished, last.
    db_ready = next(i for i, e in enumerate(events) if isinstance(e, ServiceReady) and e.service == "db")
    api_waiting = next(
        i
        for i, e in enumerate(events)
        if isinstance(e, ServiceChanged) and e.status.service == "api" and e.readiness == Readiness.WAITING
    )
    assert db_ready < api_waiting
    assert [type(e) for e in events].count(WaitFinished) == 1
    assert events[-1] == WaitFinished(True, result.elapsed, "ready")
    assert not any(isinstance(e, ServiceFailed) for e in events)
    elapsed = [e.elapsed for e in events if isinstance(e, ServiceChanged | ServiceReady | WaitFinished)]
    assert elapsed == sorted(elapsed)


def test_failure_events_precede_wait_finished(recorder: Recorder, fakes: list[FakeDocker]) -> None:
    fake = FakeDocker(FakeContainer("api", after_start=[Step(0.02, "die", exit_code=137)]))
    fakes.append(fake)

    result = run_wait(fake, compose({"api": {}}), recorder, settle=0.5)

    tail = recorder.events[-3:]
    assert isinstance(tail[0], ServiceChanged)
    assert (tail[0].readiness, tail[0].note) == (Readiness.FAILED, "exited with code 137")
    assert isinstance(tail[1], ServiceFailed) and tail[1].failure == result.failures[0]
    assert tail[2] == WaitFinished(False, result.elapsed, "failed")


# --------------------------------------------------------------------------- stream and noise
def test_events_queued_before_the_wait_are_drained(recorder: Recorder, fakes: list[FakeDocker]) -> None:
    db = FakeContainer("db", healthcheck=PG_HEALTHCHECK, after_start=[Step(0.02, "health_status: healthy")])
    fake = FakeDocker(db)
    fakes.append(fake)
    # From the create step: the old container was killed. Must not count against the new wait.
    fake.push(db, "die", {"exitCode": "137"})
    stream = FakeStream(fake.queue)
    waiter = Waiter(
        api=cast(Any, fake),
        project=PROJECT,
        profile="dev",
        model=compose({"db": {"healthcheck": {"test": PG_HEALTHCHECK}}}),
        targets=["db"],
        emit=recorder,
        timeout=2.0,
        settle=0.05,
    )

    result = waiter.run(cast(Any, stream))

    assert result.outcome == "ready"
    assert [p[1]["Action"] for p in stream.drained[:1]] == ["die"]


def test_oneoff_and_untargeted_containers_are_ignored(recorder: Recorder, fakes: list[FakeDocker]) -> None:
    broken_run = FakeContainer("api", oneoff=True, status="exited", exit_code=1)
    fake = FakeDocker(FakeContainer("api"), broken_run, FakeContainer("adminer"))
    fakes.append(fake)
    model = compose({"api": {}, "adminer": {}})

    result = run_wait(fake, model, recorder, targets=["api"])

    assert result.outcome == "ready"
    assert fake.started() == ["api"]
    assert [s.service for s in result.services] == ["api"]
    assert [c.name for c in result.services[0].containers] == [f"{PROJECT}-api-1"]
