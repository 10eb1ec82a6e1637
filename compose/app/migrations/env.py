"""Alembic environment: the database URL comes from DATABASE_URL, never from alembic.ini."""

from __future__ import annotations

import os
import time
from logging.config import fileConfig

from alembic import context
from sqlalchemy import create_engine, pool
from sqlalchemy.exc import OperationalError

config = context.config
if config.config_file_name is not None:
    fileConfig(config.config_file_name)

target_metadata = None

# How long to keep retrying the first connection: the database may still be finishing its
# start-up (the official postgres image briefly runs a socket-only server while initialising).
CONNECT_TIMEOUT = float(os.environ.get("DB_CONNECT_TIMEOUT", "30"))


def database_url() -> str:
    url = os.environ.get("DATABASE_URL") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("DATABASE_URL is not set")
    return url


def run_migrations_offline() -> None:
    context.configure(url=database_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = create_engine(database_url(), poolclass=pool.NullPool)
    deadline = time.monotonic() + CONNECT_TIMEOUT
    while True:
        try:
            connection = engine.connect()
            break
        except OperationalError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.5)
    with connection:
        context.configure(connection=connection, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
