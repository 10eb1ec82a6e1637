"""``devenv start``, ``stop``, ``restart``, ``recreate``, ``rebuild``: per-service actions.

The core is :mod:`devenv.core.actions`; this module parses, renders progress (the ``up`` renderer
plus the stop lines) and prints the result as ``up`` does (text or ``--json``). Every command acts
on the stack that runs: without ``--profile`` it follows the profile the containers were started
with (``load_stack(..., running="follow")``).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from devenv.cli.output import Output
from devenv.cli.stack_cmds import (
    OUTCOME_EXIT,
    UpRenderer,
    check_declared,
    load_stack,
    render_failure,
    report_up,
    up_document,
)
from devenv.errors import ExitCode

if TYPE_CHECKING:
    from devenv.core.events import Event

STOP_EXIT = {"stopped": ExitCode.OK, "failed": ExitCode.SERVICE_FAILED, "interrupted": ExitCode.INTERRUPTED}

SERVICES_HELP = {
    "start": "services to start, with their dependencies (default: all)",
    "stop": "services to stop; services that depend on them keep running (default: all)",
    "restart": "services to restart (default: all)",
    "recreate": "services to recreate; their dependencies are left as they are (default: all)",
    "rebuild": "services to build and recreate; their dependencies are left as they are (default: all)",
}
COMMAND_HELP = {
    "start": "start the existing containers of services (and their dependencies), wait until ready",
    "stop": "stop services' containers (dependents first), keep them",
    "restart": "stop and start services, wait until ready (dependents are not restarted)",
    "recreate": "new containers for services from the current config, wait until ready",
    "rebuild": "build services' images, recreate their containers, wait until ready",
}


def add_parsers(
    sub: Any,
    profile_arg: Callable[[argparse.ArgumentParser], None],
    json_arg: Callable[[argparse.ArgumentParser], None],
    *,
    seconds: Callable[[str], float],
    stop_seconds: Callable[[str], int],
) -> None:
    """The five commands. ``seconds``/``stop_seconds``: the argument types of ``up --timeout`` and
    ``down --timeout`` (a readiness wait; whole seconds before a kill)."""
    for name in ("start", "stop", "restart", "recreate", "rebuild"):
        p = sub.add_parser(name, help=COMMAND_HELP[name], description=COMMAND_HELP[name] + ".")
        profile_arg(p)
        p.add_argument("services", nargs="*", metavar="SERVICE", help=SERVICES_HELP[name])
        if name != "start":
            p.add_argument(
                "-t",
                "--timeout",
                dest="stop_timeout",
                type=stop_seconds,
                default=None,
                metavar="SECONDS",
                help="seconds a container gets to stop before it is killed, as docker compose -t "
                "(default: its stop_grace_period, else 10)",
            )
        if name != "stop":
            p.add_argument(
                "--wait-timeout",
                dest="wait_timeout",
                type=seconds,
                default=None,
                metavar="SECONDS",
                help="how long to wait for readiness (default: [readiness] timeout, 120)",
            )
        if name == "restart":
            p.add_argument(
                "--no-deps",
                action="store_true",
                help="do not also restart services that declare depends_on ... restart: true on these",
            )
        json_arg(p)


class ActionRenderer(UpRenderer):
    """``up``'s progress, plus one line per stopped service (the stop half of ``restart``)."""

    def __call__(self, event: Event) -> None:
        from devenv.core.events import ActionStarted, ServiceStopped

        if isinstance(event, ServiceStopped):
            s = event.status
            code = f" ({s.exit_code})" if s.exit_code is not None else ""
            with self.lock:
                self._above(f"[{self._clock()}] " + self.out.dim(f"■ {s.service.ljust(12)} {s.state}{code}"))
        elif not isinstance(event, ActionStarted):
            super().__call__(event)


def _header(out: Output, action: str, args: argparse.Namespace, stack: Any) -> None:
    what = " ".join(args.services) or "all services"
    out.info(out.bold(f"devenv {action} {what}: project {stack.name}, profile {stack.profile.name}"))


def _stack(args: argparse.Namespace, out: Output) -> Any:
    stack = load_stack(args, out, running="follow")
    if args.services:
        check_declared(stack, args.services)  # from the YAML: an unknown name fails before anything runs
    return stack


def _gated(action: str, args: argparse.Namespace, out: Output) -> int:
    from devenv.core import actions

    stack = _stack(args, out)
    _header(out, action, args, stack)
    renderer = ActionRenderer(out, live=out.err_tty and not args.json)
    try:
        if action == "start":
            result = actions.start(stack, args.services, timeout=args.wait_timeout, emit=renderer)
        elif action == "restart":
            result = actions.restart(
                stack,
                args.services,
                stop_timeout=args.stop_timeout,
                timeout=args.wait_timeout,
                no_deps=args.no_deps,
                emit=renderer,
            )
        else:
            verb = actions.rebuild if action == "rebuild" else actions.recreate
            result = verb(
                stack, args.services, stop_timeout=args.stop_timeout, timeout=args.wait_timeout, emit=renderer
            )
    finally:
        renderer.close()
    report_up(out, stack, result)
    if args.json:
        out.json({"action": action, **up_document(result)})
    args.quick_exit = True  # as `up`: nothing left to wait for (see devenv.cli.main.console)
    return int(OUTCOME_EXIT[result.outcome])


def cmd_start(args: argparse.Namespace, out: Output) -> int:
    return _gated("start", args, out)


def cmd_restart(args: argparse.Namespace, out: Output) -> int:
    return _gated("restart", args, out)


def cmd_recreate(args: argparse.Namespace, out: Output) -> int:
    return _gated("recreate", args, out)


def cmd_rebuild(args: argparse.Namespace, out: Output) -> int:
    return _gated("rebuild", args, out)


def cmd_stop(args: argparse.Namespace, out: Output) -> int:
    from devenv.core import actions

    stack = _stack(args, out)
    _header(out, "stop", args, stack)
    renderer = ActionRenderer(out, live=False)
    result = actions.stop(stack, args.services, timeout=args.stop_timeout, emit=renderer)
    for failure in result.failures:
        render_failure(out, failure)
    names = ", ".join(s.service for s in result.services) or "nothing to stop"
    if result.outcome == "stopped":
        out.info(out.green(f"✔ stopped {names} in {result.elapsed:.1f}s (profile {result.profile})"))
    elif result.outcome == "interrupted":
        out.info(out.yellow("devenv: interrupted; containers not stopped yet keep running (`devenv status`)."))
    else:
        out.info(out.red("devenv: ") + "could not stop " + ", ".join(f.service for f in result.failures))
    if args.json:
        failures = {f.service: f for f in result.failures}
        services = []
        for s in result.services:
            item = s.to_json()
            if s.service in failures:
                item["failure"] = failures[s.service].to_json()
            services.append(item)
        out.json(
            {
                "action": "stop",
                "project": result.project,
                "profile": result.profile,
                "ok": result.ok,
                "outcome": result.outcome,
                "elapsed": round(result.elapsed, 3),
                "services": services,
                "error": None if result.ok else {"kind": result.outcome, "message": f"stop {result.outcome}"},
            }
        )
    return int(STOP_EXIT[result.outcome])


HANDLERS: dict[str, Callable[[argparse.Namespace, Output], int]] = {
    "start": cmd_start,
    "stop": cmd_stop,
    "restart": cmd_restart,
    "recreate": cmd_recreate,
    "rebuild": cmd_rebuild,
}
