"""What a failed wait tells the user about one service: the :class:`~devenv.core.models.Failure`.

Used by the ``up`` waiter (:mod:`devenv.core.waiter`) when a service fails or the wait ends: one
fresh inspect of the container that failed (state, exit code, the last healthcheck output), the
tail of its logs, the output of a failed ``post_start`` hook and the last probe error, every text
masked. And the reason a start call failed (a port another process holds is named).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from devenv.core.engine.containers import container_from_inspect
from devenv.core.models import Failure, Health
from devenv.core.ports import parse_port_conflict

if TYPE_CHECKING:
    from devenv.core.health import Tracked
    from devenv.core.secrets import Masker


def diagnose(
    api: Any,
    service: str,
    reason: str,
    blocked_on: Iterable[str],
    containers: Sequence[Tracked],
    *,
    mask: Masker,
    logs_tail: Callable[[str, int], list[str]] | None,
    hook_output: Sequence[str] = (),
    probe_error: str = "",
) -> Failure:
    """The failure of ``service`` (``containers``: its tracked containers) with what explains it."""
    target = next((t for t in containers if t.failure), containers[0] if containers else None)
    health_output = None
    logs: list[str] = []
    info = target.info if target else None
    if target is not None:
        with contextlib.suppress(Exception):  # gone or engine hiccup: what the events told us
            fresh = container_from_inspect(api.inspect_container(target.info.id))
            health_output = fresh.health_output
            info = replace(fresh, state=fresh.state, exit_code=fresh.exit_code)
        if logs_tail is not None:
            logs = logs_tail(target.info.id, 20)
    if hook_output:
        hook = "post_start hook output:\n" + "\n".join(hook_output)
        health_output = (health_output + "\n" if health_output else "") + hook
    if probe_error:
        health_output = (health_output + "\n" if health_output else "") + f"probe: {probe_error}"
    return Failure(
        service=service,
        reason=mask(reason),
        state=info.state if info else "missing",
        health=info.health if info else Health.NONE,
        exit_code=info.exit_code if info else None,
        restart_count=info.restart_count if info else 0,
        health_output=mask.optional(health_output),
        logs=mask.lines(logs),
        blocked_on=tuple(blocked_on),
    )


def start_failure(api: Any, error: BaseException, mask: Masker) -> str:
    """Why a start call failed, in words: a published port in use names its holder."""
    text = getattr(error, "explanation", None) or str(error)
    conflict = parse_port_conflict(str(text))
    if conflict:
        from devenv.core.ports import describe_port_holder

        host_ip, port = conflict
        holder = describe_port_holder(port, api)
        who = f"; held by {holder}" if holder else ""
        return f"port {port} ({host_ip}) is already in use on the host{who}"
    return f"failed to start: {mask(str(text))}"
