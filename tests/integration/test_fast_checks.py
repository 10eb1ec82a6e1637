"""Fast checks on a real engine (issue §9): dependents start before Docker's healthy, `up` still ends
on Docker's flag, NONE is never checked, and the per-service opt-out works.

The fixture chain a -> b -> c (service_healthy) is ready 0.3 s after each start, with 8 s healthchecks:
waiting for Docker at every level would take at least three intervals (24 s).
"""

from __future__ import annotations

import json
import time
from typing import Any

from devenv_testlib import docker, docker_time, health_status

INTERVAL = 8.0


def first_docker_check(doc: dict[str, Any]) -> float:
    """When the engine ran its first healthcheck of this container (State.Health.Log keeps 5)."""
    log = doc["State"]["Health"]["Log"]
    assert log, doc["State"]
    return min(docker_time(entry["Start"]) for entry in log)


def started(doc: dict[str, Any]) -> float:
    return docker_time(doc["State"]["StartedAt"])


def exec_events(project: str, since: float, until: float) -> list[dict[str, Any]]:
    out = docker(
        "events",
        "--since",
        f"{since:.3f}",
        "--until",
        f"{until:.3f}",
        "--filter",
        "type=container",
        "--filter",
        f"label=com.docker.compose.project={project}",
        "--format",
        "{{json .}}",
        check=True,
    ).stdout
    events = [json.loads(line) for line in out.splitlines() if line.strip()]
    return [e for e in events if str(e.get("Action", "")).startswith("exec_create")]


def test_dependents_start_on_fast_checks_and_up_ends_on_dockers_healthy(stack):
    st = stack("fastchain")

    t0 = time.time()
    res = st.devenv("up", "--timeout", "120")
    t1 = time.time()
    assert res.returncode == 0, res.dump()
    docs = st.inspect_all()
    # Consistent with Docker: every healthchecked service is healthy when `up` returns.
    for service in ("a", "b", "c"):
        assert health_status(docs[service]) == "healthy", (service, res.dump())
    # b and c started before Docker ever checked their dependency: on devenv's fast check.
    assert started(docs["b"]) < first_docker_check(docs["a"]), res.dump()
    assert started(docs["c"]) < first_docker_check(docs["b"]), res.dump()
    assert "fast check" in res.stderr, res.dump()
    # One interval (the leaf c is only reported on Docker's flag) plus start-up, not three.
    assert res.duration < 2 * INTERVAL, res.dump()
    # n (test NONE) was never checked: no exec in it at all.
    execs = exec_events(st.name, t0, t1 + 1)
    by_service = {}
    for e in execs:
        service = e["Actor"]["Attributes"]["com.docker.compose.service"]
        by_service[service] = by_service.get(service, 0) + 1
    assert "n" not in by_service, by_service


def test_opt_out_per_service_waits_for_dockers_flag(stack):
    st = stack("fastchain")
    (st.path / "devenv.toml").write_text("[readiness.services.a]\nfast_checks = false\n")
    res = st.devenv("up", "b", "--timeout", "120")
    assert res.returncode == 0, res.dump()
    docs = st.inspect_all()
    assert set(docs) == {"a", "b"}, res.dump()
    assert started(docs["b"]) >= first_docker_check(docs["a"]), res.dump()
    assert "fast check" not in res.stderr, res.dump()
