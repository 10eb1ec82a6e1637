"""Migrations core (``devenv.core.migrations``) and ``devenv migrate`` argument parsing; no Docker.

Resolution runs on a fake ``docker compose config --format json`` document and real files in
``tmp_path``; running runs against a fake Engine API and a patched ``stack.up``. Placeholder
quoting is checked by handing the formatted commands to a real ``sh``.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devenv.cli.main import build_parser
from devenv.config import DatabaseConfig, MigrationsConfig, SeedConfig
from devenv.core import events as ev
from devenv.core import migrations as m
from devenv.core.compose.model import ComposeModel
from devenv.core.migrations.command import _Lines
from devenv.core.models import Failure, Health, ServiceStatus, UpResult
from devenv.core.secrets import Masker
from devenv.errors import (
    ConfigError,
    ExitCode,
    ServiceFailedError,
    UnknownServiceError,
    UsageError,
    WaitTimeoutError,
)


# ------------------------------------------------------------------------------------ helpers
def compose(services: Mapping[str, Mapping[str, Any]]) -> ComposeModel:
    return ComposeModel.from_json({"name": "shop", "services": {k: dict(v) for k, v in services.items()}})


def bind(source: Path, target: str) -> dict[str, Any]:
    return {"type": "bind", "source": str(source), "target": target}


def sh(command: str) -> subprocess.CompletedProcess[str]:
    """Run what the container would run (``shell_argv``) with the local sh."""
    return subprocess.run(m.shell_argv(command), capture_output=True, text=True, timeout=10, check=False)


@pytest.fixture()
def app_tree(tmp_path: Path) -> Path:
    """tmp/app holds alembic.ini (a build context), tmp/app/src is bind-mounted source."""
    app = tmp_path / "app"
    (app / "src").mkdir(parents=True)
    (app / "alembic.ini").write_text("[alembic]\n")
    return tmp_path


def alembic_model(root: Path) -> ComposeModel:
    return compose(
        {
            "db": {"image": "postgres", "healthcheck": {"test": ["CMD", "pg_isready"]}},
            "migrate": {"image": "app", "volumes": [bind(root / "app" / "src", "/srv/src")]},
            "api": {
                "image": "app",
                "build": {"context": str(root / "app")},
                "volumes": [bind(root / "app" / "src", "/srv/src")],
                "ports": [{"target": 8000, "published": "8000"}],
            },
        }
    )


# -------------------------------------------------------------------------------------- presets
def test_alembic_preset_commands(app_tree: Path) -> None:
    plan = m.plan_from_config(MigrationsConfig(tool="alembic", service="api"), alembic_model(app_tree), app_tree)
    assert plan == m.MigrationPlan(
        service="api",
        mode="exec",
        tool="alembic",
        commands=m.MigrationCommands(
            upgrade="alembic upgrade head",
            downgrade="alembic downgrade -{steps}",
            status="alembic current",
            new="alembic revision -m {message}",
        ),
    )
    assert m.command_for(plan, "upgrade") == "alembic upgrade head"
    assert m.command_for(plan, "downgrade", steps=3) == "alembic downgrade -3"
    assert m.command_for(plan, "status") == "alembic current"
    assert m.command_for(plan, "new", message="add due date") == "alembic revision -m 'add due date'"


def test_django_preset_commands(tmp_path: Path) -> None:
    model = compose({"web": {"image": "web"}})
    plan = m.plan_from_config(MigrationsConfig(tool="django", service="web"), model, tmp_path)
    assert m.command_for(plan, "upgrade") == "python manage.py migrate"
    assert m.command_for(plan, "status") == "python manage.py showmigrations"
    assert m.command_for(plan, "new", message="Add due date!") == "python manage.py makemigrations --name add_due_date"
    assert m.command_for(plan, "new", message="2nd try") == "python manage.py makemigrations --name migration_2nd_try"


def test_django_downgrade_is_a_usage_error_unless_configured(tmp_path: Path) -> None:
    model = compose({"web": {"image": "web"}})
    plan = m.plan_from_config(MigrationsConfig(tool="django", service="web"), model, tmp_path)
    with pytest.raises(UsageError) as info:
        m.command_for(plan, "downgrade", steps=1)
    assert "Django" in info.value.message
    assert info.value.hint and "[migrations] downgrade" in info.value.hint
    assert info.value.exit_code == ExitCode.USAGE

    configured = MigrationsConfig(tool="django", service="web", downgrade="python manage.py migrate shop 0001")
    plan = m.plan_from_config(configured, model, tmp_path)
    assert m.command_for(plan, "downgrade", steps=1) == "python manage.py migrate shop 0001"
    with pytest.raises(UsageError, match="no \\{steps\\} placeholder"):
        m.command_for(plan, "downgrade", steps=2)


def test_django_message_with_nothing_usable(tmp_path: Path) -> None:
    plan = m.plan_from_config(MigrationsConfig(tool="django", service="web"), compose({"web": {}}), tmp_path)
    with pytest.raises(UsageError, match="no letters or digits"):
        m.command_for(plan, "new", message="!!! ???")


@pytest.mark.parametrize("action", m.ACTIONS)
def test_custom_tool_missing_command_names_the_key(tmp_path: Path, action: str) -> None:
    commands: dict[str, Any] = {a: f"./tool {a}" for a in m.ACTIONS if a != action}
    plan = m.plan_from_config(
        MigrationsConfig(tool="custom", service="app", **commands), compose({"app": {}}), tmp_path
    )
    with pytest.raises(UsageError) as info:
        m.command_for(plan, action, steps=1, message="x")
    assert f"[migrations] {action}" in info.value.message
    assert info.value.hint and f"[migrations] {action}" in info.value.hint
    other = next(a for a in m.ACTIONS if a != action)
    assert m.command_for(plan, other, steps=1, message="x").startswith(f"./tool {other}")


def test_configured_commands_override_the_preset(app_tree: Path) -> None:
    config = MigrationsConfig(tool="alembic", service="api", upgrade="alembic -c other.ini upgrade heads")
    plan = m.plan_from_config(config, alembic_model(app_tree), app_tree)
    assert plan.commands.upgrade == "alembic -c other.ini upgrade heads"
    assert plan.commands.status == "alembic current"  # the rest still from the preset


def test_commands_get_with_default() -> None:
    commands = m.MigrationCommands(upgrade="up")
    assert commands.get("upgrade") == "up"
    assert commands.get("status") is None
    assert commands.get("status", "") == ""
    with pytest.raises(ValueError):
        commands.get("sideways")


def test_mode_comes_from_config(app_tree: Path) -> None:
    plan = m.plan_from_config(MigrationsConfig(service="api", mode="run"), alembic_model(app_tree), app_tree)
    assert plan.mode == "run"


# ------------------------------------------------------------------------------------ detection
def test_detects_alembic_and_the_service_from_a_build_context(app_tree: Path) -> None:
    plan = m.plan_from_config(MigrationsConfig(), alembic_model(app_tree), app_tree)
    assert (plan.tool, plan.service) == ("alembic", "api")
    assert plan.commands == m.PRESETS["alembic"]
    assert any("app/alembic.ini" in note and "build context" in note for note in plan.notes), plan.notes


def test_detects_django_from_a_bind_mount(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "manage.py").write_text("")
    model = compose(
        {
            "db": {"image": "postgres"},
            "web": {"image": "web", "volumes": [bind(src, "/code")]},
        }
    )
    plan = m.plan_from_config(MigrationsConfig(), model, tmp_path)
    assert (plan.tool, plan.service) == ("django", "web")
    assert plan.commands.upgrade == "python manage.py migrate"


def test_detects_a_marker_file_mounted_on_its_own(tmp_path: Path) -> None:
    ini = tmp_path / "alembic.ini"
    ini.write_text("")
    model = compose({"db": {}, "app": {"volumes": [bind(ini, "/srv/alembic.ini")]}})
    tool, service, _why = m.detect_tool_and_service(model.raw, tmp_path / "elsewhere")
    assert (tool, service) == ("alembic", "app")


def test_build_context_beats_bind_mount_and_servers_beat_one_shots(tmp_path: Path) -> None:
    (tmp_path / "manage.py").write_text("")
    both = {"build": {"context": str(tmp_path)}, "volumes": [bind(tmp_path, "/code")]}
    model = compose(
        {
            "mounted": {"volumes": [bind(tmp_path, "/code")]},
            "oneshot": both,
            "web": {**both, "ports": [{"target": 8000}]},
        }
    )
    _tool, service, _why = m.detect_tool_and_service(model.raw, tmp_path)
    assert service == "web"


def test_tool_at_the_root_only_needs_a_configured_service(tmp_path: Path) -> None:
    (tmp_path / "manage.py").write_text("")
    model = compose({"db": {"image": "postgres"}, "web": {"image": "web"}})
    with pytest.raises(ConfigError) as info:
        m.plan_from_config(MigrationsConfig(), model, tmp_path)
    assert "[migrations] service" in (info.value.hint or "")
    assert info.value.key == "migrations.service"
    plan = m.plan_from_config(MigrationsConfig(service="web"), model, tmp_path)
    assert (plan.tool, plan.service) == ("django", "web")


def test_nothing_to_detect_is_a_config_error_naming_tool(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        m.plan_from_config(MigrationsConfig(service="web"), compose({"web": {}}), tmp_path)
    assert "tool" in (info.value.hint or "")
    assert info.value.exit_code == ExitCode.USAGE


def test_configured_commands_without_tool_mean_custom(tmp_path: Path) -> None:
    plan = m.plan_from_config(MigrationsConfig(service="web", upgrade="make migrate"), compose({"web": {}}), tmp_path)
    assert plan.tool == "custom"
    assert m.command_for(plan, "upgrade") == "make migrate"


def test_configured_service_without_the_marker_still_detects_the_tool(app_tree: Path) -> None:
    plan = m.plan_from_config(MigrationsConfig(service="migrate"), alembic_model(app_tree), app_tree)
    assert (plan.tool, plan.service) == ("alembic", "migrate")


def test_unknown_service(app_tree: Path) -> None:
    with pytest.raises(UnknownServiceError) as info:
        m.plan_from_config(MigrationsConfig(service="apii"), alembic_model(app_tree), app_tree, profile="dev")
    assert '"apii"' in info.value.message
    assert 'Did you mean "api"' in info.value.message
    assert "profile dev" in info.value.message


def test_non_local_build_context_is_ignored(tmp_path: Path) -> None:
    model = compose({"api": {"build": {"context": "https://github.com/acme/app.git"}}})
    assert m.detect_tool_and_service(model.raw, tmp_path) == (None, None, "")


# --------------------------------------------------------------------------------- placeholders
def test_steps_must_be_a_positive_integer() -> None:
    for bad in (0, -1, True):
        with pytest.raises(UsageError):
            m.format_command("down -{steps}", steps=bad)
    with pytest.raises(UsageError):
        m.format_command("down -{steps}", steps="2")  # type: ignore[arg-type]
    assert m.format_command("down -{steps} && echo {steps}", steps=2) == "down -2 && echo 2"


def test_other_braces_are_left_alone() -> None:
    template = "echo ${HOME} {other} {message} | awk '{print $1}'"
    assert m.format_command(template, message="hi") == "echo ${HOME} {other} hi | awk '{print $1}'"


def test_message_without_placeholder_is_appended() -> None:
    assert m.format_command("make migration", message="add x") == "make migration 'add x'"


def test_new_needs_a_message(app_tree: Path) -> None:
    plan = m.plan_from_config(MigrationsConfig(service="api"), alembic_model(app_tree), app_tree)
    with pytest.raises(UsageError):
        m.command_for(plan, "new", message="   ")


HOSTILE = [
    'add "due" date',
    "it's; touch {marker}",
    "$(touch {marker})",
    "`touch {marker}`",
    "a && touch {marker} || touch {marker}",
    "${{HOME}} $HOME \\ \\n",
    "line one\nline two; touch {marker}",
    "'; touch {marker}; echo '",
    "-m --rm -rf / {{steps}} {{message}}",
    "",
]


@pytest.mark.parametrize("raw", HOSTILE)
def test_hostile_messages_are_one_literal_argument(tmp_path: Path, raw: str) -> None:
    marker = tmp_path / "pwned"
    message = raw.format(marker=marker)
    # A function counts the arguments it got: exactly one, equal to the message.
    command = m.format_command("f() { printf '<%s>' \"$@\"; printf '#%s' $#; }; f {message}", message=message)
    proc = sh(command)
    assert proc.returncode == 0, proc.stdout
    assert proc.stdout == f"<{message}>#1"
    assert not marker.exists(), "the message was executed"


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_characters="\x00", codec="utf-8"), max_size=60))
def test_any_message_round_trips_through_sh(message: str) -> None:
    proc = subprocess.run(
        m.shell_argv(m.format_command("printf '%s' {message}", message=message)),
        capture_output=True,
        timeout=10,
        check=False,
    )
    assert proc.returncode == 0
    assert proc.stdout == message.encode("utf-8", "surrogateescape")


def test_django_slug_of_a_hostile_message_is_safe(tmp_path: Path) -> None:
    plan = m.plan_from_config(MigrationsConfig(tool="django", service="web"), compose({"web": {}}), tmp_path)
    command = m.command_for(plan, "new", message="$(touch /tmp/x); drop 'table'")
    assert command == "python manage.py makemigrations --name touch_tmp_x_drop_table"


def test_shell_argv_merges_stderr_in_order() -> None:
    proc = sh("echo one; echo two >&2; echo three; exit 3")
    assert proc.returncode == 3
    assert proc.stdout == "one\ntwo\nthree\n"
    assert proc.stderr == ""
    assert m.shell_argv("x")[:2] == ["sh", "-c"]


# ---------------------------------------------------------------------------------------- output
def test_lines_are_reassembled_across_chunks() -> None:
    lines = _Lines()
    assert lines.feed("stdout", b"hel") == []
    assert lines.feed("stderr", b"oops\nwarn") == ["oops"]
    assert lines.feed("stdout", b"lo\nwor") == ["hello"]
    assert lines.feed("stdout", b"ld\r\n50%\r100%\n") == ["world", "100%"]
    assert lines.feed("stdout", "caf\u00e9 \xff".encode("latin-1")) == []
    assert sorted(lines.flush()) == [("stderr", "warn"), ("stdout", "caf\ufffd \ufffd")]


def test_secrets_of_the_compose_environment_are_masked() -> None:
    model = compose(
        {
            "db": {"environment": {"POSTGRES_PASSWORD": "s3cr3t-pw", "POSTGRES_USER": "app"}},
            "api": {
                "environment": {
                    "DATABASE_URL": "postgresql://app:url-pass-99@db:5432/app",
                    "API_TOKEN": "tok-123456",
                    "SHORT_KEY": "ab",
                    "LOG_LEVEL": "debug",
                }
            },
        }
    )
    mask = Masker.from_config(model.raw)
    assert mask("pw=s3cr3t-pw token=tok-123456") == f"pw={m.MASK} token={m.MASK}"
    assert mask("connecting with url-pass-99") == f"connecting with {m.MASK}"
    assert mask("postgresql://bob:other@host/db") == f"postgresql://bob:{m.MASK}@host/db"
    assert mask("user app at level debug ab") == "user app at level debug ab"


# ------------------------------------------------------------------------------ running (fakes)
@dataclass
class FakeApi:
    running: dict[str, str] = field(default_factory=lambda: {"api": "c-api"})
    chunks: list[tuple[bytes | None, bytes | None]] = field(default_factory=list)
    exit_code: int = 0
    execs: list[tuple[str, list[str], dict[str, Any]]] = field(default_factory=list)
    exec_error: Exception | None = None

    def containers(self, filters: Mapping[str, Any], **_: Any) -> list[dict[str, Any]]:
        labels = dict(item.split("=", 1) for item in filters["label"])
        service = labels["com.docker.compose.service"]
        assert filters.get("status") == "running"
        if service not in self.running:
            return []
        return [
            {"Id": "oneoff", "Labels": {"com.docker.compose.oneoff": "True"}},
            {"Id": self.running[service], "Labels": {"com.docker.compose.container-number": "1"}},
        ]

    on_start: Callable[[], None] | None = None
    wrapped: list[bool] = field(default_factory=list)

    def exec_create(self, container: str, cmd: list[str], **kwargs: Any) -> dict[str, str]:
        if self.exec_error is not None:
            raise self.exec_error
        # A stoppable exec runs under `sh -c 'echo PID; exec "$@"' sh ARGV`: record ARGV.
        wrapped = cmd[:2] == ["sh", "-c"] and 'exec "$@"' in cmd[2] and cmd[3] == "sh"
        self.wrapped.append(wrapped)
        self.execs.append((container, cmd[4:] if wrapped else cmd, kwargs))
        return {"Id": "exec-1"}

    def exec_start(self, exec_id: str, *, socket: bool) -> Any:
        """A real socket carrying the Engine's multiplexed frames (header: stream, 0, 0, 0, length)."""
        import socket as pysocket
        import struct

        assert exec_id == "exec-1" and socket
        ours, theirs = pysocket.socketpair()
        frames = [(b"@@devenv-exec-pid 42\n", None)] if self.wrapped[-1] else []
        for out, err in [*frames, *self.chunks]:
            for stream, data in ((1, out), (2, err)):
                if data:
                    theirs.sendall(struct.pack(">BxxxL", stream, len(data)) + data)
        theirs.close()
        if self.on_start is not None:
            self.on_start()
        return ours

    def exec_inspect(self, exec_id: str) -> dict[str, Any]:
        return {"ExitCode": self.exit_code, "Running": False}

    def inspect_container(self, container: str) -> dict[str, Any]:
        return {"State": {"Running": container in self.running.values()}}


