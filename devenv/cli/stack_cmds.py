"""``devenv up``, ``status``, ``logs``, ``down``: render core results and events as text or JSON."""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from devenv.cli.engine_text import addresses, port_text, unreachable_ports
from devenv.cli.output import Output, table, uptime
from devenv.core.models import Failure, Readiness, ServiceStatus, UpResult
from devenv.errors import ExitCode

if TYPE_CHECKING:  # the event classes load with the commands that render them (status stays fast)
    from devenv.core.events import Event, ServiceChanged

OUTCOME_EXIT = {
    "ready": ExitCode.OK,
    "failed": ExitCode.SERVICE_FAILED,
    "timeout": ExitCode.TIMEOUT,
    "interrupted": ExitCode.INTERRUPTED,
}

SYMBOL = {Readiness.READY: "✔", Readiness.FAILED: "✘", Readiness.WAITING: "…", Readiness.PENDING: "·"}


def load_stack(args: argparse.Namespace, out: Output | None = None, *, running: str = "ignore") -> Any:
    """The project and profile of a command.

    ``running`` says what to do when the project's containers were created under another profile
    (see ``devenv.core.running``): "ignore"; "follow" (a profile that was not asked for explicitly,
    by --profile or DEVENV_PROFILE, follows the stack on the engine); "strict" (follow, and refuse
    an explicit other profile). ``args.ctx_running`` keeps what was found, for ``confirm``.
    """
    import os

    from devenv.config import load_project
    from devenv.core.stack import Stack

    project = load_project(args.project_dir)
    args.ctx_project = project.name  # for --json error documents (devenv.cli.main)
    requested = getattr(args, "profile", None)
    profile = project.resolve_profile(requested)
    args.ctx_profile = profile.name
    warn_outside_root(out or Output(), project, profile)
    compose_profiles = tuple(getattr(args, "compose_profile", None) or ())
    stack = Stack(project, profile, compose_profiles=compose_profiles)
    args.ctx_running = None
    if running == "ignore":
        return stack
    if running == "follow":
        # Broken compose files are a config error (exit 2) before the engine is asked anything.
        stack.service_names()
    from devenv.core.running import check_same_profile, running_profile

    found = running_profile(stack)
    args.ctx_running = found
    explicit = requested is not None or bool(os.environ.get("DEVENV_PROFILE"))
    if found is not None and found.name and found.name != profile.name and not explicit:
        stack = Stack(project, project.profiles[found.name], compose_profiles=compose_profiles)
        args.ctx_profile = found.name
        if out is not None:
            out.info(
                out.yellow(f"profile {found.name}: the stack on the engine was started with it ")
                + out.dim(f"(not {profile.name}; pass --profile to choose)")
            )
    if running == "strict":
        check_same_profile(stack, found, getattr(args, "ctx_action", None) or f"run `{args.command}`")
    return stack


def warn_outside_root(out: Output, project: Any, profile: Any = None) -> None:
    """One warning on stderr per compose or env file outside the project root (not an error)."""
    import os

    for kind, path in project.files_outside_root(profile):
        out.warn(
            f"{kind} {os.path.relpath(path, project.root)} ({path}) is outside the project root {project.root}; "
            "the project folder alone does not describe the stack."
        )


# ----------------------------------------------------------------------------------------- up
def _check_switch(args: argparse.Namespace, out: Output, stack: Any) -> bool:
    """True when this ``up`` switches a stack started under another profile (``--switch-profile``).

    Without the flag such an ``up`` is refused (exit 2): profiles share containers and volumes, so
    moving the stack to another profile must be asked for. Leaving a protected profile needs the
    same confirmation as a destructive command.
    """
    from devenv.core.running import check_same_profile, running_profile

    found = running_profile(stack)
    args.ctx_running = found
    if found is None or not found.profiles or stack.profile.name in found.profiles:
        return False
    if not getattr(args, "switch_profile", False):
        check_same_profile(stack, found, "start it")
    leaving = [n for n in found.profiles if (p := stack.project.profiles.get(n)) is not None and p.protected]
    if leaving:  # leaving a protected profile's stack needs its confirmation (entering one does not)
        from devenv.core.safety import confirm_destructive

        confirm_destructive(
            leaving[0],
            True,
            f"switch the stack from profile {found.describe()} to {stack.profile.name}",
            yes=args.yes,
            confirm_profile=args.confirm_profile,
            ask=_tty_ask(out),
        )
    out.info(out.yellow(f"switching the stack from profile {found.describe()} to {stack.profile.name}"))
    return True


