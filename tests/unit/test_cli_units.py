"""CLI pieces that need no Docker: secret masking, confirmation, summaries, progress lines, main()."""

from __future__ import annotations

import copy
import io
import json
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from devenv import __version__
from devenv.cli.main import main
from devenv.cli.output import Output
from devenv.cli.stack_cmds import OUTCOME_EXIT, UpRenderer, summary
from devenv.config import COMPOSE_FILE_NAMES, CONFIG_FILE_NAME
from devenv.core.events import ComposeOutput, Event, ServiceChanged, ServiceReady, StepStarted, WaitFinished
from devenv.core.models import Failure, Health, PortBinding, Readiness, ServiceStatus, UpResult
from devenv.core.safety import confirm_destructive
from devenv.core.secrets import MASK
from devenv.core.secrets import mask_config as mask_secrets
from devenv.errors import (
    ComposeCommandError,
    ComposeFileError,
    ComposeMissingError,
    ConfigError,
    ConfirmationRequired,
    DevenvError,
    DockerUnavailableError,
    ExitCode,
    ServiceFailedError,
    UnknownProfileError,
    UnknownServiceError,
    UsageError,
    WaitInterrupted,
    WaitTimeoutError,
)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DEVENV_PROFILE", "COMPOSE_PROJECT_NAME", "COMPOSE_PROFILES", "DEVENV_DEBUG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_COLOR", "1")


# -------------------------------------------------------------------------------- mask_secrets
def test_mask_secrets_env_dict_keys() -> None:
    env = {
        "POSTGRES_PASSWORD": "hunter2",
        "API_KEY": "k-123",
        "SECRET_TOKEN": "t-456",
        "AWS_SECRET_ACCESS_KEY": "aws",
        "STRIPE_APIKEY": "sk",
        "SSH_PRIVATE_KEY": "-----BEGIN",
        "SIGNING_KEY": "sig",
        "DB_PASSWD": "pw",
        "GOOGLE_CREDENTIALS": "{}",
        "POSTGRES_USER": "app",
        "POSTGRES_DB": "shop",
        "DEBUG": "1",
        "KEYBOARD_LAYOUT": "us",
    }
    assert mask_secrets(env) == {
        "POSTGRES_PASSWORD": MASK,
        "API_KEY": MASK,
        "SECRET_TOKEN": MASK,
        "AWS_SECRET_ACCESS_KEY": MASK,
        "STRIPE_APIKEY": MASK,
        "SSH_PRIVATE_KEY": MASK,
        "SIGNING_KEY": MASK,
        "DB_PASSWD": MASK,
        "GOOGLE_CREDENTIALS": MASK,
        "POSTGRES_USER": "app",
        "POSTGRES_DB": "shop",
        "DEBUG": "1",
        "KEYBOARD_LAYOUT": "us",
    }
    assert MASK == "********"


def test_mask_secrets_keys_are_case_insensitive_and_empty_values_stay() -> None:
    assert mask_secrets({"db_password": "x", "EMPTY_PASSWORD": "", "API_KEY": None}) == {
        "db_password": MASK,
        "EMPTY_PASSWORD": "",
        "API_KEY": None,
    }


def test_mask_secrets_list_form() -> None:
    env = ["DB_PASSWORD=x", "API_KEY=a=b", "DEBUG=1", "EMPTY_TOKEN=", "JUST_A_NAME"]
    assert mask_secrets({"environment": env}) == {
        "environment": [f"DB_PASSWORD={MASK}", f"API_KEY={MASK}", "DEBUG=1", "EMPTY_TOKEN=", "JUST_A_NAME"]
    }
    assert mask_secrets(["NPM_TOKEN=abc"]) == [f"NPM_TOKEN={MASK}"]


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("postgresql://u:p@h/db", "postgresql://u:********@h/db"),
        (
            "postgresql+psycopg://app:s3cr3t@db:5432/shop?sslmode=disable",
            "postgresql+psycopg://app:********@db:5432/shop?sslmode=disable",
        ),
        # The password is a known secret value, so it is masked where it is also the user name.
        ("amqp://guest:guest@rabbit:5672/", "amqp://********:********@rabbit:5672/"),
        ("redis://redis:6379/0", "redis://redis:6379/0"),
        ("http://example.com:8080/path", "http://example.com:8080/path"),
        ("a=postgresql://u:p@h/db and mysql://r:q@m/x", "a=postgresql://u:********@h/db and mysql://r:********@m/x"),
    ],
)
def test_mask_secrets_url_passwords(url: str, masked: str) -> None:
    assert mask_secrets({"DATABASE_URL": url}) == {"DATABASE_URL": masked}


