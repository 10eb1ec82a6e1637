"""Database migrations and seeding: resolve the commands, run them in a service, stream their output.

The CLI (``devenv migrate``) and the TUI drive exactly these functions:

- :func:`resolve_migrations` turns ``[migrations]`` (project + profile) into a :class:`MigrationPlan`:
  which service, which mode (``exec`` in the running container, or a one-off ``run --rm``), which
  tool and which shell commands. Absent keys come from a tool preset (alembic / django); an absent
  ``tool`` is detected from ``alembic.ini`` / ``manage.py`` in the project root and in the build
  contexts and bind-mounted folders of the services; an absent ``service`` is the service whose
  build context or bind mounts hold that file.
- :func:`migrate_up`, :func:`migrate_down`, :func:`migrate_status`, :func:`migrate_new` and
  :func:`run_seed` first make sure the database service is healthy (and, in ``exec`` mode, that the
  migrations service runs), starting them through :func:`devenv.core.stack.up` when needed, then
  run the command with ``sh -c`` inside the container and stream each output line as a
  :class:`~devenv.core.events.MigrationOutput` event. They return a :class:`MigrationResult`; a non-zero exit code is a
  result, not an exception.
- :func:`run_on_up` is the ``after_ready`` step ``devenv up`` gives :func:`devenv.core.stack.up`:
  :func:`maybe_run_on_up` once the stack is ready.

Placeholders: ``{steps}`` (a positive integer) and ``{message}`` (shell-quoted with
:func:`shlex.quote`, so a hostile message is one literal argument and never runs). Other braces in
a command are left alone (``${VAR}`` stays for the container's shell).

Secrets: events, results and error messages carry the configured command string (placeholders
filled) and the command's output masked by :class:`devenv.core.secrets.Masker` built from the
compose config (the product-wide rule: secret-named variables, URL passwords, tokens, inline
``--password=...``). Environment values are never emitted.
"""

from __future__ import annotations

import re
import shlex
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

from devenv.core.events import Emit, MigrationFinished, MigrationOutput, MigrationStarted, MigrationWaiting, StepStarted
from devenv.core.models import Failure, Health, UpResult
from devenv.core.secrets import MASK, Masker
from devenv.errors import (
    ConfigError,
    DockerUnavailableError,
    ServiceFailedError,
    UnknownServiceError,
    UsageError,
    WaitInterrupted,
    WaitTimeoutError,
)

if TYPE_CHECKING:
    from devenv.config import MigrationsConfig
    from devenv.core.compose.model import ComposeModel
    from devenv.core.stack import Stack

__all__ = [
    "ACTIONS",
    "MASK",
    "PRESETS",
    "TAIL_LINES",
    "MigrationCommands",
    "MigrationPlan",
    "MigrationResult",
    "command_for",
    "detect_tool_and_service",
    "ensure_services",
    "format_command",
    "maybe_run_on_up",
    "migrate_down",
    "migrate_new",
    "migrate_status",
    "migrate_up",
    "plan_from_config",
    "resolve_migrations",
    "run_on_up",
    "run_seed",
    "shell_argv",
    "slugify_identifier",
]

#: The four migration actions, which are also the ``[migrations]`` keys holding their commands.
ACTIONS = ("upgrade", "downgrade", "status", "new")
#: How many output lines a :class:`MigrationResult` keeps.
TAIL_LINES = 20


# (stream name, bytes) chunks, and a function giving the exit code once they are consumed.
_Stream = tuple[Iterator[tuple[str, bytes]], Callable[[], int]]


# -------------------------------------------------------------------------------------- data model
@dataclass(frozen=True)
class MigrationCommands:
    """Shell command templates per action; ``None`` when neither configured nor given by the preset."""

    upgrade: str | None = None
    downgrade: str | None = None
    status: str | None = None
    new: str | None = None

    @overload
    def get(self, action: str) -> str | None: ...
    @overload
    def get(self, action: str, default: str) -> str: ...

    def get(self, action: str, default: str | None = None) -> str | None:
        """The command for ``action`` (a key of :data:`ACTIONS`), or ``default`` when unset."""
        if action not in ACTIONS:
            raise ValueError(f"unknown migration action {action!r}")
        value: str | None = getattr(self, action)
        return default if value is None else value


