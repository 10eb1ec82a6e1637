"""``devenv.toml`` mode: the project from ``devenv.toml``, inline ``[profiles.NAME]`` and ``profiles/*.toml``."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from pathlib import Path
from types import MappingProxyType

from devenv.config.common import (
    _absolute,
    _did_you_mean,
    _display,
    _dotted,
    _first_existing,
    _is_file,
    _kind,
    _name_from_compose_files,
    _name_too_long,
    _normalize_or_none,
    _q,
)
from devenv.config.engine import _engine_fields
from devenv.config.model import (
    COMPOSE_FILE_NAMES,
    DEFAULT_PROFILE,
    DatabaseConfig,
    MigrationsConfig,
    Profile,
    Project,
    Readiness,
    SeedConfig,
)
from devenv.config.validation import (
    _PROFILE_KEYS,
    _PROJECT_KEYS,
    _TOP_KEYS,
    _check_profile_name,
    _existing_files,
    _read_toml,
    _Settings,
    _Src,
    _Table,
)
from devenv.errors import ConfigError


def _make_profile(
    *,
    name: str,
    description: str,
    compose_files: Sequence[Path],
    env_files: Sequence[Path],
    protected: bool,
    settings: _Settings,
    source: Path | None,
    engine: Mapping[str, str] | None = None,
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
        **(engine or {}),
    )


def _sorted_profiles(profiles: Mapping[str, Profile]) -> Mapping[str, Profile]:
    ordered = {DEFAULT_PROFILE: profiles[DEFAULT_PROFILE]}
    for name in sorted(profiles):
        if name != DEFAULT_PROFILE:
            ordered[name] = profiles[name]
    return MappingProxyType(ordered)


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
    engine = _engine_fields(table)
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
        engine=engine,
    )


def _load_configured(root: Path, config_file: Path, problems: list[ConfigError] | None = None) -> Project:
    """The project of ``config_file``. ``problems``: collect what can be collected (``devenv doctor``):
    unknown keys, missing listed files, and each profile that cannot be read (it is left out)."""
    src = _Src(config_file, _display(config_file, root), problems)

    def collected(read: Callable[[], Profile]) -> Profile | None:
        if problems is None:
            return read()
        try:
            return read()
        except ConfigError as exc:
            problems.append(exc)
            return None

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
            inline_profile = collected(partial(parse_profile, table, profile_name))
            if inline_profile is not None:
                profiles[profile_name] = inline_profile
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
            file_src = _Src(path, _display(path, root), problems)

            def read_file(file_src: _Src = file_src, profile_name: str = profile_name) -> Profile:
                _check_profile_name(file_src, profile_name, (), " (the file name without .toml)")
                if profile_name in profiles:
                    raise file_src.error(
                        f"profile {_q(profile_name)} is defined twice: in {where[profile_name]} and in "
                        f"{file_src.display}; keep only one of them",
                        ("profiles", profile_name),
                        hint="Remove the inline [profiles.NAME] table or the profile file.",
                    )
                return parse_profile(_Table(file_src, _read_toml(file_src), ()), profile_name)

            file_profile = collected(read_file)
            if file_profile is not None:
                profiles[profile_name] = file_profile
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
        src.collect(
            project.error(
                "default_profile",
                f"project.default_profile: no profile named {_q(default_profile)}"
                f"{_did_you_mean(default_profile, available)}; available: {', '.join(available)}",
            )
        )
        default_profile = None

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
