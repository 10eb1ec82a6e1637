"""Shared fixtures for devenv's test suite.

Tests under ``tests/integration`` and ``tests/cli`` drive the real ``devenv`` console script
against a real Docker engine (Compose v2, local images built by ``scripts/provision.sh``). They
are marked ``docker`` automatically; the session fixture ``docker_ready`` FAILS them (it never
skips) with a pointer to ``scripts/provision.sh`` when the engine, Compose v2 or the test images
are missing.

Every Compose project a test creates is named ``dvt<hex>`` and torn down (``down -v``, then any
leftover container, volume or network labelled with the project) even when the test fails.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
TESTS = REPO / "tests"
STACKS = TESTS / "integration" / "stacks"
DEVENV = Path(sys.executable).parent / "devenv"

BASE_IMAGE = "devenv-test/base:bookworm"
PYTHON_IMAGE = "devenv-test/python:latest"
POSTGRES_IMAGE = "devenv-test/postgres:latest"
APP_IMAGE = "devenv-test/tasktracker-app:latest"
TEST_IMAGES = (BASE_IMAGE, PYTHON_IMAGE, POSTGRES_IMAGE)

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"

# Variables from the caller's shell that would change which project/profile/files devenv or
# compose pick; tests must not inherit them.
_SCRUBBED_ENV = (
    "DEVENV_PROFILE",
    "COMPOSE_PROJECT_NAME",
    "COMPOSE_FILE",
    "COMPOSE_PROFILES",
    "COMPOSE_ENV_FILES",
    "COMPOSE_PATH_SEPARATOR",
    "DEVENV_DEBUG",
)

# Port variables every stack gets (distinct free ports on 127.0.0.1), used by compose interpolation.
PORT_VARS = (
    "PORT",
    "API_PORT",
    "OVERRIDE_PORT",
    "DEV_PORT",
    "PROD_PORT",
    "POSTGRES_PORT",
    "DEBUG_PORT",
    "DJANGO_PORT",
    "SLOW_PORT",
)

DEFAULT_TIMEOUT = 180.0


# ------------------------------------------------------------------------------------- environment
def base_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED_ENV}
    env.setdefault("NO_COLOR", "1")
    env["COLUMNS"] = "200"
    if extra:
        env.update(extra)
    return env


def _neutral_dir() -> str:
    d = Path(tempfile.gettempdir()) / "dvt-neutral-cwd"
    d.mkdir(exist_ok=True)
    return str(d)


def docker(
    *args: str,
    timeout: float = 120,
    check: bool = False,
    cwd: str | Path | None = None,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the docker CLI (text mode, captured)."""
    proc = subprocess.run(
        ["docker", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=str(cwd) if cwd else _neutral_dir(),
        env=base_env(env),
        stdin=subprocess.DEVNULL,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


# ------------------------------------------------------------------------------------------- ports
def free_ports(n: int) -> list[int]:
    """``n`` distinct currently-free TCP ports on 127.0.0.1 (bind to port 0, then release)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def free_port() -> int:
    return free_ports(1)[0]


# ------------------------------------------------------------------------------------- run devenv
class DevenvResult(subprocess.CompletedProcess):  # type: ignore[type-arg]
    duration: float = 0.0

    def dump(self) -> str:
        return (
            f"$ devenv {' '.join(map(str, self.args[1:]))}\n"
            f"exit={self.returncode} duration={self.duration:.1f}s\n"
            f"--- stdout ---\n{self.stdout}\n--- stderr ---\n{self.stderr}"
        )

    def json(self) -> Any:
        try:
            return json.loads(self.stdout)
        except json.JSONDecodeError as exc:
            raise AssertionError(f"stdout is not exactly one JSON document ({exc}):\n{self.dump()}") from None


def _kill_group(proc: subprocess.Popen[str], sig: int = signal.SIGKILL) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


def run_devenv(
    args: Sequence[str],
    cwd: str | Path,
    env: Mapping[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    allow_traceback: bool = False,
) -> DevenvResult:
    """Run ``devenv ARGS`` in ``cwd`` (stdin closed, captured text output, bounded time)."""
    cmd = [str(DEVENV), *map(str, args)]
    start = time.monotonic()
    proc = subprocess.Popen(
        cmd,
        cwd=str(cwd),
        env=base_env(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        out, err = proc.communicate()
        raise AssertionError(
            f"devenv {' '.join(map(str, args))} did not finish within {timeout}s\n"
            f"--- stdout ---\n{out}\n--- stderr ---\n{err}"
        ) from None
    result = DevenvResult(cmd, proc.returncode, out, err)
    result.duration = time.monotonic() - start
    if not allow_traceback:
        assert "Traceback" not in err, f"devenv printed a traceback:\n{result.dump()}"
    return result


def wait_for(predicate: Callable[[], Any], timeout: float, message: str, interval: float = 0.2) -> Any:
    """Poll ``predicate`` until it returns a truthy value (returned) or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for: {message}")
        time.sleep(interval)


def wait_for_line(proc: subprocess.Popen[str], pattern: str, timeout: float = 120) -> list[str]:
    """Read ``proc``'s stderr until a line matches ``pattern``; the lines read so far (keep them:
    ``communicate()`` returns only the rest)."""
    assert proc.stderr is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        lines.append(line)
        if re.search(pattern, line):
            return lines
    proc.kill()
    raise AssertionError(f"no line matching {pattern!r} within {timeout}s:\n{''.join(lines)}")


# -------------------------------------------------------------------------------- compose cleanup
def cleanup_project(name: str) -> None:
    """Remove everything of Compose project ``name``: containers, volumes, networks."""
    label = f"label={PROJECT_LABEL}={name}"
    with contextlib.suppress(subprocess.TimeoutExpired):
        docker("compose", "-p", name, "down", "-v", "--remove-orphans", "-t", "0", timeout=120)
    ids = docker("ps", "-aq", "--filter", label).stdout.split()
    if ids:
        docker("rm", "-f", "-v", *ids)
    vols = docker("volume", "ls", "-q", "--filter", label).stdout.split()
    if vols:
        docker("volume", "rm", "-f", *vols)
    nets = docker("network", "ls", "-q", "--filter", label).stdout.split()
    if nets:
        docker("network", "rm", *nets)
    images = docker("images", "-q", "--filter", label).stdout.split()
    if images:
        docker("rmi", "-f", *sorted(set(images)))


def unique_name(prefix: str = "dvt") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


# ------------------------------------------------------------------------------------------ stacks
@dataclass
class Stack:
    """A copy of a fixture stack in its own folder named like the (unique) project."""

    path: Path
    name: str
    env: dict[str, str] = field(default_factory=dict)
    projects: list[str] = field(default_factory=list)

    # -- running devenv / compose in the stack folder
    def devenv(
        self,
        *args: str,
        env: Mapping[str, str] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        cwd: str | Path | None = None,
    ) -> DevenvResult:
        merged = dict(self.env)
        if env:
            merged.update(env)
        return run_devenv(args, cwd or self.path, env=merged, timeout=timeout)

    def popen_devenv(self, *args: str, env: Mapping[str, str] | None = None) -> subprocess.Popen[str]:
        merged = dict(self.env)
        if env:
            merged.update(env)
        return subprocess.Popen(
            [str(DEVENV), *args],
            cwd=str(self.path),
            env=base_env(merged),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )

    def compose(
        self,
        *args: str,
        project: str | None = None,
        check: bool = True,
        timeout: float = 180,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Plain ``docker compose`` in the stack folder (compose.yml + override + .env, like a user)."""
        merged = {**self.env, **(env or {})}
        return docker(
            "compose", "-p", project or self.name, *args, cwd=self.path, env=merged, check=check, timeout=timeout
        )

    def adopt(self, project: str) -> str:
        """Register another project name for teardown."""
        if project not in self.projects:
            self.projects.append(project)
        return project

    # -- observing containers
    def container_ids(self, service: str | None = None, project: str | None = None) -> list[str]:
        filters = ["--filter", f"label={PROJECT_LABEL}={project or self.name}"]
        if service:
            filters += ["--filter", f"label={SERVICE_LABEL}={service}"]
        return docker("ps", "-aq", *filters).stdout.split()

    def inspect_all(self, project: str | None = None) -> dict[str, dict[str, Any]]:
        """service -> docker inspect document (one container per service in these stacks)."""
        ids = self.container_ids(project=project)
        if not ids:
            return {}
        docs = json.loads(docker("inspect", *ids, check=True).stdout)
        out: dict[str, dict[str, Any]] = {}
        for doc in docs:
            if doc["Config"]["Labels"].get("com.docker.compose.oneoff") == "True":
                continue
            out[doc["Config"]["Labels"][SERVICE_LABEL]] = doc
        return out

    def inspect(self, service: str, project: str | None = None) -> dict[str, Any]:
        docs = self.inspect_all(project=project)
        assert service in docs, f"no container for service {service!r}; containers: {sorted(docs)}"
        return docs[service]

    def services_present(self, project: str | None = None) -> set[str]:
        return set(self.inspect_all(project=project))

    def volumes(self, project: str | None = None) -> list[str]:
        label = f"label={PROJECT_LABEL}={project or self.name}"
        return docker("volume", "ls", "-q", "--filter", label).stdout.split()

    def port(self, var: str) -> int:
        return int(self.env[var])


def container_env(doc: Mapping[str, Any]) -> dict[str, str]:
    env: dict[str, str] = {}
    for item in doc["Config"].get("Env") or []:
        key, _, value = item.partition("=")
        env[key] = value
    return env


def published_ports(doc: Mapping[str, Any]) -> set[str]:
    """{"127.0.0.1:18000->8000/tcp", ...} from a docker inspect document."""
    out = set()
    for container_port, bindings in (doc["NetworkSettings"].get("Ports") or {}).items():
        for b in bindings or []:
            out.add(f"{b['HostIp']}:{b['HostPort']}->{container_port}")
    return out


def health_status(doc: Mapping[str, Any]) -> str | None:
    health = doc["State"].get("Health")
    return health["Status"] if health else None


def has_healthcheck(doc: Mapping[str, Any]) -> bool:
    hc = doc["Config"].get("Healthcheck")
    return bool(hc and hc.get("Test") and hc["Test"] != ["NONE"])


def healthcheck_passes(doc: Mapping[str, Any]) -> bool:
    """Run the container's own healthcheck test now (``docker exec``, as the engine runs it)."""
    test = doc["Config"]["Healthcheck"]["Test"]
    argv = test[1:] if test[0] == "CMD" else [*(doc["Config"].get("Shell") or ["/bin/sh", "-c"]), test[1]]
    return docker("exec", doc["Id"], *argv).returncode == 0


def assert_ready_now(doc: Mapping[str, Any], what: str = "") -> None:
    """What `devenv up` (or start/restart) exit 0 promises for a healthchecked container: Docker
    calls it healthy, or Docker still says `starting` and its healthcheck test passes right now
    (devenv's own check passed; `ready_by: "devenv-check"`)."""
    status = health_status(doc)
    name = what or doc.get("Name", "")
    assert status in ("healthy", "starting"), f"{name} is {status}"
    if status == "starting":
        assert healthcheck_passes(doc), f"{name}: Docker says starting and its healthcheck test fails now"


# ---------------------------------------------------------------------------- JSON contract checks
SERVICE_KEYS = {"service", "state", "health", "ready", "ready_by", "exit_code", "ports", "detail"}
STATES = {"running", "exited", "restarting", "created", "paused", "dead", "missing"}
HEALTHS = {"healthy", "unhealthy", "starting", "none"}
PORT_RE = re.compile(r"^[0-9a-fA-F.:\[\]]+:\d+->\d+/(tcp|udp|sctp)$")


def check_status_document(
    doc: Any, *, project: str | None = None, profile: str | None = None
) -> dict[str, dict[str, Any]]:
    """Validate the ``up --json`` / ``status --json`` shape; return service -> entry."""
    assert isinstance(doc, dict), doc
    assert {"project", "profile", "ok", "services", "error"} <= set(doc), f"missing keys: {doc}"
    assert isinstance(doc["project"], str)
    assert isinstance(doc["profile"], str)
    assert isinstance(doc["ok"], bool)
    assert isinstance(doc["services"], list)
    if project is not None:
        assert doc["project"] == project, doc
    if profile is not None:
        assert doc["profile"] == profile, doc
    err = doc["error"]
    assert err is None or (
        isinstance(err, dict) and isinstance(err.get("kind"), str) and isinstance(err.get("message"), str)
    ), f"bad error field: {err!r}"
    by_name: dict[str, dict[str, Any]] = {}
    for entry in doc["services"]:
        assert isinstance(entry, dict), entry
        assert set(entry) >= SERVICE_KEYS, f"service entry lacks keys {SERVICE_KEYS - set(entry)}: {entry}"
        assert isinstance(entry["service"], str)
        assert entry["state"] in STATES, entry
        assert entry["health"] in HEALTHS, entry
        assert isinstance(entry["ready"], bool), entry
        # How readiness was established: Docker's own state, or devenv's run of the healthcheck
        # test while Docker still says starting; nothing while not ready.
        assert entry["ready_by"] in ({"docker", "devenv-check"} if entry["ready"] else {None}), entry
        if entry["ready_by"] == "devenv-check":
            assert entry["health"] == "starting", entry
        assert entry["exit_code"] is None or isinstance(entry["exit_code"], int), entry
        assert isinstance(entry["ports"], list) and all(isinstance(p, str) for p in entry["ports"]), entry
        for p in entry["ports"]:
            assert PORT_RE.match(p), f"port {p!r} does not look like 127.0.0.1:18000->8000/tcp"
        assert isinstance(entry["detail"], str), entry
        if "failure" in entry and entry["failure"] is not None:
            f = entry["failure"]
            assert isinstance(f.get("reason"), str), f
            assert f.get("health_output") is None or isinstance(f["health_output"], str), f
            assert isinstance(f.get("logs"), list) and all(isinstance(x, str) for x in f["logs"]), f
            assert len(f["logs"]) <= 20, f
        assert entry["service"] not in by_name, f"service listed twice: {entry['service']}"
        by_name[entry["service"]] = entry
    return by_name


def docker_time(value: str) -> float:
    """Seconds since the epoch from a docker timestamp (RFC 3339 with up to nanoseconds)."""
    from datetime import datetime

    m = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$", value)
    assert m, f"unexpected docker timestamp {value!r}"
    base, frac, tz = m.groups()
    tz = "+00:00" if tz == "Z" else tz
    dt = datetime.fromisoformat(base + tz)
    return dt.timestamp() + (float(f"0.{frac}") if frac else 0.0)


# ------------------------------------------------------------------ shared by the database tests
def ok(res: DevenvResult) -> DevenvResult:
    assert res.returncode == 0, res.dump()
    return res


def snapshots_doc(st: Stack, *profile: str) -> dict[str, Any]:
    res = ok(st.devenv("db", "snapshots", "--json", *profile))
    doc = res.json()
    assert isinstance(doc, dict) and isinstance(doc.get("snapshots"), list), res.dump()
    return doc


def snapshot_names(st: Stack, *profile: str) -> list[str]:
    return [s["name"] for s in snapshots_doc(st, *profile)["snapshots"]]


def volume_created(name: str) -> float:
    res = docker("volume", "inspect", "--format", "{{.CreatedAt}}", name)
    assert res.returncode == 0, f"volume {name} is missing: {res.stderr}"
    return docker_time(res.stdout.strip())


def core_stack(st: Stack, monkeypatch: Any, profile: str | None = None) -> Any:
    """The core's ``Stack`` for the fixture stack (its default profile unless ``profile``), as the
    TUI holds it: the process runs in the stack's folder with its port variables set."""
    from devenv.config import load_project
    from devenv.core.stack import Stack as CoreStack

    monkeypatch.chdir(st.path)
    for key, value in st.env.items():
        monkeypatch.setenv(key, value)
    project = load_project(st.path)
    return CoreStack(project, project.resolve_profile(profile))
