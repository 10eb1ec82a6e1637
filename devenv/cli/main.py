"""Entry point of the ``devenv`` command.

This module and the command modules it loads must not import Textual: only the TUI path (a bare
``devenv`` on a terminal, or ``devenv tui``) does, inside :func:`_run_tui`.
Heavy libraries (docker, PyYAML) load inside commands.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from devenv import __version__
from devenv.cli.output import Output
from devenv.errors import DevenvError, DockerUnavailableError, ExitCode, Terminated, file_access_error, interrupt_code

EXIT_CODES_HELP = """exit codes:
  0    ok
  1    a service failed (exited, unhealthy, restart loop, port taken) or a compose command failed,
       or an OS error on your files (permission denied, a file in the way, disk full)
  2    usage or config error (unknown profile/service, bad TOML, unknown key, invalid compose file,
       required variables left unset, out-of-range timeout, missing confirmation)
  3    Docker engine unreachable, or Compose v2 missing
  70   internal error (a bug in devenv: DEVENV_DEBUG=1 shows the traceback)
  124  timed out waiting for services
  130  interrupted (Ctrl-C); a destructive db command names the snapshot to restore
  143  terminated (SIGTERM): handled like Ctrl-C
`devenv doctor`: 0 when no finding is an error, 1 otherwise.
"""


class Parser(argparse.ArgumentParser):
    """argparse that reports usage errors with exit code 2 and one clear paragraph."""

    def error(self, message: str) -> None:  # type: ignore[override]
        try:  # a closed stderr (`2>&1 | true`) must not turn a usage error into exit 1
            self.print_usage(sys.stderr)
            sys.stderr.write(f"devenv: error: {message}\n")
            sys.stderr.flush()
        except (BrokenPipeError, OSError):
            with contextlib.suppress(OSError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stderr.fileno())
        raise SystemExit(ExitCode.USAGE)


PROFILE_HELP = "profile to use (default: $DEVENV_PROFILE, then default_profile, then dev, then default)"
JSON_HELP = "print one JSON document on stdout"


def _profile_arg(p: argparse.ArgumentParser) -> None:
    """``--profile`` after a command. It is also accepted before the command (``devenv --profile dev
    status``); SUPPRESS keeps that value unless this one is given too, which then wins."""
    p.add_argument("-p", "--profile", default=argparse.SUPPRESS, help=PROFILE_HELP)
    p.add_argument(
        "--compose-profile",
        action="append",
        default=None,
        metavar="NAME",
        help="enable a Compose service profile (`docker compose --profile NAME`; repeatable; "
        "default: $COMPOSE_PROFILES)",
    )


def _json_arg(p: argparse.ArgumentParser, help: str = JSON_HELP) -> None:
    """``--json`` after a command that has a JSON output; also accepted before the command."""
    p.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help=help)
    p.set_defaults(json_supported=True)


def _seconds(text: str) -> float:
    """``up --timeout``: a number of seconds, finite, > 0, at most 24 h."""
    from devenv.config import seconds_problem

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text[:40]!r}") from None
    problem = seconds_problem(value)
    if problem is not None:
        raise argparse.ArgumentTypeError(f"{problem}, got {text[:40]!r}")
    return value


def _stop_seconds(text: str) -> int:
    """``down --timeout``: whole seconds Compose waits before killing, 0 (kill at once) to 24 h."""
    from devenv.config import seconds_problem

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of seconds, got {text[:40]!r}") from None
    problem = seconds_problem(value, zero_ok=True)
    if problem is not None:
        raise argparse.ArgumentTypeError(f"{problem}, got {text[:40]!r}")
    return value


def build_parser() -> Parser:
    parser = Parser(
        prog="devenv",
        description="One command and one terminal UI for your Docker Compose dev environment.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"devenv {__version__}")
    parser.add_argument("-C", "--project-dir", type=Path, default=None, help="run as if started in this folder")
    parser.add_argument(
        "-p", "--profile", default=None, help=PROFILE_HELP + "; also accepted after the command, which wins"
    )
    parser.add_argument(
        "--json", action="store_true", help=JSON_HELP + " (commands that have one); also accepted after the command"
    )
    sub = parser.add_subparsers(
        dest="command", metavar="COMMAND", parser_class=Parser, help="what to do (devenv COMMAND -h: its options)"
    )

    up = sub.add_parser("up", help="start the stack and wait until every service is ready")
    _profile_arg(up)
    up.add_argument("services", nargs="*", metavar="SERVICE", help="only these services (and their dependencies)")
    up.add_argument("--build", action="store_true", help="build images before starting")
    up.add_argument(
        "--force-recreate",
        action="store_true",
        help="recreate containers even if their config and image have not changed",
    )
    up.add_argument(
        "--no-deps",
        action="store_true",
        help="with SERVICE: do not create, start or wait for their dependencies",
    )
    up.add_argument(
        "--timeout",
        "--wait-timeout",
        type=_seconds,
        default=None,
        metavar="SECONDS",
        help="how long to wait for readiness (default: [readiness] timeout, 120)",
    )
    _json_arg(up)
    up.add_argument(
        "--switch-profile",
        action="store_true",
        help="the stack on the engine was started with another profile: recreate it under this one",
    )
    up.add_argument("--yes", action="store_true", help="with --switch-profile: confirm leaving a protected profile")
    up.add_argument("--confirm-profile", metavar="NAME", help="with --yes: the protected profile's name")
    from devenv.cli import watch_cmds

    watch_cmds.add_up_flags(up)

    status = sub.add_parser("status", help="one line per service: state, health, ports, uptime")
    _profile_arg(status)
    status.add_argument("services", nargs="*", metavar="SERVICE", help="only these services (default: all)")
    _json_arg(status)
    status.add_argument(
        "-f", "--follow", action="store_true", help="one line per change (NDJSON with --json) until Ctrl-C"
    )

    logs = sub.add_parser("logs", help="show service logs")
    _profile_arg(logs)
    logs.add_argument("services", nargs="*", metavar="SERVICE", help="only these services (default: all)")
    logs.add_argument("-f", "--follow", action="store_true", help="keep following, across restarts")
    logs.add_argument("-n", "--tail", type=int, default=None, help="lines per container (default: all; 10 with -f)")
    logs.add_argument("-t", "--timestamps", action="store_true", help="show the engine's timestamps")

    down = sub.add_parser("down", help="stop and remove the stack's containers (and volumes with --volumes)")
    _profile_arg(down)
    down.add_argument("-v", "--volumes", action="store_true", help="also remove named volumes (destroys data)")
    down.add_argument("--yes", action="store_true", help="confirm a destructive operation in a script")
    down.add_argument("--confirm-profile", metavar="NAME", help="with --yes: the protected profile's name")
    down.add_argument("--timeout", type=_stop_seconds, default=None, metavar="SECONDS", help="stop timeout")

    profiles = sub.add_parser("profiles", help="list profiles with their description and files")
    _json_arg(profiles)

    config = sub.add_parser("config", help="the merged compose config of a profile (secrets masked)")
    _profile_arg(config)
    _json_arg(config, "print the merged config as JSON instead of YAML")
    config.add_argument("--show-secrets", action="store_true", help="do not mask secret values")

    from devenv.cli import action_cmds, db_cmds

    action_cmds.add_parsers(sub, _profile_arg, _json_arg, seconds=_seconds, stop_seconds=_stop_seconds)
    db_cmds.add_parsers(sub, _profile_arg, _json_arg)

    from devenv.cli import init_cmds

    init_cmds.add_parser(sub)

    tui = sub.add_parser("tui", help="open the terminal UI (also: `devenv` with no arguments, on a terminal)")
    _profile_arg(tui)

    # --- doctor (devenv/cli/doctor_cmds.py) ---
    from devenv.cli import doctor_cmds

    doctor_cmds.add_parser(sub, _profile_arg, _json_arg)
    # --- end doctor ---

    # --- migrate (devenv/cli/migrate_cmds.py) ---
    from devenv.cli import migrate_cmds

    migrate_cmds.add_parser(sub, _profile_arg, _json_arg)
    # --- end migrate ---

    from devenv.cli import debug_cmds

    debug_cmds.add_parser(sub, _profile_arg, _json_arg, seconds=_seconds)
    watch_cmds.add_parser(sub, _profile_arg, _json_arg)
    return parser


def _handlers() -> dict[str, Callable[[argparse.Namespace, Output], int]]:
    from devenv.cli import (
        action_cmds,
        config_cmds,
        db_cmds,
        debug_cmds,
        doctor_cmds,
        init_cmds,
        migrate_cmds,
        stack_cmds,
        watch_cmds,
    )

    return {
        "up": watch_cmds.cmd_up,  # stack_cmds.cmd_up, then `--watch`
        **action_cmds.HANDLERS,
        "status": stack_cmds.cmd_status,
        "logs": stack_cmds.cmd_logs,
        "down": stack_cmds.cmd_down,
        "profiles": config_cmds.cmd_profiles,
        "config": config_cmds.cmd_config,
        "init": init_cmds.cmd_init,
        "db": db_cmds.cmd_db,
        "migrate": migrate_cmds.cmd_migrate,  # devenv/cli/migrate_cmds.py
        "debug": debug_cmds.cmd_debug,  # devenv/cli/debug_cmds.py
        "doctor": doctor_cmds.cmd_doctor,  # devenv/cli/doctor_cmds.py
        "watch": watch_cmds.cmd_watch,  # devenv/cli/watch_cmds.py
    }


_TERM = threading.Event()


def _on_sigterm(signum: int, frame: object) -> None:
    if _TERM.is_set():
        return  # a second SIGTERM must not break the cleanup and recovery report of the first
    _TERM.set()
    raise Terminated()


_QUICK_EXIT = threading.Event()


def console() -> None:
    """The ``devenv`` console script: ``main()``, then exit.

    A command that marked itself (``args.quick_exit``) has nothing left to clean up, so its output
    is flushed and the process ends without the interpreter's teardown: ``status`` without
    ``--follow`` (about 10-20 ms of a 0.1 s command), and ``up`` and the health-gated actions once
    they reported (their Compose children are stopped, the event stream closed; the teardown would
    wait for the worker threads, and an exec of a fast check still in flight on a busy engine took
    seconds: the exec ends by itself in the container).
    """
    code = main()
    if _QUICK_EXIT.is_set():
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(code)
    raise SystemExit(code)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; SIGTERM unwinds like Ctrl-C (same reports, recovery messages and cleanup)."""
    import signal

    _TERM.clear()
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
        try:
            return _main(argv)
        finally:
            signal.signal(signal.SIGTERM, previous)
    return _main(argv)


