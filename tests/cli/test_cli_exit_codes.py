"""Exit codes and messages of the real console script on the real engine: OS errors on the
project's files, broken pipes, invalid compose YAML in ``status`` (which asks the engine first).

Hostile inputs that need no engine (unbounded timeouts, huge project names, config paths) are
tested in ``tests/unit/test_cli_no_engine.py``.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

from devenv_testlib import DEVENV, DevenvResult, Stack, base_env, docker, health_status, ok, run_devenv, wait_for


def assert_clean(res: DevenvResult, code: int) -> None:
    assert res.returncode == code, res.dump()
    assert "Traceback" not in res.stderr, res.dump()
    assert "bug in devenv" not in res.stderr, res.dump()


def project(tmp_path: Path, compose: str) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "compose.yml").write_text(compose, encoding="utf-8")
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


# ----------------------------------------------- status and invalid YAML (needs the engine: status asks it first)
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
