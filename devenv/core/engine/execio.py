"""Run a command in a container through the Engine API, streaming stdin and stdout.

Dumps and restores stream through the exec connection: nothing is staged inside the container
and nothing is held whole in memory on the host. stdin is fed from a thread and then half-closed
(as ``docker exec -i`` does), while stdout frames are written to the destination as they arrive.

An exec started with ``stoppable=True`` can be ended *inside the container*: closing the exec's
connection does not end the process there (it would run on, a migration half-applied behind the
user's back). The command runs under ``sh -c 'echo MARK $$; exec "$@"'``, whose first line tells
its pid in the container; the runtime makes every exec a session and process-group leader, so on a
cancel, Ctrl-C or SIGTERM :func:`stop_exec` signals the whole group from a second exec (``kill -s
TERM -- -PID``, then ``KILL`` after a grace period) and waits until the engine says it ended.

Two guards keep a failed or racing stdin from hanging the caller:

- A stoppable exec half-closes stdin only once its pid line has arrived (the process runs): an
  EOF sent before the runtime has set the exec's stdin up can be lost, and the command then waits
  for input forever (containerd's known CloseIO race, seen here as a rare hung restore).
- When reading the *input* fails (a truncated gzip snapshot, a file that vanished), the command's
  outcome no longer matters: it gets :data:`INPUT_GRACE` seconds to end on the EOF, then the
  connection is hung up, a stoppable exec's process group is stopped, and the input's error is
  raised. The caller waits at most ``START_WAIT + INPUT_GRACE`` (a stoppable exec whose pid line
  never came) plus the stop; without a pid line, or without ``stoppable``, the command itself is
  left to the caller to end, as on a cancel.

A plain (not stoppable) exec has no pid line to wait for: its stdin EOF goes out when the input
ends, and the runtime race above stays possible for it (never seen here in 1,200 tiny-input execs
under load); callers that feed stdin to a command that could wait forever use ``stoppable``.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import docker

    from devenv.core.cancel import CancelToken

CHUNK = 1 << 20
STDERR_KEEP = 64 * 1024
#: The first line a stoppable exec prints: its pid in the container.
PID_MARK = b"@@devenv-exec-pid "
#: Seconds a stopped exec gets after SIGTERM before its process group is killed.
STOP_GRACE = 5.0
#: Seconds a command gets to end on its own after its input failed (see the module doc).
INPUT_GRACE = 5.0
#: Seconds a stoppable exec's stdin EOF waits for the pid line (the process running).
START_WAIT = 10.0


class Writer(Protocol):
    def write(self, data: bytes, /) -> object: ...


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
    stdout: Writer | None = None,
    on_stderr_line: Callable[[str], None] | None = None,
    user: str = "",
    workdir: str | None = None,
    cancel: CancelToken | None = None,
    stoppable: bool = False,
    on_stopped: Callable[[bool], None] | None = None,
) -> ExecResult:
    """Run ``argv`` in ``container``; stream ``stdin`` in and stdout to ``stdout`` (else collect it).

    ``env`` is passed to the exec (never on a command line, never printed). ``cancel`` (from any
    thread) shuts the exec's socket down, which ends the blocked read, and raises ``Cancelled``.
    Without ``stoppable`` the command itself may still run in the container (the caller ends it
    there, see ``Adapter.cancel``); with it, a cancel or an interruption (``KeyboardInterrupt``:
    Ctrl-C, SIGTERM) first stops the command's process group in the container (:func:`stop_exec`),
    calls ``on_stopped(ended)`` and then re-raises. ``argv`` runs under ``sh`` then: the container
    needs one (every image with a shell has).

    An error reading ``stdin`` is raised once the command has ended, or after ``INPUT_GRACE`` s
    without it (see the module doc); the command's exit code is not reported then.
    """
    from docker.utils.socket import frames_iter

    from devenv.core.cancel import cancel_hook, check, shielded

    check(cancel)

    command = list(argv)
    if stoppable:
        command = ["sh", "-c", f'echo "{PID_MARK.decode()}$$"; exec "$@"', "sh", *command]
    exec_id = api.exec_create(
        container,
        command,
        stdin=stdin is not None,
        stdout=True,
        stderr=True,
        environment=dict(env or {}),
        user=user,
        workdir=workdir,
    )["Id"]
    conn = api.exec_start(exec_id, socket=True)
    raw = _raw_socket(conn)
    input_error: list[BaseException] = []  # reading ``stdin`` failed (a truncated file...)
    send_error: list[BaseException] = []  # sending it failed (the command ended, or a hang-up)
    started = threading.Event()  # the pid line came, or the output ended
    output_ended = threading.Event()
    abandoned = threading.Event()  # the input failed and the command did not end on its EOF

    def hang_up() -> None:
        with contextlib.suppress(OSError):
            raw.shutdown(socket.SHUT_RDWR)

    def feed() -> None:
        assert stdin is not None
        try:
            while True:
                try:
                    chunk = stdin.read(CHUNK)
                except BaseException as exc:  # reported after the exec ends
                    input_error.append(exc)
                    break
                if not chunk:
                    break
                raw.sendall(chunk)
        except BaseException as exc:  # reported after the exec ends
            send_error.append(exc)
        finally:
            if stoppable:
                started.wait(START_WAIT)  # an EOF before the process runs can be lost
            with contextlib.suppress(OSError):
                raw.shutdown(socket.SHUT_WR)
        if input_error and not output_ended.wait(INPUT_GRACE):
            abandoned.set()
            hang_up()

    writer = None
    if stdin is not None:
        writer = threading.Thread(target=feed, name="devenv-exec-stdin", daemon=True)
        writer.start()
    collected = bytearray()
    err = bytearray()
    pending = b""
    head: bytearray | None = bytearray() if stoppable else None  # stdout until the pid line
    pid: list[int] = []

    def out(data: bytes) -> None:
        nonlocal head
        if head is not None:
            head += data
            if b"\n" not in head:
                return
            line, _, data = bytes(head).partition(b"\n")
            head = None
            started.set()
            if line.startswith(PID_MARK) and line[len(PID_MARK) :].strip().isdigit():
                pid.append(int(line[len(PID_MARK) :]))
            else:  # not ours after all (never expected): keep it
                data = line + b"\n" + data
            if not data:
                return
        if stdout is not None:
            stdout.write(data)
        else:
            collected.extend(data)

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
                    else:
                        out(data)
            except OSError:
                check(cancel)  # the socket was shut down by the cancel
                if not abandoned.is_set():
                    raise
            finally:
                output_ended.set()
                started.set()
        check(cancel)  # the read ended because of the cancel
        if abandoned.is_set() and stoppable:
            with shielded(), contextlib.suppress(Exception):  # the input's error is the one to report
                stop_exec(api, container, exec_id, pid[0] if pid else None)
    except KeyboardInterrupt:  # Cancelled, Ctrl-C, SIGTERM
        if stoppable:
            with shielded():
                ended = stop_exec(api, container, exec_id, pid[0] if pid else None)
            if on_stopped is not None:
                on_stopped(ended)
        raise
    finally:
        with contextlib.suppress(Exception):
            conn.close()
    if writer is not None:
        writer.join()
    if on_stderr_line is not None and pending:
        on_stderr_line(pending.decode(errors="replace"))
    if head:  # output that never ended its first line
        if stdout is not None:
            stdout.write(bytes(head))
        else:
            collected.extend(head)
    if input_error:
        raise input_error[0]
    if send_error and not _peer_gone(send_error[0]):
        raise send_error[0]
    code = api.exec_inspect(exec_id).get("ExitCode")
    return ExecResult(int(code if code is not None else -1), bytes(collected), err.decode(errors="replace"))


def exec_running(api: docker.APIClient, exec_id: str) -> bool:
    try:
        return bool(api.exec_inspect(exec_id).get("Running"))
    except Exception as exc:  # the container (and its execs) went away
        if "No such" in str(exc) or "404" in str(exc):
            return False
        raise


def stop_exec(
    api: docker.APIClient, container: str, exec_id: str, pid: int | None, *, grace: float = STOP_GRACE
) -> bool:
    """End a stoppable exec's process group in the container; True when the engine says it ended.

    SIGTERM to the group (``pid`` is its leader, see the module doc), up to ``grace`` seconds for
    it to end, then SIGKILL; a last SIGKILL goes to the group even when the leader ended at once, so
    no child that ignores SIGTERM stays behind. Without ``pid`` (the exec ended before printing
    it) there is nothing to signal.
    """
    import time

    def signal_group(sig: str) -> None:
        with contextlib.suppress(Exception):
            script = f'kill -s {sig} -- -"$1" 2>/dev/null || kill -s {sig} "$1" 2>/dev/null; true'
            kid = api.exec_create(container, ["sh", "-c", script, "sh", str(pid)], stdout=True, stderr=True)["Id"]
            api.exec_start(kid)

    def ended_within(seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while exec_running(api, exec_id):
            if time.monotonic() >= deadline:
                return False
            # Bounded poll (``seconds`` at most) of the exec's inspect after a kill: only on the
            # cancel path, where the process's end is confirmed before reporting it.
            time.sleep(0.05)
        return True

    state = container_state(api, container)
    if state.get("Paused") or not state.get("Running", True):
        return not state.get("Running", True)  # nothing can be signalled in a paused one; a stopped one runs nothing
    if pid is None:
        return not exec_running(api, exec_id)
    if not exec_running(api, exec_id):
        signal_group("KILL")  # the leader is gone; its group may not be
        return True
    signal_group("TERM")
    ended = ended_within(grace)
    signal_group("KILL")
    return ended or ended_within(2.0)


def container_state(api: docker.APIClient, container: str) -> dict[str, Any]:
    """The container's ``State``: ``{"Removed": True, "Running": False}`` once it is gone, ``{}``
    when it cannot be read."""
    try:
        return dict(api.inspect_container(container).get("State") or {})
    except Exception as exc:
        return {"Removed": True, "Running": False} if "No such" in str(exc) or "404" in str(exc) else {}


def _peer_gone(exc: BaseException) -> bool:
    """Sending failed because the command stopped reading (it ended): its exit code tells the rest."""
    return isinstance(exc, BrokenPipeError | ConnectionResetError)


def _raw_socket(conn: Any) -> socket.socket:
    """The socket under docker-py's hijacked exec connection (SocketIO or a raw socket)."""
    sock = getattr(conn, "_sock", conn)
    return sock  # type: ignore[no-any-return]