def _main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.json and args.command and not getattr(args, "json_supported", False):
            name = " ".join(n for n in (args.command, getattr(args, "db_command", None)) if n)
            parser.error(f"--json: `devenv {name}` has no JSON output")
    except SystemExit as exc:
        return int(exc.code or 0)
    if args.command is None:
        # A bare `devenv` opens the TUI on a terminal; without one (a pipe, CI) it prints help.
        if not (sys.stdin.isatty() and sys.stdout.isatty()):
            parser.print_help()
            return 0
        return _run_tui(args)
    if args.command == "tui":
        return _run_tui(args)
    if args.command == "logs" and args.tail is None and args.follow:
        args.tail = 10
    out = Output(json_mode=bool(getattr(args, "json", False)))
    try:
        code = _handlers()[args.command](args, out)
        if getattr(args, "quick_exit", False) and threading.current_thread() is threading.main_thread():
            _QUICK_EXIT.set()
        # A command that reports an interruption itself (up's "interrupted" outcome) after SIGTERM.
        return int(ExitCode.TERMINATED) if code == ExitCode.INTERRUPTED and _TERM.is_set() else code
    except DevenvError as exc:
        out.error(exc)
        _json_error(out, args, type(exc).__name__, exc.message, exc.hint, int(exc.exit_code))
        return int(exc.exit_code)
    except KeyboardInterrupt as exc:
        code = interrupt_code(exc)
        out.info("devenv: terminated (SIGTERM)" if code == ExitCode.TERMINATED else "devenv: interrupted")
        _json_error(out, args, "Interrupted", "interrupted", None, int(code))
        return int(code)
    except BrokenPipeError as exc:
        return _broken_pipe(out, args, exc)
    except Exception as exc:
        mapped = _map_engine_error(exc) or file_access_error(exc)
        if mapped is not None:
            out.error(mapped)
            _json_error(out, args, type(mapped).__name__, mapped.message, mapped.hint, int(mapped.exit_code))
            return int(mapped.exit_code)
        if os.environ.get("DEVENV_DEBUG"):
            raise
        message = (
            f"internal error: {type(exc).__name__}: {exc}. This is a bug in devenv; "
            "run again with DEVENV_DEBUG=1 for the traceback and report it."
        )
        out.error(message)
        _json_error(out, args, "InternalError", message, None, int(ExitCode.INTERNAL))
        return int(ExitCode.INTERNAL)


