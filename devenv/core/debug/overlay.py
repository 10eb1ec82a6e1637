"""devenv's generated debug overlay: ``.devenv/debug/<profile>.yml``, one per profile.

While a service of a profile is under debug, this file is the last compose file of that profile
for every command (``Stack`` appends it: :func:`with_debug_overlay`), so ``up``, ``recreate``,
``status`` and the TUI all see the same definition and Compose never recreates the service
behind devenv's back. It is never written into the user's files; ``devenv debug off`` removes
the service's entry (and the file with the last one), and the profile is what it was.

Besides the Compose keys, the file keeps devenv's own record of each service under the
``x-devenv-debug`` extension key (Compose ignores ``x-`` keys): the ports, ``--wait``, the Python
and debugpy used. Paths in it are absolute: Compose resolves relative paths of every file against
the first file's folder.

Cheap to import (the ``Stack`` constructor uses it): standard library only, YAML on first read.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

if TYPE_CHECKING:
    from devenv.config import Profile

OVERLAY_DIR = ("debug",)  # below the project's .devenv folder
EXTENSION_KEY = "x-devenv-debug"
DEBUG_LABEL = "dev.devenv.debug"  # on containers devenv runs under debugpy: the container port
DEBUGPY_MOUNT = "/opt/devenv/debugpy"  # where the read-only debugpy copy is mounted


def overlay_path(root: Path, profile_name: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", profile_name) or "_"
    return root / ".devenv" / "debug" / f"{safe}.yml"


def is_overlay_file(path: str | os.PathLike[str]) -> bool:
    """True for a debug overlay of devenv (``<root>/.devenv/debug/*.yml``)."""
    p = Path(path)
    return p.parent.name == "debug" and p.parent.parent.name == ".devenv" and p.suffix == ".yml"


def with_debug_overlay(root: Path, profile: Profile) -> Profile:
    """``profile`` with its debug overlay as the last compose file while one exists."""
    if not isinstance(getattr(profile, "name", None), str) or not hasattr(profile, "compose_files"):
        return profile  # a stand-in profile (tests)
    path = overlay_path(root, profile.name)
    files = tuple(f for f in profile.compose_files if not is_overlay_file(f))
    if os.path.exists(path):
        files = (*files, path)
    if files == profile.compose_files:
        return profile
    return replace(profile, compose_files=files)


def without_debug_overlay(profile: Profile) -> Profile:
    """``profile`` as its own files define it."""
    files = tuple(f for f in profile.compose_files if not is_overlay_file(f))
    return profile if files == profile.compose_files else replace(profile, compose_files=files)


# ------------------------------------------------------------------------------------ the record
@dataclass(frozen=True)
class DebugEntry:
    """devenv's record of one service under debug (the ``x-devenv-debug`` entry)."""

    service: str
    container_port: int
    host_port: int
    wait: bool = False
    python: str = ""  # "3.11"
    debugpy: str = ""  # host folder mounted at DEBUGPY_MOUNT; "" when the image has debugpy
    launch: str = ""  # what was wrapped, for messages
    compose: Mapping[str, Any] = field(default_factory=dict)  # the service's overlay keys

    def record(self) -> dict[str, Any]:
        return {
            "container_port": self.container_port,
            "host_port": self.host_port,
            "wait": self.wait,
            "python": self.python,
            "debugpy": self.debugpy,
            "launch": self.launch,
        }


def read_overlay(root: Path, profile_name: str) -> dict[str, DebugEntry]:
    """service -> its entry; empty when no overlay (or an unreadable one: devenv rewrites it)."""
    path = overlay_path(root, profile_name)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return {}
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return {}
    if not isinstance(data, dict):
        return {}
    services = data.get("services") or {}
    records = data.get(EXTENSION_KEY) or {}
    out: dict[str, DebugEntry] = {}
    for name, rec in records.items() if isinstance(records, dict) else ():
        if not isinstance(rec, dict) or not isinstance(services.get(name), dict):
            continue
        try:
            out[str(name)] = DebugEntry(
                service=str(name),
                container_port=int(rec["container_port"]),
                host_port=int(rec["host_port"]),
                wait=bool(rec.get("wait", False)),
                python=str(rec.get("python") or ""),
                debugpy=str(rec.get("debugpy") or ""),
                launch=str(rec.get("launch") or ""),
                compose=services[name],
            )
        except (KeyError, TypeError, ValueError):
            continue
    return out


HEADER = (
    "# Generated by `devenv debug` for profile {profile!r}: the services below run under debugpy.\n"
    "# Not yours to edit: `devenv debug off SERVICE` removes a service, and this file with the last one.\n"
)


def write_overlay(root: Path, profile_name: str, entries: Mapping[str, DebugEntry]) -> Path | None:
    """Write the overlay of ``entries`` atomically (private folder); remove it when there is none.

    Returns the file, or None when it was removed.
    """
    import yaml

    from devenv.core.state import ensure_state_dir, private_dir

    path = overlay_path(root, profile_name)
    if not entries:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        return None
    private_dir(ensure_state_dir(root) / "debug")
    doc = {
        "services": {name: dict(e.compose) for name, e in sorted(entries.items())},
        EXTENSION_KEY: {name: e.record() for name, e in sorted(entries.items())},
    }
    text = HEADER.format(profile=profile_name) + yaml.safe_dump(
        doc, sort_keys=False, default_flow_style=False, width=1000
    )
    tmp = path.with_name(f".{path.name}.{os.getpid()}.partial")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)
    return path


def escape(value: str) -> str:
    """A literal value for a compose file: ``$`` doubled, so Compose does not interpolate it."""
    return value.replace("$", "$$")


def unescape(value: str) -> str:
    """A value as ``docker compose config`` prints it (``$$`` for a literal ``$``), made literal."""
    return value.replace("$$", "$")


DEBUG_LOCK = "debug.lock"
_F = TypeVar("_F", bound=Callable[..., Any])


def overlay_locked(fn: _F) -> _F:
    """Run ``fn(stack, service, ..., emit=...)`` holding the project's debug lock (``.devenv/debug.lock``).

    Turning debugging on or off reads the overlay, rewrites it and recreates the service: two at
    once (``devenv debug api`` in one terminal, ``devenv debug worker`` or the TUI in another) would
    each write the overlay it read, and one service's entry would be lost. The second waits, told
    who holds the lock; Ctrl-C ends the wait.
    """

    @functools.wraps(fn)
    def locked(stack: Any, service: str, *args: Any, **kwargs: Any) -> Any:
        from devenv.core.events import StepStarted
        from devenv.core.state import ProjectLock

        emit = kwargs.get("emit")

        def waiting(message: str) -> None:
            if emit is not None:
                emit(StepStarted("lock", message))

        what = f"devenv debug {service}"
        with ProjectLock(stack.project.root, exclusive=True, what=what, on_wait=waiting, name=DEBUG_LOCK):
            return fn(stack, service, *args, **kwargs)

    return cast(_F, locked)
