"""What the TUI drives: one object over the headless core, real or fake.

The app never talks to Docker. It calls a :class:`TuiCore` (this module's :class:`RealCore` over
:class:`~devenv.core.stack.Stack`, :class:`~devenv.core.monitor.StackMonitor`,
:mod:`devenv.core.actions`, :class:`~devenv.core.logs.LogFollower`; tests pass a fake with the
same methods). Every action is one call into the same core function the CLI uses. Methods that
block (everything but the attributes) are called from thread workers; ``connect``'s callback is
called from the monitor's thread (see :mod:`devenv.core.cancel`).

This module imports no Textual: the core objects it builds are the CLI's.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from devenv.core.events import Emit, Event

if TYPE_CHECKING:
    from devenv.config import Profile, Project
    from devenv.core.actions import StopResult
    from devenv.core.cancel import CancelToken
    from devenv.core.debug.target import DebugTarget
    from devenv.core.doctor import Finding, FixOutcome, Report
    from devenv.core.logs import LogFollower
    from devenv.core.models import ServiceStatus, UpResult
    from devenv.core.monitor import StackMonitor
    from devenv.core.running import RunningProfile
    from devenv.core.stack import Stack

__all__ = ["DoctorSource", "LogSource", "ProfileInfo", "RealCore", "RealDoctor", "TuiCore", "load_core", "shell_script"]

# One exec: bash when the image has it, else sh (the issue: "bash, else sh").
SHELL_SCRIPT = "if command -v bash >/dev/null 2>&1; then exec bash; else exec sh; fi"


def shell_script() -> str:
    return SHELL_SCRIPT


@dataclass(frozen=True)
class ProfileInfo:
    name: str
    description: str
    protected: bool


class LogSource(Protocol):
    """A log follower: ``queue`` of LogLine / LogNotice (None when closed), ``close()`` from any thread."""

    queue: Any

    def close(self) -> None: ...


class TuiCore(Protocol):
    """Everything the TUI asks of the core. Attributes are cheap; methods may block (workers)."""

    @property
    def project_name(self) -> str: ...
    @property
    def profile_name(self) -> str: ...
    @property
    def protected(self) -> bool: ...
    @property
    def root(self) -> Path | None: ...

    def profiles(self) -> list[ProfileInfo]: ...
    def endpoint(self) -> str: ...
    def published_host(self, host_ip: str) -> str | None: ...
    def shell_env(self) -> dict[str, str] | None: ...
    def preview(self) -> list[ServiceStatus]: ...
    def connect(self, on_event: Callable[[Event], None]) -> None: ...
    def running_profile(self) -> str | None: ...
    def dependency_order(self) -> list[str]: ...
    def config_text(self, first: str | None = None) -> str: ...
    def forget_config(self) -> None: ...
    def inspect(self, service: str) -> list[dict[str, Any]]: ...
    def watch_stats(self, services: Iterable[str]) -> None: ...
    def stop_stats(self) -> None: ...
    def follow_logs(self, tail: int | None) -> LogSource: ...
    def up(self, emit: Emit, cancel: CancelToken) -> UpResult: ...
    def down(self, volumes: bool, emit: Emit) -> None: ...
    def protection(self) -> tuple[bool, str, str]: ...
    def restart(self, services: Sequence[str], emit: Emit, cancel: CancelToken) -> UpResult: ...
    def start(self, services: Sequence[str], emit: Emit, cancel: CancelToken) -> UpResult: ...
    def stop(self, services: Sequence[str], emit: Emit, cancel: CancelToken) -> StopResult: ...
    def rebuild(self, services: Sequence[str], emit: Emit, cancel: CancelToken) -> UpResult: ...
    def shell_argv(self, service: str) -> list[str]: ...
    def debug_target(self, service: str, emit: Emit, cancel: CancelToken) -> DebugTarget: ...
    def debug_protection(self, service: str) -> str | None: ...
    def watch(self, emit: Emit, cancel: CancelToken) -> str: ...
    def retarget(self, profile: str) -> TuiCore: ...
    def doctor(self) -> DoctorSource: ...
    def close(self) -> None: ...


class DoctorSource(Protocol):
    """The doctor panel's bridge to ``devenv.core.doctor``: both methods block (thread workers)."""

    def check(self) -> Report: ...
    def fix(self, finding: Finding) -> FixOutcome: ...


