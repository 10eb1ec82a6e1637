"""The compose model: what devenv reads from a project's compose files.

- :class:`ComposeModel` (with :class:`ServiceSpec` and :class:`Dependency`): the subset of
  ``docker compose config --format json`` (interpolated, merged) that devenv reasons about, and
  the dependency closure of a set of services;
- :func:`declared_services`: the service names straight from the YAML files, without spawning
  Compose (fast read paths such as ``devenv status``), with Compose's own file errors;
- :func:`check_services`: unknown service names, with a "did you mean".

No Docker, no subprocess: running Compose is :mod:`devenv.core.compose.runner`'s job.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from devenv.errors import ComposeFileError, UnknownServiceError


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

    def isolated(self, services: Iterable[str]) -> ComposeModel:
        """This model with the ``depends_on`` of ``services`` cut to the dependencies among them.

        What Compose's ``--no-deps`` does: the named services start in their own order, and a
        dependency outside them is neither started nor waited for.
        """
        keep = set(services)
        changed = {
            name: replace(spec, depends_on=tuple(d for d in spec.depends_on if d.service in keep))
            for name, spec in self.services.items()
            if name in keep
        }
        return replace(self, services={**self.services, **changed})


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
