"""A minimal Textual app on devenv's terminal driver, for tests/tui/test_driver.py (run in a pty).

Records the keys it gets and the times of the input thread's ``select`` calls, then writes them
as JSON to the file named by its first argument when it exits (``q``). Writes ``mounted`` to the
file named by its second argument once it is mounted.
"""

from __future__ import annotations

import json
import selectors
import sys
import threading
import time
from typing import Any

from textual import events
from textual.app import App

from devenv.tui.driver import driver_class

CALLS: list[float] = []
_select = selectors.SelectSelector.select


def counted(self: selectors.SelectSelector, timeout: float | None = None) -> Any:
    if threading.current_thread().name == "textual-input":
        CALLS.append(time.monotonic())
    return _select(self, timeout)


selectors.SelectSelector.select = counted  # type: ignore[method-assign]


class Probe(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.keys: list[str] = []
        self.mounted_at = 0.0

    def get_driver_class(self) -> Any:
        return driver_class(super().get_driver_class())

    def on_mount(self) -> None:
        self.mounted_at = time.monotonic()
        with open(sys.argv[2], "w") as fh:
            fh.write("mounted")

    def on_key(self, event: events.Key) -> None:
        self.keys.append(event.key)
        if event.key == "q":
            self.exit()


if __name__ == "__main__":
    app = Probe()
    app.run()
    out = {
        "driver": type(app._driver).__name__ if app._driver else None,
        "keys": app.keys,
        "mounted_at": app.mounted_at,
        "calls": CALLS,
        "exited_at": time.monotonic(),
    }
    with open(sys.argv[1], "w") as fh:
        json.dump(out, fh)
