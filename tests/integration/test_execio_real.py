"""Execs with stdin on the real engine (``devenv.core.engine.execio``): a failed input never hangs.

A restore whose gzip snapshot is truncated fails while its input is read; the client in the
container gets EOF and normally ends at once. Once in CI it did not, and ``devenv db restore``
hung until the test's 180 s limit. These tests pin what ``exec_in`` guarantees since: a command
that does not end on its own after its input failed is given ``INPUT_GRACE`` seconds, then a
stoppable exec's process group is stopped in the container and the input's error is raised; and
tiny inputs (where the EOF comes before the process has started) still reach the command whole.
"""

from __future__ import annotations

import contextlib
import io
import time
from collections.abc import Iterator

import docker as docker_sdk
import pytest
from devenv_testlib import BASE_IMAGE, docker, unique_name

from devenv.core.engine.execio import INPUT_GRACE, exec_in

pytestmark = pytest.mark.docker

#: Reads stdin to its end, then stays (as a client stuck after its EOF would).
STUCK = ["sh", "-c", "cat >/dev/null; echo dvt-after-eof >&2; exec sleep 300"]


class FailingInput(io.RawIOBase):
    """Some SQL-looking bytes, then the error a truncated gzip stream raises."""

    def __init__(self) -> None:
        self.sent = False

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if not self.sent:
            self.sent = True
            return b"INSERT INTO t VALUES (1);\nINSERT INTO t VAL"
        raise EOFError("Compressed file ended before the end-of-stream marker was reached")


@pytest.fixture(scope="module")
def container(docker_ready: None) -> Iterator[str]:
    name = unique_name("dvtexec")
    docker("run", "-d", "--name", name, "--label", "devenv-test=execio", BASE_IMAGE, "sleep", "infinity", check=True)
    try:
        yield name
    finally:
        docker("rm", "-f", name)


def sleepers(container: str) -> list[str]:
    top = docker("top", container, "-eo", "pid,args", check=True).stdout.splitlines()[1:]
    return [line for line in top if "sleep 300" in line]


def test_a_failed_input_stops_a_command_stuck_after_its_eof(container: str) -> None:
    api = docker_sdk.APIClient(version="auto")
    lines: list[str] = []
    t0 = time.monotonic()
    with pytest.raises(EOFError, match="end-of-stream marker"):
        exec_in(api, container, STUCK, stdin=FailingInput(), on_stderr_line=lines.append, stoppable=True)
    took = time.monotonic() - t0
    assert INPUT_GRACE <= took < INPUT_GRACE + 8, took
    assert "dvt-after-eof" in lines, lines  # the command did get its EOF
    assert sleepers(container) == [], "the stuck command was left running in the container"


def test_without_stoppable_the_caller_is_released_and_the_command_stays(container: str) -> None:
    api = docker_sdk.APIClient(version="auto")
    before = len(sleepers(container))
    t0 = time.monotonic()
    try:
        with pytest.raises(EOFError):
            exec_in(api, container, STUCK, stdin=FailingInput())
        assert time.monotonic() - t0 < INPUT_GRACE + 5
        assert len(sleepers(container)) == before + 1, "documented: a plain exec's command is the caller's to end"
    finally:
        with contextlib.suppress(Exception):
            docker("exec", container, "pkill", "-f", "sleep 300")


def test_a_command_that_ends_on_the_eof_reports_at_once(container: str) -> None:
    api = docker_sdk.APIClient(version="auto")
    t0 = time.monotonic()
    with pytest.raises(EOFError):
        exec_in(api, container, ["cat"], stdin=FailingInput(), stdout=io.BytesIO(), stoppable=True)
    assert time.monotonic() - t0 < INPUT_GRACE, "no grace is spent when the command ends on its EOF"


@pytest.mark.parametrize("stoppable", [False, True])
def test_tiny_inputs_reach_the_command_whole(container: str, stoppable: bool) -> None:
    api = docker_sdk.APIClient(version="auto")
    for i in range(30):
        data = f"row {i}\n".encode()
        result = exec_in(api, container, ["cat"], stdin=io.BytesIO(data), stoppable=stoppable)
        assert (result.exit_code, result.stdout) == (0, data)
    empty = exec_in(api, container, ["cat"], stdin=io.BytesIO(b""), stoppable=stoppable)
    assert (empty.exit_code, empty.stdout) == (0, b"")
