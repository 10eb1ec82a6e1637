"""The tasktracker HTTP API: a health endpoint and a small CRUD on the tasks table."""

from __future__ import annotations

import logging
from typing import Any, Literal

from fastapi import FastAPI, HTTPException, Response
from pydantic import BaseModel, Field
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from app.db import APP_ENV, LOG_LEVEL, get_engine, setup_logging

setup_logging()
log = logging.getLogger("tasktracker.api")


class _QuietHealthchecks(logging.Filter):
    """Drop access-log lines for the container's own healthcheck (GET /health from 127.0.0.1)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        return not (
            isinstance(args, tuple)
            and len(args) >= 3
            and args[2] == "/health"
            and str(args[0]).startswith("127.0.0.1:")
        )


logging.getLogger("uvicorn.access").addFilter(_QuietHealthchecks())

app = FastAPI(title="tasktracker", version="1.0")

COLUMNS = "id, title, status, priority, created_at, updated_at"


class TaskCreate(BaseModel):
    title: str = Field(..., min_length=1, max_length=200)
    priority: int = Field(0, ge=0, le=9)


class TaskUpdate(BaseModel):
    title: str | None = Field(None, min_length=1, max_length=200)
    status: Literal["pending", "done"] | None = None
    priority: int | None = Field(None, ge=0, le=9)


def _row(row: Any) -> dict[str, Any]:
    task = dict(row._mapping)
    for key in ("created_at", "updated_at"):
        task[key] = task[key].isoformat()
    return task


@app.on_event("startup")
def _startup() -> None:
    log.info("tasktracker api starting (APP_ENV=%s, LOG_LEVEL=%s)", APP_ENV, LOG_LEVEL)


@app.get("/")
def info() -> dict[str, str]:
    return {"app": "tasktracker", "env": APP_ENV, "log_level": LOG_LEVEL}


@app.get("/health")
def health(response: Response) -> dict[str, str]:
    try:
        with get_engine().connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        log.warning("health check failed: %s", exc.__class__.__name__)
        response.status_code = 503
        return {"status": "unavailable", "database": "unreachable", "env": APP_ENV}
    return {"status": "ok", "database": "ok", "env": APP_ENV}


@app.get("/tasks")
def list_tasks(status: Literal["pending", "done"] | None = None) -> list[dict[str, Any]]:
    query = f"SELECT {COLUMNS} FROM tasks"
    params: dict[str, Any] = {}
    if status is not None:
        query += " WHERE status = :status"
        params["status"] = status
    with get_engine().connect() as conn:
        rows = conn.execute(text(query + " ORDER BY id"), params).fetchall()
    return [_row(r) for r in rows]


@app.post("/tasks", status_code=201)
def create_task(body: TaskCreate) -> dict[str, Any]:
    with get_engine().begin() as conn:
        row = conn.execute(
            text(f"INSERT INTO tasks (title, priority) VALUES (:title, :priority) RETURNING {COLUMNS}"),
            {"title": body.title, "priority": body.priority},
        ).one()
    log.info("created task %s", row.id)
    return _row(row)


@app.get("/tasks/{task_id}")
def get_task(task_id: int) -> dict[str, Any]:
    with get_engine().connect() as conn:
        row = conn.execute(text(f"SELECT {COLUMNS} FROM tasks WHERE id = :id"), {"id": task_id}).first()
    if row is None:
        raise HTTPException(status_code=404, detail="task not found")
    return _row(row)


@app.patch("/tasks/{task_id}")
def update_task(task_id: int, body: TaskUpdate) -> dict[str, Any]:
    changes = {k: v for k, v in body.dict(exclude_unset=True).items() if v is not None}
    if not changes:
        return get_task(task_id)
    assignments = ", ".join(f"{column} = :{column}" for column in changes)
    with get_engine().begin() as conn:
        row = conn.execute(
            text(f"UPDATE tasks SET {assignments}, updated_at = now() WHERE id = :id RETURNING {COLUMNS}"),
            {**changes, "id": task_id},
        ).first()
    if row is None:
        raise HTTPException(status_code=404, detail="task not found")
    return _row(row)


@app.delete("/tasks/{task_id}", status_code=204)
def delete_task(task_id: int) -> Response:
    with get_engine().begin() as conn:
        deleted = conn.execute(text("DELETE FROM tasks WHERE id = :id"), {"id": task_id}).rowcount
    if not deleted:
        raise HTTPException(status_code=404, detail="task not found")
    return Response(status_code=204)
