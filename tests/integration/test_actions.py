"""Per-service actions on the real engine: start, stop, restart, recreate, rebuild, `up SERVICE --build`.

Fixture: tests/integration/stacks/actions (db healthy ~3 s after each start; api depends on db;
follower depends on db with `restart: true`; flaky fails at every start after its first; stubborn
ignores SIGTERM; extra is independent). Where Compose has the verb, the same selection of
containers is checked against plain `docker compose`.
"""

from __future__ import annotations

import time
from typing import Any

from devenv_testlib import assert_ready_now, check_status_document, container_env, core_stack, docker, docker_time

EVERYTHING = {"db", "api", "follower", "flaky", "stubborn", "extra"}


def snapshot(st: Any) -> dict[str, tuple[str, str]]:
    """service -> (container id, StartedAt)."""
    return {s: (d["Id"], d["State"]["StartedAt"]) for s, d in st.inspect_all().items()}


def ready_at(doc: dict[str, Any]) -> float:
    """When db's healthcheck test could first pass in its current start: /tmp/ready's mtime."""
    out = docker("exec", doc["Id"], "date", "-r", "/tmp/ready", "+%s.%N", check=True).stdout
    return float(out.strip())


def up_all(st: Any) -> dict[str, tuple[str, str]]:
    res = st.devenv("up", "--timeout", "120")
    assert res.returncode == 0, res.dump()
    return snapshot(st)


def assert_untouched(before: dict[str, tuple[str, str]], after: dict[str, tuple[str, str]], services: set[str]) -> None:
    for s in services:
        assert after[s] == before[s], f"{s} was touched: {before[s]} -> {after[s]}"


def test_stop_start_restart_one_service_leaves_the_others_alone(stack):
    st = stack("actions")
    before = up_all(st)
    others = EVERYTHING - {"api"}

    res = st.devenv("stop", "api")
    assert res.returncode == 0, res.dump()
    docs = st.inspect_all()
    assert docs["api"]["State"]["Status"] == "exited", res.dump()
    assert all(docs[s]["State"]["Status"] == "running" for s in others - {"flaky"}), res.dump()
    assert_untouched(before, snapshot(st), others)

    res = st.devenv("start", "api", "--json")
    assert res.returncode == 0, res.dump()
    doc = res.json()
    assert doc["action"] == "start" and doc["outcome"] == "ready", res.dump()
    api = st.inspect("api")
    assert api["State"]["Status"] == "running", res.dump()
    assert_ready_now(api, "api")
    assert api["Id"] == before["api"][0]  # the same container, started again
    assert_untouched(before, snapshot(st), others)

    started = st.inspect("api")["State"]["StartedAt"]
    res = st.devenv("restart", "api")
    assert res.returncode == 0, res.dump()
    api = st.inspect("api")
    assert api["Id"] == before["api"][0]
    assert docker_time(api["State"]["StartedAt"]) > docker_time(started), res.dump()
    assert_ready_now(api, "api")
    assert_untouched(before, snapshot(st), others)


def test_start_starts_stopped_dependencies_like_compose_start(stack):
    st = stack("actions")
    before = up_all(st)
    assert st.devenv("stop", "db", "api").returncode == 0
    assert {s: d["State"]["Status"] for s, d in st.inspect_all().items() if s in ("db", "api")} == {
        "db": "exited",
        "api": "exited",
    }
    # follower depends on db but is not stopped with it (Compose's stop does not follow dependents).
    assert st.inspect("follower")["State"]["Status"] == "running"

    res = st.devenv("start", "api")
    assert res.returncode == 0, res.dump()
    docs = st.inspect_all()
    assert_ready_now(docs["db"], "db")
    assert_ready_now(docs["api"], "api")
    # api started only once db's healthcheck passed (depends_on: service_healthy).
    assert docker_time(docs["api"]["State"]["StartedAt"]) >= ready_at(docs["db"]), res.dump()
    assert_untouched(before, snapshot(st), {"follower", "flaky", "stubborn", "extra"})

    # Plain Compose does the same: `docker compose start api` starts the stopped db too.
    assert st.devenv("stop", "db", "api").returncode == 0
    st.compose("start", "api")
    assert st.inspect("db")["State"]["Status"] == "running"


