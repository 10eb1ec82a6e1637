"""Usage and config errors (exit 2), Docker/Compose unavailable (exit 3): messages and exit codes."""

from __future__ import annotations

import re
import subprocess

import pytest
from devenv_testlib import DEVENV, base_env, check_status_document, docker


def low(text: str) -> str:
    return text.lower()


def assert_exit(res, code: int) -> None:
    assert res.returncode == code, res.dump()
    assert res.returncode != 70, f"internal error:\n{res.dump()}"


# ----------------------------------------------------------------------------------- plain usage
def test_help_exits_0(stack):
    st = stack("zeroconf")
    res = st.devenv("--help")
    assert_exit(res, 0)
    for cmd in ("up", "status", "logs", "down", "profiles", "config"):
        assert cmd in res.stdout, res.dump()


@pytest.mark.parametrize(
    "args",
    [
        ["frobnicate"],
        ["up", "--timeout", "soon"],
        ["logs", "--tail", "many"],
        ["up", "--no-such-flag"],
    ],
    ids=["unknown-command", "bad-timeout", "bad-tail", "unknown-flag"],
)
def test_usage_errors_exit_2(stack, args):
    st = stack("zeroconf")
    res = st.devenv(*args)
    assert_exit(res, 2)
    assert res.stderr.strip(), res.dump()


def test_no_command_prints_usage(stack):
    st = stack("zeroconf")
    res = st.devenv()
    assert res.returncode in (0, 2), res.dump()
    assert "usage" in low(res.stdout + res.stderr), res.dump()


def test_directory_option_from_elsewhere(stack, tmp_path):
    st = stack("zeroconf")
    res = st.devenv("-C", str(st.path), "profiles", "--json", cwd=tmp_path)
    assert_exit(res, 0)
    names = {p["name"] for p in res.json()["profiles"]}
    assert names == {"default", "dev", "prod"}, res.dump()


def test_no_project_here(tmp_path):
    from devenv_testlib import run_devenv

    res = run_devenv(["status"], cwd=tmp_path)
    assert_exit(res, 2)


# ------------------------------------------------------------------------------- unknown profile
@pytest.mark.parametrize("command", [["up", "--timeout", "30"], ["status"], ["config"], ["down"], ["logs"]])
def test_unknown_profile_lists_available_ones(stack, command):
    st = stack("zeroconf")
    res = st.devenv(*command, "--profile", "nosuchprofile")
    assert_exit(res, 2)
    assert "nosuchprofile" in res.stderr, res.dump()
    for name in ("default", "dev", "prod"):
        assert re.search(rf"\b{name}\b", res.stderr), f"available profile {name} not listed:\n{res.dump()}"
    assert st.container_ids() == [], "an unknown profile must not create anything"


def test_unknown_profile_from_env(stack):
    st = stack("zeroconf")
    res = st.devenv("status", env={"DEVENV_PROFILE": "fromenvprofile"})
    assert_exit(res, 2)
    assert "fromenvprofile" in res.stderr, res.dump()


def test_unknown_default_profile_in_devenv_toml(stack):
    st = stack("zeroconf")
    (st.path / "devenv.toml").write_text(
        f'[project]\nname = "{st.name}"\ncompose_files = ["compose.yml"]\ndefault_profile = "ghost"\n\n'
        '[profiles.real]\ndescription = "x"\n'
    )
    res = st.devenv("status")
    assert_exit(res, 2)
    assert "ghost" in res.stderr, res.dump()


# ------------------------------------------------------------------------------- unknown service
@pytest.mark.parametrize("command", [["up", "--timeout", "30"], ["logs"]])
def test_unknown_service(stack, command):
    st = stack("zeroconf")
    res = st.devenv(*command, "nosuchservice", "--profile", "dev")
    assert_exit(res, 2)
    assert "nosuchservice" in res.stderr, res.dump()
    assert st.container_ids() == []


def test_service_of_another_profile_is_unknown(stack):
    """devtools exists only in compose.dev.yml."""
    st = stack("zeroconf")
    res = st.devenv("up", "devtools", "--profile", "default", "--timeout", "30")
    assert_exit(res, 2)
    assert "devtools" in res.stderr, res.dump()


