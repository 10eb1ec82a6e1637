"""The stack monitor, the cancel token and the cancellable waiter and exec, against fakes (no Docker)."""

from __future__ import annotations

import json
import queue
import socket
import struct
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from devenv.cli.follow_cmds import render_json
from devenv.core.cancel import Cancelled, CancelToken, cancel_hook, check
from devenv.core.compose.model import ComposeModel, ServiceSpec
from devenv.core.events import (
    EngineReconnected,
    EngineUnreachable,
    Event,
    MonitorSynced,
    StatusChanged,
)
from devenv.core.models import Health
from devenv.core.monitor import StackMonitor, unknown_status
from devenv.core.stats import cpu_percent, memory_bytes

PROJECT = "proj"


# ------------------------------------------------------------------------------------ cancel token
def test_cancel_token_runs_callbacks_once_and_raises_like_ctrl_c() -> None:
    token = CancelToken()
    calls: list[str] = []
    remove = token.on_cancel(lambda: calls.append("a"))
    token.on_cancel(lambda: calls.append("b"))
    dropped = token.on_cancel(lambda: calls.append("dropped"))
    dropped()
    assert not token.cancelled
    token.raise_if_cancelled()
    token.cancel("stop")
    token.cancel("again")
    assert calls == ["a", "b"] and token.cancelled and token.reason == "stop"
    remove()  # after the fact: harmless
    with pytest.raises(KeyboardInterrupt) as info:
        token.raise_if_cancelled()
    assert isinstance(info.value, Cancelled)
    late: list[int] = []
    token.on_cancel(lambda: late.append(1))  # already cancelled: runs at once
    assert late == [1]
    check(None)


def test_cancel_token_wait_wakes_from_another_thread_and_callback_errors_are_contained() -> None:
    token = CancelToken()
    token.on_cancel(lambda: 1 / 0)  # type: ignore[func-returns-value]
    assert token.wait(0.01) is False
    threading.Timer(0.05, token.cancel).start()
    t0 = time.monotonic()
    assert token.wait(5) is True
    assert time.monotonic() - t0 < 2
    hooked: list[int] = []
    with cancel_hook(None, lambda: hooked.append(1)):
        pass
    assert hooked == []


# ----------------------------------------------------------------------------------- fake engine
def inspect_doc(
    cid: str, service: str, state: str = "running", *, health: str | None = None, exit_code: int = 0, restarts: int = 0
) -> dict[str, Any]:
    labels = {
        "com.docker.compose.project": PROJECT,
        "com.docker.compose.service": service,
        "com.docker.compose.container-number": "1",
    }
    doc: dict[str, Any] = {
        "Id": cid,
        "Name": f"/{PROJECT}-{service}-1",
        "Config": {"Labels": labels, "Image": "img"},
        "State": {"Status": state, "ExitCode": exit_code, "StartedAt": "2026-01-01T00:00:00.000000000Z"},
        "HostConfig": {"RestartPolicy": {"Name": "no"}},
        "RestartCount": restarts,
    }
    if health is not None:
        doc["Config"]["Healthcheck"] = {"Test": ["CMD", "true"]}
        doc["State"]["Health"] = {"Status": health, "Log": [{"Output": f"check says {health}"}]}
    return doc


class FakeStream:
    def __init__(self) -> None:
        self.q: queue.Queue[Any] = queue.Queue()

    def __iter__(self) -> Iterator[dict[str, Any]]:
        while True:
            item = self.q.get()
            if item is None:
                return
            yield item

    def close(self) -> None:
        self.q.put(None)


class FakeApi:
    base_url = "unix://fake"

    def __init__(self, docs: dict[str, dict[str, Any]]) -> None:
        self.docs = docs
        self.streams: list[FakeStream] = []
        self.down = False
        self.started: list[str] = []

    def events(self, **_kw: Any) -> FakeStream:
        if self.down:
            raise ConnectionError("Connection refused")
        s = FakeStream()
        self.streams.append(s)
        return s

    def containers(self, **_kw: Any) -> list[dict[str, Any]]:
        if self.down:
            raise ConnectionError("Connection refused")
        return [{"Id": cid, "Labels": d["Config"]["Labels"]} for cid, d in self.docs.items()]

    def inspect_container(self, cid: str) -> dict[str, Any]:
        if cid not in self.docs:
            raise RuntimeError("No such container")
        return self.docs[cid]

    def ping(self) -> bool:
        return True

    def start(self, cid: str) -> None:
        self.started.append(cid)

    def send(self, action: str, cid: str, **attrs: str) -> None:
        doc = self.docs[cid]
        labels = dict(doc["Config"]["Labels"])
        self.streams[-1].q.put(
            {
                "Action": action,
                "Actor": {"ID": cid, "Attributes": {**labels, **attrs}},
                "timeNano": 1_700_000_000 * 10**9,
            }
        )


class Collector:
    def __init__(self) -> None:
        self.events: queue.Queue[Event] = queue.Queue()

    def __call__(self, event: Event) -> None:
        self.events.put(event)

    def next(self, kind: type, timeout: float = 5) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            event = self.events.get(timeout=max(0.01, deadline - time.monotonic()))
            if isinstance(event, kind):
                return event