@dataclass
class FakeProfile:
    name: str = "dev"
    migrations: MigrationsConfig = field(default_factory=lambda: MigrationsConfig(service="api", tool="alembic"))
    database: DatabaseConfig = field(default_factory=lambda: DatabaseConfig(service="db"))
    seed: SeedConfig = field(default_factory=SeedConfig)


@dataclass
class FakeProject:
    root: Path


class FakeStack:
    name = "shop"

    def __init__(self, root: Path, profile: FakeProfile | None = None, states: dict[str, str] | None = None) -> None:
        self.project = FakeProject(root)
        self.profile = profile or FakeProfile()
        self.api = FakeApi()
        self.model = compose(
            {
                "db": {"environment": {"POSTGRES_PASSWORD": "hunter2-pw"}},
                "api": {"environment": {"DATABASE_URL": "postgresql://app:hunter2-pw@db/app"}},
                "migrate": {},
            }
        )
        self.states = states or {"db": "healthy", "api": "running"}

    def status(self, services: list[str]) -> list[ServiceStatus]:
        out = []
        for name in services:
            state = self.states.get(name, "missing")
            health = Health.HEALTHY if state == "healthy" else Health.NONE
            docker_state = "running" if state in ("healthy", "running") else state
            ready = state in ("healthy", "running")
            out.append(ServiceStatus(name, docker_state, health, ready, None))
        return out


