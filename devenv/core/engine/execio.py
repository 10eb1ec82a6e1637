"""Run a command in a container through the Engine API, streaming stdin and stdout.

Dumps and restores stream through the exec connection: nothing is staged inside the container
and nothing is held whole in memory on the host. stdin is fed from a thread and then half-closed
(as ``docker exec -i`` does), while stdout frames are written to the destination as they arrive.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    import docker

    from devenv.core.cancel import CancelToken

CHUNK = 1 << 20
STDERR_KEEP = 64 * 1024


@dataclass(frozen=True)
class ExecResult:
    exit_code: int
    stdout: bytes  # empty when stdout was streamed to a file
    stderr: str  # the last 64 KiB


def exec_in(
    api: docker.APIClient,
    container: str,
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    stdin: IO[bytes] | None = None,
    stdout: IO[bytes] | None = None,
    on_stderr_line: Callable[[str], None] | None = None,
    user: str = "",
    workdir: str | None = None,
    cancel: CancelToken | None = None,
) -> ExecResult:
    """Run ``argv`` in ``container``; stream ``stdin`` in and stdout to ``stdout`` (else collect it).

    ``env`` is passed to the exec (never on a command line, never printed). ``cancel`` (from any
    thread) shuts the exec's socket down, which ends the blocked read, and raises ``Cancelled``;
    the command itself may still run in the container (the caller ends it there, see
    ``Adapter.cancel``).
    """
    from docker.utils.socket import frames_iter

    from devenv.core.cancel import cancel_hook, check

    check(cancel)

    exec_id = api.exec_create(
        container,
        list(argv),
        stdin=stdin is not None,
        stdout=True,
        stderr=True,
        environment=dict(env or {}),
        user=user,
        workdir=workdir,
    )["Id"]
    conn = api.exec_start(exec_id, socket=True)
    raw = _raw_socket(conn)
    writer_error: list[BaseException] = []

    def feed() -> None:
        assert stdin is not None
        try:
            while True:
                chunk = stdin.read(CHUNK)
                if not chunk:
                    break
                raw.sendall(chunk)
        except BaseException as exc:  # reported after the exec ends
            writer_error.append(exc)
        finally:
            with contextlib.suppress(OSError):
                raw.shutdown(socket.SHUT_WR)

    writer = None
    if stdin is not None:
        writer = threading.Thread(target=feed, name="devenv-exec-stdin", daemon=True)
        writer.start()
    collected = bytearray()
    err = bytearray()
    pending = b""

    def hang_up() -> None:
        with contextlib.suppress(OSError):
            raw.shutdown(socket.SHUT_RDWR)

    try:
        with cancel_hook(cancel, hang_up):
            try:
                for stream, data in frames_iter(conn, tty=False):
                    if stream == 2:
                        err += data
                        if len(err) > STDERR_KEEP:
                            del err[: len(err) - STDERR_KEEP]
                        if on_stderr_line is not None:
                            pending += data
                            *lines, pending = pending.split(b"\n")
                            for line in lines:
                                on_stderr_line(line.decode(errors="replace"))
                    elif stdout is not None:
                        stdout.write(data)
                    else:
                        collected += data
            except OSError:
                check(cancel)  # the socket was shut down by the cancel
                raise
        check(cancel)  # the read ended because of the cancel
    finally:
        with contextlib.suppress(Exception):
            conn.close()
    if writer is not None:
        writer.join()
    if on_stderr_line is not None and pending:
        on_stderr_line(pending.decode(errors="replace"))
    code = api.exec_inspect(exec_id).get("ExitCode")
    if writer_error and not isinstance(writer_error[0], BrokenPipeError | ConnectionResetError):
        raise writer_error[0]
    return ExecResult(int(code if code is not None else -1), bytes(collected), err.decode(errors="replace"))


def _raw_socket(conn: Any) -> socket.socket:
    """The socket under docker-py's hijacked exec connection (SocketIO or a raw socket)."""
    sock = getattr(conn, "_sock", conn)
    return sock  # type: ignore[no-any-return]
