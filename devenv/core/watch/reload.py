"""Config changes applied live: resolve the edited config, recreate only what changed.

:func:`resolve` reloads ``devenv.toml`` / ``profiles/*.toml`` (or the zero-config detection), picks
the same profile, and has Compose load and validate the profile's compose and env files
(``docker compose config``), with a YAML check of each compose file first so that a syntax error
names its file and line. Anything wrong raises :class:`ConfigProblem` (file, line, message) and
nothing on the engine is touched.

:func:`changed_services` compares Compose's own config hash of every service
(``docker compose config --hash '*'``, the value Compose writes into the
``com.docker.compose.config-hash`` label of the containers it creates) with the label of the
running containers: a service whose hash differs has a new effective config (environment from an
env file, command, ports, image...) and is recreated; the others keep their containers.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from devenv.core.compose.files import service_env_files
from devenv.core.compose.model import ComposeModel
from devenv.core.compose.runner import ComposeProcess
from devenv.core.engine.containers import ONEOFF_LABEL, PROJECT_LABEL, SERVICE_LABEL
from devenv.errors import ConfigError

if TYPE_CHECKING:
    import queue

    from devenv.core.stack import Stack
    from devenv.core.watch.filewatch import FileWatch

__all__ = ["CONFIG_HASH_LABEL", "ConfigProblem", "changed_services", "config_files", "config_hashes", "resolve"]

CONFIG_HASH_LABEL = "com.docker.compose.config-hash"


class ConfigProblem(Exception):
    def __init__(self, file: str, line: int | None, message: str) -> None:
        super().__init__(f"{file}{f':{line}' if line else ''}: {message}")
        self.file = file
        self.line = line
        self.message = message


def config_files(stack: Stack) -> list[Path]:
    """The files whose edits change the stack: the profile's compose and env files, Compose's default
    ``.env``, ``devenv.toml``, every ``profiles/*.toml`` and the services' own ``env_file:`` files."""
    project, profile = stack.project, stack.profile
    files: list[Path] = [*profile.compose_files, *profile.env_files]
    if profile.compose_files:
        files.append(profile.compose_files[0].parent / ".env")
    if project.config_file is not None:
        files.append(project.config_file)
        folder = project.config_file.parent / "profiles"
        files += sorted(folder.glob("*.toml")) if folder.is_dir() else []
        files.append(folder / "*.toml")  # a profile file added later
    if profile.source is not None:
        files.append(profile.source)
    files += service_env_files(profile.compose_files)  # Compose's config drops their paths
    return list(dict.fromkeys(files))


def watch_folders_of(
    files: Sequence[Path], current: FileWatch | None, inbox: queue.Queue[tuple[str, Any]], step_ms: int
) -> FileWatch:
    """A watch of the folders of ``files`` posting ``("config", (paths, at))`` to ``inbox``: ``current``
    when it already watches those folders, else a new one (``current`` stopped): a reload may name
    files in other folders (a service's new ``env_file:``)."""
    from devenv.core.watch.filewatch import FileWatch

    folders = sorted({str(f.parent) for f in files if f.parent.is_dir()})
    if current is not None and current.paths == folders:
        return current
    if current is not None:
        current.stop()
    watch = FileWatch(
        folders,
        lambda paths, at: inbox.put(("config", (paths, at))),
        lambda exc: inbox.put(("watch_error", ("config", exc))),
        recursive=False,
        step_ms=step_ms,  # a config edit recreates services: a quicker answer buys nothing
        name="devenv-watch-config",
    ).start()
    watch.ready.wait(5)
    return watch


def _yaml_problem(path: Path) -> ConfigProblem | None:
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        return ConfigProblem(str(path), None, f"cannot read it: {exc.strerror or exc}")
    try:
        yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = " ".join(str(p) for p in (exc.context, exc.problem) if p)
        return ConfigProblem(str(path), mark.line + 1 if mark is not None else None, f"invalid YAML: {what}")
    except yaml.YAMLError as exc:
        return ConfigProblem(str(path), None, f"invalid YAML: {exc}")
    return None


_LINE = re.compile(r"line (\d+)")


def _locate(message: str, files: Sequence[Path]) -> tuple[str, int | None]:
    """The file (and line) a Compose error names, else the first compose file."""
    named = [f for f in files if str(f) in message] or [f for f in files if f.name in message]
    m = _LINE.search(message)
    return str(named[0] if named else files[0] if files else "compose file"), int(m.group(1)) if m else None


def resolve(old: Stack, changed: Sequence[str] = ()) -> tuple[Stack, dict[str, Any]]:
    """The stack as the files now say (same project root, profile and Compose profiles), validated.

    Returns the new :class:`Stack` (its compose model loaded) and the ``config`` JSON.
    """
    from devenv.config import load_project
    from devenv.core.engine.endpoint import of_profile
    from devenv.core.stack import Stack

    try:
        project = load_project(old.project.root)
    except ConfigError as exc:
        raise ConfigProblem(exc.path or (changed[0] if changed else "devenv.toml"), exc.line, exc.message) from None
    profile = project.profiles.get(old.profile.name)
    if profile is None:
        where = str(project.config_file or old.project.root)
        raise ConfigProblem(where, None, f"profile {old.profile.name!r} is no longer defined")
    # Reading files never connects: the open connection is kept only when the engine is the same.
    connected = old._api if old._api is not None and old.endpoint == of_profile(profile) else None
    new = Stack(project, profile, api=connected, compose_profiles=old.compose_profiles)
    for path in profile.compose_files:
        problem = _yaml_problem(path)
        if problem is not None:
            raise problem
    try:
        data = new.config_json()
    except ConfigError as exc:
        file, line = _locate(exc.message, profile.compose_files)
        raise ConfigProblem(file, line, exc.message) from None
    new.__dict__["model"] = ComposeModel.from_json(data)
    return new, data


def config_hashes(stack: Stack) -> dict[str, str]:
    """service -> Compose's config hash under ``stack``'s files (``docker compose config --hash '*'``)."""
    out = ComposeProcess(stack, "config", ["config", "--hash", "*"], merge_output=False).wait()
    hashes: dict[str, str] = {}
    for line in out.splitlines():
        name, _, value = line.strip().partition(" ")
        if name and value:
            hashes[name] = value.strip()
    return hashes


def running_hashes(stack: Stack) -> dict[str, set[str]]:
    """service -> the config-hash labels of its containers (one-off containers left out)."""
    out: dict[str, set[str]] = {}
    for item in stack.api.containers(all=True, filters={"label": [f"{PROJECT_LABEL}={stack.name}"]}):
        labels: Mapping[str, str] = item.get("Labels") or {}
        if labels.get(ONEOFF_LABEL) == "True" or not labels.get(SERVICE_LABEL):
            continue
        out.setdefault(labels[SERVICE_LABEL], set()).add(labels.get(CONFIG_HASH_LABEL, ""))
    return out


@dataclass(frozen=True)
class Changes:
    recreate: tuple[str, ...]  # have containers whose config hash is not the new one
    start: tuple[str, ...]  # new in the config (no container yet)


def changed_services(new: Stack, old_services: Sequence[str]) -> Changes:
    hashes = config_hashes(new)
    running = running_hashes(new)
    recreate = [s for s, h in hashes.items() if s in running and running[s] != {h}]
    start = [s for s in new.model.services if s not in old_services and s not in running]
    order = new.model.closure(list(new.model.services))
    return Changes(tuple(s for s in order if s in recreate), tuple(s for s in order if s in start))


def is_config_path(path: str, files: Sequence[Path]) -> bool:
    """Whether a changed path is one of :func:`config_files` (``profiles/*.toml`` by pattern)."""
    for f in files:
        if f.name == "*.toml":
            if os.path.dirname(path) == str(f.parent) and path.endswith(".toml"):
                return True
        elif path == str(f):
            return True
    return False