def test_mask_secrets_url_password_with_empty_user() -> None:
    assert mask_secrets({"REDIS_URL": "redis://:s3cret@redis:6379/0"}) == {
        "REDIS_URL": "redis://:********@redis:6379/0"
    }


def test_mask_secrets_nested_compose_config() -> None:
    config: dict[str, Any] = {
        "name": "shop",
        "services": {
            "db": {
                "image": "postgres:16",
                "environment": {"POSTGRES_PASSWORD": "hunter2", "POSTGRES_USER": "app"},
                "ports": [{"target": 5432, "published": "5432"}],
                "healthcheck": {"test": ["CMD-SHELL", "pg_isready -U app"], "retries": 30},
            },
            "api": {
                "build": {"context": ".", "args": {"NPM_TOKEN": "npm_abc", "NODE_ENV": "dev"}},
                "environment": {"DATABASE_URL": "postgresql://app:hunter2@db/shop", "PORT": "8000"},
                "command": ["uvicorn", "app:app"],
                "secrets": [{"source": "stripe_key", "target": "stripe_key"}],
            },
        },
        "secrets": {"stripe_key": {"file": "./secrets/stripe.txt"}},
        "x-meta": [{"token": "tok"}, 3, True, None],
    }
    original = copy.deepcopy(config)
    masked = mask_secrets(config)
    assert config == original  # input untouched
    assert masked["services"]["db"]["environment"] == {"POSTGRES_PASSWORD": MASK, "POSTGRES_USER": "app"}
    assert masked["services"]["api"]["build"]["args"] == {"NPM_TOKEN": MASK, "NODE_ENV": "dev"}
    assert masked["services"]["api"]["environment"] == {
        "DATABASE_URL": "postgresql://app:********@db/shop",
        "PORT": "8000",
    }
    assert masked["x-meta"] == [{"token": MASK}, 3, True, None]
    # What is not secret comes through unchanged.
    assert masked["services"]["db"]["ports"] == original["services"]["db"]["ports"]
    assert masked["services"]["db"]["healthcheck"] == original["services"]["db"]["healthcheck"]
    assert masked["services"]["api"]["command"] == ["uvicorn", "app:app"]
    assert masked["services"]["api"]["secrets"] == original["services"]["api"]["secrets"]
    assert masked["secrets"] == original["secrets"]
    assert "hunter2" not in json.dumps(masked) and "npm_abc" not in json.dumps(masked)


# -------------------------------------------------------------------------- confirm_destructive
def test_confirm_unprotected_needs_nothing() -> None:
    confirm_destructive("dev", False, "remove volumes")  # returns: allowed

    def never(_prompt: str) -> str:
        raise AssertionError("must not ask")

    confirm_destructive("dev", False, "remove volumes", ask=never)


def test_confirm_protected_without_flags_refuses() -> None:
    with pytest.raises(ConfirmationRequired) as info:
        confirm_destructive("prod", True, "remove volumes")
    err = info.value
    assert err.exit_code is ExitCode.USAGE
    assert int(err.exit_code) == 2
    assert 'protected profile "prod"' in err.message and "Nothing was changed" in err.message
    assert err.hint == "In a script, pass: --yes --confirm-profile prod"


