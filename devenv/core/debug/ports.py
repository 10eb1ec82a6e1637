"""Ports of a debug session: the debugger's port in the container and the free host port for it."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Mapping
from typing import Any

from devenv.core.debug.overlay import DebugEntry
from devenv.errors import DevenvError

DEFAULT_PORT = 5678  # debugpy's usual port: the container port, and the host port when free
HOST = "127.0.0.1"


def container_port(svc: Mapping[str, Any]) -> int:
    used = {int(p.get("target", 0)) for p in svc.get("ports") or () if isinstance(p, Mapping)}
    used |= {int(str(e).split("/")[0]) for e in svc.get("expose") or () if str(e).split("/")[0].isdigit()}
    port = DEFAULT_PORT
    while port in used:
        port += 1
    return port


def _published(base: Mapping[str, Any]) -> set[int]:
    out: set[int] = set()
    for svc in (base.get("services") or {}).values():
        for p in (svc or {}).get("ports") or ():
            with contextlib.suppress(TypeError, ValueError):
                out.add(int(str(p.get("published", "")).split("-")[0]))
    return out


def port_free(port: int) -> bool:
    """Whether ``port`` can be bound on 127.0.0.1 now (a published port or a host server holds it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


def host_port(
    base: Mapping[str, Any],
    entries: Mapping[str, DebugEntry],
    service: str,
    requested: int | None,
    current: DebugEntry | None,
) -> int:
    reserved = _published(base) | {e.host_port for name, e in entries.items() if name != service}
    mine = current.host_port if current else None
    if requested is not None:
        if requested in reserved or (requested != mine and not port_free(requested)):
            raise DevenvError(
                f"Port {requested} on 127.0.0.1 is taken (by another service of the stack or a program on "
                "this machine).",
                hint=f"Pick another with --port, or leave --port out: devenv debug {service}",
            )
        return requested
    if mine is not None:
        return mine
    if DEFAULT_PORT not in reserved and port_free(DEFAULT_PORT):
        return DEFAULT_PORT
    for _ in range(20):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((HOST, 0))
            port = int(s.getsockname()[1])
        if port not in reserved:
            return port
    raise DevenvError("Could not find a free port on 127.0.0.1 for the debugger.")
