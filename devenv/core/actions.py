"""Per-service actions: start, stop, restart, recreate and rebuild one or more services.

Every action that leaves services running is health-gated exactly like ``up``: the Engine's
``/events`` for the project are subscribed first (:class:`~devenv.core.eventstream.EventStream`), then
the action happens, then the same :class:`~devenv.core.waiter.Waiter` (``Stack.waiter``) starts
what has to start and follows the targets. So the verdicts, the progress events and the
diagnostics of a failure (reason, state, last healthcheck output, last log lines, the dependency
a service was blocked on) are those of ``up``, and so is the result (:class:`UpResult`; failures,
timeouts and Ctrl-C during the wait are outcomes in it, not exceptions). ``stop`` returns a
:class:`StopResult`.

Which containers each action touches follows Compose v2's verb of the same name:

- :func:`start`: the existing containers of the services *and of their dependencies* that are not
  running (as ``docker compose start SERVICE`` does; a completed one-shot dependency runs again),
  each started as soon as its ``depends_on`` conditions hold, then all of them waited for. A
  service or dependency without a container is an error (exit 1) naming it, with ``devenv up``
  (which creates) as the hint.
- :func:`stop`: the running containers of the services, dependents before their dependencies,
  each given ``timeout`` seconds (Compose's ``-t``; default: the container's
  ``stop_grace_period``, else 10 s) before it is killed. Waits for the Engine's ``stop`` events.
  Services that depend on a stopped one keep running, as with Compose.
- :func:`restart`: stop, then start (dependency order among the restarted services) and wait.
  As with ``docker compose restart``, a service that depends on a restarted one is *not*
  restarted, unless it declares ``depends_on: {SERVICE: {restart: true}}`` (then it is, unless
  ``no_deps``); dependencies outside the restarted services are neither started nor waited for.
- :func:`recreate`: ``docker compose up --no-start --force-recreate --no-deps SERVICE`` (new
  containers from the current config: environment, command, ports, image...), then start and wait.
- :func:`rebuild`: the same with ``--build``: the services' images are built first.

Every function raises :class:`~devenv.errors.UnknownServiceError` (exit 2, with a did-you-mean)
for a service the profile does not declare, before it changes anything. Ctrl-C during the stop
phase of ``restart`` raises ``KeyboardInterrupt`` (the containers already stopped stay stopped).
"""

from __future__ import annotations

import queue
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from devenv.core.cancel import CancelToken, check
from devenv.core.compose.model import ComposeModel, check_services
from devenv.core.engine.containers import ONEOFF_LABEL, PROJECT_LABEL, SERVICE_LABEL, container_from_inspect
from devenv.core.events import ActionStarted, Emit, Event, ServiceStopped, StepStarted
from devenv.core.health import aggregate, event_parts
from devenv.core.models import Failure, ServiceStatus, UpResult
from devenv.errors import DevenvError

if TYPE_CHECKING:
    from devenv.core.eventstream import EventStream
    from devenv.core.stack import Stack

# After a stop call returned, how long its ``stop`` event may take to arrive on the event stream
# (it was sent before the call returned; this only bounds a lost event).
STOP_EVENT_GRACE = 2.0
DEFAULT_STOP_TIMEOUT = 10  # the Engine's default when a container sets none


@dataclass(frozen=True)
class StopResult:
    """What :func:`stop` did. ``outcome``: "stopped", "failed" (a stop call failed) or "interrupted"."""

    project: str
    profile: str
    ok: bool
    outcome: str
    elapsed: float
    services: tuple[ServiceStatus, ...]
    failures: tuple[Failure, ...] = ()


def _ignore(_event: Event) -> None:
    pass


# ------------------------------------------------------------------------------------ the verbs
def start(
    stack: Stack,
    services: Sequence[str] | None = None,
    *,
    timeout: float | None = None,
    emit: Emit | None = None,
    cancel: CancelToken | None = None,
) -> UpResult:
    """Start the existing containers of ``services`` (all when empty) and their dependencies; wait.

    ``timeout``: seconds to wait for readiness (default: the profile's ``[readiness] timeout``).
    """
    sink = emit or _ignore
    t0 = time.monotonic()
    requested = list(dict.fromkeys(services or ()))
    sink(ActionStarted("start", tuple(requested)))
    model = _model(stack, requested)
    targets = model.closure(requested or list(model.services))
    _require_containers(stack, model, targets, requested, "start")
    stream = _subscribe(stack)
    try:
        sink(StepStarted("wait", ", ".join(targets)))
        return stack.waiter(model, targets, sink, timeout, cancel=cancel).run(stream, t0)
    finally:
        stream.close()


