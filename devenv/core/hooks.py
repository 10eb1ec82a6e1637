"""Compose lifecycle hooks (``post_start``, ``pre_stop``) run as Compose runs them.

Compose (2.30+) runs each ``post_start`` hook right after it starts a container, before it calls
the container started: an exec in the container with the hook's ``command``, ``user``,
``privileged``, ``working_dir`` and ``environment``; the hooks of a container run one after the
other, and a hook that exits non-zero fails the service's start ("<service> hook exited with
status N"). Services that depend on it start only after its hooks. Compose runs hooks only on its
own starts, not when a restart policy restarts the container.

``pre_stop`` hooks are Compose's business on ``down``: devenv ``down`` runs ``docker compose down``
itself. (Compose 2.40 was seen not to run them on ``down`` or ``stop``; devenv does what Compose
does.)

:func:`run_hooks` is called by the ``up`` waiter (:mod:`devenv.core.waiter`) from a worker thread,
right after it started a container through the Engine API.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from devenv.core.compose.model import Hook

OUTPUT_LINES = 20  # lines of a failed hook's output kept for the report


@dataclass(frozen=True)
class HookFailure:
    """A hook that could not run or exited non-zero."""

    index: int  # position in the service's post_start list (0-based)
    command: tuple[str, ...]
    exit_code: int | None  # None: the exec itself failed (``error`` says why)
    output: tuple[str, ...] = ()
    error: str = ""

    def reason(self, kind: str = "post_start") -> str:
        what = f"{kind} hook {self.index + 1} ({' '.join(self.command)})"
        if self.exit_code is None:
            return f"{what} could not run: {self.error}"
        return f"{what} exited with status {self.exit_code}"


def hook_env(hook: Hook) -> list[str]:
    """The hook's environment as the Engine takes it (``KEY=value``; ``KEY`` alone for a null value)."""
    return [k if v is None else f"{k}={v}" for k, v in hook.environment.items()]


def run_hook(api: Any, container_id: str, hook: Hook) -> tuple[int | None, list[str], str]:
    """Exec one hook in a running container: ``(exit code, output lines, error)``.

    ``exit code`` is None when the exec could not be created or started (``error`` says why).
    """
    try:
        exec_id = api.exec_create(
            container_id,
            list(hook.command),
            stdout=True,
            stderr=True,
            tty=False,
            privileged=hook.privileged,
            user=hook.user or "",
            environment=hook_env(hook) or None,
            workdir=hook.working_dir,
        )["Id"]
        raw = api.exec_start(exec_id, stream=False)
        code = api.exec_inspect(exec_id).get("ExitCode")
    except Exception as exc:
        return None, [], str(getattr(exc, "explanation", None) or exc)
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else str(raw or "")
    return (int(code) if code is not None else None), text.splitlines(), "" if code is not None else "no exit code"


def run_hooks(api: Any, container_id: str, hooks: Sequence[Hook]) -> HookFailure | None:
    """Run a container's hooks in order; the first failure stops them and is returned."""
    for index, hook in enumerate(hooks):
        code, lines, error = run_hook(api, container_id, hook)
        if code != 0:
            return HookFailure(index, hook.command, code, tuple(lines[-OUTPUT_LINES:]), error)
    return None
