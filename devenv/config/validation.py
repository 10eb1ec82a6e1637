"""Reading TOML and checking values: unknown keys (with a suggestion), types, ranges, files.

Problems are :class:`~devenv.errors.ConfigError` with the file (``path``), the dotted key (``key``)
and, for TOML syntax errors, the line (``line``). ``_Settings`` holds the optional sections of one
file (readiness, probes, database, migrations, seed) before merging.
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from devenv.config.common import (
    _PROFILE_NAME_RE,
    _absolute,
    _describe,
    _did_you_mean,
    _dotted,
    _kind,
    _q,
)
from devenv.config.model import (
    DATABASE_ENGINES,
    MAX_SECONDS,
    MIGRATION_MODES,
    MIGRATION_TOOLS,
    Probe,
    ServiceReadiness,
)
from devenv.errors import ConfigError

_TOML_LOCATION_RE = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")


_TOML_END_RE = re.compile(r"\s*\(at end of document\)\s*$")


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
    "context",
    "docker_host",
)


_READINESS_KEYS = ("timeout", "settle", "fast_checks", "services")


_READINESS_SERVICE_KEYS = ("fast_checks",)


_PROBE_KEYS = ("tcp", "http", "cmd", "interval", "timeout")


_DATABASE_KEYS = ("service", "engine", "name", "user", "password")


_MIGRATIONS_KEYS = ("service", "mode", "tool", "upgrade", "downgrade", "status", "new", "run_on_up")


_SEED_KEYS = ("service", "command")


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


@dataclass(frozen=True)
class _Src:
    """A configuration file being read: its absolute path and how messages name it.

    ``problems``: when given (``devenv doctor``), problems that need not stop the reading (unknown
    keys, listed files that do not exist) are collected there instead of raised.
    """

    path: Path
    display: str
    problems: list[ConfigError] | None = field(default=None, compare=False)

    def collect(self, error: ConfigError) -> None:
        """Collect ``error`` when collecting, else raise it."""
        if self.problems is None:
            raise error
        self.problems.append(error)

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


class MissingFileError(ConfigError):
    """A file listed in the configuration (``compose_files``, ``env_files``) does not exist: ``missing``."""

    def __init__(self, message: str, *, path: str, key: str, missing: Path) -> None:
        super().__init__(message, path=path, key=key)
        self.missing = missing


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
                self.src.collect(
                    self.src.error(
                        f"unknown key {_q(self.dotted(name), limit=200)}{_did_you_mean(name, allowed)}; "
                        f"allowed: {', '.join(allowed)}",
                        self.key(name),
                    )
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


def _readiness_fields(table: _Table | None) -> dict[str, Any]:
    if table is None:
        return {}
    table.check_keys(_READINESS_KEYS)
    fields: dict[str, Any] = {}
    for name in ("timeout", "settle"):
        value = table.positive_number(name)
        if value is not None:
            fields[name] = value
    if table.boolean("fast_checks") is not None:
        fields["fast_checks"] = table.boolean("fast_checks")
    services = table.subtable("services")
    if services is not None:
        fields["services"] = {}
        for service, sub in services.subtables():
            sub.check_keys(_READINESS_SERVICE_KEYS)
            fields["services"][service] = ServiceReadiness(fast_checks=sub.boolean("fast_checks"))
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
        """Key by key, ``override`` wins; probes and readiness.services are replaced per service."""
        readiness = {**self.readiness, **override.readiness}
        if "services" in self.readiness and "services" in override.readiness:
            readiness["services"] = {**self.readiness["services"], **override.readiness["services"]}
        return _Settings(
            readiness=readiness,
            probes={**self.probes, **override.probes},
            database={**self.database, **override.database},
            migrations={**self.migrations, **override.migrations},
            seed={**self.seed, **override.seed},
        )


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
            table.src.collect(
                MissingFileError(
                    f"{table.src.display}: {table.dotted(name)}: {_q(value)} does not exist (looked for {path})",
                    path=str(table.src.path),
                    key=_dotted(table.key(name)),
                    missing=path,
                )
            )
            continue
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
