"""Exit codes and messages for hostile inputs, without Docker: OS errors on the user's files,
numeric timeouts, project names, invalid compose YAML in ``status``, broken pipes, config paths."""

from __future__ import annotations

import argparse
import contextlib
import errno
import io
import json
import os
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from devenv.cli import stack_cmds
from devenv.cli.main import build_parser, main
from devenv.cli.output import Output
from devenv.config import MAX_PROJECT_NAME, MAX_SECONDS, load_project
from devenv.core.compose.files import declared_services
from devenv.core.db import SnapshotInfo, SnapshotStore
from devenv.core.stack import Stack
from devenv.errors import ComposeFileError, ConfigError, ExitCode, FileAccessError, file_access_error


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DEVENV_PROFILE", "COMPOSE_PROJECT_NAME", "COMPOSE_PROFILES", "DEVENV_DEBUG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_COLOR", "1")


def write(root: Path, rel: str, text: str = "") -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def proj(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A zero-config project folder (the current folder) with one service."""
    root = tmp_path / "proj"
    write(root, "compose.yml", "services:\n  db:\n    image: postgres:16\n")
    monkeypatch.chdir(root)
    return root


def no_bug(err: str) -> None:
    assert "Traceback" not in err
    assert "bug in devenv" not in err
    assert "internal error" not in err


def run_status_with(monkeypatch: pytest.MonkeyPatch, handler: Callable[[argparse.Namespace, Output], int]) -> None:
    """Make ``devenv status`` run ``handler`` (the command's body) instead."""
    monkeypatch.setattr(stack_cmds, "cmd_status", handler)


# ----------------------------------------------------------------- 11: OS errors on the user's files
def snapshot_info(name: str = "s1") -> SnapshotInfo:
    return SnapshotInfo(
        name=name,
        profile="dev",
        engine="postgres",
        database="app",
        service="db",
        created=0.0,
        size=0,
        file=f"{name}.pgdump",
        format="pgdump",
    )


def write_snapshot(root: Path, producer: Callable[[Any], None] | None = None) -> Callable[..., int]:
    def handler(_args: argparse.Namespace, _out: Output) -> int:
        SnapshotStore(root, "dev").write(snapshot_info(), producer or (lambda out: out.write(b"dump")))
        return 0

    return handler


def test_permission_denied_on_a_user_folder_exits_1_with_path_and_reason(
    proj: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Tests run as root, which ignores permissions: the OS error is injected where mkdir raises it.
    def denied(self: Path, *args: Any, **kwargs: Any) -> None:
        raise PermissionError(errno.EACCES, "Permission denied", str(self))

    monkeypatch.setattr(Path, "mkdir", denied)
    run_status_with(monkeypatch, write_snapshot(proj))

    assert main(["status"]) == 1

    err = capsys.readouterr().err
    # The snapshot store reports it itself (state.StateDirError): the folder and the OS reason.
    assert re.search(r"Cannot create the folder \S*\.devenv: Permission denied\.", err), err
    no_bug(err)


@pytest.mark.parametrize("in_the_way", [".devenv", ".devenv/snapshots", ".devenv/snapshots/dev"])
def test_a_file_where_the_snapshots_folder_should_be_exits_1(
    proj: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], in_the_way: str
) -> None:
    write(proj, in_the_way, "not a folder\n")
    run_status_with(monkeypatch, write_snapshot(proj))

    assert main(["status"]) == 1

    err = capsys.readouterr().err
    assert f"{in_the_way}: a file stands where devenv keeps a folder." in err, err
    assert "Move or remove" in err
    no_bug(err)


def test_a_full_disk_exits_1_and_leaves_no_partial_snapshot(
    proj: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def disk_full(out: Any) -> None:
        out.write(b"first chunk")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # what write() raises: no file name

    run_status_with(monkeypatch, write_snapshot(proj, disk_full))

    assert main(["status"]) == 1

    err = capsys.readouterr().err
    # The snapshot store names the snapshot and the folder, and says nothing was saved.
    assert "No space left on device. Nothing was saved." in err, err
    assert "Free some disk space" in err
    no_bug(err)
    assert list((proj / ".devenv" / "snapshots" / "dev").iterdir()) == []


def test_a_full_disk_with_a_file_name_names_it(
    proj: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def handler(_args: argparse.Namespace, _out: Output) -> int:
        raise OSError(errno.ENOSPC, "No space left on device", str(proj / "export.sql"))

    run_status_with(monkeypatch, handler)

    assert main(["status", "--json"]) == 1

    captured = capsys.readouterr()
    assert "Cannot write export.sql: No space left on device." in captured.err
    doc = json.loads(captured.out)
    assert doc["exit_code"] == 1 and doc["error"]["kind"] == "FileAccessError"
    no_bug(captured.err)


@pytest.mark.parametrize(
    "exc",
    [
        ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"),
        BrokenPipeError(errno.EPIPE, "Broken pipe"),
        OSError("something odd"),
        ValueError("not an OS error"),
    ],
    ids=["connection", "broken-pipe", "no-errno-no-file", "value-error"],
)
def test_other_errors_are_not_file_errors(exc: BaseException) -> None:
    assert file_access_error(exc) is None


def test_file_errors_exit_1() -> None:
    error = PermissionError(errno.EACCES, "Permission denied", "/x/.devenv")
    mapped = file_access_error(error)
    assert isinstance(mapped, FileAccessError) and mapped.path == "/x/.devenv"
    assert mapped.exit_code == ExitCode.SERVICE_FAILED == 1


# ------------------------------------------------------------------------------ 11: timeouts
@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "1e308", "0", "-5", str(MAX_SECONDS + 1), "soon"])
def test_up_timeout_must_be_finite_positive_and_bounded(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["up", f"--timeout={value}"]) == 2
    err = capsys.readouterr().err
    assert "argument --timeout" in err
    assert repr(value) in err
    no_bug(err)


@pytest.mark.parametrize("value", ["-1", str(MAX_SECONDS + 1), "1e308", "inf", "2.5"])
def test_down_timeout_must_be_whole_seconds_within_a_day(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["down", "--timeout", value]) == 2
    assert "argument --timeout" in capsys.readouterr().err


def test_valid_timeouts_parse() -> None:
    parser = build_parser()
    assert parser.parse_args(["up", "--timeout", "0.5"]).timeout == 0.5
    assert parser.parse_args(["up", "--timeout", str(MAX_SECONDS)]).timeout == MAX_SECONDS
    assert parser.parse_args(["down", "--timeout", "0"]).timeout == 0  # kill at once, as `compose down -t 0`
    assert parser.parse_args(["down", "--timeout", "30"]).timeout == 30


def test_a_huge_timeout_argument_is_not_echoed_in_full(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["up", "--timeout", "9" * 100_000]) == 2
    assert len(capsys.readouterr().err) < 1000


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        ("[readiness]\ntimeout = 1e308\n", "readiness.timeout"),
        (f"[readiness]\ntimeout = {MAX_SECONDS + 1}\n", "readiness.timeout"),
        ("[readiness]\ntimeout = inf\n", "readiness.timeout"),
        ("[readiness]\nsettle = 1e300\n", "readiness.settle"),
        ('[probes.db]\ncmd = "true"\ninterval = 1e308\n', "probes.db.interval"),
        ('[probes.db]\ncmd = "true"\ntimeout = 1e10\n', "probes.db.timeout"),
        ("[profiles.dev.readiness]\ntimeout = 1e308\n", "profiles.dev.readiness.timeout"),
    ],
)
def test_config_seconds_are_bounded(
    proj: Path, toml: str, key: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write(proj, "devenv.toml", f'[project]\nname = "shop"\n{toml}')
    with pytest.raises(ConfigError) as info:
        load_project(proj, environ={})
    assert info.value.key == key
    assert key in info.value.message
    assert "must be" in info.value.message
    assert main(["status"]) == 2
    err = capsys.readouterr().err
    assert key in err
    no_bug(err)


def test_config_seconds_at_the_bound_are_fine(proj: Path) -> None:
    write(proj, "devenv.toml", f'[project]\nname = "shop"\n[readiness]\ntimeout = {MAX_SECONDS}\n')
    assert load_project(proj, environ={}).profiles["default"].readiness.timeout == MAX_SECONDS


# --------------------------------------------------------------------------- 11: project names
def test_a_huge_project_name_in_devenv_toml_is_a_config_error(proj: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(proj, "devenv.toml", f'[project]\nname = "{"a" * 1_000_000}"\n')
    assert main(["status"]) == 2
    err = capsys.readouterr().err
    assert "project.name" in err and f"at most {MAX_PROJECT_NAME}" in err and "1000000 characters" in err
    assert len(err) < 1000
    no_bug(err)


def test_a_huge_compose_project_name_is_a_config_error(
    proj: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COMPOSE_PROJECT_NAME", "b" * 100_000)
    assert main(["status"]) == 2
    err = capsys.readouterr().err
    assert "COMPOSE_PROJECT_NAME" in err and f"at most {MAX_PROJECT_NAME}" in err
    assert len(err) < 1000
    no_bug(err)


def test_a_too_long_derived_project_name_is_a_config_error(tmp_path: Path) -> None:
    root = tmp_path / ("x" * (MAX_PROJECT_NAME + 1))
    write(root, "compose.yml", "services: {}\n")
    with pytest.raises(ConfigError, match="name: or the folder name"):
        load_project(root, environ={})
    write(root, "devenv.toml", "[project]\n")
    with pytest.raises(ConfigError, match=r'Set a shorter name = "\.\.\."'):
        load_project(root, environ={})


def test_project_names_up_to_the_limit_are_fine(proj: Path) -> None:
    write(proj, "devenv.toml", f'[project]\nname = "{"a" * MAX_PROJECT_NAME}"\n')
    assert load_project(proj, environ={}).name == "a" * MAX_PROJECT_NAME
    assert load_project(proj.parent / "proj", environ={}).name == "a" * MAX_PROJECT_NAME


# ------------------------------------------------------------------ 12: status and invalid compose YAML
class NoEngine:
    """A reader that fails the test if the engine is asked anything."""

    def containers(self, **_kwargs: Any) -> list[Any]:
        raise AssertionError("the engine was asked before the compose files were checked")


def core_stack(root: Path) -> Stack:
    project = load_project(root, environ={})
    stack = Stack(project, project.resolve_profile(None, environ={}))
    stack._reader = NoEngine()
    return stack


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("services:\n  x: [unclosed\n", 3, "while parsing a flow sequence on line 2\n    2 |   x: [unclosed"),
        ("services:\n  a: {image: x}\n   b: 1\n", 3, "    3 |    b: 1"),
        ("services:\n  a:\n\timage: x\n", 3, "cannot start any token (column 1)"),
    ],
    ids=["unclosed", "indentation", "tab"],
)
def test_status_reports_invalid_yaml_with_file_and_line(proj: Path, text: str, line: int, fragment: str) -> None:
    write(proj, "compose.yml", text)
    with pytest.raises(ComposeFileError) as info:
        core_stack(proj).status()
    error = info.value
    assert error.exit_code == ExitCode.USAGE
    assert error.message.startswith(f"invalid compose file compose.yml:{line}: invalid YAML: ")
    assert fragment in error.message
    assert error.path == str(proj / "compose.yml") and error.line == line


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("- just\n- a list\n", "the top level must be a mapping"),
        ("services: [a, b]\n", "services must be a mapping"),
        ("", "the file is empty"),
    ],
)
def test_status_reports_compose_files_compose_rejects(proj: Path, text: str, fragment: str) -> None:
    write(proj, "compose.yml", text)
    with pytest.raises(ComposeFileError, match=fragment):
        core_stack(proj).status()


