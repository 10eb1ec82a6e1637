"""A Compose project under one profile: its files, env files and name, its containers, its verbs.

:class:`Stack` holds the connections (docker-py for the Engine API, a stdlib reader for fast
reads), the Compose command line of the profile (every Compose verb is a
:class:`~devenv.core.compose.runner.ComposeProcess`), the compose model of the profile and the
reads (container list + inspect, aggregated per service). :func:`up` is the verb that creates,
starts in dependency order and waits (:class:`devenv.core.waiter.Waiter`). The compose model and
the Compose runner are in :mod:`devenv.core.compose`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from devenv.core.compose.files import active_profiles, declared_services
from devenv.core.compose.model import ComposeModel, check_services
from devenv.core.compose.runner import ComposeProcess, compose_error
from devenv.core.engine.containers import ONEOFF_LABEL, PROJECT_LABEL, container_from_inspect
from devenv.core.health import aggregate
from devenv.core.models import ContainerInfo, ServiceStatus, UpResult
from devenv.errors import DockerUnavailableError

if TYPE_CHECKING:
    import docker

    from devenv.config import Profile, Project
    from devenv.core.cancel import CancelToken
    from devenv.core.events import Emit
    from devenv.core.waiter import Waiter

# What runs once every target service of an ``up`` is ready; returns the final result.
AfterReady = Callable[["Stack", UpResult, "Emit"], UpResult]


class Stack:
    """One project under one profile."""

    compose_profiles: tuple[str, ...] = ()

    def __init__(
        self,
        project: Project,
        profile: Profile,
        *,
        api: docker.APIClient | None = None,
        compose_profiles: Sequence[str] = (),
    ) -> None:
        self.project = project
        self.profile = profile
        self._api = api
        self._reader: Any = None
        # Compose's own service profiles (`docker compose --profile`), for every Compose command.
        self.compose_profiles = tuple(compose_profiles)

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

    def compose_args(self) -> list[str]:
        """The equivalent plain ``docker compose`` arguments (for messages and benchmarks)."""
        args = ["docker", "compose", "-p", self.name]
        for f in self.profile.compose_files:
            args += ["-f", str(f)]
        for e in self.profile.env_files:
            args += ["--env-file", str(e)]
        for p in self.compose_profiles:
            args += ["--profile", p]
        return args

    def active_compose_profiles(self) -> list[str]:
        """The Compose profiles in force, decided as Compose does (flags, COMPOSE_PROFILES, env files)."""
        files = self.profile.compose_files
        return active_profiles(self.compose_profiles, self.profile.env_files, files[0].parent if files else None)

    # -- compose verbs --------------------------------------------------------------------------

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

    def start_create(
        self,
        services: list[str] | None,
        *,
        build: bool,
        force_recreate: bool = False,
        no_deps: bool = False,
        stop_timeout: int | None = None,
    ) -> ComposeProcess:
        """Start ``docker compose up --no-start``: networks, volumes, (re)created containers; no start.

        ``force_recreate``: recreate every container, so that all of them carry this profile's files
        in their labels (a profile switch; see ``devenv.core.running``) or pick up changed config.
        ``no_deps``: only ``services``, not their dependencies. ``stop_timeout``: Compose's ``-t``,
        the seconds a container being replaced gets to stop before it is killed.
        """
        flags = [*(["--build"] if build else []), *(["--force-recreate"] if force_recreate else [])]
        flags += [*(["--no-deps"] if no_deps else []), *(["-t", str(stop_timeout)] if stop_timeout is not None else [])]
        args = ["up", "--detach", "--no-start", "--no-color", *flags, *(services or [])]
        return ComposeProcess(self, "create", args, merge_output=True)

    def down(self, *, volumes: bool, remove_orphans: bool = True, timeout: int | None = None, emit: Emit) -> None:
        """``docker compose down``: Compose stops and removes (its output is emitted line by line)."""
        args = ["down", *(["--volumes"] if volumes else []), *(["--remove-orphans"] if remove_orphans else [])]
        args += ["--timeout", str(timeout)] if timeout is not None else []
        proc = ComposeProcess(self, "down", args, merge_output=True)
        try:
            proc.stream(emit)
        finally:
            proc.stop()

    def rm(self, services: Sequence[str], *, volumes: bool = False) -> None:
        """``docker compose rm --force --stop``: stop and remove the services' containers."""
        args = ["rm", "--force", "--stop", *(["--volumes"] if volumes else []), *services]
        proc = ComposeProcess(self, "rm", args, merge_output=True)
        try:
            proc.wait()
        finally:
            proc.stop()

    def run_oneoff(self, service: str, argv: Sequence[str]) -> tuple[Iterator[tuple[str, bytes]], Callable[[], int]]:
        """``docker compose run --rm --no-deps -T``: ``(output chunks, exit status)`` of a one-off container.

        The status is the command's own (Compose passes it through); an unreachable engine raises.
        """
        proc = ComposeProcess(self, "run", ["run", "--rm", "--no-deps", "-T", service, *argv], merge_output=False)

        def chunks() -> Iterator[tuple[str, bytes]]:
            try:
                yield from proc.chunks()
            finally:
                proc.stop()

        def exit_code() -> int:
            code = proc.returncode
            if code is None:
                return -1
            if code != 0 and "Cannot connect to the Docker daemon" in proc.stderr_text:
                from devenv.errors import DockerUnavailableError

                raise DockerUnavailableError(f"Cannot reach the Docker engine: {proc.stderr_text.strip()}")
            return code

        return chunks(), exit_code

    # -- reads (docker-py, no CLI) ---------------------------------------------------------------
    def service_names(self) -> list[str]:
        """The services Compose would list (``include:``, Compose profiles), from the YAML, without spawning Compose.

        A file whose YAML Compose would reject raises :class:`ComposeFileError` (exit 2).
        """
        from devenv.core.servicenames import service_names  # cached by the files' stat: no YAML import

        files, root, profiles = self.profile.compose_files, self.project.root, self.active_compose_profiles()
        return service_names(
            files,
            root,
            lambda: declared_services(files, strict=True, root=root, profiles=profiles),
            extra=sorted(profiles),
        )

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

    def waiter(
        self,
        model: ComposeModel,
        targets: list[str],
        emit: Emit,
        timeout: float | None = None,
        *,
        cancel: CancelToken | None = None,
    ) -> Waiter:
        """The readiness wait of ``targets`` under this profile's rules (settle, probes, timeout).

        ``timeout``: seconds; ``None``: the profile's ``[readiness] timeout``. Shared by :func:`up`
        and the per-service actions (:mod:`devenv.core.actions`), so their verdicts and diagnostics
        are the same.
        """
        from devenv.core.waiter import Waiter

        return Waiter(
            api=self.api,
            project=self.name,
            profile=self.profile.name,
            model=model,
            targets=targets,
            emit=emit,
            timeout=self.profile.readiness.timeout if timeout is None else timeout,
            settle=self.profile.readiness.settle,
            probes=dict(self.profile.probes),
            logs_tail=self.logs_tail,
            cancel=cancel,
            fast_checks=[s for s in targets if self.profile.readiness.fast_checks_for(s)],
        )

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
    cancel: CancelToken | None = None,
    no_deps: bool = False,
    stop_timeout: int | None = None,
) -> UpResult:
    """Create, start in dependency order and wait until every target service is ready.

    Returns an ``UpResult``; failures, timeouts and Ctrl-C are outcomes in it, not exceptions.
    Config, Compose and engine problems raise DevenvError subclasses.

    ``after_ready`` runs once every target is ready and returns the final result: ``devenv up``
    passes :func:`devenv.core.migrations.run_on_up` (``[migrations] run_on_up``), and so does every
    core flow that starts services on its way (migrations, database flows).

    ``cancel`` (from any thread) ends the wait like Ctrl-C: outcome "interrupted", containers left as
    they are; during the create step it stops ``docker compose`` and raises ``Cancelled``.
    ``no_deps`` (with ``services``): Compose's ``--no-deps``, only those services are created,
    started and waited for; a dependency outside them is neither started nor waited for.
    ``force_recreate`` and ``stop_timeout``: Compose's ``--force-recreate`` and ``-t``.
    """
    import time as _time

    from devenv.core.cancel import cancel_hook, check
    from devenv.core.events import StepStarted

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
    no_deps = no_deps and bool(requested)
    create = stack.start_create(
        requested, build=build, force_recreate=force_recreate, no_deps=no_deps, stop_timeout=stop_timeout
    )
    try:
        from devenv.core.eventstream import EventStream  # imports docker-py: overlapped with both

        if config is not None:
            stack.__dict__["model"] = ComposeModel.from_json(config.json())
        model = stack.model
        check_services(requested, model.services)
        targets = model.closure(requested or list(model.services))
        if no_deps:  # the named services only, in dependency order among themselves
            targets = [s for s in targets if s in requested]
        if no_deps:
            model = model.isolated(targets)
        stream = EventStream(stack.api, stack.name)
    except BaseException:
        for proc in (config, create):
            if proc is not None:
                proc.stop()
        raise
    try:
        with cancel_hook(cancel, create.proc.terminate):
            try:
                create.stream(sink)
            finally:
                check(cancel)  # a cancelled create is Cancelled, not the error of a killed compose
        from devenv.core.running import record_up

        record_up(stack)
        sink(StepStarted("wait", ", ".join(targets)))
        result = stack.waiter(model, targets, sink, timeout, cancel=cancel).run(stream, t0)
    finally:
        create.stop()
        stream.close()
    if result.ok and cancel is not None and cancel.cancelled:
        return replace(result, ok=False, outcome="interrupted")
    if result.ok and after_ready is not None:
        result = after_ready(stack, result, sink)
    return result
