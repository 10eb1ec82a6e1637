"""The structured migration history (``devenv.core.migrations.history``): commands, parsing, the call.

Parsing runs on real outputs of alembic 1.8 (the example app's image) and of Django's
``showmigrations``; the call runs on the fake Engine API of ``test_migrations``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from devenv.config import MigrationsConfig
from devenv.core import events as ev
from devenv.core import migrations as m
from devenv.errors import UsageError
from tests.unit.test_migrations import FakeStack, UpRecorder

ALEMBIC_AT_0001 = """\
INFO  [alembic.runtime.migration] Context impl PostgresqlImpl.
INFO  [alembic.runtime.migration] Will assume transactional DDL.
0001 -> 0002 (head), add task priority
<base> -> 0001 (current), create tasks
"""

ALEMBIC_BRANCHES = """\
(b2, c2) -> d3 (head) (mergepoint), merge
a1 -> c2, other branch
a1 -> b2 (current), one branch
<base> -> a1 (branchpoint), first
"""

DJANGO = """\
admin
 [X] 0001_initial
 [X] 0002_logentry_remove_auto_add
tasks
 [X] 0001_initial
 [ ] 0002_add_due_date
 [ ] 0003_squashed_0004 (2 squashed migrations)
empty
 (no migrations)
"""


def plan(tool: str, status: str | None = None) -> m.MigrationPlan:
    preset = m.PRESETS[tool]
    commands = m.MigrationCommands(preset.upgrade, preset.downgrade, status or preset.status, preset.new)
    return m.MigrationPlan("api", "exec", tool, commands)


def test_history_commands_follow_the_configured_status_command() -> None:
    assert m.history_command(plan("alembic")) == "alembic history --indicate-current"
    assert m.history_command(plan("alembic", "alembic -c db/alembic.ini current -v")) == (
        "alembic -c db/alembic.ini history --indicate-current -v"
    )
    assert m.history_command(plan("alembic", "make current")) == "alembic history --indicate-current"
    assert m.history_command(plan("django")) == "python manage.py showmigrations"
    assert m.history_command(plan("django", "python src/manage.py showmigrations tasks")) == (
        "python src/manage.py showmigrations tasks"
    )
    with pytest.raises(UsageError, match="no migration history for tool 'custom'"):
        m.history_command(m.MigrationPlan("api", "exec", "custom", m.MigrationCommands(status="./status.sh")))


def test_alembic_history_is_oldest_first_with_applied_marks() -> None:
    revs = m.parse_alembic_history(ALEMBIC_AT_0001.splitlines())
    assert revs == [
        m.Revision("0001", "create tasks", applied=True, current=True, head=False, parents=()),
        m.Revision("0002", "add task priority", applied=False, current=False, head=True, parents=("0001",)),
    ]


def test_alembic_without_current_is_all_pending_and_ancestors_of_current_are_applied() -> None:
    none = m.parse_alembic_history(ALEMBIC_AT_0001.replace(" (current)", "").splitlines())
    assert [r.applied for r in none] == [False, False]
    revs = {r.revision: r for r in m.parse_alembic_history(ALEMBIC_BRANCHES.splitlines())}
    assert [r for r in revs] == ["a1", "b2", "c2", "d3"]
    assert {k for k, r in revs.items() if r.applied} == {"a1", "b2"}
    assert revs["d3"].parents == ("b2", "c2") and revs["d3"].head
    assert revs["a1"].message == "first"


def test_django_showmigrations_marks_and_current_per_app() -> None:
    revs = m.parse_django_showmigrations(DJANGO.splitlines())
    assert [(r.revision, r.applied, r.current) for r in revs] == [
        ("admin.0001_initial", True, False),
        ("admin.0002_logentry_remove_auto_add", True, True),
        ("tasks.0001_initial", True, True),
        ("tasks.0002_add_due_date", False, False),
        ("tasks.0003_squashed_0004", False, False),
    ]
    assert revs[-1].message == "(2 squashed migrations)" and revs[-1].head and revs[-1].app == "tasks"
    history = m.MigrationHistory("django", tuple(revs))
    assert history.current == ("admin.0002_logentry_remove_auto_add", "tasks.0001_initial")
    assert history.pending == 2


@pytest.fixture()
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[FakeStack, UpRecorder]:
    stack = FakeStack(tmp_path)
    recorder = UpRecorder(stack)
    monkeypatch.setattr("devenv.core.stack.up", recorder)
    return stack, recorder


def test_history_runs_the_listing_and_keeps_its_output_out_of_emit(fake: tuple[FakeStack, UpRecorder]) -> None:
    stack, recorder = fake
    stack.api.chunks = [(ALEMBIC_AT_0001.encode(), None)]
    events: list[object] = []
    history = m.migration_history(stack, events.append)  # type: ignore[arg-type]
    assert stack.api.execs[0][1] == ["sh", "-c", "exec 2>&1\nalembic history --indicate-current"]
    assert history.tool == "alembic" and history.exit_code == 0
    assert history.command == "alembic history --indicate-current"
    assert history.current == ("0001",) and history.pending == 1
    assert events == [] and recorder.calls == []


def test_history_without_start_does_not_start_anything(fake: tuple[FakeStack, UpRecorder]) -> None:
    stack, recorder = fake
    stack.states = {"db": "missing", "api": "running"}
    history = m.migration_history(stack, start=False)  # type: ignore[arg-type]
    assert history.not_ready == "database db is not ready (missing)"
    assert history.exit_code is None and history.revisions == ()
    assert recorder.calls == [] and stack.api.execs == []
    events: list[object] = []
    m.migration_history(stack, events.append)  # type: ignore[arg-type]
    assert recorder.calls == [["db"]]
    assert [e for e in events if isinstance(e, ev.MigrationWaiting)]


def test_a_failing_listing_is_a_result(fake: tuple[FakeStack, UpRecorder]) -> None:
    stack, _ = fake
    stack.profile.migrations = MigrationsConfig(service="api", tool="django")
    stack.api.chunks = [(b"Traceback: no module django\n", None)]
    stack.api.exit_code = 1
    history = m.migration_history(stack)  # type: ignore[arg-type]
    assert history.exit_code == 1 and history.revisions == ()
    assert history.output_tail == ("Traceback: no module django",)
