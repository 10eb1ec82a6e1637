"""Bookkeeping that keeps the ``up`` wait's work per event O(1): what to re-evaluate, and when.

The waiter (:mod:`devenv.core.waiter`) used to re-judge every target service after every Engine
event, which is O(services) per event and O(services²) over a wait. Here:

- :class:`TrackedIndex`: the tracked containers by id, also indexed by service, so "the containers
  of a service" is a dictionary lookup rather than a scan;
- :class:`Agenda`: the services whose verdict may have changed (an event, a start result, a probe
  or fast-check result, an expired timer marks one *dirty*); a service whose ``depends_on`` view
  changed marks its dependents; timers (settle windows) sit in a heap; a running tally of verdicts
  answers "all ready?" and "any failed?" without a scan.

Pure bookkeeping: no Docker, no threads.
"""

from __future__ import annotations

import heapq
import itertools
import os
from collections.abc import Hashable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING

from devenv.core.models import Readiness

if TYPE_CHECKING:
    from devenv.core.compose.model import ServiceSpec
    from devenv.core.health import Tracked

# How many Engine ``start`` calls run at once. Compose starts independent services concurrently
# (``COMPOSE_PARALLEL_LIMIT``, unlimited by default); we honour that variable and otherwise bound
# the pool so that a very wide stack does not open hundreds of connections at once.
DEFAULT_START_CONCURRENCY = 64

# The depends_on conditions: a service's "view" for its dependents is which of these it meets.
CONDITIONS = ("service_started", "service_healthy", "service_completed_successfully")


def start_concurrency(environ: Mapping[str, str] | None = None) -> int:
    """The start pool's size: ``COMPOSE_PARALLEL_LIMIT`` when set to a positive number, else 64."""
    env = os.environ if environ is None else environ
    try:
        value = int(env.get("COMPOSE_PARALLEL_LIMIT", ""))
    except ValueError:
        return DEFAULT_START_CONCURRENCY
    return value if value > 0 else DEFAULT_START_CONCURRENCY


class TrackedIndex(dict[str, "Tracked"]):
    """Tracked containers by id (a plain dict), plus an index by service (kept on assignment)."""

    def __init__(self) -> None:
        super().__init__()
        self.by_service: dict[str, dict[str, Tracked]] = {}

    def __setitem__(self, cid: str, tracked: Tracked) -> None:
        super().__setitem__(cid, tracked)
        self.by_service.setdefault(tracked.info.service, {})[cid] = tracked

    def of(self, service: str) -> Iterable[Tracked]:
        """Every tracked container of ``service`` (removed ones included)."""
        return self.by_service.get(service, {}).values()


class Agenda:
    """Dirty services, timers and the tally of verdicts of one wait."""

    def __init__(self, services: Mapping[str, ServiceSpec], targets: Iterable[str]) -> None:
        self.targets = list(targets)
        self.dependents: dict[str, list[str]] = {s: [] for s in self.targets}
        for name in self.targets:
            spec = services.get(name)
            for dep in spec.depends_on if spec is not None else ():
                if dep.service in self.dependents and name not in self.dependents[dep.service]:
                    self.dependents[dep.service].append(name)
        # Insertion-ordered set: the first pass judges the targets in dependency order.
        self._dirty: dict[str, None] = dict.fromkeys(self.targets)
        self._views: dict[str, Hashable] = {}
        self._heap: list[tuple[float, int, str]] = []
        self._seq = itertools.count()
        self._readiness: dict[str, Readiness] = {}
        self.ready = 0
        self.failed: set[str] = set()

    # -- what to judge ---------------------------------------------------------------------------
    def touch(self, service: str) -> None:
        """``service``'s verdict may have changed (ignored for non-targets)."""
        if service in self.dependents:
            self._dirty[service] = None

    def take(self) -> Iterator[str]:
        """Pop dirty services until none is left (services touched meanwhile are included)."""
        while self._dirty:
            service = next(iter(self._dirty))
            del self._dirty[service]
            yield service

    def view_changed(self, service: str, view: Hashable) -> None:
        """Record what ``service`` looks like to its dependents (which ``depends_on`` conditions it
        meets); when that changed, its dependents are judged again."""
        if self._views.get(service, _UNSET) != view:
            self._views[service] = view
            for dependent in self.dependents.get(service, ()):
                self._dirty[dependent] = None

    # -- timers ------------------------------------------------------------------------------------
    def at(self, when: float, service: str) -> None:
        """Judge ``service`` again at monotonic time ``when``."""
        heapq.heappush(self._heap, (when, next(self._seq), service))

    def next_wake(self) -> float | None:
        return self._heap[0][0] if self._heap else None

    def expire(self, now: float) -> None:
        """Mark the services of every timer due at ``now``."""
        while self._heap and self._heap[0][0] <= now:
            _, _, service = heapq.heappop(self._heap)
            self.touch(service)

    # -- tally -----------------------------------------------------------------------------------
    def record(self, service: str, readiness: Readiness) -> None:
        before = self._readiness.get(service)
        if before == readiness:
            return
        self._readiness[service] = readiness
        self.ready += (readiness == Readiness.READY) - (before == Readiness.READY)
        if readiness == Readiness.FAILED:
            self.failed.add(service)
        else:
            self.failed.discard(service)

    def all_ready(self) -> bool:
        return self.ready == len(self.targets)


_UNSET = object()


def settle_ends(containers: Iterable[Tracked], now: float, settle: float, probed: bool) -> list[float]:
    """When the settle windows of a service's containers end (a verdict that changes without an
    event): containers running without healthcheck or probe, started less than ``settle`` ago."""
    return [
        t.started_mono + settle
        for t in containers
        if t.info.state == "running"
        and not t.info.has_healthcheck
        and t.started_mono is not None
        and t.failure is None
        and not probed
        and now - t.started_mono < settle
    ]
