"""Fast checks: devenv checks readiness itself while Docker's health is ``starting`` (issue §9).

Docker runs a healthcheck every ``interval``: a service that became ready just after a check
waits up to a whole interval before Docker calls it healthy, and every ``depends_on`` level adds
that lag (Engine 1.41 has no ``start_interval``). While a container's health is ``starting``,
:class:`FastChecks` runs the container's healthcheck test (or its host-side equivalent) at a short
cadence and reports the first pass. A pass counts as healthy (:func:`devenv.core.health.checked_ready`):
dependents with ``condition: service_healthy`` start at once, ``up`` returns once every service
is ready this way or by Docker's own flag, and ``devenv status`` (:func:`check_now`, one attempt per
``starting`` container) and the monitor report it ready with ``ready_by: "devenv-check"``.

- Which check: :func:`devenv.core.healthtests.recognise`. A recognisable TCP/HTTP/``pg_isready``/
  ``mysqladmin ping`` test runs from the host (no process spawned in the container) against the
  container's IP (else its published port); a file test (``test -f /path``) is a stat by the Engine
  (:mod:`devenv.core.filecheck`); anything else runs the test itself in the container
  (same command, ``CMD``/``CMD-SHELL`` semantics, same timeout). ``NONE``: never checked.
- Honest: a host-side check is never weaker than the test (it may pass later, never earlier); an
  exec that outlives the test's timeout fails, as under Docker; no exec on a container that ran
  before (its previous run's files could make the test pass before the new process is up).
- Cost (2 cores are shared with the engine and the services starting): one check in flight per
  container, host checks every 0.1 s (8 at once), file stats every 0.25 s (in the same pool),
  exec checks right after the start and then every half interval (0.25-1 s), 2 at once over the
  stack; and no exec while ``up`` still has a
  container start in flight (:meth:`FastChecks.hold`): the engine handles both, and an exec that
  competes with a start delays the start for a check that cannot pass before the container runs
  (a precaution: on 60 independent services its effect was within the run-to-run noise). Checking
  stops at the first pass, at Docker's own verdict, at an exit, and when the wait ends.
"""

from __future__ import annotations

import heapq
import itertools
import socket
import struct
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from devenv.core.filecheck import program_paths, stat_check, stat_is_faithful
from devenv.core.healthtests import NONE, HealthTest, describe, recognise
from devenv.core.models import ContainerInfo, Health

if TYPE_CHECKING:
    import docker

    from devenv.core.health import Tracked

HOST_CADENCE = 0.1  # seconds between host-side attempts (a connect; nothing runs in the container)
# Seconds between exec attempts on one container (each spawns the test in the container, which
# costs the engine as much as one of Docker's own checks): half the healthcheck's interval, within
# these bounds. The first attempt comes right after the start.
EXEC_CADENCE = 0.25
EXEC_CADENCE_MAX = 1.0
# Exec attempts in flight at once, over all containers. On 2 cores more starved the engine: 30
# services starting with 8 execs in flight took 2.8 times as long as under Compose (one round, load 50).
EXEC_IN_FLIGHT = 2
# Seconds between stat attempts on one container (a ``test -f``-style test answered by the Engine's
# archive API: about 0.5 ms of the daemon's CPU, where an exec of the same test costs it about 12 ms
# plus runc's process): between the host checks' cadence and the execs'.
FILE_CADENCE = 0.25
HOST_TIMEOUT_CAP = 2.0  # a host-side attempt never waits longer than this
WORKERS = 8  # at width every container may wait for a check: Docker runs its own all at once
STATUS_TIMEOUT_CAP = 1.0  # `devenv status`: one attempt per starting container, never longer than this


def local_engine(api: Any) -> bool:
    """Whether the engine runs on this machine (a Unix socket): container IPs are reachable."""
    base = str(getattr(api, "base_url", ""))
    return base.startswith(("http+docker://localhost", "http+docker://localunixsocket", "unix://"))


@dataclass(frozen=True)
class Plan:
    """How one container is checked: the recognised test, where to reach it, its timeout."""

    test: HealthTest
    host: str = ""
    port: int = 0
    timeout: float = 30.0
    interval: float = 30.0  # the healthcheck's own interval (Docker's cadence)
    programs: tuple[str, ...] = ()  # a file test: where its program may be (filecheck.program_paths)

    @property
    def exec_cadence(self) -> float:
        return min(max(EXEC_CADENCE, self.interval / 2), EXEC_CADENCE_MAX)

    @property
    def label(self) -> str:
        return describe(self.test) if self.host or not self.test.from_host else "exec"


