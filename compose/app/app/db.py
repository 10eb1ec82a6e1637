"""Database access: one lazily created SQLAlchemy engine built from DATABASE_URL."""

from __future__ import annotations

import logging
import os

from sqlalchemy import create_engine
from sqlalchemy.engine import Engine

APP_ENV = os.environ.get("APP_ENV", "production")
LOG_LEVEL = os.environ.get("LOG_LEVEL", "info")

_engine: Engine | None = None


def setup_logging() -> None:
    """Log the app's own "tasktracker.*" loggers to stderr at LOG_LEVEL (uvicorn keeps its own)."""
    logger = logging.getLogger("tasktracker")
    if logger.handlers:
        return
    level = logging.getLevelName(LOG_LEVEL.upper())
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(level if isinstance(level, int) else logging.INFO)
    logger.propagate = False


def database_url() -> str:
    url = os.environ.get("DATABASE_URL")
    if not url:
        raise RuntimeError("DATABASE_URL is not set")
    return url


def get_engine() -> Engine:
    global _engine
    if _engine is None:
        _engine = create_engine(
            database_url(),
            pool_pre_ping=True,
            pool_size=5,
            max_overflow=5,
            connect_args={"connect_timeout": 3, "application_name": f"tasktracker-{APP_ENV}"},
            future=True,
        )
    return _engine
