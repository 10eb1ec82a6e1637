"""The core's DAP client against the bundled example's api, for real (debugpy in the container).

The dev profile runs the api as ``python3 -m debugpy --listen 0.0.0.0:5678 -m uvicorn ... --reload``
with the port published on 127.0.0.1 and ``compose/app/app`` bind-mounted on ``/srv/app``. The
tests attach through :class:`devenv.core.debug.session.DebugSession`, set a breakpoint in a request
handler, send an HTTP request from a thread, and check where it stopped, a local variable, an
expression, and that the response arrives after ``continue``. With ``--reload`` the handler runs in
the reloader's child process, which debugpy announces (``debugpyAttach``): the breakpoint must hit
there. A second test recreates the api without ``--reload``.
"""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from devenv_testlib import Stack, ok, published_ports
from test_db_postgres import example_up_under_debugpy

from devenv.core.debug.dap import AlreadyAttachedError, DapError
from devenv.core.debug.dapmodel import DebugOutput, DebugStopped, Frame, Stopped
from devenv.core.debug.session import DebugSession
from devenv.core.debug.target import DebugTarget, PathMapping
from devenv.core.events import Event

pytestmark = [pytest.mark.docker, pytest.mark.timeout(600)]

HANDLER_LINE = "rows = conn.execute(text(query"  # in list_tasks: hit once per request


@pytest.fixture(scope="module")
def api_stack(tmp_path_factory: pytest.TempPathFactory, docker_ready: None) -> Iterator[Stack]:
    yield from example_up_under_debugpy(tmp_path_factory.mktemp("dap"))


def app_dir(st: Stack) -> Path:
    return st.path / "compose" / "app" / "app"


def target(st: Stack) -> DebugTarget:
    return DebugTarget(
        "api",
        "127.0.0.1",
        st.port("DEBUG_PORT"),
        5678,
        (PathMapping(str(app_dir(st)), "/srv/app"),),
        own_debugpy=True,
    )


def line_of(path: Path, text: str) -> int:
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if text in line:
            return number
    raise AssertionError(f"{text!r} not in {path}")


class Events:
    """What the session emitted (from its reader threads), with a way to wait for one kind."""

    def __init__(self) -> None:
        self.items: list[Event] = []
        self.cond = threading.Condition()

    def __call__(self, event: Event) -> None:
        with self.cond:
            self.items.append(event)
            self.cond.notify_all()

    def wait(self, kind: type, timeout: float = 30.0, since: int = 0) -> Any:
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                found = [e for e in self.items[since:] if isinstance(e, kind)]
                if found:
                    return found[0]
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no {kind.__name__} within {timeout}s; events: {self.items[-20:]}")
                self.cond.wait(left)

    def next(self, kind: type, since: int, timeout: float = 30.0) -> tuple[int, Any]:
        """The first event of ``kind`` at or after index ``since``, and the index just past it:
        read in order, none skipped (stops of several processes can be reported together)."""
        self.wait(kind, timeout, since)
        with self.cond:
            for i in range(since, len(self.items)):
                if isinstance(self.items[i], kind):
                    return i + 1, self.items[i]
        raise AssertionError(f"no {kind.__name__} after {since}")