def stop(
    stack: Stack,
    services: Sequence[str] | None = None,
    *,
    timeout: int | None = None,
    emit: Emit | None = None,
    cancel: CancelToken | None = None,
) -> StopResult:
    """Stop the running containers of ``services`` (all when empty), dependents first.

    ``timeout``: seconds each container gets to stop before it is killed (Compose's ``-t``).
    ``cancel``: stop waiting (outcome "interrupted", as Ctrl-C): the stop calls already sent go on
    in the engine, no further wave is started.
    """
    sink = emit or _ignore
    t0 = time.monotonic()
    requested = list(dict.fromkeys(services or ()))
    sink(ActionStarted("stop", tuple(requested)))
    model = _model(stack, requested)
    targets = [s for s in model.closure(requested or list(model.services)) if not requested or s in requested]
    stream = _subscribe(stack)
    outcome = "stopped"
    failures: list[Failure] = []
    unhook = cancel.on_cancel(lambda: stream.queue.put(("cancel", None))) if cancel is not None else None
    try:
        sink(StepStarted("stop", ", ".join(targets)))
        failures = _stop_services(stack, stream, model, targets, timeout, sink, t0)
    except KeyboardInterrupt:
        outcome = "interrupted"
    finally:
        if unhook is not None:
            unhook()
        stream.close()
    if failures and outcome == "stopped":
        outcome = "failed"
    statuses = tuple(stack.status(targets))
    return StopResult(
        stack.name, stack.profile.name, outcome == "stopped", outcome, time.monotonic() - t0, statuses, tuple(failures)
    )


def restart(
    stack: Stack,
    services: Sequence[str] | None = None,
    *,
    stop_timeout: int | None = None,
    timeout: float | None = None,
    no_deps: bool = False,
    emit: Emit | None = None,
    cancel: CancelToken | None = None,
) -> UpResult:
    """Stop, then start ``services`` (all when empty) and wait until they are ready again.

    Services declaring ``depends_on: {S: {restart: true}}`` on a restarted ``S`` are restarted too
    unless ``no_deps``. ``stop_timeout``: Compose's ``-t``; ``timeout``: the readiness wait.
    """
    sink = emit or _ignore
    t0 = time.monotonic()
    requested = list(dict.fromkeys(services or ()))
    sink(ActionStarted("restart", tuple(requested)))
    model = _model(stack, requested)
    targets = restart_targets(model, requested, no_deps=no_deps)
    _require_containers(stack, model, targets, requested, "restart")
    wait_model = model.isolated(targets)
    stream = _subscribe(stack)
    # A cancel during the stops ends their wait (Cancelled, as Ctrl-C); the waiter hooks its own.
    unhook = cancel.on_cancel(lambda: stream.queue.put(("cancel", None))) if cancel is not None else None
    try:
        sink(StepStarted("stop", ", ".join(targets)))
        failures = _stop_services(stack, stream, model, targets, stop_timeout, sink, t0)
        if unhook is not None:
            unhook()
            unhook = None
        if failures:
            raise DevenvError(
                "Could not stop " + "; ".join(f"{f.service} ({f.reason})" for f in failures) + ".",
                hint="Nothing was started again; `devenv status` shows where each service stands.",
            )
        sink(StepStarted("wait", ", ".join(targets)))
        check(cancel)
        return stack.waiter(wait_model, targets, sink, timeout, cancel=cancel).run(stream, t0)
    finally:
        if unhook is not None:
            unhook()
        stream.close()


def recreate(
    stack: Stack,
    services: Sequence[str] | None = None,
    *,
    stop_timeout: int | None = None,
    timeout: float | None = None,
    emit: Emit | None = None,
    build: bool = False,
    cancel: CancelToken | None = None,
) -> UpResult:
    """New containers for ``services`` (all when empty) from the current config, started and waited for.

    ``docker compose up --no-start --force-recreate --no-deps`` (with ``--build`` when ``build``),
    then the wait of ``up``. Dependencies are neither recreated, started nor waited for.
    """
    from devenv.core.stack import up

    sink = emit or _ignore
    requested = list(dict.fromkeys(services or ()))
    sink(ActionStarted("rebuild" if build else "recreate", tuple(requested)))
    return up(
        stack,
        requested,
        build=build,
        timeout=timeout,
        emit=sink,
        force_recreate=True,
        no_deps=True,
        stop_timeout=stop_timeout,
        cancel=cancel,
    )


