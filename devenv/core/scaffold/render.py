"""The files ``devenv init`` writes: devenv.toml and one profiles/<name>.toml per profile, commented.

They reproduce the zero-config profiles exactly (same compose files, env files, protection and
descriptions), which :func:`verify` checks by loading them back.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from devenv.core.scaffold.detect import DatabaseGuess, InitPlan, MigrationsGuess, ProfilePlan

CONFIG = "devenv.toml"
PROFILES_DIR = "profiles"


def _s(value: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's)."""
    return json.dumps(value, ensure_ascii=False)


def _list(values: Sequence[str]) -> str:
    return "[" + ", ".join(_s(v) for v in values) + "]"


def _pad(line: str, comment: str, width: int = 40) -> str:
    return f"{line.ljust(width)} # {comment}"


def profile_path(name: str) -> str:
    return f"{PROFILES_DIR}/{name}.toml"


def render(plan: InitPlan) -> dict[str, str]:
    """``{relative path: text}``: devenv.toml first, then the profiles in the project's order."""
    files = {CONFIG: _project_file(plan)}
    for profile in plan.profiles:
        files[profile_path(profile.name)] = _profile_file(plan, profile)
    return files


def _project_file(plan: InitPlan) -> str:
    lines = [
        "# devenv.toml, written by `devenv init` from the Compose files in this folder. It spells out what",
        "# devenv does here with no configuration (zero-config), so nothing changes until you edit it.",
        '# Every key: README.md, "Configuration". Check a profile: devenv config --profile NAME',
        "",
        "[project]",
    ]
    name_line = f"name = {_s(plan.name)}"
    if plan.name_pinned:
        lines.append(_pad(name_line, f"from {plan.name_why.split(',')[0]}"))
    else:
        lines.append(_pad(f"# {name_line}", f"default: {plan.name_why}"))
    lines.append(_pad(f"compose_files = {_list(plan.base_files)}", "base files of every profile; overlays: profiles/"))
    if plan.common_env:
        lines.append(_pad(f"env_files = {_list(plan.common_env)}", "read by every profile, before its own"))
    else:
        lines.append(_pad('# env_files = [".env"]', "none found: files read by every profile"))
    names = [p.name for p in plan.profiles]
    default = "dev" if "dev" in names else "default"
    lines.append(_pad(f"# default_profile = {_s(default)}", 'without --profile: "dev" when it exists, else "default"'))
    lines += [
        "",
        "[readiness]",
        _pad("# timeout = 120", "seconds `devenv up` waits until every service is ready"),
        _pad("# settle = 1.5", "a service without healthcheck is ready after running this long"),
    ]
    if plan.database is not None:
        lines += ["", *_database(plan.database)]
    else:
        lines += ["", "# [database]                            # no PostgreSQL / MySQL / MariaDB service found"]
        lines += ['# service = "db"', '# engine = "postgres"                   # postgres | mysql | mariadb']
    if plan.migrations is not None:
        lines += ["", *_migrations(plan.migrations)]
    else:
        lines += ["", "# [migrations]                          # no alembic.ini or manage.py found"]
        lines += ['# service = "api"', '# tool = "custom"', '# upgrade = "..."']
    if plan.probes:
        lines += ["", "# Services without a healthcheck. devenv counts them ready after `settle` seconds running;"]
        lines += ["# a healthcheck in the compose file, or a probe here, says when they really are."]
        for hint in plan.probes:
            lines += ["#", f"# {hint.service}: {hint.reason}"]
            if hint.compose:
                lines.append(f"#   in the compose file, under services.{hint.service}:")
                lines += [f"#     {line}" for line in hint.compose]
            lines.append("#   or a devenv probe (from this machine):")
            lines += [f"# {line}" for line in hint.toml]
    return "\n".join(lines) + "\n"


def _database(guess: DatabaseGuess) -> list[str]:
    return [
        "[database]",
        f"# found: {guess.why}",
        f"service = {_s(guess.service)}",
        _pad(f"engine = {_s(guess.engine)}", "postgres | mysql | mariadb"),
        "# name, user, password: default from the service's environment ("
        + ("POSTGRES_DB, POSTGRES_USER, POSTGRES_PASSWORD)" if guess.engine == "postgres" else "MYSQL_* / MARIADB_*)"),
    ]


def _migrations(guess: MigrationsGuess) -> list[str]:
    return [
        "[migrations]",
        f"# found: {guess.why}",
        _pad(f"service = {_s(guess.service)}", "where migration commands run"),
        _pad(f"tool = {_s(guess.tool)}", "alembic | django | custom: presets fill the commands"),
        _pad('# mode = "exec"', '"exec" in the running container, "run" for a one-off one'),
        _pad("# run_on_up = true", "`devenv up` migrates once the stack is ready"),
    ]


def _profile_file(plan: InitPlan, profile: ProfilePlan) -> str:
    base = ", ".join(plan.base_files)
    lines = [f"# Profile {profile.name}, written by `devenv init`: {profile.why}."]
    if profile.name == "default":
        lines.append(
            "# What plain `docker compose up` runs: the base files"
            + (" plus the override file." if profile.overlays else ".")
        )
    lines += [
        "",
        f"description = {_s(profile.description)}",
        _pad(f"compose_files = {_list(profile.overlays)}", f"overlays, applied after {base} in this order"),
    ]
    common = ", ".join(plan.common_env) or "devenv.toml's env_files"
    lines.append(_pad(f"env_files = {_list(profile.env_files)}", f"read after {common}; later files win"))
    if profile.protected:
        lines.append(_pad("protected = true", "down --volumes, db reset/restore/import ask first"))
    else:
        lines.append(_pad("protected = false", "true: destructive commands ask for the profile name"))
    lines += [
        "",
        "# Run this profile on another Docker engine (DOCKER_HOST / DOCKER_CONTEXT still win when set):",
        _pad('# context = "buildbox"', "a `docker context ls` name"),
        _pad('# docker_host = "ssh://user@buildbox"', "or unix:///path.sock, tcp://host:2376"),
    ]
    if profile.database is not None:
        lines += ["", *_database(profile.database)]
    if profile.migrations is not None:
        lines += ["", *_migrations(profile.migrations)]
    return "\n".join(lines) + "\n"


def verify(plan: InitPlan, root: Path) -> list[str]:
    """Differences between the profiles the written files give and the zero-config ones (none: same)."""
    from devenv.config import load_project

    written = load_project(root, environ={})
    zero = plan.zero_config
    problems = []
    if written.name != zero.name:
        problems.append(f"project name {written.name!r} instead of {zero.name!r}")
    if list(written.profiles) != list(zero.profiles):
        problems.append(f"profiles {list(written.profiles)} instead of {list(zero.profiles)}")
    for name, want in zero.profiles.items():
        got = written.profiles.get(name)
        if got is None:
            continue
        for attr in ("description", "compose_files", "env_files", "protected"):
            if getattr(got, attr) != getattr(want, attr):
                problems.append(f"profile {name}: {attr} {getattr(got, attr)!r} instead of {getattr(want, attr)!r}")
    return problems