class RealDoctor:
    """``devenv doctor`` for one project folder and profile: the same core calls as the CLI's."""

    def __init__(self, project_dir: Path | None, profile: str | None) -> None:
        self.project_dir = project_dir
        self.profile = profile
        self.endpoint: Any = None  # the profile's engine, from the last check

    def check(self) -> Report:
        from devenv.core.doctor import diagnose

        report = diagnose(self.project_dir, self.profile)
        self.endpoint = report.endpoint
        return report

    def fix(self, finding: Finding) -> FixOutcome:
        from devenv.core.doctor import apply_fixes

        outcomes = apply_fixes([finding], self.endpoint)
        if not outcomes:
            raise ValueError(f"no safe fix for: {finding.message}")
        return outcomes[0]


class RealCore:
    """The TUI's view of one project under one profile, over the CLI's own core objects."""

    def __init__(self, project: Project, profile: Profile, *, explicit_profile: bool = False) -> None:
        from devenv.core.stack import Stack

        self.project = project
        self.stack: Stack = Stack(project, profile)
        self.explicit_profile = explicit_profile
        self.monitor: StackMonitor | None = None
        self._running: RunningProfile | None = None
        self._config: dict[str, Any] | None = None

    # -- attributes ------------------------------------------------------------------------------
    @property
    def project_name(self) -> str:
        return self.stack.name

    @property
    def profile_name(self) -> str:
        return self.stack.profile.name

    @property
    def protected(self) -> bool:
        return self.stack.profile.protected

    @property
    def root(self) -> Path | None:
        return self.project.root

    def profiles(self) -> list[ProfileInfo]:
        return [ProfileInfo(p.name, p.description, p.protected) for p in self.project.profiles.values()]

    def endpoint(self) -> str:
        """The engine this profile runs on, for the header (the stack's one resolved endpoint)."""
        return self.stack.endpoint.describe()

    def published_host(self, host_ip: str) -> str | None:
        """Where this machine reaches a port published on ``host_ip`` (None: only the engine's host can)."""
        from devenv.core.engine.endpoint import published_host

        return published_host(host_ip, self.stack.endpoint)

    def shell_env(self) -> dict[str, str] | None:
        """The environment of the shell's ``docker compose exec`` (the profile's engine; None: ours)."""
        return self.stack.child_env()

    # -- reads -----------------------------------------------------------------------------------
    def preview(self) -> list[ServiceStatus]:
        """One quick read of every service (``devenv status``'s: stdlib Engine reader, no docker-py).

        Shown until the monitor's own initial sync replaces it (a few hundred ms later: docker-py's
        import is most of that). Without an explicit profile, follows the running stack's profile.
        """
        from devenv.core.running import running_profile

        self._running = found = running_profile(self.stack)
        if found is not None and found.name and found.name != self.profile_name and not self.explicit_profile:
            from devenv.core.stack import Stack

            self.stack = Stack(self.project, self.project.profiles[found.name])
        return self.stack.status()

    def connect(self, on_event: Callable[[Event], None]) -> None:
        """Follow the stack: the monitor's first event (MonitorSynced "initial") reaches ``on_event``.

        Without an explicit profile, a stack started under another profile is followed under that
        one (as the CLI's ``load_stack(running="follow")``). Raises DevenvError (engine down...).
        """
        from devenv.core.monitor import StackMonitor

        if self._running is None:
            self.preview()
        monitor = StackMonitor.for_stack(self.stack)
        monitor.subscribe(on_event)
        self.monitor = monitor.start()

    def running_profile(self) -> str | None:
        return self._running.describe() if self._running is not None else None

    def _config_json(self) -> dict[str, Any]:
        if self._config is None:
            from devenv.core.compose.model import ComposeModel

            data = self.stack.config_json()
            self.stack.__dict__.setdefault("model", ComposeModel.from_json(data))
            self._config = data
        return self._config

    def forget_config(self) -> None:
        """The config files changed (a live reload): the next read runs ``docker compose config`` again."""
        self._config = None
        self.stack.__dict__.pop("model", None)

    def dependency_order(self) -> list[str]:
        """The profile's services, dependencies first (``docker compose config``: raises when Compose is missing)."""
        self._config_json()
        model = self.stack.model
        return model.closure(list(model.services))

    def config_text(self, first: str | None = None) -> str:
        """The merged compose config as YAML, secrets masked; ``first``'s section at the top."""
        import yaml

        from devenv.core.secrets import mask_config

        data = mask_config(self._config_json())
        services = dict(data.get("services") or {})
        head = ""
        if first is not None and first in services:
            head = f"# service {first}\n" + yaml.safe_dump({first: services[first]}, sort_keys=False, width=110)
            head += "\n# the whole config\n"
        from devenv.core.compose.runner import compose_command

        header = f"# profile {self.profile_name}: {compose_command(self.stack, 'config')}\n"
        return header + head + yaml.safe_dump(data, sort_keys=False, default_flow_style=False, width=110)

    def inspect(self, service: str) -> list[dict[str, Any]]:
        from devenv.core.engine.containers import ONEOFF_LABEL, PROJECT_LABEL, SERVICE_LABEL

        api = self.stack.api
        labels = [f"{PROJECT_LABEL}={self.stack.name}", f"{SERVICE_LABEL}={service}"]
        docs = []
        for item in api.containers(all=True, filters={"label": labels}):
            if (item.get("Labels") or {}).get(ONEOFF_LABEL) == "True":
                continue
            try:
                docs.append(api.inspect_container(item["Id"]))
            except Exception as exc:  # removed between list and inspect
                if "No such container" not in str(exc):
                    raise
        return docs

    def watch_stats(self, services: Iterable[str]) -> None:
        if self.monitor is not None:
            self.monitor.watch_stats(services)

    def stop_stats(self) -> None:
        if self.monitor is not None:
            self.monitor.stop_stats()

    def follow_logs(self, tail: int | None) -> LogFollower:
        from devenv.core.logs import LogFollower

        return LogFollower(self.stack.api, self.stack.name, None, tail=tail)

    # -- actions (each one call into the function the CLI uses) ----------------------------------
    def up(self, emit: Emit, cancel: CancelToken) -> UpResult:
        from devenv.core.migrations import run_on_up
        from devenv.core.running import check_same_profile, running_profile
        from devenv.core.stack import up

        check_same_profile(self.stack, running_profile(self.stack), "start it")
        return up(self.stack, None, emit=emit, cancel=cancel, after_ready=run_on_up)

    def down(self, volumes: bool, emit: Emit) -> None:
        self.stack.down(volumes=volumes, emit=emit)

    def protection(self) -> tuple[bool, str, str]:
        """(protected, the profile name to type, why) for a destructive action on this stack."""
        from devenv.core.running import protection, running_profile

        guard = protection(self.stack, running_profile(self.stack))
        return guard.protected, guard.profile, guard.reason

    def restart(self, services: Sequence[str], emit: Emit, cancel: CancelToken) -> UpResult:
        from devenv.core.actions import restart

        return restart(self.stack, list(services), emit=emit, cancel=cancel)

    def start(self, services: Sequence[str], emit: Emit, cancel: CancelToken) -> UpResult:
        from devenv.core.actions import start

        return start(self.stack, list(services), emit=emit, cancel=cancel)

    def stop(self, services: Sequence[str], emit: Emit, cancel: CancelToken) -> StopResult:
        from devenv.core.actions import stop

        return stop(self.stack, list(services), emit=emit, cancel=cancel)

    def rebuild(self, services: Sequence[str], emit: Emit, cancel: CancelToken) -> UpResult:
        from devenv.core.actions import rebuild

        return rebuild(self.stack, list(services), emit=emit, cancel=cancel)

    def shell_argv(self, service: str) -> list[str]:
        return [*self.stack.compose_args(), "exec", service, "sh", "-c", SHELL_SCRIPT]

    def debug_target(self, service: str, emit: Emit, cancel: CancelToken) -> DebugTarget:
        """Where the debugger attaches to ``service``, turning debugpy on first when it is off."""
        from devenv.core.debug.enable import enable_debug

        return enable_debug(self.stack, service, emit=emit, cancel=cancel)

    def debug_protection(self, service: str) -> str | None:
        """The profile name to type before debug is turned on for ``service`` (it is recreated) on a
        protected profile, as ``devenv debug`` asks; None when nothing would be recreated or unprotected."""
        from devenv.core.debug.enable import debug_targets
        from devenv.core.running import protection, running_profile

        guard = protection(self.stack, running_profile(self.stack))
        if not guard.protected or any(t.service == service for t in debug_targets(self.stack)):
            return None
        return guard.profile

    def watch(self, emit: Emit, cancel: CancelToken) -> str:
        """``devenv watch`` (every service's develop.watch rules, config edits applied) until ``cancel``."""
        from devenv.core.watch import Watcher

        return Watcher(self.stack, emit=emit, cancel=cancel, monitor=self.monitor).run()

    def retarget(self, profile: str) -> TuiCore:
        return RealCore(self.project, self.project.profiles[profile], explicit_profile=True)

    def doctor(self) -> DoctorSource:
        return RealDoctor(self.project.root, self.profile_name)

    def close(self) -> None:
        if self.monitor is not None:
            self.monitor.close()


