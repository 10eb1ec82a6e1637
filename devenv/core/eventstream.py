"""The Engine's ``/events`` for one Compose project, read by a daemon thread into a queue.

Used by the ``up`` waiter, the per-service actions and the monitor: subscribe first, then act, then
wait, so that no transition is missed.

Only the actions that change a status are asked for (:data:`EVENT_ACTIONS`): every healthcheck run
is three exec events per container, and on 60 services with 1 s healthchecks those were ~180 events
a second for the client to decode and drop (single timed pairs on 60 services: ``up`` took 19-20 s
against Compose's 14-15 s with them, 16-17.5 s against 15-16 s without).
"""

from __future__ import annotations

import contextlib
import queue
import threading
from typing import TYPE_CHECKING, Any

from devenv.core.engine.containers import PROJECT_LABEL

if TYPE_CHECKING:
    import docker

# The Engine actions that change a status ("health_status" matches "health_status: healthy" etc.).
EVENT_ACTIONS: tuple[str, ...] = ("create", "start", "restart", "die", "kill", "stop", "destroy", "pause", "unpause")
EVENT_ACTIONS += ("oom", "health_status")


def event_filters(project: str) -> dict[str, Any]:
    """The ``/events`` filters of one project's status-changing container actions."""
    return {"type": "container", "label": f"{PROJECT_LABEL}={project}", "event": list(EVENT_ACTIONS)}


class EventStream:
    """The Engine's ``/events`` for one project, read by a daemon thread into a queue.

    Open it before the initial inspect and before any container is started. Each queued item is ``("event", dict)``, or
    ``("stream_error", exc)`` if the connection breaks. Other producers (start calls, probes)
    share the same queue, so the waiter has one place to block on.
    """

    def __init__(self, api: docker.APIClient, project: str) -> None:
        self.queue: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._closing = threading.Event()
        self._stream = api.events(decode=True, filters=event_filters(project))
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
