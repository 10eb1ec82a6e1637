"""Which profile the project's existing containers were created with, and what that protects.

All profiles of a project share one Compose project name (and so its volumes). Compose labels
every container it creates with the files it used (``com.docker.compose.project.config_files``
and ``...environment_file``); matching those against each profile's files tells which profile
the stack on the engine belongs to, whatever ``--profile`` says now. Destructive commands use
it: a stack started under a protected profile stays protected, and acting on it under another
profile must be an explicit switch.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from devenv.errors import UsageError

if TYPE_CHECKING:
    from devenv.config import Profile, Project


class Stack(Protocol):
    """What this module needs of ``devenv.core.stack.Stack`` (which itself calls ``record_up``)."""

    project: Project
    profile: Profile

    @property
    def name(self) -> str: ...

    @property
    def reader(self) -> Any: ...


PROJECT_LABEL = "com.docker.compose.project"
ONEOFF_LABEL = "com.docker.compose.oneoff"
CONFIG_FILES_LABEL = "com.docker.compose.project.config_files"
ENV_FILES_LABEL = "com.docker.compose.project.environment_file"


@dataclass(frozen=True)
class RunningProfile:
    """What the project's containers (running or stopped; one-off excluded) were created with.

    ``profiles``: the profiles whose files match, sorted (several when two profiles share the
    same files; one profile per container group otherwise). ``unknown``: how many containers were
    created from files that match no profile (e.g. a hand-typed ``docker compose -f ...``).
    """

    profiles: tuple[str, ...]
    containers: int
    unknown: int
    files: tuple[str, ...]

    @property
    def name(self) -> str | None:
        """The one profile the stack runs under, or None (none, several, or unknown files)."""
        return self.profiles[0] if len(self.profiles) == 1 and not self.unknown else None

    def describe(self) -> str:
        if self.name:
            return self.name
        parts = list(self.profiles)
        if self.unknown:
            parts.append(f"files of no profile ({', '.join(self.files) or '?'})")
        return " + ".join(parts) or "-"


def _norm(paths: Iterable[Any]) -> frozenset[str]:
    """Absolute paths; devenv's debug overlay is left out (a debugged service is still the profile's)."""
    return frozenset(os.path.normpath(os.path.abspath(str(p))) for p in paths if str(p) and not _debug_overlay(p))


def _debug_overlay(path: Any) -> bool:
    """``devenv.core.debug.overlay.is_overlay_file``, without importing it on ``status``'s path."""
    parts = os.path.normpath(str(path)).split(os.sep)
    return len(parts) >= 3 and parts[-3:-1] == [".devenv", "debug"] and parts[-1].endswith(".yml")


def _split(value: str | None) -> frozenset[str]:
    return _norm(part for part in (value or "").split(",") if part)


def match_profiles(
    profiles: Mapping[str, Profile], config_files: str | None, env_files: str | None, root: Any
) -> tuple[str, ...]:
    """Profiles whose compose files are exactly ``config_files`` (env files break ties)."""
    files = _split(config_files)
    if not files:
        return ()
    by_files = [p for p in profiles.values() if _norm(p.compose_files) == files]
    if len(by_files) <= 1:
        return tuple(p.name for p in by_files)
    envs = _split(env_files)
    # Compose records the project's own .env when no --env-file was given.
    default_env = _norm([os.path.join(str(root), ".env")])
    by_env = [p for p in by_files if _norm(p.env_files) == envs or (not p.env_files and envs <= default_env)]
    return tuple(sorted(p.name for p in (by_env or by_files)))


def running_profile(stack: Stack) -> RunningProfile | None:
    """The profile(s) of the project's existing containers; None when it has none."""
    listed = stack.reader.containers(all=True, filters={"label": [f"{PROJECT_LABEL}={stack.name}"]})
    found = from_labels(stack.project, [item.get("Labels") or {} for item in listed])
    if found is not None and len(found.profiles) > 1 and not found.unknown:
        # Profiles with the same files: devenv's own record of the last `up` tells them apart.
        ids = {str(item.get("Id")) for item in listed if (item.get("Labels") or {}).get(ONEOFF_LABEL) != "True"}
        recorded = _read_record(stack)
        if recorded is not None and recorded[0] in found.profiles and ids <= recorded[1]:
            return RunningProfile((recorded[0],), found.containers, 0, ())
    return found