def test_status_reports_a_broken_overlay_by_its_name(tmp_path: Path) -> None:
    root = tmp_path / "p"
    write(root, "compose.yml", "services:\n  db:\n    image: postgres\n")
    write(root, "compose.dev.yml", "services:\n  db: [\n")
    project = load_project(root, environ={})
    stack = Stack(project, project.profiles["dev"])
    stack._reader = NoEngine()
    with pytest.raises(ComposeFileError, match=r"^invalid compose file compose\.dev\.yml:3: "):
        stack.status()


def test_status_reads_compose_tags_and_non_utf8_is_an_error(proj: Path) -> None:
    write(proj, "compose.yml", "services:\n  db:\n    image: x\n    ports: !reset []\n  api: !override\n    image: y\n")
    assert declared_services([proj / "compose.yml"], strict=True) == ["db", "api"]
    (proj / "compose.yml").write_bytes(b"services:\n  caf\xe9: {}\n")
    with pytest.raises(ComposeFileError, match=r"compose\.yml:2: not valid UTF-8"):
        declared_services([proj / "compose.yml"], strict=True, root=proj)


def test_status_command_exits_2_on_invalid_yaml(proj: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(proj, "compose.yml", "services:\n  x: [unclosed\n")
    assert main(["status"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "devenv: error: invalid compose file compose.yml:3: invalid YAML" in captured.err
    no_bug(captured.err)


# ---------------------------------------------------------------------------------- 14: broken pipes
@contextlib.contextmanager
def closed_stdout() -> Iterator[None]:
    """sys.stdout is a pipe whose reader already left (`devenv ... | head -0`).

    Used inside the test body: pytest's own capture sets sys.stdout again when a test starts.
    """
    read_fd, write_fd = os.pipe()
    os.close(read_fd)
    stream = io.TextIOWrapper(io.FileIO(write_fd, "w"), encoding="utf-8")
    saved = sys.stdout
    sys.stdout = stream
    try:
        yield
    finally:
        sys.stdout = saved
        with contextlib.suppress(BrokenPipeError):
            stream.close()


def test_a_closed_stdout_does_not_hide_a_failure(proj: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def migrate_like(_args: argparse.Namespace, out: Output) -> int:
        out.print("INFO  [alembic.runtime.migration] Context impl PostgresqlImpl.")
        out.print("more output")
        return int(ExitCode.SERVICE_FAILED)  # the command itself failed after printing

    run_status_with(monkeypatch, migrate_like)
    with closed_stdout():
        assert main(["status"]) == 1


def test_a_closed_stdout_keeps_the_error_of_a_json_document(
    proj: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from devenv.errors import WaitTimeoutError

    def fails(_args: argparse.Namespace, out: Output) -> int:
        raise WaitTimeoutError("timed out waiting for db")

    run_status_with(monkeypatch, fails)
    with closed_stdout():
        assert main(["status", "--json"]) == 124
    assert "timed out waiting for db" in capsys.readouterr().err


def test_a_command_stopped_by_its_reader_is_fine(proj: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def logs_like(_args: argparse.Namespace, out: Output) -> int:
        while True:  # writes straight to stdout, as `devenv logs` does, until the reader leaves
            out.out.write("line\n")
            out.out.flush()

    run_status_with(monkeypatch, logs_like)
    with closed_stdout():
        assert main(["status"]) == 0


def test_a_broken_pipe_to_a_child_process_is_a_failure(
    proj: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def child_died(_args: argparse.Namespace, _out: Output) -> int:
        raise BrokenPipeError(errno.EPIPE, "Broken pipe")

    run_status_with(monkeypatch, child_died)
    assert main(["status"]) == 1
    err = capsys.readouterr().err
    assert "A pipe to another process closed early (Broken pipe)" in err
    no_bug(err)


def test_output_discards_a_closed_stderr_too(monkeypatch: pytest.MonkeyPatch) -> None:
    read_fd, write_fd = os.pipe()
    os.close(read_fd)
    err = io.TextIOWrapper(io.FileIO(write_fd, "w"), encoding="utf-8")
    out = Output(color=False)
    out.err = err
    out.info("progress")
    out.info("more progress")
    assert out.stderr_closed
    err.close()  # fd now points at /dev/null: closing flushes without error


# ---------------------------------------------------------------------------------- a missing -C
def test_a_project_dir_that_does_not_exist_is_a_usage_error(proj: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Discovery used to walk up from the missing folder and run against the project above it.
    assert main(["-C", str(proj / "typo"), "status"]) == 2
    err = capsys.readouterr().err
    assert f"{proj / 'typo'} does not exist" in err
    no_bug(err)


# ------------------------------------------------------------------------- 18: config paths once
def test_config_errors_name_their_file_once(proj: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(proj, "devenv.toml", '[project]\nnmae = "x"\n')
    assert main(["status"]) == 2
    first = capsys.readouterr().err.splitlines()[0]
    assert first.startswith('devenv: error: devenv.toml: unknown key "project.nmae"'), first
    assert first.count("devenv.toml") == 1, first
    assert str(proj) not in first


def test_output_error_does_not_repeat_a_path_the_message_names() -> None:
    out = Output(color=False)
    out.err = io.StringIO()
    out.error(ConfigError("profiles/dev.toml: bad key", path="/abs/proj/profiles/dev.toml"))
    assert out.err.getvalue() == "devenv: error: profiles/dev.toml: bad key\n"


# --------------------------------------------------------------- 18: files outside the project root
@pytest.fixture
def monorepo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "repo" / "services" / "shop"
    write(tmp_path / "repo", "shared/compose.yml", "services:\n  db:\n    image: postgres\n")
    write(tmp_path / "repo", "shared/.env", "A=1\n")
    write(root, "compose.dev.yml", "services:\n  db:\n    ports: ['5432:5432']\n")
    write(
        root,
        "devenv.toml",
        '[project]\nname = "shop"\ncompose_files = ["../../shared/compose.yml"]\n',
    )
    write(root, "profiles/dev.toml", 'compose_files = ["compose.dev.yml"]\nenv_files = ["../../shared/.env"]\n')
    write(root, "profiles/ci.toml", 'env_files = ["../../shared/.env"]\n')
    monkeypatch.chdir(root)
    return root


def test_files_outside_the_project_root_warn_once(monorepo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["profiles"]) == 0
    err = capsys.readouterr().err
    warnings = [line for line in err.splitlines() if line.startswith("devenv: warning: ")]
    assert warnings == [
        f"devenv: warning: compose file ../../shared/compose.yml ({monorepo.parent.parent / 'shared/compose.yml'}) "
        f"is outside the project root {monorepo}; the project folder alone does not describe the stack.",
        f"devenv: warning: env file ../../shared/.env ({monorepo.parent.parent / 'shared/.env'}) "
        f"is outside the project root {monorepo}; the project folder alone does not describe the stack.",
    ]


def test_outside_root_warnings_stay_off_json_stdout(monorepo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["profiles", "--json"]) == 0
    captured = capsys.readouterr()
    json.loads(captured.out)
    assert "devenv: warning" not in captured.out
    assert captured.err.count("devenv: warning: ") == 2


def test_outside_root_warnings_only_for_the_profile_in_use(monorepo: Path) -> None:
    project = load_project(monorepo, environ={})
    assert [kind for kind, _ in project.files_outside_root(project.profiles["default"])] == ["compose file"]
    assert [kind for kind, _ in project.files_outside_root(project.profiles["dev"])] == ["compose file", "env file"]


def test_files_inside_the_root_do_not_warn(proj: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(proj, "devenv.toml", '[project]\nname = "shop"\ncompose_files = ["./sub/../compose.yml"]\n')
    assert main(["profiles"]) == 0
    assert "warning" not in capsys.readouterr().err