def test_confirm_yes_alone_is_not_enough() -> None:
    with pytest.raises(ConfirmationRequired, match="without confirmation"):
        confirm_destructive("prod", True, "remove volumes", yes=True)


def test_confirm_yes_with_matching_profile_passes() -> None:
    def never(_prompt: str) -> str:
        raise AssertionError("must not ask")

    confirm_destructive("prod", True, "remove volumes", yes=True, confirm_profile="prod", ask=never)


def test_confirm_yes_with_mismatching_profile_refuses() -> None:
    with pytest.raises(ConfirmationRequired) as info:
        confirm_destructive("prod", True, "remove volumes", yes=True, confirm_profile="staging")
    assert info.value.message == (
        'Refusing to remove volumes: --confirm-profile "staging" does not match the protected profile "prod". '
        "Nothing was changed."
    )
    assert info.value.exit_code == 2


def test_confirm_interactive_matching_answer_passes() -> None:
    prompts: list[str] = []

    def ask(prompt: str) -> str:
        prompts.append(prompt)
        return "  prod\n"

    confirm_destructive("prod", True, "remove volumes", ask=ask)  # returns: allowed
    assert prompts == ['Profile "prod" is protected. Type its name to remove volumes: ']


@pytest.mark.parametrize("answer", ["", "y", "yes", "Prod", "staging\n"])
def test_confirm_interactive_mismatching_answer_refuses(answer: str) -> None:
    with pytest.raises(ConfirmationRequired, match="confirmation did not match") as info:
        confirm_destructive("prod", True, "remove volumes", ask=lambda _p: answer)
    assert info.value.exit_code == 2


# ------------------------------------------------------------------------------------ summary
def status(service: str, ready: bool = True, state: str = "running") -> ServiceStatus:
    return ServiceStatus(service, state, Health.NONE, ready, None)


def failure(service: str, reason: str, blocked_on: tuple[str, ...] = ()) -> Failure:
    return Failure(service, reason, "running", Health.NONE, None, blocked_on=blocked_on)


def result(outcome: str, elapsed: float, services: list[ServiceStatus], failures: list[Failure]) -> UpResult:
    return UpResult("shop", "dev", outcome == "ready", outcome, elapsed, tuple(services), tuple(failures))


def test_summary_ready() -> None:
    r = result("ready", 4.31, [status("db"), status("api"), status("web")], [])
    assert summary(r) == "all 3 services ready in 4.3s"


def test_summary_failed() -> None:
    r = result(
        "failed",
        2.0,
        [status("db", False), status("api", False)],
        [failure("db", "is unhealthy"), failure("api", "exited with code 3")],
    )
    assert summary(r) == "service failed: db (is unhealthy), api (exited with code 3)"


def test_summary_timeout() -> None:
    r = result(
        "timeout",
        30.4,
        [status("db", False), status("api", False, "created")],
        [failure("db", "timed out: health: starting"), failure("api", "timed out: never started", ("db",))],
    )
    assert summary(r) == "timed out after 30s waiting for: db, api"


def test_summary_interrupted() -> None:
    r = result("interrupted", 1.0, [status("db"), status("api", False)], [])
    assert summary(r) == "stopped waiting (interrupted); not ready yet: api"
    r = result("interrupted", 1.0, [status("db")], [])
    assert summary(r) == "stopped waiting (interrupted); not ready yet: none"


def test_outcome_exit_codes() -> None:
    assert {k: int(v) for k, v in OUTCOME_EXIT.items()} == {"ready": 0, "failed": 1, "timeout": 124, "interrupted": 130}


# --------------------------------------------------------------------------------- UpRenderer
def plain_output() -> tuple[Output, io.StringIO, io.StringIO]:
    out = Output(color=False)
    stdout, stderr = io.StringIO(), io.StringIO()
    out.out, out.err = stdout, stderr
    return out, stdout, stderr


