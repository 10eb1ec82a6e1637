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


class StdinApi(FakeApi):
    """exec-1 reads its stdin on the engine's side of a socketpair: the pid line goes out after
    ``pid_delay`` seconds; the EOF's arrival is recorded; ``ends_on_eof`` says whether the command
    then ends (its output closes) or stays, as a client stuck after its EOF would."""

    def __init__(self, *, pid_delay: float = 0.0, ends_on_eof: bool = True) -> None:
        super().__init__()
        self.pid_delay, self.ends_on_eof = pid_delay, ends_on_eof
        self.pid_sent_at: float | None = None
        self.eof_at: float | None = None
        self.received = b""

    def exec_start(self, exec_id: str, socket: bool = False) -> Any:
        import socket as pysocket
        import time

        if exec_id != "exec-1":
            return super().exec_start(exec_id, socket)
        ours, theirs = pysocket.socketpair()
        self.theirs = theirs

        def process() -> None:  # the pid line, written while stdin is read below
            time.sleep(self.pid_delay)
            self.pid_sent_at = time.monotonic()
            theirs.sendall(frame(1, PID_MARK + b"42\n"))

        def stdin() -> None:
            pid_line = threading.Thread(target=process, daemon=True)
            pid_line.start()
            while chunk := theirs.recv(65536):
                self.received += chunk
            self.eof_at = time.monotonic()
            pid_line.join()
            if self.ends_on_eof:
                self.running = False
                theirs.sendall(frame(1, self.received))
                theirs.close()

        threading.Thread(target=stdin, daemon=True).start()
        return ours


class BrokenInput:
    def __init__(self) -> None:
        self.calls = 0

    def read(self, size: int = -1) -> bytes:
        self.calls += 1
        if self.calls == 1:
            return b"INSERT INTO t VALUES (1);\nINSERT INTO t VAL"
        raise EOFError("Compressed file ended before the end-of-stream marker was reached")


def test_a_stoppable_exec_sends_its_stdin_eof_only_after_the_pid_line() -> None:
    import io

    api = StdinApi(pid_delay=0.3)
    result = exec_in(api, "c1", ["cat"], stdin=io.BytesIO(b"tiny"), stoppable=True)  # type: ignore[arg-type]
    assert result.stdout == b"tiny"
    assert api.pid_sent_at is not None and api.eof_at is not None and api.eof_at >= api.pid_sent_at


def test_a_failed_input_is_raised_after_the_grace_and_the_stuck_command_stopped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import time

    from devenv.core.engine import execio

    monkeypatch.setattr(execio, "INPUT_GRACE", 0.3)
    monkeypatch.setattr(execio, "STOP_GRACE", 0.3)
    api = StdinApi(ends_on_eof=False)
    t0 = time.monotonic()
    with pytest.raises(EOFError, match="end-of-stream"):
        exec_in(api, "c1", ["mariadb", "app"], stdin=BrokenInput(), stoppable=True)  # type: ignore[arg-type]
    assert time.monotonic() - t0 < 3
    assert api.received == b"INSERT INTO t VALUES (1);\nINSERT INTO t VAL" and api.eof_at is not None
    kills = api.created[1:]
    assert kills and all(k[-1] == "42" for k in kills) and "KILL" in kills[-1][2], api.created


def test_a_failed_input_is_reported_even_when_the_command_ended_on_its_eof() -> None:
    api = StdinApi(ends_on_eof=True)
    with pytest.raises(EOFError):
        exec_in(api, "c1", ["mariadb", "app"], stdin=BrokenInput(), stoppable=True)  # type: ignore[arg-type]
    assert api.created[1:] == [], "a command that ended is not signalled"


def test_a_command_that_stops_reading_is_not_an_input_error() -> None:
    """The command ended before taking all its input (a client that fails at its first statement):
    its exit code tells the outcome; the broken pipe is not raised."""
    import io

    api = FakeApi()
    api.running = False

    def start(exec_id: str, socket: bool = False) -> Any:
        import socket as pysocket

        ours, theirs = pysocket.socketpair()
        theirs.sendall(frame(2, b"ERROR 1064 at line 1\n"))
        theirs.close()
        return pysocket.SocketIO(ours, "rwb")  # as docker-py's: closing it leaves the socket open

    api.exec_start = start  # type: ignore[method-assign]
    result = exec_in(api, "c1", ["mariadb"], stdin=io.BytesIO(b"x" * (8 << 20)))  # type: ignore[arg-type]
    assert result.exit_code == 143 and "ERROR 1064" in result.stderr
