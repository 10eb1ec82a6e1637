"""The watch's heavier steps, each one call into the core's own actions: rebuild, restart, exec.

- :func:`rebuild`: one ``docker compose build`` per *image* (services sharing an image are built
  once, by the first of them that has a ``build:`` section), then
  :func:`devenv.core.actions.recreate` of every service that uses the image and has a container,
  waited for exactly as ``up`` waits (health, readiness rules, diagnostics);
- :func:`restart`: :func:`devenv.core.actions.restart` (health-gated);
- :func:`run_exec`: a ``sync+exec`` command in each running container.

Failures become :class:`~devenv.core.watch.events.WatchError` events: the watch goes on.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from devenv.core.watch import sync as syncio
from devenv.core.watch.events import WatchError, WatchExec, WatchRebuilt, WatchRestarted
from devenv.errors import DevenvError

if TYPE_CHECKING:
    from devenv.core.cancel import CancelToken
    from devenv.core.events import Emit
    from devenv.core.stack import Stack
    from devenv.core.watch.plan import Plan
    from devenv.core.watch.rules import Rule

__all__ = ["image_groups", "rebuild", "restart", "run_exec"]


def image_groups(
    asked: Sequence[str], images: Mapping[str, tuple[str, bool]], present: Collection[str]
) -> list[tuple[str, str, list[str]]]:
    """``(image, the service that builds it, the services to recreate)`` once per image.

    ``images``: service -> (image name, has ``build:``); ``present``: services with a container.
    """
    groups: dict[str, list[str]] = {}
    for service in asked:
        groups.setdefault(images.get(service, (service, True))[0], []).append(service)
    out = []
    for image, services in groups.items():
        builder = next((s for s in services if images.get(s, ("", False))[1]), services[0])
        users = [s for s, (img, _b) in images.items() if img == image and (s in present or s in services)]
        out.append((image, builder, users))
    return out


def rebuild(
    stack: Stack,
    todo: Plan,
    images: Mapping[str, tuple[str, bool]],
    present: Collection[str],
    emit: Emit,
    cancel: CancelToken | None,
    rel: Callable[[Path], str],
) -> None:
    from devenv.core.actions import recreate
    from devenv.core.compose.runner import ComposeProcess

    for image, builder, users in image_groups(todo.rebuild, images, present):
        t0 = time.monotonic()
        trigger = next((rel(Path(todo.triggers[s])) for s in todo.rebuild if s in todo.triggers), "")
        proc = ComposeProcess(stack, "build", ["build", builder], merge_output=True)
        try:
            proc.wait()
        except DevenvError as exc:
            emit(WatchRebuilt(image, tuple(users), "failed", time.monotonic() - t0, trigger, exc.message[-2000:]))
            kept = ", ".join(users)
            emit(WatchError("rebuild", builder, trigger, f"the build of {image} failed; {kept} kept running"))
            continue
        finally:
            proc.stop()
        try:
            result = recreate(stack, users, emit=emit, cancel=cancel)
        except DevenvError as exc:
            emit(WatchRebuilt(image, tuple(users), "failed", time.monotonic() - t0, trigger, exc.message))
            emit(WatchError("rebuild", ", ".join(users), trigger, f"built {image}, could not recreate: {exc.message}"))
            continue
        emit(WatchRebuilt(image, tuple(users), result.outcome, time.monotonic() - t0, trigger))
        if not result.ok:
            why = "; ".join(f"{f.service}: {f.reason}" for f in result.failures) or result.outcome
            emit(WatchError("rebuild", ", ".join(users), trigger, f"recreated, not ready: {why}"))


def restart(stack: Stack, services: Sequence[str], emit: Emit, cancel: CancelToken | None) -> None:
    from devenv.core.actions import restart as restart_services

    t0 = time.monotonic()
    try:
        result = restart_services(stack, services, emit=emit, cancel=cancel)
    except DevenvError as exc:
        emit(WatchError("restart", ", ".join(services), "", exc.message))
        return
    emit(WatchRestarted(tuple(services), result.outcome, time.monotonic() - t0))
    if not result.ok:
        why = "; ".join(f"{f.service}: {f.reason}" for f in result.failures) or result.outcome
        emit(WatchError("restart", ", ".join(services), "", f"not ready after the restart: {why}"))


def run_exec(stack: Stack, service: str, rule: Rule, containers: Sequence[str], emit: Emit) -> None:
    assert rule.exec is not None
    for cid in containers:
        try:
            code, output = syncio.run_exec(stack.api, cid, rule.exec)
        except Exception as exc:
            emit(WatchError("exec", service, " ".join(rule.exec.command), str(exc)))
            continue
        emit(WatchExec(service, cid[:12], rule.exec.command, code, output))
