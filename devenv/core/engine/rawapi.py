"""A minimal Engine API client over a Unix socket, for fast read paths (and the exec of a status check).

``devenv status`` must answer faster than ``docker compose ps``. Importing docker-py (requests,
urllib3) alone costs about 0.25 s on these machines, and even the standard library's
``http.client`` costs 12-15 ms (it loads ``email`` and ``ssl``), so the read path (list + inspect)
speaks HTTP/1.1 over the socket itself: GET requests, keep-alive, ``Content-Length`` and chunked
bodies. It returns the same JSON shapes as ``docker.APIClient.containers`` / ``inspect_container``,
so callers cannot tell the difference. The one write it does is an exec (create, attached start,
inspect): ``devenv status`` running a ``starting`` container's healthcheck test once
(:func:`devenv.core.fastcheck.check_now`). Anything but a plain local Unix socket (TCP, TLS, SSH) uses
docker-py; both resolve the daemon with :func:`devenv.core.engine.endpoint.resolve`.

The API version is negotiated like the docker CLI does it (:mod:`devenv.core.engine.apiversion`): one
unversioned ``GET /_ping`` per socket and process, then ``/v<min(client max, server max)>/...``.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlencode

from devenv.core.engine import apiversion
from devenv.core.filecheck import decode_stat
from devenv.errors import DockerUnavailableError

DEFAULT_SOCKET = "/var/run/docker.sock"
_MAX_HEADER_LINES = 200


class _Response:
    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers  # lower-case names
        self.body = body


class _Connection:
    """One HTTP/1.1 connection to a Unix socket (keep-alive; reopened when the server closed it)."""

    def __init__(self, path: str, timeout: float) -> None:
        self._path = path
        self._timeout = timeout
        self._sock: socket.socket | None = None
        self._file: Any = None

    def close(self) -> None:
        for thing in (self._file, self._sock):
            if thing is not None:
                with contextlib.suppress(OSError):
                    thing.close()
        self._file = self._sock = None

    def post(self, target: str, body: Any) -> _Response:
        """One POST with a JSON body, on a fresh connection (never retried: it may not be idempotent)."""
        self.close()
        data = json.dumps(body).encode()
        head = f"POST {target} HTTP/1.1\r\nHost: docker\r\nUser-Agent: devenv\r\n"
        head += f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
        try:
            self._open()
            assert self._sock is not None
            self._sock.sendall(head.encode("latin-1") + data)
            status, headers = self._head()
            out = self._body(status, headers)
        finally:
            self.close()
        return _Response(status, headers, out)

    def _open(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self._timeout)
        try:
            sock.connect(self._path)
        except OSError:
            sock.close()
            raise
        self._sock, self._file = sock, sock.makefile("rb")

    def get(self, target: str, method: str = "GET") -> _Response:
        """A GET (or a HEAD: the headers only) on the kept-alive connection."""
        reused = self._sock is not None
        try:
            return self._get(target, method)
        except ConnectionError:  # reset, broken pipe, or closed before a whole answer (_Closed)
            self.close()
            if not reused:
                raise
        # The daemon may close an idle keep-alive connection: one retry on a fresh one (GET and HEAD are safe).
        try:
            return self._get(target, method)
        except ConnectionError:
            self.close()
            raise

    def _get(self, target: str, method: str = "GET") -> _Response:
        if self._sock is None:
            self._open()
        assert self._sock is not None
        request = f"{method} {target} HTTP/1.1\r\nHost: docker\r\nUser-Agent: devenv\r\n\r\n"
        self._sock.sendall(request.encode("latin-1"))
        status, headers = self._head()
        body = b"" if method == "HEAD" else self._body(status, headers)
        if headers.get("connection", "").lower() == "close":
            self.close()
        return _Response(status, headers, body)

    def _head(self) -> tuple[int, dict[str, str]]:
        line = self._file.readline(65537)
        if not line:
            raise _Closed("no response")
        parts = line.decode("latin-1").split(None, 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
            raise _protocol_error(f"bad status line {line[:80]!r}")
        status = int(parts[1])
        headers: dict[str, str] = {}
        for _ in range(_MAX_HEADER_LINES):
            raw = self._file.readline(65537)
            if raw in (b"\r\n", b"\n"):
                return status, headers
            if not raw:
                raise _Closed("the response headers ended early")
            name, sep, value = raw.decode("latin-1").partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        raise _protocol_error("too many response headers")

    def _body(self, status: int, headers: Mapping[str, str]) -> bytes:
        if status in (204, 304) or 100 <= status < 200:
            return b""
        if "chunked" in headers.get("transfer-encoding", "").lower():
            out = bytearray()
            while True:
                size_line = self._file.readline(65537)
                if not size_line:
                    raise _Closed("the chunked body ended early")
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self._file.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return bytes(out)
                out += self._exactly(size)
                self._file.readline(65537)  # the CRLF after each chunk
        length = headers.get("content-length")
        if length is not None:
            return self._exactly(int(length))
        body = self._file.read()  # no length: the body ends with the connection
        self.close()
        return bytes(body)

    def _exactly(self, size: int) -> bytes:
        data = self._file.read(size)
        if len(data) != size:
            raise _Closed("the response body ended early")
        return bytes(data)


class _Closed(ConnectionError):
    """The server closed the connection before a whole response arrived."""


def _protocol_error(what: str) -> OSError:
    return OSError(f"not an HTTP answer from the Docker socket: {what}")


class RawEngine:
    """Read-only Engine API calls (GET, HEAD) over a Unix socket, at the API version negotiated with the daemon."""

    def __init__(self, socket_path: str, timeout: float = 30.0, *, where: str | None = None) -> None:
        self.base_url = f"unix://{socket_path}"
        self._where = where or self.base_url  # how errors name the engine (e.g. a profile's)
        self._path = socket_path
        self._timeout = timeout
        self._conn = _Connection(socket_path, timeout)
        self._lock = threading.Lock()

    # -- transport ---------------------------------------------------------------------------------
    def _request(self, target: str, conn: _Connection | None = None, method: str = "GET") -> _Response:
        try:
            if conn is not None:
                return conn.get(target, method)
            with self._lock:
                return self._conn.get(target, method)
        except (OSError, ValueError) as exc:
            (conn or self._conn).close()
            from devenv.core.engine.client import unavailable

            profile_engine = self._where != self.base_url and "(profile " in self._where
            raise unavailable(exc, self._where, profile_engine=profile_engine) from None

    @property
    def api_version(self) -> str | None:
        """The negotiated version (None: unversioned paths), asking the daemon once per process."""
        known = apiversion.remembered(self.base_url)
        if not isinstance(known, apiversion.Unknown):
            return known
        resp = self._request("/_ping")
        server_max = resp.headers.get("api-version") if resp.status == 200 else None
        return apiversion.remember(self.base_url, server_max)

    def _get(self, path: str, params: Mapping[str, str] | None = None, conn: _Connection | None = None) -> Any:
        query = f"?{urlencode(params)}" if params else ""
        resp = self._request(f"{apiversion.prefix(self.api_version)}{path}{query}", conn)
        if resp.status == 404:
            raise LookupError(f"No such container: {path}")
        if resp.status >= 400:
            raise apiversion.version_error(resp.status, resp.body, self.base_url) or DockerUnavailableError(
                f"The Docker engine answered {resp.status} to GET {path}: {resp.body[:200]!r}"
            )
        return json.loads(resp.body)

    # -- the calls ---------------------------------------------------------------------------------
    def containers(self, all: bool = False, filters: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        params = {"all": "1" if all else "0"}
        if filters:
            params["filters"] = json.dumps(
                {k: list(v) if isinstance(v, list | tuple) else [v] for k, v in filters.items()}
            )
        result: list[dict[str, Any]] = self._get("/containers/json", params)
        return result

    def inspect_container(self, container: str) -> dict[str, Any]:
        result: dict[str, Any] = self._get(f"/containers/{quote(container)}/json")
        return result

    def path_stat(self, container: str, path: str, timeout: float | None = None) -> dict[str, Any] | None:
        """What the Engine knows of ``path`` in the container (``HEAD /containers/ID/archive``: name,
        size, mode, mtime, linkTarget), None when there is no such path. On a connection of its own,
        bounded by ``timeout``: a slow answer holds no other read. See :mod:`devenv.core.filecheck`."""
        query = urlencode({"path": path})
        target = f"{apiversion.prefix(self.api_version)}/containers/{quote(container)}/archive?{query}"
        conn = _Connection(self._path, min(timeout or self._timeout, self._timeout))
        try:
            resp = self._request(target, conn, method="HEAD")
        finally:
            conn.close()
        return decode_stat(resp.status, resp.headers.get("x-docker-container-path-stat"), path)

    def logs(self, container: str, stdout: bool = True, stderr: bool = True, tail: int | str = "all") -> bytes:
        """Non-streaming logs (demultiplexed when the container has no TTY)."""
        params = {"stdout": str(int(stdout)), "stderr": str(int(stderr)), "tail": str(tail)}
        target = f"{apiversion.prefix(self.api_version)}/containers/{quote(container)}/logs?{urlencode(params)}"
        conn = _Connection(self._path, self._timeout)
        try:
            resp = self._request(target, conn)
        finally:
            conn.close()
        if resp.status == 404:
            raise LookupError(f"No such container: {container}")
        if resp.status >= 400:
            raise apiversion.version_error(resp.status, resp.body, self.base_url) or DockerUnavailableError(
                f"The Docker engine answered {resp.status} to the logs of {container}: {resp.body[:200]!r}"
            )
        tty = "multiplexed" not in resp.headers.get("content-type", "")
        return resp.body if tty else demux(resp.body)

    # -- exec (fast checks of `devenv status`: the same signatures as docker-py's) ---------------------
    def exec_create(self, container: str, cmd: list[str], stdout: bool = True, stderr: bool = True) -> dict[str, Any]:
        body = {"AttachStdout": stdout, "AttachStderr": stderr, "Cmd": list(cmd)}
        result: dict[str, Any] = self._post(f"/containers/{quote(container)}/exec", body)
        return result

    def exec_start(self, exec_id: str, stream: bool = False) -> bytes:
        """Run the exec attached; returns its (multiplexed) output once the process ended."""
        if stream:
            raise NotImplementedError("RawEngine.exec_start streams nothing")
        return bytes(self._post(f"/exec/{quote(exec_id)}/start", {"Detach": False, "Tty": False}, raw=True))

    def exec_inspect(self, exec_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._get(f"/exec/{quote(exec_id)}/json")
        return result

    def _post(self, path: str, body: Any, *, raw: bool = False) -> Any:
        conn = _Connection(self._path, self._timeout)
        try:
            resp = conn.post(f"{apiversion.prefix(self.api_version)}{path}", body)
        except (OSError, ValueError) as exc:
            from devenv.core.engine.client import unavailable

            profile_engine = self._where != self.base_url and "(profile " in self._where
            raise unavailable(exc, self._where, profile_engine=profile_engine) from None
        if resp.status == 404:
            raise LookupError(f"No such container or exec: {path}")
        if resp.status >= 400:
            raise apiversion.version_error(resp.status, resp.body, self.base_url) or DockerUnavailableError(
                f"The Docker engine answered {resp.status} to POST {path}: {resp.body[:200]!r}"
            )
        return resp.body if raw else json.loads(resp.body or b"{}")

    def close(self) -> None:
        with self._lock:
            self._conn.close()


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
    """The Unix socket path when the daemon (as :func:`devenv.core.engine.endpoint.resolve` finds it) is a
    plain local socket; None when docker-py must talk to it (TCP, TLS, SSH)."""
    from devenv.core.engine.endpoint import resolve

    return resolve(environ).unix_path