def rebuild(
    stack: Stack,
    services: Sequence[str] | None = None,
    *,
    stop_timeout: int | None = None,
    timeout: float | None = None,
    emit: Emit | None = None,
    cancel: CancelToken | None = None,
) -> UpResult:
    """Build the images of ``services`` (all when empty), then :func:`recreate` them and wait."""
    return recreate(stack, services, stop_timeout=stop_timeout, timeout=timeout, emit=emit, build=True, cancel=cancel)


# --------------------------------------------------------------------------------- which services
def restart_targets(model: ComposeModel, requested: Sequence[str], *, no_deps: bool = False) -> list[str]:
    """The services a restart acts on, in dependency order.

    ``requested`` (every service when empty) plus, unless ``no_deps``, every service that depends
    on one of them with ``restart: true`` (transitively), as Compose's ``restart`` does.
    """
    chosen = set(requested or model.services)
    if not no_deps:
        edges = _restart_edges(model.raw)
        grew = True
        while grew:
            grew = False
            for service, deps in edges.items():
                if service not in chosen and deps & chosen:
                    chosen.add(service)
                    grew = True
    return [s for s in model.closure(list(model.services)) if s in chosen]


def _restart_edges(raw: Mapping[str, Any]) -> dict[str, set[str]]:
    """service -> the dependencies it declares with ``restart: true`` (from ``compose config``)."""
    out: dict[str, set[str]] = {}
    for name, svc in (raw.get("services") or {}).items():
        deps = (svc or {}).get("depends_on") or {}
        if isinstance(deps, Mapping):
            marked = {d for d, spec in deps.items() if isinstance(spec, Mapping) and spec.get("restart") is True}
            if marked:
                out[str(name)] = marked
    return out


def stop_levels(model: ComposeModel, services: Sequence[str]) -> list[list[str]]:
    """``services`` in waves for stopping: a service comes after every one of them that depends on it."""
    order = [s for s in model.closure(list(services)) if s in services]
    level: dict[str, int] = {}
    for s in reversed(order):  # dependents come after their dependencies in ``order``
        dependents = [d for d in order if d != s and s in model.closure([d])]
        level[s] = 1 + max((level[d] for d in dependents), default=-1)
    waves: list[list[str]] = [[] for _ in range(max(level.values(), default=-1) + 1)]
    for s in order:
        waves[level[s]].append(s)
    return waves


# ------------------------------------------------------------------------------------ internals
def _model(stack: Stack, requested: Sequence[str]) -> ComposeModel:
    stack.enable_services(requested)  # a named service of an inactive Compose profile, as Compose
    model: ComposeModel = stack.model
    check_services(requested, model.services)
    return model


def _subscribe(stack: Stack) -> EventStream:
    from devenv.core.eventstream import EventStream

    return EventStream(stack.api, stack.name)


def _require_containers(
    stack: Stack, model: ComposeModel, targets: Sequence[str], requested: Sequence[str], action: str
) -> None:
    """Fail before acting when a target service has no container: only ``up`` creates them."""
    present = {c.service for c in stack.containers()}
    missing = [s for s in targets if s not in present and model.services[s].replicas != 0]
    if not missing:
        return
    what = " ".join(requested)
    raise DevenvError(
        f"Cannot {action} {what or 'the stack'}: no container for {', '.join(missing)} "
        "(never created, or removed by `devenv down`).",
        hint=f"`devenv up{' ' + what if what else ''}` creates the containers and starts them.",
    )


