"""Is a debugpy adapter answering? A DAP ``initialize`` request, then a complete ``disconnect``.

A TCP connect proves nothing here: Docker's port proxy accepts a connection on a published port
before anything listens in the container (and then closes it). So readiness is a DAP exchange:
``initialize`` must get a successful response. The probe then sends ``disconnect`` and waits for
its response before closing the socket: debugpy 1.8's adapter exits for good when a client goes
away in the middle of a session (every later attach then gets "connection reset").

For the same reason the probe never gives up between its ``initialize`` and the answer just because
its own ``timeout`` ran out: on a loaded machine the adapter can take seconds to answer, and closing
then would kill it. ``timeout`` bounds the connect; once a connection is open (so something in the
container holds it: Docker's proxy closes at once when nothing listens), the exchange gets up to
:data:`SESSION_GRACE` seconds (``grace``) to complete.
"""

from __future__ import annotations

import contextlib
import socket
import time
from typing import Any

from devenv.core.debug.dap import DapProtocolError, FrameDecoder, encode_message

PROBE_CLIENT_ID = "devenv-probe"
SESSION_GRACE = 20.0


def _send(sock: socket.socket, message: dict[str, Any]) -> None:
    sock.sendall(encode_message(message))


class _Reader:
    """DAP messages from a socket (the framing of :class:`FrameDecoder`), each read bounded by ``deadline``."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self.sock = sock
        self.deadline = deadline
        self.decoder = FrameDecoder()
        self.ready: list[dict[str, Any]] = []

    def message(self) -> dict[str, Any] | None:
        """The next message, or None once the deadline passed, the peer closed or sent garbage."""
        while not self.ready:
            left = self.deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except (TimeoutError, OSError):
                return None
            if not chunk:
                return None
            try:
                self.ready.extend(self.decoder.feed(chunk))
            except DapProtocolError:
                return None
        return self.ready.pop(0)

    def response(self, seq: int) -> dict[str, Any] | None:
        """The response to request ``seq`` (events and other messages before it are skipped)."""
        while True:
            msg = self.message()
            if msg is None:
                return None
            if msg.get("type") == "response" and msg.get("request_seq") == seq:
                return msg


def probe_debugpy(host: str, port: int, timeout: float, *, grace: float = SESSION_GRACE) -> bool:
    """True when a debugpy adapter answers DAP ``initialize`` on ``host:port`` within ``timeout`` seconds.

    The session is then ended properly (``disconnect``, its response awaited), so the probe can
    run any number of times without disturbing the debuggee or the next client.
    """
    try:
        sock = socket.create_connection((host, port), timeout=max(0.05, timeout))
    except OSError:
        return False
    deadline = time.monotonic() + max(timeout, grace)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        reader = _Reader(sock, deadline)
        _send(
            sock,
            {
                "seq": 1,
                "type": "request",
                "command": "initialize",
                "arguments": {
                    "clientID": PROBE_CLIENT_ID,
                    "clientName": "devenv readiness probe",
                    "adapterID": "debugpy",
                    "pathFormat": "path",
                    "linesStartAt1": True,
                    "columnsStartAt1": True,
                },
            },
        )
        answer = reader.response(1)
        if answer is None:
            return False
        ok = bool(answer.get("success"))
        # End the session the way a client does, and wait for the answer before closing.
        reader.deadline = max(reader.deadline, time.monotonic() + grace)
        _send(sock, {"seq": 2, "type": "request", "command": "disconnect", "arguments": {"terminateDebuggee": False}})
        reader.response(2)
        return ok
    except OSError:
        return False
    finally:
        with contextlib.suppress(OSError):
            sock.close()
