"""Fast checks: devenv checks readiness itself during a service's start phase (issue §9).

Docker runs a healthcheck every ``interval``: a service that became ready just after a check
waits up to a whole interval before Docker calls it healthy, and every ``depends_on`` level adds
that lag (Engine 1.41 has no ``start_interval``). While a container's health is ``starting``,
:class:`FastChecks` runs an equivalent check at a short cadence and reports the first pass; the
waiter then lets dependents with ``condition: service_healthy`` start at once. ``up`` itself still
finishes on Docker's own ``healthy`` (so ``devenv status`` and ``docker inspect`` agree with it).

- Which check: :func:`devenv.core.healthtests.recognise`. A recognisable TCP/HTTP/``pg_isready``/
  ``mysqladmin ping`` test runs from the host (no process spawned in the container) against the
  container's IP (else its published port); anything else runs the test itself in the container
  (same command, ``CMD``/``CMD-SHELL`` semantics, same timeout). ``NONE``: never checked.
- Cost (2 cores are shared with the engine and the services starting): one check in flight per
  container, a small worker pool, host checks every 0.1 s and exec checks every 0.25 s, and only
  for services that a pending target waits on with ``service_healthy`` (elsewhere a pass changes
  nothing). Checking stops at the first pass, at Docker's own verdict, at an exit, and when the
  wait ends.
"""

from __future__ import annotations

import heapq
import itertools
import socket
import struct
import threading
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from devenv.core.healthtests import HealthTest, describe, recognise
from devenv.core.models import Health

if TYPE_CHECKING:
    import docker

    from devenv.core.compose.model import ServiceSpec
    from devenv.core.health import Tracked

HOST_CADENCE = 0.1  # seconds between host-side attempts (a connect; nothing runs in the container)
EXEC_CADENCE = 0.25  # seconds between exec attempts (each spawns the test in the container)
HOST_TIMEOUT_CAP = 2.0  # a host-side attempt never waits longer than this
WORKERS = 4


def worth_checking(services: Mapping[str, ServiceSpec], targets: Iterable[str], allowed: Collection[str]) -> set[str]:
    """Services (of ``allowed``) with a healthcheck that some target waits on with ``service_healthy``."""
    out = set()
    for name in targets:
        spec = services.get(name)
        for dep in spec.depends_on if spec is not None else ():
            dep_spec = services.get(dep.service)
            if (
                dep.condition == "service_healthy"
                and dep.service in allowed
                and dep_spec is not None
                and dep_spec.has_healthcheck
            ):
                out.add(dep.service)
    return out


def local_engine(api: Any) -> bool:
    """Whether the engine runs on this machine (a Unix socket): container IPs are reachable."""
    return str(getattr(api, "base_url", "")).startswith(("http+docker://localhost", "http+docker://localunixsocket"))


@dataclass(frozen=True)
class Plan:
    """How one container is checked: the recognised test, where to reach it, its timeout."""

    test: HealthTest
    host: str = ""
    port: int = 0
    timeout: float = 30.0

    @property
    def label(self) -> str:
        return describe(self.test) if self.host or not self.test.from_host else "exec"


def plan_for(doc: Mapping[str, Any], *, host_probes: bool) -> Plan:
    """The plan for a container from its inspect document (``Config.Healthcheck``, networks)."""
    config = doc.get("Config") or {}
    hc = config.get("Healthcheck") or {}
    test = recognise(hc.get("Test"), config.get("Shell"))
    timeout = (hc.get("Timeout") or 30_000_000_000) / 1e9
    if not test.from_host:
        return Plan(test, timeout=timeout)
    host, port = _address(doc, test.port, test.kind) if host_probes else (None, 0)
    if host is None:  # unreachable from here: run the test itself
        return Plan(HealthTest("exec", argv=test.argv), timeout=timeout)
    return Plan(test, host=host, port=port, timeout=min(timeout, HOST_TIMEOUT_CAP))