# ---------------------------------------------------------------------------------------- monitor
def test_monitor_reduces_events_into_service_statuses() -> None:
    api = FakeApi({"c1": inspect_doc("c1", "web", health="healthy"), "c2": inspect_doc("c2", "job", "exited")})
    mon = StackMonitor(api, PROJECT, ["web", "job", "later"])  # type: ignore[arg-type]
    got = Collector()
    mon.subscribe(got)
    with mon:
        synced = got.next(MonitorSynced)
        assert synced.reason == "initial"
        by = {s.service: s for s in synced.statuses}
        assert by["web"].ready and by["web"].health == Health.HEALTHY
        assert by["job"].ready and by["job"].detail == "completed"
        assert by["later"].state == "missing" and not by["later"].ready

        api.docs["c1"] = inspect_doc("c1", "web", "exited", exit_code=137, health="unhealthy")
        api.send("kill", "c1")
        api.send("die", "c1", exitCode="137")
        change = got.next(StatusChanged)
        assert change.service == "web" and change.cause == "die"
        assert change.old.state == "running" and change.new.state == "exited" and change.new.exit_code == 137
        assert change.engine_time == 1_700_000_000

        api.docs["c1"] = inspect_doc("c1", "web", health="starting", restarts=1)
        api.send("start", "c1")
        change = got.next(StatusChanged)
        assert change.new.state == "running" and change.new.health == Health.STARTING and change.restart_count == 1

        api.docs["c1"] = inspect_doc("c1", "web", health="unhealthy", restarts=1)
        api.send("health_status: unhealthy", "c1")
        change = got.next(StatusChanged)
        assert change.new.health == Health.UNHEALTHY and change.health_output == "check says unhealthy"

        # A container created later (replica / a service that had none) is picked up.
        api.docs["c3"] = inspect_doc("c3", "later", "created")
        api.send("create", "c3")
        change = got.next(StatusChanged)
        assert change.service == "later" and change.old.state == "missing" and change.new.state == "created"
        api.send("destroy", "c3")
        del api.docs["c3"]
        assert got.next(StatusChanged).new.state == "missing"
        assert {s.service for s in mon.statuses()} == {"web", "job", "later"}


def test_monitor_marks_statuses_unknown_while_unreachable_and_resyncs() -> None:
    api = FakeApi({"c1": inspect_doc("c1", "web"), "c2": inspect_doc("c2", "db")})
    mon = StackMonitor(api, PROJECT, ["web", "db"], backoff=(0.05, 0.2))  # type: ignore[arg-type]
    got = Collector()
    mon.subscribe(got)
    mon.start()
    try:
        got.next(MonitorSynced)
        api.down = True
        api.streams[-1].close()  # the stream ends: engine gone
        lost = got.next(EngineUnreachable)
        assert "ended" in lost.error
        unknown = [got.next(StatusChanged), got.next(StatusChanged)]
        assert {c.new.state for c in unknown} == {"unknown"} and all(not c.new.ready for c in unknown)
        assert all(s.state == "unknown" for s in mon.statuses())
        assert not mon.connected
        # While it is down, db dies; then the engine comes back.
        api.docs["c2"] = inspect_doc("c2", "db", "exited", exit_code=1)
        time.sleep(0.3)
        api.down = False
        back = got.next(EngineReconnected)
        assert back.attempts >= 2
        resynced = got.next(StatusChanged)
        while resynced.service != "db":
            resynced = got.next(StatusChanged)
        assert resynced.cause == "resync" and resynced.new.state == "exited" and resynced.new.exit_code == 1
        assert got.next(MonitorSynced).reason == "resync"
        assert mon.connected
        assert {s.service: s.state for s in mon.statuses()} == {"web": "running", "db": "exited"}
    finally:
        mon.close()


def test_monitor_iterator_ends_on_close_and_on_cancel() -> None:
    api = FakeApi({"c1": inspect_doc("c1", "web")})
    token = CancelToken()
    mon = StackMonitor(api, PROJECT, ["web"], cancel=token)  # type: ignore[arg-type]
    events = mon.events()
    mon.start()
    first = next(events)
    assert isinstance(first, MonitorSynced)
    threading.Timer(0.05, token.cancel).start()
    assert list(events) == []  # ends instead of blocking


def test_unknown_status_keeps_what_was_last_seen() -> None:
    api = FakeApi({"c1": inspect_doc("c1", "web", health="healthy")})
    mon = StackMonitor(api, PROJECT, ["web"])  # type: ignore[arg-type]
    with mon:
        [status] = mon.statuses()
    unknown = unknown_status(status)
    assert unknown.state == "unknown" and not unknown.ready and "last seen: running" in unknown.detail
    assert unknown.containers == status.containers
    assert unknown_status(unknown) is unknown


