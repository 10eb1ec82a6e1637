"""The TUI on the real core and the real engine: rows, a killed container, a restart from the TUI,
and the real ``devenv`` console script in tmux (what a user sees and presses)."""

from __future__ import annotations

import os
import time
from typing import Any

import pytest
from devenv_testlib import DEVENV, docker

from devenv.tui.app import DevenvApp, create_app
from tests.tui.integration.tmuxlib import Tmux, have_tmux


async def until(pilot: Any, check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        await pilot.pause(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def state_of(app: DevenvApp, service: str) -> str:
    return str(app.table.get_row(service)[2]) if service in app.table.statuses else ""


@pytest.fixture()
def healthy(stack: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    st = stack("healthy")
    for key, value in st.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(st.path)
    res = st.devenv("up")
    assert res.returncode == 0, res.dump()
    return st


async def test_real_core_rows_kill_and_restart(healthy: Any) -> None:
    st = healthy
    app = create_app(st.path)
    async with app.run_test(size=(120, 35)) as pilot:
        await until(pilot, lambda: app.table.row_count == 5, 20, "the rows")
        assert state_of(app, "api") == "running" and "5/5 ready" in str(app.query_one("#header").render())
        worker = st.container_ids("worker")[0]
        docker("kill", worker, check=True)
        await until(pilot, lambda: state_of(app, "worker") == "exited (137)", 10, "worker exited (137)")
        before = st.inspect("api")["State"]["StartedAt"]
        app.table.move_cursor(row=app.table.get_row_index("api"))
        await pilot.press("r")
        await until(
            pilot,
            lambda: any("restart api: 1 service(s) ready" in n.message for n in app._notifications),
            60,
            "the restart to finish",
        )
        assert st.inspect("api")["State"]["StartedAt"] != before
        assert state_of(app, "api") == "running"
        await until(pilot, lambda: any("api-marker" in line for line in app.logs.view.lines), 10, "api's logs")
    # quitting left the stack as it was
    assert st.inspect("api")["State"]["Running"]


@pytest.mark.skipif(not have_tmux(), reason="tmux is not installed (scripts/provision.sh installs it)")
def test_devenv_console_script_in_tmux(healthy: Any) -> None:
    st = healthy
    env = {**st.env, "TEXTUAL_ANIMATIONS": "none", "TERM": "xterm-256color", "PATH": os.environ["PATH"]}
    term = Tmux([str(DEVENV)], st.path, env, width=120, height=35)
    try:
        screen = term.wait_for(lambda s: "5/5 ready" in s and "worker" in s, 20, "the services")
        assert st.name in screen and "api" in screen and "running" in screen
        # logs, search
        term.wait_for(lambda s: "worker-tick" in s, 10, "worker's log lines")
        term.press("l", "/")
        term.type("worker-tick [0-9]+")
        term.press("Enter")
        term.wait_for(lambda s: "/worker-tick [0-9]+/" in s and "paused" in s, 5, "the search in the status line")
        term.press("f")
        term.wait_for(lambda s: "follow" in s, 5, "follow back on")
        # restart api: filter the table to it, press r
        term.press("C-f")
        term.type("api")
        term.press("Enter")
        term.wait_for(lambda s: "db " not in s.split("\n")[3], 5, "the filtered table")
        before = st.inspect("api")["State"]["StartedAt"]
        term.press("r")
        term.wait_for(lambda s: "service(s) ready in" in s, 60, "the restart's notification")
        assert st.inspect("api")["State"]["StartedAt"] != before
        term.press("q")
        term.wait_for(lambda s: "DEVENV-EXIT=0" in s, 10, "devenv to quit with 0")
        assert st.inspect("api")["State"]["Running"] and st.inspect("db")["State"]["Running"]
    finally:
        term.close()