def _address(doc: Mapping[str, Any], port: int, kind: str) -> tuple[str | None, int]:
    """Where the host reaches ``port`` of the container: its IP, else its published port.

    The container IP comes first: a published port goes through Docker's userland proxy, which
    accepts a connection even while nothing listens behind it (a bare TCP connect would pass).
    """
    settings = doc.get("NetworkSettings") or {}
    if (doc.get("HostConfig") or {}).get("NetworkMode") == "host":
        return "127.0.0.1", port
    for net in (settings.get("Networks") or {}).values():
        if (net or {}).get("IPAddress"):
            return str(net["IPAddress"]), port
    if settings.get("IPAddress"):
        return str(settings["IPAddress"]), port
    for binding in (settings.get("Ports") or {}).get(f"{port}/tcp") or []:
        if kind != "tcp" and binding.get("HostIp") in ("", "0.0.0.0", "127.0.0.1", "::") and binding.get("HostPort"):
            return "127.0.0.1", int(binding["HostPort"])
    return None, 0


# ---------------------------------------------------------------------------------- one attempt
def attempt(api: docker.APIClient, cid: str, plan: Plan) -> tuple[bool, str]:
    """One check: (passed, detail). Never raises."""
    test = plan.test
    try:
        if test.kind == "exec":
            return _exec(api, cid, test.argv, plan.timeout)
        if test.kind == "tcp":
            with socket.create_connection((plan.host, plan.port), timeout=plan.timeout):
                return True, f"tcp {plan.host}:{plan.port} accepted"
        if test.kind == "http":
            return _http(plan)
        if test.kind == "postgres":
            return _postgres(plan)
        if test.kind == "mysql":
            return _mysql(plan)
    except OSError as exc:
        return False, f"{plan.label}: {exc.strerror or exc}"
    except Exception as exc:
        return False, f"{plan.label}: {type(exc).__name__}: {exc}"
    return False, f"no check for {test.kind}"


def _exec(api: docker.APIClient, cid: str, argv: tuple[str, ...], timeout: float) -> tuple[bool, str]:
    t0 = time.monotonic()
    # Attached: exec_start returns when the process ends (detached, it returns at once).
    exec_id = api.exec_create(cid, list(argv), stdout=True, stderr=True)["Id"]
    api.exec_start(exec_id, stream=False)
    code = api.exec_inspect(exec_id).get("ExitCode")
    if time.monotonic() - t0 > timeout:  # Docker would have given up on it
        return False, f"exec took longer than the healthcheck timeout ({timeout:g} s)"
    return code == 0, f"exec exited with code {code}"


def _http(plan: Plan) -> tuple[bool, str]:
    import http.client

    conn = http.client.HTTPConnection(plan.host, plan.port, timeout=plan.timeout)
    try:
        conn.request(plan.test.method, plan.test.path, headers={"Host": f"localhost:{plan.test.port}"})
        status = conn.getresponse().status
    finally:
        conn.close()
    accept = plan.test.accept
    ok = accept == "any" or (status < 400 if accept == "lt400" else 200 <= status < 300)
    return ok, f"HTTP {status} from {plan.test.path}"


def _postgres(plan: Plan) -> tuple[bool, str]:
    """What ``pg_isready`` calls accepting connections: the server answers a startup packet with
    an authentication request, or an error other than 57P03 ("the database system is starting
    up", also used while shutting down or in recovery)."""
    params = b"user\x00devenv_ping\x00database\x00postgres\x00\x00"
    packet = struct.pack("!ii", 8 + len(params), 196608) + params  # protocol 3.0
    with socket.create_connection((plan.host, plan.port), timeout=plan.timeout) as sock:
        sock.sendall(packet)
        head = _recv(sock, 5)
        if head[:1] == b"R":
            return True, "postgres: accepting connections"
        if head[:1] != b"E":
            return False, f"postgres: unexpected answer {head[:1]!r}"
        body = _recv(sock, struct.unpack("!i", head[1:5])[0] - 4)
    fields = {f[:1]: f[1:].decode(errors="replace") for f in body.split(b"\x00") if f}
    if fields.get(b"C") == "57P03":
        return False, f"postgres: {fields.get(b'M', 'not accepting connections yet')}"
    return True, f"postgres: accepting connections ({fields.get(b'C', '?')})"


def _mysql(plan: Plan) -> tuple[bool, str]:
    """What ``mysqladmin ping`` calls alive: the server sends a packet (its greeting, or an error
    such as "too many connections") on a new connection."""
    with socket.create_connection((plan.host, plan.port), timeout=plan.timeout) as sock:
        head = _recv(sock, 5)
    if head[4:5] == b"\xff":
        return True, "mysql: server answered with an error packet (alive)"
    return True, f"mysql: greeting (protocol {head[4]})"