@dataclass(frozen=True)
class MigrationPlan:
    """Where and how migration commands run, after config, presets and detection."""

    service: str
    mode: str  # "exec" | "run"
    tool: str  # "alembic" | "django" | "custom"
    commands: MigrationCommands
    notes: tuple[str, ...] = ()  # how the tool / service were found, for display


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


#: Tool presets. ``None`` means the tool cannot express that action: it must be configured.
PRESETS: Mapping[str, MigrationCommands] = {
    "alembic": MigrationCommands(
        upgrade="alembic upgrade head",
        downgrade="alembic downgrade -{steps}",
        status="alembic current",
        new="alembic revision -m {message}",
    ),
    "django": MigrationCommands(
        upgrade="python manage.py migrate",
        downgrade=None,  # Django migrates to a named migration per app, not N steps back
        status="python manage.py showmigrations",
        new="python manage.py makemigrations --name {message}",
    ),
    "custom": MigrationCommands(),
}

# Marker file -> tool, in detection preference order.
_MARKERS = (("alembic.ini", "alembic"), ("manage.py", "django"))
_TOOL_MARKER = {tool: marker for marker, tool in _MARKERS}


# ---------------------------------------------------------------------------------- resolution
def resolve_migrations(stack: Stack) -> MigrationPlan:
    """The migration plan of the stack's profile (``[migrations]`` plus presets and detection).

    Raises :class:`ConfigError` when the tool or the service cannot be determined, and
    :class:`UnknownServiceError` when the configured service is not in the profile's compose files.
    """
    return plan_from_config(stack.profile.migrations, stack.model, stack.project.root, profile=stack.profile.name)


def plan_from_config(config: MigrationsConfig, model: ComposeModel, root: Path, *, profile: str = "") -> MigrationPlan:
    """Pure resolution (no Docker): ``config`` first, then the tool preset, then detection."""
    notes: list[str] = []
    service = config.service
    if service is not None:
        _check_service(service, model, "[migrations] service", profile)
    tool = config.tool
    configured = MigrationCommands(
        upgrade=config.upgrade, downgrade=config.downgrade, status=config.status, new=config.new
    )

    if tool is None or service is None:
        found_tool, found_service, why = detect_tool_and_service(model.raw, root, tool=tool, service=service)
        if found_tool is None and service is not None:
            # The configured service's folders say nothing: the tool may still show elsewhere.
            found_tool, _, why = detect_tool_and_service(model.raw, root, tool=tool)
        if tool is None:
            if found_tool is not None:
                tool = found_tool
                notes.append(f"tool {tool}: {why}")
            elif any(configured.get(a) for a in ACTIONS):
                tool = "custom"
                notes.append("tool custom: no alembic.ini or manage.py found; using the configured commands")
            else:
                raise ConfigError(
                    "cannot tell which migration tool this project uses: no alembic.ini or manage.py in the "
                    "project root, nor in the build contexts or bind-mounted folders of its services",
                    key="migrations.tool",
                    hint='Set [migrations] tool = "alembic" | "django" | "custom" in devenv.toml '
                    "(custom needs upgrade, downgrade, status and new commands).",
                )
        if service is None:
            if found_service is None:
                where = f" ({why})" if why else ""
                raise ConfigError(
                    f"cannot tell which service runs the migrations{where}: no service has the "
                    f"{_TOOL_MARKER.get(tool, 'migration files')} in its build context or bind mounts",
                    key="migrations.service",
                    hint='Set [migrations] service = "<service>" in devenv.toml (the service whose container '
                    "has your migration tool and code).",
                )
            service = found_service
            notes.append(f"service {service}: {why}")

    if tool not in PRESETS:
        raise ConfigError(f"[migrations] tool {tool!r} is not one of {', '.join(PRESETS)}", key="migrations.tool")
    preset = PRESETS[tool]
    commands = MigrationCommands(**{a: configured.get(a) or preset.get(a) for a in ACTIONS})
    return MigrationPlan(service=service, mode=config.mode, tool=tool, commands=commands, notes=tuple(notes))


