"""A Compose project under one profile: its files, env files and name, its containers, its verbs.

:class:`Stack` holds the connections (docker-py for the Engine API, a stdlib reader for fast
reads), the Compose command line of the profile (every Compose verb is a
:class:`~devenv.core.compose.runner.ComposeProcess`), the compose model of the profile and the
reads (container list + inspect, aggregated per service). :func:`up` is the verb that creates,
starts in dependency order and waits (:class:`devenv.core.waiter.Waiter`). The compose model and
the Compose runner are in :mod:`devenv.core.compose`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from devenv.core.compose.files import active_profiles, declared_services
from devenv.core.compose.model import ComposeModel, check_services
from devenv.core.compose.runner import ComposeProcess, compose_error
from devenv.core.inspection import inspected, stack_status
from devenv.core.models import ContainerInfo, ServiceStatus, UpResult

if TYPE_CHECKING:
    import docker

    from devenv.config import Profile, Project
    from devenv.core.cancel import CancelToken
    from devenv.core.engine.endpoint import Endpoint
    from devenv.core.events import Emit
    from devenv.core.waiter import Waiter


class ComposedConfig:
    """``docker compose config`` of a profile, plus that of services enabled by name (``Stack.start_config``)."""

    def __init__(self, base: ComposeProcess, named: ComposeProcess | None) -> None:
        self.base = base
        self.named = named

    def json(self) -> dict[str, Any]:
        data = self.base.json()
        if self.named is None:
            return data
        extra = self.named.json()
        for key in ("services", "networks", "volumes", "secrets", "configs"):
            if extra.get(key):
                data[key] = {**extra[key], **(data.get(key) or {})}
        return data

    def stop(self) -> None:
        for proc in (self.base, self.named):
            if proc is not None:
                proc.stop()


# What runs once every target service of an ``up`` is ready; returns the final result.
AfterReady = Callable[["Stack", UpResult, "Emit"], UpResult]


class Stack:
    """One project under one profile."""

    compose_profiles: tuple[str, ...] = ()
    named_services: tuple[str, ...] = ()  # enabled by name though their Compose profiles are not active

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
        # While a service is under `devenv debug`, devenv's overlay is the profile's last compose
        # file for every command (devenv.core.debug.overlay). One stat when no service ever was.
        root = getattr(project, "root", None)  # tests build stacks of stand-ins
        if root is not None and os.path.isdir(os.path.join(root, ".devenv", "debug")):
            from devenv.core.debug.overlay import with_debug_overlay

            self.profile = with_debug_overlay(root, profile)
        self._api = api
        self._reader: Any = None
        # Compose's own service profiles (`docker compose --profile`), for every Compose command.
        self.compose_profiles = tuple(compose_profiles)

    @property
    def name(self) -> str:
        return self.project.name

    # -- connections --------------------------------------------------------------------------
    @cached_property
    def endpoint(self) -> Endpoint:
        """The one Docker engine of this profile (its ``context`` / ``docker_host``, unless
        ``DOCKER_HOST`` / ``DOCKER_CONTEXT`` say otherwise): every client and child process uses it."""
        from devenv.core.engine.endpoint import of_profile

        return of_profile(self.profile)

    def child_env(self) -> dict[str, str] | None:
        """The environment of a ``docker`` / ``docker compose`` child of this profile (None: inherit ours)."""
        pinned = self.endpoint.child_env
        if not pinned:
            return None
        import os

        return {**os.environ, **pinned}

    @property
    def api(self) -> docker.APIClient:
        if self._api is None:
            from devenv.core.engine.client import connect

            self._api = connect(endpoint=self.endpoint)
        return self._api

    @property
    def reader(self) -> Any:
        """Read-only Engine API: a stdlib client on a local Unix socket (fast start), else docker-py."""
        if self._api is not None:
            return self._api
        if self._reader is None:
            from devenv.core.engine.rawapi import RawEngine

            path = self.endpoint.unix_path
            self._reader = RawEngine(path, where=self.endpoint.describe()) if path else self.api
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

    def project_env(self, name: str) -> str | None:
        """A variable of Compose's project environment (the process's, then the profile's env files)."""
        from devenv.core.compose.files import project_env

        files = self.profile.compose_files
        return project_env(name, self.profile.env_files, files[0].parent if files else None)

    def active_compose_profiles(self) -> list[str]:
        """The Compose profiles in force, decided as Compose does (flags, COMPOSE_PROFILES, env files)."""
        files = self.profile.compose_files
        return active_profiles(self.compose_profiles, self.profile.env_files, files[0].parent if files else None)

    def enable_services(self, names: Iterable[str]) -> list[str]:
        """Enable services named on the command line whose Compose profiles are not active, as Compose does.

        Compose enables a disabled service it is asked for by name, with its dependencies (compose-go
        ``WithServicesEnabled``: ``docker compose up tool`` starts ``tool`` of profile ``debug``
        without ``--profile debug``, and fails with "no such service" when a dependency stays
        disabled). The same here: such names are kept in ``named_services``; the model then adds
        what ``docker compose config SERVICE...`` gives for them (Compose's own enabling, checked as
        Compose checks it) to the profile's services, and ``service_names`` lists them. Compose
        commands that name them enable them by themselves. Returns the names enabled now.
        """
        from devenv.core.compose.files import service_profiles

        names = list(names)
        if not names:
            return []
        known = self.service_names()
        missing = [n for n in names if n not in known]
        if not missing:
            return []
        profiles = service_profiles(self.profile.compose_files, strict=True, root=self.project.root)
        enabled = [n for n in missing if profiles.get(n)]
        if enabled:
            self.named_services = (*self.named_services, *enabled)
            self.__dict__.pop("model", None)  # read again with them
        return enabled

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
            variables=self.missing_variables_error,
        )

    def missing_variables_error(self) -> Exception | None:
        """Every required variable this profile leaves unset, as one error (exit 2); None when none is."""
        from devenv.core.compose.interpolation import missing_required, missing_variables_error

        files, env_files = self.profile.compose_files, self.profile.env_files
        return missing_variables_error(
            missing_required(files, env_files),
            profile=self.profile.name,
            compose_files=files,
            env_files=env_files,
            root=self.project.root,
        )

    def _rel(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.project.root))
        except ValueError:
            return str(path)

    def start_config(self) -> ComposedConfig:
        """Start ``docker compose config --format json`` (interpolated, merged; validates the files).

        With ``named_services``, ``config --format json NAME...`` runs beside it and its services
        (the named ones and their dependencies, enabled by Compose) are added to the result.
        """
        base = ComposeProcess(self, "config", ["config", "--format", "json"], merge_output=False)
        named = None
        if self.named_services:
            args = ["config", "--format", "json", *self.named_services]
            named = ComposeProcess(self, "config", args, merge_output=False)
        return ComposedConfig(base, named)

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

    def run_oneoff(
        self, service: str, argv: Sequence[str], *, name: str | None = None
    ) -> tuple[Iterator[tuple[str, bytes]], Callable[[], int], Callable[[], None]]:
        """``docker compose run --rm --no-deps -T``: ``(output chunks, exit status, stop)`` of a one-off container.

        The status is the command's own (Compose passes it through); an unreachable engine raises.
        ``name``: the container's name (``--name``); ``stop`` ends ``docker compose run`` (from any
        thread; the container itself is the caller's to remove, by that name).
        """
        named = ["--name", name] if name else []
        proc = ComposeProcess(
            self, "run", ["run", "--rm", "--no-deps", "-T", *named, service, *argv], merge_output=False
        )

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

        def stop() -> None:
            if proc.proc.poll() is None:
                proc.proc.terminate()

        return chunks(), exit_code, stop

    # -- reads (docker-py, no CLI) ---------------------------------------------------------------
    def service_names(self) -> list[str]:
        """The profile's services (:meth:`_declared_names`), then those enabled by name (:meth:`enable_services`)."""
        names = self._declared_names()
        return names + [n for n in self.named_services if n not in names]

    def _declared_names(self) -> list[str]:
        """The services Compose would list (``include:``, Compose profiles), from the YAML, without spawning Compose.

        A file whose YAML Compose would reject raises :class:`ComposeFileError` (exit 2).
        """
        from devenv.core.servicenames import service_names  # cached by the files' stat: no YAML import

        files, root, profiles = self.profile.compose_files, self.project.root, self.active_compose_profiles()

        def parse() -> list[str]:
            names = declared_services(files, strict=True, root=root, profiles=profiles)  # YAML errors, with lines
            self.validate()  # Compose's own checks (schema, interpolation), as `docker compose ps` makes them
            return names

        return service_names(files, root, parse, extra=sorted(profiles))

    def validate(self) -> None:
        """``docker compose config --quiet``: a file Compose rejects raises :class:`ComposeFileError` (exit 2).

        Every command then gives the same error for the same broken file (``up`` and ``config`` get
        it from their own ``config``). ``status`` runs it only when the files changed since the last
        good read (the service-name cache). Without Compose v2 nothing is checked here: the YAML
        read stands, and the commands that need Compose say it is missing.
        """
        from devenv.errors import ComposeFileError, DevenvError

        try:
            ComposeProcess(self, "validate", ["config", "--quiet"], merge_output=False).wait()
        except ComposeFileError:
            raise
        except DevenvError:  # no docker CLI or Compose v2, an engine context Compose cannot use, ...:
            return  # not the files' fault; the command that needs Compose or the engine says it

    def containers(self, *, all: bool = True) -> list[ContainerInfo]:
        """Every container of the project (one-off `run` containers excluded), inspected."""
        return [info for info, _doc in inspected(self.reader, self.name, all=all)]

    def status(self, services: Iterable[str] | None = None, *, check: bool = True) -> list[ServiceStatus]:
        """The status of ``services`` (default: the profile's), one snapshot (see
        :func:`devenv.core.inspection.stack_status`, which also says what ``check`` does)."""
        return stack_status(self, services, check=check)

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
            env_lookup=self.project_env,
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
    stack.enable_services(requested)  # a named service of an inactive Compose profile, as Compose
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
        import threading

        from devenv.core.running import record_up

        # Beside the wait, not before it: one more Engine round trip off the critical path.
        recorder = threading.Thread(target=record_up, args=(stack,), name="devenv-record-up")
        recorder.start()
        sink(StepStarted("wait", ", ".join(targets)))
        try:
            result = stack.waiter(model, targets, sink, timeout, cancel=cancel).run(stream, t0)
        finally:
            recorder.join()
    finally:
        create.stop()
        stream.close()
    if result.ok and cancel is not None and cancel.cancelled:
        return replace(result, ok=False, outcome="interrupted")
    if result.ok and after_ready is not None:
        result = after_ready(stack, result, sink)
    return result
