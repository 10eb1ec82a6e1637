"""Fast checks (issue §9): recognising healthcheck tests, the host-side checks, and the waiter's use
of a pass (dependents start before Docker's healthy; ``up`` ends once every service passed its
check or Docker's flag; the result says how: ``ready_by``)."""

from __future__ import annotations

import http.server
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from devenv.core import fastcheck
from devenv.core.fastcheck import Plan, attempt, check_now, plan_for
from devenv.core.health import CHECKED
from devenv.core.healthtests import HealthTest, recognise
from devenv.core.waiter import Waiter
from tests.unit.test_health import (
    PG_HEALTHCHECK,
    FakeContainer,
    FakeDocker,
    FakeStream,
    Recorder,
    Step,
    compose,
)

SH = ("/bin/sh", "-c")


# ------------------------------------------------------------------------------------ recognisers
@pytest.mark.parametrize(
    ("test", "expected"),
    [
        # HTTP
        (["CMD", "curl", "-f", "http://localhost:8000/health"], ("http", 8000, "/health", "lt400")),
        (["CMD-SHELL", "curl -fsS http://127.0.0.1:8080/ || exit 1"], ("http", 8080, "/", "lt400")),
        (["CMD-SHELL", "curl --fail --silent http://localhost/ready?x=1"], ("http", 80, "/ready?x=1", "lt400")),
        (["CMD", "curl", "-s", "http://localhost:9000/"], ("http", 9000, "/", "any")),  # no -f: any answer
        (["CMD", "curl", "-fL", "http://localhost:9000/"], ("http", 9000, "/", "2xx")),  # follows redirects
        (
            ["CMD", "curl", "-f", "-o", "/dev/null", "--max-time", "2", "http://0.0.0.0:81/h"],
            ("http", 81, "/h", "lt400"),
        ),
        (["CMD", "wget", "-q", "--spider", "http://localhost:3000/health"], ("http", 3000, "/health", "2xx")),
        (["CMD-SHELL", "wget -qO- http://localhost:3000/ || exit 1"], ("http", 3000, "/", "2xx")),
        (
            ["CMD", "wget", "--no-verbose", "--tries=1", "-O", "/dev/null", "http://localhost:5/"],
            ("http", 5, "/", "2xx"),
        ),
        (
            [
                "CMD",
                "python3",
                "-c",
                "import urllib.request as u; u.urlopen('http://127.0.0.1:8000/health', timeout=2)",
            ],
            ("http", 8000, "/health", "2xx"),
        ),
        (["CMD", "sh", "-c", "curl -f http://localhost:8000/"], ("http", 8000, "/", "lt400")),
        # TCP
        (["CMD", "nc", "-z", "localhost", "6379"], ("tcp", 6379, None, None)),
        (["CMD-SHELL", "nc -zv -w 1 127.0.0.1 4222"], ("tcp", 4222, None, None)),
        (["CMD", "bash", "-c", "</dev/tcp/localhost/5672"], ("tcp", 5672, None, None)),
        (["CMD-SHELL", "bash -c 'cat < /dev/tcp/127.0.0.1/9092'"], ("tcp", 9092, None, None)),
        # PostgreSQL / MySQL
        (
            ["CMD-SHELL", 'pg_isready -h 127.0.0.1 -U "$POSTGRES_USER" -d "$POSTGRES_DB"'],
            ("postgres", 5432, None, None),
        ),
        (["CMD", "pg_isready"], ("postgres", 5432, None, None)),
        (["CMD", "pg_isready", "-p", "5433", "-q"], ("postgres", 5433, None, None)),
        (["CMD-SHELL", "pg_isready --host=localhost --port=6543 --username=app"], ("postgres", 6543, None, None)),
        (["CMD", "mysqladmin", "ping", "-h", "localhost"], ("mysql", 3306, None, None)),
        (["CMD-SHELL", "mysqladmin ping -h 127.0.0.1 -P 3307 -u root -psecret --silent"], ("mysql", 3307, None, None)),
        (["CMD", "mariadb-admin", "ping", "--silent"], ("mysql", 3306, None, None)),
    ],
)
def test_recognised_tests_run_from_the_host(test: list[str], expected: tuple[Any, ...]) -> None:
    got = recognise(test)
    kind, port, path, accept = expected
    assert (got.kind, got.port) == (kind, port), got
    if path is not None:
        assert (got.path, got.accept) == (path, accept), got
    assert got.from_host
    # The test as Docker runs it is kept, for the exec fallback.
    assert got.argv == (tuple(test[1:]) if test[0] == "CMD" else (*SH, test[1]))