def _recv(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("connection closed by the server")
        data += chunk
    return data


# ------------------------------------------------------------------------------------ the runner
@dataclass
class _Watch:
    cid: str
    service: str
    token: Any  # the container's start (monotonic); a pass is only valid for the same start
    plan: Plan | None = None
    in_flight: bool = False
    active: bool = True


class FastChecks:
    """Runs fast checks for the containers it is told to follow; posts ``("fastcheck", (cid,
    token, detail))`` through ``post`` at the first pass. A scheduler thread keeps a heap of due
    attempts and hands them to a small pool; at most one attempt per container is in flight."""

    def __init__(
        self, api: docker.APIClient, services: Collection[str], post: Callable[[tuple[str, Any]], None]
    ) -> None:
        self.api = api
        self.services = frozenset(services)
        self.post = post
        self.host_probes = local_engine(api)
        self.attempts: dict[str, int] = {}  # per service (reported, and for tests)
        self.labels: dict[str, str] = {}  # per service: which check ran
        self._watches: dict[str, _Watch] = {}
        self._heap: list[tuple[float, int, str]] = []
        self._seq = itertools.count()
        self._cv = threading.Condition()
        self._closed = False
        self._pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="devenv-fastcheck")
        self._thread = threading.Thread(target=self._loop, name="devenv-fastcheck", daemon=True)
        self._thread.start()

    def follow(self, t: Tracked) -> None:
        """Start or stop checking a tracked container after a change: it is checked while it runs
        with health ``starting`` and has neither passed nor failed."""
        info = t.info
        if info.service not in self.services:
            return
        wanted = info.state == "running" and info.health == Health.STARTING and not t.failure and not t.fast_ready
        with self._cv:
            w = self._watches.get(info.id)
            if wanted and (w is None or not w.active or w.token != t.started_mono):
                if w is not None:
                    w.active = False
                self._watches[info.id] = _Watch(info.id, info.service, t.started_mono)
                self._push(time.monotonic() + HOST_CADENCE / 2, info.id)
            elif not wanted and w is not None:
                w.active = False

    def close(self) -> None:
        with self._cv:
            self._closed = True
            self._cv.notify()
        self._pool.shutdown(wait=False, cancel_futures=True)

    # -- internals -------------------------------------------------------------------------------
    def _push(self, when: float, cid: str) -> None:
        heapq.heappush(self._heap, (when, next(self._seq), cid))
        self._cv.notify()

    def _loop(self) -> None:
        with self._cv:
            while not self._closed:
                now = time.monotonic()
                if not self._heap or self._heap[0][0] > now:
                    self._cv.wait(None if not self._heap else self._heap[0][0] - now)
                    continue
                _, _, cid = heapq.heappop(self._heap)
                w = self._watches.get(cid)
                if w is None or not w.active or w.in_flight:
                    continue
                w.in_flight = True
                try:
                    self._pool.submit(self._run, w)
                except RuntimeError:  # the pool is shut down: the wait is over
                    return

    def _run(self, w: _Watch) -> None:
        try:
            if w.plan is None:
                w.plan = plan_for(self.api.inspect_container(w.cid), host_probes=self.host_probes)
                self.labels[w.service] = w.plan.label
            ok, detail = (False, "no healthcheck") if w.plan.test.kind == "none" else attempt(self.api, w.cid, w.plan)
        except Exception as exc:  # inspect failed: the container is gone; events say the rest
            ok, detail = False, str(exc)
            w.active = False
        with self._cv:
            w.in_flight = False
            self.attempts[w.service] = self.attempts.get(w.service, 0) + 1
            if not w.active or self._closed or w.plan is None or w.plan.test.kind == "none":
                w.active = False
                return
            if ok:
                w.active = False
                self.post(("fastcheck", (w.cid, w.token, f"{w.plan.label}: {detail}")))
                return
            cadence = HOST_CADENCE if w.plan.test.from_host and w.plan.host else EXEC_CADENCE
            self._push(time.monotonic() + cadence, w.cid)
