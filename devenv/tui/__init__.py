"""The Textual TUI: ``devenv`` with no arguments, and ``devenv tui [--profile P]``.

Importing this package is cheap (no Textual): :func:`run` imports the app when it is called, so
``devenv.cli.main`` can decide between the TUI and help without loading Textual.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

__all__ = ["run"]


def _early(project_dir: Path | None, profile: str | None, box: dict[str, Any]) -> None:
    """The project, and one quick read of the stack, while the main thread imports Textual."""
    try:
        from devenv.tui.core import load_core

        core = load_core(project_dir, profile)
        box["core"] = core
        box["preview"] = core.preview()
    except Exception:  # the app shows the problem (config error, engine down) itself
        pass


def run(project_dir: Path | None = None, profile: str | None = None) -> int:
    """Open the TUI on the project in ``project_dir`` (default: the working directory); returns 0."""
    box: dict[str, Any] = {}
    reader = threading.Thread(target=_early, args=(project_dir, profile, box), name="devenv-tui-early", daemon=True)
    reader.start()
    from devenv.tui.app import create_app  # Textual's import overlaps the reads above

    reader.join()
    create_app(project_dir, profile, core=box.get("core"), preview=box.get("preview")).run()
    return 0