def test_restart_returns_only_once_the_healthcheck_passed(stack):
    st = stack("actions")
    before = up_all(st)
    res = st.devenv("restart", "db", "--json")
    assert res.returncode == 0, res.dump()
    db = st.inspect("db")  # at once: devenv must not have returned before db's healthcheck passed
    assert_ready_now(db, "db")
    # db's healthcheck can pass only 3 s after it started.
    assert res.duration >= 3.0, res.dump()
    assert ready_at(db) - docker_time(db["State"]["StartedAt"]) >= 2.5, db["State"]
    services = check_status_document(res.json(), project=st.name)
    assert services["db"]["ready"] is True and services["db"]["health"] in ("healthy", "starting"), res.dump()

    # As with Compose: follower (depends_on db, restart: true) was restarted, api (no restart:
    # true) was not, nor anything else.
    after = snapshot(st)
    assert set(services) == {"db", "follower"}, res.dump()
    assert after["follower"][1] != before["follower"][1], res.dump()
    assert_untouched(before, after, {"api", "flaky", "stubborn", "extra"})

    st.compose("restart", "db")
    compose_after = snapshot(st)
    changed = {s for s in EVERYTHING if compose_after[s][1] != after[s][1]}
    assert changed == {"db", "follower"}, f"docker compose restart db restarted {changed}"

    # --no-deps: only db.
    res = st.devenv("restart", "db", "--no-deps")
    assert res.returncode == 0, res.dump()
    assert_untouched(compose_after, snapshot(st), EVERYTHING - {"db"})


def test_restart_failure_has_the_diagnostics_of_up(stack):
    st = stack("actions")
    up_all(st)
    res = st.devenv("restart", "flaky", "--json", "--wait-timeout", "120")
    assert res.returncode == 1, res.dump()
    assert res.duration < 30, res.dump()
    doc = res.json()
    assert doc["outcome"] == "failed", res.dump()
    flaky = check_status_document(doc, project=st.name)["flaky"]
    assert flaky["state"] == "exited" and flaky["exit_code"] == 3, flaky
    failure = flaky["failure"]
    assert failure["reason"] == "exited with code 3", failure
    assert any("flaky-marker: second start, state is gone" in line for line in failure["logs"]), failure
    assert "✘ flaky: exited with code 3" in res.stderr, res.dump()
    assert "flaky-marker: giving up" in res.stderr, res.dump()

    # `up flaky` meets the same failure (the container is started again) and reports it alike.
    again = st.devenv("up", "flaky", "--json", "--timeout", "120")
    assert again.returncode == 1, again.dump()
    up_failure = check_status_document(again.json(), project=st.name)["flaky"]["failure"]
    assert {k: up_failure[k] for k in ("reason", "health_output", "blocked_on")} == {
        k: failure[k] for k in ("reason", "health_output", "blocked_on")
    }
    assert set(failure["logs"]) <= set(up_failure["logs"]), (failure, up_failure)


def test_start_reports_the_dependency_it_is_blocked_on(stack):
    st = stack("blocked")
    res = st.devenv("up", "--timeout", "2")
    assert res.returncode == 124, res.dump()
    res = st.devenv("start", "app", "--json", "--wait-timeout", "2")
    assert res.returncode == 124, res.dump()
    app = check_status_document(res.json(), project=st.name)["app"]
    assert app["failure"]["blocked_on"] == ["dep"], app
    assert "never started, waiting for dep (healthy)" in app["failure"]["reason"], app
    assert "blocked on: dep" in res.stderr, res.dump()


