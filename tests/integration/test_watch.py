"""``devenv watch`` / ``up --watch`` on the real engine: develop.watch rules and live config.

One fixture project for the module (tests/integration/stacks/watch: two services built from one
local image, no bind mounts, a develop.watch block), brought up once; one ``devenv watch --json``
follows it for every test, whose NDJSON events the tests wait for. Everything is checked inside
the containers (docker exec), never only in devenv's own output.
"""

from __future__ import annotations

import json
import queue
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from devenv_testlib import (
    STACKS,
    Stack,
    assert_ready_now,
    cleanup_project,
    docker,
    unique_name,
    wait_for,
    wait_for_line,
)

pytestmark = pytest.mark.timeout(900)

Event = dict[str, Any]


class WatchProcess:
    """``devenv watch --json`` in the background; its NDJSON events, in order."""

    def __init__(self, st: Stack, *args: str) -> None:
        self.proc = st.popen_devenv("watch", "--json", *args)
        self.events: list[Event] = []
        self.lines: queue.Queue[Event] = queue.Queue()
        self.stderr: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._read_err, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(json.loads(line))

    def _read_err(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line)

    def mark(self) -> int:
        self._drain()
        return len(self.events)

    def _drain(self) -> None:
        while True:
            try:
                self.events.append(self.lines.get_nowait())
            except queue.Empty:
                return

    def since(self, mark: int, kind: str | None = None) -> list[Event]:
        self._drain()
        return [e for e in self.events[mark:] if kind is None or e["event"] == kind]

    def wait(self, mark: int, pred: Callable[[Event], bool], timeout: float, what: str) -> Event:
        deadline = time.monotonic() + timeout
        seen = mark
        while True:
            self._drain()
            for e in self.events[seen:]:
                if pred(e):
                    return e
            seen = len(self.events)
            if self.proc.poll() is not None:
                raise AssertionError(f"devenv watch exited ({self.proc.returncode}): {''.join(self.stderr)}")
            if time.monotonic() > deadline:
                shown = "\n".join(json.dumps(e)[:300] for e in self.events[mark:])
                raise AssertionError(f"no {what} within {timeout}s; events since:\n{shown}\n{''.join(self.stderr)}")
            time.sleep(0.05)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def watch_project(tmp_path_factory: pytest.TempPathFactory, edit: Callable[[str], str] = str) -> Iterator[Stack]:
    """A copy of the watch fixture stack (its compose file through ``edit``), up, removed afterwards."""
    name = unique_name()
    dest = tmp_path_factory.mktemp("watch") / name
    shutil.copytree(STACKS / "watch", dest)
    (dest / "compose.yml").write_text(edit((dest / "compose.yml").read_text()))
    st = Stack(path=dest, name=name, env={"WATCH_IMAGE": f"{name}-shared:dev"}, projects=[name])
    try:
        res = st.devenv("up", timeout=600)
        assert res.returncode == 0, res.dump()
        yield st
    finally:
        cleanup_project(name)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, docker_ready: None) -> Iterator[Stack]:
    yield from watch_project(tmp_path_factory)


@pytest.fixture(scope="module")
def watcher(project: Stack) -> Iterator[WatchProcess]:
    w = WatchProcess(project)
    try:
        w.wait(0, lambda e: e["event"] == "started", 60, "started")
        yield w
    finally:
        assert w.stop() == 130, "".join(w.stderr)


def cid(st: Stack, service: str) -> str:
    ids = [i for i in st.container_ids(service) if i]
    assert len(ids) == 1, ids
    return docker("inspect", "--format", "{{.Id}}", ids[0], check=True).stdout.strip()


def in_container(st: Stack, service: str, script: str, check: bool = True) -> str:
    return docker("exec", cid(st, service), "sh", "-c", script, check=check).stdout


def synced(service: str, path: str, reason: str = "change") -> Callable[[Event], bool]:
    return lambda e: (
        e["event"] == "synced"
        and e["service"] == service
        and e["reason"] == reason
        and path in e["files"] + e["deleted"]
    )


def assert_ready(st: Stack, service: str) -> None:
    """What a health-gated recreate promises: running, and Docker calls it healthy or its healthcheck
    test passes now (devenv's own check, while Docker still says starting)."""
    doc = st.inspect(service)
    assert doc["State"]["Status"] == "running", (service, doc["State"]["Status"])
    assert_ready_now(doc, service)


