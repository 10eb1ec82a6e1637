"""tasktracker: the example app bundled with devenv (an API, a worker and alembic migrations)."""
