"""A fake core for Pilot tests: the TuiCore interface with canned statuses, scripted events, no Docker."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from devenv.core.cancel import CancelToken
from devenv.core.debug.target import DebugTarget
from devenv.core.events import ActionStarted, Emit, Event, MonitorSynced, ServiceChanged, StatusChanged, StepStarted
from devenv.core.models import ContainerInfo, Failure, Health, LogLine, PortBinding, Readiness, ServiceStatus, UpResult
from devenv.errors import DevenvError
from devenv.tui.core import ProfileInfo

T0 = 1_800_000_000.0  # a fixed "now - uptime" base, so rendered uptimes do not depend on the clock


def status(
    service: str,
    state: str = "running",
    health: str = "healthy",
    *,
    ready: bool | None = None,
    exit_code: int | None = None,
    ports: tuple[int, ...] = (),
    restarts: int = 0,
    started_ago: float | None = 240.0,
    oom: bool = False,
) -> ServiceStatus:
    h = Health(health)
    is_ready = ready if ready is not None else (state == "running" and h in (Health.HEALTHY, Health.NONE))
    bindings = tuple(PortBinding(p, "tcp", "127.0.0.1", 50000 + p) for p in ports)
    started = time.time() - started_ago if (started_ago is not None and state == "running") else None
    info = ContainerInfo(
        id=f"{service}-id",
        name=f"proj-{service}-1",
        service=service,
        number=1,
        state=state,
        health=h,
        exit_code=exit_code,
        restart_count=restarts,
        started_at=started,
        ports=bindings,
        oom_killed=oom,
    )
    detail = h.value if h != Health.NONE else state
    return ServiceStatus(service, state, h, is_ready, exit_code, bindings, detail, (info,), started)


def default_statuses() -> list[ServiceStatus]:
    return [
        status("postgres", ports=(5432,)),
        status("nats", health="none"),
        status("api", ports=(8000, 5678)),
        status("worker", health="none"),
        status("dashboard"),
        status("nginx", ports=(80,)),
    ]


class FakeFollower:
    def __init__(self) -> None:
        self.queue: queue.Queue[Any] = queue.Queue()
        self.closed = False

    def close(self) -> None:
        self.closed = True
        self.queue.put(None)


@dataclass
class FakeCore:
    """Behaves like RealCore from the app's side; records every call in ``calls``."""

    project_name: str = "tasktracker"
    profile_name: str = "dev"
    protected: bool = False
    explicit_profile: bool = False
    root: Path | None = None
    statuses: list[ServiceStatus] = field(default_factory=default_statuses)
    initial_logs: list[LogLine] = field(default_factory=list)
    connect_error: DevenvError | None = None
    running: str | None = None
    calls: list[tuple[Any, ...]] = field(default_factory=list)
    up_result: UpResult | None = None
    block: threading.Event | None = None  # actions wait on it (to test cancel)
    other_profiles: list[ProfileInfo] = field(default_factory=list)
    debug: DebugTarget | None = None  # what debug_target returns (a FakeDebugpy's address)
    debug_error: DevenvError | None = None
    debug_protected: str | None = None  # what debug_protection answers
    down_error: DevenvError | None = None  # what down raises (a failed down)
    config_password: str = "********"  # what config_text shows (a test changes it to see a reload)

    def __post_init__(self) -> None:
        self.callback: Callable[[Event], None] | None = None
        self.follower = FakeFollower()
        self.watched: list[tuple[str, ...]] = []

    # -- reads -------------------------------------------------------------------------------
    def profiles(self) -> list[ProfileInfo]:
        return [ProfileInfo("dev", "Local development", False), *self.other_profiles]

    def endpoint(self) -> str:
        return "unix:///var/run/docker.sock"

    def published_host(self, host_ip: str) -> str | None:
        return "127.0.0.1" if host_ip in ("", "0.0.0.0", "::") else host_ip

    def shell_env(self) -> dict[str, str] | None:
        return None

    def preview(self) -> list[ServiceStatus]:
        return []  # the app then waits for the monitor's initial sync (what these tests drive)

    def connect(self, on_event: Callable[[Event], None]) -> None:
        self.calls.append(("connect",))
        if self.connect_error is not None:
            raise self.connect_error
        self.callback = on_event
        on_event(MonitorSynced(tuple(self.statuses), "initial"))

    def emit(self, event: Event) -> None:
        """Send a monitor event as the monitor's thread would."""
        assert self.callback is not None
        self.callback(event)

    def change(self, new: ServiceStatus, cause: str, **kw: Any) -> None:
        old = next((s for s in self.statuses if s.service == new.service), None)
        self.statuses = [new if s.service == new.service else s for s in self.statuses]
        self.emit(StatusChanged(new.service, old, new, cause, **kw))

    def running_profile(self) -> str | None:
        return self.running

    def dependency_order(self) -> list[str]:
        return [s.service for s in self.statuses]

    def config_text(self, first: str | None = None) -> str:
        self.calls.append(("config", first))
        return f"# first: {first}\nservices:\n  api:\n    environment:\n      DB_PASSWORD: '{self.config_password}'\n"

    def forget_config(self) -> None:
        self.calls.append(("forget_config", None))

    def inspect(self, service: str) -> list[dict[str, Any]]:
        self.calls.append(("inspect", service))
        return [
            {
                "Id": f"{service}0123456789",
                "Name": f"/proj-{service}-1",
                "Config": {
                    "Image": f"img/{service}",
                    "Cmd": ["run", "--password=hunter2"],
                    "Env": ["API_TOKEN=abc123", "MODE=dev"],
                },
                "State": {
                    "Status": "running",
                    "Health": {"Status": "healthy", "Log": [{"ExitCode": 0, "Output": "ok"}]},
                },
                "HostConfig": {"RestartPolicy": {"Name": "unless-stopped"}},
                "Mounts": [{"Type": "volume", "Name": "data", "Destination": "/data", "RW": True}],
                "NetworkSettings": {"Networks": {"proj_default": {"IPAddress": "172.18.0.2"}}},
            }
        ]

    def watch_stats(self, services: Iterable[str]) -> None:
        self.watched.append(tuple(services))

    def stop_stats(self) -> None:
        self.watched.append(())

    def follow_logs(self, tail: int | None) -> FakeFollower:
        for line in self.initial_logs:
            self.follower.queue.put(line)
        return self.follower

    # -- actions -----------------------------------------------------------------------------
    def _wait(self, name: str, services: list[str], emit: Emit, cancel: CancelToken) -> UpResult:
        emit(ActionStarted(name, tuple(services)))
        emit(StepStarted("wait", ", ".join(services)))
        for s in services:
            st = next(x for x in self.statuses if x.service == s)
            emit(ServiceChanged(replace(st, ready=False), Readiness.WAITING, 0.1, note=f"{name}ing"))
        if self.block is not None:
            while not self.block.wait(0.05):
                if cancel.cancelled:
                    return UpResult(self.project_name, self.profile_name, False, "interrupted", 0.2, ())
        if self.up_result is not None:
            return self.up_result
        done = tuple(x for x in self.statuses if x.service in services)
        return UpResult(self.project_name, self.profile_name, True, "ready", 0.5, done)

    def up(self, emit: Emit, cancel: CancelToken) -> UpResult:
        self.calls.append(("up",))
        return self._wait("up", [s.service for s in self.statuses], emit, cancel)

    def down(self, volumes: bool, emit: Emit) -> None:
        self.calls.append(("down", volumes))
        if self.down_error is not None:
            raise self.down_error

    def protection(self) -> tuple[bool, str, str]:
        return self.protected, self.profile_name, ""

    def restart(self, services: Sequence[str], emit: Emit, cancel: CancelToken) -> UpResult:
        self.calls += [("restart", service) for service in services]
        return self._wait("restart", list(services), emit, cancel)

    def start(self, services: Sequence[str], emit: Emit, cancel: CancelToken) -> UpResult:
        self.calls += [("start", service) for service in services]
        return self._wait("start", list(services), emit, cancel)

    def stop(self, services: Sequence[str], emit: Emit, cancel: CancelToken) -> Any:
        self.calls += [("stop", service) for service in services]
        from devenv.core.actions import StopResult

        return StopResult(self.project_name, self.profile_name, True, "stopped", 0.1, ())

    def rebuild(self, services: Sequence[str], emit: Emit, cancel: CancelToken) -> UpResult:
        self.calls += [("rebuild", service) for service in services]
        return self._wait("rebuild", list(services), emit, cancel)

    def shell_argv(self, service: str) -> list[str]:
        return ["true"]

    def debug_protection(self, service: str) -> str | None:
        self.calls.append(("debug_protection", service))
        return self.debug_protected

    def debug_target(self, service: str, emit: Emit, cancel: CancelToken) -> DebugTarget:
        self.calls.append(("debug_target", service))
        emit(StepStarted("inspect", f"{service}: how the command starts Python"))
        if self.debug_error is not None:
            raise self.debug_error
        if self.debug is None:
            raise DevenvError(f"{service} is not a Python service.")
        return replace(self.debug, service=service)

    def watch(self, emit: Emit, cancel: CancelToken) -> str:
        """What a watch reports (fixed events), then it waits until cancelled, like the real one."""
        from devenv.core.watch.events import WatchError, WatchStarted, WatchStopped, WatchSynced

        self.calls.append(("watch",))
        emit(WatchStarted(("api",), ("/src",), ("compose.yml",)))
        emit(WatchSynced("api", ("/srv/app/main.py",), (), 1, "change", 0.012, 0.03))
        emit(WatchError("sync", "worker", "/srv/ro/x.txt", "copy into container abc: Read-only file system"))
        cancel.wait()
        emit(WatchStopped(cancel.reason))
        return cancel.reason

    def retarget(self, profile: str) -> FakeCore:
        self.calls.append(("retarget", profile))
        return FakeCore(profile_name=profile, protected=profile == "prod", explicit_profile=True)

    def close(self) -> None:
        self.calls.append(("close",))
        self.follower.close()


def failure(service: str, reason: str = "exited with code 3") -> Failure:
    return Failure(service, reason, "exited", Health.NONE, 3, logs=("boom",))
