"""Resource statistics of containers from the Engine's stats stream, on demand.

:func:`sample_from_stats` turns one ``/containers/{id}/stats`` document into CPU % and memory the
way ``docker stats`` computes them (pure). :class:`StatsStreams` keeps one stats stream (one
thread) per watched container and hands each sample to a callback; nothing runs and nothing is
read while no container is watched. :class:`devenv.core.monitor.StackMonitor` owns one and
routes its samples through its own thread (``watch_stats`` / ``stop_stats``).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import docker


def cpu_percent(stats: Mapping[str, Any]) -> float:
    """CPU use since the previous sample, in % of one CPU (the ``docker stats`` formula)."""
    cpu = stats.get("cpu_stats") or {}
    pre = stats.get("precpu_stats") or {}
    total = (cpu.get("cpu_usage") or {}).get("total_usage") or 0
    pre_total = (pre.get("cpu_usage") or {}).get("total_usage") or 0
    system = cpu.get("system_cpu_usage") or 0
    pre_system = pre.get("system_cpu_usage") or 0
    cpu_delta, system_delta = total - pre_total, system - pre_system
    if cpu_delta <= 0 or system_delta <= 0 or not pre_system:
        return 0.0
    online = cpu.get("online_cpus") or len((cpu.get("cpu_usage") or {}).get("percpu_usage") or ()) or 1
    return round(cpu_delta / system_delta * online * 100.0, 2)


def memory_bytes(stats: Mapping[str, Any]) -> tuple[int, int]:
    """``(usage without the page cache, limit)``: cgroup v2 ``inactive_file``, v1 ``total_inactive_file``."""
    mem = stats.get("memory_stats") or {}
    usage = int(mem.get("usage") or 0)
    detail = mem.get("stats") or {}
    cache = detail.get("inactive_file", detail.get("total_inactive_file", 0)) or 0
    if cache < usage:
        usage -= int(cache)
    return usage, int(mem.get("limit") or 0)


def sample_from_stats(stats: Mapping[str, Any]) -> tuple[float, int, int]:
    """``(cpu %, memory bytes, memory limit)`` of one stats document."""
    used, limit = memory_bytes(stats)
    return cpu_percent(stats), used, limit


# (container id, stats document) for every sample read
OnSample = Callable[[str, Mapping[str, Any]], None]


class StatsStreams:
    """One Engine stats stream per watched container, each read by a daemon thread."""

    def __init__(self, api: docker.APIClient, on_sample: OnSample) -> None:
        self.api = api
        self.on_sample = on_sample
        self._lock = threading.Lock()
        self._streams: dict[str, Any] = {}  # container id -> open stream (None while opening)

    def watched(self) -> set[str]:
        with self._lock:
            return set(self._streams)

    def watch(self, cid: str) -> None:
        """Start streaming ``cid``'s stats (no-op if already streaming)."""
        with self._lock:
            if cid in self._streams:
                return
            self._streams[cid] = None
        threading.Thread(target=self._pump, args=(cid,), name=f"devenv-stats-{cid[:12]}", daemon=True).start()

    def unwatch(self, cid: str) -> None:
        with self._lock:
            stream = self._streams.pop(cid, None)
        _close(stream)

    def close(self) -> None:
        """Stop every stream (from any thread); their threads end."""
        with self._lock:
            streams = list(self._streams.values())
            self._streams.clear()
        for stream in streams:
            _close(stream)

    def _pump(self, cid: str) -> None:
        from docker.types.daemon import CancellableStream

        stream: Any = None
        try:
            # docker-py's stats() returns a bare generator that cannot be closed from another
            # thread; the same request wrapped like its event and log streams can.
            response = self.api._get(self.api._url("/containers/{0}/stats", cid), stream=True, params={"stream": True})
            stream = CancellableStream(self.api._stream_helper(response, decode=True), response)
            with self._lock:
                if cid not in self._streams:  # unwatched while opening
                    _close(stream)
                    return
                self._streams[cid] = stream
            for doc in stream:
                with self._lock:
                    if self._streams.get(cid) is not stream:
                        return
                self.on_sample(cid, doc)
        except Exception:
            pass  # the container went away or the engine did: the monitor reports the latter
        finally:
            with self._lock:
                if cid in self._streams and self._streams[cid] in (None, stream):
                    del self._streams[cid]  # ended by itself (container removed): a later watch reopens


def _close(stream: Any) -> None:
    if stream is not None:
        with contextlib.suppress(Exception):
            stream.close()
