"""``devenv debug`` on a real engine: a Python service whose image has no debugpy, the reloader, the
shell form, a command that is not Python, the bundled stack's own debugpy, launch.json.

The debugger side is a small DAP client here (``initialize`` / ``attach`` / ``configurationDone`` /
``threads`` / ``disconnect``), independent of devenv's own client.
"""

from __future__ import annotations

import contextlib
import json
import socket
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from devenv_testlib import Stack, docker, wait_for
from test_dap import Events, Request, line_of

from devenv.core.debug.dapmodel import DebugStopped
from devenv.core.debug.probe import _Reader, _send, probe_debugpy
from devenv.core.debug.session import DebugSession
from devenv.core.debug.target import DebugTarget, PathMapping

# Each test recreates services under debugpy, some on the bundled stack: minutes on a loaded machine.
pytestmark = pytest.mark.timeout(900)

PYWEB_IMAGE = "devenv-test/pyweb:latest"
DEBUG_LABEL = "dev.devenv.debug"


@pytest.fixture()
def debug_stack(stack: Callable[..., Stack]) -> Stack:
    if docker("image", "inspect", PYWEB_IMAGE, timeout=30).returncode != 0:
        pytest.fail(f"test image {PYWEB_IMAGE} is missing: run scripts/provision.sh", pytrace=False)
    return stack("debug")


