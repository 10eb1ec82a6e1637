"""Running one migration-tool command in a service: start what it needs, stream it, stop it on a cancel.

:func:`run_command` is the primitive under every migration call (:mod:`devenv.core.migrations.run`)
and the history (:mod:`devenv.core.migrations.history`): it makes sure the database is healthy
(and, in ``exec`` mode, the migrations service runs), starting them through
:func:`devenv.core.stack.up` when needed, then runs the command with ``sh -c`` in the container
(``exec``, through the Engine API's exec connection) or in a one-off container (``run``), and
streams each output line as a :class:`~devenv.core.events.MigrationOutput` event.

Interruptions (a :class:`~devenv.core.cancel.CancelToken` cancelled from any thread, Ctrl-C,
SIGTERM) stop the command *in the container*: the exec is stoppable (its process group is ended,
:func:`devenv.core.engine.execio.stop_exec`), a one-off container is killed and removed. Then a
:class:`~devenv.core.events.MigrationInterrupted` event says what was stopped and the state it
left (``state_after``: the revision, read by the caller's history reader), and the interruption
propagates unchanged (``Cancelled``, ``KeyboardInterrupt`` or ``Terminated``), so each caller's
Ctrl-C path (exit 130/143; ``db reset``'s restore command) applies.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from devenv.core.events import (
    Emit,
    MigrationFinished,
    MigrationInterrupted,
    MigrationOutput,
    MigrationStarted,
    MigrationWaiting,
)
from devenv.core.migrations.plan import check_config_service
from devenv.core.models import UpResult
from devenv.core.secrets import Masker
from devenv.errors import ConfigError, ServiceFailedError, WaitInterrupted, WaitTimeoutError

if TYPE_CHECKING:
    from devenv.core.cancel import CancelToken
    from devenv.core.stack import AfterReady, Stack

#: How many output lines a :class:`MigrationResult` keeps.
TAIL_LINES = 20


#: Reads the state a migration left after an interruption: ``(revision, pending, one line)``.
StateReader = Callable[[], tuple[tuple[str, ...] | None, int | None, str]]
#: Feeds one chunk of a stream ("stdout" / "stderr") to the line reassembly.
_Feed = Callable[[str, bytes], None]


@dataclass(frozen=True)
class MigrationResult:
    """What one migration (or seed) command did. ``exit_code`` 0 means success."""

    command: str
    service: str
    exit_code: int
    output_tail: tuple[str, ...]
    elapsed: float
    action: str = ""  # "upgrade", "downgrade", "status", "new", "seed"
    mode: str = "exec"

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


class _Lines:
    """Reassemble lines from byte chunks, per stream."""

    def __init__(self) -> None:
        self.buffers: dict[str, bytes] = {}

    def feed(self, stream: str, chunk: bytes) -> list[str]:
        data = self.buffers.get(stream, b"") + chunk
        *complete, rest = data.split(b"\n")
        self.buffers[stream] = rest
        return [_decode(raw) for raw in complete]

    def flush(self) -> Iterator[tuple[str, str]]:
        for stream, rest in self.buffers.items():
            if rest:
                yield stream, _decode(rest)
        self.buffers.clear()


def _decode(raw: bytes) -> str:
    text = raw.decode(errors="replace").rstrip("\r")
    # A progress bar redraws with \r: keep what the terminal would finally show.
    return text.rsplit("\r", 1)[-1]


def shell_argv(command: str) -> list[str]:
    """The argv that runs ``command`` in the container: ``sh -c``, with stderr merged into stdout.

    Docker carries a command's stdout and stderr on separate pipes, so lines written close together
    on both can arrive out of order (an alembic traceback before its INFO lines). Merging them in
    the container's shell keeps the order the user would see in a terminal; the command's lines
    therefore all arrive as ``stream="stdout"``.
    """
    return ["sh", "-c", "exec 2>&1\n" + command]


# ---------------------------------------------------------------------------------- readiness
def _running_container(stack: Stack, service: str) -> str | None:
    from devenv.core.engine.containers import NUMBER_LABEL, ONEOFF_LABEL, PROJECT_LABEL, SERVICE_LABEL

    listed = stack.api.containers(
        filters={"label": [f"{PROJECT_LABEL}={stack.name}", f"{SERVICE_LABEL}={service}"], "status": "running"}
    )

    def number(item: Mapping[str, Any]) -> int:
        value = str((item.get("Labels") or {}).get(NUMBER_LABEL) or "")
        return int(value) if value.isdigit() else 0

    for item in sorted(listed, key=number):
        if (item.get("Labels") or {}).get(ONEOFF_LABEL) == "True":
            continue
        return str(item["Id"])
    return None


def _db_service(stack: Stack, db_service: str | None) -> str | None:
    name = db_service or stack.profile.database.service
    if name is not None:
        check_config_service(name, stack.model, "[database] service", stack.profile.name)
    return name


def services_missing(stack: Stack, service: str, *, mode: str, db_service: str | None) -> tuple[list[str], list[str]]:
    """What :func:`ensure_services` would start, and why: ``(services, reasons)``; both empty when ready.

    A read (one container listing), nothing is started: a front end that only wants to look (the
    TUI's migration history) asks this first.
    """
    targets: list[str] = []
    reasons: list[str] = []
    wanted = [s for s in (db_service, service if mode == "exec" else None) if s]
    statuses = {s.service: s for s in stack.status(wanted)} if wanted else {}
    if db_service:
        st = statuses[db_service]
        if not st.ready or st.state != "running":
            targets.append(db_service)
            health = f", {st.health.value}" if st.health.value != "none" else ""
            reasons.append(f"database {db_service} is not ready ({st.state}{health})")
    if mode == "exec":
        st = statuses[service]
        if st.state != "running" and service not in targets:
            targets.append(service)
            reasons.append(f"service {service} is not running ({st.state})")
    return targets, reasons


def ensure_services(
    stack: Stack,
    service: str,
    *,
    mode: str,
    db_service: str | None,
    emit: Emit,
    cancel: CancelToken | None = None,
    after_ready: AfterReady | None = None,
) -> None:
    """Make sure ``db_service`` is ready (healthy) and, in exec mode, ``service`` is running.

    Starts what is missing through :func:`devenv.core.stack.up` (which also starts dependencies
    and waits on healthchecks). Raises a :class:`ServiceFailedError` subclass naming the service
    that failed and why (``result`` holds the :class:`UpResult`), or when the service does not
    stay running (a one-shot service cannot host ``exec``).
    """
    from devenv.core.stack import up

    targets, reasons = services_missing(stack, service, mode=mode, db_service=db_service)
    if not targets:
        return
    emit(MigrationWaiting(tuple(targets), "; ".join(reasons)))
    result: UpResult = up(stack, targets, emit=emit, after_ready=after_ready, cancel=cancel)
    if cancel is not None:
        cancel.raise_if_cancelled()  # a cancelled wait is a cancel here, as Ctrl-C in it
    if not result.ok:
        raise _up_failed(result, targets)


def _up_failed(result: UpResult, targets: list[str]) -> ServiceFailedError:
    what = ", ".join(targets)
    if result.outcome == "timeout":
        names = ", ".join(f.service for f in result.failures) or what
        return WaitTimeoutError(
            f"cannot run the command: timed out after {result.elapsed:.0f}s waiting for {names} to be ready",
            result=result,
            hint=f"Look at `devenv status` and `devenv logs {names.split(', ')[0]}`.",
        )
    if result.outcome == "interrupted":
        return WaitInterrupted("stopped waiting for the services (interrupted); nothing was run", result=result)
    failed = "; ".join(f"{f.service} {f.reason}" for f in result.failures) or "unknown reason"
    first = result.failures[0].service if result.failures else targets[0]
    return ServiceFailedError(
        f"cannot run the command: starting {what} failed: {failed}",
        result=result,
        hint=f"Fix it, then try again. Full logs: devenv logs {first} --profile {result.profile}",
    )


# ------------------------------------------------------------------------------------- running
def _not_running(service: str, command: str) -> ServiceFailedError:
    return ServiceFailedError(
        f"service {service} has no running container to run `{command}` in (it exited right after "
        "starting: a one-shot service cannot host exec)",
        hint='Use [migrations] mode = "run" for a one-off container, or point [migrations] service '
        "at a long-running service.",
    )


class _ToFeed:
    """The exec's stdout as a writer that feeds the line reassembly."""

    def __init__(self, feed: _Feed) -> None:
        self.feed = feed

    def write(self, data: bytes) -> None:
        self.feed("stdout", data)


def _exec(
    stack: Stack, service: str, command: str, shown: str, feed: _Feed, cancel: CancelToken | None, stopped: list[bool]
) -> int:
    """Run ``command`` with a stoppable exec (see :func:`devenv.core.engine.execio.exec_in`)."""
    from docker.errors import APIError

    from devenv.core.engine.execio import exec_in

    api = stack.api
    container_id = _running_container(stack, service)
    if container_id is None:
        raise _not_running(service, shown)
    try:
        result = exec_in(
            api,
            container_id,
            shell_argv(command),
            stdout=_ToFeed(feed),
            on_stderr_line=lambda line: feed("stderr", line.encode() + b"\n"),
            cancel=cancel,
            stoppable=True,
            on_stopped=stopped.append,
        )
    except APIError as exc:
        # Listed as running a moment ago, but it exited (or was paused) since: the engine says 409.
        if "is not running" in str(exc):
            raise _not_running(service, shown) from None
        explanation = getattr(exc, "explanation", None) or str(exc)
        raise ServiceFailedError(f"cannot run `{shown}` in service {service}: {explanation}") from None
    code = result.exit_code
    if code != 0:
        # A container that stops kills its execs (137): that is the service's failure, not the command's.
        try:
            running = bool((api.inspect_container(container_id).get("State") or {}).get("Running"))
        except APIError:
            running = False
        if not running:
            raise ServiceFailedError(
                f"service {service} stopped while `{shown}` ran in it (exec exit code {code}); "
                "a one-shot or crashing service cannot host exec",
                hint='Use [migrations] mode = "run" for a one-off container, or point [migrations] service '
                f"at a long-running service. Logs: devenv logs {service}",
            )
    return code


def _run(stack: Stack, service: str, command: str, feed: _Feed, cancel: CancelToken | None, stopped: list[bool]) -> int:
    """Run ``command`` in a one-off container (``docker compose run --rm --no-deps -T``).

    The container gets a name of its own, so that an interruption can kill and remove it through
    the Engine API (stopping ``docker compose run`` alone may leave it running).
    """
    from devenv.core.cancel import cancel_hook, check, shielded

    name = f"{stack.name}-{service}-devenv-{uuid.uuid4().hex[:8]}"
    chunks, exit_code, stop = stack.run_oneoff(service, shell_argv(command), name=name)
    try:
        with cancel_hook(cancel, stop):
            for stream_name, chunk in chunks:
                feed(stream_name, chunk)
        check(cancel)
    except KeyboardInterrupt:
        with shielded():
            stopped.append(_remove_container(stack, name))
            stop()
        raise
    return exit_code()


def _remove_container(stack: Stack, name: str) -> bool:
    """Kill and remove a one-off container; True when it is gone (or never was)."""
    try:
        stack.api.remove_container(name, force=True)
    except Exception as exc:
        return "No such container" in str(exc) or "404" in str(exc)
    return True


def _interruption(exc: BaseException) -> str:
    from devenv.core.cancel import Cancelled
    from devenv.errors import Terminated

    if isinstance(exc, Terminated):
        return "SIGTERM"
    return "cancelled" if isinstance(exc, Cancelled) else "Ctrl-C"


def run_command(
    stack: Stack,
    *,
    action: str,
    service: str,
    mode: str,
    command: str,
    db_service: str | None,
    emit: Emit | None,
    cancel: CancelToken | None = None,
    state_after: StateReader | None = None,
    again: str = "",
    after_ready: AfterReady | None = None,
) -> MigrationResult:
    """Run one command of the migration tool (see the module doc); a non-zero exit is a result.

    ``state_after`` reads the state an interruption left (the caller's history reader);
    ``again``: the command that finishes the job, named in the interruption's report;
    ``after_ready``: what ``up`` runs once it started what the command needs (``run_on_up``).
    """
    sink: Emit = emit or (lambda _e: None)
    if mode not in ("exec", "run"):
        raise ConfigError(f'[migrations] mode must be "exec" or "run", got {mode!r}', key="migrations.mode")
    db = _db_service(stack, db_service)
    ensure_services(stack, service, mode=mode, db_service=db, emit=sink, cancel=cancel, after_ready=after_ready)
    mask = Masker.from_config(stack.model.raw)
    shown = mask(command)  # for events, results and messages; the container runs `command`
    t0 = time.monotonic()
    tail: list[str] = []
    lines = _Lines()

    def out(stream: str, line: str) -> None:
        line = mask(line)
        tail.append(line)
        if len(tail) > TAIL_LINES:
            del tail[0]
        sink(MigrationOutput(line, stream))

    def feed(stream_name: str, chunk: bytes) -> None:
        for line in lines.feed(stream_name, chunk):
            out(stream_name, line)

    stopped: list[bool] = []  # filled when an interruption stopped the command
    sink(MigrationStarted(shown, service, mode))
    try:
        if mode == "exec":
            code = _exec(stack, service, command, shown, feed, cancel, stopped)
        else:
            code = _run(stack, service, command, feed, cancel, stopped)
    except KeyboardInterrupt as exc:  # Cancelled, Ctrl-C, SIGTERM: stopped in the container by now
        for stream_name, line in lines.flush():
            out(stream_name, line)
        if stopped:
            sink(_interrupted_event(shown, service, _interruption(exc), stopped[0], state_after, again))
        raise
    for stream_name, line in lines.flush():
        out(stream_name, line)
    elapsed = time.monotonic() - t0
    sink(MigrationFinished(code, elapsed))
    return MigrationResult(
        command=shown,
        service=service,
        exit_code=code,
        output_tail=tuple(tail),
        elapsed=elapsed,
        action=action,
        mode=mode,
    )


def _interrupted_event(
    shown: str, service: str, why: str, ended: bool, state_after: StateReader | None, again: str
) -> MigrationInterrupted:
    """The report of an interrupted command, with the state read afterwards (bounded, interruptible)."""
    revision: tuple[str, ...] | None = None
    pending: int | None = None
    state = ""
    if not ended:
        state = "it may still run in the container (the engine did not report it ended)"
    elif state_after is not None:
        try:
            revision, pending, state = state_after()
        except KeyboardInterrupt:
            state = "the current revision was not read (interrupted again)"
        except Exception as exc:
            text = getattr(exc, "message", None) or str(exc)
            state = f"the current revision could not be read: {text}"
    return MigrationInterrupted(shown, service, why, ended, revision, pending, state, again)
