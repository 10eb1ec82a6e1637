"""Published ports: which port an Engine start error is about, and who holds a host port."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import docker


def parse_port_conflict(message: str) -> tuple[str, int] | None:
    """(host_ip, port) from an Engine start error about a published port, else None."""
    if "port is already allocated" not in message and "address already in use" not in message:
        return None
    m = re.search(r"(?:Bind for |listen tcp[46]? )\[?([0-9a-fA-F.:]*?)\]?:(\d+)(?: failed|: bind)", message)
    if not m:
        m = re.search(r"([0-9.]+):(\d+)", message)
    if not m:
        return None
    return m.group(1) or "0.0.0.0", int(m.group(2))


def describe_port_holder(port: int, api: docker.APIClient | None = None) -> str | None:
    """A short description of what listens on ``port`` on this host, or None if unknown."""
    container = _container_holding(port, api) if api is not None else None
    if container:
        return container
    return _process_holding(port)


def _container_holding(port: int, api: docker.APIClient) -> str | None:
    try:
        for item in api.containers():
            for p in item.get("Ports") or ():
                if int(p.get("PublicPort") or 0) == port:
                    labels = item.get("Labels") or {}
                    name = (item.get("Names") or ["?"])[0].lstrip("/")
                    proj = labels.get("com.docker.compose.project")
                    where = f" (compose project {proj!r}, service {labels.get('com.docker.compose.service')!r})"
                    return f"container {name}" + (where if proj else "")
    except Exception:
        return None
    return None


def _process_holding(port: int) -> str | None:
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil is a dependency
        return None
    try:
        conns = psutil.net_connections(kind="inet")
    except (psutil.AccessDenied, OSError):
        return None
    for conn in conns:
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port and conn.pid:
            try:
                proc = psutil.Process(conn.pid)
                name = proc.name()
                cmd = " ".join(" ".join(proc.cmdline()).split())[:120]  # one line, however it was spawned
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                return f"process {conn.pid}"
            if name == "docker-proxy":
                continue  # a container's published port: reported by _container_holding
            return f"process {conn.pid} ({cmd or name})"
    return None
