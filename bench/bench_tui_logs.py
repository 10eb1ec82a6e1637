"""Benchmark: log ingestion into the TUI's Logs view, keypress latency meanwhile, memory after 1,000,000 lines.

Run (in the repo root, no Docker needed):

    .venv/bin/python bench/bench_tui_logs.py [--lines 1000000] [--services 6] [--ansi 0.5] [--out FILE]

Drives the real app (``create_app`` with the fake core of the Pilot tests, headless at 120x35, the
Logs tab open, follow on) through its real log path: ``DevenvApp.follow_logs`` (the thread worker
that drains the follower's queue in 50 ms batches with one batch in flight) -> ``LogBatch`` ->
``LogsPanel.add`` -> ``LogBuffer`` -> ``LogView``. A feeder thread stands in for
:class:`~devenv.core.logs.LogFollower`: it makes the lines of ``--services`` services interleaved
(about 100 characters each, ``--ansi`` of them coloured the way uvicorn colours its lines) and puts
them on a queue bounded like the follower's (10,000), as fast as the app takes them.

Meanwhile a key (``j`` / ``k``: the services table's cursor) is sent every 200 ms as a terminal
would send it (the driver's message queue) and its latency is the time until the table's cursor
has moved. Reports lines/s into the buffer, key latency (median, p95, worst), and the process RSS
after all lines (the buffer is bounded: 100,000 lines by default).
The machine may be shared: the process's CPU time is reported too (lines per CPU second, and the
event loop's own CPU time while each key waited), as what an idle core would give.
Goals (issue 9): >= 50,000 lines/s, keys within 100 ms, RSS < 150 MB after 1,000,000 lines.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import queue
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")

from textual import events  # noqa: E402

from devenv.core.models import LogLine  # noqa: E402
from devenv.tui.app import create_app  # noqa: E402
from tests.tui.fakes import FakeCore  # noqa: E402

SERVICES = ("postgres", "nats", "api", "worker", "dashboard", "nginx")
PLAIN = '{ip} - - "GET /api/tasks/{n}?page=3 HTTP/1.1" 200 1834 "-" "python-httpx/0.27" rt=0.004 id={n}'
COLOURED = '\x1b[32mINFO\x1b[0m:     {ip} - "\x1b[1mGET /api/tasks/{n} HTTP/1.1\x1b[0m" \x1b[32m200 OK\x1b[0m id={n}'


def rss_mb(field: str = "VmRSS") -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


class Feed:
    """A follower at full speed: ``queue`` of LogLine, bounded like LogFollower's; ``close()``."""

    def __init__(self, total: int, services: int, ansi: float) -> None:
        self.queue: queue.Queue[Any] = queue.Queue(maxsize=10000)
        self.total = total
        self.services = SERVICES[:services]
        self.every = round(1 / ansi) if ansi > 0 else 0
        self.started = 0.0
        self.closed = False
        self.thread = threading.Thread(target=self._run, name="bench-feed", daemon=True)

    def _run(self) -> None:
        put = self.queue.put
        services = self.services
        count = len(services)
        self.started = time.perf_counter()
        for n in range(self.total):
            if self.closed:
                return
            service = services[n % count]
            coloured = self.every and n % self.every == 0
            text = (COLOURED if coloured else PLAIN).format(ip=f"172.18.0.{n % 250}", n=n)
            put(LogLine(service, f"p-{service}-1", text, f"2026-01-01T00:00:{n % 60:02d}.{n % 1000000:06d}Z"))

    def close(self) -> None:
        self.closed = True
        with contextlib.suppress(queue.Full):
            self.queue.put_nowait(None)


class BenchCore(FakeCore):
    feed: Feed | None = None

    def follow_logs(self, tail: int | None) -> Feed:  # type: ignore[override]
        assert self.feed is not None
        self.feed.thread.start()
        return self.feed