def test_stop_timeout_kills_a_container_that_ignores_sigterm(stack, monkeypatch):
    st = stack("actions")
    before = up_all(st)
    t0 = time.monotonic()
    res = st.devenv("stop", "-t", "1", "stubborn", "--json")
    took = time.monotonic() - t0
    assert res.returncode == 0, res.dump()
    stubborn = st.inspect("stubborn")
    assert stubborn["State"]["Status"] == "exited" and stubborn["State"]["ExitCode"] == 137, stubborn["State"]
    assert 1.0 <= took < 8.0, res.dump()  # waited the 1 s, not the default 10 s
    services = check_status_document(res.json(), project=st.name)
    assert set(services) == {"stubborn"} and services["stubborn"]["exit_code"] == 137, res.dump()
    assert_untouched(before, snapshot(st), EVERYTHING - {"stubborn"})

    # docker compose stop -t 1 ends it the same way.
    st.compose("start", "stubborn")
    st.compose("stop", "-t", "1", "stubborn")
    assert st.inspect("stubborn")["State"]["ExitCode"] == 137

    # A cancel token (the TUI's escape) ends the wait at once; the engine goes on with the stop it was sent.
    import threading

    from devenv.core.actions import stop
    from devenv.core.cancel import CancelToken

    st.compose("start", "stubborn")
    core = core_stack(st, monkeypatch)
    token = CancelToken()
    result: list[Any] = []
    worker = threading.Thread(target=lambda: result.append(stop(core, ["stubborn"], timeout=30, cancel=token)))
    worker.start()
    time.sleep(1.5)  # the stop call is in the engine, which waits up to 30 s for SIGTERM to work
    t0 = time.monotonic()
    token.cancel()
    worker.join(10)
    assert not worker.is_alive() and time.monotonic() - t0 < 3.0
    assert result[0].outcome == "interrupted" and not result[0].ok, result
    assert st.inspect("stubborn")["State"]["Running"]  # still in its 30 s grace: nothing was forced
    docker("kill", st.inspect("stubborn")["Id"], check=False)


def test_recreate_picks_up_a_changed_environment(stack):
    st = stack("actions")
    before = up_all(st)
    assert container_env(st.inspect("api"))["GREETING"] == "hello-one"
    compose = st.path / "compose.yml"
    compose.write_text(compose.read_text().replace("GREETING: hello-one", "GREETING: hello-two"))

    res = st.devenv("recreate", "api", "--json")
    assert res.returncode == 0, res.dump()
    api = st.inspect("api")
    assert api["Id"] != before["api"][0], res.dump()
    assert container_env(api)["GREETING"] == "hello-two"
    assert_ready_now(api, "api")
    assert res.json()["action"] == "recreate"
    assert_untouched(before, snapshot(st), EVERYTHING - {"api"})  # --no-deps: db too

    # `up api --force-recreate --no-deps` is the same thing, with Compose's flags.
    res = st.devenv("up", "api", "--force-recreate", "--no-deps")
    assert res.returncode == 0, res.dump()
    assert st.inspect("api")["Id"] != api["Id"]
    assert_untouched(before, snapshot(st), EVERYTHING - {"api"})


def test_rebuild_picks_up_a_changed_dockerfile(stack):
    st = stack("build")

    def marker() -> str:
        return docker("exec", st.container_ids("app")[0], "cat", "/built-marker", check=True).stdout.strip()

    res = st.devenv("up", "--timeout", "120", env={"BUILD_MARKER": "one"}, timeout=300)
    assert res.returncode == 0, res.dump()
    first = st.container_ids("app")
    assert marker() == "one"
    dockerfile = st.path / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text().replace('echo "$BUILD_MARKER"', 'echo "changed-$BUILD_MARKER"'))

    res = st.devenv("rebuild", "app", env={"BUILD_MARKER": "one"}, timeout=300)
    assert res.returncode == 0, res.dump()
    assert st.container_ids("app") != first, res.dump()
    assert marker() == "changed-one", res.dump()
    assert_ready_now(st.inspect("app"), "app")


def test_up_service_build_builds_only_it_and_its_dependencies(stack):
    st = stack("build_deps")

    def markers() -> dict[str, str]:
        return {
            s: docker("exec", st.container_ids(s)[0], "cat", "/built-marker", check=True).stdout.strip()
            for s in ("lib", "app", "other")
        }

    res = st.devenv("up", "--timeout", "120", env={"BUILD_MARKER": "one"}, timeout=300)
    assert res.returncode == 0, res.dump()
    assert markers() == {"lib": "one", "app": "one", "other": "one"}
    other = st.container_ids("other")
    res = st.devenv("up", "app", "--build", "--timeout", "120", env={"BUILD_MARKER": "two"}, timeout=300)
    assert res.returncode == 0, res.dump()
    # As `docker compose up --build app`: app and its dependency lib rebuilt, other untouched.
    assert markers() == {"lib": "two", "app": "two", "other": "one"}, res.dump()
    assert st.container_ids("other") == other