def _record_path(stack: Stack) -> Any:
    return stack.project.root / ".devenv" / "stack.json"


def _read_record(stack: Stack) -> tuple[str, set[str]] | None:
    import json

    try:
        data = json.loads(_record_path(stack).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("project") != stack.name or not isinstance(data.get("profile"), str):
        return None
    return data["profile"], {str(i) for i in data.get("containers") or []}


def record_up(stack: Stack) -> None:
    """Remember which containers ``up`` created under this profile (after ``compose up --no-start``).

    Only needed to tell apart profiles that use the very same compose and env files (Compose's
    labels cannot); written atomically, never fatal.
    """
    import contextlib
    import json

    from devenv.core.state import ensure_state_dir

    with contextlib.suppress(Exception):
        listed = stack.reader.containers(all=True, filters={"label": [f"{PROJECT_LABEL}={stack.name}"]})
        ids = {str(i["Id"]) for i in listed if (i.get("Labels") or {}).get(ONEOFF_LABEL) != "True"}
        folder = ensure_state_dir(stack.project.root)
        tmp = folder / f".stack.json.{os.getpid()}.partial"
        tmp.write_text(json.dumps({"project": stack.name, "profile": stack.profile.name, "containers": sorted(ids)}))
        os.replace(tmp, _record_path(stack))


def from_labels(project: Project, labels: Iterable[Mapping[str, str]]) -> RunningProfile | None:
    names: set[str] = set()
    files: set[str] = set()
    count = unknown = 0
    for lab in labels:
        if lab.get(ONEOFF_LABEL) == "True":
            continue
        count += 1
        matched = match_profiles(project.profiles, lab.get(CONFIG_FILES_LABEL), lab.get(ENV_FILES_LABEL), project.root)
        if matched:
            names.update(matched)
        else:
            unknown += 1
            files.update(_relative(project.root, f) for f in _split(lab.get(CONFIG_FILES_LABEL)))
    if not count:
        return None
    return RunningProfile(tuple(sorted(names)), count, unknown, tuple(sorted(files)))


def _relative(root: Any, path: str) -> str:
    try:
        return os.path.relpath(path, str(root))
    except ValueError:
        return path


@dataclass(frozen=True)
class Protection:
    """Whether a destructive command needs confirmation, and the profile name to type."""

    protected: bool
    profile: str
    reason: str = ""


def protection(stack: Stack, running: RunningProfile | None) -> Protection:
    """The requested profile's protection, widened to every profile the existing stack runs under."""
    if stack.profile.protected:
        return Protection(True, stack.profile.name)
    for name in running.profiles if running else ():
        other = stack.project.profiles.get(name)
        if other is not None and other.protected:
            return Protection(True, name, f"the stack on the engine was started with protected profile {name!r}")
    return Protection(False, stack.profile.name)


def check_same_profile(stack: Stack, running: RunningProfile | None, action: str) -> None:
    """Refuse to act under one profile on a stack that was started under another (exit 2)."""
    if running is None or not running.profiles:
        return
    started = running.describe()
    if stack.profile.name in running.profiles and len(running.profiles) > 1 and running.name is None:
        # Some containers were created under one profile, some under another: whose data is it?
        raise UsageError(
            f"The stack of project {stack.name!r} mixes containers started with profiles {started}; "
            f"refusing to {action} until it runs under one profile. Nothing was changed.",
            hint=f"Recreate it under one profile: devenv up --profile {stack.profile.name} --switch-profile",
        )
    if stack.profile.name in running.profiles:
        return
    raise UsageError(
        f"The stack of project {stack.name!r} was started with profile {started}, not {stack.profile.name!r}; "
        f"refusing to {action} across profiles (they share containers and volumes). Nothing was changed.",
        hint=(
            f"Use --profile {running.profiles[0]}, or switch the stack first: "
            f"devenv up --profile {stack.profile.name} --switch-profile"
        ),
    )
