"""Running migrations and seed: start what they need, run the command in a service, stream its output.

:func:`migrate_up`, :func:`migrate_down`, :func:`migrate_status`, :func:`migrate_new` and
:func:`run_seed` first make sure the database service is healthy (and, in ``exec`` mode, that the
migrations service runs), starting them through :func:`devenv.core.stack.up` when needed, then run
the command with ``sh -c`` inside the container and stream each output line as a
:class:`~devenv.core.events.MigrationOutput` event. They return a :class:`MigrationResult`; a
non-zero exit code is a result, not an exception. :func:`run_on_up` is the ``after_ready`` step of
``up`` (``[migrations] run_on_up``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from devenv.core.events import Emit, MigrationFinished, MigrationOutput, MigrationStarted, MigrationWaiting, StepStarted
from devenv.core.migrations.plan import check_config_service, command_for, resolve_migrations
from devenv.core.models import Failure, Health, UpResult
from devenv.core.secrets import Masker
from devenv.errors import (
    ConfigError,
    ServiceFailedError,
    UsageError,
    WaitInterrupted,
    WaitTimeoutError,
)

if TYPE_CHECKING:
    from devenv.core.stack import Stack

#: How many output lines a :class:`MigrationResult` keeps.
TAIL_LINES = 20


# (stream name, bytes) chunks, and a function giving the exit code once they are consumed.
_Stream = tuple[Iterator[tuple[str, bytes]], Callable[[], int]]


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


def ensure_services(stack: Stack, service: str, *, mode: str, db_service: str | None, emit: Emit) -> None:
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
    result: UpResult = up(stack, targets, emit=emit, after_ready=run_on_up)
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


def _exec_stream(stack: Stack, service: str, command: str, shown: str) -> _Stream:
    """Run ``command`` with exec; messages name it as ``shown`` (masked)."""
    from docker.errors import APIError

    api = stack.api
    container_id = _running_container(stack, service)
    if container_id is None:
        raise _not_running(service, shown)
    try:
        exec_id = api.exec_create(container_id, shell_argv(command), stdout=True, stderr=True, tty=False)["Id"]
    except APIError as exc:
        # Listed as running a moment ago, but it exited (or was paused) since: the engine says 409.
        if "is not running" in str(exc):
            raise _not_running(service, shown) from None
        explanation = getattr(exc, "explanation", None) or str(exc)
        raise ServiceFailedError(f"cannot run `{shown}` in service {service}: {explanation}") from None
    stream = api.exec_start(exec_id, stream=True, demux=True)

    def chunks() -> Iterator[tuple[str, bytes]]:
        try:
            for out, err in stream:
                if out:
                    yield "stdout", out
                if err:
                    yield "stderr", err
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()

    def exit_code() -> int:
        code = api.exec_inspect(exec_id).get("ExitCode")
        result = int(code) if code is not None else -1
        if result != 0:
            # A container that stops kills its execs (137): that is the service's failure, not the command's.
            try:
                running = bool((api.inspect_container(container_id).get("State") or {}).get("Running"))
            except APIError:
                running = False
            if not running:
                raise ServiceFailedError(
                    f"service {service} stopped while `{shown}` ran in it (exec exit code {result}); "
                    "a one-shot or crashing service cannot host exec",
                    hint='Use [migrations] mode = "run" for a one-off container, or point [migrations] service '
                    f"at a long-running service. Logs: devenv logs {service}",
                )
        return result

    return chunks(), exit_code


def _run_stream(stack: Stack, service: str, command: str) -> _Stream:
    """Run ``command`` in a one-off container (``docker compose run --rm --no-deps -T``)."""
    return stack.run_oneoff(service, shell_argv(command))


def _run_command(
    stack: Stack,
    *,
    action: str,
    service: str,
    mode: str,
    command: str,
    db_service: str | None,
    emit: Emit | None,
) -> MigrationResult:
    sink: Emit = emit or (lambda _e: None)
    ensure_services(stack, service, mode=mode, db_service=_db_service(stack, db_service), emit=sink)
    mask = Masker.from_config(stack.model.raw)
    shown = mask(command)  # for events, results and messages; the container runs `command`
    if mode == "exec":
        chunks, exit_code = _exec_stream(stack, service, command, shown)
    elif mode == "run":
        chunks, exit_code = _run_stream(stack, service, command)
    else:
        raise ConfigError(f'[migrations] mode must be "exec" or "run", got {mode!r}', key="migrations.mode")

    sink(MigrationStarted(shown, service, mode))
    t0 = time.monotonic()
    tail: list[str] = []
    lines = _Lines()

    def out(stream: str, line: str) -> None:
        line = mask(line)
        tail.append(line)
        if len(tail) > TAIL_LINES:
            del tail[0]
        sink(MigrationOutput(line, stream))

    for stream_name, chunk in chunks:
        for line in lines.feed(stream_name, chunk):
            out(stream_name, line)
    for stream_name, line in lines.flush():
        out(stream_name, line)
    code = exit_code()
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


def _migrate(
    stack: Stack,
    action: str,
    emit: Emit | None,
    db_service: str | None,
    *,
    steps: int | None = None,
    message: str | None = None,
) -> MigrationResult:
    plan = resolve_migrations(stack)
    command = command_for(plan, action, steps=steps, message=message)
    return _run_command(
        stack, action=action, service=plan.service, mode=plan.mode, command=command, db_service=db_service, emit=emit
    )


# ------------------------------------------------------------------------------------- public API
def migrate_up(stack: Stack, emit: Emit | None = None, *, db_service: str | None = None) -> MigrationResult:
    """Upgrade to the latest migration (``[migrations] upgrade``).

    ``db_service`` (default: ``[database] service``; none: no database wait) must be healthy
    first; it is started when it is not.
    """
    return _migrate(stack, "upgrade", emit, db_service)


def migrate_down(
    stack: Stack, steps: int = 1, emit: Emit | None = None, *, db_service: str | None = None
) -> MigrationResult:
    """Roll back ``steps`` migrations (``[migrations] downgrade`` with ``{steps}``)."""
    return _migrate(stack, "downgrade", emit, db_service, steps=steps)


def migrate_status(stack: Stack, emit: Emit | None = None, *, db_service: str | None = None) -> MigrationResult:
    """Show the current migration state (``[migrations] status``)."""
    return _migrate(stack, "status", emit, db_service)


def migrate_new(
    stack: Stack, message: str, emit: Emit | None = None, *, db_service: str | None = None
) -> MigrationResult:
    """Create a new migration named after ``message`` (``[migrations] new`` with ``{message}``)."""
    return _migrate(stack, "new", emit, db_service, message=message)


def run_seed(stack: Stack, emit: Emit | None = None, *, db_service: str | None = None) -> MigrationResult:
    """Run ``[seed] command`` with ``sh -c`` in the running container of ``[seed] service`` (exec mode).

    The service defaults to the migrations service. Raises :class:`UsageError` when no seed
    command is configured.
    """
    seed = stack.profile.seed
    if not seed.command:
        raise UsageError(
            "no seed command: [seed] command is not configured",
            hint='Set [seed] command = "..." (and service = "...") in devenv.toml.',
        )
    service = seed.service
    if service is None:
        service = resolve_migrations(stack).service
    else:
        check_config_service(service, stack.model, "[seed] service", stack.profile.name)
    return _run_command(
        stack, action="seed", service=service, mode="exec", command=seed.command, db_service=db_service, emit=emit
    )


def maybe_run_on_up(stack: Stack, emit: Emit | None = None, *, db_service: str | None = None) -> MigrationResult | None:
    """Run :func:`migrate_up` when ``[migrations] run_on_up`` is true for the profile; else ``None``.

    Meant to be called by ``devenv up`` *after* the stack is ready (every service healthy or
    running), so the database is already healthy and, in exec mode, the migrations service already
    runs; nothing is started again then. A failed migration is a result with a non-zero
    ``exit_code``, not an exception.
    """
    if not stack.profile.migrations.run_on_up:
        return None
    return migrate_up(stack, emit, db_service=db_service)


def run_on_up(stack: Stack, result: UpResult, emit: Emit) -> UpResult:
    """The ``after_ready`` step of :func:`devenv.core.stack.up`: ``[migrations] run_on_up``.

    Once the stack is ready, runs :func:`maybe_run_on_up`; a failed migration fails the ``up``
    (outcome "failed", the migrations service named with the command's last output lines).
    """
    if not stack.profile.migrations.run_on_up:
        return result
    emit(StepStarted("migrate", "run_on_up"))
    t0 = time.monotonic()
    outcome = maybe_run_on_up(stack, emit)
    if outcome is None or outcome.exit_code == 0:
        return replace(result, elapsed=result.elapsed + (time.monotonic() - t0))
    failure = Failure(
        service=outcome.service,
        reason=f"migrations failed: `{outcome.command}` exited with code {outcome.exit_code}",
        state="running",
        health=Health.NONE,
        exit_code=outcome.exit_code,
        logs=tuple(outcome.output_tail),
    )
    return replace(result, ok=False, outcome="failed", failures=(failure,))