class UpRecorder:
    def __init__(self, stack: FakeStack, outcome: str = "ready", failures: tuple[Failure, ...] = ()) -> None:
        self.stack = stack
        self.outcome = outcome
        self.failures = failures
        self.calls: list[list[str]] = []

    def __call__(self, stack: Any, services: list[str], **kwargs: Any) -> UpResult:
        self.calls.append(list(services))
        if self.outcome == "ready":
            for s in services:
                self.stack.states[s] = "healthy"
                if s == "api":
                    self.stack.api.running["api"] = "c-api"
        return UpResult("shop", "dev", self.outcome == "ready", self.outcome, 1.0, (), self.failures)


@pytest.fixture()
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[FakeStack, UpRecorder]:
    stack = FakeStack(tmp_path)
    recorder = UpRecorder(stack)
    monkeypatch.setattr("devenv.core.stack.up", recorder)
    return stack, recorder


def test_exec_streams_lines_and_returns_the_exit_code(fake: tuple[FakeStack, UpRecorder]) -> None:
    stack, recorder = fake
    stack.api.chunks = [(b"INFO one\nINFO t", None), (b"wo\n", None), (None, b"password hunter2-pw\n"), (b"last", None)]
    stack.api.exit_code = 3
    events: list[object] = []
    result = m.migrate_up(stack, events.append)  # type: ignore[arg-type]
    assert recorder.calls == []  # everything was ready
    assert stack.api.execs == [
        (
            "c-api",
            ["sh", "-c", "exec 2>&1\nalembic upgrade head"],
            {"stdin": False, "stdout": True, "stderr": True, "environment": {}, "user": "", "workdir": None},
        )
    ]
    assert events[0] == ev.MigrationStarted("alembic upgrade head", "api", "exec")
    outputs = [e for e in events if isinstance(e, ev.MigrationOutput)]
    assert outputs == [
        ev.MigrationOutput("INFO one", "stdout"),
        ev.MigrationOutput("INFO two", "stdout"),
        ev.MigrationOutput(f"password {m.MASK}", "stderr"),
        ev.MigrationOutput("last", "stdout"),
    ]
    assert isinstance(events[-1], ev.MigrationFinished) and events[-1].exit_code == 3
    assert result.exit_code == 3 and not result.ok
    assert result.command == "alembic upgrade head" and result.service == "api" and result.action == "upgrade"
    assert result.output_tail == ("INFO one", "INFO two", f"password {m.MASK}", "last")
    assert "hunter2" not in repr(events) + repr(result)