# ---------------------------------------------------------------------------------------------- sync
def test_sync_changed_new_and_deleted_files(project: Stack, watcher: WatchProcess) -> None:
    src = project.path / "src"
    assert in_container(project, "app", "cat /srv/app/old.py") == 'print("old")\n'
    mark = watcher.mark()
    (src / "main.py").write_text('print("v2")\n')
    (src / "pkg").mkdir()
    (src / "pkg" / "new.py").write_text("NEW = 1\n")
    (src / "old.py").unlink()
    wait_for(
        lambda: (
            in_container(
                project,
                "app",
                "cat /srv/app/main.py /srv/app/pkg/new.py; test ! -e /srv/app/old.py && echo gone",
                False,
            )
            == 'print("v2")\nNEW = 1\ngone\n'
        ),
        30,
        "the changed, new and deleted files inside the container",
    )
    events = watcher.since(mark, "synced")
    assert events and all(e["service"] == "app" for e in events)
    files = {f for e in events for f in e["files"]}
    assert {"/srv/app/main.py", "/srv/app/pkg/new.py"} <= files
    assert "/srv/app/old.py" in {f for e in events for f in e["deleted"]}
    # the image's owner (1234:1234, from COPY --chown) is kept, also for the new folder
    owners = in_container(project, "app", "stat -c '%u:%g %n' /srv/app/main.py /srv/app/pkg /srv/app/pkg/new.py")
    assert [line.split()[0] for line in owners.splitlines()] == ["1234:1234"] * 3, owners


def test_ignore_rules_dockerignore_git_and_editor_files(project: Stack, watcher: WatchProcess) -> None:
    src = project.path / "src"
    mark = watcher.mark()
    ignored = ["a.tmp", "cache/c.py", "debug.log", "pkg/deep.log", ".main.py.swp", "main.py~", "4913", ".git/HEAD"]
    for rel in ignored:
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text("ignored\n")
    time.sleep(0.5)
    (src / "sentinel.py").write_text("S = 1\n")  # synced: its event closes the window
    watcher.wait(mark, synced("app", "/srv/app/sentinel.py"), 30, "the sentinel's sync")
    time.sleep(0.5)
    files = {f for e in watcher.since(mark, "synced") for f in e["files"]}
    assert files == {"/srv/app/sentinel.py"}, files
    listing = in_container(project, "app", "cd /srv/app && find . -type f | sort")
    for rel in ignored:
        assert f"./{rel}" not in listing, listing


def test_a_burst_of_files_is_one_batch(project: Stack, watcher: WatchProcess) -> None:
    burst = project.path / "src" / "burst"
    burst.mkdir()
    mark = watcher.mark()
    for i in range(200):
        (burst / f"f{i:03}.py").write_text(f"N = {i}\n")
    watcher.wait(mark, lambda e: e["event"] == "synced" and len(e["files"]) >= 200, 30, "one sync of 200 files")
    time.sleep(1)
    syncs = [e for e in watcher.since(mark, "synced") if e["reason"] == "change"]  # not the start's initial sync
    assert len(syncs) == 1, [(len(e["files"]), e["files"][:3]) for e in syncs]
    assert in_container(project, "app", "ls /srv/app/burst | wc -l").strip() == "200"
    # A batch this size goes through PUT /archive, not the kept-open tar stream: same owner rule.
    paths = "/srv/app/burst /srv/app/burst/f000.py /srv/app/burst/f199.py"
    owners = in_container(project, "app", f"stat -c '%u:%g' {paths}")
    assert owners.split() == ["1234:1234"] * 3, owners


# --------------------------------------------------------------------------------------- restart
def test_sync_restart(project: Stack, watcher: WatchProcess) -> None:
    before = cid(project, "app")
    mark = watcher.mark()
    (project.path / "conf" / "greeting.txt").write_text("bonjour\n")
    watcher.wait(mark, lambda e: e["event"] == "restarted" and e["services"] == ["app"], 90, "the restart")
    assert watcher.since(mark, "restarted")[0]["outcome"] == "ready"
    assert cid(project, "app") == before  # restarted, not recreated
    assert in_container(project, "app", "cat /tmp/started") == "bonjour\n"  # the command saw the synced file
    assert_ready(project, "app")


