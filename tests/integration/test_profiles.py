"""Profiles: zero-config discovery, devenv.toml profiles, selection, and their effect on containers."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest
from devenv_testlib import (
    assert_ready_now,
    check_status_document,
    container_env,
    docker,
    free_port,
    has_healthcheck,
    published_ports,
    wait_for,
)

ZC_ENV_KEYS = (
    "WEB_MODE",
    "SHARED_VALUE",
    "LAYER_VALUE",
    "DEV_FILE_VALUE",
    "DEVELOPMENT_FILE_VALUE",
    "PRODUCTION_FILE_VALUE",
)

# What each zero-config profile must put into the `web` container.
ZC_EXPECTED = {
    "default": {  # compose.yml + compose.override.yml + .env: exactly plain `docker compose up`
        "env": {
            "WEB_MODE": "override",
            "SHARED_VALUE": "from-dotenv",
            "LAYER_VALUE": "dotenv",
            "DEV_FILE_VALUE": "unset",
            "DEVELOPMENT_FILE_VALUE": "unset",
            "PRODUCTION_FILE_VALUE": "unset",
        },
        "mode": "web-mode=override",
        "port_var": "OVERRIDE_PORT",
        "services": {"web"},
    },
    "dev": {  # compose.yml + compose.dev.yml (no override) + .env + .env.dev + .env.development
        "env": {
            "WEB_MODE": "dev",
            "SHARED_VALUE": "from-dotenv",
            "LAYER_VALUE": "dotenv-dev",
            "DEV_FILE_VALUE": "yes-dev",
            "DEVELOPMENT_FILE_VALUE": "yes-development",
            "PRODUCTION_FILE_VALUE": "unset",
        },
        "mode": "web-mode=dev",
        "port_var": "DEV_PORT",
        "services": {"web", "devtools"},
    },
    "prod": {  # compose.yml + compose.prod.yml + .env + .env.production
        "env": {
            "WEB_MODE": "prod",
            "SHARED_VALUE": "from-dotenv",
            "LAYER_VALUE": "dotenv-production",
            "DEV_FILE_VALUE": "unset",
            "DEVELOPMENT_FILE_VALUE": "unset",
            "PRODUCTION_FILE_VALUE": "yes-production",
        },
        "mode": "web-mode=prod",
        "port_var": "PROD_PORT",
        "services": {"web"},
    },
}


def profiles_by_name(res) -> dict[str, dict]:
    assert res.returncode == 0, res.dump()
    doc = res.json()
    assert isinstance(doc, dict) and isinstance(doc.get("profiles"), list), res.dump()
    out = {}
    for p in doc["profiles"]:
        assert {"name", "description", "protected", "compose_files", "env_files"} <= set(p), p
        assert isinstance(p["name"], str)
        assert isinstance(p["protected"], bool)
        assert isinstance(p["description"], str | None), p
        for f in p["compose_files"] + p["env_files"]:
            assert isinstance(f, str) and Path(f).is_absolute(), f"not an absolute path: {f!r} in {p}"
        out[p["name"]] = p
    return out


def resolved(paths: list[str]) -> list[Path]:
    return [Path(p).resolve() for p in paths]


def assert_implicit_default(profiles: dict[str, dict], compose_files: list[Path], env_files: list[Path]) -> None:
    """A devenv.toml project may also offer `default` (its base files only); if so, exactly those."""
    if "default" in profiles:
        assert resolved(profiles["default"]["compose_files"]) == compose_files, profiles["default"]
        assert resolved(profiles["default"]["env_files"]) == env_files, profiles["default"]
        assert profiles["default"]["protected"] is False


# ------------------------------------------------------------------------------------ zero-config
def test_zero_config_profiles_json(stack):
    st = stack("zeroconf")
    profiles = profiles_by_name(st.devenv("profiles", "--json"))
    assert set(profiles) == {"default", "dev", "prod"}, profiles
    root = st.path.resolve()
    assert resolved(profiles["default"]["compose_files"]) == [root / "compose.yml", root / "compose.override.yml"]
    assert resolved(profiles["default"]["env_files"]) == [root / ".env"]
    assert resolved(profiles["dev"]["compose_files"]) == [root / "compose.yml", root / "compose.dev.yml"]
    dev_env = resolved(profiles["dev"]["env_files"])
    assert dev_env[0] == root / ".env", dev_env
    assert set(dev_env) == {root / ".env", root / ".env.dev", root / ".env.development"}, dev_env
    assert resolved(profiles["prod"]["compose_files"]) == [root / "compose.yml", root / "compose.prod.yml"]
    assert resolved(profiles["prod"]["env_files"]) == [root / ".env", root / ".env.production"]
    assert profiles["prod"]["protected"] is True
    assert profiles["dev"]["protected"] is False
    assert profiles["default"]["protected"] is False


def test_zero_config_profiles_human_output(stack):
    st = stack("zeroconf")
    res = st.devenv("profiles")
    assert res.returncode == 0, res.dump()
    for name in ("default", "dev", "prod"):
        assert name in res.stdout, res.dump()


def test_zero_config_production_alias_is_protected(stack):
    st = stack("zeroconf")
    (st.path / "compose.prod.yml").rename(st.path / "compose.production.yml")
    profiles = profiles_by_name(st.devenv("profiles", "--json"))
    assert "production" in profiles, profiles
    assert profiles["production"]["protected"] is True
    assert (st.path / ".env.production").resolve() in resolved(profiles["production"]["env_files"])


@pytest.mark.parametrize("profile", ["default", "dev", "prod"])
def test_zero_config_profile_changes_running_containers(stack, profile):
    st = stack("zeroconf")
    expected = ZC_EXPECTED[profile]
    res = st.devenv("up", "--profile", profile, "--timeout", "60")
    assert res.returncode == 0, res.dump()
    docs = st.inspect_all()
    assert set(docs) == expected["services"], f"{sorted(docs)}\n{res.dump()}"
    web = docs["web"]
    env = container_env(web)
    assert {k: env.get(k) for k in ZC_ENV_KEYS} == expected["env"], res.dump()
    assert expected["mode"] in " ".join(web["Config"]["Cmd"]), web["Config"]["Cmd"]
    assert published_ports(web) == {f"127.0.0.1:{st.port(expected['port_var'])}->8000/tcp"}
    # `web` has no healthcheck, so "ready" means running: its server may still be binding.
    url = f"http://127.0.0.1:{st.port(expected['port_var'])}/"
    assert wait_for(lambda: _http_status(url) == 200, 30, f"{url} never answered 200")


def _http_status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return int(resp.status)
    except OSError:
        return None


def test_zero_config_default_profile_matches_plain_docker_compose(stack):
    """Profile `default` deploys exactly what a plain `docker compose up` would."""
    st = stack("zeroconf")
    res = st.devenv("up", "--profile", "default", "--timeout", "60")
    assert res.returncode == 0, res.dump()
    devenv_web = st.inspect("web")
    other = st.adopt(st.name + "plain")
    st.compose("up", "-d", project=other, env={"OVERRIDE_PORT": str(free_port())})
    plain_web = st.inspect("web", project=other)
    assert container_env(devenv_web) == container_env(plain_web)
    assert devenv_web["Config"]["Cmd"] == plain_web["Config"]["Cmd"]
    ports = {p.split(":", 1)[1].split("->")[1] for p in published_ports(devenv_web)}
    assert ports == {p.split("->")[1] for p in published_ports(plain_web)}


def test_zero_config_switching_profile_recreates_containers(stack):
    st = stack("zeroconf")
    assert st.devenv("up", "--profile", "dev", "--timeout", "60").returncode == 0
    # Profiles share the stack: moving it to another profile must be asked for.
    res = st.devenv("up", "--profile", "prod", "--timeout", "60")
    assert res.returncode == 2, res.dump()
    assert "started with profile dev" in res.stderr and "--switch-profile" in res.stderr, res.dump()
    assert container_env(st.inspect("web"))["WEB_MODE"] != "prod"
    res = st.devenv("up", "--profile", "prod", "--switch-profile", "--timeout", "60")
    assert res.returncode == 0, res.dump()
    web = st.inspect("web")
    assert container_env(web)["WEB_MODE"] == "prod"
    assert published_ports(web) == {f"127.0.0.1:{st.port('PROD_PORT')}->8000/tcp"}


# ------------------------------------------------------------------------------ profile selection
def selected_profile(st, *args, env=None) -> str:
    res = st.devenv("status", "--json", *args, env=env)
    assert res.returncode == 0, res.dump()  # status exits 0 whatever the services' states
    doc = res.json()
    check_status_document(doc)
    return doc["profile"]


def test_zero_config_defaults_to_dev_profile(stack):
    st = stack("zeroconf")
    assert selected_profile(st) == "dev"


def test_zero_config_without_dev_defaults_to_default(stack):
    st = stack("zeroconf")
    (st.path / "compose.dev.yml").unlink()
    assert selected_profile(st) == "default"


def test_devenv_profile_env_selects_profile(stack):
    st = stack("zeroconf")
    assert selected_profile(st, env={"DEVENV_PROFILE": "prod"}) == "prod"


def test_profile_flag_beats_env(stack):
    st = stack("zeroconf")
    assert selected_profile(st, "--profile", "default", env={"DEVENV_PROFILE": "prod"}) == "default"


def test_status_lists_every_service_of_the_profile_as_missing_before_up(stack):
    st = stack("zeroconf")
    res = st.devenv("status", "--json", "--profile", "dev")
    assert res.returncode == 0, res.dump()  # status exits 0 whatever the services' states
    services = check_status_document(res.json(), project=st.name, profile="dev")
    assert set(services) == {"web", "devtools"}
    assert all(s["state"] == "missing" and s["ready"] is False for s in services.values()), services
    res = st.devenv("status", "--json", "--profile", "default")
    assert set(check_status_document(res.json())) == {"web"}, res.dump()


# ---------------------------------------------------------------------------------- project names
def test_zero_config_project_name_is_folder_name(stack):
    st = stack("zeroconf")
    res = st.devenv("status", "--json")
    check_status_document(res.json(), project=st.name)


def test_zero_config_compose_project_name_env_wins(stack):
    st = stack("zeroconf")
    other = st.adopt(st.name + "env")
    res = st.devenv("up", "--timeout", "60", env={"COMPOSE_PROJECT_NAME": other})
    assert res.returncode == 0, res.dump()
    assert st.services_present(project=other) == {"web", "devtools"}
    assert st.services_present() == set()
    status = st.devenv("status", "--json", env={"COMPOSE_PROJECT_NAME": other})
    check_status_document(status.json(), project=other)


def test_compose_file_name_is_used_without_devenv_toml(stack):
    st = stack("zeroconf")
    other = st.adopt(st.name + "named")
    compose = st.path / "compose.yml"
    compose.write_text(f"name: {other}\n" + compose.read_text())
    res = st.devenv("status", "--json")
    check_status_document(res.json(), project=other)


# ---------------------------------------------------------------------------------- devenv.toml
def write_toml_project(st, body: str) -> None:
    (st.path / "devenv.toml").write_text(body)


def test_inline_profiles_and_default_profile(stack):
    st = stack("zeroconf")
    write_toml_project(
        st,
        f"""[project]