# ------------------------------------------------------------------------------------ broken TOML
def test_broken_devenv_toml_names_file_and_line(stack):
    st = stack("zeroconf")
    (st.path / "devenv.toml").write_text(
        f'[project]\nname = "{st.name}"\ncompose_files = ["compose.yml"\n\n[profiles.dev]\n'
    )
    for command in (["up", "--timeout", "30"], ["status"], ["profiles"]):
        res = st.devenv(*command)
        assert_exit(res, 2)
        assert "devenv.toml" in res.stderr, res.dump()
        assert re.search(r"line\D{0,3}(3|4|5)\b|:(3|4|5)\b", res.stderr, re.I), f"no line number:\n{res.dump()}"


def test_broken_toml_line_number_is_exact(stack):
    st = stack("zeroconf")
    (st.path / "devenv.toml").write_text(f'[project]\nname = "{st.name}"\n\n\n\nthis is not toml\n')
    res = st.devenv("status")
    assert_exit(res, 2)
    assert "devenv.toml" in res.stderr, res.dump()
    assert re.search(r"line\D{0,3}6\b|:6\b", res.stderr, re.I), f"line 6 not named:\n{res.dump()}"


def test_broken_profile_toml(stack):
    st = stack("zeroconf")
    (st.path / "devenv.toml").write_text(f'[project]\nname = "{st.name}"\ncompose_files = ["compose.yml"]\n')
    (st.path / "profiles").mkdir()
    (st.path / "profiles" / "dev.toml").write_text('description = "ok"\ncompose_files = [\n"a.yml" "b.yml"]\n')
    res = st.devenv("profiles")
    assert_exit(res, 2)
    assert "dev.toml" in res.stderr, res.dump()
    assert re.search(r"line\D{0,3}3\b|:3\b", res.stderr, re.I), f"line 3 not named:\n{res.dump()}"


# ------------------------------------------------------------------------------------ unknown keys
@pytest.mark.parametrize(
    ("body", "bad", "suggestion"),
    [
        ('[project]\nnmae = "x"\ncompose_files = ["compose.yml"]\n', "nmae", "name"),
        ('[project]\ncompose_file = ["compose.yml"]\n', "compose_file", "compose_files"),
        ('[projcet]\nname = "x"\n', "projcet", "project"),
        ('[project]\ncompose_files = ["compose.yml"]\n[readiness]\ntimout = 5\n', "timout", "timeout"),
        ('[project]\ncompose_files = ["compose.yml"]\n[profiles.x]\nprotcted = true\n', "protcted", "protected"),
    ],
    ids=["project.nmae", "project.compose_file", "projcet", "readiness.timout", "profile.protcted"],
)
def test_unknown_key_did_you_mean(stack, body, bad, suggestion):
    st = stack("zeroconf")
    (st.path / "devenv.toml").write_text(body)
    res = st.devenv("status")
    assert_exit(res, 2)
    assert bad in res.stderr, res.dump()
    assert "did you mean" in low(res.stderr), res.dump()
    assert re.search(rf"did you mean\W+{re.escape(suggestion)}\b", res.stderr, re.I), res.dump()


def test_unknown_key_in_profile_file(stack):
    st = stack("zeroconf")
    (st.path / "devenv.toml").write_text(f'[project]\nname = "{st.name}"\ncompose_files = ["compose.yml"]\n')
    (st.path / "profiles").mkdir()
    (st.path / "profiles" / "dev.toml").write_text('descripton = "typo"\n')
    res = st.devenv("profiles")
    assert_exit(res, 2)
    assert "descripton" in res.stderr and "did you mean" in low(res.stderr), res.dump()
    assert re.search(r"did you mean\W+description\b", res.stderr, re.I), res.dump()


@pytest.mark.parametrize(
    "probe",
    [
        'tcp = 8000\nhttp = "http://127.0.0.1:8000/"',
        "",
        "tcpp = 8000",
    ],
    ids=["two-kinds", "no-kind", "typo"],
)
def test_invalid_probe_config(stack, probe):
    st = stack("zeroconf")
    (st.path / "devenv.toml").write_text(
        f'[project]\nname = "{st.name}"\ncompose_files = ["compose.yml"]\n\n'
        f'[profiles.p]\ndescription = "x"\n\n[profiles.p.probes.web]\n{probe}\n'
    )
    res = st.devenv("status", "--profile", "p")
    assert_exit(res, 2)
    assert "web" in res.stderr or "probe" in low(res.stderr), res.dump()


def test_missing_compose_file_is_a_config_error(stack):
    st = stack("zeroconf")
    (st.path / "devenv.toml").write_text(
        f'[project]\nname = "{st.name}"\ncompose_files = ["compose.yml", "nope.yml"]\n'
    )
    res = st.devenv("status")
    assert_exit(res, 2)
    assert "nope.yml" in res.stderr, res.dump()