@pytest.mark.parametrize(
    "test",
    [
        ["CMD", "cat", "/tmp/ready"],
        ["CMD", "test", "-r", "/tmp/ready"],  # readable by the container's user: not a stat
        ["CMD", "test", "-f", "tmp/ready"],  # relative to the working directory
        ["CMD-SHELL", "test -f $READY_FILE"],
        ["CMD-SHELL", "test -f /tmp/*.ready"],
        ["CMD", "test", "-f", "/srv/../tmp/ready"],
        ["CMD-SHELL", "[ -f /tmp/ready"],  # no closing bracket: the test fails
        ["CMD-SHELL", "test -f /a -a -f /b"],
        ["CMD-SHELL", "test -e /tmp#ready"],  # one word for sh (no comment): not the path /tmp
        ["CMD-SHELL", "curl -f http://db:8000/"],  # another host
        ["CMD-SHELL", "curl -f https://localhost/"],  # TLS
        ["CMD-SHELL", "curl -f -H 'Host: x' http://localhost/"],  # an option we do not model
        ["CMD-SHELL", "curl -f http://localhost:$PORT/"],  # a variable where it matters
        ["CMD-SHELL", "curl -f http://localhost/ && test -f /tmp/x"],  # more than one command
        ["CMD-SHELL", "pg_isready -h db"],
        ["CMD-SHELL", "pg_isready -p $(cat /port)"],
        ["CMD-SHELL", "</dev/tcp/localhost/5432"],  # /bin/sh (dash) has no /dev/tcp: the test fails
        ["CMD", "mysqladmin", "status"],
        ["CMD", "nc", "localhost", "80"],  # without -z it is not a port check
        ["CMD", "python3", "-c", "import urllib.request as u; u.urlopen('http://localhost:1/'); print(1)"],
        ["CMD", "healthcheck.sh", "--connect", "--innodb_initialized"],
    ],
)
def test_anything_else_runs_the_test_itself(test: list[str]) -> None:
    got = recognise(test)
    assert got.kind == "exec"
    assert got.argv == (tuple(test[1:]) if test[0] == "CMD" else (*SH, test[1]))


@pytest.mark.parametrize(
    ("test", "path", "op"),
    [
        (["CMD", "test", "-f", "/tmp/ready"], "/tmp/ready", "f"),
        (["CMD", "/usr/bin/test", "-e", "/run/app.pid"], "/run/app.pid", "e"),
        (["CMD-SHELL", "test -s /var/lib/app/ready || exit 1"], "/var/lib/app/ready", "s"),
        (["CMD-SHELL", "[ -d /data/initialised ]"], "/data/initialised", "d"),
        (["CMD", "sh", "-c", "[ -f /tmp/healthy ] || exit 1"], "/tmp/healthy", "f"),
    ],
)
def test_file_tests_are_answered_by_the_engines_stat(test: list[str], path: str, op: str) -> None:
    got = recognise(test)
    assert (got.kind, got.path, got.accept) == ("file", path, op), got
    assert not got.from_host  # an Engine call: no address needed, remote engines too
    assert got.argv == (tuple(test[1:]) if test[0] == "CMD" else (*SH, test[1]))


def test_cmd_shell_uses_the_containers_shell_and_none_is_never_checked() -> None:
    assert recognise(["CMD-SHELL", "exit 0"], ["/bin/bash", "-o", "pipefail", "-c"]).argv == (
        "/bin/bash",
        "-o",
        "pipefail",
        "-c",
        "exit 0",
    )
    for test in (["NONE"], [], None, ["CMD"]):
        assert recognise(test).kind == "none"


