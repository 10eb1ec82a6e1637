"""Log lines from a project's containers, as ``LogLine`` iterators over docker-py streams.

``follow_logs`` keeps following across container restarts and recreations: it watches the
project's event stream and attaches to every container of the selected services when it starts,
resuming after the last timestamp it printed so no line is lost or repeated.
"""

from __future__ import annotations

import contextlib
import heapq
import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from devenv.core.engine.containers import ONEOFF_LABEL, PROJECT_LABEL, SERVICE_LABEL, epoch_seconds
from devenv.core.models import LogLine

if TYPE_CHECKING:
    import docker

    from devenv.core.cancel import CancelToken


def split_timestamp(raw: str) -> tuple[str, str]:
    ts, sep, text = raw.partition(" ")
    if sep and len(ts) >= 20 and ts[4] == "-" and ts[10] == "T":
        return ts, text
    return "", raw


def _lines(chunks: Iterable[bytes]) -> Iterator[str]:
    """Reassemble lines from stream chunks (the engine splits messages over 16 KiB)."""
    buf = b""
    for chunk in chunks:
        buf += chunk
        *complete, buf = buf.split(b"\n")
        for line in complete:
            yield line.decode(errors="replace").rstrip("\r")
    if buf:
        yield buf.decode(errors="replace").rstrip("\r")


def _containers(api: docker.APIClient, project: str, services: list[str] | None) -> list[dict[str, Any]]:
    out = []
    for item in api.containers(all=True, filters={"label": [f"{PROJECT_LABEL}={project}"]}):
        labels = item.get("Labels") or {}
        if labels.get(ONEOFF_LABEL) == "True":
            continue
        if services and labels.get(SERVICE_LABEL) not in services:
            continue
        out.append(item)
    return out


def _name(item: dict[str, Any]) -> str:
    return str((item.get("Names") or ["?"])[0]).lstrip("/")


def recent_logs(
    api: docker.APIClient, project: str, services: list[str] | None = None, *, tail: int | None = 100
) -> list[LogLine]:
    """The last ``tail`` lines of each selected container, merged in time order."""
    per_container: list[list[tuple[str, int, LogLine]]] = []
    for idx, item in enumerate(_containers(api, project, services)):
        service = (item.get("Labels") or {}).get(SERVICE_LABEL, "?")
        raw = api.logs(item["Id"], stdout=True, stderr=True, timestamps=True, tail="all" if tail is None else tail)
        lines = []
        for text in _lines([raw]):
            ts, body = split_timestamp(text)
            lines.append((ts, idx, LogLine(service, _name(item), body, ts)))
        per_container.append(lines)
    return [entry[2] for entry in heapq.merge(*per_container, key=lambda e: (e[0], e[1]))]


class LogFollower:
    """Follow logs of the selected services; iterate it for ``LogLine``; ``close()`` from any thread.

    ``cancel``: a token whose cancel closes the follower (the iteration ends).
    """

    def __init__(
        self,
        api: docker.APIClient,
        project: str,
        services: list[str] | None = None,
        *,
        tail: int | None = 10,
        cancel: CancelToken | None = None,
    ) -> None:
        self.api = api
        self.project = project
        self.services = services
        self.tail = tail
        self.queue: queue.Queue[LogLine | None] = queue.Queue(maxsize=10000)  # bounded: back-pressure
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._attached: dict[str, Any] = {}  # container id -> open stream
        self._last_ts: dict[str, float] = {}
        self._events = api.events(decode=True, filters={"type": "container", "label": f"{PROJECT_LABEL}={project}"})
        threading.Thread(target=self._watch, name="devenv-log-events", daemon=True).start()
        # Stopped containers print their last lines and are picked up again when they start.
        for item in _containers(api, project, services):
            self._attach(item["Id"], _name(item), (item.get("Labels") or {}).get(SERVICE_LABEL, "?"), tail)
        if cancel is not None:
            cancel.on_cancel(self.close)

    def _watch(self) -> None:
        with contextlib.suppress(Exception):
            for ev in self._events:
                if self._closed.is_set():
                    return
                if (ev.get("Action") or ev.get("status")) != "start":
                    continue
                attrs = (ev.get("Actor") or {}).get("Attributes") or {}
                service = attrs.get(SERVICE_LABEL, "?")
                if attrs.get(ONEOFF_LABEL) == "True" or (self.services and service not in self.services):
                    continue
                cid = (ev.get("Actor") or {}).get("ID") or ev.get("id")
                self._attach(str(cid), str(attrs.get("name", cid[:12])), str(service), None)

    def _attach(self, cid: str, name: str, service: str, tail: int | None) -> None:
        with self._lock:
            if self._closed.is_set() or cid in self._attached:
                return
            self._attached[cid] = None
        since = self._last_ts.get(cid)
        kwargs: dict[str, Any] = {"stream": True, "follow": True, "timestamps": True}
        if since:
            kwargs["since"] = since
        elif tail is not None:
            kwargs["tail"] = tail
        else:
            kwargs["tail"] = "all"
        threading.Thread(
            target=self._pump, args=(cid, name, service, kwargs), name=f"devenv-logs-{name}", daemon=True
        ).start()

    def _pump(self, cid: str, name: str, service: str, kwargs: dict[str, Any]) -> None:
        try:
            stream = self.api.logs(cid, stdout=True, stderr=True, **kwargs)
            with self._lock:
                self._attached[cid] = stream
            for text in _lines(stream):
                ts, body = split_timestamp(text)
                stamp = epoch_seconds(ts) if ts else None
                if stamp is not None:
                    if stamp <= self._last_ts.get(cid, 0.0):
                        continue  # already printed before a re-attach
                    self._last_ts[cid] = stamp
                if self._closed.is_set():
                    return
                self.queue.put(LogLine(service, name, body, ts))
        except Exception:
            pass
        finally:
            with self._lock:
                self._attached.pop(cid, None)  # a later `start` event re-attaches

    def __iter__(self) -> Iterator[LogLine]:
        while not self._closed.is_set():
            try:
                line = self.queue.get(timeout=0.5)
            except queue.Empty:
                continue
            if line is None:
                return
            yield line

    def close(self) -> None:
        self._closed.set()
        with contextlib.suppress(Exception):
            self._events.close()
        with self._lock:
            streams = list(self._attached.values())
        for s in streams:
            with contextlib.suppress(Exception):
                if s is not None:
                    s.close()
        with contextlib.suppress(queue.Full):
            self.queue.put_nowait(None)