def test_the_command_is_masked_in_events_and_results_but_runs_verbatim(fake: tuple[FakeStack, UpRecorder]) -> None:
    stack, _ = fake
    stack.profile.migrations = MigrationsConfig(
        service="api", tool="custom", upgrade="PGPASSWORD=s3cr3t-inline alembic upgrade head --token tok-0001"
    )
    stack.api.chunks = [(b"using hunter2-pw\n", None)]
    events: list[object] = []
    result = m.migrate_up(stack, events.append)  # type: ignore[arg-type]
    shown = f"PGPASSWORD={m.MASK} alembic upgrade head --token {m.MASK}"
    assert events[0] == ev.MigrationStarted(shown, "api", "exec")
    assert result.command == shown
    assert result.output_tail == (f"using {m.MASK}",)
    assert stack.api.execs[0][1][2].endswith("PGPASSWORD=s3cr3t-inline alembic upgrade head --token tok-0001")
    assert "s3cr3t" not in repr(events) + repr(result) and "tok-0001" not in repr(events) + repr(result)


def test_output_tail_keeps_the_last_20_lines(fake: tuple[FakeStack, UpRecorder]) -> None:
    stack, _ = fake
    stack.api.chunks = [("".join(f"line {i}\n" for i in range(50)).encode(), None)]
    result = m.migrate_status(stack)  # type: ignore[arg-type]
    assert result.output_tail == tuple(f"line {i}" for i in range(30, 50))
    assert result.ok