def _inspect_services(stack: Stack, services: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """service -> inspect documents of its containers (one-off ``run`` containers left out)."""
    api = stack.api
    wanted = set(services)
    out: dict[str, list[dict[str, Any]]] = {}
    for item in api.containers(all=True, filters={"label": [f"{PROJECT_LABEL}={stack.name}"]}):
        labels = item.get("Labels") or {}
        service = labels.get(SERVICE_LABEL)
        if labels.get(ONEOFF_LABEL) == "True" or service not in wanted:
            continue
        try:
            out.setdefault(service, []).append(api.inspect_container(item["Id"]))
        except Exception as exc:  # removed between list and inspect
            if "No such container" not in str(exc):
                raise
    return out


def _stop_services(
    stack: Stack,
    stream: EventStream,
    model: ComposeModel,
    services: Sequence[str],
    timeout: int | None,
    emit: Emit,
    t0: float,
) -> list[Failure]:
    """Stop the running containers of ``services`` in :func:`stop_levels` waves; the failures."""
    docs = _inspect_services(stack, services)
    failures: list[Failure] = []
    pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="devenv-stop")
    try:
        for wave in stop_levels(model, services):
            pending: dict[str, str] = {}  # container id -> service
            for service in wave:
                for doc in docs.get(service, []):
                    state = doc.get("State") or {}
                    if not (state.get("Running") or state.get("Restarting")):
                        continue
                    seconds = timeout if timeout is not None else _stop_timeout(doc)
                    pending[doc["Id"]] = service
                    pool.submit(_stop_one, stack, stream.queue, doc["Id"], seconds)
            errors = _await_stops(stack, stream, pending)
            for service in wave:
                status = _status_now(stack, service, [d["Id"] for d in docs.get(service, [])])
                failed = {cid: e for cid, e in errors.items() if pending[cid] == service}
                if failed:
                    failures.append(_stop_failure(status, next(iter(failed.values()))))
                else:
                    emit(ServiceStopped(status, time.monotonic() - t0))
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return failures


def _stop_timeout(doc: Mapping[str, Any]) -> int:
    value = (doc.get("Config") or {}).get("StopTimeout")
    return int(value) if isinstance(value, int) else DEFAULT_STOP_TIMEOUT


def _stop_one(stack: Stack, out: queue.Queue[tuple[str, Any]], cid: str, seconds: int) -> None:
    try:
        stack.api.stop(cid, timeout=seconds)
    except Exception as exc:
        out.put(("stopped", (cid, exc)))
        return
    out.put(("stopped", (cid, None)))


def _await_stops(stack: Stack, stream: EventStream, pending: Mapping[str, str]) -> dict[str, str]:
    """Wait until every stop call returned and its container's ``stop`` event arrived.

    Consuming those events here means a wait that follows (``restart``) never sees them: its
    initial inspect already shows the stopped containers. Returns container id -> error.
    """
    returned: dict[str, float] = {}
    seen: set[str] = set()
    errors: dict[str, str] = {}
    while True:
        now = time.monotonic()
        open_ = [
            c
            for c in pending
            if c not in returned or (c not in seen and c not in errors and now - returned[c] < STOP_EVENT_GRACE)
        ]
        if not open_:
            return errors
        due = [returned[c] + STOP_EVENT_GRACE - now for c in open_ if c in returned]
        try:
            kind, payload = stream.queue.get(timeout=max(0.0, min(due)) if due else None)
        except queue.Empty:
            continue
        if kind == "cancel":
            from devenv.core.cancel import Cancelled

            raise Cancelled()
        if kind == "event":
            action, cid, _attrs = event_parts(payload)
            if cid in pending and action in ("stop", "destroy"):
                seen.add(cid)
        elif kind == "stopped":
            cid, exc = payload
            returned[cid] = time.monotonic()
            if exc is not None and "No such container" not in str(exc):
                errors[cid] = str(getattr(exc, "explanation", None) or exc)
        elif kind == "stream_error":
            from devenv.core.engine.client import unavailable

            raise unavailable(payload, str(getattr(stack.api, "base_url", "the Docker socket")))


def _status_now(stack: Stack, service: str, ids: Sequence[str]) -> ServiceStatus:
    infos = []
    for cid in ids:
        try:
            infos.append(container_from_inspect(stack.api.inspect_container(cid)))
        except Exception as exc:
            if "No such container" not in str(exc):
                raise
    return aggregate(service, infos)


def _stop_failure(status: ServiceStatus, error: str) -> Failure:
    return Failure(
        service=status.service,
        reason=f"failed to stop: {error}",
        state=status.state,
        health=status.health,
        exit_code=status.exit_code,
    )
