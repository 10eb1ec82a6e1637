"""The migration calls: ``migrate up/down/status/new`` and the seed, and ``run_on_up`` after ``up``.

:func:`migrate_up`, :func:`migrate_down`, :func:`migrate_status`, :func:`migrate_new` and
:func:`run_seed` resolve the command (:mod:`devenv.core.migrations.plan`) and run it with
:func:`devenv.core.migrations.command.run_command`: the database made healthy first (and, in
``exec`` mode, the migrations service running), the command run with ``sh -c`` in the container,
each output line a :class:`~devenv.core.events.MigrationOutput` event. They return a
:class:`MigrationResult`; a non-zero exit code is a result, not an exception.

``cancel`` (a :class:`~devenv.core.cancel.CancelToken`, from any thread), Ctrl-C and SIGTERM stop
the command inside the container; a :class:`~devenv.core.events.MigrationInterrupted` event
reports it with the revision the database is at afterwards (read with the tool's history,
:mod:`devenv.core.migrations.history`) and the command that finishes the job; then the
interruption propagates (``Cancelled`` / ``KeyboardInterrupt``: exit 130, 143 for SIGTERM).
:func:`run_on_up` is the ``after_ready`` step of ``up`` (``[migrations] run_on_up``).
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import TYPE_CHECKING

from devenv.core.events import Emit, StepStarted
from devenv.core.migrations.command import (
    TAIL_LINES,
    MigrationResult,
    StateReader,
    ensure_services,
    run_command,
    services_missing,
    shell_argv,
)
from devenv.core.migrations.plan import check_config_service, command_for, resolve_migrations
from devenv.core.models import Failure, Health, UpResult
from devenv.errors import UsageError

if TYPE_CHECKING:
    from devenv.core.cancel import CancelToken
    from devenv.core.stack import Stack

__all__ = [
    "TAIL_LINES",
    "MigrationResult",
    "ensure_services",
    "maybe_run_on_up",
    "migrate_down",
    "migrate_new",
    "migrate_status",
    "migrate_up",
    "run_on_up",
    "run_seed",
    "services_missing",
    "shell_argv",
]

#: Seconds the revision read after an interruption may take before it is given up.
STATE_READ_TIMEOUT = 20.0


def revision_reader(stack: Stack, db_service: str | None) -> StateReader:
    """Reads the revision after an interruption: the tool's history, nothing started, bounded in time."""

    def read() -> tuple[tuple[str, ...] | None, int | None, str]:
        import threading

        from devenv.core.cancel import CancelToken
        from devenv.core.migrations.history import migration_history

        token = CancelToken()
        timer = threading.Timer(STATE_READ_TIMEOUT, token.cancel, args=("timed out",))
        timer.daemon = True
        timer.start()
        try:
            history = migration_history(stack, db_service=db_service, start=False, cancel=token)
        except UsageError as exc:  # a custom tool has no history
            return None, None, f"the current revision is unknown: {exc.message}"
        finally:
            timer.cancel()
        if history.not_ready:
            return None, None, f"the current revision was not read: {history.not_ready}"
        if history.exit_code != 0:
            last = history.output_tail[-1] if history.output_tail else "no output"
            failed = f"`{history.command}` exited with code {history.exit_code}: {last}"
            return None, None, f"the current revision was not read: {failed}"
        current = history.current
        shown = ", ".join(current) if current else "none (no migration applied)"
        return current, history.pending, f"the database is at revision {shown}; {history.pending} pending"

    return read


_CLI = {"upgrade": "up", "downgrade": "down", "status": "status", "new": "new"}


def _migrate(
    stack: Stack,
    action: str,
    emit: Emit | None,
    db_service: str | None,
    cancel: CancelToken | None,
    *,
    steps: int | None = None,
    message: str | None = None,
) -> MigrationResult:
    plan = resolve_migrations(stack)
    command = command_for(plan, action, steps=steps, message=message)
    changes = action in ("upgrade", "downgrade")
    again = f"devenv migrate {_CLI[action]}" + (f" {steps}" if action == "downgrade" and steps else "")
    return run_command(
        stack,
        action=action,
        service=plan.service,
        mode=plan.mode,
        command=command,
        db_service=db_service,
        emit=emit,
        cancel=cancel,
        state_after=revision_reader(stack, db_service) if changes else None,
        again=f"{again} --profile {stack.profile.name}" if changes else "",
        after_ready=run_on_up,
    )


# ------------------------------------------------------------------------------------- public API
def migrate_up(
    stack: Stack, emit: Emit | None = None, *, db_service: str | None = None, cancel: CancelToken | None = None
) -> MigrationResult:
    """Upgrade to the latest migration (``[migrations] upgrade``).

    ``db_service`` (default: ``[database] service``; none: no database wait) must be healthy
    first; it is started when it is not. ``cancel``: see the module doc.
    """
    return _migrate(stack, "upgrade", emit, db_service, cancel)


def migrate_down(
    stack: Stack,
    steps: int = 1,
    emit: Emit | None = None,
    *,
    db_service: str | None = None,
    cancel: CancelToken | None = None,
) -> MigrationResult:
    """Roll back ``steps`` migrations (``[migrations] downgrade`` with ``{steps}``)."""
    return _migrate(stack, "downgrade", emit, db_service, cancel, steps=steps)


def migrate_status(
    stack: Stack, emit: Emit | None = None, *, db_service: str | None = None, cancel: CancelToken | None = None
) -> MigrationResult:
    """Show the current migration state (``[migrations] status``)."""
    return _migrate(stack, "status", emit, db_service, cancel)


def migrate_new(
    stack: Stack,
    message: str,
    emit: Emit | None = None,
    *,
    db_service: str | None = None,
    cancel: CancelToken | None = None,
) -> MigrationResult:
    """Create a new migration named after ``message`` (``[migrations] new`` with ``{message}``)."""
    return _migrate(stack, "new", emit, db_service, cancel, message=message)


def run_seed(
    stack: Stack, emit: Emit | None = None, *, db_service: str | None = None, cancel: CancelToken | None = None
) -> MigrationResult:
    """Run ``[seed] command`` with ``sh -c`` in the running container of ``[seed] service`` (exec mode).

    The service defaults to the migrations service. Raises :class:`UsageError` when no seed
    command is configured. ``cancel``: see the module doc (an interrupted seed is stopped in the
    container; nothing else is read afterwards).
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
    return run_command(
        stack,
        action="seed",
        service=service,
        mode="exec",
        command=seed.command,
        db_service=db_service,
        emit=emit,
        cancel=cancel,
        after_ready=run_on_up,
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
