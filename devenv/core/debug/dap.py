"""A Debug Adapter Protocol client connection: framing, requests matched to responses, events.

DAP messages are JSON objects behind an HTTP-like header (``Content-Length: N\\r\\n\\r\\n``). A
:class:`DapConnection` owns one socket to a debug adapter (debugpy's, published by a service) and
one reader thread ("devenv-dap-NAME") that parses what arrives: a response completes the request
with the same ``seq`` (``request_seq``); an event goes to every subscriber; a request from the
adapter (a "reverse request") is answered "not supported" (devenv asks for none).

Threading: :meth:`DapConnection.request` blocks the calling thread until the response, a timeout
(:class:`DapTimeout`), the connection's end (:class:`DapClosed`) or a cancel (the token's
:class:`~devenv.core.cancel.Cancelled`). Subscribers (:meth:`DapConnection.subscribe`) and close
callbacks run in the reader thread, one message at a time, in order; they must return quickly and
never wait for a response themselves (the reader would wait for itself).

Closing: debugpy 1.8's adapter exits for good when a client closes its socket without completing
a ``disconnect`` request (every later attach is refused), so :meth:`DapConnection.close` always
sends ``disconnect`` (``terminateDebuggee: false``: the service keeps running) and waits for the
answer, briefly, before it closes the socket.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import socket
import threading
from collections.abc import Callable, Mapping
from typing import Any

from devenv.core.cancel import Cancelled, CancelToken, cancel_hook, check
from devenv.errors import DevenvError, ExitCode

__all__ = [
    "AlreadyAttachedError",
    "DapClosed",
    "DapConnectError",
    "DapConnection",
    "DapError",
    "DapProtocolError",
    "DapRequestError",
    "DapTimeout",
    "EventWaiter",
    "FrameDecoder",
    "encode_message",
]

MAX_HEADER = 8 * 1024
MAX_BODY = 64 * 1024 * 1024
DEFAULT_TIMEOUT = 10.0
DISCONNECT_TIMEOUT = 3.0

EventHandler = Callable[[str, dict[str, Any]], None]


# ----------------------------------------------------------------------------------------- errors
class DapError(DevenvError):
    """Something went wrong talking to a debug adapter."""


class DapConnectError(DapError):
    """Nothing answers at the debug port (or not a debug adapter)."""


class DapProtocolError(DapError):
    """The peer sent something that is not DAP (a bad header, a body that is not JSON)."""


class DapClosed(DapError):
    """The connection ended (the adapter went away, the service stopped, or we detached)."""


class DapTimeout(DapError):
    exit_code = ExitCode.TIMEOUT


class DapRequestError(DapError):
    """The adapter answered a request with ``success: false``; ``reason`` is its message."""

    def __init__(self, command: str, reason: str, *, body: Mapping[str, Any] | None = None, hint: str | None = None):
        text = f"The debugger refused `{command}`: {reason}" if reason else f"The debugger refused `{command}`."
        super().__init__(text, hint=hint)
        self.command = command
        self.reason = reason
        self.body = dict(body or {})


class AlreadyAttachedError(DapError):
    """Another client (an IDE) is attached: debugpy serves one client per process."""


# ---------------------------------------------------------------------------------------- framing
def encode_message(message: Mapping[str, Any]) -> bytes:
    """One DAP message on the wire: the ``Content-Length`` header, a blank line, UTF-8 JSON."""
    body = json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


class FrameDecoder:
    """Bytes in (any chunking), whole messages out. Raises :class:`DapProtocolError` on garbage."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._need: int | None = None  # body length once the header is read

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        self._buf += data
        out: list[dict[str, Any]] = []
        while True:
            if self._need is None:
                end = self._buf.find(b"\r\n\r\n")
                if end < 0:
                    if len(self._buf) > MAX_HEADER:
                        raise DapProtocolError("The debug port sent a header without an end: not a DAP adapter.")
                    return out
                self._need = self._length(bytes(self._buf[:end]))
                del self._buf[: end + 4]
            if len(self._buf) < self._need:
                return out
            raw = bytes(self._buf[: self._need])
            del self._buf[: self._need]
            self._need = None
            try:
                message = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, ValueError) as exc:
                raise DapProtocolError(f"The debug adapter sent a message that is not JSON: {exc}.") from None
            if not isinstance(message, dict):
                raise DapProtocolError("The debug adapter sent a JSON message that is not an object.")
            out.append(message)

    @staticmethod
    def _length(header: bytes) -> int:
        length: int | None = None
        for line in header.split(b"\r\n"):
            name, sep, value = line.partition(b":")
            if not sep:
                raise DapProtocolError(f"The debug port sent a bad header line {line[:60]!r}: not a DAP adapter.")
            if name.strip().lower() == b"content-length":
                try:
                    length = int(value.strip())
                except ValueError:
                    raise DapProtocolError(f"Bad Content-Length {value.strip()[:20]!r} from the debug port.") from None
        if length is None or length < 0 or length > MAX_BODY:
            raise DapProtocolError("The debug port sent a message without a valid Content-Length.")
        return length


