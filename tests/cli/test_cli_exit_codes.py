"""Exit codes and messages of the real console script for hostile inputs: unbounded timeouts,
huge project names, OS errors on the project's files, invalid compose YAML in ``status``,
broken pipes, config paths.

The tests that take only a temporary folder need no running container; the others bring up a
copy of the example stack.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from devenv_testlib import DEVENV, DevenvResult, Stack, base_env, docker, health_status, ok, run_devenv, wait_for


def assert_clean(res: DevenvResult, code: int) -> None:
    assert res.returncode == code, res.dump()
    assert "Traceback" not in res.stderr, res.dump()
    assert "bug in devenv" not in res.stderr, res.dump()


def project(tmp_path: Path, toml: str | None = None, compose: str = "services:\n  app:\n    image: busybox\n") -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "compose.yml").write_text(compose, encoding="utf-8")
    if toml is not None:
        (root / "devenv.toml").write_text(toml, encoding="utf-8")
    return root


def piped(cwd: Path, pipeline: str, env: dict[str, str] | None = None, timeout: float = 180) -> DevenvResult:
    """``devenv ... | head ...`` in bash; the exit code is devenv's (PIPESTATUS[0]), not head's."""
    script = pipeline.replace("devenv ", f"{shlex.quote(str(DEVENV))} ", 1) + '; exit "${PIPESTATUS[0]}"'
    proc = subprocess.run(
        ["bash", "-c", script],
        cwd=str(cwd),
        env=base_env(env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return DevenvResult(["devenv", pipeline], proc.returncode, proc.stdout, proc.stderr)


def with_closed_stdout(cwd: Path, args: list[str], env: dict[str, str] | None = None) -> DevenvResult:
    """Run devenv with a stdout pipe whose reader is gone before devenv writes anything."""
    read_fd, write_fd = os.pipe()
    os.close(read_fd)
    try:
        proc = subprocess.run(
            [str(DEVENV), *args],
            cwd=str(cwd),
            env=base_env(env),
            stdin=subprocess.DEVNULL,
            stdout=write_fd,
            stderr=subprocess.PIPE,
            text=True,
            timeout=180,
        )
    finally:
        os.close(write_fd)
    return DevenvResult([str(DEVENV), *args], proc.returncode, "", proc.stderr)


# ------------------------------------------------------------------ timeouts (no engine needed)
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


# ------------------------------------------------------------- project names (no engine needed)
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


# -------------------------------------------------------- status and invalid YAML (no engine needed)
BROKEN_YAML = "services:\n  app:\n    image: busybox\n    ports: [unclosed\n"


def test_status_with_invalid_compose_yaml_exits_2(tmp_path: Path) -> None:
    root = project(tmp_path, compose=BROKEN_YAML)
    res = run_devenv(["status"], cwd=root)
    assert_clean(res, 2)
    assert res.stdout == "", res.dump()
    assert "invalid compose file compose.yml:5: invalid YAML" in res.stderr, res.dump()
    assert "4 |     ports: [unclosed" in res.stderr, res.dump()


def test_status_json_with_invalid_compose_yaml_exits_2(tmp_path: Path) -> None:
    res = run_devenv(["status", "--json"], cwd=project(tmp_path, compose=BROKEN_YAML))
    assert_clean(res, 2)
    doc = json.loads(res.stdout)
    assert doc["ok"] is False and doc["exit_code"] == 2 and doc["error"]["kind"] == "ComposeFileError"


def test_status_piped_into_head_keeps_exit_2(tmp_path: Path) -> None:
    res = piped(project(tmp_path, compose=BROKEN_YAML), "devenv status | head -1")
    assert_clean(res, 2)
    assert "compose.yml:5" in res.stderr, res.dump()


# ------------------------------------------------------------------- config paths (no engine needed)
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


# ---------------------------------------------------------------------------- on the real engine
def set_migrations_status(st: Stack, command: str) -> None:
    path = st.path / "devenv.toml"
    text, count = re.subn(r'(?m)^status = ".*"$', f"status = {json.dumps(command)}", path.read_text())
    assert count == 1, text
    path.write_text(text)


def test_a_file_where_the_snapshots_folder_should_be_exits_1(example_stack) -> None:
    st: Stack = example_stack()
    ok(st.devenv("up", "--profile", "dev"))
    shutil.rmtree(st.path / ".devenv", ignore_errors=True)  # `up` keeps its record there
    (st.path / ".devenv").write_text("in the way\n")
    res = st.devenv("db", "snapshot")
    assert_clean(res, 1)
    assert ".devenv: a file stands where devenv keeps a folder." in res.stderr, res.dump()
    assert "Move or remove" in res.stderr and ".devenv" in res.stderr, res.dump()


def test_a_closed_pipe_does_not_hide_a_failing_command(example_stack) -> None:
    st: Stack = example_stack()
    ok(st.devenv("up", "--profile", "dev"))

    # `logs | head` stays 0 when the logs themselves were fine.
    res = piped(st.path, "devenv logs | head -1", env=st.env)
    assert_clean(res, 0)
    assert len(res.stdout.splitlines()) == 1, res.dump()

    db = st.container_ids("postgres")
    assert db, "no postgres container"
    docker("pause", db[0], check=True)
    try:
        res = piped(st.path, "devenv migrate status | head -3", env=st.env)
        assert_clean(res, 1)
        assert "paused" in res.stderr, res.dump()
        # With --json a document goes to stdout after the failure; its reader is already gone.
        res = with_closed_stdout(st.path, ["migrate", "status", "--json"], env=st.env)
        assert_clean(res, 1)
        assert "paused" in res.stderr, res.dump()
    finally:
        docker("unpause", db[0])
    wait_for(lambda: health_status(st.inspect("postgres")) == "healthy", 120, "postgres healthy again after unpause")

    # Output first, then the failure, after the reader of stdout left.
    set_migrations_status(st, "echo one; sleep 1; echo two; exit 3")
    res = piped(st.path, "devenv migrate status | head -1", env=st.env)
    assert_clean(res, 1)
    assert res.stdout == "one\n", res.dump()
    assert "exited with code 3" in res.stderr, res.dump()
