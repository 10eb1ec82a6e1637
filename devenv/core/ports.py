"""Who holds a host port: another container, or a host process."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import docker


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