class UpRenderer:
    """Progress for ``devenv up`` on stderr: a live table on a TTY, one line per change otherwise."""

    def __init__(self, out: Output, live: bool) -> None:
        self.out = out
        self.live = live
        self.rows: dict[str, tuple[ServiceChanged, float]] = {}
        self.drawn = 0
        self.lock = threading.Lock()
        self.t0 = time.monotonic()
        self.stop = threading.Event()
        self.ticker: threading.Thread | None = None

    def __call__(self, event: Event) -> None:
        from devenv.core.events import ComposeOutput, MigrationOutput, MigrationStarted, ServiceChanged, StepStarted

        with self.lock:
            if isinstance(event, StepStarted):
                if event.step == "wait" and self.live and self.ticker is None:
                    self.ticker = threading.Thread(target=self._tick, daemon=True)
                    self.ticker.start()
                if not self.live and event.step in ("create", "wait"):
                    self.out.info(self.out.dim(f"[{self._clock()}] {event.step}: {event.detail}"))
            elif isinstance(event, ComposeOutput):
                self._above(self.out.dim(f"  compose: {event.line}"))
            elif isinstance(event, MigrationOutput):
                self._above(f"  {event.line}")
            elif isinstance(event, MigrationStarted):
                self._above(f"[{self._clock()}] run_on_up: `{event.command}` in {event.service}")
            elif isinstance(event, ServiceChanged):
                self.rows[event.status.service] = (event, time.monotonic())
                if self.live:
                    self._draw()
                else:
                    self.out.info(f"[{self._clock()}] {self._row(event)}")

    def _clock(self) -> str:
        return f"{time.monotonic() - self.t0:6.2f}s"

    def _row(self, ev: ServiceChanged, width: int = 12) -> str:
        s = ev.status
        symbol = SYMBOL[ev.readiness]
        color = {Readiness.READY: self.out.green, Readiness.FAILED: self.out.red}.get(ev.readiness, self.out.yellow)
        health = f"health: {s.health.value}" if s.health.value != "none" else ""
        note = ev.note if ev.readiness != Readiness.READY else s.detail
        parts = [color(f"{symbol} {s.service.ljust(width)}"), s.state.ljust(9), health.ljust(17), note]
        return " ".join(parts).rstrip()

    def _lines(self) -> list[str]:
        width = max([12, *(len(k) for k in self.rows)])
        now = time.monotonic()
        lines = []
        for ev, _since in self.rows.values():
            elapsed = "" if ev.readiness in (Readiness.READY, Readiness.FAILED) else f" ({now - self.t0:.0f}s)"
            lines.append(self._row(ev, width) + self.out.dim(elapsed))
        return lines

    def _draw(self) -> None:
        lines = self._lines()
        buf = []
        if self.drawn:
            buf.append(f"\x1b[{self.drawn}F")
        for line in lines:
            buf.append("\x1b[2K" + line + "\n")
        self.out.err.write("".join(buf))
        self.out.err.flush()
        self.drawn = len(lines)

    def _above(self, text: str) -> None:
        if self.live and self.drawn:
            self.out.err.write(f"\x1b[{self.drawn}F\x1b[J")
            self.drawn = 0
            self.out.info(text)
            self._draw()
        else:
            self.out.info(text)

    def _tick(self) -> None:
        while not self.stop.wait(0.5):  # redraw elapsed times on a TTY; display only
            with self.lock:
                if self.rows:
                    self._draw()

    def close(self) -> None:
        self.stop.set()
        with self.lock:
            if self.live and self.rows:
                self._draw()


def cmd_up(args: argparse.Namespace, out: Output) -> int:
    from devenv.core.migrations import run_on_up
    from devenv.core.stack import up

    stack = args.ctx_stack = load_stack(args, out)
    switching = _check_switch(args, out, stack)
    renderer = UpRenderer(out, live=out.err_tty and not args.json)
    out.info(
        out.bold(f"devenv up: project {stack.name}, profile {stack.profile.name}")
        + out.dim(f" ({', '.join(stack._rel(f) for f in stack.profile.compose_files)})")
    )
    if stack.endpoint.source != "default":
        out.info(out.dim(f"engine: {stack.endpoint.describe()}"))
    try:
        result: UpResult = up(
            stack,
            args.services,
            build=args.build,
            timeout=args.timeout,
            emit=renderer,
            force_recreate=switching or args.force_recreate,
            after_ready=run_on_up,
            no_deps=args.no_deps,
        )
    finally:
        renderer.close()
    report_up(out, stack, result)
    if args.json:
        out.json(up_document(result))
    args.quick_exit = True  # reported; what may still run is a fast check's exec (see devenv.cli.main.console)
    return int(OUTCOME_EXIT[result.outcome])


