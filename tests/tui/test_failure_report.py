"""One failure report for both front ends: the CLI prints :meth:`Failure.report`, Details draws it."""

from __future__ import annotations

import io

from devenv.cli.output import Output
from devenv.cli.stack_cmds import render_failure
from devenv.core.models import Failure, Health
from devenv.tui.widgets.details import describe

FAILURE = Failure(
    "api",
    "is unhealthy",
    "running",
    Health.UNHEALTHY,
    None,
    restart_count=2,
    health_output="curl: (7) Failed to connect\nexit 7",
    logs=("booting", "ERROR: no database"),
    blocked_on=("db",),
)


def test_the_cli_and_details_show_the_same_lines() -> None:
    out = Output(color=False)
    out.err = io.StringIO()
    render_failure(out, FAILURE)
    cli = out.err.getvalue().splitlines()
    assert cli == [
        "✘ api: is unhealthy",
        "    state: running, health: unhealthy, restarts: 2",
        "    blocked on: db",
        "    last healthcheck output:",
        "      curl: (7) Failed to connect",
        "      exit 7",
        "    last 2 log lines:",
        "      | booting",
        "      | ERROR: no database",
    ]
    details = describe("api", [], FAILURE).plain.splitlines()
    assert details[1 : 1 + len(cli)] == cli  # after the service's name


def test_no_logs_is_said_unless_the_service_is_missing() -> None:
    quiet = Failure("worker", "exited with code 3", "exited", Health.NONE, 3)
    assert quiet.report()[-1] == ("detail", "    ", "(no log output)")
    missing = Failure("worker", "was not created", "missing", Health.NONE, None)
    assert all("no log output" not in text for _kind, _lead, text in missing.report())
