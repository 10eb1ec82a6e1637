"""The debugger panel on the real core against the bundled example's api (debugpy in the container).

The panel runs in-process (Pilot) on a :class:`devenv.tui.core.RealCore` of a copy of the example:
``a`` goes through ``RealCore.debug_target`` (``enable_debug``: the dev profile's api runs its own
debugpy, so nothing is recreated), a breakpoint is typed in a request handler, an HTTP request is
sent from a thread, and the panel must show the stop: the stack, the handler's variables, the
source line. ``c`` continues and the response arrives; ``d`` detaches and the service keeps serving.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from devenv_testlib import Stack
from test_db_postgres import example_up_under_debugpy
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Log, Static, Tree

from devenv.tui.core import load_core
from devenv.tui.widgets.debug_panel import DebugPanel
from tests.tui.panel_fakes import Harness

pytestmark = [pytest.mark.docker, pytest.mark.timeout(900)]

HANDLER_LINE = "rows = conn.execute(text(query"


@pytest.fixture(scope="module")
def api_stack(tmp_path_factory: pytest.TempPathFactory, docker_ready: None) -> Iterator[Stack]:
    yield from example_up_under_debugpy(tmp_path_factory.mktemp("dappanel"))


def text_of(panel: DebugPanel, selector: str) -> str:
    return str(panel.query_one(selector, Static).render())


def rows(panel: DebugPanel, selector: str) -> list[list[str]]:
    table = panel.query_one(selector, DataTable)
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


async def until(pilot: Pilot[Any], predicate: Any, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            await pilot.pause(0.05)
            return
        await pilot.pause(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def get(url: str, box: dict[str, Any]) -> threading.Thread:
    def run() -> None:
        try:
            with urllib.request.urlopen(url, timeout=120) as resp:
                box["status"], box["body"] = resp.status, json.loads(resp.read())
        except Exception as exc:
            box["error"] = repr(exc)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


async def test_breakpoint_hit_shown_with_stack_and_variables(api_stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    st = api_stack
    for key, value in st.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("DEVENV_PROFILE", raising=False)
    core = load_core(Path(st.path), "dev")
    main = st.path / "compose" / "app" / "app" / "main.py"
    line = next(i for i, text in enumerate(main.read_text().splitlines(), 1) if HANDLER_LINE in text)
    panel = DebugPanel(core)
    async with Harness(panel).run_test(size=(140, 45)) as pilot:
        panel.select("api")
        panel.query_one("#dbg-breakpoints", DataTable).focus()
        await pilot.press("a")
        await until(pilot, lambda: text_of(panel, "#dbg-status").startswith("● api"), "attached")
        status = text_of(panel, "#dbg-status")
        assert f"127.0.0.1:{st.port('DEBUG_PORT')}" in status and "running" in status, status

        location = panel.query_one("#dbg-location", Input)
        location.focus()
        await pilot.press(*f"main.py:{line}", "enter")
        await until(pilot, lambda: ["●", f"main.py:{line}"] in rows(panel, "#dbg-breakpoints"), "a verified breakpoint")

        box: dict[str, Any] = {}
        request = get(f"http://127.0.0.1:{st.port('API_PORT')}/tasks?status=done", box)
        await until(pilot, lambda: rows(panel, "#dbg-stack"), "the stop")
        assert rows(panel, "#dbg-stack")[0] == ["list_tasks", f"main.py:{line}"]
        assert "⏸ stopped (breakpoint)" in text_of(panel, "#dbg-status")
        assert any(r[0] == "⏸" for r in rows(panel, "#dbg-threads"))
        await until(pilot, lambda: f"▶{line}" in text_of(panel, "#dbg-source"), "the source")
        current = next(x for x in text_of(panel, "#dbg-source").splitlines() if x.startswith("▶"))
        assert HANDLER_LINE in current
        tree: Tree[Any] = panel.query_one("#dbg-vars", Tree)
        await until(pilot, lambda: tree.root.children and tree.root.children[0].children, "the locals")
        labels = [str(n.label) for n in tree.root.children[0].children]
        assert "status = 'done'  str" in labels, labels
        assert any(x.startswith("query = 'SELECT ") for x in labels), labels
        assert request.is_alive()  # the handler waits for the debugger

        expr = panel.query_one("#dbg-expr", Input)
        expr.focus()
        await pilot.press(*"status.upper()", "enter")
        log = panel.query_one("#dbg-output", Log)
        await until(pilot, lambda: "  'DONE'  (str)" in log.lines, "the evaluation")

        panel.query_one("#dbg-breakpoints", DataTable).focus()
        await pilot.press("delete")  # the breakpoint goes (the next request must not stop)
        await until(pilot, lambda: not any("main.py" in r[1] for r in rows(panel, "#dbg-breakpoints")), "removed")
        await pilot.press("c")
        await until(pilot, lambda: not request.is_alive(), "the response", timeout=60)
        assert box.get("status") == 200 and isinstance(box.get("body"), list), box
        await until(pilot, lambda: "running" in text_of(panel, "#dbg-status"), "running again")

        await pilot.press("d")
        await until(pilot, lambda: "not attached" in text_of(panel, "#dbg-status"), "detached")
    again: dict[str, Any] = {}
    get(f"http://127.0.0.1:{st.port('API_PORT')}/tasks", again).join(30)
    assert again.get("status") == 200, again
