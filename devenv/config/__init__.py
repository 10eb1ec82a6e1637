"""Load a project's configuration: ``devenv.toml`` + ``profiles/*.toml``, or zero-config detection.

Everything here is plain data (frozen dataclasses) and cheap to import: no Docker, no UI.
Problems are reported as :class:`~devenv.errors.ConfigError` with the file (``path``), the
dotted key (``key``) and, for TOML syntax errors, the line (``line``).

Discovery: the project root is the nearest folder from the start folder upward holding a
``devenv.toml``; when there is none anywhere up to ``/``, the nearest folder holding a compose
file (zero-config mode, which derives profiles from the compose files found there).
"""

from devenv.config.common import MAX_PROJECT_NAME, normalize_project_name
from devenv.config.discovery import find_project_root, load_project, zero_config_project
from devenv.config.model import (
    COMPOSE_FILE_NAMES,
    COMPOSE_OVERRIDE_FILE_NAMES,
    CONFIG_FILE_NAME,
    MAX_SECONDS,
    DatabaseConfig,
    MigrationsConfig,
    Probe,
    Profile,
    Project,
    Readiness,
    SeedConfig,
    ServiceReadiness,
)
from devenv.config.validation import seconds_problem

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
    "ServiceReadiness",
    "find_project_root",
    "load_project",
    "normalize_project_name",
    "seconds_problem",
    "zero_config_project",
]