def test_ndjson_lines_have_the_status_shape_plus_time_and_event() -> None:
    api = FakeApi({"c1": inspect_doc("c1", "web")})
    with StackMonitor(api, PROJECT, ["web"]) as mon:  # type: ignore[arg-type]
        [status] = mon.statuses()
    [initial] = render_json(MonitorSynced((status,), "initial"))
    doc = json.loads(initial)
    assert doc["event"] == "initial" and isinstance(doc["time"], float)
    assert {"service", "state", "health", "ready", "exit_code", "ports", "detail", "uptime_seconds"} <= set(doc)
    [line] = render_json(StatusChanged("web", status, unknown_status(status), "engine unreachable"))
    doc = json.loads(line)
    assert doc["event"] == "changed" and doc["state"] == "unknown" and doc["previous"]["state"] == "running"
    assert render_json(MonitorSynced((status,), "resync")) == []
    assert json.loads(render_json(EngineUnreachable("gone", 0.1))[0])["event"] == "engine_unreachable"


def test_stats_formulas_match_docker_stats() -> None:
    doc = {
        "cpu_stats": {"cpu_usage": {"total_usage": 3_000_000}, "system_cpu_usage": 20_000_000, "online_cpus": 2},
        "precpu_stats": {"cpu_usage": {"total_usage": 1_000_000}, "system_cpu_usage": 10_000_000},
        "memory_stats": {"usage": 50_000, "limit": 1_000_000, "stats": {"inactive_file": 10_000}},
    }
    assert cpu_percent(doc) == 40.0
    assert memory_bytes(doc) == (40_000, 1_000_000)
    assert cpu_percent({"cpu_stats": {}, "precpu_stats": {}}) == 0.0


# ------------------------------------------------------------------------------ waiter and exec
class FakeEventStream:
    def __init__(self) -> None:
        self.queue: queue.Queue[tuple[str, Any]] = queue.Queue()

    def drain(self) -> list[tuple[str, Any]]:
        return []


def test_cancelling_a_wait_from_another_thread_ends_it_as_interrupted() -> None:
    from devenv.core.waiter import Waiter

    api = FakeApi({"c1": inspect_doc("c1", "web", health="starting")})
    token = CancelToken()
    model = ComposeModel(name=PROJECT, services={"web": ServiceSpec("web")}, raw={"services": {"web": {}}})
    waiter = Waiter(
        api=api,  # type: ignore[arg-type]
        project=PROJECT,
        profile="dev",
        model=model,
        targets=["web"],
        emit=lambda _e: None,
        timeout=30,
        cancel=token,
    )
    threading.Timer(0.1, token.cancel).start()
    t0 = time.monotonic()
    result = waiter.run(FakeEventStream())  # type: ignore[arg-type]
    assert time.monotonic() - t0 < 5
    assert result.outcome == "interrupted" and not result.ok
    [web] = result.services
    assert web.state == "running" and web.health == Health.STARTING and not web.ready


def test_exec_in_is_cancelled_by_closing_its_socket() -> None:
    from devenv.core.engine.execio import exec_in

    ours, theirs = socket.socketpair()

    class ExecApi:
        def exec_create(self, *_a: Any, **_kw: Any) -> dict[str, str]:
            return {"Id": "e1"}

        def exec_start(self, *_a: Any, **_kw: Any) -> socket.socket:
            return ours

        def exec_inspect(self, _id: str) -> dict[str, Any]:
            return {"ExitCode": None}

    payload = b"partial dump\n"
    theirs.sendall(struct.pack(">BxxxL", 1, len(payload)) + payload)  # one frame, then nothing: a stuck command
    token = CancelToken()
    out = bytearray()

    class Sink:
        def write(self, data: bytes) -> None:
            out.extend(data)

    threading.Timer(0.2, token.cancel).start()
    t0 = time.monotonic()
    with pytest.raises(Cancelled):
        exec_in(ExecApi(), "c1", ["pg_dump"], stdout=Sink(), cancel=token)  # type: ignore[arg-type]
    assert time.monotonic() - t0 < 5
    assert bytes(out) == payload
    theirs.close()
    with pytest.raises(Cancelled):  # already cancelled: nothing is started
        exec_in(ExecApi(), "c1", ["true"], cancel=token)  # type: ignore[arg-type]


def test_the_up_stream_and_the_monitor_ask_only_for_status_changing_actions() -> None:
    """Every healthcheck run is three exec events per container: neither subscriber asks for them."""
    from devenv.core.eventstream import EVENT_ACTIONS, EventStream, event_filters

    asked: list[dict[str, Any]] = []

    class Api:
        def events(self, decode: bool, filters: dict[str, Any]) -> Iterator[dict[str, Any]]:
            asked.append(filters)
            return iter(())

    stream = EventStream(Api(), "shop")  # type: ignore[arg-type]
    stream.close()
    assert asked == [event_filters("shop")]
    assert asked[0]["label"] == "com.docker.compose.project=shop" and asked[0]["type"] == "container"
    assert set(asked[0]["event"]) == set(EVENT_ACTIONS)
    assert {"create", "start", "die", "destroy", "health_status", "oom"} <= set(EVENT_ACTIONS)
    assert not any(a.startswith("exec") for a in EVENT_ACTIONS)
