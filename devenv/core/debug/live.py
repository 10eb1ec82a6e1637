"""What runs under debugpy now: the services' containers read through the Engine API.

:func:`debug_targets` lists every service whose running container's command runs
``debugpy --listen`` on a published port, devenv's overlay or the service's own command;
:func:`target_from_container` reads one container (ports, source mounts for path mappings).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from devenv.core.debug.command import own_debugpy_port
from devenv.core.debug.overlay import DEBUG_LABEL, DEBUGPY_MOUNT
from devenv.core.debug.target import DebugTarget, PathMapping

if TYPE_CHECKING:
    from devenv.core.stack import Stack

HOST = "127.0.0.1"


def debug_targets(stack: Stack) -> list[DebugTarget]:
    """Every service running under debugpy now, with a published port: devenv's or its own."""
    from devenv.core.engine.containers import ONEOFF_LABEL, PROJECT_LABEL, SERVICE_LABEL

    api = stack.reader
    found: dict[str, DebugTarget] = {}
    for item in api.containers(filters={"label": [f"{PROJECT_LABEL}={stack.name}"]}):
        labels = item.get("Labels") or {}
        service = labels.get(SERVICE_LABEL)
        if not service or labels.get(ONEOFF_LABEL) == "True" or service in found:
            continue
        try:
            doc = api.inspect_container(item["Id"])
        except Exception as exc:
            if "No such container" in str(exc):
                continue
            raise
        target = target_from_container(stack, service, doc, overlay=labelled(doc))
        if target is not None:
            found[service] = target
    return sorted(found.values(), key=lambda t: t.service)


def target_from_container(stack: Stack, service: str, doc: Mapping[str, Any], *, overlay: bool) -> DebugTarget | None:
    """The target of a running container whose command runs ``debugpy --listen``, if published."""
    if not (doc.get("State") or {}).get("Running"):
        return None
    argv = [str(doc.get("Path") or ""), *[str(a) for a in doc.get("Args") or ()]]
    container_port = own_debugpy_port(argv)
    if container_port is None:
        return None
    binding = _binding(doc, container_port)
    if binding is None:
        return None
    host, port = binding
    return DebugTarget(
        service=service,
        host=host,
        port=port,
        container_port=container_port,
        path_mappings=path_mappings(stack.project.root, doc),
        own_debugpy=not overlay,
        overlay=overlay,
    )


def _binding(doc: Mapping[str, Any], container_port: int) -> tuple[str, int] | None:
    ports = (doc.get("NetworkSettings") or {}).get("Ports") or {}
    for b in ports.get(f"{container_port}/tcp") or ():
        if b.get("HostPort"):
            ip = b.get("HostIp") or ""
            return (HOST if ip in ("", "0.0.0.0", "::") else ip), int(b["HostPort"])
    return None


def path_mappings(root: Path, doc: Mapping[str, Any]) -> tuple[PathMapping, ...]:
    """The container's bind mounts of folders inside the project: host folder -> container folder."""
    top = os.path.realpath(root)
    out: list[PathMapping] = []
    for mount in doc.get("Mounts") or ():
        if mount.get("Type") != "bind" or mount.get("Destination") == DEBUGPY_MOUNT:
            continue
        source = str(mount.get("Source") or "")
        real = os.path.realpath(source)
        if (real == top or real.startswith(top + os.sep)) and os.path.isdir(real):
            out.append(PathMapping(local_root=source, remote_root=str(mount.get("Destination"))))
    return tuple(sorted(out, key=lambda m: (-len(m.remote_root), m.remote_root)))


def service_containers(stack: Stack, service: str) -> list[dict[str, Any]]:
    """Inspect documents of the service's containers (one-off ``run`` containers left out)."""
    from devenv.core.engine.containers import ONEOFF_LABEL, PROJECT_LABEL, SERVICE_LABEL

    api = stack.api
    out = []
    filters = {"label": [f"{PROJECT_LABEL}={stack.name}", f"{SERVICE_LABEL}={service}"]}
    for item in api.containers(all=True, filters=filters):
        if (item.get("Labels") or {}).get(ONEOFF_LABEL) == "True":
            continue
        with contextlib.suppress(Exception):
            out.append(api.inspect_container(item["Id"]))
    return out


def _labelled(doc: Mapping[str, Any]) -> bool:
    return DEBUG_LABEL in (((doc.get("Config") or {}).get("Labels")) or {})


def labelled(doc: Mapping[str, Any]) -> bool:
    """Whether a container runs under devenv's debug overlay (its label)."""
    return DEBUG_LABEL in (((doc.get("Config") or {}).get("Labels")) or {})
