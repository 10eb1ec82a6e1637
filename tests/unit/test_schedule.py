"""Start scheduling and per-event work of the ``up`` wait (no Docker: the fakes of test_health)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from devenv.core.compose.model import ComposeModel
from devenv.core.models import Readiness
from devenv.core.schedule import Agenda, start_concurrency
from devenv.core.waiter import Waiter
from tests.unit.test_health import (
    PG_HEALTHCHECK,
    FakeContainer,
    FakeDocker,
    FakeStream,
    Recorder,
    Step,
    compose,
    run_wait,
)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def fakes() -> Iterator[list[FakeDocker]]:
    made: list[FakeDocker] = []
    yield made
    for f in made:
        f.closed.set()


# ----------------------------------------------------------------------------------------- Agenda
def chain_model(n: int) -> ComposeModel:
    services: dict[str, dict[str, Any]] = {}
    for i in range(n):
        services[f"s{i}"] = {"depends_on": {f"s{i - 1}": "service_healthy"}} if i else {}
    return compose(services)


def test_agenda_first_pass_is_every_target_in_order_then_only_touched_ones() -> None:
    agenda = Agenda(chain_model(3).services, ["s0", "s1", "s2"])
    assert list(agenda.take()) == ["s0", "s1", "s2"]
    assert list(agenda.take()) == []
    agenda.touch("s1")
    agenda.touch("not-a-target")
    assert list(agenda.take()) == ["s1"]


def test_agenda_marks_dependents_only_when_the_view_changes() -> None:
    agenda = Agenda(chain_model(3).services, ["s0", "s1", "s2"])
    list(agenda.take())
    agenda.view_changed("s0", (True, False, False))
    assert list(agenda.take()) == ["s1"]
    agenda.view_changed("s0", (True, False, False))  # unchanged: nobody to re-judge
    assert list(agenda.take()) == []
    agenda.view_changed("s0", (True, True, False))
    assert list(agenda.take()) == ["s1"]  # only the direct dependent; s2 follows if s1 changes


def test_agenda_timers_and_tally() -> None:
    agenda = Agenda(chain_model(2).services, ["s0", "s1"])
    list(agenda.take())
    agenda.at(10.0, "s1")
    agenda.at(5.0, "s0")
    assert agenda.next_wake() == 5.0
    agenda.expire(6.0)
    assert list(agenda.take()) == ["s0"] and agenda.next_wake() == 10.0
    agenda.record("s0", Readiness.READY)
    agenda.record("s0", Readiness.READY)
    assert not agenda.all_ready()
    agenda.record("s1", Readiness.FAILED)
    assert agenda.failed == {"s1"}
    agenda.record("s1", Readiness.READY)
    assert agenda.all_ready() and not agenda.failed


def test_start_concurrency_follows_compose_parallel_limit() -> None:
    assert start_concurrency({}) == 64
    assert start_concurrency({"COMPOSE_PARALLEL_LIMIT": "3"}) == 3
    assert start_concurrency({"COMPOSE_PARALLEL_LIMIT": "-1"}) == 64
    assert start_concurrency({"COMPOSE_PARALLEL_LIMIT": "lots"}) == 64


# ------------------------------------------------------------------------------- start scheduling
class SlowStartDocker(FakeDocker):
    """Each Engine start takes ``delay`` seconds (as on a busy engine); records concurrency."""

    def __init__(self, *containers: FakeContainer, delay: float) -> None:
        super().__init__(*containers)
        self.delay = delay
        self.in_flight = 0
        self.max_in_flight = 0
        self._count = threading.Lock()

    def start(self, cid: str) -> None:
        with self._count:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        time.sleep(self.delay)
        try:
            super().start(cid)
        finally:
            with self._count:
                self.in_flight -= 1


def wide(n: int) -> tuple[list[FakeContainer], ComposeModel]:
    containers = [
        FakeContainer(f"s{i:02d}", healthcheck=PG_HEALTHCHECK, after_start=[Step(0.05, "health_status: healthy")])
        for i in range(n)
    ]
    return containers, compose({c.service: {"healthcheck": {"test": PG_HEALTHCHECK}} for c in containers})


def test_independent_services_are_started_all_at_once(recorder: Recorder, fakes: list[FakeDocker]) -> None:
    containers, model = wide(30)
    fake = SlowStartDocker(*containers, delay=0.2)
    fakes.append(fake)

    t0 = time.monotonic()
    result = run_wait(fake, model, recorder, timeout=10)
    elapsed = time.monotonic() - t0

    assert result.ok, result.failures
    assert fake.max_in_flight == 30  # the old pool of 8 started them in four waves
    calls = [t for _, t in fake.start_calls]
    assert max(calls) - min(calls) < 0.15  # every start call was issued together
    assert elapsed < 1.5  # 30 x 0.2 s one after another would be 6 s; 4 waves of 8, 0.8 s + checks


def test_dependents_start_as_soon_as_their_own_dependency_is_met(recorder: Recorder, fakes: list[FakeDocker]) -> None:
    # Two independent chains: b1 must not wait for the slower a0.
    a0 = FakeContainer("a0", healthcheck=PG_HEALTHCHECK, after_start=[Step(0.4, "health_status: healthy")])
    b0 = FakeContainer("b0", healthcheck=PG_HEALTHCHECK, after_start=[Step(0.05, "health_status: healthy")])
    fake = FakeDocker(a0, FakeContainer("a1"), b0, FakeContainer("b1"))
    fakes.append(fake)
    hc = {"healthcheck": {"test": PG_HEALTHCHECK}}
    model = compose(
        {
            "a0": hc,
            "a1": {"depends_on": {"a0": "service_healthy"}},
            "b0": hc,
            "b1": {"depends_on": {"b0": "service_healthy"}},
        }
    )

    result = run_wait(fake, model, recorder, timeout=5)

    assert result.ok
    assert fake.start_time("b1") - fake.push_time("b0", "health_status: healthy") < 0.1
    assert fake.start_time("b1") < fake.push_time("a0", "health_status: healthy")


class CountingWaiter(Waiter):
    verdicts_judged = 0

    def _verdict(self, service: str, now: float) -> Any:
        type(self).verdicts_judged += 1
        return super()._verdict(service, now)


def test_work_per_event_does_not_grow_with_the_stack(recorder: Recorder, fakes: list[FakeDocker]) -> None:
    judged = {}
    for n in (10, 40):
        containers, model = wide(n)
        fake = FakeDocker(*containers)
        fakes.append(fake)
        CountingWaiter.verdicts_judged = 0
        waiter = CountingWaiter(
            api=fake, project="shop", profile="dev", model=model, targets=list(model.services), emit=recorder
        )
        result = waiter.run(FakeStream(fake.queue))  # type: ignore[arg-type]
        assert result.ok
        judged[n] = CountingWaiter.verdicts_judged
    # Each service is judged a handful of times (first pass, start, healthy), whatever the width:
    # linear in the stack, not quadratic (re-judging all 40 on each of ~120 events would be ~5000).
    assert judged[40] <= 5 * 40, judged
    assert judged[40] / judged[10] < 5.5, judged
