"""Compose fidelity without Docker: restart-policy verdicts, hooks, the fast file reader, the runner.

- restart policies: synthetic Engine event sequences through the reducer of ``devenv.core.health``;
- ``post_start`` hooks: ``devenv.core.hooks`` against a fake exec API, and the waiter with a fake
  engine (from ``test_health``);
- ``declared_services`` / ``active_profiles``: ``include:``, Compose profiles from flags, the
  environment and env files;
- the one runner: ``Stack.down``/``rm``/``run_oneoff`` command lines with a stand-in ``docker``.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from devenv.core.compose.files import active_profiles, declared_services
from devenv.core.compose.model import Hook
from devenv.core.events import ServiceChanged
from devenv.core.health import LOOP_EXITS, QUICK_RUN, Tracked, apply_event, container_readiness, on_die
from devenv.core.hooks import run_hooks
from devenv.core.models import ContainerInfo, Health, Readiness
from devenv.errors import ComposeFileError

from .test_health import FakeContainer, FakeDocker, Recorder, Step, compose, only_failure, run_wait


# ------------------------------------------------------------------------------ restart policies
def container(policy: str, max_retries: int = 0, healthcheck: bool = False) -> Tracked:
    info = ContainerInfo(
        "c1", "p-app-1", "app", 1, "created", Health.NONE, None, restart_policy=policy, max_retries=max_retries
    )
    return Tracked(info=replace_hc(info, healthcheck), needs_start=True)


def replace_hc(info: ContainerInfo, healthcheck: bool) -> ContainerInfo:
    from dataclasses import replace

    return replace(info, has_healthcheck=healthcheck)


def play(t: Tracked, events: list[tuple[float, str, int | None]]) -> list[tuple[Readiness, str]]:
    """Apply ``(time, action, exit code)`` events; the verdict (readiness, reason or note) after each."""
    out = []
    for now, action, code in events:
        apply_event(t, action, {"exitCode": str(code)} if code is not None else {}, now)
        readiness, _how, text = container_readiness(t, now, settle=1.0, probed=False)
        out.append((readiness, text))
    return out


def crash_loop(times: list[float], code: int = 1) -> list[tuple[float, str, int | None]]:
    """start at each time, die 0.2 s later."""
    events: list[tuple[float, str, int | None]] = []
    for t0 in times:
        events += [(t0, "start", None), (t0 + 0.2, "die", code)]
    return events


@pytest.mark.parametrize("policy", ["always", "unless-stopped", "on-failure"])
def test_quick_exits_in_a_row_are_a_crash_loop(policy: str) -> None:
    t = container(policy)
    verdicts = play(t, crash_loop([0.0, 0.5, 1.2]))
    dies = [v for v in verdicts[1::2]]
    assert [r for r, _ in dies] == [Readiness.WAITING, Readiness.WAITING, Readiness.FAILED]
    assert dies[0][1].startswith(f'exited with code 1, restarted by policy "{policy}" (quick exit 1 of {LOOP_EXITS}')
    assert dies[2][1] == (
        f"restart loop: exited with code 1 {LOOP_EXITS} times in a row, each run under {QUICK_RUN:g} s, "
        f'and restart policy "{policy}" keeps restarting it'
    )
    assert t.info.restart_count == 2


def test_a_long_run_starts_the_crash_count_again() -> None:
    t = container("always")
    events = crash_loop([0.0, 0.5])  # two quick exits
    events += [(1.0, "start", None), (1.0 + QUICK_RUN + 5, "die", 1)]  # a long run, then an exit
    events += crash_loop([30.0])  # one more quick exit: 2 in a row, not 3
    verdicts = play(t, events)
    assert all(r != Readiness.FAILED for r, _ in verdicts), verdicts
    assert t.quick_exits == 2
    assert "after 15 s up" in verdicts[5][1]


def test_crashed_once_then_stays_up_is_ready_after_settle() -> None:
    t = container("always")
    verdicts = play(t, [(0.0, "start", None), (0.3, "die", 1), (0.5, "start", None)])
    assert verdicts[1] == (Readiness.WAITING, verdicts[1][1]) and "quick exit 1 of 3" in verdicts[1][1]
    assert verdicts[2] == (Readiness.WAITING, "running, settling (after 1 restart)")
    assert container_readiness(t, 1.6, settle=1.0, probed=False)[0] == Readiness.READY


def test_on_failure_with_a_maximum_retries_until_it_gives_up() -> None:
    t = container("on-failure", max_retries=3)
    verdicts = play(t, crash_loop([0.0, 0.3, 0.6, 0.9]))
    dies = [v for v in verdicts[1::2]]
    assert dies[:3] == [
        (Readiness.WAITING, "exited with code 1, being retried (restart 1 of 3)"),
        (Readiness.WAITING, "exited with code 1, being retried (restart 2 of 3)"),
        (Readiness.WAITING, "exited with code 1, being retried (restart 3 of 3)"),
    ]
    assert dies[3] == (
        Readiness.FAILED,
        'exited with code 1; restart policy "on-failure:3" gave up after 3 restarts',
    )


def test_on_failure_retried_then_healthy_is_ready() -> None:
    t = container("on-failure", max_retries=3, healthcheck=True)
    events = [*crash_loop([0.0, 0.3]), (0.6, "start", None), (1.5, "health_status: healthy", None)]
    verdicts = play(t, events)
    assert verdicts[2] == (Readiness.WAITING, "health: starting (after 1 restart)")
    assert verdicts[-1][0] == Readiness.READY


def test_on_failure_exit_zero_is_completed_and_no_policy_exit_fails() -> None:
    done = container("on-failure", max_retries=3)
    assert play(done, [(0.0, "start", None), (0.1, "die", 0)])[-1] == (Readiness.READY, "")
    plain = container("no")
    assert play(plain, [(0.0, "start", None), (0.1, "die", 2)])[-1] == (Readiness.FAILED, "exited with code 2")


def test_on_die_oom_and_unknown_run_length() -> None:
    info = ContainerInfo("c", "n", "s", 1, "running", Health.NONE, None, restart_policy="no")
    assert on_die(info, 137, 1.0, 0, oom=True) == ("exited with code 137 (killed: out of memory)", "", 0)
    looping = ContainerInfo("c", "n", "s", 1, "running", Health.NONE, None, restart_policy="always")
    failure, note, exits = on_die(looping, 1, None, LOOP_EXITS - 1)  # unknown length counts as quick
    assert failure.startswith("restart loop") and note == "" and exits == LOOP_EXITS


def test_a_start_devenv_asked_for_resets_the_restart_count() -> None:
    t = container("on-failure", max_retries=2)
    t.info = replace_hc(t.info, False)
    from dataclasses import replace

    t.info = replace(t.info, restart_count=2)  # from an earlier run: the engine resets it on an API start
    play(t, [(0.0, "start", None)])
    assert t.info.restart_count == 0


# --------------------------------------------------------------------------------------- hooks
class ExecAPI:
    def __init__(self, results: list[tuple[int, bytes]]) -> None:
        self.results = results
        self.created: list[dict[str, Any]] = []

    def exec_create(self, cid: str, cmd: list[str], **kwargs: Any) -> dict[str, str]:
        self.created.append({"cid": cid, "cmd": cmd, **kwargs})
        return {"Id": str(len(self.created))}

    def exec_start(self, exec_id: str, stream: bool = False) -> bytes:
        return self.results[int(exec_id) - 1][1]

    def exec_inspect(self, exec_id: str) -> dict[str, Any]:
        return {"ExitCode": self.results[int(exec_id) - 1][0]}


def test_run_hooks_passes_user_privileged_workdir_environment_and_stops_at_a_failure() -> None:
    api = ExecAPI([(0, b"one\n"), (3, b"bad\nworse\n"), (0, b"")])
    hooks = [
        Hook(("sh", "-c", "echo one"), user="1000", privileged=True, working_dir="/tmp", environment={"A": "1"}),
        Hook(("false",), environment={"B": None}),
        Hook(("never",)),
    ]
    failure = run_hooks(api, "cid", hooks)
    assert failure is not None and failure.exit_code == 3 and failure.output == ("bad", "worse")
    assert failure.reason() == "post_start hook 2 (false) exited with status 3"
    assert len(api.created) == 2  # the third never ran
    first = api.created[0]
    assert (first["user"], first["privileged"], first["workdir"], first["environment"]) == (
        "1000",
        True,
        "/tmp",
        ["A=1"],
    )
    assert api.created[1]["environment"] == ["B"]


def test_run_hooks_exec_error_is_a_failure() -> None:
    class Broken(ExecAPI):
        def exec_create(self, cid: str, cmd: list[str], **kwargs: Any) -> dict[str, str]:
            raise RuntimeError("container is not running")

    failure = run_hooks(Broken([]), "cid", [Hook(("x",))])
    assert failure is not None and failure.reason() == "post_start hook 1 (x) could not run: container is not running"


class HookDocker(FakeDocker):
    """The fake engine of test_health plus exec: every exec exits with ``code`` after ``delay``."""

    def __init__(self, *containers: FakeContainer, code: int = 0) -> None:
        super().__init__(*containers)
        self.code = code
        self.execs: list[tuple[str, list[str]]] = []

    def exec_create(self, cid: str, cmd: list[str], **_: Any) -> dict[str, str]:
        self.execs.append((self.by_id[cid].service, cmd))
        return {"Id": "x"}

    def exec_start(self, exec_id: str, stream: bool = False) -> bytes:
        import time

        time.sleep(0.1)
        return b"hook says hi\n"

    def exec_inspect(self, exec_id: str) -> dict[str, Any]:
        return {"ExitCode": self.code}


def hooked_model() -> Any:
    return compose(
        {
            "db": {"post_start": [{"command": ["sh", "-c", "touch /tmp/x"]}]},
            "api": {"depends_on": {"db": "service_started"}},
        }
    )


def test_waiter_runs_post_start_hooks_before_dependents_start(recorder: Recorder, fakes: list[FakeDocker]) -> None:
    fake = HookDocker(FakeContainer("db"), FakeContainer("api"))
    fakes.append(fake)
    result = run_wait(fake, hooked_model(), recorder)
    assert result.outcome == "ready", result.failures
    assert fake.execs == [("db", ["sh", "-c", "touch /tmp/x"])]
    assert fake.start_time("api") - fake.start_time("db") >= 0.1  # after the hook, not after the start
    notes = [e.note for _, e in recorder.items if isinstance(e, ServiceChanged) and e.status.service == "db"]
    assert "post_start hook running" in notes


def test_waiter_failing_post_start_hook_fails_the_service(recorder: Recorder, fakes: list[FakeDocker]) -> None:
    fake = HookDocker(FakeContainer("db"), FakeContainer("api"), code=4)
    fakes.append(fake)
    result = run_wait(fake, hooked_model(), recorder)
    assert result.outcome == "failed"
    failure = only_failure(result)
    assert failure.reason == "post_start hook 1 (sh -c touch /tmp/x) exited with status 4"
    assert failure.health_output and "hook says hi" in failure.health_output
    assert fake.started() == ["db"]


def test_optional_dependency_that_failed_does_not_block(recorder: Recorder, fakes: list[FakeDocker]) -> None:
    cache = FakeContainer("cache", after_start=[Step(0.02, "die", exit_code=1)])
    fake = FakeDocker(cache, FakeContainer("api"))
    fakes.append(fake)
    model = compose({"cache": {}, "api": {"depends_on": {"cache": "service_healthy"}}})
    # compose() marks every dependency required; make this one optional as Compose prints it.
    raw = dict(model.raw)
    raw["services"]["api"]["depends_on"]["cache"]["required"] = False
    from devenv.core.compose.model import ComposeModel

    result = run_wait(fake, ComposeModel.from_json(raw), recorder, timeout=1.0)
    assert result.outcome == "failed"  # the failed service itself still fails the wait, as with --wait
    assert "api" in fake.started()  # but its dependent was started, as Compose does


def test_create_event_of_a_container_that_cannot_be_inspected_is_reported(
    recorder: Recorder, fakes: list[FakeDocker]
) -> None:
    class Flaky(FakeDocker):
        def inspect_container(self, cid: str) -> dict[str, Any]:
            if self.by_id[cid].service == "web" and self.flaky:
                raise RuntimeError("engine hiccup")
            return super().inspect_container(cid)

    web = FakeContainer("web")
    fake = Flaky()
    fake.flaky = False  # type: ignore[attr-defined]
    fakes.append(fake)

    def created_later() -> None:
        fake.by_id[web.id] = web
        fake.flaky = True  # type: ignore[attr-defined]
        fake.push(web, "create")

    import threading

    threading.Timer(0.05, created_later).start()
    result = run_wait(fake, compose({"web": {}}), recorder, timeout=1.0)
    assert result.outcome == "failed"
    assert only_failure(result).reason == f"its new container {web.name} could not be inspected: engine hiccup"


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def fakes() -> Any:
    made: list[FakeDocker] = []
    yield made
    for f in made:
        f.closed.set()


# ------------------------------------------------------------------ the fast file reader (status)
def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_declared_services_follow_include_and_profiles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COMPOSE_PROFILES", raising=False)
    monkeypatch.setenv("INC_DIR", "inc")
    main = write(
        tmp_path / "compose.yml",
        "include:\n  - ${INC_DIR}/extra.yml\n  - path: [more/more.yml]\n"
        "services:\n  a: {image: x}\n  b: {image: x, profiles: [pb]}\n",
    )
    write(tmp_path / "inc/extra.yml", "services:\n  inc1: {image: x}\n  inc2: {image: x, profiles: [pb]}\n")
    write(tmp_path / "more/more.yml", "services:\n  more: {image: x}\n")
    assert declared_services([main], strict=True) == ["inc1", "more", "a"]
    assert declared_services([main], strict=True, profiles=["pb"]) == ["inc1", "inc2", "more", "a", "b"]
    monkeypatch.setenv("COMPOSE_PROFILES", "pb")
    assert declared_services([main]) == ["inc1", "inc2", "more", "a", "b"]


def test_declared_services_missing_include_is_reported(tmp_path: Path) -> None:
    main = write(tmp_path / "compose.yml", "include:\n  - nope.yml\nservices:\n  a: {image: x}\n")
    assert declared_services([main]) == ["a"]  # lenient
    with pytest.raises(ComposeFileError, match=r"include: nope.yml does not exist"):
        declared_services([main], strict=True, root=tmp_path)


def test_declared_services_include_cycle_terminates(tmp_path: Path) -> None:
    a = write(tmp_path / "a.yml", "include: [b.yml]\nservices:\n  a: {image: x}\n")
    write(tmp_path / "b.yml", "include: [a.yml]\nservices:\n  b: {image: x}\n")
    assert declared_services([a], strict=True) == ["b", "a"]


def test_active_profiles_flags_then_environment_then_env_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COMPOSE_PROFILES", raising=False)
    write(tmp_path / ".env", "# comment\nexport COMPOSE_PROFILES='dot, env'\n")
    custom = write(tmp_path / "custom.env", "COMPOSE_PROFILES=custom\n")
    assert active_profiles([], [], tmp_path) == ["dot", "env"]
    assert active_profiles([], [custom], tmp_path) == ["custom"]  # --env-file replaces .env
    monkeypatch.setenv("COMPOSE_PROFILES", "fromenv")
    assert active_profiles([], [custom], tmp_path) == ["fromenv"]
    assert active_profiles(["flag"], [custom], tmp_path) == ["flag"]  # the flags win, as in Compose


# ----------------------------------------------------------------------------- the one runner
@pytest.fixture
def docker_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in ``docker`` that records its argv and prints to both streams."""
    log = tmp_path / "argv"
    script = tmp_path / "bin" / "docker"
    script.parent.mkdir()
    script.write_text(
        f'#!/bin/sh\nprintf "%s\\n" "$@" > {log}\necho out-line\necho err-line >&2\nexit ${{EXIT:-0}}\n',
        encoding="utf-8",
    )
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{script.parent}:/usr/bin:/bin")
    return log


