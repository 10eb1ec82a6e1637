"""``devenv debug SERVICE``, ``devenv debug off SERVICE``, ``devenv debug status``.

The core is :mod:`devenv.core.debug.enable`; this module parses, asks for confirmation on a
protected profile, renders progress (the ``recreate`` renderer plus the debug steps), writes
``.vscode/launch.json`` (or prints an attach configuration with ``--print``) and prints where to
attach, as text or ``--json``. Like the per-service actions it acts on the stack that runs: without
``--profile`` it follows the profile the containers were started with.
"""

from __future__ import annotations

import argparse
import time
from typing import TYPE_CHECKING, Any

from devenv.cli.output import Output, table
from devenv.errors import UsageError

if TYPE_CHECKING:
    from devenv.core.debug.target import DebugTarget
    from devenv.core.events import Event

PRINT_FORMATS = ("vscode", "nvim", "json")
DESCRIPTION = """Attach a debugger to a Python service running in Compose, without changing its image.

  devenv debug SERVICE       run SERVICE under debugpy (port published on 127.0.0.1), wait until
                             a debugger can attach, add "devenv: attach SERVICE" to .vscode/launch.json
  devenv debug off SERVICE   run SERVICE exactly as the profile defines it again
  devenv debug status        the services a debugger can attach to now, with their ports

devenv keeps its changes in its own compose overlay (.devenv/debug/PROFILE.yml), never in your
files; while a service is under debug, every devenv command uses it. A service whose own command
already runs debugpy is reported as it is."""


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text[:40]!r}") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 1 to 65535, got {value}")
    return value


