"""A record of the destructive database operation in progress, so that an interrupted one is noticed.

``db reset``, ``db restore`` and ``db import`` write ``.devenv/operation.json`` before their first
destructive step (after the safety snapshot) and remove it when they succeed. If the process is
killed (SIGKILL, a closed terminal, a crash) or the operation fails after the drop, the file stays,
and the next ``devenv db`` command says what happened and which command brings the data back.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from devenv.core.state import pid_alive

FILE = "operation.json"


@dataclass(frozen=True)
class Operation:
    operation: str  # "db reset", "db restore", "db import"
    profile: str
    snapshot: str | None  # the safety snapshot taken before it, if any
    started: float
    pid: int

    def recovery(self) -> str:
        """One paragraph: what was interrupted and how to get the data back."""
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.started))
        text = (
            f"An earlier `devenv {self.operation}` (profile {self.profile}, started {when}) did not finish: "
            "the database may be half-loaded or empty."
        )
        if self.snapshot:
            return (
                f"{text} The data before it is in snapshot {self.snapshot!r}; get it back with: "
                f"devenv db restore {self.snapshot} --profile {self.profile}"
            )
        return f"{text} It ran without a safety snapshot (--no-snapshot); `devenv db reset` starts afresh."


def _path(root: Path) -> Path:
    return root / ".devenv" / FILE


def begin(root: Path, operation: str, profile: str, snapshot: str | None) -> Operation:
    from devenv.core.state import ensure_state_dir

    op = Operation(operation, profile, snapshot, time.time(), os.getpid())
    folder = ensure_state_dir(root)
    tmp = folder / f".{FILE}.{os.getpid()}.partial"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(asdict(op), f)
    os.replace(tmp, _path(root))
    return op


def finish(root: Path, op: Operation) -> None:
    """The operation succeeded: forget it (and any older interrupted one it supersedes)."""
    with contextlib.suppress(FileNotFoundError):
        _path(root).unlink()


def pending(root: Path) -> Operation | None:
    """An operation that did not finish, unless its process still runs (then it is in progress)."""
    try:
        data = json.loads(_path(root).read_text(encoding="utf-8"))
        op = Operation(**data)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError):
        return None
    if op.pid != os.getpid() and pid_alive(op.pid):
        return None
    return op