def _check_service(service: str, model: ComposeModel, what: str, profile: str) -> None:
    if service in model.services:
        return
    import difflib

    known = sorted(model.services)
    close = difflib.get_close_matches(service, known, n=1)
    hint = f' Did you mean "{close[0]}"?' if close else ""
    where = f" of profile {profile}" if profile else ""
    raise UnknownServiceError(
        f'{what} "{service}" is not a service{where}.{hint} Services: {", ".join(known) or "none"}.',
        hint="Fix the service name in devenv.toml (or the profile file).",
    )


def _service_dirs(spec: Mapping[str, Any]) -> list[tuple[Path, str]]:
    """(host path, how) pairs: the build context and bind-mount sources of one compose service."""
    out: list[tuple[Path, str]] = []
    build = spec.get("build")
    context = build.get("context") if isinstance(build, Mapping) else build if isinstance(build, str) else None
    if isinstance(context, str) and context.startswith("/"):
        out.append((Path(context), "build context"))
    for volume in spec.get("volumes") or ():
        if isinstance(volume, Mapping) and volume.get("type") == "bind":
            source = volume.get("source")
            if isinstance(source, str) and source.startswith("/"):
                out.append((Path(source), "bind mount"))
    return out


def _has_marker(path: Path, marker: str) -> Path | None:
    """``path/marker`` when it is a file, or ``path`` itself when it is the marker file (a file mount)."""
    try:
        if path.name == marker and path.is_file():
            return path
        candidate = path / marker
        if candidate.is_file():
            return candidate
    except OSError:
        return None
    return None


