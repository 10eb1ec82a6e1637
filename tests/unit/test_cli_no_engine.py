"""The ``devenv`` console script where no Docker is needed: usage, config and project-file errors.

These ran under ``tests/cli`` (marked ``docker``, so they needed a provisioned engine) although none
of them talks to Docker. Here every run gets ``DOCKER_HOST`` pointing at no socket and a ``PATH``
without the docker CLI: a test that needed the engine or the CLI would fail (exit 3), not pass.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pytest
from devenv_testlib import DEVENV, STACKS, DevenvResult, unique_name
from devenv_testlib import run_devenv as _run_devenv

NO_ENGINE = {"DOCKER_HOST": "unix:///nonexistent/devenv-test-no-engine.sock", "PATH": str(Path(sys.executable).parent)}


def run_devenv(args: Sequence[str], cwd: str | Path, env: Mapping[str, str] | None = None) -> DevenvResult:
    return _run_devenv(args, cwd, env={**NO_ENGINE, **(env or {})}, timeout=60)


class Folder:
    """A copy of a fixture stack, with ``devenv`` run in it without Docker."""

    def __init__(self, path: Path, name: str) -> None:
        self.path = path
        self.name = name

    def devenv(self, *args: str, env: Mapping[str, str] | None = None, cwd: Path | None = None) -> DevenvResult:
        return run_devenv(args, cwd or self.path, env=env)


@pytest.fixture()
def stack(tmp_path: Path) -> Callable[[str], Folder]:
    def make(name: str) -> Folder:
        project = unique_name()
        dest = tmp_path / project
        shutil.copytree(STACKS / name, dest)
        return Folder(dest, project)

    return make


def low(text: str) -> str:
    return text.lower()


def assert_exit(res: DevenvResult, code: int) -> None:
    assert res.returncode == code, res.dump()
    assert "Traceback" not in res.stderr and "bug in devenv" not in res.stderr, res.dump()


assert_clean = assert_exit


def project(tmp_path: Path, toml: str | None = None, compose: str = "services:\n  app:\n    image: busybox\n") -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "compose.yml").write_text(compose, encoding="utf-8")
    if toml is not None:
        (root / "devenv.toml").write_text(toml, encoding="utf-8")
    return root


def test_no_docker_cli_on_the_path_of_these_runs() -> None:
    assert shutil.which("docker", path=NO_ENGINE["PATH"]) is None


# ----------------------------------------------------------------------------- usage and config errors
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
    assert_exit(res, 0)  # until the TUI arrives, a bare `devenv` prints its help
    assert res.stdout.startswith("usage: devenv"), res.dump()


def test_directory_option_from_elsewhere(stack, tmp_path):
    st = stack("zeroconf")
    res = st.devenv("-C", str(st.path), "profiles", "--json", cwd=tmp_path)
    assert_exit(res, 0)
    names = {p["name"] for p in res.json()["profiles"]}
    assert names == {"default", "dev", "prod"}, res.dump()


def test_no_project_here(tmp_path):
    res = run_devenv(["status"], cwd=tmp_path)
    assert_exit(res, 2)


@pytest.mark.parametrize("command", [["up", "--timeout", "30"], ["status"], ["config"], ["down"], ["logs"]])
def test_unknown_profile_lists_available_ones(stack, command):
    st = stack("zeroconf")
    res = st.devenv(*command, "--profile", "nosuchprofile")
    assert_exit(res, 2)
    assert "nosuchprofile" in res.stderr, res.dump()
    for name in ("default", "dev", "prod"):
        assert re.search(rf"\b{name}\b", res.stderr), f"available profile {name} not listed:\n{res.dump()}"
    # Exit 2, not 3: the profile is checked before the (unreachable) engine is asked anything.


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


def test_status_json_reports_config_error_on_stdout_or_stderr(stack):
    st = stack("zeroconf")
    res = st.devenv("status", "--json", "--profile", "nosuchprofile")
    assert_exit(res, 2)
    doc = res.json()  # a failed --json command still prints one document
    assert doc["ok"] is False and doc["exit_code"] == 2, res.dump()
    assert doc["error"]["kind"] == "UnknownProfileError" and "nosuchprofile" in doc["error"]["message"], res.dump()


def test_devenv_script_is_installed():
    assert DEVENV.exists(), DEVENV


# ------------------------------------------------------------------------------ timeouts, names, paths
@pytest.mark.parametrize(
    "args",
    [
        ["up", "--timeout=inf"],
        ["up", "--timeout=1e308"],
        ["up", "--timeout=nan"],
        ["up", "--timeout=0"],
        ["up", "--timeout=-5"],
        ["up", "--timeout=86401"],
        ["down", "--timeout=-1"],
        ["down", "--timeout=1e308"],
    ],
    ids=lambda a: " ".join(a),
)
def test_timeouts_out_of_range_exit_2(tmp_path: Path, args: list[str]) -> None:
    res = run_devenv(args, cwd=project(tmp_path))
    assert_clean(res, 2)
    assert "argument --timeout" in res.stderr, res.dump()


@pytest.mark.parametrize("value", ["1e308", "inf", "86401"])
def test_a_huge_readiness_timeout_in_devenv_toml_exits_2(tmp_path: Path, value: str) -> None:
    root = project(tmp_path, f'[project]\nname = "dvtbounds"\n\n[readiness]\ntimeout = {value}\n')
    res = run_devenv(["up"], cwd=root)
    assert_clean(res, 2)
    assert "devenv.toml" in res.stderr and "readiness.timeout" in res.stderr, res.dump()


def test_a_1mb_project_name_in_devenv_toml_exits_2(tmp_path: Path) -> None:
    root = project(tmp_path, f'[project]\nname = "{"a" * 1_000_000}"\n')
    res = run_devenv(["status"], cwd=root)
    assert_clean(res, 2)
    assert "project.name" in res.stderr and "at most 100" in res.stderr, res.dump()
    assert len(res.stderr) < 1000, "the name must not be echoed in full"


def test_a_huge_compose_project_name_exits_2(tmp_path: Path) -> None:
    res = run_devenv(["status"], cwd=project(tmp_path), env={"COMPOSE_PROJECT_NAME": "a" * 100_000})
    assert_clean(res, 2)
    assert "COMPOSE_PROJECT_NAME" in res.stderr and "at most 100" in res.stderr, res.dump()


def test_a_config_error_names_its_file_once(tmp_path: Path) -> None:
    root = project(tmp_path, '[project]\nnmae = "x"\n')
    res = run_devenv(["status"], cwd=root)
    assert_clean(res, 2)
    first = res.stderr.splitlines()[0]
    assert first.startswith('devenv: error: devenv.toml: unknown key "project.nmae"'), res.dump()
    assert first.count("devenv.toml") == 1, res.dump()


def test_files_outside_the_root_warn_once_and_stay_off_json(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "compose.yml").write_text("services:\n  db:\n    image: busybox\n", encoding="utf-8")
    root = project(tmp_path, '[project]\nname = "dvtmono"\ncompose_files = ["../shared/compose.yml"]\n')
    (root / "profiles").mkdir()
    (root / "profiles" / "dev.toml").write_text('compose_files = ["compose.yml"]\n', encoding="utf-8")
    res = run_devenv(["profiles", "--json"], cwd=root)
    assert_clean(res, 0)
    names = [p["name"] for p in json.loads(res.stdout)["profiles"]]
    assert names == ["default", "dev"], res.dump()
    warnings = [line for line in res.stderr.splitlines() if line.startswith("devenv: warning:")]
    assert len(warnings) == 1, res.dump()  # two profiles use it, one warning
    assert "../shared/compose.yml" in warnings[0] and "outside the project root" in warnings[0], res.dump()


def test_a_missing_project_dir_exits_2(tmp_path: Path) -> None:
    root = project(tmp_path)
    res = run_devenv(["-C", str(root / "typo"), "status"], cwd=tmp_path)
    assert_clean(res, 2)
    assert "typo does not exist" in res.stderr, res.dump()
