"""A minimal, read-only Engine API client over a Unix socket, for fast read paths.

``devenv status`` must answer in about a third of a second. Importing docker-py (requests,
urllib3) alone costs about 0.25 s on these machines, so the read path (list + inspect) talks
HTTP/1.1 over the socket with the standard library instead. It returns the same JSON shapes as
``docker.APIClient.containers`` / ``inspect_container``, so callers cannot tell the difference.
Anything but a local Unix socket (TCP, TLS, SSH, a non-default context) uses docker-py.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import urllib.parse
from collections.abc import Mapping
from typing import Any

from devenv.errors import DockerUnavailableError

DEFAULT_SOCKET = "/var/run/docker.sock"


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


class RawEngine:
    """GET-only Engine API calls over a Unix socket (API version negotiated like the CLI: v1.41)."""

    def __init__(self, socket_path: str, timeout: float = 30.0) -> None:
        self.base_url = f"unix://{socket_path}"
        self._path = socket_path
        self._timeout = timeout
        self._conn: _UnixConnection | None = None

    def _get(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        try:
            if self._conn is None:
                self._conn = _UnixConnection(self._path, self._timeout)
            self._conn.request("GET", f"/v1.41{path}{query}")
            resp = self._conn.getresponse()
            body = resp.read()
        except OSError as exc:
            self._conn = None
            from devenv.core.engine.client import unavailable

            raise unavailable(exc, self.base_url) from None
        if resp.status == 404:
            raise LookupError(f"No such container: {path}")
        if resp.status >= 400:
            raise DockerUnavailableError(f"The Docker engine answered {resp.status} to GET {path}: {body[:200]!r}")
        return json.loads(body)

    def containers(self, all: bool = False, filters: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        params = {"all": "1" if all else "0"}
        if filters:
            params["filters"] = json.dumps(
                {k: list(v) if isinstance(v, list | tuple) else [v] for k, v in filters.items()}
            )
        result: list[dict[str, Any]] = self._get("/containers/json", params)
        return result

    def inspect_container(self, container: str) -> dict[str, Any]:
        result: dict[str, Any] = self._get(f"/containers/{urllib.parse.quote(container)}/json")
        return result

    def logs(self, container: str, stdout: bool = True, stderr: bool = True, tail: int | str = "all") -> bytes:
        """Non-streaming logs (demultiplexed when the container has no TTY)."""
        params = {"stdout": str(int(stdout)), "stderr": str(int(stderr)), "tail": str(tail)}
        query = urllib.parse.urlencode(params)
        conn = _UnixConnection(self._path, self._timeout)
        try:
            conn.request("GET", f"/v1.41/containers/{urllib.parse.quote(container)}/logs?{query}")
            resp = conn.getresponse()
            raw = resp.read()
            tty = "multiplexed" not in (resp.getheader("Content-Type") or "")
        finally:
            conn.close()
        return raw if tty else demux(raw)


def demux(raw: bytes) -> bytes:
    """Strip the 8-byte stream headers of a multiplexed (non-TTY) log response."""
    out = bytearray()
    i = 0
    while i + 8 <= len(raw):
        size = int.from_bytes(raw[i + 4 : i + 8], "big")
        out += raw[i + 8 : i + 8 + size]
        i += 8 + size
    return bytes(out)


def local_socket(environ: Mapping[str, str] | None = None) -> str | None:
    """The Unix socket path when the daemon is local and needs nothing docker-py-specific."""
    env = os.environ if environ is None else environ
    host = env.get("DOCKER_HOST", "")
    if env.get("DOCKER_CONTEXT") not in (None, "", "default"):
        return None
    if host:
        return host[len("unix://") :] if host.startswith("unix://") and not env.get("DOCKER_TLS_VERIFY") else None
    if _current_context_is_default(env):
        return DEFAULT_SOCKET
    return None


def _current_context_is_default(env: Mapping[str, str]) -> bool:
    config_dir = env.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")
    try:
        with open(os.path.join(config_dir, "config.json"), encoding="utf-8") as fh:
            current = json.load(fh).get("currentContext")
    except (OSError, ValueError):
        return True
    return current in (None, "", "default")