def plan_for(doc: Mapping[str, Any], *, host_probes: bool) -> Plan:
    """The plan for a container from its inspect document (``Config.Healthcheck``, networks)."""
    config = doc.get("Config") or {}
    hc = config.get("Healthcheck") or {}
    test = recognise(hc.get("Test"), config.get("Shell"))
    timeout = (hc.get("Timeout") or 30_000_000_000) / 1e9
    interval = (hc.get("Interval") or 30_000_000_000) / 1e9
    host, port = _address(doc, test.port, test.kind) if host_probes and test.from_host else (None, 0)
    if host is not None:
        return Plan(test, host=host, port=port, timeout=min(timeout, HOST_TIMEOUT_CAP), interval=interval)
    if test.kind != "none" and _ran_before(doc):
        # The test would read a filesystem the previous run left behind (a marker file, a pid
        # file) before the new process cleared it: a pass right after the start could be stale.
        # Only Docker's own flag decides for this start (a fresh container has nothing stale).
        return Plan(NONE, timeout=timeout, interval=interval)
    if test.kind == "file":
        if not stat_is_faithful(config, doc.get("HostConfig") or {}, doc.get("Mounts")):
            test = HealthTest("exec", argv=test.argv)
        else:
            programs = program_paths(test.argv, config.get("Env"))
            return Plan(test, timeout=timeout, interval=interval, programs=programs)
    return Plan(HealthTest("exec", argv=test.argv) if test.from_host else test, timeout=timeout, interval=interval)


def _ran_before(doc: Mapping[str, Any]) -> bool:
    """The container has run before its current start (a stop and start, a policy restart)."""
    finished = str((doc.get("State") or {}).get("FinishedAt") or "")
    return bool(finished) and not finished.startswith("0001-01-01")


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
        if test.kind == "file":
            return stat_check(api, cid, test.path, test.accept, plan.timeout, plan.programs)
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
    passing: bool = False  # the last reported result (with ``recheck``)


