"""A stoppable exec (``devenv.core.engine.execio``): the pid line, and a cancel that ends the process group.

The fake Engine API hands out a real socket carrying the Engine's multiplexed frames, so the
reader is docker-py's own; what is checked is what devenv asks the engine to run.
"""

from __future__ import annotations

import socket
import struct
import threading
from typing import Any

import pytest

from devenv.core.cancel import Cancelled, CancelToken
from devenv.core.engine.execio import PID_MARK, exec_in


def frame(stream: int, data: bytes) -> bytes:
    return struct.pack(">BxxxL", stream, len(data)) + data


class FakeApi:
    """One long-running exec ("exec-1", pid 42 in the container) until a KILL or TERM exec comes."""

    def __init__(self, *, ignores_term: bool = False) -> None:
        self.created: list[list[str]] = []
        self.running = True
        self.ignores_term = ignores_term
        self.theirs: socket.socket | None = None

    def exec_create(self, container: str, cmd: list[str], **_: Any) -> dict[str, str]:
        self.created.append(cmd)
        return {"Id": f"exec-{len(self.created)}"}

    def exec_start(self, exec_id: str, socket: bool = False) -> Any:
        import socket as pysocket

        if exec_id != "exec-1":  # a kill
            script = self.created[int(exec_id.split("-")[1]) - 1][2]
            if "KILL" in script or not self.ignores_term:
                self.running = False
            return b""
        ours, self.theirs = pysocket.socketpair()
        self.theirs.sendall(frame(1, PID_MARK + b"42\nINFO one\n") + frame(1, b"INFO t") + frame(1, b"wo\n"))
        return ours

    def exec_inspect(self, exec_id: str) -> dict[str, Any]:
        return {"Running": self.running if exec_id == "exec-1" else False, "ExitCode": None if self.running else 143}


class Lines:
    def __init__(self) -> None:
        self.data = b""
        self.seen = threading.Event()

    def write(self, data: bytes) -> None:
        self.data += data
        if b"two" in self.data:
            self.seen.set()


@pytest.mark.parametrize("ignores_term", [False, True])
def test_cancel_signals_the_process_group_then_reraises(ignores_term: bool) -> None:
    api = FakeApi(ignores_term=ignores_term)
    out = Lines()
    token = CancelToken()
    stopped: list[bool] = []
    raised: list[BaseException] = []

    def run() -> None:
        try:
            exec_in(
                api,
                "c1",
                ["alembic", "upgrade", "head"],
                stdout=out,
                cancel=token,
                stoppable=True,
                on_stopped=stopped.append,
            )  # type: ignore[arg-type]
        except BaseException as exc:
            raised.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    assert out.seen.wait(5)
    token.cancel()
    worker.join(15)
    assert not worker.is_alive()
    assert raised and isinstance(raised[0], Cancelled)
    assert out.data == b"INFO one\nINFO two\n"  # the pid line is not output
    wrapper = api.created[0]
    assert wrapper[:2] == ["sh", "-c"] and wrapper[3:] == ["sh", "alembic", "upgrade", "head"]
    kills = api.created[1:]
    assert [k[-1] for k in kills] == ["42"] * len(kills)  # the pid the exec printed
    assert 'kill -s TERM -- -"$1"' in kills[0][2]  # the whole group, then a KILL for what is left
    assert 'kill -s KILL -- -"$1"' in kills[-1][2]
    assert stopped == [True]
    if api.theirs is not None:
        api.theirs.close()


def test_without_stoppable_the_command_runs_as_given_and_output_is_whole() -> None:
    api = FakeApi()
    api.running = False

    def start(exec_id: str, socket: bool = False) -> Any:
        import socket as pysocket

        ours, theirs = pysocket.socketpair()
        theirs.sendall(frame(1, b"plain\n") + frame(2, b"warn\n"))
        theirs.close()
        return ours

    api.exec_start = start  # type: ignore[method-assign]
    result = exec_in(api, "c1", ["true"])  # type: ignore[arg-type]
    assert api.created == [["true"]]
    assert result.stdout == b"plain\n" and result.stderr == "warn\n" and result.exit_code == 143
