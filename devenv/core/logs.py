"""Log lines from a project's containers, as ``LogLine`` iterators over docker-py streams.

``LogFollower`` keeps following across container restarts and recreations: it watches the
project's event stream and attaches to every container of the selected services when it starts,
resuming after the last timestamp it printed so no line is lost or repeated. When the connection
to the engine breaks (daemon restart, socket closed) it says so with a ``LogNotice``, reconnects
with a bounded backoff and resumes every container from its last timestamp, again without gaps
or repeats.
"""

from __future__ import annotations

import contextlib
import heapq
import queue
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from devenv.core.engine.containers import ONEOFF_LABEL, PROJECT_LABEL, SERVICE_LABEL
from devenv.core.events import LogNotice as LogNotice
from devenv.core.models import LogLine

if TYPE_CHECKING:
    import docker

    from devenv.core.cancel import CancelToken


def split_timestamp(raw: str) -> tuple[str, str]:
    ts, sep, text = raw.partition(" ")
    if sep and len(ts) >= 20 and ts[4] == "-" and ts[10] == "T":
        return ts, text
    return "", raw


_TS = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$")


def timestamp_ns(ts: str) -> int | None:
    """Nanoseconds since the epoch of an engine timestamp (RFC 3339, up to nanoseconds), or None."""
    m = _TS.match(ts)
    if not m:
        return None
    base, frac, tz = m.groups()
    seconds = int(datetime.fromisoformat(base + ("+00:00" if tz == "Z" else tz)).timestamp())
    return seconds * 1_000_000_000 + int((frac or "").ljust(9, "0")[:9])


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


@dataclass
class _Resume:
    """Where one container's logs were last printed: its last timestamp and the lines printed at it."""

    last_ns: int = 0
    at_last: list[str] = field(default_factory=list)

    def seen(self, ns: int, text: str) -> None:
        if ns != self.last_ns:
            self.last_ns, self.at_last = ns, []
        self.at_last.append(text)


# Reconnection backoff (seconds): doubles from the first value up to the last, then stays there.
BACKOFF_FIRST = 0.5
BACKOFF_MAX = 5.0


