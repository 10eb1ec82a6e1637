"""Insert a few demo tasks. Idempotent: a task whose title already exists is left alone.

python3 -m app.seed
"""

from __future__ import annotations

import sys

from sqlalchemy import text

DEMO_TASKS = [
    ("Write the onboarding guide", 5),
    ("Review the API pull request", 7),
    ("Rotate the staging credentials", 9),
    ("Tidy up the backlog", 1),
]

INSERT_SQL = text(
    """
    INSERT INTO tasks (title, priority)
    SELECT :title, :priority
    WHERE NOT EXISTS (SELECT 1 FROM tasks WHERE title = :title)
    """
)


def main() -> int:
    from app.db import get_engine

    inserted = 0
    with get_engine().begin() as conn:
        for title, priority in DEMO_TASKS:
            inserted += conn.execute(INSERT_SQL, {"title": title, "priority": priority}).rowcount
    print(f"seeded {inserted} new task(s), {len(DEMO_TASKS) - inserted} already present")
    return 0


if __name__ == "__main__":
    sys.exit(main())
