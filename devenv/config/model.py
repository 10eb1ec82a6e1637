"""The configuration data model: frozen dataclasses (``Project``, ``Profile``, its sections) and constants.

Plain data, cheap to import: no Docker, no UI, no file reading (that is ``validation``,
``project_file`` and ``discovery``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from devenv.config.common import (
    _did_you_mean,
    _is_below,
    _q,
)
from devenv.errors import UnknownProfileError

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


# The address schemes a profile's ``docker_host`` may use (what the docker CLI dials).
DOCKER_HOST_SCHEMES = ("unix", "tcp", "ssh")


# The upper bound of every timeout and interval (config and command line): 24 h.
MAX_SECONDS = 86400


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
class ServiceReadiness:
    """``[readiness.services.<service>]``: settings for one service (unset: the profile's)."""

    fast_checks: bool | None = None


@dataclass(frozen=True)
class Readiness:
    """``[readiness]``: ``timeout`` is the default for ``devenv up --timeout``; a service with no
    healthcheck and no probe is ready once it has run ``settle`` seconds without exiting;
    ``fast_checks``: while a service's health is ``starting``, devenv checks it itself at a short
    cadence so that dependents start as soon as it passes (``devenv.core.fastcheck``)."""

    timeout: float = 120.0
    settle: float = 1.5
    fast_checks: bool = True
    services: Mapping[str, ServiceReadiness] = field(default_factory=dict)

    def fast_checks_for(self, service: str) -> bool:
        own = self.services.get(service)
        return self.fast_checks if own is None or own.fast_checks is None else own.fast_checks


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
    # The Docker engine this profile runs on (at most one of the two; ``DOCKER_HOST`` /
    # ``DOCKER_CONTEXT`` in the environment still win): a docker context's name, or an address.
    context: str | None = None
    docker_host: str | None = None


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
                    outside = not _is_below(path, self.root) or not _is_below(path.resolve(), self.root.resolve())
                    if path not in found and outside:  # a symlink out of the project counts too
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
