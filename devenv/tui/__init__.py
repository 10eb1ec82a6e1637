"""The Textual TUI: ``devenv`` with no arguments, and ``devenv tui [--profile P]``.

Importing this package is cheap (no Textual): :func:`run` imports the app when it is called, so
``devenv.cli.main`` can decide between the TUI and help without loading Textual.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["run"]


def run(project_dir: Path | None = None, profile: str | None = None) -> int:
    """Open the TUI on the project in ``project_dir`` (default: the working directory); returns 0."""
    from devenv.tui.app import create_app

    create_app(project_dir, profile).run()
    return 0
