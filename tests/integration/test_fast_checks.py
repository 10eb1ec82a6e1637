"""Fast checks on a real engine (issue §9): dependents start before Docker's healthy, `up` ends once
every service passed its own healthcheck test (run by devenv) and `devenv status`, `status --json`
and the monitor agree with it while Docker still says `starting`; a check that fails keeps the
service starting; NONE is never checked; the per-service opt-out waits for Docker's flag.

The fixture chain a -> b -> c (service_healthy) is ready 0.3 s after each start, with 15 s healthchecks:
waiting for Docker at every level would take at least three intervals (45 s). The fixture
``fastready`` (two services ready at once, 300 s healthchecks) has Docker say `starting` for 300 s.
"""

from __future__ import annotations

import json
import queue
import subprocess
import threading
import time
from typing import Any

import pytest
from devenv_testlib import docker, docker_time, health_status

INTERVAL = 15.0


def first_docker_check(doc: dict[str, Any]) -> float:
    """When the engine ran its first healthcheck of this container (State.Health.Log keeps 5);
    infinity when it has not run one yet."""
    log = doc["State"]["Health"]["Log"] or []
    return min((docker_time(entry["Start"]) for entry in log), default=float("inf"))


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


def test_dependents_start_on_fast_checks_and_up_ends_on_the_last_check(stack):
    st = stack("fastchain")

    t0 = time.time()
    res = st.devenv("up", "--timeout", "120")
    t1 = time.time()
    assert res.returncode == 0, res.dump()
    docs = st.inspect_all()
    # b and c started before Docker ever checked their dependency: on devenv's fast check.
    assert started(docs["b"]) < first_docker_check(docs["a"]), res.dump()
    assert started(docs["c"]) < first_docker_check(docs["b"]), res.dump()
    # The leaf too is ready on its check: `up` returned before Docker's first check of c.
    assert health_status(docs["c"]) == "starting", res.dump()
    assert "healthcheck passed (devenv check)" in res.stderr, res.dump()
    # (The start times above prove it; a bound on the duration only guards against a hang: under a
    # heavy load one container start alone took 4 s here.)
    assert res.duration < 3 * INTERVAL, res.dump()
    # n (test NONE) was never checked: no exec in it at all.
    execs = exec_events(st.name, t0, t1 + 1)
    by_service = {}
    for e in execs:
        service = e["Actor"]["Attributes"]["com.docker.compose.service"]
        by_service[service] = by_service.get(service, 0) + 1
    assert "n" not in by_service, by_service
    # a's test (cat) ran in the container; c's `test -f` was answered by the Engine's stat: no
    # process in c before up ended (Docker's own first check comes 15 s after its start).
    assert by_service.get("a", 0) >= 1, by_service
    before_docker = [e for e in execs if e["Actor"]["Attributes"]["com.docker.compose.service"] == "c"]
    before_docker = [e for e in before_docker if int(e["timeNano"]) / 1e9 < first_docker_check(docs["c"])]
    assert before_docker == [], (before_docker, res.dump())


def status_json(st: Any) -> dict[str, dict[str, Any]]:
    res = st.devenv("status", "--json")
    assert res.returncode == 0, res.dump()
    return {s["service"]: s for s in json.loads(res.stdout)["services"]}


def test_up_returns_on_checks_and_status_agrees_while_docker_says_starting(stack):
    st = stack("fastready")
    res = st.devenv("up", "--json", "--timeout", "120")
    assert res.returncode == 0, res.dump()
    assert res.duration < 300, res.dump()  # Docker's first check comes 300 s after each start
    up_doc = {s["service"]: s for s in json.loads(res.stdout)["services"]}
    docs = st.inspect_all()
    for service in ("file", "web"):
        assert health_status(docs[service]) == "starting", (service, docs[service]["State"])
        assert up_doc[service]["ready"] is True and up_doc[service]["ready_by"] == "devenv-check", up_doc
        assert up_doc[service]["health"] == "starting", up_doc
    # `devenv status` right after: the same verdict, by the same check, while Docker says starting.
    now = status_json(st)
    for service in ("file", "web"):
        assert (now[service]["health"], now[service]["ready"], now[service]["ready_by"]) == (
            "starting",
            True,
            "devenv-check",
        ), now
    text = st.devenv("status")
    assert text.returncode == 0 and "healthcheck passed (devenv check)" in text.stdout, text.dump()


