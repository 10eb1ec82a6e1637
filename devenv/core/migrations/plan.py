"""Migration plans: which service, mode, tool and commands, from ``[migrations]``, presets and detection.

:func:`resolve_migrations` turns ``[migrations]`` (project + profile) into a :class:`MigrationPlan`.
Absent keys come from a tool preset (alembic / django); an absent ``tool`` is detected from
``alembic.ini`` / ``manage.py`` in the project root and in the build contexts and bind-mounted
folders of the services; an absent ``service`` is the service whose build context or bind mounts
hold that file. :func:`command_for` fills the placeholders of a command (``{steps}``,
``{message}``, shell-quoted).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

from devenv.errors import ConfigError, UnknownServiceError, UsageError

if TYPE_CHECKING:
    from devenv.config import MigrationsConfig
    from devenv.core.compose.model import ComposeModel
    from devenv.core.stack import Stack

#: The four migration actions, which are also the ``[migrations]`` keys holding their commands.
ACTIONS = ("upgrade", "downgrade", "status", "new")


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
        check_config_service(service, model, "[migrations] service", profile)
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


def check_config_service(service: str, model: ComposeModel, what: str, profile: str) -> None:
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
