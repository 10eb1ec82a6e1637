"""How the CLI names a profile's engine and the ports it publishes (remote engines: that host's name)."""

from __future__ import annotations

from typing import Any

from devenv.cli.output import Output
from devenv.core.models import ServiceStatus


def port_text(p: Any, engine: Any) -> str:
    """A published port as people reach it: on a remote engine, that engine's host name."""
    if engine is None or not engine.remote:
        return str(p)
    from devenv.core.engine.endpoint import published_host

    host = published_host(p.host_ip, engine)
    if host is None:
        return f"{p} (engine host only)"
    return f"{host}:{p.host_port}->{p.container_port}/{p.protocol}"


def addresses(s: ServiceStatus, engine: Any) -> list[str]:
    """``host:port`` of each published port reachable from this machine (``status --json``)."""
    from devenv.core.engine.endpoint import published_host

    found = []
    for p in s.ports:
        host = published_host(p.host_ip, engine)
        if host is not None and f"{host}:{p.host_port}" not in found:
            found.append(f"{host}:{p.host_port}" if ":" not in host else f"[{host}]:{p.host_port}")
    return found


def unreachable_ports(out: Output, statuses: list[ServiceStatus], engine: Any) -> None:
    """On a remote engine, say which published ports only its own host can reach."""
    if engine is None or not engine.remote:
        return
    from devenv.core.engine.endpoint import published_host, unreachable_note

    for s in statuses:
        for p in s.ports:
            if published_host(p.host_ip, engine) is None:
                out.info(out.yellow(f"note: {s.service}: {unreachable_note(p.host_port, engine)}"))