def _run_tui(args: argparse.Namespace) -> int:
    """The TUI (imports Textual; nothing else in the CLI does). Problems are shown inside the app."""
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        sys.stderr.write("devenv: the TUI needs a terminal (stdin and stdout); `devenv --help` lists the commands\n")
        return int(ExitCode.USAGE)
    from devenv.tui import run

    return run(args.project_dir, getattr(args, "profile", None))


def _json_error(out: Output, args: argparse.Namespace, kind: str, message: str, hint: str | None, code: int) -> None:
    """With --json, a failed command still prints one document of the documented shape."""
    if not out.json_mode:
        return
    out.json(
        {
            "project": getattr(args, "ctx_project", None),
            "profile": getattr(args, "ctx_profile", None) or getattr(args, "profile", None),
            "ok": False,
            "outcome": "error",
            "exit_code": code,
            "services": [],
            "error": {"kind": kind, "message": message, "hint": hint},
        }
    )


def _broken_pipe(out: Output, args: argparse.Namespace, exc: BrokenPipeError) -> int:
    """A broken pipe ended the command: fine when it is stdout's reader that had enough.

    Output discards a closed stdout by itself, so commands run to their end and return their real
    exit code; only a command that stops on purpose when its reader leaves (`devenv logs | head`)
    gets here with stdout closed. Any other pipe (to a child process) breaking is a failure.
    """
    from devenv.cli.output import reader_gone

    if out.stdout_closed or reader_gone(out.out):
        out.discard_stdout()
        return int(ExitCode.OK)
    broken = DevenvError(f"A pipe to another process closed early ({exc.strerror or exc}); the command did not finish.")
    out.error(broken)
    _json_error(out, args, "BrokenPipe", broken.message, None, int(broken.exit_code))
    return int(broken.exit_code)


def _map_engine_error(exc: Exception) -> DevenvError | None:
    """Connection failures from docker-py/requests mid-command mean the engine went away."""
    module = type(exc).__module__
    text = str(exc)
    if module.startswith(("docker", "requests", "urllib3")) and (
        "Connection" in text or "No such file" in text or "Permission" in text
    ):
        from devenv.core.engine.client import unavailable

        return unavailable(exc, os.environ.get("DOCKER_HOST") or "the Docker socket")
    if isinstance(exc, DockerUnavailableError):
        return exc
    return None


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