def changed(
    service: str, readiness: Readiness, state: str, health: Health = Health.NONE, note: str = "", detail: str = ""
) -> ServiceChanged:
    st = ServiceStatus(service, state, health, readiness == Readiness.READY, None, detail=detail)
    return ServiceChanged(st, readiness, 0.5, note=note)


def test_up_renderer_non_live_writes_one_line_per_change() -> None:
    out, stdout, stderr = plain_output()
    renderer = UpRenderer(out, live=False)
    events: list[Event] = [
        StepStarted("config", "dev"),
        StepStarted("create", "creating"),
        ComposeOutput("Container shop-db-1  Created"),
        StepStarted("wait", "db, api"),
        changed("db", Readiness.PENDING, "created"),
        changed("api", Readiness.PENDING, "created", note="waiting for db (healthy)"),
        changed("db", Readiness.WAITING, "running", Health.STARTING, note="health: starting"),
        changed("db", Readiness.READY, "running", Health.HEALTHY, detail="healthy"),
        ServiceReady("db", "healthy", 1.0),
        changed("api", Readiness.FAILED, "exited", note="exited with code 3"),
        WaitFinished(False, 2.0, "failed"),
    ]
    for e in events:
        renderer(e)
    renderer.close()

    assert stdout.getvalue() == ""
    text = stderr.getvalue()
    assert "\x1b" not in text  # no cursor movement, no color
    lines = text.splitlines()
    assert len(lines) == 8  # create, compose, wait, and five ServiceChanged; nothing else
    stamp = r"\[\s*\d+\.\d\ds\] "
    assert re.fullmatch(stamp + "create: creating", lines[0])
    assert lines[1] == "  compose: Container shop-db-1  Created"
    assert re.fullmatch(stamp + "wait: db, api", lines[2])
    rows = [re.sub("^" + stamp, "", line) for line in lines[3:]]
    assert all(re.match(stamp, line) for line in lines[3:])
    assert [r.split()[:2] for r in rows] == [["·", "db"], ["·", "api"], ["…", "db"], ["✔", "db"], ["✘", "api"]]
    assert rows[1].endswith("created                     waiting for db (healthy)")
    assert rows[2] == "… db           running   health: starting  health: starting"
    assert rows[3] == "✔ db           running   health: healthy   healthy"
    assert rows[4] == "✘ api          exited                      exited with code 3"


def test_up_renderer_non_live_starts_no_ticker() -> None:
    out, _, _ = plain_output()
    renderer = UpRenderer(out, live=False)
    renderer(StepStarted("wait", "db"))
    assert renderer.ticker is None
    renderer.close()


# --------------------------------------------------------------------------------------- main
def test_main_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"devenv {__version__}"


def test_main_without_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: devenv")
    for word in ("up", "status", "logs", "down", "profiles", "config", "exit codes:", "124"):
        assert word in out


def test_main_unknown_option_is_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["up", "--bogus"]) == 2
    err = capsys.readouterr().err
    assert "devenv: error: unrecognized arguments: --bogus" in err


def test_main_unknown_command_is_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["frobnicate"]) == 2
    assert "invalid choice: 'frobnicate'" in capsys.readouterr().err


def _no_project_above(folder: Path) -> bool:
    for d in [folder, *folder.parents]:
        if (d / CONFIG_FILE_NAME).exists() or any((d / n).exists() for n in COMPOSE_FILE_NAMES):
            return False
    return True


def test_main_profiles_without_compose_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    if not _no_project_above(empty):
        pytest.skip("a parent folder of the temporary directory holds a compose file or devenv.toml")
    monkeypatch.chdir(empty)

    assert main(["profiles"]) == 2

    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("devenv: error: no devenv.toml or compose file (compose.yaml, compose.yml, ")
    assert str(empty) in captured.err
    assert "run it inside a folder that has a compose file" in captured.err
    assert "Traceback" not in captured.err


