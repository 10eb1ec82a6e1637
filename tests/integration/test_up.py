"""`devenv up`: waits on health, one-shot completion, service selection, --json, the example stack."""

from __future__ import annotations

import urllib.request

from devenv_testlib import (
    assert_ready_now,
    check_status_document,
    container_env,
    docker,
    docker_time,
    has_healthcheck,
    published_ports,
)


def http_get(url: str, timeout: float = 5) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return resp.status, resp.read()


def assert_everything_ready(docs: dict, *, one_shots: set[str]) -> None:
    """Right after `up` returned 0: healthchecked services are healthy, one-shots exited 0,
    everything else is running."""
    for service, doc in docs.items():
        state = doc["State"]
        if service in one_shots:
            assert state["Status"] == "exited" and state["ExitCode"] == 0, (service, state)
            continue
        assert state["Status"] == "running", (service, state)
        assert state["Restarting"] is False, (service, state)
        if has_healthcheck(doc):
            assert_ready_now(doc, f"{service}, right after up returned 0,")


def test_up_waits_until_every_service_is_healthy(stack):
    st = stack("healthy")
    res = st.devenv("up", "--timeout", "120")
    assert res.returncode == 0, res.dump()
    # Inspect immediately: if devenv returned before health was reached this fails.
    docs = st.inspect_all()
    assert set(docs) == {"db", "migrate", "api", "worker", "extra"}, res.dump()
    assert_everything_ready(docs, one_shots={"migrate"})
    # db only becomes healthy ~2 s after start and api waits on db + migrate: up cannot be instant.
    assert res.duration > 2.0, res.dump()
    # The published port is reachable on 127.0.0.1.
    status, _ = http_get(f"http://127.0.0.1:{st.port('API_PORT')}/")
    assert status == 200
    assert f"127.0.0.1:{st.port('API_PORT')}->8000/tcp" in published_ports(docs["api"])

    # A second `up` on a running, ready stack succeeds and changes nothing.
    started_at = {s: d["State"]["StartedAt"] for s, d in docs.items() if s != "migrate"}
    again = st.devenv("up", "--timeout", "120")
    assert again.returncode == 0, again.dump()
    docs2 = st.inspect_all()
    assert {s: d["State"]["StartedAt"] for s, d in docs2.items() if s != "migrate"} == started_at, again.dump()


def test_up_json_success_document(stack):
    st = stack("healthy")
    res = st.devenv("up", "--json", "--timeout", "120")
    assert res.returncode == 0, res.dump()
    services = check_status_document(res.json(), project=st.name, profile="default")
    doc = res.json()
    assert doc["ok"] is True, res.dump()
    assert doc["error"] is None, res.dump()
    assert set(services) == {"db", "migrate", "api", "worker", "extra"}, res.dump()
    for name in ("db", "api"):
        assert services[name]["state"] == "running", services[name]
        assert services[name]["health"] in ("healthy", "starting"), services[name]  # ready_by says which
        assert services[name]["ready"] is True, services[name]
    for name in ("worker", "extra"):
        assert services[name]["state"] == "running", services[name]
        assert services[name]["health"] == "none", services[name]
        assert services[name]["ready"] is True, services[name]
    migrate = services["migrate"]
    assert migrate["state"] == "exited", migrate
    assert migrate["exit_code"] == 0, migrate
    assert migrate["ready"] is True, migrate
    assert migrate["detail"] == "completed", migrate
    assert f"127.0.0.1:{st.port('API_PORT')}->8000/tcp" in services["api"]["ports"], services["api"]
    for entry in services.values():
        assert not entry.get("failure"), entry


def test_up_one_shot_completes_before_dependents_start(stack):
    st = stack("healthy")
    res = st.devenv("up", "--timeout", "120")
    assert res.returncode == 0, res.dump()
    docs = st.inspect_all()
    migrate, api = docs["migrate"]["State"], docs["api"]["State"]
    assert migrate["Status"] == "exited" and migrate["ExitCode"] == 0, migrate
    # service_completed_successfully: api started only after migrate finished.
    assert docker_time(api["StartedAt"]) >= docker_time(migrate["FinishedAt"]), (migrate, api)


def test_up_selected_service_starts_only_it_and_its_dependencies(stack):
    st = stack("healthy")
    res = st.devenv("up", "api", "--timeout", "120")
    assert res.returncode == 0, res.dump()
    docs = st.inspect_all()
    assert set(docs) == {"db", "migrate", "api"}, f"containers: {sorted(docs)}\n{res.dump()}"
    assert_everything_ready(docs, one_shots={"migrate"})

    status = st.devenv("status", "--json")
    assert status.returncode == 0, status.dump()
    services = check_status_document(status.json(), project=st.name)
    assert set(services) == {"db", "migrate", "api", "worker", "extra"}, status.dump()
    assert services["worker"]["state"] == "missing", services["worker"]
    assert services["extra"]["state"] == "missing", services["extra"]
    assert services["worker"]["ready"] is False
    assert services["api"]["state"] == "running" and services["api"]["ready"] is True


