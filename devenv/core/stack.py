"""A Compose project under one profile: its files, env files and name, its containers, its verbs.

:class:`Stack` holds the connections (docker-py for the Engine API, a stdlib reader for fast
reads, a python-on-whales client for Compose verbs), the compose model of the profile and the
reads (container list + inspect, aggregated per service). :func:`up` is the verb that creates,
starts in dependency order and waits (:class:`devenv.core.waiter.Waiter`). The compose model and
the Compose runner are in :mod:`devenv.core.compose`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from devenv.core.compose.model import ComposeModel, check_services, declared_services
from devenv.core.compose.runner import ComposeProcess, compose_error, run_whales, whales_client
from devenv.core.engine.containers import ONEOFF_LABEL, PROJECT_LABEL, container_from_inspect
from devenv.core.events import ComposeOutput, Emit, StepStarted
from devenv.core.health import aggregate
from devenv.core.models import ContainerInfo, ServiceStatus, UpResult
from devenv.errors import DockerUnavailableError

if TYPE_CHECKING:
    import docker

    from devenv.config import Profile, Project

# What runs once every target service of an ``up`` is ready; returns the final result.
AfterReady = Callable[["Stack", UpResult, Emit], UpResult]


class Stack:
    """One project under one profile."""

    def __init__(self, project: Project, profile: Profile, *, api: docker.APIClient | None = None) -> None:
        self.project = project
        self.profile = profile
        self._api = api
        self._reader: Any = None

    @property
    def name(self) -> str:
        return self.project.name

    # -- connections --------------------------------------------------------------------------
    @property
    def api(self) -> docker.APIClient:
        if self._api is None:
            from devenv.core.engine.client import connect

            self._api = connect()
        return self._api

    @property
    def reader(self) -> Any:
        """Read-only Engine API: a stdlib client on a local Unix socket (fast start), else docker-py."""
        if self._api is not None:
            return self._api
        if self._reader is None:
            from devenv.core.engine.rawapi import RawEngine, local_socket

            path = local_socket()
            self._reader = RawEngine(path) if path else self.api
        return self._reader

    @cached_property
    def compose(self) -> Any:
        """A python-on-whales DockerClient bound to this profile's files, env files and name."""
        return whales_client(self.profile.compose_files, self.profile.env_files, self.name)

    def compose_args(self) -> list[str]:
        """The equivalent plain ``docker compose`` arguments (for messages and benchmarks)."""
        args = ["docker", "compose", "-p", self.name]
        for f in self.profile.compose_files:
            args += ["-f", str(f)]
        for e in self.profile.env_files:
            args += ["--env-file", str(e)]
        return args

    # -- compose verbs --------------------------------------------------------------------------
    def run_compose(self, what: str, fn: Callable[[], Any], *, streamed: bool = False) -> Any:
        """Run a python-on-whales call, mapping its failures to devenv errors.

        ``streamed``: the command's output was already emitted line by line, so the error message
        keeps only its last line instead of repeating all of it.
        """
        return run_whales(what, fn, self.map_compose_error, streamed=streamed)

    def map_compose_error(self, what: str, command: list[str], stderr: str, *, streamed: bool = False) -> Exception:
        """The devenv error for a failed ``docker compose`` command of this profile."""
        return compose_error(
            what,
            command,
            stderr,
            profile=self.profile.name,
            files=[self._rel(f) for f in self.profile.compose_files],
            compose_args=self.compose_args(),
            model=self.__dict__.get("model"),  # only when already loaded: no second config
            streamed=streamed,
        )

    def _rel(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.project.root))
        except ValueError:
            return str(path)

    def start_config(self) -> ComposeProcess:
        """Start ``docker compose config --format json`` (interpolated, merged; validates the files)."""
        return ComposeProcess(self, "config", ["config", "--format", "json"], merge_output=False)

    def config_json(self) -> dict[str, Any]:
        return self.start_config().json()

    @cached_property
    def model(self) -> ComposeModel:
        return ComposeModel.from_json(self.config_json())

    def start_create(self, services: list[str] | None, *, build: bool, force_recreate: bool = False) -> ComposeProcess:
        """Start ``docker compose up --no-start``: networks, volumes, (re)created containers; no start.

        ``force_recreate``: recreate every container, so that all of them carry this profile's files
        in their labels (a profile switch; see ``devenv.core.running``).
        """
        flags = [*(["--build"] if build else []), *(["--force-recreate"] if force_recreate else [])]
        args = ["up", "--detach", "--no-start", "--no-color", *flags, *(services or [])]
        return ComposeProcess(self, "create", args, merge_output=True)

    def down(self, *, volumes: bool, remove_orphans: bool = True, timeout: int | None = None, emit: Emit) -> None:
        def run() -> None:
            for _source, raw in self.compose.compose.down(
                volumes=volumes, remove_orphans=remove_orphans, timeout=timeout, stream_logs=True
            ):
                for line in raw.decode(errors="replace").splitlines():
                    if line.strip():
                        emit(ComposeOutput(line.rstrip()))

        self.run_compose("down", run, streamed=True)

    # -- reads (docker-py, no CLI) ---------------------------------------------------------------
    def service_names(self) -> list[str]:
        """Service names from the compose files themselves (YAML), without spawning Compose.

        A file whose YAML Compose would reject raises :class:`ComposeFileError` (exit 2).
        """
        return declared_services(self.profile.compose_files, strict=True, root=self.project.root)

    def containers(self, *, all: bool = True) -> list[ContainerInfo]:
        """Every container of the project (one-off `run` containers excluded), inspected."""
        api = self.reader
        try:
            listed = api.containers(all=all, filters={"label": [f"{PROJECT_LABEL}={self.name}"]})
            out = []
            for item in listed:
                labels = item.get("Labels") or {}
                if labels.get(ONEOFF_LABEL) == "True":
                    continue
                try:
                    out.append(container_from_inspect(api.inspect_container(item["Id"])))
                except Exception as exc:  # removed between list and inspect
                    if "No such container" not in str(exc):
                        raise
            return out
        except DockerUnavailableError:
            raise
        except Exception as exc:
            from devenv.core.engine.client import unavailable

            if "Connection" in str(exc) or "No such file" in str(exc):
                raise unavailable(exc, str(getattr(api, "base_url", "the Docker socket"))) from None
            raise

    def status(self, services: Iterable[str] | None = None) -> list[ServiceStatus]:
        names = list(services) if services else self.service_names()  # a broken file fails before the engine
        containers = self.containers()
        by_service: dict[str, list[ContainerInfo]] = {}
        for c in containers:
            by_service.setdefault(c.service, []).append(c)
        for extra in sorted(by_service):
            if extra not in names and not services:
                names.append(extra)
        return [aggregate(name, by_service.get(name, [])) for name in names]

    def logs_tail(self, container_id: str, lines: int = 20) -> list[str]:
        try:
            raw = self.api.logs(container_id, stdout=True, stderr=True, tail=lines)
        except Exception:
            return []
        text = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
        return text.splitlines()[-lines:]


