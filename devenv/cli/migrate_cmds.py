"""``devenv migrate [up] | down [N] | status | new MESSAGE``: render the core's migration events.

``down`` on a protected profile asks for confirmation first, like ``db reset``: the profile's name
typed on a terminal, else ``--yes --confirm-profile NAME`` (exit 2, nothing run, without it).

The command's own output is streamed to stdout line by line as it comes (to stderr with
``--json``, whose stdout is one JSON document); progress goes to stderr. A non-zero exit of the
migration command exits 1, after the last lines of its output and a hint.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from devenv.cli.output import Output
from devenv.errors import DevenvError, ExitCode

if TYPE_CHECKING:
    from devenv.core.events import Event, MigrationInterrupted


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number of migrations, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number of migrations, got {value}")
    return value


ParserHook = Callable[[argparse.ArgumentParser], None]


def add_parser(sub: Any, profile_arg: ParserHook, json_arg: ParserHook) -> None:
    """Register ``migrate`` and its actions on the top-level subparsers ``sub``."""
    migrate = sub.add_parser(
        "migrate",
        help="database migrations: up (default), down [N], status, new MESSAGE",
        description=(
            "Run the project's migration tool ([migrations] in devenv.toml: alembic, django or custom commands) "
            "in the migrations service, after the database is healthy (starting it when needed)."
        ),
    )
    # --profile and --json are accepted before `migrate`, after it and after the action (`devenv migrate
    # down 2 --json`); both default to SUPPRESS so that a later parser never resets an earlier value.
    profile_arg(migrate)
    json_arg(migrate)
    actions = migrate.add_subparsers(
        dest="migrate_action", metavar="ACTION", parser_class=type(migrate), help="what to do (default: up)"
    )

    def _child_options(p: argparse.ArgumentParser) -> None:
        profile_arg(p)
        json_arg(p)

    up = actions.add_parser("up", help="upgrade to the latest migration (the default)")
    _child_options(up)
    down = actions.add_parser("down", help="roll back N migrations (default 1)")
    down.add_argument(
        "steps", nargs="?", type=_positive_int, default=1, metavar="N", help="how many migrations (default 1)"
    )
    _child_options(down)
    down.add_argument("--yes", action="store_true", help="confirm the rollback on a protected profile in a script")
    down.add_argument("--confirm-profile", metavar="NAME", help="with --yes: the protected profile's name")
    status = actions.add_parser("status", help="show the current migration")
    _child_options(status)
    new = actions.add_parser("new", help="create a new migration")
    new.add_argument("message", nargs="+", metavar="MESSAGE", help='what it does, e.g. "add due date"')
    _child_options(new)


class MigrateRenderer:
    """Events -> text: command output on stdout (stderr in JSON mode), progress on stderr."""

    def __init__(self, out: Output) -> None:
        from devenv.cli.stack_cmds import UpRenderer

        self.out = out
        self.up = UpRenderer(out, live=False)
        self.interrupted: MigrationInterrupted | None = None

    def __call__(self, event: Event) -> None:
        from devenv.core.events import (
            ComposeOutput,
            MigrationInterrupted,
            MigrationOutput,
            MigrationStarted,
            MigrationWaiting,
            ServiceChanged,
            StepStarted,
        )

        out = self.out
        if isinstance(event, MigrationOutput):
            if out.json_mode:
                out.info(event.line)
            else:
                out.print(event.line)
        elif isinstance(event, MigrationStarted):
            where = f"in {event.service}" + (" (one-off container)" if event.mode == "run" else "")
            out.info(out.bold(f"$ {event.command}") + out.dim(f"   {where}"))
        elif isinstance(event, MigrationWaiting):
            out.info(out.dim(f"starting {', '.join(event.services)}: {event.reason}"))
        elif isinstance(event, MigrationInterrupted):
            self.interrupted = event
            first, *rest = event.lines()
            out.info(out.yellow(f"✘ {first}"))
            for line in rest:
                out.info(line)
        elif isinstance(event, StepStarted | ComposeOutput | ServiceChanged):
            self.up(event)


def cmd_migrate(args: argparse.Namespace, out: Output) -> int:
    from devenv.cli.stack_cmds import confirm, load_stack, render_failure
    from devenv.core import migrations
    from devenv.core.models import UpResult
    from devenv.errors import ServiceFailedError

    action = args.migrate_action or "up"
    stack = load_stack(args, out, running="strict")
    renderer = MigrateRenderer(out)

    def document(**fields: Any) -> dict[str, Any]:
        base: dict[str, Any] = {
            "project": stack.name,
            "profile": stack.profile.name,
            "action": action,
            "command": None,
            "service": None,
            "mode": None,
            "exit_code": None,
            "ok": False,
            "elapsed": None,
            "output_tail": [],
            "error": None,
        }
        base.update(fields)
        return base

    try:
        if action == "up":
            result = migrations.migrate_up(stack, renderer)
        elif action == "down":
            # Rolling back drops schema and data: a protected profile asks first, like `db reset`.
            many = f"{args.steps} migrations" if args.steps != 1 else "1 migration"
            confirm(args, out, stack, f"roll back {many} of project {stack.name}")
            result = migrations.migrate_down(stack, args.steps, renderer)
        elif action == "status":
            result = migrations.migrate_status(stack, renderer)
        else:
            result = migrations.migrate_new(stack, " ".join(args.message), renderer)
    except KeyboardInterrupt as exc:  # Ctrl-C, SIGTERM: the command was stopped in the container
        if not out.json_mode:
            raise
        from devenv.errors import interrupt_code

        code = interrupt_code(exc)
        stopped = renderer.interrupted
        message = "interrupted" + (f": {stopped.state}" if stopped is not None and stopped.state else "")
        out.json(
            document(
                command=stopped.command if stopped else None,
                service=stopped.service if stopped else None,
                revision=list(stopped.revision) if stopped is not None and stopped.revision is not None else None,
                error={"kind": "interrupted", "message": message, "hint": stopped.hint if stopped else None},
            )
        )
        return int(code)
    except DevenvError as exc:
        if isinstance(exc, ServiceFailedError) and isinstance(exc.result, UpResult):
            for failure in exc.result.failures:
                render_failure(out, failure)
        if not out.json_mode:
            raise
        out.error(exc)
        out.json(document(error={"kind": type(exc).__name__, "message": exc.message}))
        return int(exc.exit_code)

    ok = result.exit_code == 0
    if ok:
        out.info(out.green(f"✔ migrate {action}: done in {result.elapsed:.1f}s ({result.service})"))
    else:
        out.info(
            out.red(f"✘ migrate {action}: `{result.command}` exited with code {result.exit_code} in {result.service}")
        )
        if result.output_tail:
            out.info(f"  last {len(result.output_tail)} lines of output:")
            for line in result.output_tail:
                out.info(out.dim("    | ") + line)
        else:
            out.info("  (no output)")
        out.info(_failure_hint(action, stack.profile.name))
    if out.json_mode:
        error = None if ok else {"kind": "migration_failed", "message": f"exited with code {result.exit_code}"}
        out.json(
            document(
                command=result.command,
                service=result.service,
                mode=result.mode,
                exit_code=result.exit_code,
                ok=ok,
                elapsed=round(result.elapsed, 3),
                output_tail=list(result.output_tail),
                error=error,
            )
        )
    return int(ExitCode.OK if ok else ExitCode.SERVICE_FAILED)


def _failure_hint(action: str, profile: str) -> str:
    again = f"devenv migrate {action} --profile {profile}"
    if action == "new":
        again = f'devenv migrate new "MESSAGE" --profile {profile}'
    if action in ("up", "down"):
        return f"Fix the failing migration (the error is in the output above), then run `{again}` again."
    return f"Fix the problem shown in the output above, then run `{again}` again."
