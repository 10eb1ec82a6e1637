"""`devenv up` failure modes: each with its exit code, its diagnostics, and fail-fast timing."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys

import pytest
from devenv_testlib import check_status_document, wait_for, wait_for_line

# Every failing `up` below runs with --timeout 120 and must give up far sooner than that.
FAIL_FAST = 30.0


def low(text: str) -> str:
    return text.lower()


def assert_fails_fast(res) -> None:
    assert res.returncode == 1, res.dump()
    assert res.duration < FAIL_FAST, f"failure took {res.duration:.1f}s (timeout was 120s):\n{res.dump()}"


# ------------------------------------------------------------------------------ exit codes != 0
def test_crash_exit_code_and_logs(stack):
    st = stack("crash")
    res = st.devenv("up", "--timeout", "120")
    assert_fails_fast(res)
    err = res.stderr
    assert "app" in err, res.dump()
    assert "exited with code 3" in low(err), res.dump()
    assert "exited" in low(err), res.dump()
    # The lines the service printed (stdout and stderr) are shown.
    assert "crash-marker: starting up" in err, res.dump()
    assert "crash-marker: fatal: cannot open config" in err, res.dump()


def test_crash_json_document(stack):
    st = stack("crash")
    res = st.devenv("up", "--json", "--timeout", "120")
    assert_fails_fast(res)
    doc = res.json()
    services = check_status_document(doc, project=st.name)
    assert doc["ok"] is False, res.dump()
    app = services["app"]
    assert app["state"] == "exited", app
    assert app["exit_code"] == 3, app
    assert app["ready"] is False, app
    failure = app.get("failure")
    assert failure, f"failed service has no failure object: {app}"
    assert "exited with code 3" in low(failure["reason"]), failure
    assert failure["health_output"] is None, failure
    assert any("crash-marker: starting up" in line for line in failure["logs"]), failure
    assert any("crash-marker: fatal: cannot open config" in line for line in failure["logs"]), failure
    # Diagnostics also go to stderr, and stdout holds nothing but the JSON document.
    assert "exited with code 3" in low(res.stderr), res.dump()


def test_unhealthy_service_reports_health_output_and_logs(stack):
    st = stack("unhealthy")
    res = st.devenv("up", "--timeout", "120")
    assert_fails_fast(res)
    err = res.stderr
    assert "sick" in err, res.dump()
    assert "unhealthy" in low(err), res.dump()
    assert "running" in low(err), f"state of the unhealthy service not shown:\n{res.dump()}"
    assert "sick-probe-output: connection refused" in err, res.dump()  # last healthcheck output
    assert "sick-marker: still alive" in err, res.dump()  # last log lines


def test_unhealthy_json_document(stack):
    st = stack("unhealthy")
    res = st.devenv("up", "--json", "--timeout", "120")
    assert_fails_fast(res)
    doc = res.json()
    services = check_status_document(doc, project=st.name)
    assert doc["ok"] is False
    sick = services["sick"]
    assert sick["health"] == "unhealthy", sick
    assert sick["ready"] is False, sick
    failure = sick.get("failure")
    assert failure, sick
    assert "unhealthy" in low(failure["reason"]), failure
    assert failure["health_output"] and "sick-probe-output" in failure["health_output"], failure
    assert any("sick-marker: still alive" in line for line in failure["logs"]), failure
    assert services["app"]["ready"] is False, services["app"]


def test_failing_one_shot_dependency(stack):
    """migrate (service_completed_successfully for api) exits 4: compose's own up fails too."""
    st = stack("healthy", env={"MIGRATE_EXIT": "4"})
    res = st.devenv("up", "--timeout", "120")
    assert_fails_fast(res)
    err = res.stderr
    assert "migrate" in err, res.dump()
    assert "exited with code 4" in low(err), res.dump()
    assert "migrate-marker: done" in err, res.dump()
    api = st.inspect_all().get("api")
    assert api is None or api["State"]["Status"] == "created", "api must not start after migrate failed"


def test_crash_loop_without_healthcheck_is_a_failure(stack):
    """`restart: always` + immediate exit: `docker compose up --wait` calls this healthy; devenv must not."""
    st = stack("crashloop")
    res = st.devenv("up", "--timeout", "120")
    assert_fails_fast(res)
    err = res.stderr
    assert "loopy" in err, res.dump()
    assert "restart loop" in low(err), res.dump()
    assert "loop-marker: boot attempt" in err, res.dump()


def test_crash_loop_json_document(stack):
    st = stack("crashloop")
    res = st.devenv("up", "--json", "--timeout", "120")
    assert_fails_fast(res)
    doc = res.json()
    services = check_status_document(doc, project=st.name)
    assert doc["ok"] is False
    loopy = services["loopy"]
    assert loopy["ready"] is False, loopy
    assert loopy["failure"] and "restart loop" in low(loopy["failure"]["reason"]), loopy
    assert any("loop-marker: boot attempt" in line for line in loopy["failure"]["logs"]), loopy