def test_plan_prefers_the_container_ip_then_the_published_port_and_falls_back_to_exec() -> None:
    hc = {"Test": ["CMD-SHELL", "curl -f http://localhost:8000/health"], "Timeout": 3_000_000_000}
    doc: dict[str, Any] = {
        "Config": {"Healthcheck": hc},
        "NetworkSettings": {
            "Ports": {"8000/tcp": [{"HostIp": "127.0.0.1", "HostPort": "18000"}]},
            "Networks": {"default": {"IPAddress": "172.18.0.5"}},
        },
    }
    plan = plan_for(doc, host_probes=True)
    assert (plan.host, plan.port, plan.timeout) == ("172.18.0.5", 8000, 2.0)  # capped for host checks
    remote = plan_for(doc, host_probes=False)  # a remote engine: container IPs are not reachable
    assert remote.test.kind == "exec" and remote.test.argv == ("/bin/sh", "-c", hc["Test"][1])
    assert remote.timeout == 3.0
    doc["NetworkSettings"]["Networks"] = {"none": {"IPAddress": ""}}
    assert (plan_for(doc, host_probes=True).host, plan_for(doc, host_probes=True).port) == ("127.0.0.1", 18000)
    # Docker's proxy accepts connections on a published port while nothing listens: no bare TCP there.
    doc["Config"]["Healthcheck"]["Test"] = ["CMD", "nc", "-z", "localhost", "8000"]
    assert plan_for(doc, host_probes=True).test.kind == "exec"


def test_check_now_runs_one_bounded_attempt_per_starting_container(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, float]] = []

    def fake(api: Any, cid: str, plan: Plan) -> tuple[bool, str]:
        calls.append((cid, plan.timeout))
        if cid == "slow":
            time.sleep(3)  # outlives the cap: counts as not passed
        return cid != "fails", "fake"

    monkeypatch.setattr(fastcheck, "attempt", fake)

    def doc(cid: str, test: list[str]) -> dict[str, Any]:
        return {"Id": cid, "Config": {"Healthcheck": {"Test": test, "Timeout": 5_000_000_000}}}

    docs = [doc("ok", ["CMD", "true"]), doc("fails", ["CMD", "true"]), doc("slow", ["CMD", "true"])]
    docs.append(doc("none", ["NONE"]))
    t0 = time.monotonic()
    passed = check_now(object(), docs, cap=0.3)
    assert passed == {"ok"}
    assert time.monotonic() - t0 < 1.0  # in parallel, and the slow one is not waited for
    assert sorted(calls) == [("fails", 0.3), ("ok", 0.3), ("slow", 0.3)]  # NONE never; cap < the test's timeout


# ------------------------------------------------------------------------------- host-side checks
def serve_once(handler: Callable[[socket.socket], None]) -> tuple[str, int]:
    srv = socket.create_server(("127.0.0.1", 0))

    def run() -> None:
        conn, _ = srv.accept()
        with conn:
            handler(conn)
        srv.close()

    threading.Thread(target=run, daemon=True).start()
    return srv.getsockname()


def pg_error(code: str, message: str) -> bytes:
    body = b"SFATAL\x00C" + code.encode() + b"\x00M" + message.encode() + b"\x00\x00"
    return b"E" + struct.pack("!i", len(body) + 4) + body


@pytest.mark.parametrize(
    ("answer", "ok"),
    [
        (b"R" + struct.pack("!ii", 8, 10), True),  # SASL authentication request: accepting connections
        (pg_error("28000", 'role "devenv_ping" does not exist'), True),  # pg_isready: accepting too
        (pg_error("57P03", "the database system is starting up"), False),
        (b"", False),  # closed: nothing listening yet
    ],
)
def test_postgres_check_follows_pg_isready(answer: bytes, ok: bool) -> None:
    received: list[bytes] = []

    def handler(conn: socket.socket) -> None:
        received.append(conn.recv(1024))
        conn.sendall(answer)

    host, port = serve_once(handler)
    passed, detail = attempt(None, "cid", Plan(HealthTest("postgres", port=5432), host=host, port=port, timeout=2))  # type: ignore[arg-type]
    assert passed is ok, detail
    length, version = struct.unpack("!ii", received[0][:8])
    assert version == 196608 and length == len(received[0])  # a well-formed protocol 3.0 startup packet


def test_mysql_check_reads_the_greeting() -> None:
    greeting = bytes([10, 0, 0, 0, 10]) + b"10.11.6-MariaDB\x00"
    host, port = serve_once(lambda conn: conn.sendall(greeting))
    assert attempt(None, "cid", Plan(HealthTest("mysql", port=3306), host=host, port=port, timeout=2))[0]  # type: ignore[arg-type]
    host, port = serve_once(lambda conn: None)
    assert not attempt(None, "cid", Plan(HealthTest("mysql", port=3306), host=host, port=port, timeout=2))[0]  # type: ignore[arg-type]


@pytest.fixture
def http_status() -> Iterator[tuple[list[int], int]]:
    codes = [200]

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(codes[0])
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield codes, server.server_address[1]
    server.shutdown()


