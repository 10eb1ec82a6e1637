"""Finding and loading a project: discovery from the working folder upward, and zero-config detection.

The project root is the nearest folder from the start folder upward holding a ``devenv.toml``;
when there is none anywhere up to ``/``, the nearest folder holding a compose file (zero-config
mode, which derives profiles from the compose files found there: ``compose.<name>.yml`` overlays
and ``.env.<name>`` files).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from devenv.config.common import (
    _PROFILE_NAME_RE,
    _absolute,
    _first_existing,
    _is_file,
    _kind,
    _name_from_compose_files,
    _name_too_long,
    _normalize_or_none,
    _q,
)
from devenv.config.model import (
    COMPOSE_FILE_NAMES,
    COMPOSE_OVERRIDE_FILE_NAMES,
    CONFIG_FILE_NAME,
    DEFAULT_PROFILE,
    Profile,
    Project,
)
from devenv.config.project_file import (
    _load_configured,
    _make_profile,
    _sorted_profiles,
)
from devenv.config.validation import (
    _Settings,
)
from devenv.errors import ConfigError

# Profiles that are protected by default in zero-config mode.
_PROTECTED_BY_DEFAULT = frozenset({"prod", "production"})


# Zero-config: the long form of a profile's env file, loaded after ``.env.<name>``.
_LONG_ENV_NAMES = {"dev": "development", "prod": "production"}


_OVERLAY_RE = re.compile(r"(docker-compose|compose)\.(.+)\.(yaml|yml)")


def find_project_root(start: Path) -> Path:
    """The nearest folder from ``start`` upward with a ``devenv.toml``, else with a compose file."""
    return _discover(_absolute(start))[0]


def load_project(
    start: Path | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    problems: list[ConfigError] | None = None,
) -> Project:
    """Discover the project from ``start`` (default: the current folder) and load it.

    ``environ`` (default ``os.environ``) is only consulted for ``COMPOSE_PROJECT_NAME`` in
    zero-config mode. ``problems`` (``devenv doctor``): collect the problems that need not stop the
    reading there (unknown keys, listed files that do not exist, profiles that cannot be read)
    instead of raising the first; what still cannot be read raises.
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
        return _load_configured(root, config_file, problems)
    return _load_zero_config(root, env)


def zero_config_project(root: Path, environ: Mapping[str, str] | None = None) -> Project:
    """What zero-config mode makes of the compose files in ``root`` itself, whatever devenv.toml
    there or above says (``devenv init`` writes this down). ConfigError when ``root`` has no compose file."""
    root = _absolute(root)
    if _first_existing(root, COMPOSE_FILE_NAMES) is None:
        raise ConfigError(
            f"no compose file ({', '.join(COMPOSE_FILE_NAMES)}) in {root}",
            path=str(root),
            hint="Run it in the folder of your Compose project (or pass -C DIR).",
        )
    return _load_zero_config(root, os.environ if environ is None else environ)


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