# ---------------------------------------------------------------------------- containers changing
def test_initial_sync_after_a_recreate_outside_devenv(project: Stack, watcher: WatchProcess) -> None:
    mark = watcher.mark()
    (project.path / "static" / "late.txt").write_text("late\n")
    watcher.wait(mark, synced("app", "/srv/static/late.txt"), 30, "the sync of late.txt")
    old = cid(project, "app")
    mark = watcher.mark()
    project.compose("up", "-d", "--force-recreate", "--no-deps", "app")
    assert cid(project, "app") != old
    event = watcher.wait(mark, synced("app", "/srv/static/late.txt", "initial"), 60, "the initial sync")
    assert "/srv/static/base.txt" in event["files"]
    assert in_container(project, "app", "cat /srv/static/late.txt") == "late\n"


def test_sync_into_a_stopped_container_is_reported_then_caught_up(project: Stack, watcher: WatchProcess) -> None:
    docker("stop", "-t", "1", cid(project, "app"), check=True)
    mark = watcher.mark()
    (project.path / "src" / "while_stopped.py").write_text("W = 1\n")
    error = watcher.wait(mark, lambda e: e["event"] == "error", 30, "the sync error")
    assert error["action"] == "sync" and error["service"] == "app"
    assert "while_stopped.py" in error["path"] and "no running container of app (exited)" in error["message"]
    mark = watcher.mark()
    docker("start", cid(project, "app"), check=True)
    watcher.wait(mark, synced("app", "/srv/app/while_stopped.py", "catch-up"), 60, "the catch-up sync")
    assert in_container(project, "app", "cat /srv/app/while_stopped.py") == "W = 1\n"


def test_sync_exec_runs_its_command_after_the_copy(project: Stack, watcher: WatchProcess) -> None:
    mark = watcher.mark()
    (project.path / "hooks" / "b.txt").write_text("two\n")
    event = watcher.wait(mark, lambda e: e["event"] == "exec", 30, "the exec")
    assert event["service"] == "worker" and event["exit_code"] == 0 and "hooked as 0" in event["output"], event
    assert in_container(project, "worker", "cat /tmp/hooked") == "two\n"  # the command saw the copied file
    assert watcher.since(mark, "synced")[0]["files"] == ["/srv/hooks/b.txt"]


def test_sync_into_a_read_only_target_is_reported_and_watching_goes_on(project: Stack, watcher: WatchProcess) -> None:
    mark = watcher.mark()
    (project.path / "ro" / "x.txt").write_text("x\n")
    error = watcher.wait(mark, lambda e: e["event"] == "error" and e["service"] == "worker", 30, "the copy error")
    assert error["action"] == "sync" and "/srv/ro/x.txt" in error["path"], error
    assert "read-only" in error["message"].lower(), error
    mark = watcher.mark()
    (project.path / "src" / "after_error.py").write_text("E = 1\n")
    watcher.wait(mark, synced("app", "/srv/app/after_error.py"), 30, "the next sync")


