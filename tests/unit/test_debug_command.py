"""How a service's command starts Python, and the same command under debugpy (no Docker)."""

from __future__ import annotations

import shlex

import pytest

from devenv.core.debug.command import (
    NotPythonError,
    OwnDebugpy,
    PythonLaunch,
    Resolved,
    ShellLaunch,
    analyze,
    last_command,
    own_debugpy_port,
    parse_shebang,
    wrap,
)
from devenv.core.debug.introspect import effective_argv

LISTEN = "0.0.0.0:5678"

PROGRAMS = {
    "uvicorn": ("/usr/local/bin/uvicorn", "#!/usr/local/bin/python3.12"),
    "gunicorn": ("/app/.venv/bin/gunicorn", "#!/app/.venv/bin/python"),
    "celery": ("/usr/bin/celery", "#!/usr/bin/env python3"),
    "flask": ("/usr/local/bin/flask", "#!/usr/bin/python3 -u"),
    "docker-entrypoint.sh": ("/usr/local/bin/docker-entrypoint.sh", "#!/bin/sh"),
    "run.sh": ("/srv/run.sh", "#!/bin/bash"),
    "sleep": ("/usr/bin/sleep", "\x7fELF\x02\x01\x01"),
    "node": ("/usr/local/bin/node", "\x7fELF"),
}


def resolve(name: str) -> Resolved:
    path, first = PROGRAMS.get(name, ("", ""))
    return parse_shebang(name, path, first)


def wrapped(argv: list[str], *, wait: bool = False) -> list[str]:
    launch = analyze(argv, resolve)
    assert isinstance(launch, PythonLaunch | ShellLaunch)
    entry, command = wrap(launch, LISTEN, wait=wait)
    assert entry and command, "both halves must be non-empty to override compose and the image"
    return [*entry, *command]


DEBUGPY = ["-m", "debugpy", "--listen", LISTEN]


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["python", "-m", "app.worker"], ["python", *DEBUGPY, "-m", "app.worker"]),
        (["python3", "-u", "-m", "uvicorn", "a:b"], ["python3", "-u", *DEBUGPY, "-m", "uvicorn", "a:b"]),
        (["python3.11", "-X", "dev", "app.py", "--x"], ["python3.11", "-X", "dev", *DEBUGPY, "app.py", "--x"]),
        (["/venv/bin/python", "-mflask", "run"], ["/venv/bin/python", *DEBUGPY, "-m", "flask", "run"]),
        (["python", "-c", "import app; app.main()"], ["python", *DEBUGPY, "-c", "import app; app.main()"]),
        (["python", "manage.py", "runserver", "0:8000"], ["python", *DEBUGPY, "manage.py", "runserver", "0:8000"]),
        (
            ["uvicorn", "a:b", "--reload"],
            ["/usr/local/bin/python3.12", *DEBUGPY, "/usr/local/bin/uvicorn", "a:b", "--reload"],
        ),
        (
            ["gunicorn", "-w", "2", "a:b"],
            ["/app/.venv/bin/python", *DEBUGPY, "/app/.venv/bin/gunicorn", "-w", "2", "a:b"],
        ),
        (["celery", "-A", "proj", "worker"], ["python3", *DEBUGPY, "/usr/bin/celery", "-A", "proj", "worker"]),
        (["flask", "run"], ["/usr/bin/python3", "-u", *DEBUGPY, "/usr/local/bin/flask", "run"]),
        (["tini", "--", "python", "app.py"], ["tini", "--", "python", *DEBUGPY, "app.py"]),
        (["env", "A=1", "python", "app.py"], ["env", "A=1", "python", *DEBUGPY, "app.py"]),
        (
            ["docker-entrypoint.sh", "uvicorn", "a:b"],
            ["docker-entrypoint.sh", "/usr/local/bin/python3.12", *DEBUGPY, "/usr/local/bin/uvicorn", "a:b"],
        ),
    ],
)
def test_exec_form_commands_are_wrapped(argv: list[str], expected: list[str]) -> None:
    assert wrapped(argv) == expected


def test_wait_adds_wait_for_client() -> None:
    assert wrapped(["python", "app.py"], wait=True) == ["python", *DEBUGPY, "--wait-for-client", "app.py"]