def test_down_and_new_fill_placeholders(fake: tuple[FakeStack, UpRecorder]) -> None:
    stack, _ = fake
    m.migrate_down(stack, 2)  # type: ignore[arg-type]
    m.migrate_new(stack, "x'; rm -rf /")  # type: ignore[arg-type]
    commands = [cmd[2] for _c, cmd, _k in stack.api.execs]
    assert commands == ["exec 2>&1\nalembic downgrade -2", "exec 2>&1\nalembic revision -m 'x'\"'\"'; rm -rf /'"]


def test_database_down_is_started_first(fake: tuple[FakeStack, UpRecorder]) -> None:
    stack, recorder = fake
    stack.states = {"db": "missing", "api": "running"}
    events: list[object] = []
    result = m.migrate_up(stack, events.append)  # type: ignore[arg-type]
    assert recorder.calls == [["db"]]
    waiting = [e for e in events if isinstance(e, ev.MigrationWaiting)]
    assert waiting == [ev.MigrationWaiting(("db",), "database db is not ready (missing)")]
    assert result.ok


def test_unhealthy_database_and_stopped_service_are_started(fake: tuple[FakeStack, UpRecorder]) -> None:
    stack, recorder = fake
    stack.states = {"db": "exited", "api": "exited"}
    stack.api.running.clear()
    m.migrate_up(stack)  # type: ignore[arg-type]
    assert recorder.calls == [["db", "api"]]


