"""Readiness probes from ``[probes.<service>]``: a TCP connect, an HTTP GET, or a command in the container.

A probe is one attempt; the waiter (waiter.py) decides when to try again.
"""

from __future__ import annotations

import socket
import urllib.error
import urllib.request
from typing import TYPE_CHECKING

from devenv.core.models import ContainerInfo

if TYPE_CHECKING:
    import docker

    from devenv.config import Probe


def run_probe(api: docker.APIClient, probe: Probe, info: ContainerInfo) -> tuple[bool, str]:
    """(ok, detail) of one attempt. Never raises."""
    try:
        if probe.tcp is not None:
            return _tcp(api, probe, info)
        if probe.http is not None:
            return _http(probe.http, probe.timeout)
        if probe.cmd is not None:
            return _cmd(api, list(probe.cmd), info, probe.timeout)
    except Exception as exc:
        return False, f"{type(exc).__name__}: {exc}"
    return False, "probe has no check"


def _tcp(api: docker.APIClient, probe: Probe, info: ContainerInfo) -> tuple[bool, str]:
    port = int(probe.tcp or 0)
    host, host_port = None, port
    engine_host = _engine_host(api)
    for binding in info.ports:
        if binding.container_port == port and binding.protocol == "tcp":
            wildcard = binding.host_ip in ("0.0.0.0", "::", "")
            if engine_host is not None:  # a remote engine publishes on its own host
                if not wildcard and binding.host_ip.startswith("127."):
                    return False, f"tcp {port}: published on 127.0.0.1 of {engine_host}, not reachable from here"
                host = engine_host if wildcard else binding.host_ip
            else:
                host = "127.0.0.1" if wildcard else binding.host_ip
            host_port = binding.host_port
            break
    if host is None:
        networks = (api.inspect_container(info.id).get("NetworkSettings") or {}).get("Networks") or {}
        host = next((n.get("IPAddress") for n in networks.values() if n.get("IPAddress")), None)
    if not host:
        return False, f"tcp {port}: container has no published port or IP address"
    try:
        with socket.create_connection((host, host_port), timeout=probe.timeout):
            return True, f"tcp {host}:{host_port} accepted"
    except OSError as exc:
        return False, f"tcp {host}:{host_port}: {exc.strerror or exc}"


def _engine_host(api: docker.APIClient) -> str | None:
    """The engine's host when docker-py talks TCP to another machine (None: this machine's engine)."""
    base = str(getattr(api, "base_url", ""))
    if not base.startswith(("http://", "https://")):
        return None
    from urllib.parse import urlsplit

    name = urlsplit(base).hostname
    return None if name is None or name in ("localhost", "::1") or name.startswith("127.") else name


def _http(url: str, timeout: float) -> tuple[bool, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            code = int(resp.status)
    except urllib.error.HTTPError as exc:
        code = exc.code
    except (urllib.error.URLError, OSError) as exc:
        return False, f"GET {url}: {getattr(exc, 'reason', exc)}"
    return 200 <= code < 400, f"GET {url}: HTTP {code}"


def _cmd(api: docker.APIClient, argv: list[str], info: ContainerInfo, timeout: float) -> tuple[bool, str]:
    exec_id = api.exec_create(info.id, argv, stdout=True, stderr=True)["Id"]
    output = api.exec_start(exec_id, stream=False)
    code = api.exec_inspect(exec_id).get("ExitCode")
    text = output.decode(errors="replace").strip() if isinstance(output, bytes) else str(output)
    tail = text.splitlines()[-1] if text else ""
    return code == 0, f"{' '.join(argv)} exited with code {code}" + (f": {tail}" if tail else "")
