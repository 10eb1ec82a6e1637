"""`devenv status`, `devenv logs` (incl. --follow across a restart) and `devenv down`."""

from __future__ import annotations

import os
import queue
import re
import signal
import threading
import time

import pytest
from devenv_testlib import check_status_document, docker, wait_for


# ----------------------------------------------------------------------------------------- status
def test_status_json_after_up(stack):
    st = stack("healthy")
    assert st.devenv("up", "--timeout", "120").returncode == 0
    res = st.devenv("status", "--json")
    assert res.returncode == 0, res.dump()
    doc = res.json()
    services = check_status_document(doc, project=st.name, profile="default")
    assert doc["ok"] is True, res.dump()
    assert doc["error"] is None
    assert set(services) == {"db", "migrate", "api", "worker", "extra"}
    assert services["db"]["health"] in ("healthy", "starting") and services["db"]["ready"] is True
    assert services["api"]["ports"] == [f"127.0.0.1:{st.port('API_PORT')}->8000/tcp"], services["api"]
    assert services["worker"]["health"] == "none" and services["worker"]["state"] == "running"
    mig = services["migrate"]
    assert (mig["state"], mig["exit_code"], mig["ready"], mig["detail"]) == ("exited", 0, True, "completed"), mig


def test_status_human_output(stack):
    st = stack("healthy")
    assert st.devenv("up", "api", "--timeout", "120").returncode == 0
    res = st.devenv("status")
    assert res.returncode == 0, res.dump()  # status exits 0 whatever the services' states
    lines = res.stdout.splitlines()
    for service in ("db", "migrate", "api", "worker", "extra"):
        assert any(re.search(rf"\b{service}\b", line) for line in lines), res.dump()
    worker_line = next(line for line in lines if re.search(r"\bworker\b", line))
    assert "missing" in worker_line, res.dump()
    api_line = next(line for line in lines if re.search(r"\bapi\b", line))
    # Ready: by Docker's flag, or (Docker still says starting) by devenv's run of its healthcheck test.
    assert "healthy" in api_line or "healthcheck passed (devenv check)" in api_line, res.dump()
    assert str(st.port("API_PORT")) in api_line, res.dump()


def test_status_before_anything_is_created(stack):
    st = stack("healthy")
    res = st.devenv("status", "--json")
    assert res.returncode == 0, res.dump()  # status exits 0 whatever the services' states
    doc = res.json()
    services = check_status_document(doc, project=st.name)
    assert doc["ok"] is False
    assert set(services) == {"db", "migrate", "api", "worker", "extra"}
    for entry in services.values():
        assert entry["state"] == "missing", entry
        assert entry["ready"] is False, entry
        assert entry["exit_code"] is None and entry["ports"] == [], entry


def test_status_reports_a_crashed_service(stack):
    st = stack("crash")
    assert st.devenv("up", "--timeout", "60").returncode == 1
    res = st.devenv("status", "--json")
    services = check_status_document(res.json(), project=st.name)
    assert services["app"]["state"] == "exited" and services["app"]["exit_code"] == 3, services["app"]
    assert services["app"]["ready"] is False
    assert res.json()["ok"] is False


# ------------------------------------------------------------------------------------------- logs
def test_logs_prints_selected_services_with_prefixes(stack):
    st = stack("healthy")
    assert st.devenv("up", "--timeout", "120").returncode == 0
    res = st.devenv("logs", "api", "migrate")
    assert res.returncode == 0, res.dump()
    lines = res.stdout.splitlines()
    api_lines = [line for line in lines if "api-marker: listening" in line]
    migrate_lines = [line for line in lines if "migrate-marker: done" in line]
    assert api_lines and migrate_lines, res.dump()
    # Each line carries its service as a prefix (before the message).
    assert all(re.search(r"\bapi\b", line.split("api-marker")[0]) for line in api_lines), res.dump()
    assert all(re.search(r"\bmigrate\b", line.split("migrate-marker")[0]) for line in migrate_lines), res.dump()
    # Services that were not selected are not shown.
    assert "worker-tick" not in res.stdout and "db-marker" not in res.stdout, res.dump()


def test_logs_all_services_by_default(stack):
    st = stack("healthy")
    assert st.devenv("up", "--timeout", "120").returncode == 0
    res = st.devenv("logs")
    assert res.returncode == 0, res.dump()
    for marker in ("db-marker: ready", "migrate-marker: done", "api-marker: listening", "worker-tick", "extra-marker"):
        assert marker in res.stdout, res.dump()


def test_logs_tail(stack):
    st = stack("healthy")
    assert st.devenv("up", "worker", "--timeout", "120").returncode == 0
    wait_for(lambda: "worker-tick 5" in docker("logs", st.container_ids("worker")[0]).stdout, 30, "5 worker ticks")
    res = st.devenv("logs", "worker", "--tail", "2")
    assert res.returncode == 0, res.dump()
    ticks = [line for line in res.stdout.splitlines() if "worker-tick" in line]
    assert len(ticks) == 2, res.dump()  # the last two lines are ticks: there were 5 already
    assert "worker-boot" not in res.stdout, res.dump()