def up_document(result: UpResult) -> dict[str, Any]:
    """The ``--json`` document of ``up`` (and of the health-gated actions: start, restart...)."""
    failures = {f.service: f for f in result.failures}
    services = []
    for s in result.services:
        item = s.to_json()
        if s.service in failures:
            item["failure"] = failures[s.service].to_json()
        services.append(item)
    error = None
    if not result.ok:
        error = {"kind": result.outcome, "message": summary(result)}
    return {
        "project": result.project,
        "profile": result.profile,
        "ok": result.ok,
        "outcome": result.outcome,
        "elapsed": round(result.elapsed, 3),
        "services": services,
        "error": error,
    }


def summary(result: UpResult) -> str:
    if result.outcome == "ready":
        return f"all {len(result.services)} services ready in {result.elapsed:.1f}s"
    if result.outcome == "timeout":
        names = ", ".join(f.service for f in result.failures)
        return f"timed out after {result.elapsed:.0f}s waiting for: {names}"
    if result.outcome == "interrupted":
        waiting = [s.service for s in result.services if not s.ready]
        return "stopped waiting (interrupted); not ready yet: " + (", ".join(waiting) or "none")
    names = ", ".join(f"{f.service} ({f.reason})" for f in result.failures)
    return f"service failed: {names}"


def report_up(out: Output, stack: Any, result: UpResult) -> None:
    engine = getattr(stack, "endpoint", None)
    if result.ok:
        out.info(out.green(f"✔ {summary(result)} (profile {result.profile})"))
        for s in result.services:
            if s.ports:
                out.info(out.dim(f"  {s.service}: {', '.join(port_text(p, engine) for p in s.ports)}"))
        unreachable_ports(out, list(result.services), engine)
        return
    for failure in result.failures:
        render_failure(out, failure)
    if result.outcome == "interrupted":
        out.info(out.yellow("devenv: stopped waiting (Ctrl-C). Containers keep running as they are:"))
        for s in result.services:
            out.info(f"  {s.service}: {s.state}, health {s.health.value}" + ("" if s.ready else " (not ready)"))
        out.info(f"Run `devenv down --profile {result.profile}` to stop them, or `devenv status` to look again.")
        return
    out.info(out.red("devenv: ") + summary(result))
    first = result.failures[0].service if result.failures else None
    if first:
        out.info(f"Full logs: devenv logs {first} --profile {result.profile}")


def render_failure(out: Output, f: Failure) -> None:
    """The failure as :meth:`Failure.report` words it (the TUI's Details view shows the same lines)."""
    for kind, lead, text in f.report():
        if kind == "title":
            out.info(out.red(lead + text))
        elif kind == "log":
            out.info(out.dim(lead) + text)
        else:
            out.info(lead + text)


# -------------------------------------------------------------------------------------- status
def cmd_status(args: argparse.Namespace, out: Output) -> int:
    stack = load_stack(args, out, running="follow")
    running = args.ctx_running
    if args.services:
        check_declared(stack, args.services)
    if getattr(args, "follow", False):
        from devenv.cli.follow_cmds import follow

        return follow(args, out, stack)
    statuses: list[ServiceStatus] = stack.status(args.services or None)
    args.quick_exit = True  # read-only, nothing to clean up (see devenv.cli.main.console)
    engine = stack.endpoint
    if args.json:
        out.json(
            {
                "project": stack.name,
                "profile": stack.profile.name,
                "engine": engine.to_json(),
                "running_profile": running.name if running else None,
                "running_profiles": list(running.profiles) if running else [],
                "ok": all(s.ready for s in statuses),
                "services": [
                    {
                        **s.to_json(),
                        "addresses": addresses(s, engine),
                        "uptime_seconds": round(time.time() - s.started_at, 1) if s.started_at else None,
                    }
                    for s in statuses
                ],
                "error": None,
            }
        )
        return 0
    rows = []
    for s in statuses:
        rows.append(
            [
                s.service,
                s.state + (f" ({s.exit_code})" if s.exit_code not in (None, 0) else ""),
                s.health.value if s.health.value != "none" else "-",
                ", ".join(port_text(p, engine) for p in s.ports) or "-",
                uptime(s.started_at),
                s.detail,
            ]
        )
    text = table(rows, ["SERVICE", "STATE", "HEALTH", "PORTS", "UPTIME", "DETAIL"])
    lines = text.splitlines()
    out.print(out.bold(lines[0]))
    for s, line in zip(statuses, lines[1:], strict=True):
        paint = out.green if s.ready else (out.dim if s.state == "missing" else out.red)
        out.print(paint(line) if out.out_tty else line)
    started = f", started with profile {running.describe()}" if running else ""
    out.info(out.dim(f"project {stack.name}, profile {stack.profile.name}{started}, engine {engine.describe()}"))
    unreachable_ports(out, statuses, engine)
    if running and stack.profile.name not in running.profiles:
        out.info(out.yellow(f"note: these containers were started with profile {running.describe()}, not this one."))
    return 0