class LogFollower:
    """Follow logs of the selected services; iterate it for ``LogLine`` and ``LogNotice``; ``close()``
    from any thread.

    A lost engine connection (the event stream or a running container's log stream ends or fails)
    yields ``LogNotice("log stream lost: <reason>; reconnecting…")``; reconnection is retried with
    a backoff of ``BACKOFF_FIRST`` doubling up to ``BACKOFF_MAX`` seconds, until it works or the
    follower is closed, and yields ``LogNotice("log stream reconnected")``. Every container then
    resumes with ``since`` its last printed timestamp; lines at or before it are dropped when they
    were printed already.

    ``cancel``: a token whose cancel closes the follower (the iteration ends).
    """

    def __init__(
        self,
        api: docker.APIClient,
        project: str,
        services: list[str] | None = None,
        *,
        tail: int | None = 10,
        wait: Callable[[float], bool] | None = None,
        cancel: CancelToken | None = None,
    ) -> None:
        self.api = api
        self.project = project
        self.services = services
        self.tail = tail
        self.queue: queue.Queue[LogLine | LogNotice | None] = queue.Queue(maxsize=10000)  # bounded: back-pressure
        self._closed = threading.Event()
        self._wait = wait or self._closed.wait  # the backoff; True when closed meanwhile
        self._lock = threading.Lock()
        self._attached: dict[str, object] = {}  # container id -> token of its current pump
        self._streams: dict[object, Any] = {}  # pump token -> open stream
        self._resume: dict[str, _Resume] = {}
        self._lost: str | None = None  # why the connection was lost (set once per outage)
        self._started_ns = time.time_ns()
        # Subscribe before listing, so that a container starting in between is not missed. An engine
        # that cannot be reached at all raises here, in the caller.
        self._events: Any = self._subscribe()
        threading.Thread(target=self._watch, name="devenv-log-events", daemon=True).start()
        # Stopped containers print their last lines and are picked up again when they start.
        for item in _containers(api, project, services):
            self._attach(item["Id"], _name(item), (item.get("Labels") or {}).get(SERVICE_LABEL, "?"), tail)
        if cancel is not None:
            cancel.on_cancel(self.close)

    def _subscribe(self) -> Any:
        # Only starts matter here: unfiltered, every healthcheck run is three exec events to decode and drop.
        filters = {"type": "container", "label": f"{PROJECT_LABEL}={self.project}", "event": ["start"]}
        return self.api.events(decode=True, filters=filters)

    # ------------------------------------------------------------------------------ connection
    def _watch(self) -> None:
        events = self._events
        delay = BACKOFF_FIRST
        while not self._closed.is_set():
            if events is None:
                try:
                    events = self._events = self._subscribe()
                    items = _containers(self.api, self.project, self.services)
                except Exception as exc:
                    _close(self._events)
                    events = self._events = None
                    self._connection_lost(_reason(exc))
                    delay = min(delay * 2, BACKOFF_MAX)
                    if self._wait(delay):
                        return
                    continue
                with self._lock:
                    self._lost = None
                delay = BACKOFF_FIRST
                self._put(LogNotice("log stream reconnected"))
                for item in items:
                    labels = item.get("Labels") or {}
                    self._attach(item["Id"], _name(item), labels.get(SERVICE_LABEL, "?"), None, from_start=True)
            try:
                for ev in events:
                    if self._closed.is_set():
                        return
                    self._on_event(ev)
                reason = self._lost or "the engine ended the event stream"
            except Exception as exc:
                reason = self._lost or _reason(exc)
            if self._closed.is_set():
                return
            _close(events)
            events = None
            self._connection_lost(reason)
            if self._wait(delay):
                return

    def _connection_lost(self, reason: str) -> None:
        """Say so once per outage, end every stream (they resume after the reconnection)."""
        with self._lock:
            first = self._lost is None
            if first:
                self._lost = reason
            streams = list(self._streams.values())
            self._attached.clear()
            self._streams.clear()
            events = self._events
        if not first:
            return
        for stream in [*streams, events]:
            _close(stream)
        self._put(LogNotice(f"log stream lost: {reason}; reconnecting…"))

    def _on_event(self, ev: dict[str, Any]) -> None:
        if (ev.get("Action") or ev.get("status")) != "start":
            return
        attrs = (ev.get("Actor") or {}).get("Attributes") or {}
        service = attrs.get(SERVICE_LABEL, "?")
        if attrs.get(ONEOFF_LABEL) == "True" or (self.services and service not in self.services):
            return
        cid = str((ev.get("Actor") or {}).get("ID") or ev.get("id"))
        self._attach(cid, str(attrs.get("name", cid[:12])), str(service), None)

    # ---------------------------------------------------------------------------------- streams
    def _attach(self, cid: str, name: str, service: str, tail: int | None, *, from_start: bool = False) -> None:
        token = object()
        with self._lock:
            if self._closed.is_set() or cid in self._attached or self._lost is not None:
                return
            self._attached[cid] = token
            resume = self._resume.get(cid)
        kwargs: dict[str, Any] = {"stream": True, "follow": True, "timestamps": True}
        if resume is not None:
            kwargs["since"] = max(resume.last_ns / 1e9 - 0.001, 1e-9)  # inclusive margin: dedupe drops repeats
        elif from_start:
            kwargs["since"] = self._started_ns / 1e9  # nothing printed from it yet: all since we started
        elif tail is not None:
            kwargs["tail"] = tail
        else:
            kwargs["tail"] = "all"
        threading.Thread(
            target=self._pump, args=(cid, name, service, kwargs, token), name=f"devenv-logs-{name}", daemon=True
        ).start()

    def _current(self, cid: str, token: object) -> bool:
        return self._attached.get(cid) is token and not self._closed.is_set()

    def _pump(self, cid: str, name: str, service: str, kwargs: dict[str, Any], token: object) -> None:
        failure: str | None = None
        try:
            stream = self.api.logs(cid, stdout=True, stderr=True, **kwargs)
            with self._lock:
                if not self._current(cid, token):
                    stream.close()
                    return
                self._streams[token] = stream
                resume = self._resume.get(cid)
                skip = list(resume.at_last) if resume is not None else []
                after = resume.last_ns if resume is not None else -1
            for text in _lines(stream):
                ts, body = split_timestamp(text)
                ns = timestamp_ns(ts) if ts else None
                with self._lock:
                    if not self._current(cid, token):
                        return
                    if ns is not None:
                        if ns < after:
                            continue  # printed before the re-attach
                        if ns == after and text in skip:
                            skip.remove(text)
                            continue
                        self._resume.setdefault(cid, _Resume()).seen(ns, text)
                self._put(LogLine(service, name, body, ts))
        except Exception as exc:
            failure = _reason(exc)
        finally:
            with self._lock:
                current = self._attached.get(cid) is token
                if current:
                    del self._attached[cid]  # a later `start` event re-attaches
                self._streams.pop(token, None)
        if current and not self._closed.is_set():
            # The stream ended: fine when the container stopped; otherwise the connection broke.
            try:
                running = bool(self.api.inspect_container(cid)["State"]["Running"])
            except Exception as exc:
                self._connection_lost(_reason(exc) if failure is None else failure)
                return
            if running:
                self._connection_lost(failure or f"the engine ended the log stream of {name}")

    def _put(self, item: LogLine | LogNotice) -> None:
        while not self._closed.is_set():
            with contextlib.suppress(queue.Full):
                self.queue.put(item, timeout=0.5)
                return

    # ------------------------------------------------------------------------------------- use
    def __iter__(self) -> Iterator[LogLine | LogNotice]:
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
        with self._lock:
            streams = [*self._streams.values(), self._events]
        for stream in streams:
            _close(stream)
        with contextlib.suppress(queue.Full):
            self.queue.put_nowait(None)


def _close(stream: Any) -> None:
    with contextlib.suppress(Exception):
        if stream is not None:
            stream.close()


def _reason(exc: BaseException) -> str:
    """A short reason for a lost connection: the innermost message of docker-py/requests errors."""
    text = str(exc).strip() or type(exc).__name__
    m = re.search(r"\[Errno -?\d+\] ([^'\")]+)", text)
    if m:
        return m.group(1).strip()
    return text.splitlines()[0][:200]