# --------------------------------------------------------------------------- invalid compose file
def compose_complaint(st) -> str:
    plain = docker("compose", "config", cwd=st.path)
    assert plain.returncode != 0
    return plain.stderr


# `status` reads only the compose files' YAML (fast, no `compose config`): a YAML error is exit 2 there
# (tests/cli/test_cli_exit_codes.py), but Compose's schema errors like this one are not checked.
@pytest.mark.parametrize("command", [["up", "--timeout", "30"], ["config"], ["down"]])
def test_invalid_compose_file(stack, command):
    st = stack("invalid")
    assert "bogus_option" in compose_complaint(st)
    res = st.devenv(*command)
    assert_exit(res, 2)
    assert "bogus_option" in res.stderr, f"compose's complaint not shown:\n{res.dump()}"
    assert st.container_ids() == []


def test_invalid_compose_yaml_syntax(stack):
    st = stack("invalid")
    (st.path / "compose.yml").write_text("services:\n  app:\n    image: [unclosed\n")
    res = st.devenv("up", "--timeout", "30")
    assert_exit(res, 2)
    assert "compose.yml" in res.stderr or "yaml" in low(res.stderr), res.dump()


def test_missing_required_variable_is_a_config_error(stack):
    st = stack("ports")
    env = {"PORT": ""}
    res = st.devenv("up", "--timeout", "30", env=env)
    assert_exit(res, 2)
    assert "PORT must be set" in res.stderr, res.dump()


# --------------------------------------------------------------------------- confirmation (no containers)
def test_down_volumes_protected_profile_without_confirmation(stack):
    st = stack("zeroconf")
    res = st.devenv("down", "--profile", "prod", "--volumes")
    assert_exit(res, 2)
    assert "--confirm-profile" in res.stderr or "confirm" in low(res.stderr), res.dump()


# ---------------------------------------------------------------------------- config / profiles
def test_config_command(stack):
    st = stack("zeroconf")
    res = st.devenv("config", "--profile", "dev")
    assert_exit(res, 0)
    assert "web-mode=dev" in res.stdout, res.dump()
    assert "devtools" in res.stdout, res.dump()
    res = st.devenv("config", "--profile", "dev", "--json")
    assert_exit(res, 0)
    res.json()


def test_status_json_reports_config_error_on_stdout_or_stderr(stack):
    st = stack("zeroconf")
    res = st.devenv("status", "--json", "--profile", "nosuchprofile")
    assert_exit(res, 2)
    if res.stdout.strip():
        doc = res.json()
        assert doc.get("ok") is False or doc.get("error"), res.dump()


# ---------------------------------------------------------------------- Docker / Compose missing
@pytest.mark.parametrize("command", [["up", "--timeout", "30"], ["status"], ["down"], ["logs"]])
def test_docker_unreachable_exit_3(stack, command):
    st = stack("zeroconf")
    res = st.devenv(*command, env={"DOCKER_HOST": "unix:///tmp/nope.sock"}, timeout=60)
    assert_exit(res, 3)
    assert "docker" in low(res.stderr), res.dump()
    assert res.duration < 30, res.dump()


def test_docker_unreachable_json(stack):
    st = stack("zeroconf")
    res = st.devenv("status", "--json", env={"DOCKER_HOST": "unix:///tmp/nope.sock"}, timeout=60)
    assert_exit(res, 3)
    assert "docker" in low(res.stderr), res.dump()
    if res.stdout.strip():
        check_status_document(res.json())
        assert res.json()["ok"] is False


@pytest.mark.parametrize("command", [["up", "--timeout", "30"], ["down"], ["config"]])
def test_compose_v2_missing_exit_3(stack, tmp_path, command):
    empty = tmp_path / "empty-docker-config"
    empty.mkdir()
    # Sanity: with this DOCKER_CONFIG the docker CLI really has no compose plugin.
    probe = subprocess.run(
        ["docker", "compose", "version"],
        capture_output=True,
        text=True,
        env=base_env({"DOCKER_CONFIG": str(empty)}),
        timeout=30,
    )
    if probe.returncode == 0:
        pytest.fail(f"compose is still found with DOCKER_CONFIG={empty}: {probe.stdout}")
    st = stack("zeroconf")
    res = st.devenv(*command, env={"DOCKER_CONFIG": str(empty)}, timeout=60)
    assert_exit(res, 3)
    assert "compose v2" in low(res.stderr), res.dump()
    assert st.container_ids() == []


def test_devenv_script_is_installed():
    assert DEVENV.exists(), DEVENV