def add_parser(sub: Any, profile_arg: Any, json_arg: Any, *, seconds: Any) -> None:
    p = sub.add_parser(
        "debug",
        help="attach a debugger: run a Python service under debugpy (also: debug off, debug status)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    profile_arg(p)
    p.add_argument("what", metavar="SERVICE", help="the service to debug; `off SERVICE` or `status`")
    p.add_argument("service", nargs="?", metavar="", help=argparse.SUPPRESS)
    p.add_argument(
        "--port",
        type=_port,
        default=None,
        metavar="N",
        help="host port on 127.0.0.1 for the debugger (default: 5678 when free, else a free one)",
    )
    p.add_argument(
        "--wait",
        action="store_true",
        help="the program waits for a debugger to attach before it runs (debugpy --wait-for-client)",
    )
    p.add_argument(
        "--print",
        dest="print_config",
        choices=PRINT_FORMATS,
        default=None,
        help="print the attach configuration (VS Code, nvim-dap, or JSON for any DAP client) "
        "instead of writing .vscode/launch.json",
    )
    p.add_argument(
        "--wait-timeout",
        dest="wait_timeout",
        type=seconds,
        default=None,
        metavar="SECONDS",
        help="how long to wait for the service, then for debugpy (default: [readiness] timeout, 120)",
    )
    p.add_argument("--yes", action="store_true", help="confirm on a protected profile in a script")
    p.add_argument("--confirm-profile", metavar="NAME", help="with --yes: the protected profile's name")
    json_arg(p)


def cmd_debug(args: argparse.Namespace, out: Output) -> int:
    what, service = args.what, args.service
    if what == "status":
        if service is not None:
            raise UsageError(f"`devenv debug status` takes no service (got {service!r}).")
        return _status(args, out)
    if what in ("off", "on"):
        if service is None:
            raise UsageError(f"`devenv debug {what}` needs a SERVICE.", hint=f"devenv debug {what} SERVICE")
        return _off(args, out, service) if what == "off" else _on(args, out, service)
    if service is not None:
        raise UsageError(f"`devenv debug {what} {service}`: one service at a time (or `devenv debug off {service}`).")
    return _on(args, out, what)


# ------------------------------------------------------------------------------------------ on
def _renderer(out: Output, args: argparse.Namespace) -> Any:
    from devenv.cli.action_cmds import ActionRenderer

    class DebugRenderer(ActionRenderer):
        STEPS = ("config", "inspect", "provision", "overlay", "attach", "restore", "start")

        def __call__(self, event: Event) -> None:
            from devenv.core.events import StepStarted

            if isinstance(event, StepStarted) and event.step in self.STEPS:
                with self.lock:
                    self._above(self.out.dim(f"[{self._clock()}] {event.step}: {event.detail}"))
                return
            super().__call__(event)

    return DebugRenderer(out, live=out.err_tty and not args.json)


def _on(args: argparse.Namespace, out: Output, service: str) -> int:
    from devenv.cli.stack_cmds import check_declared, confirm, load_stack
    from devenv.core.debug.enable import enable_debug

    if args.json and args.print_config:
        raise UsageError("--print and --json each print a document on stdout: pick one.")
    stack = load_stack(args, out, running="follow")
    check_declared(stack, [service])
    if _protected(args, stack) and not _unchanged(stack, service, args):
        confirm(args, out, stack, f"run {service} under debugpy (it is recreated)")
    out.info(out.bold(f"devenv debug {service}: project {stack.name}, profile {stack.profile.name}"))
    renderer = _renderer(out, args)
    t0 = time.monotonic()
    try:
        target = enable_debug(stack, service, port=args.port, wait=args.wait, emit=renderer, timeout=args.wait_timeout)
    finally:
        renderer.close()
    elapsed = time.monotonic() - t0
    if args.print_config:
        _print_config(out, stack, target, args.print_config)
        _report(out, stack, target, elapsed, None, args.wait)
        return 0
    launch, problem = _launch_json(stack, target)
    _report(out, stack, target, elapsed, launch, args.wait, problem)
    if args.json:
        out.json(
            {
                "project": stack.name,
                "profile": stack.profile.name,
                "ok": True,
                "elapsed": round(elapsed, 3),
                **target_document(target),
                "wait": bool(args.wait) and target.overlay,
                "launch_json": str(launch.path) if launch else None,
                "launch_json_error": problem,
                "error": None,
            }
        )
    return 0


def _protected(args: argparse.Namespace, stack: Any) -> bool:
    from devenv.core.running import protection, running_profile

    running = getattr(args, "ctx_running", None)
    return protection(stack, running if running is not None else running_profile(stack)).protected


def _unchanged(stack: Any, service: str, args: argparse.Namespace) -> bool:
    """True when the service already runs under debugpy as asked (nothing would be recreated)."""
    from devenv.core.debug.enable import debug_targets
    from devenv.core.debug.overlay import read_overlay

    already = {t.service: t for t in debug_targets(stack)}.get(service)
    if already is None:
        return False
    if already.own_debugpy:
        return True
    entry = read_overlay(stack.project.root, stack.profile.name).get(service)
    return entry is not None and entry.wait == args.wait and args.port in (None, entry.host_port)


def _launch_json(stack: Any, target: DebugTarget) -> tuple[Any, str | None]:
    from devenv.core.debug.ide import LaunchJsonError, write_launch_json

    try:
        return write_launch_json(stack.project.root, target), None
    except LaunchJsonError as exc:
        return None, str(exc)


def _print_config(out: Output, stack: Any, target: DebugTarget, form: str) -> None:
    import json

    from devenv.core.debug.ide import dap_config, nvim_config, vscode_config

    if form == "vscode":
        out.print(json.dumps(vscode_config(target, stack.project.root), indent=4))
    elif form == "nvim":
        out.write_out(nvim_config(target))
    else:
        out.print(json.dumps(dap_config(target), indent=2))


def _report(
    out: Output,
    stack: Any,
    target: DebugTarget,
    elapsed: float,
    launch: Any,
    wait: bool,
    problem: str | None = None,
) -> None:
    import os

    where = f"{target.host}:{target.port}"
    if target.own_debugpy:
        out.info(out.green(f"✔ {target.service} runs debugpy by its own command: attach to {where}"))
    else:
        note = " (the program waits for the debugger before it runs)" if wait else ""
        out.info(out.green(f"✔ {target.service}: debugpy ready on {where} in {elapsed:.1f}s{note}"))
    if launch is not None:
        state = "created" if launch.created else ("updated" if launch.changed else "up to date")
        rel = os.path.relpath(launch.path, stack.project.root)
        out.info(f'  VS Code: {rel} {state}: run "devenv: attach {target.service}" (Run and Debug)')
    elif problem:
        out.warn(problem)
    for m in target.path_mappings:
        out.info(out.dim(f"  source: {os.path.relpath(m.local_root, stack.project.root)} -> {m.remote_root}"))
    if not target.path_mappings:
        out.info(out.dim("  no bind mount of the project's sources: breakpoints need the files' container paths"))
    out.info(out.dim(f"  any DAP client: debugpy at {where}; `devenv debug {target.service} --print nvim|json`"))
    if target.overlay:
        out.info(out.dim(f"  back to normal: devenv debug off {target.service}"))


def target_document(target: DebugTarget) -> dict[str, Any]:
    return {
        "service": target.service,
        "host": target.host,
        "port": target.port,
        "container_port": target.container_port,
        "own_debugpy": target.own_debugpy,
        "overlay": target.overlay,
        "path_mappings": [{"local_root": m.local_root, "remote_root": m.remote_root} for m in target.path_mappings],
    }


# ----------------------------------------------------------------------------------------- off
def _off(args: argparse.Namespace, out: Output, service: str) -> int:
    from devenv.cli.stack_cmds import check_declared, confirm, load_stack
    from devenv.core.debug.enable import disable_debug
    from devenv.core.debug.live import service_containers
    from devenv.core.debug.overlay import DEBUG_LABEL, read_overlay

    stack = load_stack(args, out, running="follow")
    check_declared(stack, [service])
    entry = read_overlay(stack.project.root, stack.profile.name).get(service)
    labelled = any(
        DEBUG_LABEL in ((d.get("Config") or {}).get("Labels") or {}) for d in service_containers(stack, service)
    )
    if entry is None and not labelled:
        out.info(f"{service} is not under devenv debug (profile {stack.profile.name}): nothing to do.")
        if args.json:
            out.json(
                {
                    "project": stack.name,
                    "profile": stack.profile.name,
                    "ok": True,
                    "service": service,
                    "changed": False,
                    "error": None,
                }
            )
        return 0
    if _protected(args, stack):  # the service is recreated, as by `devenv debug SERVICE`
        confirm(args, out, stack, f"run {service} without debugpy again (it is recreated)")
    out.info(out.bold(f"devenv debug off {service}: project {stack.name}, profile {stack.profile.name}"))
    renderer = _renderer(out, args)
    t0 = time.monotonic()
    try:
        disable_debug(stack, service, emit=renderer, timeout=args.wait_timeout)
    finally:
        renderer.close()
    elapsed = time.monotonic() - t0
    out.info(out.green(f"✔ {service} runs as profile {stack.profile.name} defines it again ({elapsed:.1f}s)"))
    if args.json:
        out.json(
            {
                "project": stack.name,
                "profile": stack.profile.name,
                "ok": True,
                "service": service,
                "changed": True,
                "elapsed": round(elapsed, 3),
                "error": None,
            }
        )
    return 0


# -------------------------------------------------------------------------------------- status
def _status(args: argparse.Namespace, out: Output) -> int:
    from devenv.cli.stack_cmds import load_stack
    from devenv.core.debug.enable import debug_targets
    from devenv.core.debug.overlay import read_overlay

    stack = load_stack(args, out, running="follow")
    targets = {t.service: t for t in debug_targets(stack)}
    entries = read_overlay(stack.project.root, stack.profile.name)
    rows: list[dict[str, Any]] = []
    for name in sorted(set(targets) | set(entries)):
        t, e = targets.get(name), entries.get(name)
        item: dict[str, Any] = (
            target_document(t)
            if t
            else {
                "service": name,
                "host": "127.0.0.1",
                "port": e.host_port if e else None,
                "container_port": e.container_port if e else None,
                "own_debugpy": False,
                "overlay": True,
                "path_mappings": [],
            }
        )
        item["running"] = t is not None
        item["by"] = "own" if t is not None and t.own_debugpy else "devenv"
        item["wait"] = bool(e.wait) if e else False
        item["launch"] = e.launch if e else ""
        rows.append(item)
    if args.json:
        out.json({"project": stack.name, "profile": stack.profile.name, "ok": True, "services": rows, "error": None})
        return 0
    if not rows:
        out.info(f"No service of project {stack.name} runs under debugpy (profile {stack.profile.name}).")
        out.info(out.dim("Start one: devenv debug SERVICE"))
        return 0
    lines = []
    for r in rows:
        attach = f"{r['host']}:{r['port']}" if r["running"] else "-"
        if r["by"] == "own":
            detail = "its own command runs debugpy"
        elif r["running"]:
            detail = (r["launch"] or "under devenv's debugpy") + (", waits for the debugger" if r["wait"] else "")
        else:
            detail = "on, not running (runs under debugpy when it starts)"
        lines.append([r["service"], attach, r["by"], detail])
    text = table(lines, ["SERVICE", "ATTACH", "BY", "DETAIL"])
    first, *rest = text.splitlines()
    out.print(out.bold(first))
    for line in rest:
        out.print(line)
    return 0
