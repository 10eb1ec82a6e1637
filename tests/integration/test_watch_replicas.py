"""``devenv watch`` on a service with two replicas: a change is copied into every running container
(in parallel), each keeping the image's file owner."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from devenv_testlib import Stack, docker, wait_for
from test_watch import WatchProcess, watch_project

pytestmark = pytest.mark.timeout(900)


def two_app_replicas(compose: str) -> str:
    """The app service (the first with `init: true`) with two replicas."""
    return compose.replace("    init: true\n", "    init: true\n    deploy:\n      replicas: 2\n", 1)


@pytest.fixture()
def replicated(tmp_path_factory: pytest.TempPathFactory, docker_ready: None) -> Iterator[Stack]:
    yield from watch_project(tmp_path_factory, two_app_replicas)


def test_a_change_reaches_every_replica(replicated: Stack) -> None:
    st = replicated
    ids = [i for i in st.container_ids("app") if i]
    assert len(ids) == 2, ids
    watcher = WatchProcess(st, "app")
    try:
        watcher.wait(0, lambda e: e["event"] == "started", 60, "started")
        mark = watcher.mark()
        (st.path / "src" / "replicated.py").write_text("R = 2\n")
        event = watcher.wait(
            mark,
            lambda e: e["event"] == "synced" and "/srv/app/replicated.py" in e["files"],
            30,
            "the sync",
        )
        assert event["containers"] == 2, event
        for cid in ids:
            out = docker("exec", cid, "stat", "-c", "%u:%g", "/srv/app/replicated.py", check=True).stdout
            assert out.strip() == "1234:1234", (cid, out)
            assert docker("exec", cid, "cat", "/srv/app/replicated.py", check=True).stdout == "R = 2\n"
        # A replica that is stopped during a change is caught up when it runs again.
        docker("stop", "-t", "1", ids[1], check=True)
        mark = watcher.mark()
        (st.path / "src" / "while_down.py").write_text("D = 1\n")
        watcher.wait(mark, lambda e: e["event"] == "synced" and "/srv/app/while_down.py" in e["files"], 30, "sync")
        docker("start", ids[1], check=True)
        wait_for(
            lambda: docker("exec", ids[1], "cat", "/srv/app/while_down.py").stdout == "D = 1\n",
            60,
            "the stopped replica caught up",
        )
    finally:
        assert watcher.stop() == 130, "".join(watcher.stderr)