@pytest.mark.parametrize(
    ("status", "accept", "ok"),
    [(200, "2xx", True), (302, "2xx", False), (302, "lt400", True), (404, "lt400", False), (500, "any", True)],
)
def test_http_check_accepts_what_the_tool_would(
    http_status: tuple[list[int], int], status: int, accept: str, ok: bool
) -> None:
    codes, port = http_status
    codes[0] = status
    plan = Plan(HealthTest("http", port=80, path="/health", accept=accept), host="127.0.0.1", port=port, timeout=2)
    assert attempt(None, "cid", plan)[0] is ok  # type: ignore[arg-type]


def test_tcp_check_refused_then_accepted() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    plan = Plan(HealthTest("tcp", port=1), host="127.0.0.1", port=port, timeout=1)
    assert not attempt(None, "cid", plan)[0]  # type: ignore[arg-type]
    with socket.create_server(("127.0.0.1", port)):
        assert attempt(None, "cid", plan)[0]  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------- in the waiter
@pytest.fixture
def fake_attempts(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Fast-check attempts pass ``ready_after`` seconds after the first attempt of a container."""
    state: dict[str, Any] = {"ready_after": 0.05, "first": {}, "calls": []}

    def fake(api: Any, cid: str, plan: Plan) -> tuple[bool, str]:
        now = time.monotonic()
        first = state["first"].setdefault(cid, now)
        state["calls"].append(cid)
        return now - first >= state["ready_after"], "fake"

    monkeypatch.setattr(fastcheck, "attempt", fake)
    monkeypatch.setattr(fastcheck, "HOST_CADENCE", 0.02)
    monkeypatch.setattr(fastcheck, "EXEC_CADENCE", 0.02)
    return state


def chain(db_test: list[str], healthy_after: float = 0.6) -> tuple[FakeDocker, Any]:
    db = FakeContainer("db", healthcheck=db_test, after_start=[Step(healthy_after, "health_status: healthy")])
    fake = FakeDocker(db, FakeContainer("api"))
    model = compose({"db": {"healthcheck": {"test": db_test}}, "api": {"depends_on": {"db": "service_healthy"}}})
    return fake, model


def wait(fake: FakeDocker, model: Any, fast: list[str]) -> tuple[Any, Recorder]:
    rec = Recorder()
    waiter = Waiter(
        api=fake,  # type: ignore[arg-type]
        project="shop",
        profile="dev",
        model=model,
        targets=model.closure(list(model.services)),
        emit=rec,
        timeout=5,
        settle=0.05,
        fast_checks=fast,
    )
    try:
        return waiter.run(FakeStream(fake.queue)), rec  # type: ignore[arg-type]
    finally:
        fake.closed.set()


def test_dependent_starts_on_a_fast_check_pass_before_dockers_healthy(fake_attempts: dict[str, Any]) -> None:
    fake, model = chain(PG_HEALTHCHECK, healthy_after=1.0)
    result, rec = wait(fake, model, ["db", "api"])

    assert result.ok
    assert fake_attempts["calls"]  # it was checked ...
    db_ready = next(e for e in rec.events if getattr(e, "service", "") == "db" and type(e).__name__ == "ServiceReady")
    assert db_ready.how == CHECKED
    # ... the dependent started on the pass, and `up` ended before Docker's own flag: the result
    # says the service is ready by devenv's check while Docker's health is still `starting`.
    assert not any(s == "db" and a == "health_status: healthy" for s, a, _t in fake.pushed)
    db = next(s for s in result.services if s.service == "db")
    assert (db.health.value, db.ready, db.ready_by, db.detail) == ("starting", True, "devenv-check", CHECKED)
    api = next(s for s in result.services if s.service == "api")
    assert (api.ready, api.ready_by) == (True, "docker")


def test_a_leaf_with_a_healthcheck_is_checked_too_and_up_ends_on_its_pass(fake_attempts: dict[str, Any]) -> None:
    leaf = FakeContainer("leaf", healthcheck=["CMD", "true"], after_start=[Step(1.0, "health_status: healthy")])
    fake = FakeDocker(leaf)
    model = compose({"leaf": {"healthcheck": {"test": ["CMD", "true"]}}})
    t0 = time.monotonic()
    result, _ = wait(fake, model, ["leaf"])
    assert result.ok and time.monotonic() - t0 < 0.8, result
    (leaf_status,) = result.services
    assert (leaf_status.health.value, leaf_status.ready_by) == ("starting", "devenv-check")


def test_an_opted_out_leaf_ends_on_dockers_flag(fake_attempts: dict[str, Any]) -> None:
    leaf = FakeContainer("leaf", healthcheck=["CMD", "true"], after_start=[Step(0.3, "health_status: healthy")])
    fake = FakeDocker(leaf)
    model = compose({"leaf": {"healthcheck": {"test": ["CMD", "true"]}}})
    result, _ = wait(fake, model, [])
    assert result.ok and fake_attempts["calls"] == []
    (leaf_status,) = result.services
    assert (leaf_status.health.value, leaf_status.ready_by, leaf_status.detail) == ("healthy", "docker", "healthy")


def test_opted_out_service_is_not_checked_and_dependents_wait_for_docker(fake_attempts: dict[str, Any]) -> None:
    fake, model = chain(PG_HEALTHCHECK, healthy_after=0.3)
    result, _ = wait(fake, model, ["api"])  # db opted out

    assert result.ok
    assert fake_attempts["calls"] == []
    assert fake.start_time("api") >= fake.push_time("db", "health_status: healthy")


def test_a_container_that_dies_before_passing_is_not_ready_for_dependents(fake_attempts: dict[str, Any]) -> None:
    fake_attempts["ready_after"] = 10  # never passes
    fake, model = chain(PG_HEALTHCHECK)
    fake.by_id[next(iter(fake.by_id))].after_start = [Step(0.2, "die", exit_code=1)]
    result, _ = wait(fake, model, ["db", "api"])

    assert result.outcome == "failed"
    assert fake.started() == ["db"]


def test_with_recheck_a_pass_is_checked_again_and_a_failure_is_posted(monkeypatch: pytest.MonkeyPatch) -> None:
    """The monitor's mode: after a pass it keeps checking while Docker says starting, and posts
    every change (so a service that stops answering is not called ready any more)."""
    from devenv.core.health import Tracked
    from devenv.core.models import ContainerInfo, Health

    results = iter([False, True, True, False, True] + [True] * 100)
    monkeypatch.setattr(fastcheck, "attempt", lambda api, cid, plan: (next(results), "fake"))
    posted: list[tuple[str, Any]] = []

    class Api:
        base_url = "http+docker://localhost"

        def inspect_container(self, cid: str) -> dict[str, Any]:
            return {"Id": cid, "State": {"Running": True}, "Config": {"Healthcheck": {"Test": ["CMD", "true"]}}}

    checks = fastcheck.FastChecks(Api(), ["web"], posted.append, exec_cadence=0.01, recheck=0.01)  # type: ignore[arg-type]
    info = ContainerInfo("c1", "p-web-1", "web", 1, "running", Health.STARTING, None, has_healthcheck=True)
    checks.follow(Tracked(info=info, needs_start=False, started_mono=1.0))
    deadline = time.monotonic() + 5
    while len(posted) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    checks.close()
    assert [p[1][2] for p in posted[:3]] == [True, False, True]  # pass, stops passing, passes again
    assert all(p[0] == "fastcheck" and p[1][:2] == ("c1", 1.0) for p in posted)


def test_plans_come_from_documents_the_caller_has_when_they_say_enough() -> None:
    from devenv.core.models import ContainerInfo, Health

    inspected: list[str] = []

    class Api:
        base_url = "http+docker://localhost"

        def inspect_container(self, cid: str) -> dict[str, Any]:
            inspected.append(cid)
            return {"Id": cid, "State": {"Running": True}, "Config": {"Healthcheck": {"Test": ["CMD", "true"]}}}

    checks = fastcheck.FastChecks(Api(), ["web"], lambda _m: None)  # type: ignore[arg-type]
    info = ContainerInfo("c1", "p-web-1", "web", 1, "created", Health.NONE, None, has_healthcheck=True)
    exec_doc = {"State": {"Running": False}, "Config": {"Healthcheck": {"Test": ["CMD", "test", "-f", "/x"]}}}
    http_doc = {
        "State": {"Running": False},
        "Config": {"Healthcheck": {"Test": ["CMD", "curl", "-f", "http://localhost:80/"]}},
    }
    assert not checks.needs_address(info, exec_doc)  # an exec needs no address: the pre-start document will do
    assert checks.needs_address(info, http_doc)  # a host-side check needs the IP it gets at start
    assert fastcheck._says_enough(exec_doc) and not fastcheck._says_enough(http_doc)
    assert fastcheck._says_enough({**http_doc, "State": {"Running": True}})
    assert not checks.needs_address(replace_service(info, "other"), http_doc)  # not allowed: never checked
    checks.close()
    assert inspected == []


def replace_service(info: Any, service: str) -> Any:
    from dataclasses import replace

    return replace(info, service=service)


def test_aggregate_says_how_readiness_was_established() -> None:
    from dataclasses import replace

    from devenv.core.health import aggregate
    from devenv.core.models import ContainerInfo, Health

    starting = ContainerInfo("c1", "p-db-1", "db", 1, "running", Health.STARTING, None, has_healthcheck=True)
    assert (aggregate("db", [starting]).ready, aggregate("db", [starting]).ready_by) == (False, None)
    checked = aggregate("db", [replace(starting, checked=True)])
    assert (checked.ready, checked.ready_by, checked.health, checked.detail) == (
        True,
        "devenv-check",
        Health.STARTING,
        CHECKED,
    )
    healthy = aggregate("db", [replace(starting, health=Health.HEALTHY, checked=True)])
    assert (healthy.ready, healthy.ready_by) == (True, "docker")
    exited = aggregate("db", [replace(starting, state="exited", exit_code=1, checked=True)])
    assert (exited.ready, exited.ready_by) == (False, None)  # a pass holds only while it runs and Docker says starting
    assert aggregate("db", []).to_json()["ready_by"] is None


def test_no_exec_check_on_a_container_that_ran_before() -> None:
    """A restarted container's filesystem holds its previous run's files: an exec'd test such as
    ``test -f /tmp/ready`` (an exec or the Engine's stat) could pass before the new process
    removed the old marker. Docker's
    own flag decides there; a network check (nothing answers before the new process) still runs."""
    exec_doc = {
        "State": {"Running": True, "FinishedAt": "2026-12-01T10:00:00.5Z"},
        "Config": {"Healthcheck": {"Test": ["CMD", "test", "-f", "/tmp/ready"], "Timeout": 2_000_000_000}},
        "NetworkSettings": {"Networks": {"n": {"IPAddress": "172.18.0.5"}}},
    }
    assert plan_for(exec_doc, host_probes=True).test.kind == "none"
    fresh = {**exec_doc, "State": {"Running": True, "FinishedAt": "0001-01-01T00:00:00Z"}}
    assert plan_for(fresh, host_probes=True).test.kind == "file"
    cat = {**exec_doc, "Config": {"Healthcheck": {"Test": ["CMD", "cat", "/tmp/ready"]}}}
    assert plan_for(cat, host_probes=True).test.kind == "none"
    assert plan_for({**cat, "State": fresh["State"]}, host_probes=True).test.kind == "exec"
    http = {**exec_doc, "Config": {"Healthcheck": {"Test": ["CMD", "curl", "-f", "http://localhost:8080/"]}}}
    assert (plan_for(http, host_probes=True).test.kind, plan_for(http, host_probes=True).host) == ("http", "172.18.0.5")
    assert plan_for(http, host_probes=False).test.kind == "none"  # remote engine: it would be an exec


def test_exec_checks_wait_while_a_start_is_in_flight_and_host_checks_do_not(monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine serialises starts and execs: no exec attempt while ``up`` holds the checks for
    a start; a host-side attempt (a connect, nothing in the engine) goes on meanwhile."""
    from devenv.core.health import Tracked
    from devenv.core.models import ContainerInfo, Health

    calls: list[tuple[str, float]] = []
    monkeypatch.setattr(
        fastcheck, "attempt", lambda api, cid, plan: (calls.append((cid, time.monotonic())), (True, "x"))[1]
    )

    class Api:
        base_url = "http+docker://localhost"

        def inspect_container(self, cid: str) -> dict[str, Any]:
            test = ["CMD", "true"] if cid == "exec1" else ["CMD", "curl", "-f", "http://localhost:80/"]
            nets = {"n": {"IPAddress": "172.30.0.9"}}
            return {
                "Id": cid,
                "State": {"Running": True},
                "Config": {"Healthcheck": {"Test": test}},
                "NetworkSettings": {"Networks": nets},
            }

    posted: list[tuple[str, Any]] = []
    checks = fastcheck.FastChecks(Api(), ["web", "api"], posted.append, exec_cadence=0.01, host_cadence=0.01)  # type: ignore[arg-type]
    checks.hold()
    checks.hold()
    for cid, service in (("exec1", "web"), ("host1", "api")):
        info = ContainerInfo(cid, f"p-{service}-1", service, 1, "running", Health.STARTING, None, has_healthcheck=True)
        checks.follow(Tracked(info=info, needs_start=False, started_mono=1.0))
    deadline = time.monotonic() + 5
    while not calls and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)
    assert [c for c, _ in calls] == ["host1"]  # the exec waits for the starts
    checks.release()
    time.sleep(0.2)
    assert [c for c, _ in calls] == ["host1"]  # one start still in flight
    released = time.monotonic()
    checks.release()
    while len(calls) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    checks.close()
    assert [c for c, _ in calls] == ["host1", "exec1"] and calls[1][1] - released < 1.0
    assert {p[1][0] for p in posted} == {"host1", "exec1"}


def test_with_recheck_a_first_attempt_that_fails_after_a_pass_already_known_is_posted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The monitor's first read checks every starting container once (``checked=True``); its watch
    then starts from that verdict, so a check that fails from the watch's first attempt on is a change
    (found on the real engine: a file removed right after ``status --follow`` started was never seen)."""
    from devenv.core.health import Tracked
    from devenv.core.models import ContainerInfo, Health

    monkeypatch.setattr(fastcheck, "attempt", lambda api, cid, plan: (False, "HTTP 404 from /ok"))
    posted: list[tuple[str, Any]] = []

    class Api:
        base_url = "http+docker://localhost"

        def inspect_container(self, cid: str) -> dict[str, Any]:
            return {"Id": cid, "State": {"Running": True}, "Config": {"Healthcheck": {"Test": ["CMD", "true"]}}}

    checks = fastcheck.FastChecks(Api(), ["web"], posted.append, exec_cadence=0.01, recheck=0.01)  # type: ignore[arg-type]
    info = ContainerInfo(
        "c1", "p-web-1", "web", 1, "running", Health.STARTING, None, has_healthcheck=True, checked=True
    )
    checks.follow(Tracked(info=info, needs_start=False, started_mono=1.0))
    deadline = time.monotonic() + 5
    while not posted and time.monotonic() < deadline:
        time.sleep(0.01)
    checks.close()
    assert posted and posted[0] == ("fastcheck", ("c1", 1.0, False, "exec: HTTP 404 from /ok"))


# ---------------------------------------------------------------------------- file tests (a stat)
def test_a_file_test_is_an_exec_where_the_engines_stat_would_not_see_what_the_test_sees() -> None:
    """The daemon stats as root, in the container's filesystem and volumes but not its tmpfs
    mounts: another user, or a path under a tmpfs, runs the test itself."""
    hc = {"Test": ["CMD", "test", "-f", "/run/app/ready"], "Timeout": 2_000_000_000, "Interval": 1_000_000_000}
    doc: dict[str, Any] = {"State": {"Running": True}, "Config": {"Healthcheck": hc}, "HostConfig": {}, "Mounts": []}
    assert plan_for(doc, host_probes=False).test.kind == "file"  # a remote engine answers a stat too
    for user in ("root", "0", "0:0", "root:staff"):
        assert plan_for({**doc, "Config": {**doc["Config"], "User": user}}, host_probes=True).test.kind == "file"
    for user in ("app", "1000", "1000:1000"):
        plan = plan_for({**doc, "Config": {**doc["Config"], "User": user}}, host_probes=True)
        assert (plan.test.kind, plan.test.argv) == ("exec", ("test", "-f", "/run/app/ready")), user
    for host_config, mounts in (
        ({"Tmpfs": {"/run": "size=64m"}}, []),
        ({}, [{"Type": "tmpfs", "Destination": "/run/app"}]),
        ({"Mounts": [{"Type": "tmpfs", "Target": "/run/"}]}, []),
        # any tmpfs: /var/run -> /run in the image would hide it from a prefix test
        ({"Tmpfs": {"/var/cache": ""}}, []),
        # root without DAC_OVERRIDE, or in a user namespace, may not reach what the daemon stats
        ({"CapDrop": ["ALL"]}, []),
        ({"UsernsMode": "private"}, []),
    ):
        plan = plan_for({**doc, "HostConfig": host_config, "Mounts": mounts}, host_probes=True)
        assert plan.test.kind == "exec", (host_config, mounts)
    plain = plan_for({**doc, "HostConfig": {"CapAdd": ["NET_ADMIN"]}}, host_probes=True)
    assert plain.test.kind == "file"
    # where `test` may be: the container's PATH (else Docker's default); the shell of CMD-SHELL
    assert plain.programs == tuple(
        f"{d}/test" for d in ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]
    )
    with_path = {**doc, "Config": {**doc["Config"], "Env": ["A=1", "PATH=/opt/bin:/usr/bin"]}}
    assert plan_for(with_path, host_probes=True).programs == ("/opt/bin/test", "/usr/bin/test")
    shell = {**doc, "Config": {**doc["Config"], "Healthcheck": {**hc, "Test": ["CMD-SHELL", "[ -f /x ]"]}}}
    assert plan_for(shell, host_probes=True).programs == ("/bin/sh",)


class StatApi:
    """``HEAD /containers/ID/archive``: what the Engine answers for one path."""

    def __init__(self, status: int, stat: dict[str, Any] | None = None, only: str | None = None) -> None:
        self.status, self.stat, self.calls = status, stat, []  # type: list[tuple[str, Any]]
        self.only = only  # when set: every other path is missing (404)

    def _url(self, template: str, cid: str) -> str:
        return "http+docker://localhost/v1.41" + template.format(cid)

    def head(self, url: str, params: dict[str, str], timeout: float) -> Any:
        import base64
        import json
        from types import SimpleNamespace

        self.calls.append((url, params))
        if self.only is not None and params["path"] != self.only:
            return SimpleNamespace(status_code=404, headers={})
        headers = {}
        if self.stat is not None:
            headers["X-Docker-Container-Path-Stat"] = base64.b64encode(json.dumps(self.stat).encode()).decode()
        return SimpleNamespace(status_code=self.status, headers=headers)


REG, DIR, LINK, SOCK = 0o644, (1 << 31) | 0o755, (1 << 27) | 0o777, (1 << 24) | 0o755


@pytest.mark.parametrize(
    ("op", "status", "stat", "ok"),
    [
        ("f", 200, {"mode": REG, "size": 0}, True),
        ("f", 200, {"mode": DIR, "size": 4096}, False),
        ("f", 200, {"mode": SOCK, "size": 0}, False),
        ("f", 404, None, False),
        ("e", 200, {"mode": DIR, "size": 4096}, True),
        ("e", 200, {"mode": SOCK, "size": 0}, True),
        ("s", 200, {"mode": REG, "size": 0}, False),
        ("s", 200, {"mode": REG, "size": 3}, True),
        ("d", 200, {"mode": DIR, "size": 4096}, True),
        ("d", 200, {"mode": REG, "size": 1}, False),
        # a symbolic link is not followed: left to Docker's own check (later, never earlier)
        ("e", 200, {"mode": LINK, "size": 9, "linkTarget": "/data/x"}, False),
        ("f", 500, None, False),
    ],
)
def test_the_engines_stat_answers_the_file_test(op: str, status: int, stat: Any, ok: bool) -> None:
    api = StatApi(status, stat)
    plan = Plan(HealthTest("file", path="/tmp/ready", accept=op), timeout=2.0)
    passed, detail = attempt(api, "c0ffee", plan)  # type: ignore[arg-type]
    assert passed is ok, detail
    assert api.calls == [("http+docker://localhost/v1.41/containers/c0ffee/archive", {"path": "/tmp/ready"})]
    assert "/tmp/ready" in detail


def test_a_file_test_does_not_pass_where_docker_could_not_run_it() -> None:
    """An image without ``test`` (or without the shell of CMD-SHELL) fails every check of Docker's
    own: the stat must not pass there either."""
    stat = {"mode": REG, "size": 0}
    plan = Plan(HealthTest("file", path="/tmp/ready", accept="f"), timeout=2.0, programs=("/usr/bin/test", "/bin/test"))
    missing = StatApi(200, stat, only="/tmp/ready")
    passed, detail = attempt(missing, "c0ffee", plan)  # type: ignore[arg-type]
    assert not passed and "test is not in the container" in detail, detail
    assert [c[1]["path"] for c in missing.calls] == ["/usr/bin/test", "/bin/test"]
    present = StatApi(200, stat)
    assert attempt(present, "c0ffee", plan)[0] is True  # type: ignore[arg-type]
    assert [c[1]["path"] for c in present.calls] == ["/usr/bin/test", "/tmp/ready"]