# ------------------------------------------------------------------------------------- connection
class _Pending:
    def __init__(self, seq: int, command: str) -> None:
        self.seq = seq
        self.command = command
        self.done = threading.Event()
        self.response: dict[str, Any] | None = None
        self.error: DapError | None = None
        self._callbacks: list[Callable[[], None]] = []
        self._lock = threading.Lock()

    def on_done(self, fn: Callable[[], None]) -> None:
        """Call ``fn()`` when the response (or the connection's end) arrives; at once if it has."""
        with self._lock:
            if not self.done.is_set():
                self._callbacks.append(fn)
                return
        fn()

    def complete(self, response: dict[str, Any] | None, error: DapError | None = None) -> None:
        with self._lock:
            self.response, self.error = response, error
            self.done.set()
            callbacks, self._callbacks = self._callbacks, []
        for fn in callbacks:
            with contextlib.suppress(Exception):
                fn()


class EventWaiter:
    """Catches the first event named ``name`` (registered before the request that provokes it)."""

    def __init__(self, conn: DapConnection, name: str) -> None:
        self.name = name
        self.body: dict[str, Any] | None = None
        self._conn = conn
        self._done = threading.Event()
        self._unsubscribe = conn.subscribe(self._on_event)
        self._unclose = conn.on_close(lambda _reason: self._done.set())

    def _on_event(self, event: str, body: dict[str, Any]) -> None:
        if event == self.name and self.body is None:
            self.body = body
            self._done.set()

    def wake(self) -> None:
        """End a :meth:`wait` early (e.g. the request that should provoke the event failed)."""
        self._done.set()

    def wait(self, timeout: float, cancel: CancelToken | None = None) -> dict[str, Any] | None:
        """The event's body; None when woken early (:meth:`wake`). Raises DapTimeout, DapClosed, Cancelled."""
        try:
            with cancel_hook(cancel, self._done.set):
                if not self._done.wait(timeout):
                    who = self._conn.name
                    raise DapTimeout(f"The debug adapter of {who} sent no `{self.name}` within {timeout:g}s.")
            check(cancel)
            if self.body is None and self._conn.closed:
                raise DapClosed(f"The debug connection to {self._conn.name} closed: {self._conn.close_reason}.")
            return self.body
        finally:
            self.cancel()

    def cancel(self) -> None:
        self._unsubscribe()
        self._unclose()