class Dap:
    """A minimal DAP client session on ``127.0.0.1:port``."""

    def __init__(self, port: int, timeout: float = 30.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.reader = _Reader(self.sock, time.monotonic() + timeout)
        self.seq = 0
        self.events: list[dict[str, Any]] = []

    def request(self, command: str, **arguments: Any) -> dict[str, Any]:
        self.seq += 1
        _send(self.sock, {"seq": self.seq, "type": "request", "command": command, "arguments": arguments})
        while True:
            msg = self.reader.message()
            assert msg is not None, f"no response to {command}; events so far: {self.events}"
            if msg.get("type") == "response" and msg.get("request_seq") == self.seq:
                assert msg.get("success"), msg
                return msg
            self.events.append(msg)

    def wait_event(self, name: str, timeout: float) -> dict[str, Any]:
        for ev in self.events:
            if ev.get("event") == name:
                self.events.remove(ev)
                return ev
        self.reader.deadline = time.monotonic() + timeout
        while True:
            msg = self.reader.message()
            assert msg is not None, f"no {name!r} event within {timeout}s; got {[e.get('event') for e in self.events]}"
            if msg.get("event") == name:
                return msg
            self.events.append(msg)

    def attach(self, **arguments: Any) -> None:
        self.request("initialize", clientID="devenv-tests", adapterID="debugpy", pathFormat="path")
        self.seq += 1
        _send(self.sock, {"seq": self.seq, "type": "request", "command": "attach", "arguments": arguments})
        self.wait_event("initialized", 30)
        self.request("configurationDone")

    def close(self) -> None:
        self.reader.deadline = time.monotonic() + 10
        self.request("disconnect", terminateDebuggee=False)
        self.sock.close()


def dv(st: Stack, *args: str) -> Any:
    """``devenv ARGS`` in the stack, with room for a loaded machine (slow container start-ups)."""
    return st.devenv(*args, timeout=600)


def http_get(port: int, path: str, timeout: float = 20.0) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as resp:
        assert resp.status == 200
        return dict(json.loads(resp.read()))


def ok(result: Any) -> Any:
    assert result.returncode == 0, result.dump()
    return result


def debug_ports(doc: dict[str, Any], container_port: int = 5678) -> list[dict[str, str]]:
    return list((doc["NetworkSettings"]["Ports"] or {}).get(f"{container_port}/tcp") or [])


def snapshot(doc: dict[str, Any]) -> dict[str, Any]:
    """What `debug off` must restore exactly, from an inspect document."""
    return {
        "entrypoint": doc["Config"]["Entrypoint"],
        "cmd": doc["Config"]["Cmd"],
        "ports": doc["NetworkSettings"]["Ports"],
        "bindings": doc["HostConfig"]["PortBindings"],
        "mounts": sorted(m["Destination"] for m in doc["Mounts"]),
        "env": sorted(doc["Config"]["Env"]),
        "files": doc["Config"]["Labels"]["com.docker.compose.project.config_files"],
        "debug_label": doc["Config"]["Labels"].get(DEBUG_LABEL),
    }


@pytest.fixture()
def dap_sessions() -> Iterator[list[Dap]]:
    sessions: list[Dap] = []
    yield sessions
    for s in sessions:
        with contextlib.suppress(OSError):
            s.sock.close()


# ----------------------------------------------------------------------------------------------
def test_debug_on_attach_then_off_restores_the_service(debug_stack: Stack, dap_sessions: list[Dap]) -> None:
    st = debug_stack
    ok(dv(st, "up", "web", "--timeout", "300"))
    before = st.inspect("web")
    assert before["Config"]["Entrypoint"] is None and before["Config"]["Cmd"][0] == "uvicorn"  # the image's CMD

    doc = ok(dv(st, "debug", "web", "--json", "--wait-timeout", "300")).json()
    assert doc["ok"] is True and doc["service"] == "web" and doc["overlay"] is True and doc["own_debugpy"] is False
    port = doc["port"]
    under = st.inspect("web")
    # The console script runs under the interpreter of its shebang, inside debugpy.
    assert under["Config"]["Entrypoint"] == ["/usr/bin/python3", "-m", "debugpy", "--listen", "0.0.0.0:5678"]
    assert under["Config"]["Cmd"] == ["/usr/local/bin/uvicorn", "web.main:app", "--host", "0.0.0.0", "--port", "8000"]
    # Published on 127.0.0.1 only.
    bindings = debug_ports(under)
    assert bindings == [{"HostIp": "127.0.0.1", "HostPort": str(port)}]
    assert under["HostConfig"]["PortBindings"]["5678/tcp"] == [{"HostIp": "127.0.0.1", "HostPort": str(port)}]
    # debugpy comes from a read-only mount; the image itself still has none.
    mount = next(m for m in under["Mounts"] if m["Destination"] == "/opt/devenv/debugpy")
    assert mount["RW"] is False and mount["Type"] == "bind"
    no_image_debugpy = docker("exec", under["Id"], "env", "-u", "PYTHONPATH", "python3", "-c", "import debugpy")
    assert no_image_debugpy.returncode != 0 and "No module named 'debugpy'" in no_image_debugpy.stderr
    # No launch.json before: devenv creates one with the attach configuration.
    from devenv.core.debug.jsonc import loads

    created = loads((st.path / ".vscode" / "launch.json").read_text())["configurations"]
    assert [(c["name"], c["connect"]["port"]) for c in created] == [("devenv: attach web", port)]

    # A debugger attaches: the DAP handshake from here.
    dap = Dap(port)
    dap_sessions.append(dap)
    dap.attach(justMyCode=False)
    threads = dap.request("threads")["body"]["threads"]
    assert any(t["name"] == "MainThread" for t in threads), threads
    dap.close()
    assert http_get(st.port("PORT"), "/hello/dap")["greeting"] == "hello dap"  # still serving

    # The overlay is part of the profile for every later command: nothing is recreated.
    again = ok(dv(st, "debug", "web", "--json", "--wait-timeout", "300")).json()
    assert again["port"] == port
    ok(dv(st, "up", "web", "--timeout", "300"))
    assert st.inspect("web")["Id"] == under["Id"]
    status = ok(dv(st, "debug", "status", "--json")).json()
    assert [(s["service"], s["port"], s["by"], s["running"]) for s in status["services"]] == [
        ("web", port, "devenv", True)
    ]
    assert probe_debugpy("127.0.0.1", port, 10)  # probes and attaches leave debugpy usable

    ok(dv(st, "debug", "off", "web", "--wait-timeout", "300"))
    after = st.inspect("web")
    assert snapshot(after) == snapshot(before)
    assert not (st.path / ".devenv" / "debug" / "default.yml").exists()
    assert ok(dv(st, "debug", "status", "--json")).json()["services"] == []
    off_again = ok(dv(st, "debug", "off", "web", "--wait-timeout", "300"))
    assert "not under devenv debug" in off_again.stderr


def test_uvicorn_reload_service_is_debuggable(debug_stack: Stack, dap_sessions: list[Dap]) -> None:
    st = debug_stack
    ok(dv(st, "up", "reload", "--timeout", "300"))
    before = st.inspect("reload")
    doc = ok(dv(st, "debug", "reload", "--json", "--wait-timeout", "300")).json()
    assert doc["path_mappings"] == [{"local_root": str(st.path / "web"), "remote_root": "/srv/web"}]
    under = st.inspect("reload")
    assert under["Config"]["Entrypoint"][:5] == ["python3", "-m", "debugpy", "--listen", "0.0.0.0:5678"]
    assert under["Config"]["Cmd"][:3] == ["-m", "uvicorn", "web.main:app"] and "--reload" in under["Config"]["Cmd"]

    # The reloader serves from a child process (multiprocessing spawn): debugpy follows it, and
    # offers it to the debugger as a subprocess to attach to.
    dap = Dap(doc["port"])
    dap_sessions.append(dap)
    dap.attach(justMyCode=False, subProcess=True)
    child = dap.wait_event("debugpyAttach", 60)["body"]
    running = container_pids(under["Id"])  # the reloader's children now (its server, multiprocessing's tracker)
    assert child.get("subProcessId") in running, (child, running)
    # A change to the source restarts the server process: the new one is offered too. debugpy also
    # announces every child already running, so the new one is the first pid not running before.
    main = st.path / "web" / "main.py"
    main.write_text(main.read_text() + "\n# touched by the test\n")
    second = dap.wait_event("debugpyAttach", 90)["body"]
    while second["subProcessId"] in running:
        second = dap.wait_event("debugpyAttach", 90)["body"]
    # The old server process is gone by now (uvicorn stops it before it starts the new one). The test
    # used to go on after any announcement, so devenv's attach below could meet the old process while
    # it exited, which can make debugpy 1.8's adapter exit (its log ended in the middle of that).
    # The new process waits for a debugger to attach to it (a disconnect does not release it): the
    # attach below does, then it serves.
    assert not serving(st.port("API_PORT"))
    dap.close()

    # devenv's own DAP client on what `devenv debug` printed: a breakpoint in the handler stops the
    # request in the reloader's child, under the debugpy devenv mounted (the image has none).
    stop_in_hello(st, doc, reloaded=True)
    ok(dv(st, "debug", "off", "reload", "--wait-timeout", "300"))
    assert snapshot(st.inspect("reload")) == snapshot(before)


def test_django_runserver_is_debuggable_in_its_autoreloaded_child(debug_stack: Stack) -> None:
    st = debug_stack
    ok(dv(st, "up", "django", "--timeout", "300"))
    before = st.inspect("django")
    doc = ok(dv(st, "debug", "django", "--json", "--wait-timeout", "300")).json()
    assert doc["path_mappings"] == [{"local_root": str(st.path / "djsite"), "remote_root": "/srv/djsite"}]
    under = st.inspect("django")
    assert under["Config"]["Entrypoint"][:5] == ["python3", "-m", "debugpy", "--listen", "0.0.0.0:5678"]
    assert under["Config"]["Cmd"] == ["manage.py", "runserver", "0.0.0.0:8000"]
    # runserver's autoreloader re-runs manage.py in a child (RUN_MAIN=true) that serves the requests.
    stop_in_hello(st, doc, st.path / "djsite" / "djsite" / "urls.py", "DJANGO_PORT", reloaded=True)
    ok(dv(st, "debug", "off", "django", "--wait-timeout", "300"))
    assert snapshot(st.inspect("django")) == snapshot(before)


def stop_in_hello(
    st: Stack, doc: dict[str, Any], source: Path | None = None, port_var: str = "API_PORT", reloaded: bool = False
) -> None:
    """Break in ``hello`` through :class:`DebugSession` on ``devenv debug --json``'s target; read
    locals, evaluate, continue: the response arrives. ``reloaded``: the request runs in a child of
    the process debugpy started (a reloader's server)."""
    mappings = tuple(PathMapping(m["local_root"], m["remote_root"]) for m in doc["path_mappings"])
    target = DebugTarget(doc["service"], "127.0.0.1", doc["port"], 5678, mappings, own_debugpy=doc["own_debugpy"])
    main = source or st.path / "web" / "main.py"
    line = line_of(main, "count = len(name)")
    events = Events()
    session = DebugSession(target, emit=events, timeout=20)
    session.add_breakpoint(str(main), line)
    session.attach(timeout=60)
    try:
        mark = len(events.items)
        request = Request(f"http://127.0.0.1:{st.port(port_var)}/hello/dap")
        request.start()
        stopped = events.wait(DebugStopped, 90, since=mark).stopped
        assert stopped.reason == "breakpoint" and request.is_alive()
        if reloaded:
            procs = {p.key: p for p in session.processes()}
            assert stopped.process != 1 and procs[stopped.process].pid != procs[1].pid, procs
        assert session.breakpoints()[0].verified, session.breakpoints()
        top = session.stack(stopped.process, stopped.thread_id)[0]
        assert (top.name, top.path, top.line) == ("hello", str(main), line)  # mapped back to the local file
        scopes = session.scopes(stopped.process, top.id)
        local = {v.name: v.value for v in session.variables(stopped.process, scopes[0].reference)}
        assert (local["name"], local["greeting"]) == ("'dap'", "'hello dap'"), local
        assert session.evaluate("greeting.upper()", stopped.process, top.id).value == "'HELLO DAP'"
        session.remove_breakpoint(str(main), line)
        session.resume()
        request.join(60)
        assert request.status == 200 and request.body["greeting"] == "hello dap", (request.status, request.error)
    finally:
        session.detach()


def test_shell_form_and_a_command_that_is_not_python(debug_stack: Stack) -> None:
    st = debug_stack
    ok(dv(st, "up", "shell", "plain", "--timeout", "300"))
    before = st.inspect("shell")
    plain = st.inspect("plain")
    doc = ok(dv(st, "debug", "shell", "--json", "--wait-timeout", "300")).json()
    under = st.inspect("shell")
    assert under["Config"]["Entrypoint"] == ["sh", "-c"]
    assert under["Config"]["Cmd"] == [
        'echo "starting on $HOSTNAME" && exec python3 -m debugpy --listen 0.0.0.0:5678 web/serve.py'
    ]
    assert probe_debugpy("127.0.0.1", doc["port"], 10)
    assert http_get(st.port("DEV_PORT"), "/health") == {"status": "ok"}

    refused = dv(st, "debug", "plain", "--wait-timeout", "300")
    assert refused.returncode == 2, refused.dump()
    assert "`sleep` (/usr/bin/sleep) is not a Python program" in refused.stderr
    assert "debugpy.listen" in refused.stderr  # what to add to the code instead
    assert st.inspect("plain")["Id"] == plain["Id"]  # nothing was recreated

    ok(dv(st, "debug", "off", "shell", "--wait-timeout", "300"))
    assert snapshot(st.inspect("shell")) == snapshot(before)


LAUNCH_JSON = """// Team launch configurations
{
    "version": "0.2.0",
    "configurations": [
        // a teammate's entry
        {
            "name": "Python: current file",
            "type": "debugpy",
            "request": "launch",
            "program": "${file}",
        },
    ]
}
"""


def test_bundled_api_runs_its_own_debugpy_and_launch_json_is_merged(
    example_stack: Callable[[], Stack], dap_sessions: list[Dap]
) -> None:
    st = example_stack()
    (st.path / ".vscode").mkdir()
    (st.path / ".vscode" / "launch.json").write_text(LAUNCH_JSON)
    ok(dv(st, "up", "api", "--timeout", "300"))
    api = st.inspect("api")

    doc = ok(dv(st, "debug", "api", "--json", "--wait-timeout", "300")).json()
    assert doc["own_debugpy"] is True and doc["overlay"] is False
    assert doc["port"] == st.port("DEBUG_PORT") and doc["container_port"] == 5678
    assert st.inspect("api")["Id"] == api["Id"]  # devenv changed nothing
    assert not (st.path / ".devenv" / "debug").exists() or not list((st.path / ".devenv" / "debug").iterdir())
    dap = Dap(doc["port"])
    dap_sessions.append(dap)
    dap.attach(justMyCode=False)
    assert dap.request("threads")["body"]["threads"]
    dap.close()

    text = (st.path / ".vscode" / "launch.json").read_text()
    assert "// Team launch configurations" in text and "// a teammate's entry" in text
    from devenv.core.debug.jsonc import loads

    configs = loads(text)["configurations"]
    assert [c["name"] for c in configs] == ["Python: current file", "devenv: attach api"]
    assert configs[1] == {
        "name": "devenv: attach api",
        "type": "debugpy",
        "request": "attach",
        "connect": {"host": "127.0.0.1", "port": st.port("DEBUG_PORT")},
        "pathMappings": [
            {"localRoot": "${workspaceFolder}/compose/app/migrations", "remoteRoot": "/srv/migrations"},
            {"localRoot": "${workspaceFolder}/compose/app/app", "remoteRoot": "/srv/app"},
        ],
        "justMyCode": False,
    }
    nvim = ok(dv(st, "debug", "api", "--print", "nvim"))
    assert "table.insert(dap.configurations.python" in nvim.stdout and f"port = {st.port('DEBUG_PORT')}," in nvim.stdout
    printed = ok(dv(st, "debug", "api", "--print", "vscode"))
    assert loads(printed.stdout) == configs[1]  # what launch.json got, to paste elsewhere
    raw = json.loads(ok(dv(st, "debug", "api", "--print", "json")).stdout)
    assert raw["connect"] == {"host": "127.0.0.1", "port": st.port("DEBUG_PORT")}, raw
    assert {"localRoot": str(st.path / "compose" / "app" / "app"), "remoteRoot": "/srv/app"} in raw["pathMappings"]
    assert (st.path / ".vscode" / "launch.json").read_text() == text  # printing writes nothing

    status = ok(dv(st, "debug", "status", "--json")).json()
    assert [(s["service"], s["by"]) for s in status["services"]] == [("api", "own")]
    assert "not under devenv debug" in ok(dv(st, "debug", "off", "api", "--wait-timeout", "300")).stderr

    # A protected profile asks first: without a terminal and without --yes, nothing happens.
    refused = dv(st, "debug", "worker", "--profile", "prod", "--wait-timeout", "300")
    assert refused.returncode == 2, refused.dump()
    assert 'protected profile "prod"' in refused.stderr and "--confirm-profile prod" in refused.stderr


def test_image_with_debugpy_and_a_taken_default_port(example_stack: Callable[[], Stack]) -> None:
    st = example_stack()
    ok(dv(st, "up", "worker", "--timeout", "300"))
    holder = socket.socket()
    try:
        try:
            holder.bind(("127.0.0.1", 5678))  # the default port is taken (or already was)
            holder.listen()
        except OSError:
            pass
        doc = ok(dv(st, "debug", "worker", "--json", "--wait-timeout", "300")).json()
    finally:
        holder.close()
    assert doc["port"] not in (5678, st.port("DEBUG_PORT")) and doc["overlay"] is True
    worker = st.inspect("worker")
    assert debug_ports(worker) == [{"HostIp": "127.0.0.1", "HostPort": str(doc["port"])}]
    # The image has its own debugpy: nothing is mounted.
    assert all(m["Destination"] != "/opt/devenv/debugpy" for m in worker["Mounts"])
    assert probe_debugpy("127.0.0.1", doc["port"], 10)
    ok(dv(st, "debug", "off", "worker", "--wait-timeout", "300"))
    assert st.inspect("worker")["Config"]["Cmd"] == ["python3", "-m", "app.worker"]


def container_pids(cid: str) -> set[int]:
    """The pids in a container's own pid namespace (what debugpy's ``subProcessId`` is)."""
    listing = docker("exec", cid, "python3", "-c", "import os; print(*[p for p in os.listdir('/proc') if p.isdigit()])")
    assert listing.returncode == 0, listing.stderr
    return {int(p) for p in listing.stdout.split()}


def serving(port: int) -> bool:
    try:
        return http_get(port, "/health", timeout=3) == {"status": "ok"}
    except OSError:
        return False


def test_wait_holds_the_program_until_a_debugger_attaches(debug_stack: Stack, dap_sessions: list[Dap]) -> None:
    st = debug_stack
    # Never created: devenv looks inside the image (a throwaway container), then creates the service.
    doc = ok(dv(st, "debug", "web", "--wait", "--json", "--wait-timeout", "300")).json()
    assert doc["wait"] is True and doc["overlay"] is True
    under = st.inspect("web")
    assert under["Config"]["Entrypoint"][-1] == "--wait-for-client"
    assert under["State"]["Running"] is True
    assert not serving(st.port("PORT"))  # the program has not started: it waits for the debugger
    dap = Dap(doc["port"])
    dap_sessions.append(dap)
    dap.attach(justMyCode=False)
    wait_for(lambda: serving(st.port("PORT")), 90, "web serving once a debugger attached")
    dap.close()
    assert serving(st.port("PORT"))  # detaching leaves it running
    ok(dv(st, "debug", "off", "web", "--wait-timeout", "300"))
    after = st.inspect("web")
    assert after["Config"]["Entrypoint"] is None and after["Config"]["Cmd"][0] == "uvicorn"
    assert debug_ports(after) == [] and DEBUG_LABEL not in after["Config"]["Labels"]


@pytest.mark.parametrize("wait", [True, False], ids=["wait", "no-wait"])
def test_ready_only_once_the_debuggee_is_connected_to_its_adapter(
    debug_stack: Stack, dap_sessions: list[Dap], wait: bool
) -> None:
    """``slow`` connects its debuggee to debugpy's adapter 4 s after the adapter listens (a loaded
    machine, made repeatable). A DAP session ending in that gap kills the adapter, and the program
    with it: devenv must not probe the port before the debuggee is connected, and then say ready."""
    st = debug_stack
    flags = ["--wait"] if wait else []
    doc = ok(dv(st, "debug", "slow", *flags, "--json", "--wait-timeout", "300")).json()
    assert doc["wait"] is wait
    doc_slow = st.inspect("slow")
    assert doc_slow["State"]["Running"] is True and doc_slow["RestartCount"] == 0
    dap = Dap(doc["port"])
    dap_sessions.append(dap)
    dap.attach(justMyCode=False)
    assert dap.request("threads")["body"]["threads"]  # the debuggee answers through the adapter
    wait_for(lambda: serving(st.port("SLOW_PORT")), 90, "slow serving with a debugger attached")
    dap.close()
    assert st.inspect("slow")["State"]["Running"] is True
