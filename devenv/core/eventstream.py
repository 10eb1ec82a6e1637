"""The Engine's ``/events`` for one Compose project, read by a daemon thread into a queue.

Used by the ``up`` waiter and the per-service actions: subscribe first, then act, then wait, so
that no transition is missed.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from typing import TYPE_CHECKING, Any

from devenv.core.engine.containers import PROJECT_LABEL

if TYPE_CHECKING:
    import docker


class EventStream:
    """The Engine's ``/events`` for one project, read by a daemon thread into a queue.

    Open it before the initial inspect and before any container is started. Each queued item is ``("event", dict)``, or
    ``("stream_error", exc)`` if the connection breaks. Other producers (start calls, probes)
    share the same queue, so the waiter has one place to block on.
    """

    def __init__(self, api: docker.APIClient, project: str) -> None:
        self.queue: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._closing = threading.Event()
        self._stream = api.events(decode=True, filters={"type": "container", "label": f"{PROJECT_LABEL}={project}"})
        self._thread = threading.Thread(target=self._read, name="devenv-events", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            for event in self._stream:
                self.queue.put(("event", event))
        except Exception as exc:
            if not self._closing.is_set():
                self.queue.put(("stream_error", exc))
            return
        if not self._closing.is_set():
            self.queue.put(("stream_error", ConnectionError("the Docker event stream ended")))

    def drain(self) -> list[tuple[str, Any]]:
        items = []
        while True:
            try:
                items.append(self.queue.get_nowait())
            except queue.Empty:
                return items

    def close(self) -> None:
        self._closing.set()
        with contextlib.suppress(Exception):
            self._stream.close()