class GcPauses:
    """The garbage collector's pauses (``gc.callbacks``), per generation."""

    def __init__(self) -> None:
        self.pauses: list[tuple[int, float]] = []
        self.cpu: list[float] = []  # the collecting thread's CPU time (the wall time includes waiting for a core)
        self._t0 = self._c0 = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._t0, self._c0 = time.perf_counter(), time.thread_time()
        else:
            self.pauses.append((info["generation"], time.perf_counter() - self._t0))
            self.cpu.append(time.thread_time() - self._c0)

    def summary(self) -> dict[str, Any]:
        full = [p for g, p in self.pauses if g == 2]
        return {
            "collections": len(self.pauses),
            "total_ms": round(sum(p for _, p in self.pauses) * 1000, 1),
            "full_collections": len(full),
            "longest_ms": round(max((p for _, p in self.pauses), default=0) * 1000, 1),
            "total_cpu_ms": round(sum(self.cpu) * 1000, 1),
            "longest_cpu_ms": round(max(self.cpu, default=0) * 1000, 1),
        }


async def run(total: int, services: int, ansi: float) -> dict[str, Any]:
    core = BenchCore(statuses=[s for s in BenchCore().statuses][:services])
    feed = core.feed = Feed(total, services, ansi)
    app = create_app(core=core)
    latencies: list[float] = []
    cpu_latencies: list[float] = []  # the event loop's own CPU time in the same windows
    async with app.run_test(size=(120, 35)) as pilot:
        await pilot.pause(0.2)
        buffer = app.logs.buffer
        table = app.table
        table.focus()
        key = "j"
        deadline = time.perf_counter() + 600
        cpu0 = time.process_time()
        pauses = GcPauses()
        next_key = time.perf_counter() + 0.3
        while buffer.added < total and time.perf_counter() < deadline:
            now = time.perf_counter()
            if now >= next_key and buffer.added < total * 0.95:
                before = table.cursor_row
                sent = time.perf_counter()
                cpu_sent = time.thread_time()
                app._driver.send_message(events.Key(key, key))  # type: ignore[union-attr]
                while table.cursor_row == before and time.perf_counter() - sent < 5:
                    await asyncio.sleep(0.001)
                latencies.append(time.perf_counter() - sent)
                cpu_latencies.append(time.thread_time() - cpu_sent)
                key = "k" if key == "j" else "j"
                next_key = time.perf_counter() + 0.2
            await asyncio.sleep(0.005)
        elapsed = time.perf_counter() - feed.started
        cpu = time.process_time() - cpu0
        gc.callbacks.remove(pauses._callback)
        ingested = buffer.added
        await pilot.pause(0.3)
        view_lines = app.logs.view.line_count
        kept = len(buffer.entries)
        rss = rss_mb()
        hwm = rss_mb("VmHWM")
        feed.close()
    latencies.sort()
    cpu_latencies.sort()

    def summary(values: list[float]) -> dict[str, Any]:
        if not values:
            return {"count": 0}
        ms = [round(v * 1000, 1) for v in values]
        return {"count": len(ms), "median": statistics.median(ms), "p95": ms[int(len(ms) * 0.95)], "max": ms[-1]}

    return {
        "lines": ingested,
        "services": services,
        "coloured_fraction": ansi,
        "seconds": round(elapsed, 2),
        "lines_per_s": round(ingested / elapsed),
        "process_cpu_s": round(cpu, 2),
        "lines_per_cpu_s": round(ingested / cpu),
        "key_latency_ms": summary(latencies),
        "key_latency_event_loop_cpu_ms": summary(cpu_latencies),
        "gc": pauses.summary(),
        "buffer_lines_kept": kept,
        "view_lines": view_lines,
        "rss_mb_after": round(rss, 1),
        "rss_mb_peak": round(hwm, 1),
        "load_average": os.getloadavg(),
        "goals": {"lines_per_s": 50000, "key_latency_ms": 100, "rss_mb": 150},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--services", type=int, default=6, choices=range(1, len(SERVICES) + 1))
    parser.add_argument("--ansi", type=float, default=0.5, help="the fraction of coloured lines (0 to 1)")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "tui_logs.json")
    args = parser.parse_args()
    result = asyncio.run(run(args.lines, args.services, args.ansi))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