def _display(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def detect_tool_and_service(
    raw: Mapping[str, Any], root: Path, *, tool: str | None = None, service: str | None = None
) -> tuple[str | None, str | None, str]:
    """Find the migration tool and the service that holds it.

    ``raw`` is ``docker compose config --format json``. Looks for ``alembic.ini`` / ``manage.py``
    (only the known tool's marker when ``tool`` is given) in each service's build context and bind
    mount sources (just ``service``'s when given), then in the project ``root``. Returns
    ``(tool, service, why)``; either may be ``None`` when not found. When several services hold the
    file, one with a build context wins, then one publishing ports or with a healthcheck (a server
    rather than a one-shot), then the first in compose order.
    """
    markers = [(m, t) for m, t in _MARKERS if tool is None or t == tool]
    services_raw = raw.get("services") or {}
    for marker, marker_tool in markers:
        hits: list[tuple[str, str, Path]] = []
        for name, spec in services_raw.items():
            if not isinstance(spec, Mapping) or (service is not None and name != service):
                continue
            for folder, how in _service_dirs(spec):
                found = _has_marker(folder, marker)
                if found is not None:
                    hits.append((str(name), how, found))
                    break
        if hits:
            name, how, found = _pick(hits, services_raw)
            return marker_tool, name, f"{_display(found, root)} is in the {how} of service {name}"
        at_root = _has_marker(root, marker)
        if at_root is not None:
            return marker_tool, None, f"{marker} found in the project root"
    return None, None, ""


def _pick(hits: list[tuple[str, str, Path]], services_raw: Mapping[str, Any]) -> tuple[str, str, Path]:
    def rank(hit: tuple[str, str, Path]) -> tuple[int, int]:
        spec = services_raw.get(hit[0]) or {}
        server = bool(spec.get("ports")) or bool((spec.get("healthcheck") or {}).get("test"))
        return (0 if hit[1] == "build context" else 1, 0 if server else 1)

    return min(hits, key=rank)  # min is stable: compose order breaks ties


# -------------------------------------------------------------------------------- placeholders
def slugify_identifier(message: str) -> str:
    """A Django-style migration name from a free-text message: ``"Add due date!"`` -> ``add_due_date``."""
    slug = re.sub(r"[^0-9a-zA-Z]+", "_", message).strip("_").lower()
    if not slug:
        raise UsageError(f"the migration message {message!r} has no letters or digits to build a migration name from")
    if slug[0].isdigit():
        slug = f"migration_{slug}"
    return slug


def format_command(template: str, *, steps: int | None = None, message: str | None = None) -> str:
    """Fill ``{steps}`` and ``{message}`` in a command template; nothing else is interpreted.

    ``message`` is shell-quoted (one literal argument for ``sh -c``). When the template has no
    ``{message}``, the quoted message is appended as the last argument.
    """
    command = template
    if steps is not None:
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise UsageError(f"the number of steps must be a positive integer, got {steps!r}")
        if "{steps}" in command:
            command = command.replace("{steps}", str(steps))
        elif steps != 1:
            raise UsageError(
                f"the downgrade command {template!r} has no {{steps}} placeholder, so it cannot go back "
                f"{steps} steps; run it without a step count"
            )
    if message is not None:
        quoted = shlex.quote(message)
        command = command.replace("{message}", quoted) if "{message}" in command else f"{command} {quoted}"
    return command


def command_for(plan: MigrationPlan, action: str, *, steps: int | None = None, message: str | None = None) -> str:
    """The shell command for ``action`` in ``plan``, placeholders filled; UsageError when unavailable."""
    template = plan.commands.get(action)
    if not template:
        if plan.tool == "django" and action == "downgrade":
            raise UsageError(
                "Django migrations cannot be rolled back by a number of steps: Django migrates each app "
                "to a named migration",
                hint='Configure [migrations] downgrade = "python manage.py migrate <app> <migration>" in '
                "devenv.toml, or run that command yourself.",
            )
        raise UsageError(
            f"no {action} command for migration tool {plan.tool!r}: [migrations] {action} is not configured",
            hint=f'Set [migrations] {action} = "..." in devenv.toml (or the profile file).',
        )
    if action == "new":
        if message is None or not message.strip():
            raise UsageError('a new migration needs a message, e.g. devenv migrate new "add due date"')
        if plan.tool == "django":
            message = slugify_identifier(message)
    return format_command(template, steps=steps if action == "downgrade" else None, message=message)


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
        _check_service(name, stack.model, "[database] service", stack.profile.name)
    return name


def ensure_services(stack: Stack, service: str, *, mode: str, db_service: str | None, emit: Emit) -> None:
    """Make sure ``db_service`` is ready (healthy) and, in exec mode, ``service`` is running.

    Starts what is missing through :func:`devenv.core.stack.up` (which also starts dependencies
    and waits on healthchecks). Raises a :class:`ServiceFailedError` subclass naming the service
    that failed and why (``result`` holds the :class:`UpResult`), or when the service does not
    stay running (a one-shot service cannot host ``exec``).
    """
    from devenv.core.stack import up

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
    state = {"code": 0}

    def chunks() -> Iterator[tuple[str, bytes]]:
        from python_on_whales.exceptions import DockerException

        try:
            stream: Iterable[tuple[str, bytes]] = stack.compose.compose.run(
                service,
                shell_argv(command),
                remove=True,
                dependencies=False,
                tty=False,
                stream=True,
            )
            yield from stream
        except DockerException as exc:
            text = exc.stderr or ""
            if "Cannot connect to the Docker daemon" in text:
                raise DockerUnavailableError(f"Cannot reach the Docker engine: {text.strip()}") from None
            state["code"] = int(exc.return_code) or 1
        except FileNotFoundError as exc:
            raise DockerUnavailableError(
                f'The docker CLI was not found ({exc}); devenv runs `docker compose run` for mode = "run".',
                hint="Install the Docker CLI and the Compose v2 plugin.",
            ) from None

    return chunks(), lambda: state["code"]


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
        _check_service(service, stack.model, "[seed] service", stack.profile.name)
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