def test_no_database_configured_skips_the_wait(fake: tuple[FakeStack, UpRecorder]) -> None:
    stack, recorder = fake
    stack.profile.database = DatabaseConfig()
    stack.states = {"api": "running"}
    assert m.migrate_up(stack).ok  # type: ignore[arg-type]
    assert recorder.calls == []
    with pytest.raises(UnknownServiceError, match=r"\[database\] service"):
        m.migrate_up(stack, db_service="postgress")  # type: ignore[arg-type]


def test_database_failing_to_start_names_it(
    fake: tuple[FakeStack, UpRecorder], monkeypatch: pytest.MonkeyPatch
) -> None:
    stack, _ = fake
    stack.states = {"db": "missing", "api": "running"}
    failure = Failure("db", "exited with code 1", "exited", Health.NONE, 1, logs=("FATAL: bad config",))
    recorder = UpRecorder(stack, outcome="failed", failures=(failure,))
    monkeypatch.setattr("devenv.core.stack.up", recorder)
    with pytest.raises(ServiceFailedError) as info:
        m.migrate_up(stack)  # type: ignore[arg-type]
    assert "db exited with code 1" in info.value.message
    assert isinstance(info.value.result, UpResult)
    assert info.value.exit_code == ExitCode.SERVICE_FAILED
    assert stack.api.execs == []

    monkeypatch.setattr("devenv.core.stack.up", UpRecorder(stack, outcome="timeout", failures=(failure,)))
    with pytest.raises(WaitTimeoutError) as timeout:
        m.migrate_up(stack)  # type: ignore[arg-type]
    assert timeout.value.exit_code == ExitCode.TIMEOUT