def test_up_single_service_without_dependencies(stack):
    st = stack("healthy")
    res = st.devenv("up", "extra", "--timeout", "60")
    assert res.returncode == 0, res.dump()
    assert st.services_present() == {"extra"}, res.dump()


def test_up_with_directory_option(stack, tmp_path):
    st = stack("healthy")
    res = st.devenv("-C", str(st.path), "up", "extra", "--timeout", "60", cwd=tmp_path)
    assert res.returncode == 0, res.dump()
    assert st.services_present() == {"extra"}, res.dump()


# ---------------------------------------------------------------------------------- example stack
def test_example_dev_profile_comes_up_and_answers_health(example_stack):
    st = example_stack()
    res = st.devenv("up", "--timeout", "180", timeout=300)
    assert res.returncode == 0, res.dump()
    docs = st.inspect_all()
    assert set(docs) == {"postgres", "migrate", "api", "worker"}, f"{sorted(docs)}\n{res.dump()}"
    assert_everything_ready(docs, one_shots={"migrate"})
    # devenv.toml's project name wins over the compose file's `name:`.
    assert docs["api"]["Config"]["Labels"]["com.docker.compose.project"] == st.name

    status, body = http_get(f"http://127.0.0.1:{st.port('API_PORT')}/health")
    assert status == 200, body

    # The dev overlay and env file are applied: debugpy + reload, debug logging, ports published.
    api = docs["api"]
    cmd = " ".join(api["Config"]["Cmd"])
    assert "debugpy" in cmd and "--reload" in cmd, cmd
    env = container_env(api)
    assert env["APP_ENV"] == "development", env
    assert env["LOG_LEVEL"] == "debug", env
    assert "dev-password" in env["DATABASE_URL"], env
    assert published_ports(api) == {
        f"127.0.0.1:{st.port('API_PORT')}->8000/tcp",
        f"127.0.0.1:{st.port('DEBUG_PORT')}->5678/tcp",
    }
    assert published_ports(docs["postgres"]) == {f"127.0.0.1:{st.port('POSTGRES_PORT')}->5432/tcp"}
    # Source is bind-mounted in dev.
    mounts = {m["Destination"] for m in api["Mounts"]}
    assert "/srv/app" in mounts, mounts


def test_example_status_json_after_up(example_stack):
    st = example_stack()
    res = st.devenv("up", "--json", "--timeout", "180", timeout=300)
    assert res.returncode == 0, res.dump()
    up_doc = res.json()
    services = check_status_document(up_doc, project=st.name, profile="dev")
    assert services["migrate"]["detail"] == "completed", services["migrate"]
    assert services["worker"]["ready"] is True, services["worker"]

    status = st.devenv("status", "--json")
    assert status.returncode == 0, status.dump()
    services = check_status_document(status.json(), project=st.name, profile="dev")
    assert status.json()["ok"] is True, status.dump()
    assert set(services) == {"postgres", "migrate", "api", "worker"}
    assert services["postgres"]["ready"] and services["api"]["ready"], services  # by Docker or devenv's check
    assert f"127.0.0.1:{st.port('API_PORT')}->8000/tcp" in services["api"]["ports"]
    assert services["migrate"]["state"] == "exited" and services["migrate"]["exit_code"] == 0


def test_up_builds_missing_images_and_rebuilds_with_build_flag(stack):
    st = stack("build")

    def marker() -> str:
        cid = st.container_ids("app")[0]
        return docker("exec", cid, "cat", "/built-marker", check=True).stdout.strip()

    res = st.devenv("up", "--timeout", "120", env={"BUILD_MARKER": "one"}, timeout=300)
    assert res.returncode == 0, res.dump()
    assert marker() == "one"
    # Without --build an existing image is reused.
    res = st.devenv("up", "--timeout", "120", env={"BUILD_MARKER": "two"}, timeout=300)
    assert res.returncode == 0, res.dump()
    assert marker() == "one", res.dump()
    # With --build it is rebuilt and the container recreated from the new image.
    res = st.devenv("up", "--build", "--timeout", "120", env={"BUILD_MARKER": "two"}, timeout=300)
    assert res.returncode == 0, res.dump()
    assert marker() == "two", res.dump()


def test_service_without_healthcheck_must_stay_up_for_settle(stack):
    st = stack("healthy")
    res = st.devenv("up", "extra", "--timeout", "60")
    assert res.returncode == 0, res.dump()
    # Default settle is 1.5 s: up cannot have returned before the container was up that long.
    assert res.duration >= 1.5, res.dump()
    assert st.services_present() == {"extra"}

    st2 = stack("healthy")
    (st2.path / "devenv.toml").write_text(
        f'[project]\nname = "{st2.name}"\ncompose_files = ["compose.yml"]\n\n[readiness]\nsettle = 5\n'
    )
    res = st2.devenv("up", "extra", "--timeout", "60")
    assert res.returncode == 0, res.dump()
    assert res.duration >= 5, f"[readiness] settle = 5 not honoured:\n{res.dump()}"