def test_the_tuis_watch_shares_its_monitor_and_watch_service_limits_the_rules(
    project: Stack, watcher: WatchProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The TUI's path: its core follows the stack with one monitor, and `w` runs the watch on that
    # monitor (no second events subscription); stopping the watch leaves the monitor following.
    from devenv.core.cancel import CancelToken
    from devenv.core.events import StatusChanged
    from devenv.core.watch.events import WatchStarted, WatchSynced
    from devenv.tui.core import load_core

    for key, value in project.env.items():
        monkeypatch.setenv(key, value)
    core = load_core(project.path, None)
    followed: list[Any] = []
    core.connect(followed.append)
    events: list[Any] = []
    cancel = CancelToken()
    ended: list[str] = []
    thread = threading.Thread(target=lambda: ended.append(core.watch(events.append, cancel)), daemon=True)
    thread.start()
    try:
        started = wait_for(lambda: [e for e in events if isinstance(e, WatchStarted)], 60, "the watch started")
        assert set(started[0].services) == {"app", "worker"}
        (project.path / "src" / "from_tui.py").write_text("T = 1\n")
        wait_for(
            lambda: [e for e in events if isinstance(e, WatchSynced) and "/srv/app/from_tui.py" in e.files],
            30,
            "the TUI watch's sync",
        )
        assert in_container(project, "app", "cat /srv/app/from_tui.py") == "T = 1\n"
    finally:
        cancel.cancel()
        thread.join(30)
    assert not thread.is_alive() and ended, ended
    mark = len(followed)
    docker("restart", "-t", "1", cid(project, "worker"), check=True)
    wait_for(
        lambda: [e for e in followed[mark:] if isinstance(e, StatusChanged) and e.new.service == "worker"],
        30,
        "the TUI's monitor still following after the watch stopped",
    )
    core.close()
    wait_for(lambda: project.inspect("worker")["State"].get("Health", {}).get("Status") == "healthy", 60, "worker")

    # `devenv watch SERVICE`: only that service's rules.
    only = WatchProcess(project, "app")
    try:
        event = only.wait(0, lambda e: e["event"] == "started", 60, "started")
        assert event["services"] == ["app"], event
    finally:
        assert only.stop() == 130, "".join(only.stderr)


# ----------------------------------------------------------------------------------------- config
def test_env_file_edit_recreates_only_the_services_it_changes(project: Stack, watcher: WatchProcess) -> None:
    app, worker = cid(project, "app"), cid(project, "worker")
    mark = watcher.mark()
    (project.path / ".env").write_text("GREETING=bye\n")
    event = watcher.wait(mark, lambda e: e["event"] == "config_applied", 120, "the config change")
    assert event["files"] == [".env"]
    assert event["recreated"] == ["app"] and event["outcome"] == "ready", event
    assert cid(project, "worker") == worker
    assert cid(project, "app") != app
    assert in_container(project, "app", "echo $GREETING") == "bye\n"
    assert_ready(project, "app")


def test_invalid_compose_edit_leaves_the_stack_running(project: Stack, watcher: WatchProcess) -> None:
    compose = project.path / "compose.yml"
    good = compose.read_text()
    before = {s: cid(project, s) for s in ("app", "worker")}
    mark = watcher.mark()
    compose.write_text(good.replace("services:\n", "services:\n  broken: [unclosed\n", 1))
    event = watcher.wait(mark, lambda e: e["event"] == "config_invalid", 60, "the invalid config report")
    assert event["file"] == "compose.yml" and event["line"] == 5 and "YAML" in event["message"], event
    mark = watcher.mark()
    compose.write_text(good.replace("retries: 30", "retries: lots", 1))  # valid YAML, rejected by Compose
    event = watcher.wait(mark, lambda e: e["event"] == "config_invalid", 60, "Compose's rejection")
    assert event["file"] == "compose.yml" and "retries" in event["message"], event
    time.sleep(1)
    assert {s: cid(project, s) for s in ("app", "worker")} == before
    assert_ready(project, "app")
    assert_ready(project, "worker")
    assert not watcher.since(mark, "config_applied")
    mark = watcher.mark()
    compose.write_text(good)
    event = watcher.wait(mark, lambda e: e["event"] == "config_applied", 60, "the fixed config")
    assert event["recreated"] == [] and event["outcome"] == "unchanged", event


def test_a_service_env_file_in_a_new_folder_is_watched_once_the_compose_file_names_it(
    project: Stack, watcher: WatchProcess
) -> None:
    compose = project.path / "compose.yml"
    good = compose.read_text()
    later = project.path / "later"
    later.mkdir()
    (later / "app.env").write_text("LATER=one\n")
    worker = cid(project, "worker")
    try:
        mark = watcher.mark()
        compose.write_text(good.replace("    init: true\n", "    init: true\n    env_file: [later/app.env]\n", 1))
        event = watcher.wait(mark, lambda e: e["event"] == "config_applied", 120, "the env_file added")
        assert event["recreated"] == ["app"] and event["outcome"] == "ready", event
        assert in_container(project, "app", "echo $LATER") == "one\n"
        # The file's folder was not watched when the watch started: it is now.
        mark = watcher.mark()
        (later / "app.env").write_text("LATER=two\n")
        event = watcher.wait(mark, lambda e: e["event"] == "config_applied", 120, "the env_file's edit")
        assert event["files"] == ["later/app.env"], event
        assert event["recreated"] == ["app"] and event["outcome"] == "ready", event
        assert in_container(project, "app", "echo $LATER") == "two\n"
        assert cid(project, "worker") == worker
    finally:
        mark = watcher.mark()
        compose.write_text(good)
        watcher.wait(mark, lambda e: e["event"] == "config_applied", 120, "the compose file restored")
    assert_ready(project, "app")


# ---------------------------------------------------------------------------------------- rebuild
def test_a_failing_build_is_reported_and_the_services_keep_running(project: Stack, watcher: WatchProcess) -> None:
    before = {s: cid(project, s) for s in ("app", "worker")}
    mark = watcher.mark()
    with (project.path / "requirements.txt").open("a") as fh:
        fh.write("BREAK\n")  # the Dockerfile's last RUN fails on it
    event = watcher.wait(mark, lambda e: e["event"] == "rebuilt", 600, "the failed rebuild")
    assert event["outcome"] == "failed" and event["error"], event
    error = watcher.wait(mark, lambda e: e["event"] == "error" and e["action"] == "rebuild", 10, "the error")
    assert error["path"] == "requirements.txt" and "kept running" in error["message"], error
    assert {s: cid(project, s) for s in ("app", "worker")} == before
    assert_ready(project, "app")
    assert_ready(project, "worker")


def test_rebuild_builds_once_and_recreates_both_services_health_gated(project: Stack, watcher: WatchProcess) -> None:
    before = {s: cid(project, s) for s in ("app", "worker")}
    image_before = docker("image", "inspect", "--format", "{{.Id}}", project.env["WATCH_IMAGE"]).stdout.strip()
    mark = watcher.mark()
    (project.path / "requirements.txt").write_text("fastapi\nuvicorn\n")
    event = watcher.wait(mark, lambda e: e["event"] == "rebuilt", 600, "the rebuild")
    assert event["outcome"] == "ready" and sorted(event["services"]) == ["app", "worker"], event
    assert event["trigger"] == "requirements.txt"
    time.sleep(2)
    assert len(watcher.since(mark, "rebuilt")) == 1  # one build for the image both services use
    waited = [e for e in watcher.since(mark, "core") if e["type"] == "ServiceReady"]
    assert sorted(e["service"] for e in waited) == ["app", "worker"]  # the recreate waited for health
    image_after = docker("image", "inspect", "--format", "{{.Id}}", project.env["WATCH_IMAGE"]).stdout.strip()
    assert image_after != image_before
    for service in ("app", "worker"):
        assert cid(project, service) != before[service]
        assert docker("inspect", "--format", "{{.Image}}", cid(project, service)).stdout.strip() == image_after
        assert_ready(project, service)
    assert in_container(project, "app", "cat /srv/requirements.txt") == "fastapi\nuvicorn\n"


# --------------------------------------------------------------------------------- engine stream
def test_survives_the_engine_stream_breaking(project: Stack, tmp_path: Path) -> None:
    """Through a socket proxy (the shared daemon is not restarted): a file saved while the engine is
    unreachable is reported, then copied once the stream is back; later saves sync as before."""
    from test_logs_reconnect import SocketProxy, engine_socket

    proxy = SocketProxy(tmp_path / "engine.sock", engine_socket())
    proxy.start()
    project.env["DOCKER_HOST"] = f"unix://{proxy.path}"
    try:
        w = WatchProcess(project, "--no-config")
    finally:
        del project.env["DOCKER_HOST"]
    try:
        w.wait(0, lambda e: e["event"] == "started", 60, "started")
        mark = w.mark()
        proxy.stop()
        w.wait(mark, lambda e: e["event"] == "notice" and "unreachable" in e["text"], 30, "the lost engine")
        (project.path / "src" / "during_outage.py").write_text("O = 1\n")
        w.wait(mark, lambda e: e["event"] == "error" and "during_outage.py" in e["path"], 30, "the failed sync")
        proxy.start()
        w.wait(mark, lambda e: e["event"] == "notice" and "engine back" in e["text"], 60, "the reconnection")
        w.wait(mark, synced("app", "/srv/app/during_outage.py", "catch-up"), 60, "the catch-up sync")
        assert in_container(project, "app", "cat /srv/app/during_outage.py") == "O = 1\n"
        mark = w.mark()
        (project.path / "src" / "after_outage.py").write_text("A = 1\n")
        w.wait(mark, synced("app", "/srv/app/after_outage.py"), 30, "a sync after the reconnection")
    finally:
        assert w.stop() == 130, "".join(w.stderr)
        proxy.stop()


# -------------------------------------------------------------------------------------- up --watch
def test_up_watch_shows_logs_and_syncs(project: Stack, watcher: WatchProcess) -> None:
    proc = project.popen_devenv("up", "--watch")
    try:
        wait_for_line(proc, r"watching app, worker", timeout=120)
        (project.path / "src" / "from_up_watch.py").write_text("U = 1\n")
        wait_for_line(proc, r"app: synced .*from_up_watch\.py", timeout=30)
        docker("exec", cid(project, "worker"), "sh", "-c", "echo hello-from-worker > /proc/1/fd/1", check=True)
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "hello-from-worker" in out  # the services' logs, on stdout
    assert "Traceback" not in err
