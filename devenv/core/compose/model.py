"""The compose model: what devenv reads from a project's compose files.

- :class:`ComposeModel` (with :class:`ServiceSpec` and :class:`Dependency`): the subset of
  ``docker compose config --format json`` (interpolated, merged) that devenv reasons about, and
  the dependency closure of a set of services;
- :func:`check_services`: unknown service names, with a "did you mean".

``$`` escapes: ``docker compose config`` prints every ``$`` of a value as ``$$`` so that its output
can be read again by Compose, which turns ``$$`` back into ``$`` when it loads it (an
``environment`` value ``p$$ss`` in the files is ``p$ss`` in the container, and stays ``p$$ss`` in
``config``'s output). :meth:`ComposeModel.from_json` undoes that escape once, in every string value
of the document, so ``raw`` and every field hold what the containers get, as Compose reads its own
output: whoever reads the model (hooks, migrations' masking, database credentials, readiness checks)
never sees ``$$``.

No Docker, no subprocess: running Compose is :mod:`devenv.core.compose.runner`'s job; reading the
files without Compose (``devenv status``) is :mod:`devenv.core.compose.files`'.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from devenv.core.compose.injected import InjectedFile, injected_files
from devenv.errors import UnknownServiceError


@dataclass(frozen=True)
class Dependency:
    service: str
    condition: str  # service_started | service_healthy | service_completed_successfully
    required: bool = True  # false: Compose starts the dependent even when this one fails or is absent
    restart: bool = False  # true: Compose restarts the dependent when it restarts this one (not on up)


@dataclass(frozen=True)
class Hook:
    """One ``post_start`` / ``pre_stop`` lifecycle hook: a command Compose execs in the container."""

    command: tuple[str, ...]
    user: str | None = None
    privileged: bool = False
    working_dir: str | None = None
    environment: Mapping[str, str | None] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Hook:
        """From a hook of the model's ``raw`` document (already unescaped, see the module doc)."""
        command = data.get("command") or ()
        env = data.get("environment") or {}
        if isinstance(env, list):  # the list form, should Compose ever print it
            env = dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
        return cls(
            command=(str(command),) if isinstance(command, str) else tuple(str(c) for c in command),
            user=str(data.get("user") or "") or None,
            privileged=bool(data.get("privileged")),
            working_dir=str(data.get("working_dir") or "") or None,
            environment={str(k): None if v is None else str(v) for k, v in env.items()},
        )


def unescape(value: Any) -> Any:
    """A value of ``docker compose config``'s output as Compose reads it back: ``$$`` is ``$``.

    Applied to every string in lists and mappings (values only: keys are never interpolated).
    """
    if isinstance(value, str):
        return value.replace("$$", "$")
    if isinstance(value, Mapping):
        return {k: unescape(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [unescape(v) for v in value]
    return value


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
    post_start: tuple[Hook, ...] = ()
    pre_stop: tuple[Hook, ...] = ()
    injected: tuple[InjectedFile, ...] = ()  # secrets / configs copied in before each start

    @property
    def has_post_start(self) -> bool:
        return bool(self.post_start)


@dataclass(frozen=True)
class ComposeModel:
    """The subset of ``docker compose config --format json`` devenv reasons about.

    ``raw`` is that whole document with its ``$$`` escapes undone: the values the containers get.
    """

    name: str
    services: Mapping[str, ServiceSpec]
    raw: Mapping[str, Any]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ComposeModel:
        """From ``docker compose config --format json``; ``$$`` escapes undone once (module doc)."""
        data = unescape(data)
        services: dict[str, ServiceSpec] = {}
        for name, svc in (data.get("services") or {}).items():
            deps = []
            for dep, spec in (svc.get("depends_on") or {}).items():
                spec = spec or {}
                deps.append(
                    Dependency(
                        dep,
                        spec.get("condition", "service_started"),
                        required=bool(spec.get("required", True)),
                        restart=bool(spec.get("restart", False)),
                    )
                )
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
                post_start=tuple(Hook.from_json(h) for h in svc.get("post_start") or ()),
                pre_stop=tuple(Hook.from_json(h) for h in svc.get("pre_stop") or ()),
                injected=injected_files(data, svc),
            )
        return cls(name=str(data.get("name") or ""), services=services, raw=data)

    def restart_dependents(self, service: str) -> list[str]:
        """Services that declare ``depends_on: {service: {restart: true}}``: Compose restarts them
        after it restarts ``service`` (``docker compose restart``); ``up`` is not concerned."""
        return [s.name for s in self.services.values() if any(d.service == service and d.restart for d in s.depends_on)]

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