def test_exec_into_a_one_shot_service_says_to_use_run(fake: tuple[FakeStack, UpRecorder]) -> None:
    stack, _ = fake
    stack.profile.migrations = MigrationsConfig(service="migrate", tool="alembic")
    stack.states["migrate"] = "running"  # running according to status, gone by the time we exec
    with pytest.raises(ServiceFailedError) as info:
        m.migrate_up(stack)  # type: ignore[arg-type]
    assert 'mode = "run"' in (info.value.hint or "")


def test_container_gone_between_list_and_exec(fake: tuple[FakeStack, UpRecorder]) -> None:
    from docker.errors import APIError

    stack, _ = fake
    stack.api.exec_error = APIError("409 Conflict", explanation="Container c-api is not running")
    with pytest.raises(ServiceFailedError) as info:
        m.migrate_up(stack)  # type: ignore[arg-type]
    assert 'mode = "run"' in (info.value.hint or "")
    stack.api.exec_error = APIError("409 Conflict", explanation="Container c-api is paused, unpause it first")
    with pytest.raises(ServiceFailedError, match="is paused"):
        m.migrate_up(stack)  # type: ignore[arg-type]


def test_container_stopping_during_the_exec_is_a_service_failure(fake: tuple[FakeStack, UpRecorder]) -> None:
    stack, _ = fake

    stack.api.chunks = [(b"INFO starting\n", None)]
    stack.api.on_start = stack.api.running.clear  # the container exits; the engine kills the exec (137)
    stack.api.exit_code = 137
    with pytest.raises(ServiceFailedError) as info:
        m.migrate_up(stack)  # type: ignore[arg-type]
    assert "service api stopped while `alembic upgrade head` ran" in info.value.message
    assert 'mode = "run"' in (info.value.hint or "")