def check_declared(stack: Any, services: list[str]) -> None:
    """Unknown service names are a usage error; a named service of an inactive Compose profile is
    enabled first, as Compose does (``Stack.enable_services``)."""
    from devenv.core.compose.model import check_services

    stack.enable_services(services)
    known = stack.service_names()
    if known:
        check_services(services, known)


# ---------------------------------------------------------------------------------------- logs
def cmd_logs(args: argparse.Namespace, out: Output) -> int:
    from devenv.core.logs import LogFollower, LogNotice, recent_logs

    stack = load_stack(args, out, running="follow")
    if args.services:
        check_declared(stack, args.services)
    palette = ["36", "33", "35", "32", "34", "91", "96", "93"]
    colors: dict[str, str] = {}
    width = max([len(s) for s in (args.services or stack.service_names())] or [8])

    def emit(service: str, text: str, ts: str) -> None:
        code = colors.setdefault(service, palette[len(colors) % len(palette)])
        prefix = out.style(f"{service.ljust(width)} |", code)
        stamp = f"{ts} " if args.timestamps and ts else ""
        out.out.write(f"{prefix} {stamp}{text}\n")

    if not args.follow:
        try:
            for line in recent_logs(stack.api, stack.name, args.services or None, tail=args.tail):
                emit(line.service, line.text, line.timestamp)
            out.out.flush()
        except BrokenPipeError:  # `devenv logs | head`: the reader had enough; the logs were fine
            out.discard_stdout()
        return 0
    follower = LogFollower(stack.api, stack.name, args.services or None, tail=args.tail)
    try:
        for item in follower:
            if isinstance(item, LogNotice):  # the stream was lost or is back: on stderr, not in the logs
                out.info(out.yellow(f"devenv: {item.text}"))
                continue
            emit(item.service, item.text, item.timestamp)
            out.out.flush()
    except KeyboardInterrupt:
        pass
    except BrokenPipeError:  # `devenv logs -f | head`: stop following
        out.discard_stdout()
    finally:
        follower.close()
    return 0


# ---------------------------------------------------------------------------------------- down
def _tty_ask(out: Output) -> Callable[[str], str] | None:
    """A prompt on the terminal, or None when there is none (scripts use --yes --confirm-profile)."""
    if not (sys.stdin.isatty() and out.err_tty):
        return None

    def ask(prompt: str) -> str:
        out.err.write(prompt)
        out.err.flush()
        return sys.stdin.readline()

    return ask


def confirm(args: argparse.Namespace, out: Output, stack: Any, action: str) -> None:
    """Confirmation for a destructive operation: typed on a TTY, else ``--yes --confirm-profile``."""
    from devenv.core.safety import confirm_destructive

    ask = _tty_ask(out)
    from devenv.core.running import protection, running_profile

    running = getattr(args, "ctx_running", None)
    guard = protection(stack, running if running is not None else running_profile(stack))
    if guard.reason:
        out.info(out.yellow(f"note: {guard.reason}."))
    confirm_destructive(
        guard.profile,
        guard.protected,
        action,
        yes=args.yes,
        confirm_profile=args.confirm_profile,
        ask=ask,
    )


def cmd_down(args: argparse.Namespace, out: Output) -> int:
    stack = load_stack(args, out, running="follow")
    if args.volumes:
        confirm(args, out, stack, "remove the volumes of project " + stack.name)

    def emit(event: Event) -> None:
        from devenv.core.events import ComposeOutput

        if isinstance(event, ComposeOutput):
            out.info(out.dim(f"  compose: {event.line}"))

    stack.down(volumes=args.volumes, timeout=args.timeout, emit=emit)
    what = "stopped and removed containers" + (" and volumes" if args.volumes else "")
    out.info(out.green(f"✔ {what} of project {stack.name} (profile {stack.profile.name})"))
    return 0
