"""What ``devenv init`` finds in a Compose project, and why.

The profiles are exactly zero-config's (:func:`devenv.config.zero_config_project`: the base file,
``compose.override.yml``, ``compose.<name>.yml`` overlays, ``.env`` / ``.env.<name>`` and the long
forms ``.env.development`` / ``.env.production``), so the files written from them change nothing. The
database and the migration tool are found by the same rules devenv uses at run time
(:func:`devenv.core.db.target.detect_engine`, :func:`devenv.core.migrations.plan.detect_tool_and_service`),
on each profile's merged compose config (``docker compose config``; the YAML itself when Compose
cannot give it, e.g. a required variable is unset).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from devenv.core.db.target import detect_engine
from devenv.core.migrations.plan import detect_tool_and_service
from devenv.core.scaffold.probes import ProbeHint, environment, suggest_probe
from devenv.core.scaffold.yamlmodel import yaml_config

if TYPE_CHECKING:
    from devenv.config import Profile, Project

ConfigReader = Callable[["Project", "Profile"], Mapping[str, Any]]

ZERO_CONFIG_DEFAULT = "What plain `docker compose up` uses"
_TEMPLATE_SUFFIXES = (".example", ".sample", ".template", ".dist", ".tmpl", ".bak", ".swp")


@dataclass(frozen=True)
class DatabaseGuess:
    service: str
    engine: str
    why: str


@dataclass(frozen=True)
class MigrationsGuess:
    service: str
    tool: str
    why: str


@dataclass(frozen=True)
class ProfilePlan:
    """One profile as written: files beyond the project's base files and common env files."""

    name: str
    description: str
    overlays: tuple[str, ...]
    env_files: tuple[str, ...]
    protected: bool
    why: str
    database: DatabaseGuess | None = None  # only when it differs from the project's
    migrations: MigrationsGuess | None = None


@dataclass(frozen=True)
class InitPlan:
    root: Path
    name: str
    name_why: str
    name_pinned: bool  # written as name = "..." (else a comment: the default gives the same name)
    base_files: tuple[str, ...]
    common_env: tuple[str, ...]
    profiles: tuple[ProfilePlan, ...]
    database: DatabaseGuess | None
    migrations: MigrationsGuess | None
    probes: tuple[ProbeHint, ...]
    unused_env_files: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    zero_config: Any = field(default=None, repr=False, compare=False)  # the Project it reproduces

    def findings(self) -> list[tuple[str, str]]:
        """``(what, why)`` lines for people, in the order the files list them."""
        out = [(f"project name {self.name}", self.name_why)]
        out.append((f"base compose file {', '.join(self.base_files)}", "Compose's first default file name present"))
        if self.common_env:
            out.append((f"env file {', '.join(self.common_env)}", "loaded by every profile, as by plain Compose"))
        for p in self.profiles:
            protected = ", protected" if p.protected else ""
            files = ", ".join([*p.overlays, *p.env_files]) or "the base file only"
            out.append((f"profile {p.name}{protected}: {files}", p.why))
        for p in self.profiles:
            if p.database is not None:
                out.append((f"database (profile {p.name}): {p.database.service}, {p.database.engine}", p.database.why))
            if p.migrations is not None:
                guess = p.migrations
                out.append((f"migrations (profile {p.name}): {guess.tool} in {guess.service}", guess.why))
        if self.database is not None:
            out.append((f"database: service {self.database.service}, {self.database.engine}", self.database.why))
        if self.migrations is not None:
            out.append(
                (f"migrations: {self.migrations.tool} in service {self.migrations.service}", self.migrations.why)
            )
        for hint in self.probes:
            out.append((f"no healthcheck: {hint.service}", hint.reason))
        for name in self.unused_env_files:
            out.append((f"env file {name} is not loaded by any profile", "no compose overlay or profile of that name"))
        out += [("note", n) for n in self.notes]
        return out