def test_actions_on_an_unknown_service_are_usage_errors(stack):
    st = stack("actions")
    for verb in ("start", "stop", "restart", "recreate", "rebuild"):
        res = st.devenv(verb, "flakey")
        assert res.returncode == 2, res.dump()
        assert 'Unknown service "flakey". Did you mean "flaky"?' in res.stderr, res.dump()
    assert st.services_present() == set()


def test_start_of_a_service_without_container_points_to_up(stack):
    st = stack("actions")
    res = st.devenv("start", "api", "--json")
    assert res.returncode == 1, res.dump()
    doc = res.json()
    assert doc["ok"] is False and doc["outcome"] == "error", res.dump()
    assert "no container for db, api" in doc["error"]["message"], res.dump()
    assert "devenv up api" in doc["error"]["hint"], res.dump()
    assert st.services_present() == set()


def test_a_cancel_token_ends_restart_and_rebuild_while_a_stop_hangs(stack, monkeypatch):
    """The TUI's escape on `r` / `b` of a service that ignores SIGTERM: both return at once, the
    engine goes on with the stop it was sent (nothing forced, nothing started again)."""
    import threading

    from devenv.core.actions import rebuild, restart
    from devenv.core.cancel import CancelToken

    st = stack("actions")
    up_all(st)
    core = core_stack(st, monkeypatch)
    for action in (restart, rebuild):
        before = st.inspect("stubborn")
        token = CancelToken()
        outcome: list[Any] = []

        def run(action: Any = action, token: CancelToken = token, outcome: list[Any] = outcome) -> None:
            try:
                outcome.append(action(core, ["stubborn"], stop_timeout=30, cancel=token))
            except BaseException as exc:  # Cancelled is a KeyboardInterrupt
                outcome.append(exc)

        worker = threading.Thread(target=run)
        worker.start()
        time.sleep(2.0)  # the stop is in the engine, which waits up to 30 s for SIGTERM to work
        t0 = time.monotonic()
        token.cancel()
        worker.join(10)
        took = time.monotonic() - t0
        assert not worker.is_alive() and took < 3.0, (action.__name__, took)
        got = outcome[0]
        interrupted = isinstance(got, KeyboardInterrupt) or getattr(got, "outcome", None) == "interrupted"
        assert interrupted, (action.__name__, got)
        now = st.inspect("stubborn")
        # Still the same container, still in its 30 s grace: the cancel forced nothing.
        assert now["Id"] == before["Id"] and now["State"]["Running"], (action.__name__, now["State"])
        assert now["State"]["StartedAt"] == before["State"]["StartedAt"], action.__name__
        docker("kill", now["Id"], check=False)
        st.compose("start", "stubborn")


def test_a_cancel_token_ends_a_log_follow_and_its_threads(stack, monkeypatch):
    """A `LogFollower` given a token (as `devenv watch` gives it) ends its iteration when the token is
    cancelled from another thread, and its event and log-stream threads end with it."""
    import threading

    from devenv.core.cancel import CancelToken
    from devenv.core.logs import LogFollower
    from devenv.core.models import LogLine

    st = stack("actions")
    up_all(st)
    core = core_stack(st, monkeypatch)
    token = CancelToken()
    follower = LogFollower(core.api, core.name, None, tail=5, cancel=token)
    lines: list[Any] = []
    reader = threading.Thread(target=lambda: lines.extend(follower))
    reader.start()
    deadline = time.monotonic() + 30
    while not any(isinstance(x, LogLine) and "stubborn-marker" in x.text for x in lines):
        assert time.monotonic() < deadline, lines
        time.sleep(0.05)  # the reader thread fills `lines`: a short, bounded poll
    assert any(t.name.startswith("devenv-log") for t in threading.enumerate())
    t0 = time.monotonic()
    token.cancel()
    reader.join(5)
    assert not reader.is_alive() and time.monotonic() - t0 < 2.0
    deadline = time.monotonic() + 5
    while any(t.name.startswith("devenv-log") for t in threading.enumerate()):
        assert time.monotonic() < deadline, [t.name for t in threading.enumerate()]
        time.sleep(0.05)
