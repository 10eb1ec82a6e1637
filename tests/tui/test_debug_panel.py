"""The debugger panel with a fake core whose debug target is a scripted debugpy (tests/dapfake.py).

Everything below the panel is real: the core's DebugSession and DAP connections talk to the fake
adapter over TCP on 127.0.0.1.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Log, OptionList, Static, TabbedContent, Tree

from devenv.core.debug.target import DebugTarget, PathMapping
from devenv.errors import DevenvError
from devenv.tui.app import create_app
from devenv.tui.screens.pick_file import PickFileScreen
from devenv.tui.widgets.debug_panel import DebugPanel
from tests.dapfake import FakeDebugpy
from tests.tui.fakes import FakeCore
from tests.tui.panel_fakes import Harness

MAIN = (
    "".join(f"# line {i}\n" for i in range(1, 20)) + "def handler(status):\n    rows = query(status)\n    return rows\n"
)


@pytest.fixture()
def fake() -> Iterator[FakeDebugpy]:
    f = FakeDebugpy()
    yield f
    f.close()


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    app = tmp_path / "compose" / "app" / "app"
    (app / "api").mkdir(parents=True)
    (app / "main.py").write_text(MAIN)
    (app / "api" / "routes.py").write_text("x = 1\n")
    (app / "db.py").write_text("y = 2\n")
    return tmp_path


def core_for(fake: FakeDebugpy, project: Path) -> FakeCore:
    app = project / "compose" / "app" / "app"
    target = DebugTarget("api", "127.0.0.1", fake.port, 5678, (PathMapping(str(app), "/srv/app"),), own_debugpy=True)
    return FakeCore(root=project, debug=target)


def status(panel: DebugPanel) -> str:
    return str(panel.query_one("#dbg-status", Static).render())


def output(panel: DebugPanel) -> str:
    return "\n".join(panel.query_one("#dbg-output", Log).lines)


def rows(panel: DebugPanel, table_id: str) -> list[list[str]]:
    table = panel.query_one(table_id, DataTable)
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


async def until(pilot: Pilot[Any], predicate: Any, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            await pilot.pause(0.02)
            return
        await pilot.pause(0.02)
    raise AssertionError(f"timed out waiting for {what}")


async def attached(pilot: Pilot[Any], panel: DebugPanel) -> None:
    panel.select("api")
    panel.query_one("#dbg-breakpoints", DataTable).focus()
    await pilot.press("a")
    await until(pilot, lambda: status(panel).startswith("● api"), "attached")


def stop_at_handler(fake: FakeDebugpy, project: Path) -> None:
    main = str(project / "compose" / "app" / "app" / "main.py")
    fake.frames = [
        {"id": 11, "name": "handler", "line": 21, "column": 5, "source": {"path": main}},
        {"id": 12, "name": "run", "line": 867, "source": {"path": "/usr/lib/python3/dist-packages/anyio/x.py"}},
    ]
    fake.variables = {
        1000: [
            {"name": "status", "value": "'done'", "type": "str", "variablesReference": 0},
            {"name": "params", "value": "{'status': 'done'}", "type": "dict", "variablesReference": 2000},
        ],
        2000: [{"name": "'status'", "value": "'done'", "type": "str", "variablesReference": 0}],
    }
    fake.evaluate = lambda expr, frame: {"result": f"'DONE' from frame {frame}", "type": "str"}


async def test_attach_breakpoints_stop_inspect_evaluate_step_detach(fake: FakeDebugpy, project: Path) -> None:
    core = core_for(fake, project)
    panel = DebugPanel(core)
    async with Harness(panel).run_test(size=(120, 40)) as pilot:
        assert "not attached" in status(panel)
        await attached(pilot, panel)
        assert core.calls[-1] == ("debug_target", "api")
        assert f"127.0.0.1:{fake.port} · 1 process · running" in status(panel)
        assert "inspect: api: how the command starts Python" in output(panel)  # the enable step's events
        assert fake.arguments("attach")[0]["justMyCode"] is False

        # A breakpoint typed as FILE:LINE (a unique file name is enough), one with a condition.
        location = panel.query_one("#dbg-location", Input)
        location.focus()
        await pilot.press(*"main.py:21", "enter")
        await until(pilot, lambda: any("main.py:21" in r[1] for r in rows(panel, "#dbg-breakpoints")), "bp")
        location.value = "compose/app/app/db.py:1 if y > 1"
        await pilot.press("enter")
        await until(pilot, lambda: len(rows(panel, "#dbg-breakpoints")) == 4, "second bp")
        assert rows(panel, "#dbg-breakpoints") == [
            ["●", "db.py:1 if y > 1"],
            ["●", "main.py:21"],
            ["·", "raised exceptions: off"],
            ["U", "uncaught exceptions: on"],
        ]
        sent = fake.arguments("setBreakpoints")
        assert sent[-1]["breakpoints"] == [{"line": 1, "condition": "y > 1"}]

        # A bad location says why, and nothing is sent.
        location.value = "nope.py:3"
        await pilot.press("enter")
        assert "No source file matches 'nope.py'" in status(panel)
        assert len(fake.arguments("setBreakpoints")) == len(sent)

        # The program stops: stack, variables (the first scope expanded), source with the line marked.
        stop_at_handler(fake, project)
        fake.stop(100, thread=1)
        await until(pilot, lambda: rows(panel, "#dbg-stack") and "⏸ stopped" in status(panel), "the stop")
        assert rows(panel, "#dbg-stack") == [
            ["handler", "main.py:21"],
            ["run", "/usr/lib/python3/dist-packages/anyio/x.py:867"],
        ]
        assert rows(panel, "#dbg-threads") == [["⏸", "MainThread (1)"]]
        await until(pilot, lambda: "▶21" in str(panel.query_one("#dbg-source", Static).render()), "source")
        source = str(panel.query_one("#dbg-source", Static).render())
        current = next(x for x in source.splitlines() if "▶" in x)
        assert current.startswith("▶21") and "rows = query(status)" in current
        assert "●21" not in source  # the current line's marker wins
        tree: Tree[Any] = panel.query_one("#dbg-vars", Tree)
        await until(pilot, lambda: len(tree.root.children) == 2 and tree.root.children[0].children, "locals")
        locals_ = tree.root.children[0]
        assert [str(n.label) for n in locals_.children] == [
            "status = 'done'  str",
            "params = {'status': 'done'}  dict",
        ]
        assert 2000 not in [a["variablesReference"] for a in fake.arguments("variables")]  # not before asked
        locals_.children[1].expand()
        await until(pilot, lambda: locals_.children[1].children, "params' children")
        assert str(locals_.children[1].children[0].label) == "'status' = 'done'  str"

        # An expression in the selected frame.
        expr = panel.query_one("#dbg-expr", Input)
        expr.focus()
        await pilot.press(*"status.upper()", "enter")
        await until(pilot, lambda: "'DONE' from frame 11" in output(panel), "evaluate")
        assert fake.arguments("evaluate")[-1] == {"expression": "status.upper()", "context": "repl", "frameId": 11}
        await pilot.press("escape")  # out of the field: the panel's keys answer again
        assert panel.query_one("#dbg-stack", DataTable).has_focus
        assert str(tree.root.children[-1].label).startswith("» status.upper() = 'DONE' from frame 11")

        # Stepping keys act on the stopped thread; continue clears the view.
        panel.query_one("#dbg-stack", DataTable).focus()
        for key in ("n", "s", "o"):
            await pilot.press(key)
            await pilot.pause(0.2)
        await until(pilot, lambda: fake.commands().count("stepOut") == 1, "steps")
        assert [c for c in fake.commands() if c in ("next", "stepIn", "stepOut")] == ["next", "stepIn", "stepOut"]
        assert all(a == {"threadId": 1} for a in fake.arguments("next"))
        await until(pilot, lambda: rows(panel, "#dbg-stack"), "the step's stop")
        await pilot.press("c")
        await until(pilot, lambda: "running" in status(panel) and not rows(panel, "#dbg-stack"), "continued")

        # Exception filters toggle; removing a breakpoint.
        bps = panel.query_one("#dbg-breakpoints", DataTable)
        bps.focus()
        await pilot.press("E")
        await until(
            pilot, lambda: fake.arguments("setExceptionBreakpoints")[-1]["filters"] == ["raised", "uncaught"], "E"
        )
        await until(pilot, lambda: rows(panel, "#dbg-breakpoints")[2][0] == "E", "E shown")
        bps.move_cursor(row=1)
        await pilot.press("delete")
        await until(pilot, lambda: len(rows(panel, "#dbg-breakpoints")) == 3, "removed")
        assert fake.arguments("setBreakpoints")[-1]["breakpoints"] == []

        # Detach: disconnect completed, the service was not stopped.
        await pilot.press("d")
        await until(pilot, lambda: "not attached" in status(panel), "detached")
        assert fake.commands()[-1] == "disconnect"
        assert fake.arguments("disconnect")[-1]["terminateDebuggee"] is False
        assert "detached (detached)" in output(panel)


async def test_the_file_picker_fills_the_location(fake: FakeDebugpy, project: Path) -> None:
    panel = DebugPanel(core_for(fake, project))
    async with Harness(panel).run_test(size=(120, 40)) as pilot:
        await attached(pilot, panel)
        await pilot.press("f")
        await until(pilot, lambda: isinstance(pilot.app.screen, PickFileScreen), "the picker")
        options = pilot.app.screen.query_one(OptionList)
        assert options.option_count == 3
        await pilot.press(*"rout")
        await until(pilot, lambda: options.option_count == 1, "filtered")
        await pilot.press("enter")
        await until(pilot, lambda: not isinstance(pilot.app.screen, PickFileScreen), "picked")
        location = panel.query_one("#dbg-location", Input)
        assert location.value == "api/routes.py:" and location.has_focus  # relative to the mapped folder
        await pilot.press("1", "enter")
        await until(pilot, lambda: any("routes.py:1" in r[1] for r in rows(panel, "#dbg-breakpoints")), "bp")


async def test_another_client_attached_is_said_in_the_status(fake: FakeDebugpy, project: Path) -> None:
    fake.other_client = True
    panel = DebugPanel(core_for(fake, project))
    async with Harness(panel).run_test(size=(120, 40)) as pilot:
        panel.select("api")
        panel.query_one("#dbg-breakpoints", DataTable).focus()
        await pilot.press("a")
        await until(pilot, lambda: "✘ attach" in status(panel), "the refusal")
        assert "Another debugger is attached to api" in status(panel)
        assert "detach the other client" in status(panel)
        assert fake.commands() == ["initialize", "attach", "disconnect"]


async def test_enabling_debug_fails_with_the_cores_message(fake: FakeDebugpy, project: Path) -> None:
    core = core_for(fake, project)
    core.debug_error = DevenvError("worker runs `node server.js`: not Python.", hint="Add debugpy to the code.")
    panel = DebugPanel(core)
    async with Harness(panel).run_test(size=(120, 40)) as pilot:
        panel.select("worker")
        panel.query_one("#dbg-breakpoints", DataTable).focus()
        await pilot.press("a")
        await until(pilot, lambda: "✘" in status(panel), "the error")
        assert status(panel) == "✘ attach: worker runs `node server.js`: not Python.\nAdd debugpy to the code."
        assert fake.commands() == []


async def test_a_protected_profile_asks_for_its_name_first(fake: FakeDebugpy, project: Path) -> None:
    from devenv.tui.screens.confirm import ConfirmScreen

    core = core_for(fake, project)
    core.debug_protected = "prod"
    panel = DebugPanel(core)
    async with Harness(panel).run_test(size=(120, 40)) as pilot:
        panel.select("api")
        panel.query_one("#dbg-breakpoints", DataTable).focus()
        await pilot.press("a")
        await until(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen), "the confirmation")
        await pilot.press("escape")
        await until(pilot, lambda: "Not confirmed: nothing was changed." in status(panel), "refused")
        assert ("debug_target", "api") not in core.calls and fake.commands() == []
        panel.query_one("#dbg-breakpoints", DataTable).focus()
        await pilot.press("a")
        await until(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen), "the confirmation again")
        await pilot.press(*"prod", "enter")
        await until(pilot, lambda: status(panel).startswith("● api"), "attached after the typed name")
        assert ("debug_target", "api") in core.calls


async def test_keys_need_an_attached_session_and_a_stop(fake: FakeDebugpy, project: Path) -> None:
    panel = DebugPanel(core_for(fake, project))
    async with Harness(panel).run_test(size=(120, 40)) as pilot:
        panel.query_one("#dbg-breakpoints", DataTable).focus()
        await pilot.press("a")
        assert "Select a service in the table first" in status(panel)
        await pilot.press("c")
        assert "Attach first (a)" in status(panel)
        await attached(pilot, panel)
        expr = panel.query_one("#dbg-expr", Input)
        expr.focus()
        await pilot.press("x", "enter")
        assert "The program is running: pause it (p)" in status(panel)
        assert fake.arguments("evaluate") == []


async def test_the_service_ending_ends_the_session(fake: FakeDebugpy, project: Path) -> None:
    panel = DebugPanel(core_for(fake, project))
    async with Harness(panel).run_test(size=(120, 40)) as pilot:
        await attached(pilot, panel)
        fake.output(100, "hello ")
        fake.output(100, "world\n")
        fake.output(100, "oops\n", category="stderr")
        await until(pilot, lambda: "[stderr] oops" in output(panel), "output")
        assert "hello world" in output(panel).splitlines()
        fake.terminate(100, exit_code=137)
        await until(pilot, lambda: "the debug session ended" in status(panel), "the end")
        assert "api: exited with code 137" in status(panel)


async def test_g_opens_the_panel_and_it_follows_the_selection(fake: FakeDebugpy, project: Path) -> None:
    core = core_for(fake, project)
    app = create_app(core=core)
    async with app.run_test(size=(120, 35)) as pilot:
        await until(pilot, lambda: app.connected and app.table.row_count > 0, "the rows")
        await pilot.pause(0.2)
        assert len(app.query(DebugPanel)) == 0  # mounted when first shown, not in the frame the rows appear in
        app.table.focus()
        await pilot.press("g")
        await until(pilot, lambda: app.query_one(TabbedContent).active == "tab-debugger", "the tab")
        await until(pilot, lambda: len(app.query(DebugPanel)) == 1, "the panel mounted")
        panel = app.query_one(DebugPanel)
        await until(pilot, lambda: panel.has_focus_within, "focus in the panel")
        assert panel.service == app.selected
        app.table.focus()
        await pilot.press("down")
        await until(pilot, lambda: panel.service == app.selected, "the new selection")
        assert panel.service in status(panel)


SNAPSHOT_PORT = 29613  # fixed (it is on screen); below Linux's ephemeral range, which the other tests use


def test_snapshot_of_the_panel_stopped_at_a_breakpoint(project: Path, snap_compare: Any) -> None:
    """100x32, fake core and adapter: stopped in a handler, stack, variables, source, breakpoints, output."""
    fake = FakeDebugpy(SNAPSHOT_PORT)
    try:
        panel = DebugPanel(core_for(fake, project))
        main = str(project / "compose" / "app" / "app" / "main.py")

        async def run_before(pilot: Pilot[Any]) -> None:
            await attached(pilot, panel)
            assert panel.session is not None
            panel.session.add_breakpoint(main, 21)
            panel.session.add_breakpoint(main, 3, "status == 'done'")
            fake.output(100, "handling GET /tasks\n")
            stop_at_handler(fake, project)
            fake.stop(100, thread=1)
            tree: Tree[Any] = panel.query_one("#dbg-vars", Tree)
            await until(pilot, lambda: tree.root.children and tree.root.children[0].children, "locals")
            await until(pilot, lambda: "handling GET" in output(panel), "output")
            await until(
                pilot,
                lambda: rows(panel, "#dbg-threads") and "▶21" in str(panel.query_one("#dbg-source", Static).render()),
                "the stop view",
            )
            panel.query_one("#dbg-stack", DataTable).focus()
            await pilot.pause(0.3)
            await pilot.app.workers.wait_for_complete()
            panel.query_one("#dbg-threads", DataTable).refresh(layout=True)
            await pilot.pause(0.3)

        assert snap_compare(Harness(panel), terminal_size=(100, 32), run_before=run_before)
    finally:
        fake.close()
