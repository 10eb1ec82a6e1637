"""``LogFollower`` against a fake engine: reconnection after a lost stream, resume without repeats."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from devenv.core.logs import LogFollower, LogNotice, timestamp_ns
from devenv.core.models import LogLine

T1 = "2024-05-01T10:00:00.000000001Z"
T2 = "2024-05-01T10:00:00.5Z"
T3 = "2024-05-01T10:00:01.25Z"


class Stream:
    """A closable iterator of chunks; ``hold`` keeps it open (like a follow stream) until closed."""

    def __init__(self, chunks: list[bytes], hold: bool = False) -> None:
        self.chunks = chunks
        self.closed = threading.Event()
        self.hold = hold

    def __iter__(self) -> Iterator[bytes]:
        yield from self.chunks
        if self.hold:
            self.closed.wait(10)

    def close(self) -> None:
        self.closed.set()


class FakeEngine:
    """One running container; its first log stream ends while it runs (the connection broke)."""

    def __init__(self, log_streams: list[Stream]) -> None:
        self.log_streams = log_streams
        self.log_calls: list[dict[str, Any]] = []
        self.events_calls = 0
        self.containers_calls = 0

    def events(self, **kwargs: Any) -> Stream:
        self.events_calls += 1
        return Stream([], hold=True)

    def containers(self, **kwargs: Any) -> list[dict[str, Any]]:
        self.containers_calls += 1
        if self.containers_calls == 2:
            raise ConnectionError("[Errno 111] Connection refused")  # the first retry fails: backoff
        labels = {"com.docker.compose.project": "p", "com.docker.compose.service": "web"}
        return [{"Id": "c1", "Names": ["/p-web-1"], "Labels": labels}]

    def logs(self, cid: str, **kwargs: Any) -> Stream:
        self.log_calls.append(kwargs)
        return self.log_streams.pop(0)

    def inspect_container(self, cid: str) -> dict[str, Any]:
        return {"State": {"Running": True}}


def collect(follower: LogFollower, count: int) -> list[LogLine | LogNotice]:
    items: list[LogLine | LogNotice] = []
    while len(items) < count:
        item = follower.queue.get(timeout=10)
        assert item is not None
        items.append(item)
    return items


def test_timestamp_ns_keeps_nanoseconds() -> None:
    assert timestamp_ns(T1) == 1714557600_000000001
    assert timestamp_ns(T2) == 1714557600_500000000
    assert timestamp_ns("2024-05-01T12:00:00+02:00") == 1714557600_000000000
    assert timestamp_ns("nonsense") is None


def test_a_lost_stream_is_said_retried_with_backoff_and_resumed_without_repeats() -> None:
    first = Stream([f"{T1} a\n{T2} b\n".encode(), f"{T2} c\n".encode()])
    # After the reconnection the engine sends again what it has since the last timestamp (and a
    # margin before it): b and c (same timestamp as the last printed line), then the new lines.
    second = Stream([f"{T1} a\n{T2} b\n{T2} c\n{T2} d\n{T3} e\n".encode()], hold=True)
    engine = FakeEngine([first, second])
    waits: list[float] = []

    def wait(seconds: float) -> bool:
        waits.append(seconds)
        return False

    follower = LogFollower(engine, "p", tail=10, wait=wait)  # type: ignore[arg-type]
    try:
        items = collect(follower, 7)
    finally:
        follower.close()
    assert [i.text for i in items] == [
        "a",
        "b",
        "c",
        "log stream lost: the engine ended the log stream of p-web-1; reconnecting…",
        "log stream reconnected",
        "d",
        "e",
    ]
    assert engine.events_calls == 3  # the first, a failed retry, the reconnection
    assert [type(i) for i in items].count(LogNotice) == 2
    assert engine.log_calls[0]["tail"] == 10
    since = engine.log_calls[1]["since"]
    assert abs(since - (timestamp_ns(T2) or 0) / 1e9) <= 0.0011 and since < (timestamp_ns(T2) or 0) / 1e9
    assert waits[:2] == [0.5, 1.0]  # one failed retry doubles the backoff
    assert all(w <= 5.0 for w in waits)
