"""Load a project's configuration: ``devenv.toml`` + ``profiles/*.toml``, or zero-config detection.

Everything here is plain data (frozen dataclasses) and cheap to import: no Docker, no UI.
Problems are reported as :class:`~devenv.errors.ConfigError` with the file (``path``), the
dotted key (``key``) and, for TOML syntax errors, the line (``line``).

Discovery: the project root is the nearest folder from the start folder upward holding a
``devenv.toml``; when there is none anywhere up to ``/``, the nearest folder holding a compose
file (zero-config mode, which derives profiles from the compose files found there).
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from devenv.errors import ConfigError, UnknownProfileError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = [
    "COMPOSE_FILE_NAMES",
    "COMPOSE_OVERRIDE_FILE_NAMES",
    "CONFIG_FILE_NAME",
    "MAX_PROJECT_NAME",
    "MAX_SECONDS",
    "DatabaseConfig",
    "MigrationsConfig",
    "Probe",
    "Profile",
    "Project",
    "Readiness",
    "SeedConfig",
    "find_project_root",
    "load_project",
    "normalize_project_name",
    "seconds_problem",
]

CONFIG_FILE_NAME = "devenv.toml"

# Compose's own preference order (compose-go's DefaultFileNames / DefaultOverrideFileNames).
COMPOSE_FILE_NAMES = ("compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml")
COMPOSE_OVERRIDE_FILE_NAMES = (
    "compose.override.yml",
    "compose.override.yaml",
    "docker-compose.override.yml",
    "docker-compose.override.yaml",
)

DEFAULT_PROFILE = "default"
DATABASE_ENGINES = ("postgres", "mysql", "mariadb")
MIGRATION_MODES = ("exec", "run")
MIGRATION_TOOLS = ("alembic", "django", "custom")

# Profiles that are protected by default in zero-config mode.
_PROTECTED_BY_DEFAULT = frozenset({"prod", "production"})
# Zero-config: the long form of a profile's env file, loaded after ``.env.<name>``.
_LONG_ENV_NAMES = {"dev": "development", "prod": "production"}

_PROFILE_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_BARE_KEY_RE = re.compile(r"[A-Za-z0-9_-]+")
_OVERLAY_RE = re.compile(r"(docker-compose|compose)\.(.+)\.(yaml|yml)")
_TOML_LOCATION_RE = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")
_TOML_END_RE = re.compile(r"\s*\(at end of document\)\s*$")
_PROJECT_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_-")

# The upper bound of every timeout and interval (config and command line): 24 h.
MAX_SECONDS = 86400
# Compose accepts longer project names, but they end up in container, network, volume and image
# names, where the engine's and the file system's limits (255) are near.
MAX_PROJECT_NAME = 100

# Allowed keys, in the order they are listed in error messages.
_TOP_KEYS = ("project", "readiness", "probes", "database", "migrations", "seed", "profiles")
_PROJECT_KEYS = ("name", "compose_files", "env_files", "default_profile", "profiles_dir")
_PROFILE_KEYS = (
    "description",
    "compose_files",
    "env_files",
    "protected",
    "readiness",
    "probes",
    "database",
    "migrations",
    "seed",
)
_READINESS_KEYS = ("timeout", "settle")
_PROBE_KEYS = ("tcp", "http", "cmd", "interval", "timeout")
_DATABASE_KEYS = ("service", "engine", "name", "user", "password")
_MIGRATIONS_KEYS = ("service", "mode", "tool", "upgrade", "downgrade", "status", "new", "run_on_up")
_SEED_KEYS = ("service", "command")


# --------------------------------------------------------------------------------------------
# Public data model
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Probe:
    """An extra readiness check for one service, from ``[probes.<service>]``.

    Exactly one of ``tcp`` (a container port), ``http`` (a URL fetched from the host; 2xx/3xx
    means ready) or ``cmd`` (argv run inside the container; exit 0 means ready) is set.
    """

    service: str
    tcp: int | None = None
    http: str | None = None
    cmd: tuple[str, ...] | None = None
    interval: float = 0.5
    timeout: float = 2.0

    @property
    def kind(self) -> str:
        """``"tcp"``, ``"http"`` or ``"cmd"``."""
        if self.tcp is not None:
            return "tcp"
        if self.http is not None:
            return "http"
        return "cmd"


@dataclass(frozen=True)
class Readiness:
    """``[readiness]``: ``timeout`` is the default for ``devenv up --timeout``; a service with no
    healthcheck and no probe is ready once it has run ``settle`` seconds without exiting."""

    timeout: float = 120.0
    settle: float = 1.5


@dataclass(frozen=True)
class DatabaseConfig:
    """``[database]``."""

    service: str | None = None
    engine: str | None = None
    name: str | None = None
    user: str | None = None
    password: str | None = None


@dataclass(frozen=True)
class MigrationsConfig:
    """``[migrations]``."""

    service: str | None = None
    mode: str = "exec"
    tool: str | None = None
    upgrade: str | None = None
    downgrade: str | None = None
    status: str | None = None
    new: str | None = None
    run_on_up: bool = False


@dataclass(frozen=True)
class SeedConfig:
    """``[seed]``."""

    service: str | None = None
    command: str | None = None


@dataclass(frozen=True)
class Profile:
    """One way to run the project: which compose files and env files, and its settings.

    ``compose_files`` and ``env_files`` are absolute, in the order they are applied (later wins).
    ``source`` is the file that defined the profile, ``None`` when detected (zero-config).
    """

    name: str
    description: str
    compose_files: tuple[Path, ...]
    env_files: tuple[Path, ...]
    protected: bool
    probes: Mapping[str, Probe]
    readiness: Readiness
    database: DatabaseConfig
    migrations: MigrationsConfig
    seed: SeedConfig
    source: Path | None


@dataclass(frozen=True)
class Project:
    """A loaded project. ``profiles`` keeps ``"default"`` first, then the others sorted by name."""

    root: Path
    name: str
    config_file: Path | None
    default_profile: str | None
    profiles: Mapping[str, Profile]
    zero_config: bool

    def files_outside_root(self, profile: Profile | None = None) -> list[tuple[str, Path]]:
        """``(kind, path)`` of the compose and env files outside the project root, each once.

        ``kind`` is ``"compose file"`` or ``"env file"``; ``profile`` limits them to one profile's
        files. Legitimate (a monorepo's shared files), but worth a warning: the project folder
        alone no longer describes the stack.
        """
        found: dict[Path, str] = {}
        for p in [profile] if profile is not None else list(self.profiles.values()):
            for kind, paths in (("compose file", p.compose_files), ("env file", p.env_files)):
                for path in paths:
                    if path not in found and not _is_below(path, self.root):
                        found[path] = kind
        return [(kind, path) for path, kind in found.items()]

    def resolve_profile(self, requested: str | None = None, environ: Mapping[str, str] | None = None) -> Profile:
        """Pick the profile to use.

        Precedence: ``requested`` (``--profile``), else ``DEVENV_PROFILE`` from ``environ``
        (default ``os.environ``; an empty value counts as unset), else ``default_profile``, else
        ``"dev"`` when it exists, else ``"default"``.
        """
        env = os.environ if environ is None else environ
        origin = ""
        key: str | None = None
        if requested is not None:
            name = requested
        elif env.get("DEVENV_PROFILE"):
            name = env["DEVENV_PROFILE"]
            origin = " (from DEVENV_PROFILE)"
            key = "DEVENV_PROFILE"
        elif self.default_profile is not None:
            name = self.default_profile
            origin = " (project.default_profile)"
            key = "project.default_profile"
        elif "dev" in self.profiles:
            name = "dev"
        else:
            name = DEFAULT_PROFILE
        profile = self.profiles.get(name)
        if profile is not None:
            return profile
        available = list(self.profiles)
        raise UnknownProfileError(
            f"unknown profile {_q(name)}{origin}{_did_you_mean(name, available)}; available: {', '.join(available)}",
            path=str(self.config_file) if self.config_file is not None else None,
            key=key,
            hint="Pick one of the available profiles with --profile NAME.",
        )


# --------------------------------------------------------------------------------------------
# Public functions
# --------------------------------------------------------------------------------------------


def normalize_project_name(name: str) -> str:
    """Compose's rule: lowercase, keep only ``[a-z0-9_-]``, drop leading ``_``/``-``.

    Raises :class:`ConfigError` when nothing usable is left.
    """
    normalized = _normalize_or_none(name)
    if normalized is None:
        raise ConfigError(
            f"project name {_q(name)} has no usable characters: a Compose project name needs "
            "lowercase letters, digits, '_' or '-', starting with a letter or digit"
        )
    too_long = _name_too_long(normalized)
    if too_long is not None:
        raise ConfigError(f"project name {_q(name)} {too_long}")
    return normalized


def seconds_problem(value: float, *, zero_ok: bool = False) -> str | None:
    """Why ``value`` is not a usable number of seconds, or ``None`` when it is.

    Usable: finite, greater than 0 (or equal with ``zero_ok``) and at most :data:`MAX_SECONDS`,
    so that a deadline built from it stays within the clock's and ``select()``'s range.
    """
    if not math.isfinite(value):
        return f"must be a finite number {'of 0 or more' if zero_ok else 'greater than 0'}"
    if value < 0 or (value == 0 and not zero_ok):
        return f"must be a number {'of 0 or more' if zero_ok else 'greater than 0'}"
    if value > MAX_SECONDS:
        return f"must be at most {MAX_SECONDS} seconds (24 h)"
    return None


def find_project_root(start: Path) -> Path:
    """The nearest folder from ``start`` upward with a ``devenv.toml``, else with a compose file."""
    return _discover(_absolute(start))[0]


def load_project(start: Path | None = None, environ: Mapping[str, str] | None = None) -> Project:
    """Discover the project from ``start`` (default: the current folder) and load it.

    ``environ`` (default ``os.environ``) is only consulted for ``COMPOSE_PROJECT_NAME`` in
    zero-config mode.
    """
    env = os.environ if environ is None else environ
    if start is None:
        try:
            start = Path.cwd()
        except OSError as exc:
            raise ConfigError(
                f"cannot read the current folder: {exc.strerror or exc}",
                hint="cd into your project folder and try again.",
            ) from None
    if _kind(_absolute(start)) is None:
        # Discovery would quietly walk up from a folder that is not there (`devenv -C typo status`).
        raise ConfigError(
            f"{start} does not exist (or cannot be read)",
            path=str(_absolute(start)),
            hint="Give an existing project folder with -C / --project-dir.",
        )
    root, config_file = _discover(_absolute(start))
    if config_file is not None:
        return _load_configured(root, config_file)
    return _load_zero_config(root, env)


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------


def _q(text: str, limit: int = 80) -> str:
    """Quote a user-supplied string for a one-line message (control characters escaped)."""
    if len(text) > limit:
        text = text[:limit] + "..."
    return json.dumps(text, ensure_ascii=False)


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    import difflib

    matches = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {_q(matches[0])}?)" if matches else ""


def _dotted(parts: Sequence[str]) -> str:
    return ".".join(p if _BARE_KEY_RE.fullmatch(p) else _q(p, limit=200) for p in parts)


def _absolute(path: Path) -> Path:
    return Path(os.path.normpath(os.path.abspath(path)))


def _kind(path: Path) -> str | None:
    """``"file"``, ``"dir"``, ``"other"``, or ``None`` when it does not exist or cannot be stat'ed."""
    try:
        st = path.stat()
    except (OSError, ValueError):
        return None
    if stat.S_ISREG(st.st_mode):
        return "file"
    if stat.S_ISDIR(st.st_mode):
        return "dir"
    return "other"


def _is_file(path: Path) -> bool:
    return _kind(path) == "file"


def _is_below(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
    except ValueError:
        return False
    return True


def _display(path: Path, root: Path) -> str:
    try:
        rel = os.path.relpath(path, root)
    except ValueError:
        return str(path)
    return Path(rel).as_posix()


def _normalize_or_none(name: str) -> str | None:
    kept = "".join(c for c in name.lower() if c in _PROJECT_NAME_CHARS).lstrip("_-")
    return kept or None


def _name_too_long(name: str) -> str | None:
    """Why a normalized project name is too long, or ``None``."""
    if len(name) <= MAX_PROJECT_NAME:
        return None
    return (
        f"is {len(name)} characters long; devenv allows at most {MAX_PROJECT_NAME} (it becomes part of "
        "container, network, volume and image names)"
    )


def _describe(value: object) -> str:
    """How a TOML value is shown in 'got ...' messages."""
    if isinstance(value, bool):
        return f"boolean {'true' if value else 'false'}"
    if isinstance(value, int):
        return f"integer {value}"
    if isinstance(value, float):
        return f"float {value}"
    if isinstance(value, str):
        return f"string {_q(value)}"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return f"{type(value).__name__} {value}"


def _first_existing(root: Path, names: Iterable[str]) -> Path | None:
    for name in names:
        candidate = root / name
        if _is_file(candidate):
            return candidate
    return None


# --------------------------------------------------------------------------------------------
# Discovery
# --------------------------------------------------------------------------------------------


def _discover(start: Path) -> tuple[Path, Path | None]:
    """Return ``(root, devenv.toml or None)``."""
    base = start if _kind(start) != "file" else start.parent
    folders = [base, *base.parents]
    for folder in folders:
        candidate = folder / CONFIG_FILE_NAME
        if _is_file(candidate):
            return folder, candidate
    for folder in folders:
        if _first_existing(folder, COMPOSE_FILE_NAMES) is not None:
            return folder, None
    raise ConfigError(
        f"no {CONFIG_FILE_NAME} or compose file ({', '.join(COMPOSE_FILE_NAMES)}) in {start} or any parent folder",
        path=str(start),
        hint="devenv needs a Docker Compose project: run it inside a folder that has a compose file "
        f"or a {CONFIG_FILE_NAME}.",
    )


# --------------------------------------------------------------------------------------------
# Reading TOML
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Src:
    """A configuration file being read: its absolute path and how messages name it."""

    path: Path
    display: str

    def error(
        self,
        message: str,
        key: Sequence[str] | None = None,
        *,
        line: int | None = None,
        hint: str | None = None,
    ) -> ConfigError:
        return ConfigError(
            f"{self.display}: {message}",
            path=str(self.path),
            key=_dotted(key) if key else None,
            line=line,
            hint=hint,
        )


def _printable_line(text: str, limit: int = 160) -> str:
    text = text.rstrip("\r\n")
    shown = "".join(c if c.isprintable() or c == "\t" else json.dumps(c, ensure_ascii=True)[1:-1] for c in text)
    return shown[:limit] + "..." if len(shown) > limit else shown


def _read_toml(src: _Src) -> dict[str, Any]:
    try:
        raw = src.path.read_bytes()
    except OSError as exc:
        raise src.error(f"cannot read the file: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line_no = raw.count(b"\n", 0, exc.start) + 1
        line_start = raw.rfind(b"\n", 0, exc.start) + 1
        raise src.error(
            f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} on line {line_no}, column {exc.start - line_start + 1})",
            line=line_no,
            hint="TOML files must be saved as UTF-8.",
        ) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _toml_error(src, text, exc) from None
    except RecursionError:
        raise src.error("the TOML is nested too deeply to be read") from None


def _toml_error(src: _Src, text: str, exc: tomllib.TOMLDecodeError) -> ConfigError:
    message = str(exc.args[0]) if exc.args else str(exc)
    lines = text.splitlines() or [""]
    line: int | None = None
    column: int | None = None
    match = _TOML_LOCATION_RE.search(message)
    if match is not None:
        line, column = int(match.group(1)), int(match.group(2))
        message = message[: match.start()]
    elif _TOML_END_RE.search(message) is not None:
        message = _TOML_END_RE.sub("", message)
        line = len(lines)
        message += " (at the end of the file)"
    if line is None:
        return src.error(f"invalid TOML: {message}")
    if column is not None:
        message += f" (column {column})"
    text_line = lines[line - 1] if 0 < line <= len(lines) else ""
    return ConfigError(
        f"{src.display}:{line}: {message}\n    {line} | {_printable_line(text_line)}",
        path=str(src.path),
        line=line,
    )


class _Table:
    """A TOML table being validated; ``parts`` is its dotted key from the top of the file."""

    def __init__(self, src: _Src, data: Mapping[str, Any], parts: tuple[str, ...]) -> None:
        self.src = src
        self.data = data
        self.parts = parts

    def key(self, name: str) -> tuple[str, ...]:
        return (*self.parts, name)

    def dotted(self, name: str) -> str:
        return _dotted(self.key(name))

    def error(self, name: str, message: str, *, hint: str | None = None) -> ConfigError:
        return self.src.error(message, self.key(name), hint=hint)

    def type_error(self, name: str, expected: str, value: object) -> ConfigError:
        return self.error(name, f"{self.dotted(name)} must be {expected}, got {_describe(value)}")

    def check_keys(self, allowed: Sequence[str]) -> None:
        for name in self.data:
            if name not in allowed:
                raise self.src.error(
                    f"unknown key {_q(self.dotted(name), limit=200)}{_did_you_mean(name, allowed)}; "
                    f"allowed: {', '.join(allowed)}",
                    self.key(name),
                )

    def string(self, name: str, *, nonempty: bool = False) -> str | None:
        value = self.data.get(name)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self.type_error(name, "a string", value)
        if nonempty and not value.strip():
            raise self.error(name, f"{self.dotted(name)} must not be empty")
        return value

    def choice(self, name: str, choices: Sequence[str]) -> str | None:
        value = self.string(name)
        if value is not None and value not in choices:
            raise self.error(
                name,
                f"{self.dotted(name)} must be one of {', '.join(choices)}, got {_q(value)}"
                f"{_did_you_mean(value, choices)}",
            )
        return value

    def boolean(self, name: str) -> bool | None:
        value = self.data.get(name)
        if value is None:
            return None
        if not isinstance(value, bool):
            raise self.type_error(name, "a boolean (true or false)", value)
        return value

    def positive_number(self, name: str) -> float | None:
        value = self.data.get(name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.type_error(name, "a number of seconds", value)
        problem = seconds_problem(value)
        if problem is not None:
            raise self.error(name, f"{self.dotted(name)} {problem}, got {_describe(value)}")
        return float(value)

    def string_list(self, name: str) -> list[str] | None:
        value = self.data.get(name)
        if value is None:
            return None
        if not isinstance(value, list):
            raise self.type_error(name, "an array of strings", value)
        for index, item in enumerate(value):
            if not isinstance(item, str):
                raise self.error(
                    name,
                    f"{self.dotted(name)} must be an array of strings, but item {index + 1} is {_describe(item)}",
                )
        return list(value)

    def subtable(self, name: str) -> _Table | None:
        value = self.data.get(name)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise self.type_error(name, "a table", value)
        return _Table(self.src, value, self.key(name))

    def subtables(self) -> Iterator[tuple[str, _Table]]:
        """Each value of this table, which must itself be a table."""
        for name in self.data:
            sub = self.subtable(name)
            assert sub is not None
            yield name, sub


# --------------------------------------------------------------------------------------------
# Sections shared by devenv.toml and profiles
# --------------------------------------------------------------------------------------------


def _readiness_fields(table: _Table | None) -> dict[str, Any]:
    if table is None:
        return {}
    table.check_keys(_READINESS_KEYS)
    fields: dict[str, Any] = {}
    for name in _READINESS_KEYS:
        value = table.positive_number(name)
        if value is not None:
            fields[name] = value
    return fields


def _probes(table: _Table | None) -> dict[str, Probe]:
    if table is None:
        return {}
    probes: dict[str, Probe] = {}
    for service, sub in table.subtables():
        if not service.strip():
            raise table.src.error(f"{_dotted(sub.parts)}: the service name must not be empty", sub.parts)
        probes[service] = _probe(service, sub)
    return probes


def _probe(service: str, table: _Table) -> Probe:
    table.check_keys(_PROBE_KEYS)
    kinds = [k for k in ("tcp", "http", "cmd") if k in table.data]
    if len(kinds) != 1:
        got = "none" if not kinds else " and ".join(kinds)
        raise table.src.error(
            f"{_dotted(table.parts)} must set exactly one of tcp, http or cmd (got {got})",
            table.parts,
        )
    tcp: int | None = None
    http: str | None = None
    cmd: tuple[str, ...] | None = None
    if "tcp" in table.data:
        value = table.data["tcp"]
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
            raise table.type_error("tcp", "a port number (1-65535)", value)
        tcp = value
    elif "http" in table.data:
        http = table.string("http")
        assert http is not None
        lowered = http.lower()
        prefix = next((p for p in ("http://", "https://") if lowered.startswith(p)), None)
        if prefix is None or len(http) == len(prefix) or any(c.isspace() for c in http):
            raise table.error("http", f"{table.dotted('http')} must be an http:// or https:// URL, got {_q(http)}")
    else:
        cmd = _probe_cmd(table)
    fields: dict[str, float] = {}
    for name in ("interval", "timeout"):
        number = table.positive_number(name)
        if number is not None:
            fields[name] = number
    return Probe(service=service, tcp=tcp, http=http, cmd=cmd, **fields)


def _probe_cmd(table: _Table) -> tuple[str, ...]:
    value = table.data["cmd"]
    argv: list[str]
    if isinstance(value, str):
        import shlex

        try:
            argv = shlex.split(value)
        except ValueError as exc:
            raise table.error("cmd", f"{table.dotted('cmd')}: cannot split {_q(value)} into words: {exc}") from None
    elif isinstance(value, list):
        if not all(isinstance(item, str) for item in value):
            raise table.type_error("cmd", "an array of strings (or a string)", value)
        argv = list(value)
    else:
        raise table.type_error("cmd", "an array of strings (or a string)", value)
    if not argv or not argv[0].strip():
        raise table.error("cmd", f"{table.dotted('cmd')} must name a command to run, got {_q(str(value))}")
    return tuple(argv)


def _database_fields(table: _Table | None) -> dict[str, Any]:
    if table is None:
        return {}
    table.check_keys(_DATABASE_KEYS)
    fields: dict[str, Any] = {
        "service": table.string("service", nonempty=True),
        "engine": table.choice("engine", DATABASE_ENGINES),
        "name": table.string("name", nonempty=True),
        "user": table.string("user", nonempty=True),
        "password": table.string("password"),
    }
    return {k: v for k, v in fields.items() if v is not None}


def _migrations_fields(table: _Table | None) -> dict[str, Any]:
    if table is None:
        return {}
    table.check_keys(_MIGRATIONS_KEYS)
    fields: dict[str, Any] = {
        "service": table.string("service", nonempty=True),
        "mode": table.choice("mode", MIGRATION_MODES),
        "tool": table.choice("tool", MIGRATION_TOOLS),
        "upgrade": table.string("upgrade", nonempty=True),
        "downgrade": table.string("downgrade", nonempty=True),
        "status": table.string("status", nonempty=True),
        "new": table.string("new", nonempty=True),
        "run_on_up": table.boolean("run_on_up"),
    }
    return {k: v for k, v in fields.items() if v is not None}


def _seed_fields(table: _Table | None) -> dict[str, Any]:
    if table is None:
        return {}
    table.check_keys(_SEED_KEYS)
    fields: dict[str, Any] = {
        "service": table.string("service", nonempty=True),
        "command": table.string("command", nonempty=True),
    }
    return {k: v for k, v in fields.items() if v is not None}


@dataclass(frozen=True)
class _Settings:
    """The optional sections of one file (only the keys it sets), before merging."""

    readiness: Mapping[str, Any]
    probes: Mapping[str, Probe]
    database: Mapping[str, Any]
    migrations: Mapping[str, Any]
    seed: Mapping[str, Any]

    @staticmethod
    def parse(table: _Table) -> _Settings:
        return _Settings(
            readiness=_readiness_fields(table.subtable("readiness")),
            probes=_probes(table.subtable("probes")),
            database=_database_fields(table.subtable("database")),
            migrations=_migrations_fields(table.subtable("migrations")),
            seed=_seed_fields(table.subtable("seed")),
        )

    @staticmethod
    def empty() -> _Settings:
        return _Settings({}, {}, {}, {}, {})

    def merged(self, override: _Settings) -> _Settings:
        """Key by key, ``override`` wins; probes are replaced per service."""
        return _Settings(
            readiness={**self.readiness, **override.readiness},
            probes={**self.probes, **override.probes},
            database={**self.database, **override.database},
            migrations={**self.migrations, **override.migrations},
            seed={**self.seed, **override.seed},
        )


def _make_profile(
    *,
    name: str,
    description: str,
    compose_files: Sequence[Path],
    env_files: Sequence[Path],
    protected: bool,
    settings: _Settings,
    source: Path | None,
) -> Profile:
    return Profile(
        name=name,
        description=description,
        compose_files=tuple(compose_files),
        env_files=tuple(env_files),
        protected=protected,
        probes=MappingProxyType(dict(settings.probes)),
        readiness=Readiness(**settings.readiness),
        database=DatabaseConfig(**settings.database),
        migrations=MigrationsConfig(**settings.migrations),
        seed=SeedConfig(**settings.seed),
        source=source,
    )


def _sorted_profiles(profiles: Mapping[str, Profile]) -> Mapping[str, Profile]:
    ordered = {DEFAULT_PROFILE: profiles[DEFAULT_PROFILE]}
    for name in sorted(profiles):
        if name != DEFAULT_PROFILE:
            ordered[name] = profiles[name]
    return MappingProxyType(ordered)


def _compose_name(path: Path) -> str | None:
    """The top-level ``name:`` of a compose file when it is a plain string; never raises."""
    try:
        raw = path.read_bytes()
        if b"name" not in raw:
            return None
        import yaml

        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        data = yaml.load(raw, Loader=loader)
    except Exception:
        return None
    if not isinstance(data, dict):
        return None
    name = data.get("name")
    if not isinstance(name, str) or "$" in name or not name.strip():
        return None
    return name


def _name_from_compose_files(files: Sequence[Path]) -> str | None:
    """The normalized ``name:`` of the last file that has a usable one."""
    for path in reversed(files):
        raw = _compose_name(path)
        if raw is not None:
            normalized = _normalize_or_none(raw)
            if normalized is not None:
                return normalized
    return None


# --------------------------------------------------------------------------------------------
# devenv.toml mode
# --------------------------------------------------------------------------------------------


def _existing_files(table: _Table, name: str, root: Path) -> list[Path] | None:
    """Validate a list of file names relative to ``root``; every one must be an existing file."""
    values = table.string_list(name)
    if values is None:
        return None
    paths: list[Path] = []
    for value in values:
        path = _absolute(root / value)
        kind = _kind(path)
        if kind is None:
            raise table.error(name, f"{table.dotted(name)}: {_q(value)} does not exist (looked for {path})")
        if kind != "file":
            raise table.error(name, f"{table.dotted(name)}: {_q(value)} is not a file ({path})")
        paths.append(path)
    return paths


def _check_profile_name(src: _Src, name: str, key: Sequence[str], where: str) -> None:
    if not _PROFILE_NAME_RE.fullmatch(name):
        raise src.error(
            f"profile name {_q(name)}{where} is not valid: use letters, digits, '_', '.' and '-', "
            "starting with a letter or digit",
            key,
        )


def _parse_profile(
    table: _Table,
    *,
    name: str,
    root: Path,
    base_files: Sequence[Path],
    base_env: Sequence[Path],
    project_settings: _Settings,
) -> Profile:
    table.check_keys(_PROFILE_KEYS)
    description = table.string("description")
    overlays = _existing_files(table, "compose_files", root) or []
    env_files = _existing_files(table, "env_files", root) or []
    protected = table.boolean("protected") or False
    settings = project_settings.merged(_Settings.parse(table))
    compose_files = [*base_files, *overlays]
    if description is None:
        description = " + ".join(_display(p, root) for p in compose_files)
    return _make_profile(
        name=name,
        description=description,
        compose_files=compose_files,
        env_files=[*base_env, *env_files],
        protected=protected,
        settings=settings,
        source=table.src.path,
    )


def _load_configured(root: Path, config_file: Path) -> Project:
    src = _Src(config_file, _display(config_file, root))
    top = _Table(src, _read_toml(src), ())
    top.check_keys(_TOP_KEYS)
    project = top.subtable("project") or _Table(src, {}, ("project",))
    project.check_keys(_PROJECT_KEYS)

    # Base compose files.
    base_files = _existing_files(project, "compose_files", root)
    if base_files is None:
        default_file = _first_existing(root, COMPOSE_FILE_NAMES)
        if default_file is None:
            raise project.error(
                "compose_files",
                f"no compose file: set project.compose_files, or add one of {', '.join(COMPOSE_FILE_NAMES)} to {root}",
            )
        base_files = [default_file]
    elif not base_files:
        raise project.error("compose_files", "project.compose_files must list at least one compose file")
    base_env = _existing_files(project, "env_files", root) or []

    # Project name.
    explicit_name = project.string("name")
    if explicit_name is not None:
        name = _normalize_or_none(explicit_name)
        if name is None:
            raise project.error(
                "name",
                f"project.name {_q(explicit_name)} has no usable characters: a Compose project name "
                "needs lowercase letters, digits, '_' or '-', starting with a letter or digit",
            )
        too_long = _name_too_long(name)
        if too_long is not None:
            raise project.error("name", f"project.name {_q(explicit_name)} {too_long}")
    else:
        name = _name_from_compose_files(base_files) or _normalize_or_none(root.name)
        if name is None:
            raise src.error(
                f"cannot derive a Compose project name from the folder name {_q(root.name)}",
                ("project", "name"),
                hint='Set name = "..." in the [project] table.',
            )
        too_long = _name_too_long(name)
        if too_long is not None:
            raise src.error(
                f"the Compose project name derived from the compose files' name: or the folder name, {_q(name)}, "
                f"{too_long}",
                ("project", "name"),
                hint='Set a shorter name = "..." in the [project] table.',
            )

    default_profile = project.string("default_profile")
    profiles_dir_value = project.string("profiles_dir", nonempty=True)
    settings = _Settings.parse(top)

    def parse_profile(table: _Table, profile_name: str) -> Profile:
        return _parse_profile(
            table,
            name=profile_name,
            root=root,
            base_files=base_files,
            base_env=base_env,
            project_settings=settings,
        )

    profiles: dict[str, Profile] = {}
    where: dict[str, str] = {}

    inline = top.subtable("profiles")
    if inline is not None:
        for profile_name, table in inline.subtables():
            _check_profile_name(src, profile_name, table.parts, f" ({_dotted(table.parts)})")
            profiles[profile_name] = parse_profile(table, profile_name)
            where[profile_name] = f"{src.display} [{_dotted(table.parts)}]"

    profiles_dir = _absolute(root / (profiles_dir_value or "profiles"))
    dir_kind = _kind(profiles_dir)
    if profiles_dir_value is not None and dir_kind != "dir":
        problem = "does not exist" if dir_kind is None else "is not a folder"
        raise project.error(
            "profiles_dir",
            f"project.profiles_dir: {_q(profiles_dir_value)} {problem} (looked for {profiles_dir})",
        )
    if dir_kind == "dir":
        for path in _profile_files(src, profiles_dir):
            profile_name = path.name[: -len(".toml")]
            file_src = _Src(path, _display(path, root))
            _check_profile_name(file_src, profile_name, (), " (the file name without .toml)")
            if profile_name in profiles:
                raise file_src.error(
                    f"profile {_q(profile_name)} is defined twice: in {where[profile_name]} and in "
                    f"{file_src.display}; keep only one of them",
                    ("profiles", profile_name),
                    hint="Remove the inline [profiles.NAME] table or the profile file.",
                )
            table = _Table(file_src, _read_toml(file_src), ())
            profiles[profile_name] = parse_profile(table, profile_name)
            where[profile_name] = file_src.display

    if DEFAULT_PROFILE not in profiles:
        profiles[DEFAULT_PROFILE] = _make_profile(
            name=DEFAULT_PROFILE,
            description="Base compose files only",
            compose_files=base_files,
            env_files=base_env,
            protected=False,
            settings=settings,
            source=config_file,
        )

    if default_profile is not None and default_profile not in profiles:
        available = [DEFAULT_PROFILE, *sorted(p for p in profiles if p != DEFAULT_PROFILE)]
        raise project.error(
            "default_profile",
            f"project.default_profile: no profile named {_q(default_profile)}"
            f"{_did_you_mean(default_profile, available)}; available: {', '.join(available)}",
        )

    return Project(
        root=root,
        name=name,
        config_file=config_file,
        default_profile=default_profile,
        profiles=_sorted_profiles(profiles),
        zero_config=False,
    )


def _profile_files(src: _Src, folder: Path) -> list[Path]:
    """``*.toml`` files directly in ``folder``, sorted; hidden files are skipped."""
    try:
        names = sorted(os.listdir(folder))
    except OSError as exc:
        raise src.error(f"cannot list the profiles folder {folder}: {exc.strerror or exc}") from None
    return [folder / n for n in names if n.endswith(".toml") and not n.startswith(".") and _is_file(folder / n)]


# --------------------------------------------------------------------------------------------
# Zero-config mode
# --------------------------------------------------------------------------------------------


def _family(file_name: str) -> str:
    return "docker-compose" if file_name.startswith("docker-compose") else "compose"


def _dotenv_value(path: Path, key: str) -> str | None:
    """The value of ``key`` in a ``.env`` file (last assignment wins); ``None`` when unset or unusable."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, ValueError):
        return None
    value: str | None = None
    for raw_line in text.splitlines():
        line = raw_line.strip()
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        name, sep, rest = line.partition("=")
        if not sep or name.strip() != key:
            continue
        rest = rest.strip()
        if rest[:1] in ("'", '"'):
            end = rest.find(rest[0], 1)
            value = rest[1:end] if end != -1 else rest[1:]
        else:
            value = re.split(r"\s+#", rest, maxsplit=1)[0].strip()
    if value is None or "$" in value:
        return None
    return value


def _zero_config_name(root: Path, base_file: Path, environ: Mapping[str, str]) -> str:
    from_env = environ.get("COMPOSE_PROJECT_NAME")
    origin = "COMPOSE_PROJECT_NAME"
    if not from_env:
        from_env = _dotenv_value(root / ".env", "COMPOSE_PROJECT_NAME")
        origin = "COMPOSE_PROJECT_NAME in .env"
    if from_env:
        normalized = _normalize_or_none(from_env)
        if normalized is None:
            raise ConfigError(
                f"{origin} {_q(from_env)} has no usable characters: a Compose project name needs "
                "lowercase letters, digits, '_' or '-', starting with a letter or digit",
                path=str(root / ".env") if origin.endswith(".env") else None,
                key="COMPOSE_PROJECT_NAME",
            )
        too_long = _name_too_long(normalized)
        if too_long is not None:
            raise ConfigError(
                f"{origin} {_q(from_env)} {too_long}",
                path=str(root / ".env") if origin.endswith(".env") else None,
                key="COMPOSE_PROJECT_NAME",
            )
        return normalized
    name = _name_from_compose_files([base_file]) or _normalize_or_none(root.name)
    if name is None:
        raise ConfigError(
            f"cannot derive a Compose project name from the folder name {_q(root.name)}",
            path=str(base_file),
            key="name",
            hint=f"Add a top-level name: to {base_file.name}, or set COMPOSE_PROJECT_NAME.",
        )
    too_long = _name_too_long(name)
    if too_long is not None:
        raise ConfigError(
            f"the Compose project name derived from {base_file.name}'s name: or the folder name, {_q(name)}, "
            f"{too_long}",
            path=str(base_file),
            key="name",
            hint=f"Add a shorter top-level name: to {base_file.name}, or set COMPOSE_PROJECT_NAME.",
        )
    return name


def _load_zero_config(root: Path, environ: Mapping[str, str]) -> Project:
    base = _first_existing(root, COMPOSE_FILE_NAMES)
    if base is None:  # pragma: no cover - discovery guarantees one
        raise ConfigError(f"no compose file in {root}", path=str(root))
    base_family = _family(base.name)
    settings = _Settings.empty()
    dot_env = root / ".env"
    common_env = [dot_env] if _is_file(dot_env) else []

    override = _first_existing(root, COMPOSE_OVERRIDE_FILE_NAMES)
    profiles: dict[str, Profile] = {
        DEFAULT_PROFILE: _make_profile(
            name=DEFAULT_PROFILE,
            description="What plain `docker compose up` uses",
            compose_files=[base] if override is None else [base, override],
            env_files=common_env,
            protected=False,
            settings=settings,
            source=None,
        )
    }

    for name, overlay in sorted(_overlays(root, base_family).items()):
        env_names = [f".env.{name}"]
        if name in _LONG_ENV_NAMES:
            env_names.append(f".env.{_LONG_ENV_NAMES[name]}")
        env_files = list(common_env)
        for env_name in env_names:
            candidate = root / env_name
            if candidate not in env_files and _is_file(candidate):
                env_files.append(candidate)
        profiles[name] = _make_profile(
            name=name,
            description=f"{base.name} + {overlay.name}",
            compose_files=[base, overlay],
            env_files=env_files,
            protected=name in _PROTECTED_BY_DEFAULT,
            settings=settings,
            source=None,
        )

    return Project(
        root=root,
        name=_zero_config_name(root, base, environ),
        config_file=None,
        default_profile=None,
        profiles=_sorted_profiles(profiles),
        zero_config=True,
    )


def _overlays(root: Path, base_family: str) -> dict[str, Path]:
    """``compose.<name>.yml`` & co in ``root``: one file per profile name.

    When several files give one name, the one of the base file's family wins, then ``.yaml``
    over ``.yml``. ``override`` (what plain ``docker compose`` adds by itself) and ``default``
    (the profile of plain ``docker compose``) are not overlays.
    """
    try:
        names = os.listdir(root)
    except OSError:
        return {}
    candidates: dict[str, list[tuple[bool, bool, str]]] = {}
    for file_name in names:
        match = _OVERLAY_RE.fullmatch(file_name)
        if match is None:
            continue
        family, name, extension = match.groups()
        if name in ("override", DEFAULT_PROFILE) or not _PROFILE_NAME_RE.fullmatch(name):
            continue
        if not _is_file(root / file_name):
            continue
        candidates.setdefault(name, []).append((family != base_family, extension != "yaml", file_name))
    return {name: root / min(options)[2] for name, options in candidates.items()}
