"""The debug session against a scripted debugpy (tests/dapfake.py): handshake, children, breakpoints, stops."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from devenv.core.debug.breakpoints import BreakpointBook, mapped_sources, parse_location
from devenv.core.debug.dap import AlreadyAttachedError, DapClosed, DapConnectError, DapError
from devenv.core.debug.dapmodel import (
    DebugAttached,
    DebugBreakpoints,
    DebugContinued,
    DebugDetached,
    DebugOutput,
    DebugProcess,
    DebugStopped,
    SourceBreakpoint,
)
from devenv.core.debug.session import DebugSession
from devenv.core.debug.target import DebugTarget, PathMapping
from devenv.core.events import Event
from devenv.errors import UsageError
from tests.dapfake import FakeDebugpy, wait_until


@pytest.fixture()
def fake() -> Iterator[FakeDebugpy]:
    f = FakeDebugpy()
    yield f
    f.close()


@pytest.fixture()
def src(tmp_path: Path) -> Path:
    root = tmp_path / "app"
    (root / "pkg").mkdir(parents=True)
    (root / "main.py").write_text("".join(f"line {i}\n" for i in range(1, 31)))
    (root / "pkg" / "util.py").write_text("x = 1\n")
    (root / "pkg" / "__pycache__").mkdir()
    (root / "pkg" / "__pycache__" / "util.cpython-311.pyc").write_text("")
    return root


class Recorder:
    def __init__(self) -> None:
        self.events: list[Event] = []
        self.lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        with self.lock:
            self.events.append(event)

    def of(self, kind: type) -> list:  # type: ignore[type-arg]
        with self.lock:
            return [e for e in self.events if isinstance(e, kind)]


def make(fake: FakeDebugpy, src: Path) -> tuple[DebugSession, Recorder]:
    target = DebugTarget("api", "127.0.0.1", fake.port, 5678, (PathMapping(str(src), "/srv/app"),), own_debugpy=True)
    rec = Recorder()
    return DebugSession(target, emit=rec, timeout=3), rec


def test_attach_does_the_handshake_in_order_with_mappings_and_breakpoints(fake: FakeDebugpy, src: Path) -> None:
    session, rec = make(fake, src)
    main = str(src / "main.py")
    session.add_breakpoint(main, 12, "x > 3")  # before attaching: kept, sent on attach
    assert not session.breakpoints()[0].verified
    session.attach()
    assert session.attached
    assert fake.commands(1) == [
        "initialize",
        "attach",
        "setBreakpoints",
        "setExceptionBreakpoints",
        "configurationDone",
        "threads",  # the round trip after which every child debugpy has is known
    ]
    init = fake.arguments("initialize")[0]
    assert init["adapterID"] == "debugpy" and init["pathFormat"] == "path" and init["linesStartAt1"] is True
    attach = fake.arguments("attach")[0]
    assert attach["justMyCode"] is False
    assert attach["pathMappings"] == [{"localRoot": str(src), "remoteRoot": "/srv/app"}]
    assert attach["connect"] == {"host": "127.0.0.1", "port": fake.port}
    assert fake.arguments("setBreakpoints")[0]["breakpoints"] == [{"line": 12, "condition": "x > 3"}]
    assert fake.arguments("setBreakpoints")[0]["source"]["path"] == main
    assert fake.arguments("setExceptionBreakpoints")[0] == {"filters": ["uncaught"]}
    assert session.breakpoints()[0].verified
    attached = rec.of(DebugAttached)
    assert len(attached) == 1 and attached[0].service == "api" and attached[0].address == f"127.0.0.1:{fake.port}"
    session.attach()  # idempotent
    assert len(fake.conns) == 1
    session.detach()
    assert fake.commands(1)[-1] == "disconnect"
    assert fake.arguments("disconnect")[0]["terminateDebuggee"] is False
    assert rec.of(DebugDetached)[-1].by_user and not session.attached


def test_children_announced_by_debugpy_get_their_own_connection(fake: FakeDebugpy, src: Path) -> None:
    fake.children = [201]
    session, rec = make(fake, src)
    main = str(src / "main.py")
    session.add_breakpoint(main, 5)
    session.attach()
    assert [p.pid for p in session.processes()] == [100, 201]  # attach returns once the child is configured
    child = rec.of(DebugProcess)[0]
    assert child.started and child.process.pid == 201 and child.process.key == 2
    handshake = ["initialize", "attach", "setBreakpoints", "setExceptionBreakpoints", "configurationDone"]
    assert fake.commands(2)[:5] == handshake
    child_attach = fake.arguments("attach")[1]
    assert child_attach["subProcessId"] == 201 and child_attach["pathMappings"][0]["remoteRoot"] == "/srv/app"
    assert child_attach["connect"] == {"host": "127.0.0.1", "port": fake.port}

    # A breakpoint added later reaches both processes.
    session.add_breakpoint(main, 9)
    lines = [[b["line"] for b in a["breakpoints"]] for a in fake.arguments("setBreakpoints")]
    assert lines[-2:] == [[5, 9], [5, 9]]

    # The child stops: the event names its process; stack, scopes, variables come from that process.
    fake.frames = [
        {"id": 7, "name": "handler", "line": 9, "column": 1, "source": {"path": main}},
        {"id": 8, "name": "run", "line": 3, "source": {"path": "/usr/lib/python3/x.py", "sourceReference": 0}},
    ]
    fake.variables = {1000: [{"name": "status", "value": "'done'", "type": "str", "variablesReference": 0}]}
    fake.evaluate = lambda expr, frame: {"result": f"{expr}@{frame}", "type": "str", "variablesReference": 3}
    fake.sources = {"/usr/lib/python3/x.py": "remote text"}
    fake.stop(201)
    wait_until(lambda: session.stopped, message="stopped")
    stopped = session.stopped
    assert stopped is not None and stopped.process == 2 and stopped.reason == "breakpoint"
    frames = session.stack(stopped.process, stopped.thread_id)
    assert [(f.name, f.line, f.local) for f in frames] == [("handler", 9, True), ("run", 3, False)]
    scopes = session.scopes(2, frames[0].id)
    assert [s.name for s in scopes] == ["Locals", "Globals"]
    assert session.variables(2, scopes[0].reference)[0].value == "'done'"
    result = session.evaluate("status.upper()", 2, 7)
    assert (result.value, result.type, result.reference) == ("status.upper()@7", "str", 3)
    assert session.source(frames[0]).startswith("line 1\n")  # read on the host
    assert session.source(frames[1]) == "remote text"  # not mapped: asked of the debugger
    assert [c for n, c, _ in fake.requests if c in ("stackTrace", "scopes", "variables", "evaluate")] == [
        "stackTrace",
        "scopes",
        "variables",
        "evaluate",
    ] and all(n == 2 for n, c, _ in fake.requests if c in ("stackTrace", "evaluate"))
    assert {(t.process, t.name) for t in session.threads()} == {(1, "MainThread"), (2, "MainThread")}

    session.step("next")
    wait_until(lambda: rec.of(DebugStopped)[-1].stopped.reason == "step", message="a step stop")
    session.resume()
    wait_until(lambda: rec.of(DebugContinued), message="continued")
    assert session.stopped is None
    assert [c for n, c, _ in fake.requests if n == 2 and c in ("next", "continue")] == ["next", "continue"]

    # The child ends (a reload): it leaves the session, the session stays.
    fake.terminate(201)
    wait_until(lambda: any(not e.started for e in rec.of(DebugProcess)), message="the child left")
    assert session.attached and [p.key for p in session.processes()] == [1]
    session.detach()


def test_resume_only_one_process_leaves_another_processes_stop_for_the_caller(fake: FakeDebugpy, src: Path) -> None:
    """Two processes stopped at once (a reloader and its server): continuing one leaves the other's
    stop readable and stopped; continuing a stop that is no longer current sends nothing."""
    fake.children = [201]
    session, rec = make(fake, src)
    session.attach()
    fake.stop(100, reason="exception")
    fake.stop(201, reason="exception")
    wait_until(lambda: len(rec.of(DebugStopped)) == 2, message="both stops")
    first, second = (e.stopped for e in rec.of(DebugStopped))
    assert {first.process, second.process} == {1, 2}
    session.resume(only=first)
    wait_until(lambda: not session.still_stopped(first), message="the first continued")
    assert session.still_stopped(second)
    assert [n for n, c, _ in fake.requests if c == "continue"] == [first.process]
    session.resume(only=first)  # no longer current: nothing is sent
    assert [n for n, c, _ in fake.requests if c == "continue"] == [first.process]
    session.resume()
    assert [n for n, c, _ in fake.requests if c == "continue"] == [first.process, second.process]
    session.detach()


def test_another_client_attached_raises_and_still_disconnects(fake: FakeDebugpy, src: Path) -> None:
    fake.other_client = True
    session, _rec = make(fake, src)
    with pytest.raises(AlreadyAttachedError, match="Another debugger is attached to api"):
        session.attach()
    assert fake.commands() == ["initialize", "attach", "disconnect"]  # disconnect completed: the adapter lives on
    assert not session.attached


def test_nothing_listening_and_a_silent_port(fake: FakeDebugpy, src: Path) -> None:
    session, _ = make(fake, src)
    fake.close()
    with pytest.raises(DapConnectError, match="Cannot connect to the debugger of api"):
        session.attach(timeout=1)

    # A port that accepts and closes at once (Docker's proxy with nothing behind it).
    import socket

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)

    def accept_and_close() -> None:
        c, _ = srv.accept()
        c.close()

    threading.Thread(target=accept_and_close, daemon=True).start()
    target = DebugTarget("api", "127.0.0.1", srv.getsockname()[1], 5678)
    with pytest.raises(DapConnectError, match="accepts connections but no debug adapter answers") as info:
        DebugSession(target, timeout=2).attach(timeout=2)
    assert info.value.hint is not None and "restart the service" in info.value.hint
    srv.close()


def test_the_root_process_ending_ends_the_session(fake: FakeDebugpy, src: Path) -> None:
    session, rec = make(fake, src)
    session.attach()
    fake.output(100, "hello\n")
    fake.conn_for(100).event("output", {"category": "telemetry", "output": "x"})
    fake.terminate(100, exit_code=3)
    wait_until(lambda: rec.of(DebugDetached), message="detached")
    detached = rec.of(DebugDetached)[0]
    assert not detached.by_user and detached.reason == "api: exited with code 3"
    assert [(o.category, o.text) for o in rec.of(DebugOutput)] == [("stdout", "hello\n")]
    wait_until(lambda: not session.attached, message="session over")
    with pytest.raises(DapClosed):
        session.stack(1, 1)


def test_breakpoint_events_and_unverified_lines(fake: FakeDebugpy, src: Path) -> None:
    fake.valid_lines = {3}
    session, rec = make(fake, src)
    session.attach()
    main = str(src / "main.py")
    state = session.add_breakpoint(main, 4)
    assert not state.verified and "does not exist" in state.message
    changed = {"id": 100, "verified": True, "line": 5}
    fake.conn_for(100).event("breakpoint", {"reason": "changed", "breakpoint": changed})
    wait_until(lambda: session.breakpoints()[0].verified, message="verified by event")
    assert session.breakpoints()[0].line == 5
    assert rec.of(DebugBreakpoints)
    session.remove_breakpoint(main, 4)
    assert session.breakpoints() == []
    assert fake.arguments("setBreakpoints")[-1]["breakpoints"] == []
    session.set_exception_breakpoints(raised=True, uncaught=False)
    assert fake.arguments("setExceptionBreakpoints")[-1] == {"filters": ["raised"]}
    assert session.exception_filters == ("raised",)
    session.detach()


def test_stepping_while_running_says_so(fake: FakeDebugpy, src: Path) -> None:
    session, _ = make(fake, src)
    session.attach()
    with pytest.raises(DapError, match="The program is running"):
        session.step("in")
    session.pause()
    wait_until(lambda: session.stopped, message="paused")
    assert session.stopped is not None and session.stopped.reason == "pause"
    session.detach()


# ---------------------------------------------------------------------------- files and locations
def test_mapped_sources_lists_python_files_only(src: Path) -> None:
    target = DebugTarget("api", "127.0.0.1", 1, 1, (PathMapping(str(src), "/srv/app"),))
    assert mapped_sources(target) == [str(src / "main.py"), str(src / "pkg" / "util.py")]


def test_parse_location_forms(src: Path, tmp_path: Path) -> None:
    files = [str(src / "main.py"), str(src / "pkg" / "util.py")]
    roots = [str(src), str(tmp_path)]
    assert parse_location("main.py:12", files, roots) == (str(src / "main.py"), 12, None)
    assert parse_location("util.py:1 if x > 3", files, roots) == (str(src / "pkg" / "util.py"), 1, "x > 3")
    assert parse_location(f"{src}/main.py:7", files, roots) == (str(src / "main.py"), 7, None)
    assert parse_location("app/pkg/util.py:2", files, roots) == (str(src / "pkg" / "util.py"), 2, None)
    with pytest.raises(UsageError, match="not a breakpoint location"):
        parse_location("main.py", files, roots)
    with pytest.raises(UsageError, match=r"No source file matches 'other\.py'"):
        parse_location("other.py:3", files, roots)
    with pytest.raises(UsageError, match="lines start at 1"):
        parse_location("main.py:0", files, roots)
    with pytest.raises(UsageError, match="matches several files"):
        parse_location("x.py:1", ["/a/x.py", "/b/x.py"], [])


def test_book_keeps_lines_sorted_and_one_per_line() -> None:
    book = BreakpointBook()
    book.replace("/p.py", book.with_line("/p.py", 9, None))
    book.replace("/p.py", book.with_line("/p.py", 3, "a"))
    book.replace("/p.py", book.with_line("/p.py", 9, "b"))
    assert book.specs("/p.py") == [SourceBreakpoint("/p.py", 3, "a"), SourceBreakpoint("/p.py", 9, "b")]
    book.record(1, "/p.py", [{"id": 1, "verified": False}, {"id": 2, "verified": True, "line": 10}])
    book.record(2, "/p.py", [{"id": 1, "verified": True, "line": 3}, {"id": 2, "verified": False}])
    states = book.states()
    assert [(s.verified, s.line) for s in states] == [(True, 3), (True, 10)]
    book.forget(2)
    assert [s.verified for s in book.states()] == [False, True]
    assert SourceBreakpoint("/r/app/x.py", 4, "y").label("/r") == "app/x.py:4 if y"