class Request(threading.Thread):
    """One HTTP GET in a thread (it blocks while the handler is stopped)."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.status: int | None = None
        self.body: Any = None
        self.error: str | None = None

    def run(self) -> None:
        try:
            with urllib.request.urlopen(self.url, timeout=120) as resp:
                self.status = resp.status
                self.body = json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            self.status = exc.code
        except Exception as exc:
            self.error = repr(exc)


def stop_in_handler(st: Stack, reload: bool) -> None:
    """Attach, break in list_tasks, inspect, continue: the response arrives. Then detach."""
    main = app_dir(st) / "main.py"
    line = line_of(main, HANDLER_LINE)
    events = Events()
    session = DebugSession(target(st), emit=events, timeout=20)
    session.add_breakpoint(str(main), line)
    started = time.monotonic()
    session.attach(timeout=30)
    attach_time = time.monotonic() - started
    try:
        assert session.breakpoints()[0].verified, session.breakpoints()
        mark = len(events.items)
        request = Request(f"http://127.0.0.1:{st.port('API_PORT')}/tasks?status=done")
        request.start()
        stopped = events.wait(DebugStopped, 60, since=mark).stopped
        assert stopped.reason == "breakpoint"
        assert request.is_alive() and request.status is None  # the handler waits for us

        procs = {p.key: p for p in session.processes()}
        if reload:  # the reloader is the first process; the request ran in its child
            assert stopped.process != 1 and procs[stopped.process].pid != procs[1].pid, procs
        else:
            assert list(procs) == [1], procs

        frames = session.stack(stopped.process, stopped.thread_id)
        top = frames[0]
        assert (top.name, top.path, top.line, top.local) == ("list_tasks", str(main), line, True)
        assert HANDLER_LINE in session.source(top).splitlines()[line - 1]
        scopes = session.scopes(stopped.process, top.id)
        local = {v.name: v for v in session.variables(stopped.process, scopes[0].reference)}
        assert local["status"].value == "'done'", local
        assert local["params"].reference > 0  # a dict: children on demand
        children = session.variables(stopped.process, local["params"].reference)
        assert any(v.name == "'status'" and v.value == "'done'" for v in children), children
        result = session.evaluate("status.upper() + str(len(params))", stopped.process, top.id)
        assert (result.value, result.type) == ("'DONE1'", "str")
        threads = session.threads()
        assert any(t.process == stopped.process and t.id == stopped.thread_id for t in threads)
        # What the program writes to stdout arrives as output events (debugpy redirects sys.stdout;
        # logging handlers made before the attach keep the original stream: the Logs view has those).
        session.evaluate("print('dap output check', status)", stopped.process, top.id)
        deadline = time.monotonic() + 20
        text = ""
        while "dap output check done" not in text and time.monotonic() < deadline:
            time.sleep(0.1)
            text = "".join(e.text for e in events.items if isinstance(e, DebugOutput) and e.category == "stdout")
        assert "dap output check done" in text, [e for e in events.items if isinstance(e, DebugOutput)]

        session.remove_breakpoint(str(main), line)
        session.resume()
        request.join(60)
        assert request.status == 200 and isinstance(request.body, list), (request.status, request.error)
        assert all(task["status"] == "done" for task in request.body)
    finally:
        session.detach()
    print(f"attach took {attach_time:.2f}s")


def test_breakpoint_in_a_handler_through_uvicorn_reload(api_stack: Stack) -> None:
    st = api_stack
    assert "--reload" in api_command(st)
    stop_in_handler(st, reload=True)
    # Detached: the service runs on, and a new client can attach again (debugpy's adapter is still up).
    request = Request(f"http://127.0.0.1:{st.port('API_PORT')}/tasks")
    request.start()
    request.join(30)
    assert request.status == 200
    again = DebugSession(target(st), timeout=20)
    again.attach(timeout=30)
    again.detach()


def test_another_client_attached_is_reported(api_stack: Stack) -> None:
    st = api_stack
    first = DebugSession(target(st), timeout=20)
    first.attach(timeout=30)
    try:
        second = DebugSession(target(st), timeout=20)
        with pytest.raises(AlreadyAttachedError) as info:
            second.attach(timeout=30)
        assert "Another debugger is attached to api" in info.value.message
        assert info.value.hint is not None and "detach the other client" in info.value.hint
    finally:
        first.detach()
    second.attach(timeout=30)  # the first one detached: the second gets in
    second.detach()


def test_exception_breakpoint_on_raised(api_stack: Stack) -> None:
    st = api_stack
    events = Events()
    session = DebugSession(target(st), emit=events, timeout=20)
    session.set_exception_breakpoints(raised=True, uncaught=False)
    session.attach(timeout=30)
    try:
        mark = len(events.items)
        # With "raised" (and justMyCode off) the processes may already be stopped on their own
        # exceptions from the attach on (the reloader's AttributeError, the event loop's
        # BlockingIOError): a stopped server never answers, so let those run first.
        session.resume()
        request = Request(f"http://127.0.0.1:{st.port('API_PORT')}/tasks/987654321")
        request.start()
        # "raised" stops on every raise, the libraries' own included (justMyCode is off: asyncio's
        # BlockingIOError, many KeyErrors of caches...): go on until the handler's HTTPException.
        # Every stop is read in order: the server's and the reloader's can be reported together,
        # and each process is continued alone. Two threads of one process can stop together too
        # (the handler's worker thread and the event loop): the session keeps the newest stop as
        # the process's current one, but the older one's thread stays suspended until the process
        # is continued, so a handler's stop is looked at even when it is no longer the current.
        seen: list[str] = []
        top: Frame | None = None
        tops: list[str] = []  # where each HTTPException stop was (for the failure message)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            mark, event = events.next(DebugStopped, mark, 60)
            stopped = event.stopped
            assert stopped.reason == "exception", stopped
            seen.append(stopped.text)
            if stopped.text.endswith("HTTPException"):
                # "raised" stops again in every frame the exception passes through (anyio's, ...):
                # the one asked for is where the handler raised it.
                top = top_frame(session, stopped)
                tops.append(top.name if top is not None else "(running again)")
                if top is not None and top.name == "get_task":
                    break
            if session.still_stopped(stopped):
                session.resume(only=stopped)
        else:
            raise AssertionError(
                f"no stop on the HTTPException in get_task; stopped on {sorted(set(seen))} ({len(seen)}); "
                f"HTTPException stops in {tops}; the request: {request.status} {request.error}"
            )
        print(f"{len(seen)} exception stops before the handler's")
        assert top is not None and top.name == "get_task" and top.local, top
        assert session.evaluate("task_id", stopped.process, top.id).value == "987654321"
        session.set_exception_breakpoints(raised=False, uncaught=False)
        session.resume()
        request.join(60)
        assert request.status == 404, (request.status, request.error)
    finally:
        session.detach()


def top_frame(session: DebugSession, stopped: Stopped) -> Frame | None:
    """The top frame of ``stopped``'s thread, None when that thread runs again (continued since)."""
    try:
        frames = session.stack(stopped.process, stopped.thread_id)
    except DapError:
        return None
    return frames[0] if frames else None


def api_command(st: Stack) -> list[str]:
    return list(st.inspect("api")["Config"]["Cmd"])


def test_breakpoint_without_reload(api_stack: Stack) -> None:
    """The api recreated without --reload: one process, the breakpoint hits in it."""
    st = api_stack
    dev = st.path / "compose" / "compose.dev.yml"
    text = dev.read_text()
    new, count = re.subn(r"\n\s*- --reload\n\s*- --reload-dir\n\s*- /srv/app", "", text)
    assert count == 1, text
    dev.write_text(new)
    ok(st.devenv("recreate", "api", "--timeout", "420", timeout=480))
    assert "--reload" not in api_command(st)
    assert f"127.0.0.1:{st.port('DEBUG_PORT')}->5678/tcp" in published_ports(st.inspect("api"))
    stop_in_handler(st, reload=False)
