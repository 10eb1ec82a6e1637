"""The stack monitor: the current status of every service, kept up to date from Engine events.

One long-lived subscription to the project's ``/events`` plus one list + inspect (taken after
subscribing, so nothing falls between the two) give the state of every container; each event is
reduced with the ``up`` waiter's own reducer (:func:`devenv.core.health.apply_event` on a
:class:`~devenv.core.health.Tracked`) and each service is summarised with
:func:`devenv.core.health.aggregate`, the rule of ``devenv status``. Services of the profile
without a container are "missing"; one-shots that completed, replicas and containers created later
are followed too. What events do not carry (published ports, start time, the Engine's restart
count, the last healthcheck output) comes from one inspect of the container the event is about.

Subscribers receive :class:`~devenv.core.events.StatusChanged` (old and new status, cause,
restarts, last health output), :class:`~devenv.core.events.MonitorSynced`,
:class:`~devenv.core.events.EngineUnreachable` / :class:`~devenv.core.events.EngineReconnected`
and, on demand, :class:`~devenv.core.events.ContainerStats`: through :meth:`StackMonitor.subscribe`
(a callback, called from the monitor's own thread) or :meth:`StackMonitor.events` (an iterator, for
whichever thread reads it). See :mod:`devenv.core.cancel` for the threading contract.

When the event stream breaks (engine restarted, socket closed, laptop asleep) every status becomes
"unknown" (never stale data shown as current); the monitor retries with a bounded exponential
backoff, re-subscribes, re-inspects, and reports what changed meanwhile with cause "resync". While
connected and idle, one ``/_ping`` every ``heartbeat`` seconds notices a connection that died
silently.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from devenv.core.engine.containers import ONEOFF_LABEL, PROJECT_LABEL, SERVICE_LABEL, container_from_inspect
from devenv.core.events import (
    ContainerStats,
    EngineReconnected,
    EngineUnreachable,
    Event,
    MonitorSynced,
    StatusChanged,
)
from devenv.core.health import Tracked, aggregate, apply_event, event_parts
from devenv.core.models import ContainerInfo, Health, ServiceStatus
from devenv.core.status_changes import UNKNOWN, describe_error, event_time, health_output, restarts, status_key
from devenv.core.status_changes import unknown_status as unknown_status

if TYPE_CHECKING:
    import docker

    from devenv.core.cancel import CancelToken
    from devenv.core.stack import Stack

__all__ = ["UNKNOWN", "StackMonitor", "unknown_status"]

# Events after which one inspect refreshes what the event does not say (ports, start time, restart
# count, health output). Not after "die": an inspect then waits for the engine's clean-up of the
# container (measured: 50 ms to over 1 s on a busy machine), and the event says all that changed.
_REFRESH = ("start", "restart", "unpause")
_CLOSED = object()


class StackMonitor:
    """Follow every service of a project. ``start()``, then read ``events()`` or ``subscribe``; ``close()``.

    ``services``: the services to follow (e.g. the profile's, from ``Stack.service_names()``);
    with ``all_services`` (default), containers of other services of the project are followed too.
    ``backoff``: the first and the longest wait between reconnection attempts (seconds).
    """

    def __init__(
        self,
        api: docker.APIClient,
        project: str,
        services: Sequence[str],
        *,
        all_services: bool = True,
        cancel: CancelToken | None = None,
        backoff: tuple[float, float] = (0.1, 5.0),
        heartbeat: float = 10.0,
        fast_checks: Callable[[str], bool] | None = None,
    ) -> None:
        self.api = api
        self.project = project
        self.services = list(services)
        self.all_services = all_services
        self.backoff = backoff
        self.heartbeat = heartbeat
        self.connected = False
        self._lock = threading.Lock()  # guards the state below (read by statuses() from any thread)
        self._tracked: dict[str, Tracked] = {}
        self._status: dict[str, ServiceStatus] = {}
        self._inbox: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._subscribers: list[Callable[[Event], None]] = []
        self._iterators: list[queue.Queue[Any]] = []
        self._closed = threading.Event()
        self._stream: Any = None
        self._generation = 0
        self._thread: threading.Thread | None = None
        self._stats: Any = None  # devenv.core.stats.StatsStreams, made on first watch_stats
        self._stats_services: set[str] = set()
        self._unhook = cancel.on_cancel(self.close) if cancel is not None else None
        self.subscriber_error: BaseException | None = None  # the last exception a subscriber raised
        # Services whose `starting` containers devenv checks itself (devenv.core.fastcheck), as `up`
        # and `devenv status` do: a pass makes the service ready ("ready_by": "devenv-check").
        self._fast_allowed = fast_checks
        self._fast: Any = None  # FastChecks, made when a container first needs a check

    @classmethod
    def for_stack(cls, stack: Stack, services: Iterable[str] | None = None, **kwargs: Any) -> StackMonitor:
        """A monitor of ``stack``: its profile's services (from the compose files), or only ``services``."""
        names = list(services) if services else stack.service_names()
        kwargs.setdefault("fast_checks", stack.profile.readiness.fast_checks_for)
        return cls(stack.api, stack.name, names, all_services=not services, **kwargs)

    # -- public ---------------------------------------------------------------------------------
    def start(self) -> StackMonitor:
        """Subscribe and read the stack (in this thread), then start the monitor thread.

        Raises :class:`~devenv.errors.DockerUnavailableError` when the engine cannot be reached.
        The first event every subscriber gets is :class:`MonitorSynced` ("initial").
        """
        try:
            self._subscribe()
            statuses = self._sync()
        except Exception as exc:
            self._close_stream()
            raise self._unavailable(exc) from None
        self.connected = True
        self._inbox.put(("dispatch", MonitorSynced(tuple(statuses), "initial")))
        self._thread = threading.Thread(target=self._run, name="devenv-monitor", daemon=True)
        self._thread.start()
        return self

    def subscribe(self, callback: Callable[[Event], None]) -> Callable[[], None]:
        """Call ``callback(event)`` from the monitor thread for every event; returns the unsubscriber."""
        with self._lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._lock, contextlib.suppress(ValueError):
                self._subscribers.remove(callback)

        return unsubscribe

    def events(self) -> Iterator[Event]:
        """Every event from now on, for the thread that iterates; ends when the monitor closes."""
        q: queue.Queue[Any] = queue.Queue()
        with self._lock:
            self._iterators.append(q)
            if self._closed.is_set():
                q.put(_CLOSED)
        unsubscribe = self.subscribe(q.put)

        def iterate() -> Iterator[Event]:
            try:
                while True:
                    item = q.get()
                    if item is _CLOSED:
                        return
                    yield item
            finally:
                unsubscribe()

        return iterate()

    def statuses(self) -> list[ServiceStatus]:
        """The current status of every followed service ("unknown" while the engine is unreachable)."""
        with self._lock:
            return list(self._status.values())

    def watch_stats(self, services: Iterable[str]) -> None:
        """Stream resource stats of these services' running containers (replaces the previous set)."""
        from devenv.core.stats import StatsStreams

        with self._lock:
            self._stats_services = set(services)
            if self._stats is None:
                self._stats = StatsStreams(self.api, lambda cid, doc: self._inbox.put(("stats", (cid, doc))))
            wanted = {cid for cid, t in self._tracked.items() if self._wants_stats(t.info)}
        for cid in self._stats.watched() - wanted:
            self._stats.unwatch(cid)
        for cid in wanted:
            self._stats.watch(cid)

    def stop_stats(self) -> None:
        """Stop every stats stream: nothing is read any more."""
        with self._lock:
            self._stats_services = set()
        if self._stats is not None:
            self._stats.close()

    def close(self) -> None:
        """Stop following (from any thread, also from a subscriber); iterators end."""
        if self._closed.is_set():
            return
        self._closed.set()
        self._inbox.put(("stop", None))
        self._close_stream()
        if self._stats is not None:
            self._stats.close()
        if self._fast is not None:
            self._fast.close()
        if self._unhook is not None:
            self._unhook()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)
        with self._lock:
            iterators = list(self._iterators)
        for q in iterators:
            q.put(_CLOSED)

    def __enter__(self) -> StackMonitor:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- connection -----------------------------------------------------------------------------
    def _subscribe(self) -> None:
        self._close_stream()
        self._generation += 1
        gen = self._generation
        from devenv.core.eventstream import event_filters  # an idle monitor then has nothing to do

        stream = self.api.events(decode=True, filters=event_filters(self.project))
        self._stream = stream
        threading.Thread(target=self._read, args=(gen, stream), name="devenv-monitor-events", daemon=True).start()

    def _read(self, gen: int, stream: Any) -> None:
        error: BaseException | None = None
        try:
            for ev in stream:
                self._inbox.put(("event", (gen, ev)))
        except Exception as exc:
            error = exc
        self._inbox.put(("stream_end", (gen, error or ConnectionError("the Docker event stream ended"))))

    def _close_stream(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            with contextlib.suppress(Exception):
                stream.close()

    def _unavailable(self, exc: BaseException) -> Exception:
        from devenv.core.engine.client import unavailable
        from devenv.errors import DevenvError

        if isinstance(exc, DevenvError):
            return exc
        return unavailable(exc, str(getattr(self.api, "base_url", "the Docker socket")))

    # -- the monitor thread ---------------------------------------------------------------------
    def _run(self) -> None:
        while not self._closed.is_set():
            try:
                kind, payload = self._inbox.get(timeout=self.heartbeat)
            except queue.Empty:
                try:
                    self.api.ping()
                except Exception as exc:
                    self._lost(exc)
                continue
            if kind == "stop":
                return
            if kind == "dispatch":
                self._dispatch(payload)
            elif kind == "event" and payload[0] == self._generation:
                self._on_event(payload[1])
            elif kind == "stream_end" and payload[0] == self._generation:
                self._lost(payload[1])
            elif kind == "stats":
                self._on_stats(*payload)
            elif kind == "fastcheck":
                self._on_check(*payload)

    def _lost(self, error: BaseException) -> None:
        """The engine went away: statuses become unknown, then reconnect with backoff."""
        self._close_stream()
        self.connected = False
        down_since = time.monotonic()
        with self._lock:
            changes = [(s, unknown_status(s)) for s in self._status.values() if s.state != UNKNOWN]
            for _old, new in changes:
                self._status[new.service] = new
        delay, longest = self.backoff
        self._dispatch(EngineUnreachable(describe_error(error), delay))
        for old, new in changes:
            self._dispatch(StatusChanged(new.service, old, new, "engine unreachable"))
        attempts = 0
        while not self._closed.is_set():
            if self._wait(delay):
                return
            attempts += 1
            try:
                self._subscribe()
                previous = {s.service: s for s in self.statuses()}
                statuses = self._sync()
            except Exception:
                self._close_stream()
                delay = min(delay * 2, longest)
                continue
            self.connected = True
            self._dispatch(EngineReconnected(round(time.monotonic() - down_since, 3), attempts))
            for new in statuses:
                before = previous.get(new.service)
                if before is None or status_key(before) != status_key(new):
                    self._dispatch(StatusChanged(new.service, before, new, "resync", restarts(new), health_output(new)))
            self._dispatch(MonitorSynced(tuple(statuses), "resync"))
            if self._stats_services:
                self.watch_stats(self._stats_services)  # the old streams died with the connection
            return

    def _wait(self, seconds: float) -> bool:
        """Wait ``seconds`` without losing the inbox's messages; True when the monitor closed."""
        deadline = time.monotonic() + seconds
        kept: list[tuple[str, Any]] = []
        try:
            while (left := deadline - time.monotonic()) > 0:
                try:
                    kind, payload = self._inbox.get(timeout=left)
                except queue.Empty:
                    break
                if kind == "stop":
                    return True
                if kind == "dispatch":
                    kept.append((kind, payload))
                # events and stream ends of the broken subscription, stats of dead streams: dropped
            return self._closed.is_set()
        finally:
            for item in kept:
                self._inbox.put(item)

    def _dispatch(self, event: Event) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        for callback in subscribers:
            try:
                callback(event)
            except Exception as exc:  # a broken subscriber must not stop the others or the monitor
                self.subscriber_error = exc

    # -- state ----------------------------------------------------------------------------------
    def _follows(self, service: str | None) -> bool:
        return bool(service) and (self.all_services or service in self.services)

    def _sync(self) -> list[ServiceStatus]:
        """One list + inspect of the project: the tracked containers and statuses, replaced."""
        listed = self.api.containers(all=True, filters={"label": [f"{PROJECT_LABEL}={self.project}"]})
        now_wall, now_mono = time.time(), time.monotonic()
        tracked: dict[str, Tracked] = {}
        starting: list[dict[str, Any]] = []  # inspect documents of containers Docker calls `starting`
        for item in listed:
            labels = item.get("Labels") or {}
            if labels.get(ONEOFF_LABEL) == "True" or not self._follows(labels.get(SERVICE_LABEL)):
                continue
            doc = self._inspect(str(item["Id"]))
            if doc is None:
                continue
            info = container_from_inspect(doc)
            t = Tracked(info=info, needs_start=False)
            if info.state == "running" and info.started_at:
                t.started_mono = now_mono - max(0.0, now_wall - info.started_at)
            tracked[info.id] = t
            if info.health == Health.STARTING and self._fast_allowed is not None and self._fast_allowed(info.service):
                starting.append(doc)
        if starting:  # the first statuses agree with `devenv status`: one check each, at once
            from devenv.core.fastcheck import check_now

            for cid in check_now(self.api, starting):
                tracked[cid].info = replace(tracked[cid].info, checked=True)
        with self._lock:
            self._tracked = tracked
            names = list(self.services)
            names += sorted({t.info.service for t in tracked.values()} - set(names))
            self._status = {name: self._aggregate(name) for name in names}
            statuses = list(self._status.values())
        for t in tracked.values():
            self._check(t)
        return statuses

    def _check(self, t: Tracked) -> None:
        """Fast-check a container while Docker calls it ``starting`` (or stop checking it)."""
        if self._fast_allowed is None or self._closed.is_set():
            return
        if self._fast is None:
            if t.info.health != Health.STARTING:
                return
            from devenv.core.fastcheck import FastChecks

            # Slower than `up`'s exec cadence: a monitor may watch a slow service for a long time;
            # after a pass, checked again every second (about Docker's own cadence) until Docker decides.
            self._fast = FastChecks(self.api, self._fast_allowed, self._inbox.put, exec_cadence=0.5, recheck=1.0)
        self._fast.follow(t)

    def _on_check(self, cid: str, token: Any, passed: bool, _detail: str) -> None:
        """A fast check passed (ready while Docker still says ``starting``), or no longer passes."""
        with self._lock:
            t = self._tracked.get(cid)
            if t is None or t.started_mono != token or t.info.health != Health.STARTING or t.info.state != "running":
                return
            t.info = replace(t.info, checked=passed)
            name = t.info.service
            old = self._status.get(name)
            new = self._status[name] = self._aggregate(name)
        if old is None or status_key(old) != status_key(new):
            self._dispatch(StatusChanged(name, old, new, "devenv-check", restarts(new), health_output(new)))

    def _inspect(self, cid: str) -> dict[str, Any] | None:
        try:
            doc: dict[str, Any] = self.api.inspect_container(cid)
            return doc
        except Exception as exc:
            if "No such container" in str(exc) or "404" in str(exc):
                return None
            raise

    def _aggregate(self, service: str) -> ServiceStatus:
        """(with the lock held)"""
        return aggregate(service, [t.info for t in self._tracked.values() if t.info.service == service])

    def _on_event(self, ev: Mapping[str, Any]) -> None:
        action, cid, attrs = event_parts(ev)
        service = attrs.get(SERVICE_LABEL)
        if attrs.get(ONEOFF_LABEL) == "True" or not self._follows(service):
            return
        engine_time = event_time(ev)
        with self._lock:
            t = self._tracked.get(cid)
        fresh = None
        if t is None:
            if action == "destroy":
                return
            fresh = self._quiet_inspect(cid)  # created (or first seen) now: its whole state
            if fresh is None:
                return
        elif action in _REFRESH or action.startswith("health_status"):
            fresh = self._quiet_inspect(cid)
        with self._lock:
            if t is None:
                assert fresh is not None
                t = self._tracked[cid] = Tracked(info=fresh, needs_start=False)
                if fresh.state == "running":
                    t.started_mono = time.monotonic()
            else:
                apply_event(t, action, attrs, time.monotonic())
                if fresh is not None:  # the state is the events'; the rest is the inspect's
                    t.info = replace(
                        t.info,
                        ports=fresh.ports if t.info.state == "running" else t.info.ports,
                        started_at=fresh.started_at if t.info.state == "running" else None,
                        restart_count=fresh.restart_count,
                        oom_killed=fresh.oom_killed,
                        health_output=fresh.health_output,
                    )
            if action == "destroy":
                del self._tracked[cid]
            name = str(service)
            old = self._status.get(name)
            new = self._aggregate(name)
            self._status[name] = new
            watch = action == "start" and self._wants_stats(t.info)
        if old is None or status_key(old) != status_key(new):
            self._dispatch(StatusChanged(name, old, new, action, restarts(new), health_output(new), engine_time))
        if watch and self._stats is not None:
            self._stats.watch(cid)
        self._check(t)  # a destroyed container is "removed": its check, if any, stops

    def _quiet_inspect(self, cid: str) -> ContainerInfo | None:
        try:
            doc = self._inspect(cid)
            return container_from_inspect(doc) if doc is not None else None
        except Exception:  # the engine hiccuped: the event alone still counts; a break shows up in the stream
            return None

    def _wants_stats(self, info: ContainerInfo) -> bool:
        return info.service in self._stats_services and info.state == "running"

    def _on_stats(self, cid: str, doc: Mapping[str, Any]) -> None:
        from devenv.core.stats import sample_from_stats

        with self._lock:
            t = self._tracked.get(cid)
            if t is None or t.info.service not in self._stats_services:
                return
            info = t.info
        cpu, memory, limit = sample_from_stats(doc)
        self._dispatch(ContainerStats(info.service, info.name, cpu, memory, limit, info.restart_count))