def test_the_wrapped_target_stays_in_the_command_half() -> None:
    launch = analyze(["python3", "-m", "uvicorn", "a:b"], resolve)
    assert isinstance(launch, PythonLaunch)
    entry, command = wrap(launch, LISTEN, wait=False)
    assert entry == ["python3", *DEBUGPY]
    assert command == ["-m", "uvicorn", "a:b"]


def test_shell_form_rewrites_only_the_last_command() -> None:
    script = 'alembic upgrade head && echo "ready on $PORT" && exec python3 -u app.py --port "$PORT"'
    out = wrapped(["/bin/sh", "-c", script])
    assert out[:2] == ["/bin/sh", "-c"]
    assert out[2] == (
        'alembic upgrade head && echo "ready on $PORT" && '
        f'exec python3 -u -m debugpy --listen {LISTEN} app.py --port "$PORT"'
    )


def test_shell_form_console_script_is_resolved_and_quoted() -> None:
    out = wrapped(["sh", "-c", "cd /srv; FOO=bar uvicorn a:b --host 0.0.0.0  # serve"])
    assert out[2] == (
        "cd /srv; FOO=bar exec /usr/local/bin/python3.12 -m debugpy --listen "
        f"{LISTEN} /usr/local/bin/uvicorn a:b --host 0.0.0.0  # serve"
    )


def test_shell_form_keeps_the_trailing_arguments() -> None:
    out = wrapped(["bash", "-ec", 'exec python "$@"', "bash", "app.py"])
    assert out == ["bash", "-ec", f'exec python -m debugpy --listen {LISTEN} "$@"', "bash", "app.py"]


def test_dockerfile_shell_form_cmd_through_the_image() -> None:
    # `CMD python app.py` in a Dockerfile becomes ["/bin/sh", "-c", "python app.py"].
    argv = effective_argv({}, {"Config": {"Cmd": ["/bin/sh", "-c", "python app.py"], "Entrypoint": None}})
    assert wrapped(argv)[2] == f"exec python -m debugpy --listen {LISTEN} app.py"


@pytest.mark.parametrize(
    ("script", "last"),
    [
        ("python app.py", "python app.py"),
        ("a && b; c\n", "c"),
        ("a && python 'x;y' # comment; no", "python 'x;y'"),
        ('echo "$(date; date)" && python app.py 2>&1', "python app.py 2>&1"),
        ("a || b", "b"),
    ],
)
def test_last_command(script: str, last: str) -> None:
    start, end = last_command(script)
    assert script[start:end] == last


def test_a_pipe_or_background_job_at_the_end_is_refused() -> None:
    with pytest.raises(NotPythonError, match="pipe"):
        wrapped(["sh", "-c", "python app.py | tee log"])
    with pytest.raises(NotPythonError, match="background"):
        wrapped(["sh", "-c", "python app.py &"])


@pytest.mark.parametrize(
    ("argv", "why"),
    [
        (["sleep", "infinity"], "not a Python program"),
        (["node", "server.js"], "not a Python program"),
        (["run.sh"], "shell script"),
        (["missing-tool", "x"], "not found on its PATH"),
        (["python3"], "interactive"),
        (["python3", "-"], "standard input"),
        ([], "no command"),
        (["sh", "-c", "sleep 10"], "not Python"),
    ],
)
def test_not_python_is_refused_with_the_reason(argv: list[str], why: str) -> None:
    with pytest.raises(NotPythonError, match=why) as info:
        analyze(argv, resolve)
    assert info.value.hint and "debugpy.listen" in info.value.hint
    assert int(info.value.exit_code) == 2


def test_own_debugpy_is_detected_with_its_port() -> None:
    bundled = ["python3", "-m", "debugpy", "--listen", "0.0.0.0:5678", "-m", "uvicorn", "app.main:app", "--reload"]
    assert analyze(bundled, resolve) == OwnDebugpy(5678)
    assert own_debugpy_port(["sh", "-c", "python -m debugpy --wait-for-client --listen 5679 app.py"]) == 5679
    assert own_debugpy_port(["/venv/bin/debugpy", "--listen", "localhost:6000", "app.py"]) == 6000
    assert own_debugpy_port(["python", "-m", "uvicorn", "app:debugpy_listen"]) is None


