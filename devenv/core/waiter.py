"""The ``up`` waiter: start services in dependency order and follow them until ready.

How a wait works (``Waiter.run``):

1. The caller subscribes to the Engine's ``/events`` stream for the project *before* Compose
   creates anything (``EventStream``), so no transition can be missed.
2. After ``docker compose up --no-start`` created the containers, one list + inspect gives the
   initial state of every container of the target services.
3. Containers that are not running are started through the Engine API as soon as their
   ``depends_on`` conditions hold (service_started / service_healthy /
   service_completed_successfully; a failed ``required: false`` dependency does not block), within
   milliseconds of the event that unblocks them (Compose polls every 500 ms). Secrets and configs
   Compose copies in are copied first (:mod:`devenv.core.compose.injected`); ``post_start`` hooks
   run right after the start (:mod:`devenv.core.hooks`), and dependents wait for them.
4. Every state change then comes from the event stream (start, die, health_status, destroy, oom).
   The only timers (deadline, "settle" windows, probe intervals) bound ``queue.get``: no sleeps.
5. The work per event is O(1) in the size of the stack: an event marks its service for a new
   verdict, and a service whose ``depends_on`` view changed marks its dependents
   (:mod:`devenv.core.schedule`); nothing re-judges every service on every event.

6. While Docker says ``starting``, devenv runs the healthcheck test (or its host-side equivalent)
   itself (:mod:`devenv.core.fastcheck`): a pass counts as healthy, for dependents and for the end.

The verdicts (healthy, completed, a restart loop) are :mod:`devenv.core.health`'s rules.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import TYPE_CHECKING, Any

from devenv.core.compose.injected import InjectedFile, inject
from devenv.core.compose.model import ComposeModel, Hook, ServiceSpec
from devenv.core.diagnosis import diagnose, start_failure
from devenv.core.engine.containers import ONEOFF_LABEL, PROJECT_LABEL, SERVICE_LABEL, container_from_inspect
from devenv.core.events import Emit, ServiceChanged, ServiceFailed, ServiceReady, WaitFinished
from devenv.core.eventstream import EventStream as EventStream
from devenv.core.fastcheck import FastChecks
from devenv.core.health import (
    READY_BY_DOCKER,
    Tracked,
    aggregate,
    apply_event,
    condition_met,
    container_readiness,
    describe_condition,
    event_parts,
    tracked_from_inspect,
    uninspectable,
)
from devenv.core.models import ContainerInfo, Failure, Health, Readiness, ServiceStatus, UpResult
from devenv.core.schedule import CONDITIONS, Agenda, TrackedIndex, settle_ends, start_concurrency
from devenv.core.secrets import Masker
from devenv.core.status_changes import event_time

if TYPE_CHECKING:
    import docker

    from devenv.config import Probe
    from devenv.core.cancel import CancelToken
    from devenv.core.compose.injected import InjectedFile


# ------------------------------------------------------------------------------- tracked state
@dataclass
class ServiceVerdict:
    readiness: Readiness
    how: str = ""  # for READY: healthy / running / completed / probe
    reason: str = ""  # for FAILED
    note: str = ""  # for PENDING / WAITING: what it waits for
    blocked_on: tuple[str, ...] = ()


@dataclass
class ProbeState:
    ok: bool = False
    last_error: str = ""
    running: bool = False


# ------------------------------------------------------------------------------------- waiter
@dataclass
class Waiter:
    api: docker.APIClient
    project: str
    profile: str
    model: ComposeModel
    targets: list[str]
    emit: Emit
    timeout: float = 120.0
    settle: float = 1.5
    probes: Mapping[str, Probe] = field(default_factory=dict)
    logs_tail: Callable[[str, int], list[str]] | None = None
    cancel: CancelToken | None = None  # cancel() from any thread: outcome "interrupted", as Ctrl-C
    fast_checks: Collection[str] = ()  # services allowed fast checks (devenv.core.fastcheck)
    # The project environment, for secrets / configs with an `environment:` source (None: unset).
    env_lookup: Callable[[str], str | None] | None = None

    @cached_property
    def mask(self) -> Masker:
        """Masks secrets of the compose config in every text a failure or a note carries (built on first use)."""
        return Masker.from_config(self.model.raw)

    def __post_init__(self) -> None:
        self.tracked: TrackedIndex = TrackedIndex()
        self.agenda = Agenda(self.model.services, self.targets)
        self.refreshed: set[str] = set()  # containers devenv started (and inspected when needed)
        self.inspect_after_start: set[str] = set()  # published ports or a host-side fast check
        self.verdicts: dict[str, ServiceVerdict] = {}
        self.last_emitted: dict[str, tuple[Any, ...]] = {}
        self.probe_state: dict[str, ProbeState] = {s: ProbeState() for s in self.probes if s in self.targets}
        self.hooks_running: set[str] = set()  # containers whose post_start hooks have not finished
        self.hook_output: dict[str, tuple[str, ...]] = {}  # service -> output of its failed hook
        self._stop = threading.Event()
        # Every container whose dependencies hold is started at once (bounded as Compose bounds
        # it); probes get a pool of their own, so a probe's retry wait never delays a start.
        self._pool = ThreadPoolExecutor(max_workers=start_concurrency(), thread_name_prefix="devenv-start")
        self._checks = ThreadPoolExecutor(max_workers=4, thread_name_prefix="devenv-probe")
        self.queue: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.fast: FastChecks | None = None

    # -- public -------------------------------------------------------------------------------
    def run(self, stream: EventStream, t0: float | None = None) -> UpResult:
        self.queue = stream.queue
        checked = set(self.targets) & set(self.fast_checks)  # only containers Docker calls `starting` are checked
        self.fast = FastChecks(self.api, checked, self.queue.put) if checked else None
        self.t0 = time.monotonic() if t0 is None else t0
        deadline = time.monotonic() + self.timeout
        stream.drain()  # events of the create step (e.g. old containers being replaced)
        # A cancel wakes the blocking queue.get below; _handle turns it into the Ctrl-C path.
        unhook = self.cancel.on_cancel(lambda: self.queue.put(("cancel", None))) if self.cancel else None
        try:
            self._initial_inspect()
            while True:
                self._evaluate()
                outcome = self._outcome()
                if outcome:
                    return self._finish(outcome)
                now = time.monotonic()
                if now >= deadline:
                    return self._finish("timeout")
                wake = min(t for t in (deadline, self.agenda.next_wake()) if t is not None)
                try:
                    kind, payload = self.queue.get(timeout=max(0.0, wake - now))
                except queue.Empty:
                    self.agenda.expire(time.monotonic())
                    continue
                self._handle(kind, payload)
                # Handle whatever else is already queued before re-evaluating.
                while True:
                    try:
                        kind, payload = self.queue.get_nowait()
                    except queue.Empty:
                        break
                    self._handle(kind, payload)
                self.agenda.expire(time.monotonic())
        except KeyboardInterrupt:
            return self._finish("interrupted")
        finally:
            if unhook is not None:
                unhook()
            self._stop.set()
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._checks.shutdown(wait=False, cancel_futures=True)
            if self.fast is not None:
                self.fast.close()

    # -- setup ----------------------------------------------------------------------------------
    def _initial_inspect(self) -> None:
        listed = self.api.containers(all=True, filters={"label": [f"{PROJECT_LABEL}={self.project}"]})
        ids = [
            item["Id"]
            for item in listed
            if (item.get("Labels") or {}).get(ONEOFF_LABEL) != "True"
            and (item.get("Labels") or {}).get(SERVICE_LABEL) in self.targets
        ]
        # All at once (as the starts): at width, one inspect after another is on the critical path.
        docs = list(self._pool.map(self._inspect_or_none, ids))
        now_wall, now_mono = time.time(), time.monotonic()
        for doc in docs:
            if doc is not None:
                t = tracked_from_inspect(container_from_inspect(doc), wall=now_wall, mono=now_mono)
                self._track(t, doc)

    def _track(self, t: Tracked, doc: Mapping[str, Any]) -> None:
        """Follow a container from its first inspect document."""
        self.tracked[t.info.id] = t
        if (doc.get("HostConfig") or {}).get("PortBindings") or (self.fast and self.fast.needs_address(t.info, doc)):
            self.inspect_after_start.add(t.info.id)  # its bound ports, its IP for a host-side check
        if self.fast is not None:
            self.fast.provide(t.info.id, doc)
            self.fast.follow(t)

    def _inspect_or_none(self, cid: str) -> dict[str, Any] | None:
        try:
            doc: dict[str, Any] = self.api.inspect_container(cid)
            return doc
        except Exception as exc:
            if "No such container" in str(exc):
                return None  # removed between the list and the inspect
            raise

    # -- event handling -------------------------------------------------------------------------
    def _handle(self, kind: str, payload: Any) -> None:
        if kind == "event":
            self._on_event(payload)
        elif kind == "started":
            cid, error, fresh = payload
            t = self.tracked.get(cid)
            if t is None:
                return
            self.agenda.touch(t.info.service)
            if error is not None:
                t.failure = start_failure(self.api, error, self.mask)
            elif fresh is not None:
                # Published ports are bound and the IP is set once the start returned.
                info = container_from_inspect(fresh)
                t.info = replace(t.info, ports=info.ports, started_at=info.started_at)
                self.refreshed.add(cid)
                if self.fast is not None:
                    self.fast.provide(cid, fresh)
            else:
                self.refreshed.add(cid)
        elif kind == "hooked":
            cid, hook_failure = payload
            self.hooks_running.discard(cid)
            t = self.tracked.get(cid)
            if t is not None:
                self.agenda.touch(t.info.service)
            if t and hook_failure is not None:
                t.failure = t.failure or self.mask(hook_failure.reason())
                self.hook_output[t.info.service] = hook_failure.output
        elif kind == "probe":
            service, ok, detail = payload
            self.agenda.touch(service)
            st = self.probe_state.setdefault(service, ProbeState())
            st.running = False
            st.ok = st.ok or ok
            st.last_error = "" if ok else self.mask(detail)
        elif kind == "cancel":
            from devenv.core.cancel import Cancelled

            raise Cancelled()
        elif kind == "fastcheck":
            cid, token, passed, _detail = payload
            t = self.tracked.get(cid)
            if passed and t and t.started_mono == token and t.info.health == Health.STARTING and not t.failure:
                t.info = replace(t.info, checked=True)
                self.agenda.touch(t.info.service)
        elif kind == "stream_error":
            from devenv.core.engine.client import unavailable

            raise unavailable(payload, str(getattr(self.api, "base_url", "the Docker socket")))

    def _on_event(self, ev: Mapping[str, Any]) -> None:
        action, cid, attrs = event_parts(ev)
        if attrs.get(ONEOFF_LABEL) == "True":
            return
        t = self.tracked.get(cid)
        if t is None:
            if action == "create" and attrs.get(SERVICE_LABEL) in self.targets:
                try:
                    doc = self.api.inspect_container(cid)
                    info = container_from_inspect(doc)
                except Exception as exc:
                    if "No such container" in str(exc):
                        return  # removed at once: its destroy event follows, nothing to follow
                    # Not silently untracked: the service fails, naming the container and why.
                    lost = uninspectable(cid, attrs, self.mask(str(getattr(exc, "explanation", exc))))
                    self.tracked[cid] = lost
                    self.agenda.touch(lost.info.service)
                    return
                self._track(Tracked(info=info, needs_start=info.state != "running"), doc)
                self.agenda.touch(info.service)
            return
        apply_event(t, action, attrs, time.monotonic())
        if action == "start":  # the engine's start time, without an inspect
            t.info = replace(t.info, started_at=event_time(ev) or t.info.started_at)
        self.agenda.touch(t.info.service)
        if self.fast is not None:
            self.fast.follow(t)

    # -- verdicts -------------------------------------------------------------------------------
    def _containers_of(self, service: str) -> list[Tracked]:
        return [t for t in self.tracked.of(service) if t.info.state != "removed"]

    def _container_ready(self, t: Tracked, now: float) -> tuple[Readiness, str, str]:
        if t.info.id in self.hooks_running and not t.failure:
            return Readiness.WAITING, "", "post_start hook running"
        return container_readiness(t, now, settle=self.settle, probed=t.info.service in self.probes)

    def _verdict(self, service: str, now: float) -> ServiceVerdict:
        containers = self._containers_of(service)
        spec = self.model.services.get(service, ServiceSpec(service))
        if not containers:
            if spec.replicas == 0:
                return ServiceVerdict(Readiness.READY, how="scaled to 0")
            return ServiceVerdict(Readiness.PENDING, note="not created")
        states = [self._container_ready(t, now) for t in containers]
        failed = [s for s in states if s[0] == Readiness.FAILED]
        if failed:
            return ServiceVerdict(Readiness.FAILED, reason=failed[0][2])
        if any(s[0] == Readiness.PENDING for s in states):
            blocked = self._blocked_on(spec, now)
            note = (
                "waiting for " + ", ".join(f"{d.service} ({describe_condition(d.condition)})" for d in blocked)
                if blocked
                else ""
            )
            return ServiceVerdict(Readiness.PENDING, note=note, blocked_on=tuple(d.service for d in blocked))
        if any(s[0] == Readiness.WAITING for s in states):
            return ServiceVerdict(Readiness.WAITING, note=next(s[2] for s in states if s[0] == Readiness.WAITING))
        how = states[0][1]
        probe = self.probes.get(service)
        if probe is not None and how != "completed":
            st = self.probe_state.setdefault(service, ProbeState())
            if not st.ok:
                self._run_probe(service, probe, containers[0].info)
                note = "probe: " + (st.last_error or "checking")
                return ServiceVerdict(Readiness.WAITING, note=note)
            how = "probe"
        return ServiceVerdict(Readiness.READY, how=how)

    def _blocked_on(self, spec: ServiceSpec, now: float) -> list[Any]:
        blocked = []
        for dep in spec.depends_on:
            if dep.service not in self.model.services:
                continue
            if not dep.required and any(t.failure for t in self._containers_of(dep.service)):
                continue  # Compose: an optional dependency that failed is skipped with a warning
            if not self._condition_met(dep.service, dep.condition, now):
                blocked.append(dep)
        return blocked

    def _condition_met(self, service: str, condition: str, now: float) -> bool:
        containers = self._containers_of(service)
        if not containers:
            return self.model.services.get(service, ServiceSpec(service)).replicas == 0
        if any(t.info.id in self.hooks_running for t in containers):
            return False  # Compose calls a container started once its post_start hooks are done
        return condition_met(containers, condition)

    def _evaluate(self) -> None:
        """Judge the services whose verdict may have changed (see :class:`Agenda`), no others."""
        now = time.monotonic()
        elapsed = now - self.t0
        for service in self.agenda.take():
            v = self._verdict(service, now)
            self.verdicts[service] = v
            self.agenda.record(service, v.readiness)
            # What dependents read: which depends_on conditions it meets now.
            self.agenda.view_changed(service, tuple(self._condition_met(service, c, now) for c in CONDITIONS))
            if v.readiness == Readiness.PENDING and not v.blocked_on:
                self._start_service(service)
            elif v.readiness == Readiness.WAITING:  # a settle window ends without an event: a timer
                for when in settle_ends(self._containers_of(service), now, self.settle, service in self.probes):
                    self.agenda.at(when, service)
            status = self._status(service, v)
            key = (v.readiness, status.state, status.health, v.note, v.reason)
            if self.last_emitted.get(service) != key:
                self.last_emitted[service] = key
                self.emit(ServiceChanged(status, v.readiness, elapsed, note=v.note or v.reason))
                if v.readiness == Readiness.READY:
                    self.emit(ServiceReady(service, v.how, elapsed))

    def _start_service(self, service: str) -> None:
        spec = self.model.services.get(service, ServiceSpec(service))
        hooks = spec.post_start
        for t in self._containers_of(service):
            if t.needs_start and not t.start_requested:
                t.start_requested = True
                if hooks:
                    self.hooks_running.add(t.info.id)
                if self.fast is not None:
                    self.fast.hold()  # no exec check competes with a start in the engine
                self._pool.submit(self._start_container, t.info.id, hooks, spec.injected)

    def _start_container(self, cid: str, hooks: tuple[Hook, ...] = (), injected: tuple[InjectedFile, ...] = ()) -> None:
        try:
            inject(self.api, cid, injected, self.env_lookup)  # secrets / configs by copy, as Compose
            self.api.start(cid)
        except Exception as exc:
            self.queue.put(("started", (cid, exc, None)))
            self.queue.put(("hooked", (cid, None)))
            return
        finally:
            if self.fast is not None:
                self.fast.release()
        fresh = None
        if cid in self.inspect_after_start:  # else the start event says all (no inspect on a busy engine)
            with contextlib.suppress(Exception):  # gone already: the events tell the rest
                fresh = self.api.inspect_container(cid)
        self.queue.put(("started", (cid, None, fresh)))
        if hooks:
            from devenv.core.hooks import run_hooks

            self.queue.put(("hooked", (cid, run_hooks(self.api, cid, hooks))))

    def _run_probe(self, service: str, probe: Probe, info: ContainerInfo) -> None:
        st = self.probe_state.setdefault(service, ProbeState())
        if st.running or self._stop.is_set():
            return
        st.running = True
        from devenv.core.probes import run_probe

        def attempt() -> None:
            ok, detail = run_probe(self.api, probe, info)
            if not ok:
                # Retry interval: a bounded wait on the stop flag, not a sleep in the wait loop.
                self._stop.wait(probe.interval)
            self.queue.put(("probe", (service, ok, detail)))

        self._checks.submit(attempt)

    def _outcome(self) -> str | None:
        if self.agenda.failed:
            return "failed"
        if self.agenda.all_ready():
            return "ready"
        return None

    # -- results --------------------------------------------------------------------------------
    def _status(self, service: str, v: ServiceVerdict | None = None) -> ServiceStatus:
        infos = [t.info for t in self._containers_of(service)]
        base = aggregate(service, infos)
        v = v or self.verdicts.get(service)
        if v is None:
            return base
        detail = {
            Readiness.READY: v.how,
            Readiness.FAILED: v.reason,
        }.get(v.readiness, v.note or base.detail)
        ready = v.readiness == Readiness.READY
        ready_by = (base.ready_by or READY_BY_DOCKER) if ready else None
        return replace(base, ready=ready, detail=detail, ready_by=ready_by)

    def _finish(self, outcome: str) -> UpResult:
        elapsed = time.monotonic() - self.t0
        failures: list[Failure] = []
        now = time.monotonic()
        for service in self.targets:
            v = self.verdicts.get(service) or self._verdict(service, now)
            if v.readiness == Readiness.READY:
                continue
            if outcome == "failed" and v.readiness != Readiness.FAILED:
                continue
            if outcome == "interrupted":
                continue
            if v.readiness == Readiness.FAILED:
                reason = v.reason
            elif v.readiness == Readiness.PENDING and v.blocked_on:
                reason = f"timed out: never started, {v.note}"
            else:
                reason = f"timed out: {v.note or 'not ready'}"
            failures.append(self._diagnose(service, reason, v.blocked_on))
        for f in failures:
            self.emit(ServiceFailed(f, elapsed))
        self._refresh()
        services = tuple(self._status(s) for s in self.targets)
        ok = outcome == "ready"
        self.emit(WaitFinished(ok, elapsed, outcome))
        return UpResult(self.project, self.profile, ok, outcome, elapsed, services, tuple(failures))

    def _refresh(self) -> None:
        """One final inspect (all at once) of each container with published ports that was started
        during the wait but not inspected since (its policy restarted it): the ports bound at start."""
        stale = [
            t
            for cid, t in self.tracked.items()
            if cid in self.inspect_after_start and cid not in self.refreshed and t.info.state != "removed"
        ]
        for t, doc in zip(stale, self._pool.map(self._inspect_or_none, [t.info.id for t in stale]), strict=True):
            if doc is not None:
                fresh = container_from_inspect(doc)
                t.info = replace(t.info, ports=fresh.ports, started_at=fresh.started_at)

    def _diagnose(self, service: str, reason: str, blocked_on: Iterable[str]) -> Failure:
        probe = self.probe_state.get(service)
        return diagnose(
            self.api,
            service,
            reason,
            blocked_on,
            self._containers_of(service),
            mask=self.mask,
            logs_tail=self.logs_tail,
            hook_output=self.hook_output.get(service, ()),
            probe_error=probe.last_error if probe is not None and not probe.ok else "",
        )