class DapConnection:
    """One DAP session's socket. See the module doc for threads and closing."""

    def __init__(self, sock: socket.socket, *, name: str = "debug adapter", timeout: float = DEFAULT_TIMEOUT) -> None:
        self.name = name
        self.timeout = timeout
        self.close_reason = ""
        self._sock = sock
        self._seq = itertools.count(1)
        self._send_lock = threading.Lock()
        self._lock = threading.Lock()
        self._pending: dict[int, _Pending] = {}
        self._handlers: dict[int, EventHandler] = {}
        self._close_handlers: dict[int, Callable[[str], None]] = {}
        self._ids = itertools.count()
        self._closed = threading.Event()
        self._disconnected = False
        self._disconnect_done = threading.Event()
        sock.settimeout(None)
        self._reader = threading.Thread(target=self._read_loop, name=f"devenv-dap-{name}", daemon=True)
        self._reader.start()

    @classmethod
    def open(
        cls,
        host: str,
        port: int,
        *,
        name: str | None = None,
        timeout: float = 5.0,
        cancel: CancelToken | None = None,
    ) -> DapConnection:
        """Connect to ``host:port`` (raises :class:`DapConnectError` when nothing listens)."""
        check(cancel)
        label = name or f"{host}:{port}"
        try:
            sock = socket.create_connection((host, port), timeout=timeout)
        except OSError as exc:
            reason = exc.strerror or str(exc) or type(exc).__name__
            raise DapConnectError(
                f"Cannot connect to the debugger of {label} at {host}:{port}: {reason}.",
                hint="Is the service running with debugging on? `devenv debug SERVICE` turns it on.",
            ) from None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(sock, name=label)

    # -- subscriptions
    def subscribe(self, handler: EventHandler) -> Callable[[], None]:
        """Call ``handler(event, body)`` for every event (reader thread); returns the unsubscribe."""
        with self._lock:
            key = next(self._ids)
            self._handlers[key] = handler
        return lambda: self._drop(self._handlers, key)

    def on_close(self, fn: Callable[[str], None]) -> Callable[[], None]:
        """Call ``fn(reason)`` once when the connection ends (at once if it has ended)."""
        with self._lock:
            if not self._closed.is_set():
                key = next(self._ids)
                self._close_handlers[key] = fn
                return lambda: self._drop(self._close_handlers, key)
        fn(self.close_reason)
        return lambda: None

    def expect_event(self, name: str) -> EventWaiter:
        """Register for event ``name`` now; ``.wait(timeout)`` later (no race with a fast adapter)."""
        return EventWaiter(self, name)

    def _drop(self, table: dict[int, Any], key: int) -> None:
        with self._lock:
            table.pop(key, None)

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    # -- requests
    def send_request(self, command: str, arguments: Mapping[str, Any] | None = None) -> _Pending:
        """Send a request without waiting; :meth:`wait` for its response."""
        with self._lock:
            if self._closed.is_set():
                raise DapClosed(f"The debug connection to {self.name} is closed: {self.close_reason}.")
            seq = next(self._seq)
            pending = _Pending(seq, command)
            self._pending[seq] = pending
        message: dict[str, Any] = {"seq": seq, "type": "request", "command": command}
        if arguments is not None:
            message["arguments"] = dict(arguments)
        try:
            self._send(message)
        except OSError as exc:
            self._finish(f"sending failed: {exc.strerror or exc}")
            raise DapClosed(f"The debug connection to {self.name} broke: {exc.strerror or exc}.") from None
        return pending

    def wait(
        self, pending: _Pending, *, timeout: float | None = None, cancel: CancelToken | None = None
    ) -> dict[str, Any]:
        """The response body of ``pending``; raises DapRequestError, DapTimeout, DapClosed or Cancelled."""
        limit = self.timeout if timeout is None else timeout
        with cancel_hook(cancel, pending.done.set):
            answered = pending.done.wait(limit)
        if not answered or (cancel is not None and cancel.cancelled and pending.response is None):
            with self._lock:
                self._pending.pop(pending.seq, None)
            if cancel is not None and cancel.cancelled:
                raise Cancelled(cancel.reason)
            raise DapTimeout(
                f"The debugger of {self.name} did not answer `{pending.command}` within {limit:g}s.",
                hint="The program may be busy outside Python code; try again, or pause it first.",
            )
        if pending.error is not None:
            raise pending.error
        response = pending.response or {}
        if not response.get("success", False):
            reason = str(response.get("message") or "")
            if "already being debugged" in reason:
                raise AlreadyAttachedError(
                    f"Another debugger is attached to {self.name} ({reason.rstrip('.')}).",
                    hint="debugpy serves one client at a time: detach the other client (VS Code...) first.",
                )
            body = response.get("body")
            err = body.get("error") if isinstance(body, dict) else None
            if isinstance(err, dict) and err.get("format") and not reason:
                reason = str(err["format"])
            raise DapRequestError(pending.command, reason, body=body if isinstance(body, dict) else None)
        body = response.get("body")
        return body if isinstance(body, dict) else {}

    def request(
        self,
        command: str,
        arguments: Mapping[str, Any] | None = None,
        *,
        timeout: float | None = None,
        cancel: CancelToken | None = None,
    ) -> dict[str, Any]:
        """Send ``command`` and wait for its response body (see :meth:`wait`)."""
        check(cancel)
        return self.wait(self.send_request(command, arguments), timeout=timeout, cancel=cancel)

    def _send(self, message: Mapping[str, Any]) -> None:
        data = encode_message(message)
        with self._send_lock:
            self._sock.sendall(data)

    # -- closing
    def disconnect(self, *, terminate_debuggee: bool = False, timeout: float = DISCONNECT_TIMEOUT) -> bool:
        """Complete a ``disconnect`` request (the adapter stays up for the next client), then close.

        True when the adapter answered. The debuggee keeps running (its breakpoints are dropped and
        stopped threads resume). Safe to call twice and from any thread but the reader.
        """
        answered = False
        with self._lock:
            first = not self._disconnected
            self._disconnected = True
        if not first:  # another thread is completing it: let it finish before the socket closes
            self._disconnect_done.wait(timeout)
        else:
            args = {"restart": False, "terminateDebuggee": terminate_debuggee, "suspendDebuggee": False}
            try:
                if not self._closed.is_set():
                    self.request("disconnect", args, timeout=timeout)
                    answered = True
            except DapError:
                pass
            finally:
                self._disconnect_done.set()
        self._finish("detached")
        return answered

    def close(self) -> None:
        """Disconnect (see :meth:`disconnect`) and close the socket; waits for the reader thread."""
        self.disconnect()
        if threading.current_thread() is not self._reader:
            self._reader.join(timeout=2.0)

    def _finish(self, reason: str) -> None:
        with self._lock:
            if self._closed.is_set():
                return
            self.close_reason = reason
            self._closed.set()
            pending = list(self._pending.values())
            self._pending.clear()
            close_handlers = list(self._close_handlers.values())
            self._close_handlers.clear()
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self._sock.close()
        for p in pending:
            text = f"The debug connection to {self.name} closed ({reason}) before `{p.command}` was answered."
            p.complete(None, DapClosed(text))
        for fn in close_handlers:
            with contextlib.suppress(Exception):
                fn(reason)

    # -- the reader thread
    def _read_loop(self) -> None:
        decoder = FrameDecoder()
        reason = "the debug adapter closed the connection"
        try:
            while True:
                try:
                    data = self._sock.recv(65536)
                except OSError as exc:
                    reason = "detached" if self._closed.is_set() else f"connection lost ({exc.strerror or exc})"
                    break
                if not data:
                    break
                for message in decoder.feed(data):
                    self._dispatch(message)
        except DapProtocolError as exc:
            reason = exc.message
        finally:
            self._finish(reason)

    def _dispatch(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "response":
            with self._lock:
                pending = self._pending.pop(_int(message.get("request_seq")), None)
            if pending is not None:
                pending.complete(message)
        elif kind == "event":
            body = message.get("body")
            with self._lock:
                handlers = list(self._handlers.values())
            for handler in handlers:
                with contextlib.suppress(Exception):
                    handler(str(message.get("event", "")), body if isinstance(body, dict) else {})
        elif kind == "request":  # a reverse request (runInTerminal, startDebugging): devenv asks for none
            reply = {
                "seq": next(self._seq),
                "type": "response",
                "request_seq": message.get("seq", 0),
                "command": message.get("command", ""),
                "success": False,
                "message": "not supported by devenv",
            }
            with contextlib.suppress(OSError):
                self._send(reply)


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1