def up(
    stack: Stack,
    services: list[str] | None = None,
    *,
    build: bool = False,
    timeout: float | None = None,
    emit: Emit | None = None,
    force_recreate: bool = False,
    after_ready: AfterReady | None = None,
) -> UpResult:
    """Create, start in dependency order and wait until every target service is ready.

    Returns an ``UpResult``; failures, timeouts and Ctrl-C are outcomes in it, not exceptions.
    Config, Compose and engine problems raise DevenvError subclasses.

    ``after_ready`` runs once every target is ready and returns the final result: ``devenv up``
    passes :func:`devenv.core.migrations.run_on_up` (``[migrations] run_on_up``), and so does every
    core flow that starts services on its way (migrations, database flows).
    """
    import time as _time

    sink: Emit = emit or (lambda _e: None)
    t0 = _time.monotonic()
    requested = list(services or [])
    # `compose config` and `compose up --no-start` run side by side, and while they do this process
    # loads the Engine client: all three are on the critical path of every `up`. Creating before the
    # event subscription is safe: devenv starts the containers itself, after subscribing, and takes
    # the state of what already runs from the one initial inspect that follows the subscription.
    sink(StepStarted("config", stack.profile.name))
    config = None if "model" in stack.__dict__ else stack.start_config()
    sink(StepStarted("create", "building and creating" if build else "creating"))
    create = stack.start_create(requested, build=build, force_recreate=force_recreate)
    try:
        from devenv.core.waiter import EventStream, Waiter  # imports docker-py: overlapped with both

        if config is not None:
            stack.__dict__["model"] = ComposeModel.from_json(config.json())
        model = stack.model
        check_services(requested, model.services)
        targets = model.closure(requested or list(model.services))
        stream = EventStream(stack.api, stack.name)
    except BaseException:
        for proc in (config, create):
            if proc is not None:
                proc.stop()
        raise
    try:
        create.stream(sink)
        from devenv.core.running import record_up

        record_up(stack)
        sink(StepStarted("wait", ", ".join(targets)))
        waiter = Waiter(
            api=stack.api,
            project=stack.name,
            profile=stack.profile.name,
            model=model,
            targets=targets,
            emit=sink,
            timeout=stack.profile.readiness.timeout if timeout is None else timeout,
            settle=stack.profile.readiness.settle,
            probes=dict(stack.profile.probes),
            logs_tail=stack.logs_tail,
            fast_checks=[s for s in targets if stack.profile.readiness.fast_checks_for(s)],
        )
        result = waiter.run(stream, t0)
    finally:
        create.stop()
        stream.close()
    if result.ok and after_ready is not None:
        result = after_ready(stack, result, sink)
    return result