def test_crash_loop_with_failing_healthcheck(stack):
    st = stack("crashloop_hc")
    res = st.devenv("up", "--timeout", "120")
    assert_fails_fast(res)
    err = low(res.stderr)
    assert "loopyhc" in err, res.dump()
    assert "restart loop" in err or "exited with code 1" in err, res.dump()
    assert "loophc-marker: giving up" in res.stderr, res.dump()


# ------------------------------------------------------------------------------------ port taken
@pytest.fixture()
def port_holder():
    """A host process listening on a free 127.0.0.1 port: yields (port, pid)."""
    procs: list[subprocess.Popen[str]] = []

    def start(port: int) -> subprocess.Popen[str]:
        code = (
            "import socket, sys, time\n"
            "s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)\n"
            f"s.bind(('127.0.0.1', {port}))\n"
            "s.listen(16)\n"
            "print('listening', flush=True)\n"
            "time.sleep(600)\n"
        )
        proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        procs.append(proc)
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "listening"
        return proc

    yield start
    for proc in procs:
        proc.kill()
        proc.wait(timeout=10)


def test_port_taken_by_host_process(stack, port_holder):
    st = stack("ports")
    port = st.port("PORT")
    holder = port_holder(port)
    res = st.devenv("up", "--timeout", "120")
    assert_fails_fast(res)
    err = res.stderr
    assert str(port) in err, res.dump()
    assert "already in use" in low(err), res.dump()
    assert re.search(rf"\b{holder.pid}\b", err), f"pid {holder.pid} of the holder not named:\n{res.dump()}"
    assert "web" in err, res.dump()


def test_port_taken_by_another_container(stack):
    holder = stack("ports")
    holder.compose("up", "-d")
    port = holder.port("PORT")
    st = stack("ports", env={"PORT": str(port)})
    res = st.devenv("up", "--timeout", "120")
    assert_fails_fast(res)
    assert str(port) in res.stderr, res.dump()
    assert "already in use" in low(res.stderr), res.dump()
    # The other project's container is untouched.
    assert holder.inspect("web")["State"]["Status"] == "running"


def test_port_taken_json_document(stack, port_holder):
    st = stack("ports")
    port = st.port("PORT")
    port_holder(port)
    res = st.devenv("up", "--json", "--timeout", "120")
    assert_fails_fast(res)
    doc = res.json()
    check_status_document(doc, project=st.name)
    assert doc["ok"] is False
    text = low(res.stdout)
    assert str(port) in text and "already in use" in text, res.dump()


# --------------------------------------------------------------------------------------- images
def test_image_that_cannot_be_pulled_is_named_with_the_cause(stack):
    st = stack("images")
    res = st.devenv("up", "pull", "--timeout", "120")
    assert_fails_fast(res)
    err = res.stderr
    message = [line for line in err.splitlines() if line.startswith("devenv: error:")]
    assert message, res.dump()
    assert "could not pull the image of pull (127.0.0.1:1/devenv-test/never-built:1)" in low(message[0]), res.dump()
    assert "registry cannot be reached" in low(message[0]), res.dump()
    assert "connection refused" in low(message[0]), res.dump()
    assert "docker images" in err and "docker login" in err, res.dump()
    assert "Traceback" not in err, res.dump()
    assert st.container_ids("pull") == []


def test_image_pull_failure_json_document(stack):
    st = stack("images")
    res = st.devenv("up", "pull", "--json", "--timeout", "120")
    assert_fails_fast(res)
    doc = res.json()
    assert doc["ok"] is False and doc["exit_code"] == 1, doc
    assert "could not pull the image of pull" in low(doc["error"]["message"]), doc
    assert "docker login" in doc["error"]["hint"], doc


def test_failing_build_reports_the_builder_conclusion_once(stack):
    st = stack("images")
    res = st.devenv("up", "broken", "--build", "--timeout", "120", timeout=300)
    assert_fails_fast(res)
    err = res.stderr
    # The build output streams once, including the failing step's own output ...
    assert err.count("broken-build-marker: about to fail") >= 1, res.dump()
    message = [line for line in err.splitlines() if line.startswith("devenv: error:")]
    assert len(message) == 1, res.dump()
    # ... and the error paragraph gives the builder's conclusion (exit code 7), not the log again.
    assert "failed during create" in message[0] and "exit code: 7" in message[0], res.dump()
    assert "load .dockerignore" not in err.split("devenv: error:")[1], res.dump()
    assert "full output is above" in message[0], res.dump()


# --------------------------------------------------------------------------------------- timeouts
def test_timeout_exit_124_names_services_not_ready(stack):
    st = stack("slow")
    res = st.devenv("up", "--timeout", "6")
    assert res.returncode == 124, res.dump()
    assert "timed out" in low(res.stderr), res.dump()
    # The report (from the first "timed out" on, i.e. not the progress lines) names the service.
    report = res.stderr[low(res.stderr).index("timed out") :]
    assert "slow" in report, res.dump()
    assert 5.5 <= res.duration <= 6 + 25, res.dump()