class FastChecks:
    """Runs fast checks for the containers it is told to follow; posts ``("fastcheck", (cid,
    token, passed, detail))`` through ``post`` at the first pass. A scheduler thread keeps a heap of
    due attempts and hands them to a small pool; at most one attempt per container is in flight.

    ``allowed``: the services that may be checked (``[readiness] fast_checks``), a collection or a
    predicate. ``host_cadence`` / ``exec_cadence``: seconds between two attempts on one container.
    ``recheck`` (a monitor, which must not go on calling ready what no longer passes): after a pass,
    check again every ``recheck`` seconds while Docker says ``starting``; every change is posted.
    """

    def __init__(
        self,
        api: docker.APIClient,
        allowed: Collection[str] | Callable[[str], bool],
        post: Callable[[tuple[str, Any]], None],
        *,
        host_cadence: float | None = None,
        exec_cadence: float | None = None,
        recheck: float | None = None,
    ) -> None:
        self.api = api
        self.allowed: Callable[[str], bool] = allowed if callable(allowed) else frozenset(allowed).__contains__
        self.post = post
        self.host_cadence = HOST_CADENCE if host_cadence is None else host_cadence
        self.exec_cadence = EXEC_CADENCE if exec_cadence is None else exec_cadence
        self.recheck = recheck
        self.host_probes = local_engine(api)
        self.attempts: dict[str, int] = {}  # per service (reported, and for tests)
        self.labels: dict[str, str] = {}  # per service: which check ran
        self._watches: dict[str, _Watch] = {}
        self._docs: dict[str, Mapping[str, Any]] = {}  # inspect documents the caller already had
        self._heap: list[tuple[float, int, str]] = []
        self._holds = 0  # engine-heavy steps in flight (container starts): exec attempts wait
        self._parked: list[str] = []  # containers whose exec attempt waits for the holds to end
        self._seq = itertools.count()
        self._cv = threading.Condition()
        self._closed = False
        self._pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="devenv-fastcheck")
        # Exec attempts queue here for their turn (first come, first served).
        self._exec_pool = ThreadPoolExecutor(max_workers=EXEC_IN_FLIGHT, thread_name_prefix="devenv-fastcheck-exec")
        self._thread = threading.Thread(target=self._loop, name="devenv-fastcheck", daemon=True)
        self._thread.start()

    def follow(self, t: Tracked) -> None:
        """Start or stop checking a tracked container after a change: it is checked while it runs
        with health ``starting`` and has neither passed nor failed."""
        info = t.info
        if not self.allowed(info.service):
            return
        wanted = info.state == "running" and info.health == Health.STARTING and not t.failure
        wanted = wanted and (self.recheck is not None or not info.checked)
        with self._cv:
            w = self._watches.get(info.id)
            if wanted and (w is None or not w.active or w.token != t.started_mono):
                if w is not None:
                    w.active = False
                # What it is known to be now (a monitor's first read may have checked it already):
                # only a change from that is posted, so a first attempt that fails is a change.
                self._watches[info.id] = _Watch(info.id, info.service, t.started_mono, passing=info.checked)
                self._push(time.monotonic() + min(self.host_cadence, self.exec_cadence) / 2, info.id)
            elif not wanted and w is not None:
                w.active = False
                del self._watches[info.id]

    def needs_address(self, info: ContainerInfo, doc: Mapping[str, Any]) -> bool:
        """Whether checking this container needs its address (an inspect after its start)."""
        test = (doc.get("Config") or {}).get("Healthcheck") or {}
        return self.host_probes and self.allowed(info.service) and recognise(test.get("Test")).from_host

    def provide(self, cid: str, doc: Mapping[str, Any]) -> None:
        """An inspect document of ``cid`` the caller already has: its check is planned from it,
        without an inspect of its own, when it says enough (a host-side check needs the address
        a container gets when it starts)."""
        with self._cv:
            self._docs[cid] = doc

    def hold(self) -> None:
        """A container start begins: exec attempts wait until every hold is released."""
        with self._cv:
            self._holds += 1

    def release(self) -> None:
        """A container start returned (or failed): with no other in flight, the parked execs go."""
        with self._cv:
            self._holds -= 1
            if self._holds <= 0:
                self._holds = 0
                now = time.monotonic()
                for cid in self._parked:
                    self._push(now, cid)
                self._parked.clear()

    def close(self) -> None:
        with self._cv:
            self._closed = True
            self._cv.notify()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._exec_pool.shutdown(wait=False, cancel_futures=True)

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
                if self._holds and w.plan is not None and w.plan.test.kind == "exec":
                    self._parked.append(cid)  # the engine is starting containers: after them
                    continue
                w.in_flight = True
                try:
                    pool = self._exec_pool if w.plan is not None and w.plan.test.kind == "exec" else self._pool
                    pool.submit(self._run, w)
                except RuntimeError:  # the pool is shut down: the wait is over
                    return

    def _run(self, w: _Watch) -> None:
        try:
            if w.plan is None:
                with self._cv:
                    doc = self._docs.pop(w.cid, None)
                if doc is None or not _says_enough(doc):
                    doc = self.api.inspect_container(w.cid)
                w.plan = plan_for(doc, host_probes=self.host_probes)
                self.labels[w.service] = w.plan.label
                if w.plan.test.kind == "exec":
                    with self._cv:
                        if self._holds:  # the engine is starting containers: after them
                            w.in_flight = False
                            self._parked.append(w.cid)
                            return
                    self._exec_pool.submit(self._run, w)  # its turn among the execs
                    return
            ok, detail = (False, "no check") if w.plan.test.kind == "none" else attempt(self.api, w.cid, w.plan)
        except Exception as exc:  # inspect failed: the container is gone; events say the rest
            ok, detail = False, str(exc)
            w.active = False
        with self._cv:
            w.in_flight = False
            self.attempts[w.service] = self.attempts.get(w.service, 0) + 1
            if not w.active or self._closed or w.plan is None or w.plan.test.kind == "none":
                w.active = False
                return
            if ok != w.passing:
                w.passing = ok
                self.post(("fastcheck", (w.cid, w.token, ok, f"{w.plan.label}: {detail}")))
            if ok and self.recheck is None:
                w.active = False
                return
            host = w.plan.test.from_host and w.plan.host
            if host:
                cadence = self.host_cadence
            elif w.plan.test.kind == "file":
                cadence = max(self.host_cadence, FILE_CADENCE)
            else:
                cadence = max(self.exec_cadence, w.plan.exec_cadence)
            self._push(time.monotonic() + (self.recheck if ok and self.recheck else cadence), w.cid)


def _says_enough(doc: Mapping[str, Any]) -> bool:
    """An inspect document a plan can come from: taken while running, or the test is an exec."""
    config = doc.get("Config") or {}
    test = recognise((config.get("Healthcheck") or {}).get("Test"), config.get("Shell"))
    return bool((doc.get("State") or {}).get("Running")) or not test.from_host


# ------------------------------------------------------------------------------ one-shot (status)
def check_now(api: Any, docs: Sequence[Mapping[str, Any]], *, cap: float = STATUS_TIMEOUT_CAP) -> set[str]:
    """The ids of the containers (inspect documents, health ``starting``) whose check passes now.

    One attempt each, all in parallel, each bounded by its test's timeout and by ``cap``: what
    has not passed when the time is up counts as not passed (``starting``, as Docker says).
    """
    host_probes = local_engine(api)
    passed: set[str] = set()
    lock = threading.Lock()

    def one(doc: Mapping[str, Any]) -> None:
        plan = plan_for(doc, host_probes=host_probes)
        if plan.test.kind == "none":
            return
        plan = Plan(plan.test, plan.host, plan.port, min(plan.timeout, cap))
        ok, _detail = attempt(api, str(doc["Id"]), plan)
        if ok:
            with lock:
                passed.add(str(doc["Id"]))

    threads = [threading.Thread(target=one, args=(doc,), daemon=True) for doc in docs]
    for th in threads:
        th.start()
    deadline = time.monotonic() + cap + 0.05
    for th in threads:
        th.join(max(0.0, deadline - time.monotonic()))
    with lock:
        return set(passed)
