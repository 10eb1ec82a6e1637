"""Database migrations and seeding: resolve the commands (``plan``), run them in a service (``run``).

The CLI (``devenv migrate``) and the TUI drive exactly these functions:

- :func:`resolve_migrations` turns ``[migrations]`` (project + profile) into a :class:`MigrationPlan`:
  which service, which mode (``exec`` in the running container, or a one-off ``run --rm``), which
  tool and which shell commands. Absent keys come from a tool preset (alembic / django); an absent
  ``tool`` is detected from ``alembic.ini`` / ``manage.py`` in the project root and in the build
  contexts and bind-mounted folders of the services; an absent ``service`` is the service whose
  build context or bind mounts hold that file.
- :func:`migrate_up`, :func:`migrate_down`, :func:`migrate_status`, :func:`migrate_new` and
  :func:`run_seed` first make sure the database service is healthy (and, in ``exec`` mode, that the
  migrations service runs), starting them through :func:`devenv.core.stack.up` when needed, then
  run the command with ``sh -c`` inside the container and stream each output line as a
  :class:`~devenv.core.events.MigrationOutput` event. They return a :class:`MigrationResult`; a non-zero exit code is a
  result, not an exception.
- :func:`migration_history` reads the tool's history (alembic ``history``, django
  ``showmigrations``) as :class:`Revision` rows with applied / pending marks (``history``).
- :func:`run_on_up` is the ``after_ready`` step ``devenv up`` gives :func:`devenv.core.stack.up`:
  :func:`maybe_run_on_up` once the stack is ready.

Placeholders: ``{steps}`` (a positive integer) and ``{message}`` (shell-quoted with
:func:`shlex.quote`, so a hostile message is one literal argument and never runs). Other braces in
a command are left alone (``${VAR}`` stays for the container's shell).

Secrets: events, results and error messages carry the configured command string (placeholders
filled) and the command's output masked by :class:`devenv.core.secrets.Masker` built from the
compose config (the product-wide rule: secret-named variables, URL passwords, tokens, inline
``--password=...``). Environment values are never emitted.
"""

from devenv.core.migrations.command import TAIL_LINES, MigrationResult, ensure_services, services_missing, shell_argv
from devenv.core.migrations.history import (
    MigrationHistory,
    Revision,
    history_command,
    migration_history,
    parse_alembic_history,
    parse_django_showmigrations,
)
from devenv.core.migrations.plan import (
    ACTIONS,
    PRESETS,
    MigrationCommands,
    MigrationPlan,
    command_for,
    detect_tool_and_service,
    format_command,
    plan_from_config,
    resolve_migrations,
    slugify_identifier,
)
from devenv.core.migrations.run import (
    maybe_run_on_up,
    migrate_down,
    migrate_new,
    migrate_status,
    migrate_up,
    run_on_up,
    run_seed,
)
from devenv.core.secrets import MASK

__all__ = [
    "ACTIONS",
    "MASK",
    "PRESETS",
    "TAIL_LINES",
    "MigrationCommands",
    "MigrationHistory",
    "MigrationPlan",
    "MigrationResult",
    "Revision",
    "command_for",
    "detect_tool_and_service",
    "ensure_services",
    "format_command",
    "history_command",
    "maybe_run_on_up",
    "migrate_down",
    "migrate_new",
    "migrate_status",
    "migrate_up",
    "migration_history",
    "parse_alembic_history",
    "parse_django_showmigrations",
    "plan_from_config",
    "resolve_migrations",
    "run_on_up",
    "run_seed",
    "services_missing",
    "shell_argv",
    "slugify_identifier",
]
