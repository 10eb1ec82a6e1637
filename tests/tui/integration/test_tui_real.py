"""The TUI on the real core and the real engine: rows, a killed container, a restart from the TUI,
and the real ``devenv`` console script in tmux (what a user sees and presses)."""

from __future__ import annotations

import os
import time
from pathlib import Path
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


def in_project(st: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The app reads the project from the working folder and its ports from the environment."""
    for key, value in st.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(st.path)
    return st


@pytest.fixture()
def healthy(stack: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    st = in_project(stack("healthy"), monkeypatch)
    res = st.devenv("up")
    assert res.returncode == 0, res.dump()
    return st


def notified(app: DevenvApp, text: str) -> bool:
    return any(text in n.message for n in app._notifications)


async def test_up_from_the_tui_then_two_marked_services_restarted_together(
    stack: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    st = in_project(stack("healthy"), monkeypatch)  # not up: the app opens on a stack with no containers
    app = create_app(st.path)
    async with app.run_test(size=(120, 35)) as pilot:
        await until(pilot, lambda: app.table.row_count == 5, 20, "the rows")
        assert state_of(app, "api") == "missing", state_of(app, "api")
        await pilot.press("u")
        await until(pilot, lambda: notified(app, "up: 5 service(s) ready"), 180, "the health-gated up to finish")
        await until(pilot, lambda: "5/5 ready" in str(app.query_one("#header").render()), 20, "5/5 ready")
        assert st.inspect("api")["State"]["Health"]["Status"] in ("healthy", "starting")  # ready by devenv's check
        assert st.inspect("db")["State"]["Status"] == "running"
        started = {s: st.inspect(s)["State"]["StartedAt"] for s in ("api", "extra", "worker")}
        for service in ("api", "extra"):
            app.table.move_cursor(row=app.table.get_row_index(service))
            await pilot.press("space")
        await pilot.press("r")
        await until(pilot, lambda: notified(app, "restart api extra: 2 service(s) ready"), 120, "the restart of both")
        after = {s: st.inspect(s)["State"]["StartedAt"] for s in ("api", "extra", "worker")}
        assert after["api"] != started["api"] and after["extra"] != started["extra"]
        assert after["worker"] == started["worker"]  # not marked: untouched
        # The Config view's text, from the real core: Compose's merged config, the service first.
        text = app.core.config_text("api")  # type: ignore[union-attr]
        head, _, whole = text.partition("# the whole config\n")
        assert head.startswith(f"# profile default: docker compose -p {st.name} ") and "# service api\napi:\n" in head
        assert "services:\n" in whole and "  db:\n" in whole and "  worker:\n" in whole


async def test_real_core_rows_kill_and_restart(healthy: Any) -> None:
    st = healthy
    app = create_app(st.path)
    async with app.run_test(size=(120, 35)) as pilot:
        await until(pilot, lambda: app.table.row_count == 5, 20, "the rows")
        assert state_of(app, "api") == "running" and "5/5 ready" in str(app.query_one("#header").render())
        worker = st.container_ids("worker")[0]
        docker("kill", worker, check=True)
        await until(pilot, lambda: state_of(app, "worker") == "exited (137)", 30, "worker exited (137)")
        before = st.inspect("api")["State"]["StartedAt"]
        app.table.move_cursor(row=app.table.get_row_index("api"))
        await pilot.press("r")
        await until(pilot, lambda: notified(app, "restart api: 1 service(s) ready"), 60, "the restart to finish")
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
        # e: the app steps aside for a shell in the container, and comes back when it exits
        term.press("e")
        term.wait_for(lambda s: "devenv: shell in api" in s, 30, "the shell's banner")
        term.type("echo SHELL-$((6*7)) in $(hostname)")
        term.press("Enter")
        term.wait_for(lambda s: "SHELL-42 in " in s, 30, "the command's output in the container's shell")
        term.type("exit")
        term.press("Enter")
        term.wait_for(lambda s: "5/5 ready" in s and "SHELL-42" not in s, 30, "the TUI back after the shell")
        term.press("q")
        term.wait_for(lambda s: "DEVENV-EXIT=0" in s, 10, "devenv to quit with 0")
        assert st.inspect("api")["State"]["Running"] and st.inspect("db")["State"]["Running"]
    finally:
        term.close()


async def test_compose_v1_only_shows_the_clis_message_and_fix(
    stack: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only Compose v1 (``docker-compose`` 1.x, no ``docker compose`` plugin): the app still opens,
    with the rows the Engine gives, and shows the CLI's message and fix."""
    st = stack("zeroconf")
    empty = tmp_path / "docker-config"  # the docker CLI finds no cli-plugins here
    empty.mkdir()
    fake = tmp_path / "bin"
    fake.mkdir()
    v1 = fake / "docker-compose"
    v1.write_text('#!/bin/sh\nif [ "$1 $2" = "version --short" ]; then echo 1.29.2; exit 0; fi\nexit 1\n')
    v1.chmod(0o755)
    env = {"DOCKER_CONFIG": str(empty), "PATH": f"{fake}:{os.environ['PATH']}"}
    cli = st.devenv("config", env=env, timeout=60)
    assert cli.returncode == 3, cli.dump()
    assert "Only Compose v1 (docker-compose 1.29.2) is installed" in cli.stderr, cli.dump()
    fix = "Install the Compose v2 CLI plugin"
    assert fix in cli.stderr, cli.dump()
    for key, value in {**st.env, **env}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(st.path)
    app = create_app(st.path)
    async with app.run_test(size=(100, 30)) as pilot:
        banner = app.query_one("#banner")
        await until(pilot, lambda: banner.has_class("shown"), 30, "the banner")
        text = str(banner.render())
        assert "Compose v2 (`docker compose`) is not available." in text, text
        assert "Only Compose v1 (docker-compose 1.29.2) is installed" in text and fix in text, text
        assert "Compose v2" in str(app.query_one("#header").render())
        await pilot.press("question_mark")  # the app still answers its keys
        await pilot.pause()
        assert type(app.screen).__name__ == "HelpScreen"
