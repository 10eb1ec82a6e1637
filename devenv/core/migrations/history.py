"""The migration history as data: every revision with its applied / pending mark, for a live view.

:func:`migration_history` runs the tool's own listing in the migrations service, like the other
migration commands (:func:`devenv.core.migrations.command.run_command`), and parses it:

- alembic: ``alembic history --indicate-current`` (derived from ``[migrations] status`` when that is
  an ``alembic ... current`` command, so ``-c other.ini`` options are kept). A revision is applied
  when it is a current one or an ancestor of one.
- django: ``python manage.py showmigrations`` (the ``status`` command when it is one), whose
  ``[X]`` / ``[ ]`` marks are the applied flags; the current revision of each app is its last
  applied one.
- custom tools have no history (a :class:`UsageError` saying so).

The listing's output never reaches ``emit`` (it is parsed, not shown); the events of the services it
may start first do. With ``start=False`` nothing is started: when the database or the migrations
service is not ready, the history says why instead of running (:attr:`MigrationHistory.not_ready`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from devenv.core.events import Emit, Event, MigrationFinished, MigrationInterrupted, MigrationOutput, MigrationStarted
from devenv.core.migrations.command import _db_service, run_command, services_missing
from devenv.core.migrations.plan import MigrationPlan, resolve_migrations
from devenv.errors import UsageError

if TYPE_CHECKING:
    from devenv.core.cancel import CancelToken
    from devenv.core.stack import Stack


@dataclass(frozen=True)
class Revision:
    """One migration. ``revision`` is alembic's id, or ``app.name`` for django."""

    revision: str
    message: str = ""
    applied: bool = False
    current: bool = False
    head: bool = False
    parents: tuple[str, ...] = ()  # alembic down revisions (empty for the base)
    app: str = ""  # django app label


@dataclass(frozen=True)
class MigrationHistory:
    """The revisions oldest first, and how they were read."""

    tool: str
    revisions: tuple[Revision, ...] = ()
    command: str = ""  # the listing command (masked); "" when it did not run
    exit_code: int | None = None  # None when it did not run
    output_tail: tuple[str, ...] = ()
    not_ready: str = ""  # why it did not run (start=False and services not ready)

    @property
    def current(self) -> tuple[str, ...]:
        return tuple(r.revision for r in self.revisions if r.current)

    @property
    def pending(self) -> int:
        return sum(1 for r in self.revisions if not r.applied)


# ------------------------------------------------------------------------------------- commands
def history_command(plan: MigrationPlan) -> str:
    """The listing command for ``plan``'s tool; UsageError for a tool without one."""
    status = plan.commands.status or ""
    if plan.tool == "alembic":
        if re.search(r"\balembic\b.*\bcurrent\b", status):
            return re.sub(r"\bcurrent\b(?!.*\bcurrent\b)", "history --indicate-current", status)
        return "alembic history --indicate-current"
    if plan.tool == "django":
        return status if "showmigrations" in status else "python manage.py showmigrations"
    raise UsageError(
        f"no migration history for tool {plan.tool!r}: devenv reads it from alembic or django only",
        hint="Use the status command instead: devenv migrate status",
    )


# -------------------------------------------------------------------------------------- parsing
_ALEMBIC_LINE = re.compile(r"^(?P<down>.+?) -> (?P<rev>[^\s,]+)(?P<marks>(?: \([a-z]+\))*), ?(?P<msg>.*)$")


def parse_alembic_history(lines: Iterable[str]) -> list[Revision]:
    """``alembic history --indicate-current`` (newest first) -> revisions oldest first, marked."""
    found: list[tuple[str, tuple[str, ...], set[str], str]] = []
    for raw in lines:
        m = _ALEMBIC_LINE.match(raw.strip())
        if m is None:
            continue  # INFO lines, warnings
        down = m["down"].strip()
        parents = () if down == "<base>" else tuple(p.strip() for p in down.strip("()").split(",") if p.strip())
        marks = set(re.findall(r"\(([a-z]+)\)", m["marks"]))
        found.append((m["rev"], parents, marks, m["msg"].strip()))
    found.reverse()
    parents_of = {rev: parents for rev, parents, _m, _s in found}
    applied: set[str] = set()
    todo = [rev for rev, _p, marks, _s in found if "current" in marks]
    while todo:
        rev = todo.pop()
        if rev not in applied:
            applied.add(rev)
            todo.extend(parents_of.get(rev, ()))
    return [
        Revision(rev, msg, rev in applied, "current" in marks, "head" in marks, parents)
        for rev, parents, marks, msg in found
    ]


_DJANGO_LINE = re.compile(r"^\s+\[(?P<mark>.)\]\s+(?P<name>\S+)(?:\s+(?P<note>.*))?$")


def parse_django_showmigrations(lines: Iterable[str]) -> list[Revision]:
    """``manage.py showmigrations`` -> revisions per app in order; the last applied one is current."""
    out: list[Revision] = []
    app = ""
    for raw in lines:
        if raw and not raw[0].isspace():
            app = raw.strip()
            continue
        m = _DJANGO_LINE.match(raw)
        if m is None or not app:
            continue
        out.append(Revision(f"{app}.{m['name']}", (m["note"] or "").strip(), m["mark"] in "Xx", app=app))
    marked: list[Revision] = []
    for i, rev in enumerate(out):
        later = [r for r in out[i + 1 :] if r.app == rev.app]
        current = rev.applied and not any(r.applied for r in later)
        marked.append(Revision(rev.revision, rev.message, rev.applied, current, not later, app=rev.app))
    return marked


# -------------------------------------------------------------------------------------- the call
def migration_history(
    stack: Stack,
    emit: Emit | None = None,
    *,
    db_service: str | None = None,
    start: bool = True,
    cancel: CancelToken | None = None,
) -> MigrationHistory:
    """Run the tool's listing in the migrations service and return the parsed history.

    ``start=True`` starts the database and the migrations service when needed, like
    :func:`devenv.core.migrations.migrate_status`; ``start=False`` returns a history with
    ``not_ready`` set instead. A failing listing is a history with its ``exit_code`` and output tail.
    ``cancel`` stops the listing in the container (see :func:`~devenv.core.migrations.command.run_command`).
    """
    sink: Emit = emit or (lambda _e: None)
    plan = resolve_migrations(stack)
    command = history_command(plan)
    db = _db_service(stack, db_service)
    if not start:
        targets, reasons = services_missing(stack, plan.service, mode=plan.mode, db_service=db)
        if targets:
            return MigrationHistory(plan.tool, not_ready="; ".join(reasons))
    lines: list[str] = []

    def collect(event: Event) -> None:
        if isinstance(event, MigrationOutput):
            lines.append(event.line)
        elif not isinstance(event, MigrationStarted | MigrationFinished | MigrationInterrupted):
            sink(event)

    result = run_command(
        stack,
        action="history",
        service=plan.service,
        mode=plan.mode,
        command=command,
        db_service=db,
        emit=collect,
        cancel=cancel,
    )
    revisions = parse_alembic_history(lines) if plan.tool == "alembic" else parse_django_showmigrations(lines)
    return MigrationHistory(plan.tool, tuple(revisions), result.command, result.exit_code, result.output_tail)
