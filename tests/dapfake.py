"""A scripted stand-in for debugpy's adapter, for tests without Docker (unit and fake-core TUI tests).

``FakeDebugpy()`` listens on 127.0.0.1 (``.port``) and speaks DAP as debugpy 1.8 does in the
exchanges devenv uses (checked against the real adapter by ``tests/integration/test_dap.py``):
``initialize``; ``attach`` answered only after ``configurationDone`` (``initialized`` first), or
refused with debugpy's "Server[pid=N] is already being debugged." when ``other_client`` is set;
``debugpyAttach`` events for ``children`` after the first process's configuration; the inspection
requests from the ``frames`` / ``variables`` tables; ``disconnect`` answered after ``terminated``.
Every request is recorded in ``requests`` as (connection number, command, arguments).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from devenv.core.debug.dap import FrameDecoder, encode_message


class _Conn:
    def __init__(self, fake: FakeDebugpy, sock: socket.socket, number: int) -> None:
        self.fake = fake
        self.sock = sock
        self.number = number
        self.pid: int | None = None
        self.seq = 0
        self.lock = threading.Lock()
        self.attach_seq: int | None = None
        self.closed = threading.Event()

    def send(self, message: dict[str, Any]) -> None:
        with self.lock:
            self.seq += 1
            message = {"seq": self.seq, **message}
            with contextlib.suppress(OSError):
                self.sock.sendall(encode_message(message))

    def event(self, name: str, body: dict[str, Any] | None = None) -> None:
        self.send({"type": "event", "event": name, **({"body": body} if body is not None else {})})

    def respond(self, req: dict[str, Any], body: dict[str, Any] | None = None, error: str | None = None) -> None:
        msg: dict[str, Any] = {
            "type": "response",
            "request_seq": req["seq"],
            "command": req["command"],
            "success": error is None,
        }
        if error is not None:
            msg["message"] = error
        if body is not None:
            msg["body"] = body
        self.send(msg)


class FakeDebugpy:
    def __init__(self, port: int = 0) -> None:
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", port))
        self.listener.listen(8)
        self.port: int = self.listener.getsockname()[1]
        self.root_pid = 100
        self.children: list[int] = []  # pids announced with debugpyAttach
        self.other_client = False
        self.valid_lines: set[int] | None = None  # None: every line verifies
        self.frames: list[dict[str, Any]] = []
        self.scopes: list[dict[str, Any]] = [
            {"name": "Locals", "variablesReference": 1000},
            {"name": "Globals", "variablesReference": 1001},
        ]
        self.variables: dict[int, list[dict[str, Any]]] = {}
        self.evaluate: Callable[[str, int | None], dict[str, Any]] = lambda expr, frame: {"result": repr(expr)}
        self.sources: dict[str, str] = {}
        self.requests: list[tuple[int, str, dict[str, Any]]] = []
        self.conns: list[_Conn] = []
        self.on_request: Callable[[_Conn, dict[str, Any]], bool] | None = None  # True: handled
        self._stop = threading.Event()
        threading.Thread(target=self._accept, name="fake-debugpy", daemon=True).start()

    # -- driving the fake from a test
    def conn_for(self, pid: int, timeout: float = 5.0) -> _Conn:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for c in self.conns:
                if c.pid == pid and not c.closed.is_set():
                    return c
            time.sleep(0.01)
        raise AssertionError(f"no attached connection for pid {pid}; requests: {self.requests}")

    def stop(self, pid: int, reason: str = "breakpoint", thread: int = 1, **extra: Any) -> None:
        self.conn_for(pid).event("stopped", {"reason": reason, "threadId": thread, "allThreadsStopped": True, **extra})

    def output(self, pid: int, text: str, category: str = "stdout") -> None:
        self.conn_for(pid).event("output", {"category": category, "output": text})

    def terminate(self, pid: int, exit_code: int = 0) -> None:
        c = self.conn_for(pid)
        c.event("exited", {"exitCode": exit_code})
        c.event("terminated")

    def commands(self, number: int | None = None) -> list[str]:
        return [cmd for n, cmd, _ in self.requests if number is None or n == number]

    def arguments(self, command: str) -> list[dict[str, Any]]:
        return [args for _, cmd, args in self.requests if cmd == command]

    def close(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept (close alone does not)
        with contextlib.suppress(OSError):
            self.listener.close()
        for c in self.conns:
            with contextlib.suppress(OSError):
                c.sock.shutdown(socket.SHUT_RDWR)

    # -- the server side
    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            conn = _Conn(self, sock, len(self.conns) + 1)
            self.conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: _Conn) -> None:
        decoder = FrameDecoder()
        conn.event("output", {"category": "telemetry", "output": "debugpy", "data": {"packageVersion": "1.8.22"}})
        try:
            while True:
                data = conn.sock.recv(65536)
                if not data:
                    break
                for req in decoder.feed(data):
                    if req.get("type") != "request":
                        continue
                    self.requests.append((conn.number, req["command"], req.get("arguments") or {}))
                    if self.on_request is not None and self.on_request(conn, req):
                        continue
                    self._handle(conn, req)
        except OSError:
            pass
        finally:
            conn.closed.set()

    def _handle(self, conn: _Conn, req: dict[str, Any]) -> None:
        cmd, args = req["command"], req.get("arguments") or {}
        if cmd == "initialize":
            conn.respond(req, {"supportsConfigurationDoneRequest": True, "supportsConditionalBreakpoints": True})
        elif cmd == "attach":
            if self.other_client:
                conn.respond(req, error=f"Server[pid={self.root_pid}] is already being debugged.")
                return
            conn.pid = args.get("subProcessId", self.root_pid)
            conn.attach_seq = req["seq"]
            conn.attach_req = req  # type: ignore[attr-defined]
            conn.event("debugpyWaitingForServer", {"host": "127.0.0.1", "port": 1})
            conn.event("initialized")
        elif cmd == "setBreakpoints":
            out = []
            for i, bp in enumerate(args.get("breakpoints") or []):
                ok = self.valid_lines is None or bp["line"] in self.valid_lines
                entry: dict[str, Any] = {"id": conn.number * 100 + i, "verified": ok, "line": bp["line"]}
                if not ok:
                    entry["message"] = "Breakpoint in file that does not exist."
                out.append(entry)
            conn.respond(req, {"breakpoints": out})
        elif cmd == "configurationDone":
            conn.respond(req)
            conn.respond(conn.attach_req)  # type: ignore[attr-defined]
            conn.event("process", {"name": "app", "systemProcessId": conn.pid, "startMethod": "attach"})
            conn.event("thread", {"reason": "started", "threadId": 1})
            if conn.pid == self.root_pid:
                for pid in self.children:
                    args = dict(conn.attach_req["arguments"])  # type: ignore[attr-defined]
                    conn.event("debugpyAttach", {**args, "name": f"Subprocess {pid}", "subProcessId": pid})
        elif cmd == "threads":
            conn.respond(req, {"threads": [{"id": 1, "name": "MainThread"}]})
        elif cmd == "stackTrace":
            conn.respond(req, {"stackFrames": self.frames, "totalFrames": len(self.frames)})
        elif cmd == "scopes":
            conn.respond(req, {"scopes": self.scopes})
        elif cmd == "variables":
            conn.respond(req, {"variables": self.variables.get(args["variablesReference"], [])})
        elif cmd == "evaluate":
            try:
                conn.respond(req, self.evaluate(args["expression"], args.get("frameId")))
            except Exception as exc:
                conn.respond(req, error=f"Traceback: {exc}")
        elif cmd == "source":
            path = (args.get("source") or {}).get("path")
            conn.respond(req, {"content": self.sources.get(path, "")})
        elif cmd in ("continue", "next", "stepIn", "stepOut"):
            conn.respond(req, {"allThreadsContinued": True} if cmd == "continue" else None)
            conn.event("continued", {"threadId": args.get("threadId", 1), "allThreadsContinued": True})
            if cmd != "continue":
                conn.event("stopped", {"reason": "step", "threadId": args.get("threadId", 1)})
        elif cmd == "pause":
            conn.respond(req)
            conn.event("stopped", {"reason": "pause", "threadId": 1, "allThreadsStopped": True})
        elif cmd == "disconnect":
            conn.event("terminated")
            conn.respond(req)
        else:
            conn.respond(req)


def wait_until(predicate: Callable[[], Any], timeout: float = 5.0, message: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {message}")