def test_a_check_that_fails_keeps_it_starting_and_the_opt_out_waits_for_docker(stack):
    st = stack("fastready")
    res = st.devenv("up", "--timeout", "120")
    assert res.returncode == 0, res.dump()
    file_id, web_id = st.container_ids("file")[0], st.container_ids("web")[0]
    # The Engine's stat (in the volume) and the host-side HTTP check both fail now: Docker still says
    # starting, so does status.
    docker("exec", file_id, "rm", "/state/ready", check=True)
    docker("exec", web_id, "rm", "/srv/ok", check=True)
    now = status_json(st)
    for service in ("file", "web"):
        assert (now[service]["health"], now[service]["ready"], now[service]["ready_by"]) == (
            "starting",
            False,
            None,
        ), now
    result = st.devenv("status", "--json")
    assert json.loads(result.stdout)["ok"] is False, result.dump()
    # Passing again, but web opted out of devenv's checks: only Docker's flag counts for it.
    docker("exec", file_id, "touch", "/state/ready", check=True)
    docker("exec", web_id, "touch", "/srv/ok", check=True)
    (st.path / "devenv.toml").write_text("[readiness.services.web]\nfast_checks = false\n")
    now = status_json(st)
    assert (now["file"]["ready"], now["file"]["ready_by"]) == (True, "devenv-check"), now
    assert (now["web"]["health"], now["web"]["ready"], now["web"]["ready_by"]) == ("starting", False, None), now


def test_the_monitor_agrees_and_follows_a_check_that_stops_passing(stack):
    st = stack("fastready")
    res = st.devenv("up", "--timeout", "120")
    assert res.returncode == 0, res.dump()
    proc = st.popen_devenv("status", "--follow", "--json")
    lines: queue.Queue[dict[str, Any]] = queue.Queue()

    def read(p: subprocess.Popen[str]) -> None:
        assert p.stdout is not None
        for line in p.stdout:
            lines.put(json.loads(line))

    threading.Thread(target=read, args=(proc,), daemon=True).start()

    seen: list[dict[str, Any]] = []

    def next_doc(match: Any, timeout: float = 10) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            try:
                doc = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail(f"no matching line within {timeout:g} s; every line so far: {seen}", pytrace=False)
            seen.append(doc)
            if match(doc):
                return doc

    try:
        initial = {}
        while len(initial) < 2:
            doc = next_doc(lambda d: d["event"] == "initial")
            initial[doc["service"]] = doc
        for service in ("file", "web"):
            assert (initial[service]["health"], initial[service]["ready"], initial[service]["ready_by"]) == (
                "starting",
                True,
                "devenv-check",
            ), initial
        docker("exec", st.container_ids("web")[0], "rm", "/srv/ok", check=True)
        # The monitor re-checks a passed service about every second; 30 s leaves room for a loaded CI.
        doc = next_doc(lambda d: d["event"] == "changed" and d["service"] == "web", 30)
        assert (doc["ready"], doc["ready_by"], doc["cause"], doc["health"]) == (False, None, "devenv-check", "starting")
        docker("exec", st.container_ids("web")[0], "touch", "/srv/ok", check=True)
        doc = next_doc(lambda d: d["event"] == "changed" and d["service"] == "web", 30)
        assert (doc["ready"], doc["ready_by"], doc["cause"]) == (True, "devenv-check", "devenv-check")
    finally:
        proc.kill()
        proc.wait(10)


def test_opt_out_per_service_waits_for_dockers_flag(stack):
    st = stack("fastchain")
    (st.path / "devenv.toml").write_text("[readiness.services.a]\nfast_checks = false\n")
    res = st.devenv("up", "b", "--timeout", "120")
    assert res.returncode == 0, res.dump()
    docs = st.inspect_all()
    assert set(docs) == {"a", "b"}, res.dump()
    assert started(docs["b"]) >= first_docker_check(docs["a"]), res.dump()
    assert "fast check" not in res.stderr, res.dump()