name = "{st.name}"
compose_files = ["compose.yml"]
env_files = [".env"]
default_profile = "beta"

[profiles.alpha]
description = "Alpha overlay"
compose_files = ["compose.dev.yml"]
env_files = [".env.dev"]

[profiles.beta]
description = "Beta overlay"
compose_files = ["compose.prod.yml"]
env_files = [".env.production"]
protected = true
""",
    )
    profiles = profiles_by_name(st.devenv("profiles", "--json"))
    assert set(profiles) - {"default"} == {"alpha", "beta"}, profiles
    root = st.path.resolve()
    assert_implicit_default(profiles, [root / "compose.yml"], [root / ".env"])
    assert resolved(profiles["alpha"]["compose_files"]) == [root / "compose.yml", root / "compose.dev.yml"]
    assert resolved(profiles["alpha"]["env_files"]) == [root / ".env", root / ".env.dev"]
    assert profiles["alpha"]["description"] == "Alpha overlay"
    assert profiles["beta"]["protected"] is True
    assert profiles["alpha"]["protected"] is False
    assert selected_profile(st) == "beta"

    res = st.devenv("up", "--profile", "alpha", "--timeout", "60")
    assert res.returncode == 0, res.dump()
    env = container_env(st.inspect("web"))
    assert env["WEB_MODE"] == "dev" and env["LAYER_VALUE"] == "dotenv-dev", env
    assert env["DEVELOPMENT_FILE_VALUE"] == "unset", env  # not zero-config: only the listed env files


def test_profiles_dir_files(stack):
    st = stack("zeroconf")
    (st.path / "envs").mkdir()
    (st.path / "envs" / "qa.toml").write_text(
        'description = "QA"\ncompose_files = ["compose.prod.yml"]\nenv_files = [".env.dev"]\n'
    )
    write_toml_project(
        st,
        f'[project]\nname = "{st.name}"\ncompose_files = ["compose.yml"]\nenv_files = [".env"]\n'
        'profiles_dir = "envs"\n',
    )
    profiles = profiles_by_name(st.devenv("profiles", "--json"))
    assert set(profiles) - {"default"} == {"qa"}, profiles
    assert profiles["qa"]["description"] == "QA"
    res = st.devenv("up", "--profile", "qa", "--timeout", "60")
    assert res.returncode == 0, res.dump()
    env = container_env(st.inspect("web"))
    assert env["WEB_MODE"] == "prod" and env["LAYER_VALUE"] == "dotenv-dev", env


# ------------------------------------------------------------------------------------------ probes
@pytest.fixture()
def probed(stack):
    """web serves /srv/www; the file probe-ok appears there ~3 s after start (no healthcheck)."""
    st = stack("zeroconf")
    (st.path / "compose.yml").write_text(
        """services:
  web:
    image: devenv-test/python:latest
    init: true
    command:
      - sh
      - -c
      - "mkdir -p /srv/www && cd /srv/www && { (sleep 3; touch probe-ok) & } && exec python3 -m http.server 8000"
    ports:
      - "127.0.0.1:${PORT}:8000"
