"""Watch: Compose's ``develop.watch`` (sync, rebuild, restart, sync+restart, sync+exec) with watchfiles,
and config edits applied live. :class:`Watcher` is the loop; the modules beside it are its parts:

- :mod:`~devenv.core.watch.patterns`: Docker's path patterns (``.dockerignore``, ignore/include);
- :mod:`~devenv.core.watch.rules`: the ``develop.watch`` rules of each service, and their matching;
- :mod:`~devenv.core.watch.plan`: a batch of changed paths -> what to do;
- :mod:`~devenv.core.watch.sync`: tar archives into containers through the Engine API;
- :mod:`~devenv.core.watch.filewatch`: the watchfiles thread;
- :mod:`~devenv.core.watch.reload`: resolving edited config, which services changed;
- :mod:`~devenv.core.watch.events`: the events front ends render.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from devenv.core.watch.session import Watcher

__all__ = ["Watcher"]


def __getattr__(name: str) -> Any:
    """``Watcher`` loads on first use: importing the events (the TUI does) stays cheap."""
    if name == "Watcher":
        from devenv.core.watch.session import Watcher

        return Watcher
    raise AttributeError(name)
