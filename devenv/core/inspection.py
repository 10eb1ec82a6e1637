"""Reads of a project's containers: the list + inspect of every container, and the per-service status.

Kept apart from :mod:`devenv.core.stack` (which delegates ``Stack.containers`` and ``Stack.status``
here) so each stays small; nothing here starts or changes anything.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any, Protocol

from devenv.core.engine.containers import ONEOFF_LABEL, PROJECT_LABEL, container_from_inspect
from devenv.core.health import aggregate
from devenv.core.models import ContainerInfo, Health, ServiceStatus
from devenv.errors import DockerUnavailableError


class _Readable(Protocol):
    """What :func:`stack_status` reads of a :class:`~devenv.core.stack.Stack`."""

    @property
    def name(self) -> str: ...

    @property
    def reader(self) -> Any: ...

    @property
    def profile(self) -> Any: ...

    def service_names(self) -> list[str]: ...


def inspected(api: Any, project: str, *, all: bool = True) -> list[tuple[ContainerInfo, dict[str, Any]]]:
    """Every container of ``project`` (one-off `run` containers excluded): (info, inspect document).

    ``api``: the stack's reader (docker-py's API client or the stdlib reader: same two calls).
    """
    try:
        listed = api.containers(all=all, filters={"label": [f"{PROJECT_LABEL}={project}"]})
        out = []
        for item in listed:
            labels = item.get("Labels") or {}
            if labels.get(ONEOFF_LABEL) == "True":
                continue
            try:
                doc = api.inspect_container(item["Id"])
            except Exception as exc:  # removed between list and inspect
                if "No such container" not in str(exc):
                    raise
                continue
            out.append((container_from_inspect(doc), doc))
        return out
    except DockerUnavailableError:
        raise
    except Exception as exc:
        from devenv.core.engine.client import unavailable

        if "Connection" in str(exc) or "No such file" in str(exc):
            raise unavailable(exc, str(getattr(api, "base_url", "the Docker socket"))) from None
        raise


def stack_status(stack: _Readable, services: Iterable[str] | None = None, *, check: bool = True) -> list[ServiceStatus]:
    """The status of ``services`` (default: the profile's), one snapshot.

    ``check``: a container whose health Docker still calls ``starting`` gets one run of its
    healthcheck test from here (:func:`devenv.core.fastcheck.check_now`: the host-side
    equivalent, else the test itself; all at once, bounded by a second): when it passes, the
    service is ready (``ready_by: "devenv-check"``), as it is for ``up``. Never for a service
    whose ``[readiness] fast_checks`` is off.
    """
    names = list(services) if services else stack.service_names()  # a broken file fails before the engine
    pairs = inspected(stack.reader, stack.name)
    readiness = stack.profile.readiness
    starting = [
        doc
        for info, doc in pairs
        if check
        and info.state == "running"
        and info.health == Health.STARTING
        and readiness.fast_checks_for(info.service)
        and (not services or info.service in names)
    ]
    passed: set[str] = set()
    if starting:
        from devenv.core.fastcheck import check_now

        passed = check_now(stack.reader, starting)
    by_service: dict[str, list[ContainerInfo]] = {}
    for info, _doc in pairs:
        by_service.setdefault(info.service, []).append(replace(info, checked=True) if info.id in passed else info)
    for extra in sorted(by_service):
        if extra not in names and not services:
            names.append(extra)
    return [aggregate(name, by_service.get(name, [])) for name in names]
