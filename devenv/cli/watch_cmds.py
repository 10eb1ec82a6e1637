"""``devenv watch`` and ``devenv up --watch``: Compose's ``develop.watch`` and live config, on the terminal.

The core is :class:`devenv.core.watch.Watcher`. Text: one line per sync, rebuild, restart, exec,
config change or error on stderr (with the readiness lines of what a rebuild or a config change
recreates); ``--logs`` (always with ``up --watch``) adds the services' logs on stdout, followed
across restarts and recreations. ``--json``: one JSON object per line on stdout (NDJSON), the
event's fields plus ``"event"`` (``started``, ``synced``, ``rebuilt``, ``restarted``, ``exec``,
``config_applied``, ``config_invalid``, ``error``, ``notice``, ``stopped``) and ``"time"``.

Ctrl-C ends it with exit 130 (SIGTERM 143); the stack keeps running.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from devenv.cli.output import Output
from devenv.errors import ExitCode

if TYPE_CHECKING:
    from devenv.core.events import Event

WATCH_HELP = "watch the running stack: develop.watch rules (sync, rebuild, restart) and config edits applied live"


def add_parser(
    sub: Any,
    profile_arg: Callable[[argparse.ArgumentParser], None],
    json_arg: Callable[[argparse.ArgumentParser], None],
) -> None:
    p = sub.add_parser("watch", help=WATCH_HELP, description=WATCH_HELP + ". Ctrl-C stops watching.")
    profile_arg(p)
    p.add_argument("services", nargs="*", metavar="SERVICE", help="only these services' rules (default: all)")
    p.add_argument("--logs", action="store_true", help="also follow the services' logs (on stdout)")
    p.add_argument("--no-config", action="store_true", help="do not apply edits of the config files")
    json_arg(p)


def add_up_flags(up: argparse.ArgumentParser) -> None:
    up.add_argument(
        "--watch", action="store_true", help="once ready, watch (develop.watch, live config) and show the logs"
    )


def cmd_up(args: argparse.Namespace, out: Output) -> int:
    """``devenv up`` (:func:`devenv.cli.stack_cmds.cmd_up`), then, with ``--watch`` and all ready, the watch."""
    from devenv.cli.stack_cmds import cmd_up as up

    watching = getattr(args, "watch", False)
    if watching and args.json:
        from devenv.errors import UsageError

        raise UsageError("up --watch prints a line per change, not one JSON document: drop --json")
    code = up(args, out)
    if not watching or code != ExitCode.OK:
        return code
    return watch(args, out, args.ctx_stack, logs=True, services=list(args.services))


def cmd_watch(args: argparse.Namespace, out: Output) -> int:
    from devenv.cli.stack_cmds import check_declared, load_stack

    stack = load_stack(args, out, running="follow")
    if args.services:
        check_declared(stack, args.services)
    return watch(args, out, stack, logs=args.logs, services=args.services, config=not args.no_config)


def watch(
    args: argparse.Namespace, out: Output, stack: Any, *, logs: bool, services: list[str], config: bool = True
) -> int:
    """Watch ``stack`` until Ctrl-C (exit 130; SIGTERM 143)."""
    from devenv.cli.stack_cmds import UpRenderer
    from devenv.core.cancel import CancelToken
    from devenv.core.watch import Watcher

    lock = threading.Lock()
    renderer = UpRenderer(out, live=False)
    as_json = bool(getattr(args, "json", False))

    def emit(event: Event) -> None:
        with lock:
            if as_json:
                line = event_json(event)
                if line is not None:
                    out.write_out(line + "\n")
                return
            lines = render(event, out)
            if lines is None:
                renderer(event)
            for line in lines or ():
                out.info(line)

    cancel = CancelToken()
    follower = None
    if logs and not as_json:
        follower = _follow_logs(out, stack, lock, cancel)
    watcher = Watcher(stack, services, emit=emit, cancel=cancel, config=config)
    try:
        watcher.run()
    except KeyboardInterrupt:
        cancel.cancel("interrupted")
        if not as_json:
            out.info(out.dim("devenv: stopped watching; the stack keeps running"))
        return int(ExitCode.INTERRUPTED)  # main() turns it into 143 after SIGTERM
    finally:
        cancel.cancel("done")
        if follower is not None:
            follower.join(timeout=2)
    return int(ExitCode.OK)


def _follow_logs(out: Output, stack: Any, lock: threading.Lock, cancel: Any) -> threading.Thread:
    from devenv.core.logs import LogFollower, LogNotice

    follower = LogFollower(stack.api, stack.name, None, tail=10, cancel=cancel)
    palette = ["36", "33", "35", "32", "34", "91", "96", "93"]
    colors: dict[str, str] = {}

    def pump() -> None:
        width = 12
        for item in follower:
            with lock:
                if isinstance(item, LogNotice):
                    out.info(out.yellow(f"devenv: {item.text}"))
                    continue
                code = colors.setdefault(item.service, palette[len(colors) % len(palette)])
                width = max(width, len(item.service))
                out.write_out(f"{out.style(item.service.ljust(width) + ' |', code)} {item.text}\n")

    thread = threading.Thread(target=pump, name="devenv-watch-logs", daemon=True)
    thread.start()
    return thread


# ----------------------------------------------------------------------------------------- text
def _clock(t: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(t)) + f".{int(t * 1000) % 1000:03d}"


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 10 else f"{seconds:.1f}s"


def _files(paths: tuple[str, ...], limit: int = 3) -> str:
    shown = ", ".join(paths[:limit])
    return shown + (f" (+{len(paths) - limit} more)" if len(paths) > limit else "")


def render(event: Event, out: Output) -> list[str] | None:
    """The text lines of a watch event; None for the core's other events (rendered as ``up`` does)."""
    from devenv.core.watch import events as w

    head = out.dim(_clock(event.time)) + " "
    if isinstance(event, w.WatchStarted):
        lines = [head + out.bold("watching ") + (", ".join(event.services) or "no develop.watch rules")]
        if event.paths:
            lines.append(out.dim(f"  paths: {', '.join(event.paths)}"))
        if event.config_files:
            lines.append(out.dim(f"  config applied live: {', '.join(event.config_files)}"))
        lines.append(out.dim("  Ctrl-C stops watching (the stack keeps running)"))
        return lines
    if isinstance(event, w.WatchSynced):
        what = f"{len(event.files)} file(s)" + (f", {len(event.deleted)} deleted" if event.deleted else "")
        reason = "" if event.reason == "change" else f" ({event.reason} sync)"
        names = _files(event.files or event.deleted)
        return [
            head
            + out.green(f"{event.service}: synced {what}")
            + f" into {event.containers} container(s) in {_ms(event.elapsed)}{reason}"
            + out.dim(f"  {names}")
        ]
    if isinstance(event, w.WatchRebuilt):
        services = ", ".join(event.services)
        if event.outcome == "ready":
            return [
                head + out.green(f"rebuilt {event.image}") + f": {services} recreated and ready in {_ms(event.elapsed)}"
            ]
        lines = [head + out.red(f"rebuild of {event.image} {event.outcome}") + f" ({services})"]
        lines += [out.dim(f"    {line}") for line in event.error.strip().splitlines()[-8:]]
        return lines
    if isinstance(event, w.WatchRestarted):
        color = out.green if event.outcome == "ready" else out.red
        return [head + color(f"restarted {', '.join(event.services)}") + f": {event.outcome} in {_ms(event.elapsed)}"]
    if isinstance(event, w.WatchExec):
        color = out.green if event.exit_code == 0 else out.red
        lines = [head + color(f"{event.service}: `{' '.join(event.command)}` exited {event.exit_code}")]
        return lines + [out.dim(f"    {line}") for line in event.output.splitlines()[-5:]]
    if isinstance(event, w.WatchConfigApplied):
        files = ", ".join(event.files)
        if not event.recreated and not event.started:
            return [head + f"config: {files} changed; no service's effective config changed"]
        parts = [f"recreated {', '.join(event.recreated)}"] if event.recreated else []
        parts += [f"started {', '.join(event.started)}"] if event.started else []
        color = out.green if event.outcome == "ready" else out.red
        return [
            head + color(f"config: {files} changed: {'; '.join(parts)}") + f" ({event.outcome}, {_ms(event.elapsed)})"
        ]
    if isinstance(event, w.WatchConfigInvalid):
        where = event.file + (f":{event.line}" if event.line else "")
        return [
            head + out.red(f"config: {where}: {event.message}"),
            out.dim("    the running stack is left as it is; fix the file to apply it"),
        ]
    if isinstance(event, w.WatchError):
        where = " ".join(p for p in (event.service, event.path) if p)
        return [head + out.red(f"✘ {event.action} {where}: {event.message}")]
    if isinstance(event, w.WatchNotice):
        return [head + out.yellow((f"{event.service}: " if event.service else "") + event.text)]
    if isinstance(event, w.WatchStopped):
        return [head + out.dim(f"watch stopped ({event.reason})")]
    return None


# ----------------------------------------------------------------------------------------- json
def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name.removeprefix("Watch")).lower()


def event_json(event: Event) -> str | None:
    """One NDJSON line for a watch event (the core's other events: their class name and fields)."""
    from devenv.core.watch import events as w

    doc: dict[str, Any] = {"time": round(event.time, 6)}
    if isinstance(event, tuple(getattr(w, n) for n in w.__all__)):
        doc["event"] = _snake(type(event).__name__)
    else:
        doc["event"] = "core"
        doc["type"] = type(event).__name__
    try:
        fields = dataclasses.asdict(event)
    except TypeError:
        fields = {}
    fields.pop("time", None)
    doc.update(fields)
    return json.dumps(doc, default=str, separators=(",", ":"))