def load_core(project_dir: Path | None, profile: str | None) -> RealCore:
    """The project and profile (config only, no engine): raises ConfigError like the CLI."""
    from devenv.config import load_project

    project = load_project(project_dir)
    explicit = profile is not None or bool(os.environ.get("DEVENV_PROFILE"))
    return RealCore(project, project.resolve_profile(profile), explicit_profile=explicit)


def drain(
    source: LogSource, interval: float, limit: int, idle: Callable[[], bool] | None = None
) -> Iterator[list[Any] | None]:
    """Batches from a follower's queue: whatever arrived within ``interval`` seconds (at most ``limit``).

    Yields ``[]`` when nothing arrived (so the caller can go on with what it holds); ends when the
    follower closes. Waits for the first item of a batch, then takes whatever else is queued in
    one go (one lock for the lot, not one per line: at tens of thousands of lines a second the
    per-item ``get`` was a tenth of the ingestion's time). While ``idle()`` says the caller holds
    nothing, the first item is awaited without a timeout: a quiet stack costs no wake-ups (twenty a
    second were a sixth of an idle TUI's CPU); closing the follower still ends the wait.
    """
    import queue
    import time

    q = source.queue
    bulk = isinstance(q, queue.Queue)
    while True:
        batch: list[Any] = []
        deadline = time.monotonic() + interval
        while len(batch) < limit:
            left = deadline - time.monotonic()
            try:
                if not batch and idle is not None and idle():
                    item = q.get()
                    deadline = time.monotonic() + interval
                else:
                    item = q.get(timeout=left) if left > 0 else q.get_nowait()
            except queue.Empty:
                break
            start = len(batch)
            batch.append(item)
            if bulk:
                with q.mutex:
                    waiting = q.queue
                    take = min(len(waiting), limit - len(batch))
                    batch.extend(waiting.popleft() for _ in range(take))
                    if take:
                        q.not_full.notify(take)
            for i in range(start, len(batch)):
                if batch[i] is None:  # closed: nothing after it counts
                    if i:
                        yield batch[:i]
                    return
        yield batch
