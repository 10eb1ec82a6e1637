"""``devenv migrate`` on the real engine, with a copy of the bundled example stack (alembic in ``api``).

The dev profile bind-mounts ``compose/app/migrations`` into the app containers, so revision files
written on the host copy are what alembic sees, and ``migrate new`` writes back to the host.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from devenv_testlib import REPO, DevenvResult, Stack, assert_ready_now, docker, run_devenv

pytestmark = pytest.mark.docker

JSON_KEYS = {"project", "profile", "command", "service", "exit_code", "ok", "output_tail"}

BROKEN_REVISION = '''"""broken on purpose

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("SELECT * FROM dvt_no_such_table_xyz")


def downgrade() -> None:
    pass
'''


# ------------------------------------------------------------------------------------ helpers
def versions_dir(st: Stack) -> Path:
    return st.path / "compose" / "app" / "migrations" / "versions"


def alembic_version(st: Stack) -> list[str]:
    """``alembic_version`` rows, read with psql in the postgres container."""
    ids = st.container_ids("postgres")
    assert ids, "no postgres container"
    proc = docker(
        "exec",
        ids[0],
        "psql",
        "-U",
        "tasktracker",
        "-d",
        "tasktracker",
        "-tAc",
        "SELECT version_num FROM alembic_version",
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()


def set_toml(st: Stack, table: str, **values: Any) -> None:
    """Set keys of one table of the copied devenv.toml (replacing existing ones)."""
    path = st.path / "devenv.toml"
    text = path.read_text()
    for key, value in values.items():
        rendered = ("true" if value else "false") if isinstance(value, bool) else f'"{value}"'
        block = re.search(rf"(?ms)^\[{re.escape(table)}\]\n(.*?)(?=^\[|\Z)", text)
        assert block, f"no [{table}] in {path}"
        body = block.group(1)
        line = f"{key} = {rendered}\n"
        present = re.search(rf"(?m)^{key}\s*=", body)
        body = re.sub(rf"(?m)^{key}\s*=.*\n", line, body) if present else line + body
        text = text[: block.start(1)] + body + text[block.end(1) :]
    path.write_text(text)


def remove_host_file(st: Stack, path: Path) -> None:
    """Remove a file the container wrote into the bind mount (as root, when we are not)."""
    try:
        path.unlink()
    except PermissionError:
        api = st.container_ids("api")[0]
        docker("exec", api, "rm", "-f", f"/srv/migrations/versions/{path.name}", check=True)


def devenv_tool_traceback(st: Stack, *args: str) -> DevenvResult:
    """Run devenv where the *migration tool* prints a Python traceback; devenv itself must not."""
    res = run_devenv(args, st.path, env=st.env, allow_traceback=True)
    assert f'File "{REPO / "devenv"}' not in res.stderr, f"devenv printed its own traceback:\n{res.dump()}"
    return res


def up(st: Stack) -> None:
    res = st.devenv("up", "--profile", "dev")
    assert res.returncode == 0, res.dump()


@contextlib.contextmanager
def environment(st: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """In-process access: the stack's env vars in os.environ, cwd in the copy; yields a core Stack."""
    from devenv.config import load_project
    from devenv.core.stack import Stack as CoreStack

    for key in ("DEVENV_PROFILE", "COMPOSE_PROJECT_NAME", "COMPOSE_FILE", "COMPOSE_PROFILES"):
        monkeypatch.delenv(key, raising=False)
    for key, value in st.env.items():
        monkeypatch.setenv(key, value)
    project = load_project(st.path)
    yield CoreStack(project, project.resolve_profile("dev"))


# -------------------------------------------------------------------------------------- tests
def test_status_down_up_new_in_exec_mode(example_stack: Any) -> None:
    st: Stack = example_stack()
    up(st)

    res = st.devenv("migrate", "status")
    assert res.returncode == 0, res.dump()
    assert "0002 (head)" in res.stdout, res.dump()
    assert "$ alembic current" in res.stderr, res.dump()
    assert "dev-password" not in res.stdout + res.stderr

    res = st.devenv("migrate", "down", "1")
    assert res.returncode == 0, res.dump()
    assert "Running downgrade 0002 -> 0001" in res.stdout, res.dump()
    assert alembic_version(st) == ["0001"]
    res = st.devenv("migrate", "status")
    assert res.returncode == 0, res.dump()
    assert re.search(r"(?m)^0001$", res.stdout), res.dump()

    res = st.devenv("migrate")  # `up` is the default action
    assert res.returncode == 0, res.dump()
    assert "Running upgrade 0001 -> 0002" in res.stdout, res.dump()
    assert alembic_version(st) == ["0002"]

    # --json: one document on stdout, the command's output on stderr.
    res = st.devenv("migrate", "status", "--json")
    assert res.returncode == 0, res.dump()
    doc = res.json()
    assert set(doc) >= JSON_KEYS, doc
    assert doc["project"] == st.name and doc["profile"] == "dev"
    assert doc["command"] == "alembic current" and doc["service"] == "api"
    assert doc["exit_code"] == 0 and doc["ok"] is True
    assert isinstance(doc["output_tail"], list) and "0002 (head)" in doc["output_tail"], doc
    assert "0002 (head)" in res.stderr

    before = set(os.listdir(versions_dir(st)))
    res = st.devenv("migrate", "new", "add due date")
    assert res.returncode == 0, res.dump()
    created = set(os.listdir(versions_dir(st))) - before
    assert len(created) == 1, (created, res.dump())
    new_file = versions_dir(st) / created.pop()
    try:
        assert new_file.name.endswith("_add_due_date.py"), new_file.name
        text = new_file.read_text()
        assert "add due date" in text and 'down_revision = "0002"' in text.replace("'", '"'), text
    finally:
        remove_host_file(st, new_file)

    # A hostile message is one literal argument: nothing runs in the container.
    marker = "/tmp/dvt-migrate-pwned"
    before = set(os.listdir(versions_dir(st)))
    res = st.devenv("migrate", "new", f'x\'; touch {marker}; echo "$(touch {marker})" `touch {marker}`')
    assert res.returncode == 0, res.dump()
    for name in set(os.listdir(versions_dir(st))) - before:
        remove_host_file(st, versions_dir(st) / name)
    api = st.container_ids("api")[0]
    assert docker("exec", api, "test", "-e", marker).returncode == 1, "the migration message was executed"
    assert alembic_version(st) == ["0002"]


def test_failing_migration_exits_1_with_the_error(example_stack: Any) -> None:
    st: Stack = example_stack()
    up(st)
    broken = versions_dir(st) / "0003_broken.py"
    broken.write_text(BROKEN_REVISION)
    try:
        res = devenv_tool_traceback(st, "migrate", "up")
        assert res.returncode == 1, res.dump()
        assert "dvt_no_such_table_xyz" in res.stdout, res.dump()  # streamed
        tail = res.stderr.split("lines of output:", 1)[-1]
        assert "dvt_no_such_table_xyz" in tail, res.dump()  # and repeated in the tail on stderr
        assert "Fix the failing migration" in res.stderr, res.dump()
        assert "Traceback" in res.stdout  # the tool's traceback is output, not ours

        res = devenv_tool_traceback(st, "migrate", "up", "--json")
        assert res.returncode == 1, res.dump()
        doc = res.json()
        assert doc["ok"] is False and doc["exit_code"] not in (0, None), doc
        assert 0 < len(doc["output_tail"]) <= 20, doc
        assert any("dvt_no_such_table_xyz" in line for line in doc["output_tail"]), doc
        assert alembic_version(st) == ["0002"]  # transactional DDL: nothing applied
    finally:
        broken.unlink()


def test_database_not_running_is_started_first(example_stack: Any) -> None:
    st: Stack = example_stack()
    up(st)
    pg = st.container_ids("postgres")[0]
    docker("stop", "-t", "0", pg, check=True)
    res = st.devenv("migrate", "status")
    assert res.returncode == 0, res.dump()
    assert "starting postgres" in res.stderr, res.dump()
    assert "0002 (head)" in res.stdout, res.dump()
    assert_ready_now(json.loads(docker("inspect", pg, check=True).stdout)[0], "postgres")


def test_run_on_up_and_seed_in_process(example_stack: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from devenv.core import events as ev
    from devenv.core import migrations

    st: Stack = example_stack()
    up(st)
    res = st.devenv("migrate", "down", "2")
    assert res.returncode == 0, res.dump()
    assert alembic_version(st) == []

    with environment(st, monkeypatch) as stack:
        assert migrations.maybe_run_on_up(stack) is None  # run_on_up = false in the example
        assert alembic_version(st) == []

    set_toml(st, "migrations", run_on_up=True)
    with environment(st, monkeypatch) as stack:
        events: list[object] = []
        result = migrations.maybe_run_on_up(stack, events.append)
        assert result is not None and result.ok, result
        assert result.command == "alembic upgrade head" and result.service == "api"
        assert alembic_version(st) == ["0002"]
        assert not any(isinstance(e, ev.MigrationWaiting) for e in events)  # nothing to start
        assert events[0] == ev.MigrationStarted("alembic upgrade head", "api", "exec")
        assert isinstance(events[-1], ev.MigrationFinished) and events[-1].exit_code == 0
        lines = [e.line for e in events if isinstance(e, ev.MigrationOutput)]
        assert any("Running upgrade 0001 -> 0002" in line for line in lines), lines

        seeded = migrations.run_seed(stack)
        assert seeded.ok and seeded.output_tail[-1].startswith("seeded 4 new task(s)"), seeded


def test_run_mode_uses_a_one_off_container(example_stack: Any) -> None:
    st: Stack = example_stack()
    set_toml(st, "migrations", mode="run")
    # Nothing is running: the database is started (and only it), the command runs in `run --rm`.
    res = st.devenv("migrate", "up")
    assert res.returncode == 0, res.dump()
    assert "Running upgrade  -> 0001" in res.stdout and "Running upgrade 0001 -> 0002" in res.stdout, res.dump()
    assert "one-off container" in res.stderr, res.dump()
    assert alembic_version(st) == ["0002"]
    assert st.services_present() == {"postgres"}
    assert (
        docker(
            "ps",
            "-aq",
            "--filter",
            f"label=com.docker.compose.project={st.name}",
            "--filter",
            "label=com.docker.compose.oneoff=True",
        ).stdout.split()
        == []
    ), "the one-off container was left behind"

    res = st.devenv("migrate", "down", "--json")
    assert res.returncode == 0, res.dump()
    doc = res.json()
    assert doc["ok"] is True and doc["command"] == "alembic downgrade -1" and doc["mode"] == "run", doc
    assert alembic_version(st) == ["0001"]
    res = st.devenv("migrate", "status")
    assert res.returncode == 0, res.dump()
    assert re.search(r"(?m)^0001$", res.stdout), res.dump()


def test_exec_into_a_one_shot_service_says_why(example_stack: Any) -> None:
    st: Stack = example_stack()
    set_toml(st, "migrations", service="migrate")
    # A long settle window: the one-shot always completes (exits) before it could count as "running".
    with (st.path / "devenv.toml").open("a") as toml:
        toml.write("\n[readiness]\nsettle = 15.0\n")
    res = st.devenv("migrate", "status")
    assert res.returncode == 1, res.dump()
    assert "migrate" in res.stderr and 'mode = "run"' in res.stderr, res.dump()


def test_detection_without_migrations_config(example_stack: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from devenv.core import migrations

    st: Stack = example_stack()
    path = st.path / "devenv.toml"
    text = path.read_text()
    text = re.sub(r"(?ms)^\[migrations\]\n.*?(?=^\[)", "", text)
    path.write_text(text)
    with environment(st, monkeypatch) as stack:
        plan = migrations.resolve_migrations(stack)
    assert (plan.service, plan.tool, plan.mode) == ("api", "alembic", "exec")
    assert plan.commands == migrations.PRESETS["alembic"]