def test_shebangs() -> None:
    assert parse_shebang("x", "/b/x", "#!/usr/bin/env python3.12").interpreter == "python3.12"
    assert parse_shebang("x", "/b/x", "#!/usr/bin/env -S python3 -u").options == ("-u",)
    assert parse_shebang("x", "/b/x", "#!/bin/sh -e").kind == "shell"
    assert parse_shebang("x", "/b/x", "#!/usr/bin/perl").kind == "binary"
    assert parse_shebang("x", "", "").kind == "missing"


@pytest.mark.parametrize(
    ("service", "image", "argv"),
    [
        ({}, {"Entrypoint": ["tini", "--"], "Cmd": ["python", "a.py"]}, ["tini", "--", "python", "a.py"]),
        (
            {"command": ["python", "b.py"]},
            {"Entrypoint": ["tini", "--"], "Cmd": ["x"]},
            ["tini", "--", "python", "b.py"],
        ),
        ({"entrypoint": ["python"]}, {"Entrypoint": ["tini"], "Cmd": ["ignored.py"]}, ["python"]),
        ({"entrypoint": ["python"], "command": ["c.py"]}, {"Cmd": ["x"]}, ["python", "c.py"]),
        ({"entrypoint": []}, {"Entrypoint": ["tini"], "Cmd": ["python", "d.py"]}, ["python", "d.py"]),
        ({"command": ["sh", "-c", "echo $$HOME"]}, {}, ["sh", "-c", "echo $HOME"]),
    ],
)
def test_effective_argv_follows_the_engine(service: dict, image: dict, argv: list[str]) -> None:
    assert effective_argv(service, {"Config": image}) == argv


def test_shell_quoting_of_resolved_paths() -> None:
    PROGRAMS["odd"] = ("/opt/my tools/odd", "#!/usr/bin/python3")
    try:
        out = wrapped(["sh", "-c", "odd --flag"])
    finally:
        del PROGRAMS["odd"]
    assert shlex.split(out[2])[-2:] == ["/opt/my tools/odd", "--flag"]


def test_debug_off_on_a_protected_profile_asks_before_recreating(monkeypatch: pytest.MonkeyPatch) -> None:
    import argparse
    from pathlib import Path
    from types import SimpleNamespace

    from devenv.cli import debug_cmds, stack_cmds
    from devenv.errors import UsageError

    calls: list[str] = []
    stack = SimpleNamespace(name="shop", profile=SimpleNamespace(name="prod"), project=SimpleNamespace(root=Path("/x")))
    monkeypatch.setattr(stack_cmds, "load_stack", lambda args, out, running=None: stack)
    monkeypatch.setattr(stack_cmds, "check_declared", lambda st, services: None)
    monkeypatch.setattr("devenv.core.debug.overlay.read_overlay", lambda root, profile: {"api": object()})
    monkeypatch.setattr("devenv.core.debug.live.service_containers", lambda st, service: [])
    monkeypatch.setattr("devenv.core.debug.enable.disable_debug", lambda *a, **k: calls.append("recreated"))

    def refuse(args: object, out: object, st: object, action: str) -> None:
        calls.append(action)
        raise UsageError("not confirmed")

    monkeypatch.setattr(stack_cmds, "confirm", refuse)
    args = argparse.Namespace(json=False, wait_timeout=60.0)
    monkeypatch.setattr(debug_cmds, "_protected", lambda a, st: True)
    with pytest.raises(UsageError):
        debug_cmds._off(args, object(), "api")  # type: ignore[arg-type]
    assert calls == ["run api without debugpy again (it is recreated)"]  # asked; nothing recreated
    calls.clear()
    monkeypatch.setattr(debug_cmds, "_protected", lambda a, st: False)
    monkeypatch.setattr(debug_cmds, "_renderer", lambda out, a: SimpleNamespace(close=lambda: None))
    out = SimpleNamespace(info=lambda *a: None, bold=str, green=str)
    assert debug_cmds._off(args, out, "api") == 0  # type: ignore[arg-type]
    assert calls == ["recreated"]  # unprotected: no question