"""
    )
    for f in ("compose.override.yml", "compose.dev.yml", "compose.prod.yml"):
        (st.path / f).unlink()
    return st


def write_probe_profile(st, probe: str) -> None:
    (st.path / "profiles").mkdir(exist_ok=True)
    (st.path / "profiles" / "probed.toml").write_text(f'description = "probe test"\n\n[probes.web]\n{probe}\n')
    write_toml_project(
        st,
        f'[project]\nname = "{st.name}"\ncompose_files = ["compose.yml"]\n'
        'default_profile = "probed"\nprofiles_dir = "profiles"\n',
    )


def probe_file_exists(st) -> bool:
    cid = st.container_ids("web")[0]
    return docker("exec", cid, "test", "-f", "/srv/www/probe-ok").returncode == 0


def test_http_probe_must_pass_before_ready(probed):
    st = probed
    write_probe_profile(st, f'http = "http://127.0.0.1:{st.port("PORT")}/probe-ok"')
    res = st.devenv("up", "--timeout", "60")
    assert res.returncode == 0, res.dump()
    assert probe_file_exists(st), f"up returned before the http probe could pass:\n{res.dump()}"


def test_cmd_probe_must_pass_before_ready(probed):
    st = probed
    write_probe_profile(st, 'cmd = ["test", "-f", "/srv/www/probe-ok"]')
    res = st.devenv("up", "--timeout", "60")
    assert res.returncode == 0, res.dump()
    assert probe_file_exists(st), f"up returned before the cmd probe could pass:\n{res.dump()}"


def test_failing_probe_keeps_service_not_ready(probed):
    st = probed
    write_probe_profile(st, 'cmd = ["test", "-f", "/nonexistent"]')
    res = st.devenv("up", "--timeout", "8")
    # The service itself is fine; only the probe never passes: not ready -> timeout.
    assert res.returncode == 124, res.dump()
    report = res.stderr[res.stderr.lower().index("timed out") :]
    assert "web" in report and "probe" in report.lower(), res.dump()


# ----------------------------------------------------------------------------------- example stack
def test_example_profiles_json(example_stack):
    st = example_stack()
    profiles = profiles_by_name(st.devenv("profiles", "--json"))
    assert set(profiles) - {"default"} == {"dev", "prod", "staging"}, profiles
    root = st.path.resolve()
    assert_implicit_default(profiles, [root / "compose/compose.yml"], [root / "compose/.env"])
    for name, env_file in (("dev", ".env.development"), ("prod", ".env.production"), ("staging", ".env.staging")):
        p = profiles[name]
        assert resolved(p["compose_files"]) == [root / "compose/compose.yml", root / f"compose/compose.{name}.yml"], p
        assert resolved(p["env_files"]) == [root / "compose/.env", root / "compose" / env_file], p
        assert p["description"], p
    assert profiles["prod"]["protected"] is True
    assert profiles["dev"]["protected"] is False
    assert profiles["staging"]["protected"] is False


def test_example_default_profile_from_devenv_toml(example_stack):
    st = example_stack()
    assert selected_profile(st) == "dev"
    toml = st.path / "devenv.toml"
    toml.write_text(toml.read_text().replace('default_profile = "dev"', 'default_profile = "staging"'))
    assert selected_profile(st) == "staging"
    assert selected_profile(st, env={"DEVENV_PROFILE": "prod"}) == "prod"


def test_example_project_name_from_devenv_toml_ignores_compose_project_name(example_stack):
    st = example_stack()
    res = st.devenv("status", "--json", env={"COMPOSE_PROJECT_NAME": st.name + "x"})
    check_status_document(res.json(), project=st.name, profile="dev")


def test_example_staging_profile(example_stack):
    st = example_stack()
    res = st.devenv("up", "--profile", "staging", "--timeout", "180", timeout=300)
    assert res.returncode == 0, res.dump()
    docs = st.inspect_all()
    assert set(docs) == {"postgres", "migrate", "api", "worker"}, res.dump()
    for name, doc in docs.items():
        if has_healthcheck(doc):
            assert_ready_now(doc, name)
    api = docs["api"]
    cmd = " ".join(api["Config"]["Cmd"])
    assert "debugpy" not in cmd and "--reload" not in cmd, cmd
    env = container_env(api)
    assert env["APP_ENV"] == "staging" and env["LOG_LEVEL"] == "info", env
    assert "staging-password-placeholder" in env["DATABASE_URL"]
    assert published_ports(api) == {f"127.0.0.1:{st.port('API_PORT')}->8000/tcp"}
    assert published_ports(docs["postgres"]) == set()
    with urllib.request.urlopen(f"http://127.0.0.1:{st.port('API_PORT')}/health", timeout=5) as resp:
        assert resp.status == 200
