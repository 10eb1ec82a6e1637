"""Where a debugger attaches to a service: the contract between enabling debug and the DAP client."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class PathMapping:
    """A source folder on the host and where the container sees it (from a bind mount)."""

    local_root: str
    remote_root: str


@dataclass(frozen=True)
class DebugTarget:
    """A service whose debugpy adapter listens on ``host:port`` (published on 127.0.0.1)."""

    service: str
    host: str
    port: int
    container_port: int
    path_mappings: tuple[PathMapping, ...] = field(default_factory=tuple)
    # True when the service's own command already runs debugpy (devenv added nothing).
    own_debugpy: bool = False
    # True while devenv's generated overlay is what turned debugging on.
    overlay: bool = False