def test_timeout_names_the_dependency_that_never_gets_healthy(stack):
    st = stack("blocked")
    res = st.devenv("up", "--timeout", "8")
    assert res.returncode == 124, res.dump()
    err = res.stderr
    assert "timed out" in low(err), res.dump()
    report = err[low(err).index("timed out") :]
    assert re.search(r"\bapp\b", report), res.dump()
    assert re.search(r"\bdep\b", report), res.dump()
    assert 7.5 <= res.duration <= 8 + 25, res.dump()


def test_timeout_json_document(stack):
    st = stack("slow")
    res = st.devenv("up", "--json", "--timeout", "5")
    assert res.returncode == 124, res.dump()
    doc = res.json()
    services = check_status_document(doc, project=st.name)
    assert doc["ok"] is False
    assert services["slow"]["ready"] is False, services["slow"]
    assert services["slow"]["health"] == "starting", services["slow"]
    assert services["quick"]["ready"] is True, services["quick"]


def test_readiness_timeout_from_devenv_toml(stack):
    st = stack("slow")
    (st.path / "devenv.toml").write_text(
        f'[project]\nname = "{st.name}"\ncompose_files = ["compose.yml"]\n\n[readiness]\ntimeout = 5\n'
    )
    res = st.devenv("up")
    assert res.returncode == 124, res.dump()
    assert "timed out" in low(res.stderr), res.dump()
    assert res.duration <= 5 + 25, res.dump()


# ----------------------------------------------------------------------------------------- SIGINT
def test_sigint_while_waiting_exits_130(stack):
    st = stack("slow")
    proc = st.popen_devenv("up", "--timeout", "120")
    try:

        def slow_running() -> bool:
            docs = st.inspect_all()
            return "slow" in docs and docs["slow"]["State"]["Status"] == "running"

        wait_for(slow_running, 60, "the slow service's container to be running")
        head = wait_for_line(proc, r"… slow\s+running")  # devenv's wait loop reports it
        # Ctrl-C in a terminal signals the whole foreground process group.
        os.killpg(proc.pid, signal.SIGINT)
        out, rest = proc.communicate(timeout=30)
        err = "".join(head) + rest
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert "Traceback" not in err, err
    assert proc.returncode == 130, f"exit {proc.returncode}\n--- stdout ---\n{out}\n--- stderr ---\n{err}"
    match = re.search(r"stop\w*\s+waiting", err, re.I)
    assert match, f"stderr does not say it stopped waiting:\n{err}"
    assert "slow" in err[match.start() :], f"the service that is not ready is not named:\n{err}"


# ---------------------------------------------------------------------------------------- SIGTERM
def _compose_children(project: str) -> list[str]:
    """Command lines of `docker compose` processes still working on ``project``."""
    out = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines() if "compose" in line and f"-p {project}" in line]


def test_sigterm_while_waiting_is_handled_like_ctrl_c(stack):
    st = stack("slow")
    proc = st.popen_devenv("up", "--json", "--timeout", "120")
    try:

        def slow_running() -> bool:
            docs = st.inspect_all()
            return "slow" in docs and docs["slow"]["State"]["Status"] == "running"

        wait_for(slow_running, 60, "the slow service's container to be running")
        head = wait_for_line(proc, r"… slow\s+running")  # devenv's wait loop reports it
        os.kill(proc.pid, signal.SIGTERM)  # a supervisor or `timeout`: the process alone, not its group
        out, rest = proc.communicate(timeout=30)
        err = "".join(head) + rest
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert "Traceback" not in err, err
    assert proc.returncode == 143, f"exit {proc.returncode}\n--- stdout ---\n{out}\n--- stderr ---\n{err}"
    doc = json.loads(out)
    assert doc["outcome"] == "interrupted" and doc["ok"] is False, doc
    assert {s["service"] for s in doc["services"]} >= {"quick", "slow"}, doc
    assert _compose_children(st.name) == []


def test_sigterm_during_a_build_stops_the_compose_child(stack):
    st = stack("build")
    dockerfile = st.path / "Dockerfile"
    # A build step that takes long enough to be interrupted (unique per run: never cached).
    dockerfile.write_text(dockerfile.read_text() + f"RUN echo {st.name} && sleep 60\n")
    proc = st.popen_devenv("up", "--build", "--json", "--timeout", "120")
    try:
        wait_for(lambda: _compose_children(st.name), 30, "docker compose to run the build")
        head = wait_for_line(proc, rf"echo {st.name} && sleep 60")  # the build reached the long step
        os.kill(proc.pid, signal.SIGTERM)
        out, rest = proc.communicate(timeout=30)
        err = "".join(head) + rest
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert "Traceback" not in err, err
    assert proc.returncode == 143, f"exit {proc.returncode}\n--- stdout ---\n{out}\n--- stderr ---\n{err}"
    doc = json.loads(out)
    assert doc["ok"] is False and doc["exit_code"] == 143, doc
    wait_for(lambda: _compose_children(st.name) == [], 10, "the compose child to end")
