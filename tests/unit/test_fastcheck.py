"""Fast checks (issue §9): recognising healthcheck tests, the host-side checks, and the waiter's use
of a pass (dependents start before Docker's healthy; ``up`` still ends on Docker's flag)."""

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
from devenv.core.fastcheck import Plan, attempt, plan_for, worth_checking
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
        ["CMD", "test", "-f", "/tmp/ready"],
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


def test_only_services_a_target_waits_on_with_service_healthy_are_checked() -> None:
    model = compose(
        {
            "db": {"healthcheck": {"test": PG_HEALTHCHECK}},
            "cache": {"healthcheck": {"test": ["CMD", "true"]}},
            "off": {"healthcheck": {"test": ["NONE"]}},
            "leaf": {"healthcheck": {"test": ["CMD", "true"]}},
            "api": {
                "depends_on": {"db": "service_healthy", "cache": "service_started", "off": "service_healthy"},
            },
        }
    )
    targets = list(model.services)
    assert worth_checking(model.services, targets, targets) == {"db"}
    assert worth_checking(model.services, targets, ["cache", "leaf"]) == set()  # db opted out


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
    fake, model = chain(PG_HEALTHCHECK)
    result, rec = wait(fake, model, ["db", "api"])

    assert result.ok
    healthy_at = fake.push_time("db", "health_status: healthy")
    assert fake.start_time("api") < healthy_at - 0.3  # started on the fast pass, well before Docker's flag
    assert fake_attempts["calls"]  # it was checked ...
    notes = [getattr(e, "note", "") for e in rec.events]
    assert "health: starting (ready for dependents: fast check)" in notes
    # ... but `up` ends on Docker's own flag: the result agrees with `docker inspect`.
    db = next(s for s in result.services if s.service == "db")
    assert (db.health.value, db.ready, db.detail) == ("healthy", True, "healthy")


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