def bare_stack() -> Any:
    from devenv.core.stack import Stack

    stack = Stack.__new__(Stack)
    stack.project = cast(Any, SimpleNamespace(name="demo", root=Path("/p")))
    stack.profile = cast(Any, SimpleNamespace(name="dev", compose_files=[Path("/p/compose.yml")], env_files=[]))
    stack.compose_profiles = ("debug",)
    return stack


def test_down_rm_and_run_go_through_the_compose_cli(docker_cli: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stack = bare_stack()
    base = ["compose", "-p", "demo", "-f", "/p/compose.yml", "--profile", "debug"]
    lines: list[Any] = []
    stack.down(volumes=True, timeout=3, emit=lines.append)
    assert docker_cli.read_text().split() == [*base, "down", "--volumes", "--remove-orphans", "--timeout", "3"]
    assert [e.line for e in lines] == ["out-line", "err-line"]
    stack.rm(["db"], volumes=True)
    assert docker_cli.read_text().split() == [*base, "rm", "--force", "--stop", "--volumes", "db"]
    monkeypatch.setenv("EXIT", "5")
    chunks, exit_code, stop = stack.run_oneoff("migrate", ["sh", "-c", "x"], name="demo-migrate-devenv-1")
    assert sorted(chunks) == [("stderr", b"err-line\n"), ("stdout", b"out-line\n")]
    assert exit_code() == 5
    stop()  # ended already: nothing to do
    named = ["--name", "demo-migrate-devenv-1"]
    assert docker_cli.read_text().split() == [
        *base,
        "run",
        "--rm",
        "--no-deps",
        "-T",
        *named,
        "migrate",
        "sh",
        "-c",
        "x",
    ]


def test_down_interrupted_by_ctrl_c_raises_keyboard_interrupt(
    docker_cli: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EXIT", "130")
    with pytest.raises(KeyboardInterrupt):
        bare_stack().down(volumes=False, emit=lambda _e: None)