def test_run_mode_uses_compose_run(fake: tuple[FakeStack, UpRecorder]) -> None:
    stack, recorder = fake
    stack.profile.migrations = MigrationsConfig(service="migrate", tool="alembic", mode="run")
    stack.states = {"db": "missing"}
    calls: list[tuple[Any, ...]] = []

    def run_oneoff(service: str, argv: list[str], *, name: str) -> tuple[Iterator[tuple[str, bytes]], Any, Any]:
        calls.append((service, list(argv)))
        assert name.startswith("shop-migrate-devenv-")

        def chunks() -> Iterator[tuple[str, bytes]]:
            yield "stdout", b"INFO Running upgrade\n"
            yield "stderr", b"partial"

        return chunks(), lambda: 0, lambda: None

    stack.run_oneoff = run_oneoff  # type: ignore[attr-defined]
    events: list[object] = []
    result = m.migrate_up(stack, events.append)  # type: ignore[arg-type]
    assert recorder.calls == [["db"]]  # only the database: the one-off container needs nothing running
    assert calls == [("migrate", ["sh", "-c", "exec 2>&1\nalembic upgrade head"])]
    assert result.ok and result.mode == "run"
    assert result.output_tail == ("INFO Running upgrade", "partial")
    assert ev.MigrationStarted("alembic upgrade head", "migrate", "run") in events


def test_run_mode_failure_is_a_result(fake: tuple[FakeStack, UpRecorder]) -> None:
    stack, _ = fake
    stack.profile.migrations = MigrationsConfig(service="migrate", tool="alembic", mode="run")

    def run_oneoff(service: str, argv: list[str], *, name: str) -> tuple[Iterator[tuple[str, bytes]], Any, Any]:
        return iter([("stdout", b"FAILED: boom\n")]), lambda: 2, lambda: None

    stack.run_oneoff = run_oneoff  # type: ignore[attr-defined]
    result = m.migrate_up(stack)  # type: ignore[arg-type]
    assert result.exit_code == 2
    assert result.output_tail == ("FAILED: boom",)


def test_maybe_run_on_up(fake: tuple[FakeStack, UpRecorder]) -> None:
    stack, _ = fake
    assert m.maybe_run_on_up(stack) is None  # type: ignore[arg-type]
    assert stack.api.execs == []
    stack.profile.migrations = MigrationsConfig(service="api", tool="alembic", run_on_up=True)
    result = m.maybe_run_on_up(stack)  # type: ignore[arg-type]
    assert result is not None and result.command == "alembic upgrade head"


def test_run_seed(fake: tuple[FakeStack, UpRecorder]) -> None:
    stack, _ = fake
    with pytest.raises(UsageError, match=r"\[seed\] command"):
        m.run_seed(stack)  # type: ignore[arg-type]
    stack.profile.seed = SeedConfig(command="python3 -m app.seed")  # service: the migrations service
    result = m.run_seed(stack)  # type: ignore[arg-type]
    assert (result.service, result.command, result.action, result.mode) == (
        "api",
        "python3 -m app.seed",
        "seed",
        "exec",
    )
    stack.profile.seed = SeedConfig(service="nope", command="x")
    with pytest.raises(UnknownServiceError, match=r"\[seed\] service"):
        m.run_seed(stack)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------ CLI parsing
@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["migrate"], {"migrate_action": None, "json": False, "profile": None}),
        (["migrate", "up"], {"migrate_action": "up"}),
        (["migrate", "down"], {"migrate_action": "down", "steps": 1}),
        (["migrate", "down", "3", "--json", "-p", "prod"], {"steps": 3, "json": True, "profile": "prod"}),
        (["migrate", "--json", "-p", "staging", "down", "2"], {"steps": 2, "json": True, "profile": "staging"}),
        (["migrate", "status"], {"migrate_action": "status"}),
        (["migrate", "new", "add", "due date"], {"migrate_action": "new", "message": ["add", "due date"]}),
    ],
)
def test_migrate_arguments(argv: list[str], expected: dict[str, Any]) -> None:
    args = build_parser().parse_args(argv)
    assert args.command == "migrate"
    for key, value in expected.items():
        assert getattr(args, key) == value, key


@pytest.mark.parametrize(
    "argv", [["migrate", "down", "0"], ["migrate", "down", "x"], ["migrate", "new"], ["migrate", "sideways"]]
)
def test_migrate_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args(argv)
    assert info.value.code == ExitCode.USAGE