def test_main_profiles_json_in_zero_config_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "My Shop"
    root.mkdir()
    (root / "compose.yml").write_text("services:\n  db:\n    image: postgres:16\n", encoding="utf-8")
    (root / "compose.prod.yml").write_text("services:\n  db:\n    restart: always\n", encoding="utf-8")
    monkeypatch.chdir(root)

    assert main(["profiles", "--json"]) == 0

    doc = json.loads(capsys.readouterr().out)
    assert doc["project"] == "myshop"
    assert [(p["name"], p["protected"]) for p in doc["profiles"]] == [("default", False), ("prod", True)]
    assert doc["default"] == "default"


def test_main_unknown_profile_is_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "compose.yml").write_text("services:\n  db:\n    image: postgres:16\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)

    assert main(["status", "--profile", "defualt"]) == 2

    err = capsys.readouterr().err
    assert "unknown profile" in err and "defualt" in err and "default" in err


def test_main_json_error_document_has_the_documented_shape(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "devenv.toml").write_text('[project]\nname = "shop"\n', encoding="utf-8")
    (tmp_path / "compose.yml").write_text("services:\n  db:\n    image: postgres:16\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)

    assert main(["status", "--json", "--profile", "nope"]) == 2

    doc = json.loads(capsys.readouterr().out)
    assert doc["project"] == "shop"
    assert doc["profile"] == "nope"
    assert doc["ok"] is False and doc["exit_code"] == 2 and doc["services"] == []
    assert doc["error"]["kind"] == "UnknownProfileError"
    assert "nope" in doc["error"]["message"]


@pytest.mark.parametrize(
    "stderr",
    [
        "validating /p/compose.yml: services.app additional properties 'bogus_option' not allowed",
        "yaml: line 2: did not find expected ',' or ']'",
        "error while interpolating services.app.ports.[]: required variable PORT is missing a value",
        'service "app" depends on undefined service "db": invalid compose project',
    ],
)
def test_compose_file_errors_map_to_exit_2_for_every_command(stderr: str) -> None:
    from devenv.core.stack import Stack
    from devenv.errors import ComposeFileError

    stack = Stack.__new__(Stack)
    stack.profile = cast(Any, SimpleNamespace(name="dev", compose_files=[]))
    stack.project = cast(Any, SimpleNamespace(root=Path("/p")))
    stack.compose_args = lambda: ["docker", "compose"]  # type: ignore[method-assign]
    for what in ("config", "down", "up"):
        err = stack.map_compose_error(what, ["docker", "compose", what], stderr)
        assert isinstance(err, ComposeFileError), (what, err)
        assert int(err.exit_code) == 2
    runtime = stack.map_compose_error("down", ["docker", "compose", "down"], "Error response from daemon: boom")
    assert not isinstance(runtime, ComposeFileError)


def _bare_stack(model: Any = None) -> Any:
    from devenv.core.stack import Stack

    stack = Stack.__new__(Stack)
    stack.profile = cast(Any, SimpleNamespace(name="dev", compose_files=[]))
    stack.project = cast(Any, SimpleNamespace(root=Path("/p")))
    stack.compose_args = lambda: ["docker", "compose"]  # type: ignore[method-assign]
    if model is not None:
        stack.__dict__["model"] = model
    return stack


PULL_OUTPUT = """\
 db Pulling
 web Pulling
 web Error Get "https://registry.example/v2/": dial tcp: lookup registry.example: no such host
 db Error pull access denied for team/db, repository does not exist or may require 'docker login'
 cache  Interrupted
Error response from daemon: pull access denied for team/db, repository does not exist
"""


def test_pull_failures_are_read_per_service() -> None:
    from devenv.core.compose.runner import pull_failures

    failures = pull_failures(PULL_OUTPUT)
    assert set(failures) == {"web", "db"}
    assert failures["web"].startswith('Get "https://registry.example/v2/"')
    # An "Error" line of a service that was not pulling (e.g. a container error) is not a pull failure.
    assert pull_failures(" app Error something else\nError response from daemon: x") == {}


@pytest.mark.parametrize(
    ("reason", "cause"),
    [
        ('Get "https://r/v2/": dial tcp: lookup r: no such host', "cannot be reached"),
        ('Get "http://127.0.0.1:1/v2/": dial tcp 127.0.0.1:1: connect: connection refused', "cannot be reached"),
        ("pull access denied for x, repository does not exist or may require 'docker login'", "docker login"),
        ("manifest for team/db:9 not found: manifest unknown", "does not exist in the registry"),
        ("toomanyrequests: rate limit", "refused the pull"),
    ],
)
def test_pull_failure_causes(reason: str, cause: str) -> None:
    from devenv.core.compose.model import ComposeModel

    model = ComposeModel.from_json({"services": {"web": {"image": "registry.example/team/web:2"}}})
    text = f" web Pulling\n web Error {reason}\nError response from daemon: {reason}\n"
    err = _bare_stack(model).map_compose_error("create", ["docker", "compose", "up"], text, streamed=True)
    assert isinstance(err, ComposeCommandError) and int(err.exit_code) == 1
    assert err.message.startswith("Could not pull the image of web (registry.example/team/web:2): ")
    assert cause in err.message and reason in err.message
    assert err.hint and "docker login" in err.hint


def test_streamed_compose_failure_keeps_only_its_conclusion() -> None:
    text = "#5 [app 2/2] RUN make\n#5 0.2 compiling\nfailed to solve: process did not complete: exit code: 2\n"
    err = _bare_stack().map_compose_error("create", ["docker", "compose", "up"], text, streamed=True)
    assert isinstance(err, ComposeCommandError)
    assert err.message == (
        "`docker compose` failed during create: failed to solve: process did not complete: exit code: 2"
        " (the full output is above)"
    )
    assert err.stderr == text  # the whole output stays on the error for callers that want it
    whole = _bare_stack().map_compose_error("rm", ["docker", "compose", "rm"], text)
    assert "compiling" in whole.message


# --------------------------------------------------------------------------------- exit codes
@pytest.mark.parametrize(
    ("error", "code"),
    [
        (DevenvError("x"), 1),
        (ConfigError("x", path="devenv.toml", key="project.name", line=3), 2),
        (UsageError("x"), 2),
        (UnknownProfileError("x"), 2),
        (UnknownServiceError("x"), 2),
        (ConfirmationRequired("x"), 2),
        (ComposeFileError("x"), 2),
        (DockerUnavailableError("x"), 3),
        (ComposeMissingError("x"), 3),
        (ComposeCommandError("x", command=["docker", "compose"], stderr="boom"), 1),
        (ServiceFailedError("x"), 1),
        (WaitTimeoutError("x"), 124),
        (WaitInterrupted("x"), 130),
    ],
)
def test_exit_code_of_each_error_class(error: DevenvError, code: int) -> None:
    assert error.exit_code == code
    assert isinstance(error.exit_code, ExitCode)


def test_devenv_error_str_includes_hint() -> None:
    err = UnknownServiceError("Unknown service", hint="Try devenv status")
    assert str(err) == "Unknown service\nTry devenv status"
    assert str(UsageError("plain")) == "plain"


def test_output_error_prefixes_config_path(capsys: pytest.CaptureFixture[str]) -> None:
    out = Output(color=False)
    out.error(ConfigError("bad key", path="profiles/dev.toml", hint="see docs"))
    out.error("plain message")
    assert capsys.readouterr().err.splitlines() == [
        "devenv: error: profiles/dev.toml: bad key",
        "see docs",
        "devenv: error: plain message",
    ]


def test_port_binding_in_status_json() -> None:
    s = ServiceStatus("db", "running", Health.HEALTHY, True, None, ports=(PortBinding(5432, "tcp", "127.0.0.1", 5432),))
    assert s.to_json()["ports"] == ["127.0.0.1:5432->5432/tcp"]