def _reader(stream, q: queue.Queue) -> None:
    for line in iter(stream.readline, ""):
        q.put(line)
    q.put(None)


def test_logs_follow_survives_container_restart(stack):
    st = stack("healthy")
    assert st.devenv("up", "worker", "--timeout", "120").returncode == 0
    proc = st.popen_devenv("logs", "--follow", "worker")
    q: queue.Queue = queue.Queue()
    seen: list[str] = []
    threading.Thread(target=_reader, args=(proc.stdout, q), daemon=True).start()

    def saw(predicate, timeout: float, what: str, start: int = 0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(predicate(line) for line in seen[start:]):
                return
            try:
                line = q.get(timeout=0.5)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError(f"logs --follow ended (exit {proc.poll()}) before {what}:\n{''.join(seen)}")
            seen.append(line)
        raise AssertionError(f"no {what} within {timeout}s; got:\n{''.join(seen[-40:])}")

    try:
        saw(lambda line: "worker-boot" in line, 30, "first boot line")
        saw(lambda line: "worker-tick" in line, 30, "tick line")
        first_boot = next(line for line in seen if "worker-boot" in line).split("worker-boot", 1)[1].strip()
        cid = st.container_ids("worker")[0]
        docker("restart", "-t", "0", cid, check=True)
        # The restarted container prints a new boot line (new uuid) and keeps ticking.
        saw(lambda line: "worker-boot" in line and first_boot not in line, 30, "boot line after the restart")
        second_boot = next(i for i, line in enumerate(seen) if "worker-boot" in line and first_boot not in line)
        saw(lambda line: "worker-tick" in line, 30, "tick line after the restart", start=second_boot + 1)
        assert proc.poll() is None, "logs --follow exited after the restart"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except Exception:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        err = proc.stderr.read() if proc.stderr else ""
    assert "Traceback" not in err, err


def test_logs_unknown_service(stack):
    st = stack("healthy")
    res = st.devenv("logs", "nosuchservice")
    assert res.returncode == 2, res.dump()
    assert "nosuchservice" in res.stderr, res.dump()


# ------------------------------------------------------------------------------------------- down
def test_down_keeps_volumes_and_down_volumes_removes_them(stack):
    st = stack("healthy")
    assert st.devenv("up", "--timeout", "120").returncode == 0
    assert st.volumes(), "the db volume was not created"
    res = st.devenv("down")
    assert res.returncode == 0, res.dump()
    assert st.container_ids() == [], res.dump()
    assert st.volumes(), f"plain down removed the volumes:\n{res.dump()}"
    status = st.devenv("status", "--json")
    assert all(s["state"] == "missing" for s in check_status_document(status.json()).values()), status.dump()

    assert st.devenv("up", "db", "--timeout", "60").returncode == 0
    res = st.devenv("down", "--volumes")
    assert res.returncode == 0, res.dump()
    assert st.container_ids() == [] and st.volumes() == [], res.dump()


@pytest.fixture()
def prod_up(stack):
    st = stack("zeroconf")
    res = st.devenv("up", "--profile", "prod", "--timeout", "60")
    assert res.returncode == 0, res.dump()
    assert st.container_ids() and st.volumes()
    return st


@pytest.mark.parametrize(
    "extra",
    [
        [],
        ["--yes"],
        ["--confirm-profile", "prod"],
        ["--yes", "--confirm-profile", "dev"],
    ],
    ids=["no-confirmation", "yes-only", "confirm-only", "wrong-profile-name"],
)
def test_down_volumes_on_protected_profile_requires_confirmation(prod_up, extra):
    st = prod_up
    before_containers, before_volumes = sorted(st.container_ids()), sorted(st.volumes())
    res = st.devenv("down", "--profile", "prod", "--volumes", *extra)
    assert res.returncode == 2, res.dump()
    assert "prod" in res.stderr, res.dump()
    assert sorted(st.container_ids()) == before_containers, res.dump()
    assert sorted(st.volumes()) == before_volumes, res.dump()
    assert st.inspect("web")["State"]["Status"] == "running", res.dump()


def test_down_volumes_on_protected_profile_with_confirmation(prod_up):
    st = prod_up
    res = st.devenv("down", "--profile", "prod", "--volumes", "--yes", "--confirm-profile", "prod")
    assert res.returncode == 0, res.dump()
    assert st.container_ids() == [] and st.volumes() == [], res.dump()


def test_down_volumes_on_unprotected_profile_needs_no_confirmation(stack):
    st = stack("zeroconf")
    assert st.devenv("up", "--profile", "dev", "--timeout", "60").returncode == 0
    res = st.devenv("down", "--profile", "dev", "--volumes")
    assert res.returncode == 0, res.dump()
    assert st.container_ids() == [] and st.volumes() == [], res.dump()