def _rel(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def default_reader(project: Project, profile: Profile) -> Mapping[str, Any]:
    """``docker compose config`` of the profile (no engine needed); the YAML when Compose fails."""
    from devenv.core.stack import Stack
    from devenv.errors import DevenvError

    try:
        return Stack(project, profile).config_json()
    except DevenvError as exc:
        return yaml_config(
            profile.compose_files, note=f"`docker compose config` failed ({exc.message.splitlines()[0]})"
        )


def detect(root: Path, environ: Mapping[str, str] | None = None, *, reader: ConfigReader | None = None) -> InitPlan:
    """Everything ``devenv init`` writes for the Compose project in ``root`` (ConfigError without one)."""
    from devenv.config import zero_config_project
    from devenv.config.common import _name_from_compose_files, _normalize_or_none

    env = dict(os.environ if environ is None else environ)
    ignored_name = env.pop("COMPOSE_PROJECT_NAME", None)  # a shell's setting is not the project's
    project = zero_config_project(root, env)
    root = project.root
    read = reader or default_reader
    default = project.profiles["default"]
    base, override = default.compose_files[0], default.compose_files[1:]
    common_env = tuple(default.env_files)
    notes: list[str] = []
    if ignored_name:
        notes.append(f"COMPOSE_PROJECT_NAME={ignored_name} in this shell was not written into devenv.toml")

    toml_default_name = _name_from_compose_files([base]) or _normalize_or_none(root.name)
    pinned = project.name != toml_default_name
    if pinned:
        name_why = "COMPOSE_PROJECT_NAME in .env, written as [project] name"
    elif _name_from_compose_files([base]) == project.name:
        name_why = f"the name: of {base.name}"
    else:
        name_why = "the folder's name"

    configs: dict[str, Mapping[str, Any]] = {}
    for profile in project.profiles.values():
        raw = read(project, profile)
        note = raw.get("x-devenv-init-note") if isinstance(raw, Mapping) else None
        if isinstance(note, str):
            notes.append(f"profile {profile.name}: {note}; detection read the YAML files themselves")
        configs[profile.name] = raw

    databases = {name: _database(raw) for name, raw in configs.items()}
    migrations = {name: _migrations(raw, root) for name, raw in configs.items()}
    project_db = _shared(databases)
    project_migrations = _shared(migrations)
    for name, found in databases.items():
        if isinstance(found, str) and name == "default":
            notes.append(found)

    profiles = []
    for profile in project.profiles.values():
        if profile.name == "default":
            overlays = tuple(_rel(f, root) for f in override)
            why = (
                f"plain `docker compose` adds {override[0].name} to {base.name}"
                if override
                else f"plain `docker compose`: {base.name}"
            )
            description = ZERO_CONFIG_DEFAULT
        else:
            overlays = tuple(_rel(f, root) for f in profile.compose_files[1:])
            extra_env = [f.name for f in profile.env_files[len(common_env) :]]
            why = f"{', '.join(Path(o).name for o in overlays)} overlays {base.name}"
            why += f"; env files {', '.join(extra_env)}" if extra_env else f"; no .env.{profile.name}"
            if profile.protected:
                why += f"; {profile.name} is protected by default"
            description = profile.description
        db = databases[profile.name]
        mig = migrations[profile.name]
        profiles.append(
            ProfilePlan(
                name=profile.name,
                description=description,
                overlays=overlays,
                env_files=tuple(_rel(f, root) for f in profile.env_files[len(common_env) :]),
                protected=profile.protected,
                why=why,
                database=db if isinstance(db, DatabaseGuess) and project_db is None else None,
                migrations=mig if isinstance(mig, MigrationsGuess) and project_migrations is None else None,
            )
        )

    used = {f for p in project.profiles.values() for f in p.env_files}
    return InitPlan(
        root=root,
        name=project.name,
        name_why=name_why,
        name_pinned=pinned,
        base_files=(_rel(base, root),),
        common_env=tuple(_rel(f, root) for f in common_env),
        profiles=tuple(profiles),
        database=project_db if isinstance(project_db, DatabaseGuess) else None,
        migrations=project_migrations if isinstance(project_migrations, MigrationsGuess) else None,
        probes=tuple(_probe_hints(configs)),
        unused_env_files=tuple(_unused_env_files(root, used)),
        notes=tuple(notes),
        zero_config=project,
    )


def _shared(found: Mapping[str, Any]) -> Any:
    """The one guess every profile agrees on (then it goes to devenv.toml), else None (per profile)."""
    values = list(found.values())
    first = values[0] if values else None
    if first is None or isinstance(first, str):
        return None
    return first if all(v == first for v in values) else None


def _services(raw: Mapping[str, Any]) -> Mapping[str, Mapping[str, Any]]:
    services = raw.get("services") or {}
    return {str(k): v for k, v in services.items() if isinstance(v, Mapping)} if isinstance(services, Mapping) else {}


def _database(raw: Mapping[str, Any]) -> DatabaseGuess | str | None:
    """The database service, as ``devenv db`` would find it; a note (str) when several qualify."""
    hits = []
    for name, spec in _services(raw).items():
        image = str(spec.get("image") or "")
        engine = detect_engine(image, environment(spec))
        if engine is not None:
            hits.append((name, engine, image))
    if not hits:
        return None
    if len(hits) > 1:
        return (
            f"several services look like databases ({', '.join(h[0] for h in hits)}): "
            "[database] service is left for you to choose"
        )
    name, engine, image = hits[0]
    if image and (engine in image.lower() or "postgis" in image or "timescale" in image):
        why = f"image {image}"
    else:
        prefix = {"postgres": "POSTGRES", "mysql": "MYSQL", "mariadb": "MARIADB"}[engine]
        why = f"{prefix}_* variables in its environment" + (f" (image {image})" if image else "")
    return DatabaseGuess(service=name, engine=engine, why=why)


def _migrations(raw: Mapping[str, Any], root: Path) -> MigrationsGuess | None:
    tool, service, why = detect_tool_and_service(raw, root)
    if tool is None or service is None:
        return None
    return MigrationsGuess(service=service, tool=tool, why=why)


def _probe_hints(configs: Mapping[str, Mapping[str, Any]]) -> list[ProbeHint]:
    """A suggestion for each service without a healthcheck (in any profile; the first profile that
    has it decides), except one-shot steps that others wait to complete."""
    hints: dict[str, ProbeHint] = {}
    for raw in configs.values():
        services = _services(raw)
        one_shots = _one_shots(services)
        for name, spec in services.items():
            if name in hints or name in one_shots or _has_healthcheck(spec):
                continue
            hints[name] = suggest_probe(name, spec)
    return [hints[n] for n in sorted(hints)]


def _has_healthcheck(spec: Mapping[str, Any]) -> bool:
    hc = spec.get("healthcheck")
    if not isinstance(hc, Mapping) or hc.get("disable"):
        return False
    test = hc.get("test")
    return bool(test) and test != ["NONE"] and test != "NONE"


def _one_shots(services: Mapping[str, Mapping[str, Any]]) -> set[str]:
    out = set()
    for spec in services.values():
        deps = spec.get("depends_on")
        if isinstance(deps, Mapping):
            for dep, cond in deps.items():
                if isinstance(cond, Mapping) and cond.get("condition") == "service_completed_successfully":
                    out.add(str(dep))
    return out


def _unused_env_files(root: Path, used: set[Path]) -> Sequence[str]:
    try:
        names = sorted(os.listdir(root))
    except OSError:
        return []
    return [
        n
        for n in names
        if n.startswith(".env.")
        and not n.endswith(_TEMPLATE_SUFFIXES)
        and (root / n).is_file()
        and root / n not in used
    ]
