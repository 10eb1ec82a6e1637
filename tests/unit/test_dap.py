"""The DAP client connection: framing, request/response matching, events, timeouts, cancel, disconnect.

The peer is the other end of a socketpair, driven by the test (no adapter, no Docker).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devenv.core.cancel import Cancelled, CancelToken
from devenv.core.debug.dap import (
    AlreadyAttachedError,
    DapClosed,
    DapConnectError,
    DapConnection,
    DapProtocolError,
    DapRequestError,
    DapTimeout,
    FrameDecoder,
    encode_message,
)
from devenv.errors import ExitCode


# -------------------------------------------------------------------------------------- framing
def test_encode_counts_bytes_not_characters() -> None:
    data = encode_message({"seq": 1, "type": "event", "event": "output", "body": {"output": "é✓"}})
    header, _, body = data.partition(b"\r\n\r\n")
    assert header == b"Content-Length: %d" % len(body)
    assert len(body) > len(body.decode("utf-8"))  # multi-byte characters
    assert json.loads(body)["body"]["output"] == "é✓"


def test_decoder_takes_any_chunking_and_several_messages_per_chunk() -> None:
    messages = [{"seq": i, "type": "event", "event": "e", "body": {"n": "x" * i}} for i in range(1, 6)]
    stream = b"".join(encode_message(m) for m in messages)
    decoder = FrameDecoder()
    out: list[dict[str, Any]] = []
    for i in range(len(stream)):  # one byte at a time
        out += decoder.feed(stream[i : i + 1])
    assert out == messages
    assert FrameDecoder().feed(stream) == messages  # all at once


@given(st.lists(st.dictionaries(st.text(max_size=5), st.text(max_size=20), max_size=3), max_size=5), st.data())
def test_decoder_roundtrip_any_split(bodies: list[dict[str, str]], data: st.DataObject) -> None:
    stream = b"".join(encode_message(b) for b in bodies)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=6)))
    decoder = FrameDecoder()
    out: list[dict[str, Any]] = []
    last = 0
    for cut in [*cuts, len(stream)]:
        out += decoder.feed(stream[last:cut])
        last = cut
    assert out == bodies


def test_decoder_header_names_are_case_insensitive_and_other_headers_ignored() -> None:
    body = b'{"seq":1}'
    raw = b"content-length: %d\r\nContent-Type: application/vscode-jsonrpc\r\n\r\n" % len(body) + body
    assert FrameDecoder().feed(raw) == [{"seq": 1}]


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        (b"HTTP/1.1 400 Bad Request\r\n\r\n", "bad header line"),
        (b"Content-Length: x\r\n\r\n", "Bad Content-Length"),
        (b"Content-Type: json\r\n\r\n", "without a valid Content-Length"),
        (b"Content-Length: 3\r\n\r\nabc", "not JSON"),
        (b"Content-Length: 2\r\n\r\n[]", "not an object"),
        (b"x" * 9000, "header without an end"),
    ],
)
def test_decoder_rejects_what_is_not_dap(raw: bytes, text: str) -> None:
    with pytest.raises(DapProtocolError, match=text):
        FrameDecoder().feed(raw)


# ------------------------------------------------------------------------------------ the peer
class Peer:
    """The adapter's end of a socketpair, driven by the test."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.decoder = FrameDecoder()
        self.inbox: list[dict[str, Any]] = []
        self.seq = 0

    def read(self, timeout: float = 5.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while not self.inbox:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            data = self.sock.recv(65536)
            if not data:
                raise EOFError
            self.inbox += self.decoder.feed(data)
        return self.inbox.pop(0)

    def send(self, message: dict[str, Any]) -> None:
        self.seq += 1
        self.sock.sendall(encode_message({"seq": self.seq, **message}))

    def respond(self, req: dict[str, Any], body: dict[str, Any] | None = None, *, error: str | None = None) -> None:
        msg: dict[str, Any] = {"type": "response", "request_seq": req["seq"], "command": req["command"]}
        msg["success"] = error is None
        if error:
            msg["message"] = error
        if body is not None:
            msg["body"] = body
        self.send(msg)

    def event(self, name: str, body: dict[str, Any] | None = None) -> None:
        self.send({"type": "event", "event": name, "body": body or {}})


@pytest.fixture()
def pair() -> Iterator[tuple[DapConnection, Peer]]:
    a, b = socket.socketpair()
    conn = DapConnection(a, name="api", timeout=2.0)
    peer = Peer(b)
    yield conn, peer
    conn._finish("test over")
    b.close()


def in_thread(fn: Any, *args: Any, **kwargs: Any) -> tuple[threading.Thread, dict[str, Any]]:
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = fn(*args, **kwargs)
        except BaseException as exc:
            box["error"] = exc

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, box


# --------------------------------------------------------------------------------- connection
def test_responses_are_matched_by_seq_even_out_of_order(pair: tuple[DapConnection, Peer]) -> None:
    conn, peer = pair
    t1, box1 = in_thread(conn.request, "threads")
    first = peer.read()
    t2, box2 = in_thread(conn.request, "stackTrace", {"threadId": 7})
    second = peer.read()
    assert first["type"] == "request" and first["command"] == "threads" and "arguments" not in first
    assert second["command"] == "stackTrace" and second["arguments"] == {"threadId": 7}
    assert second["seq"] > first["seq"]
    peer.respond(second, {"stackFrames": [{"id": 1}]})
    peer.respond(first, {"threads": [{"id": 7, "name": "MainThread"}]})
    t1.join(2)
    t2.join(2)
    assert box1["value"] == {"threads": [{"id": 7, "name": "MainThread"}]}
    assert box2["value"] == {"stackFrames": [{"id": 1}]}


def test_a_response_without_body_is_an_empty_dict(pair: tuple[DapConnection, Peer]) -> None:
    conn, peer = pair
    t, box = in_thread(conn.request, "configurationDone")
    peer.respond(peer.read())
    t.join(2)
    assert box["value"] == {}


def test_a_refused_request_raises_with_the_adapters_message(pair: tuple[DapConnection, Peer]) -> None:
    conn, peer = pair
    t, box = in_thread(conn.request, "evaluate", {"expression": "nope"})
    error = "Traceback: NameError: name 'nope' is not defined"
    peer.respond(peer.read(), {"error": {"format": "ignored"}}, error=error)
    t.join(2)
    err = box["error"]
    assert isinstance(err, DapRequestError)
    assert err.command == "evaluate" and "NameError" in err.reason
    assert "The debugger refused `evaluate`: Traceback: NameError" in err.message


def test_another_client_attached_is_said_clearly(pair: tuple[DapConnection, Peer]) -> None:
    conn, peer = pair
    t, box = in_thread(conn.request, "attach", {})
    peer.respond(peer.read(), error="Server[pid=7] is already being debugged.")
    t.join(2)
    err = box["error"]
    assert isinstance(err, AlreadyAttachedError)
    assert "Another debugger is attached to api" in err.message
    assert err.hint is not None and "detach the other client" in err.hint


def test_a_request_times_out_and_its_late_response_is_dropped(pair: tuple[DapConnection, Peer]) -> None:
    conn, peer = pair
    started = time.monotonic()
    with pytest.raises(DapTimeout, match=r"did not answer `threads` within 0\.2s") as info:
        conn.request("threads", timeout=0.2)
    assert 0.15 < time.monotonic() - started < 1.5
    assert info.value.exit_code == ExitCode.TIMEOUT
    late = peer.read()
    peer.respond(late, {"threads": []})  # nobody waits: ignored, the connection stays usable
    t, box = in_thread(conn.request, "threads")
    peer.respond(peer.read(), {"threads": [{"id": 1}]})
    t.join(2)
    assert box["value"] == {"threads": [{"id": 1}]}


def test_cancel_from_another_thread_ends_the_wait(pair: tuple[DapConnection, Peer]) -> None:
    conn, peer = pair
    token = CancelToken()
    t, box = in_thread(conn.request, "evaluate", {"expression": "slow()"}, timeout=30, cancel=token)
    peer.read()
    started = time.monotonic()
    token.cancel("user")
    t.join(2)
    assert isinstance(box["error"], Cancelled)
    assert time.monotonic() - started < 1.0
    with pytest.raises(Cancelled):
        conn.request("threads", cancel=token)  # an already-cancelled token sends nothing


def test_events_reach_subscribers_in_order_and_a_failing_one_harms_nobody(pair: tuple[DapConnection, Peer]) -> None:
    conn, peer = pair
    seen: list[tuple[str, dict[str, Any]]] = []
    done = threading.Event()

    def bad(_event: str, _body: dict[str, Any]) -> None:
        raise RuntimeError("subscriber bug")

    def good(event: str, body: dict[str, Any]) -> None:
        seen.append((event, body))
        if event == "terminated":
            done.set()

    conn.subscribe(bad)
    unsubscribe = conn.subscribe(good)
    for i in range(50):
        peer.event("output", {"output": f"line {i}\n"})
    peer.event("stopped", {"reason": "breakpoint", "threadId": 1})
    peer.event("terminated")
    assert done.wait(3)
    assert [b["output"] for e, b in seen if e == "output"] == [f"line {i}\n" for i in range(50)]
    assert seen[-2] == ("stopped", {"reason": "breakpoint", "threadId": 1})
    unsubscribe()
    peer.event("output", {"output": "after"})
    t, box = in_thread(conn.request, "threads")  # the reader is alive and in order
    peer.respond(peer.read(), {})
    t.join(2)
    assert "value" in box and all(b.get("output") != "after" for _e, b in seen)


def test_an_event_waiter_registered_first_catches_a_fast_event(pair: tuple[DapConnection, Peer]) -> None:
    conn, peer = pair
    waiter = conn.expect_event("initialized")
    pending = conn.send_request("attach", {"justMyCode": False})
    req = peer.read()
    peer.event("initialized")
    assert waiter.wait(2) == {}
    peer.respond(req)
    assert conn.wait(pending) == {}
    woken = conn.expect_event("never")
    woken.wake()
    assert woken.wait(2) is None
    with pytest.raises(DapTimeout, match=r"sent no `never2` within 0\.1s"):
        conn.expect_event("never2").wait(0.1)


def test_reverse_requests_are_refused(pair: tuple[DapConnection, Peer]) -> None:
    _conn, peer = pair
    peer.send({"type": "request", "command": "runInTerminal", "arguments": {}})
    reply = peer.read()
    assert reply["type"] == "response" and reply["success"] is False
    assert reply["command"] == "runInTerminal" and reply["request_seq"] == peer.seq


def test_adapter_going_away_fails_pending_requests_and_tells_close_callbacks(pair: tuple[DapConnection, Peer]) -> None:
    conn, peer = pair
    reasons: list[str] = []
    conn.on_close(reasons.append)
    t, box = in_thread(conn.request, "threads")
    peer.read()
    peer.sock.close()
    t.join(2)
    assert isinstance(box["error"], DapClosed)
    assert "before `threads` was answered" in box["error"].message
    assert conn.closed and reasons == ["the debug adapter closed the connection"]
    late: list[str] = []
    conn.on_close(late.append)  # registered after the end: called at once
    assert late == reasons
    with pytest.raises(DapClosed):
        conn.request("threads")


def test_garbage_from_the_peer_closes_the_connection_with_the_reason(pair: tuple[DapConnection, Peer]) -> None:
    conn, peer = pair
    reasons: list[str] = []
    conn.on_close(reasons.append)
    peer.sock.sendall(b"SSH-2.0-OpenSSH_9.2\r\n\r\n")
    deadline = time.monotonic() + 2
    while not reasons and time.monotonic() < deadline:
        time.sleep(0.01)
    assert conn.closed and "not a DAP adapter" in reasons[0]


def test_close_completes_disconnect_before_closing_the_socket(pair: tuple[DapConnection, Peer]) -> None:
    """debugpy 1.8's adapter exits for good when a client closes without completing `disconnect`."""
    conn, peer = pair
    t, box = in_thread(conn.close)
    req = peer.read()
    assert req["command"] == "disconnect"
    assert req["arguments"]["terminateDebuggee"] is False and req["arguments"]["restart"] is False
    time.sleep(0.3)  # the client must still be waiting, socket open
    assert t.is_alive() and not conn.closed
    peer.event("terminated")
    peer.respond(req)
    t.join(3)
    assert not t.is_alive() and "error" not in box
    assert conn.closed and conn.close_reason == "detached"
    with pytest.raises(EOFError):
        peer.read(1)
    conn.close()  # twice is fine


def test_disconnect_from_two_threads_sends_one_request_and_waits_for_its_answer(
    pair: tuple[DapConnection, Peer],
) -> None:
    conn, peer = pair
    t1, _ = in_thread(conn.disconnect)
    req = peer.read()
    t2, _ = in_thread(conn.close)
    time.sleep(0.2)
    assert not conn.closed  # the second caller waits for the first one's answer
    peer.respond(req)
    t1.join(3)
    t2.join(3)
    assert conn.closed
    with pytest.raises(EOFError):
        peer.read(1)


def test_disconnect_gives_up_after_its_timeout(pair: tuple[DapConnection, Peer]) -> None:
    conn, peer = pair
    started = time.monotonic()
    assert conn.disconnect(timeout=0.2) is False  # the adapter never answered
    assert time.monotonic() - started < 1.5 and conn.closed
    assert peer.read()["command"] == "disconnect"


def test_connecting_to_a_closed_port_says_what_to_do() -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with pytest.raises(DapConnectError, match=f"Cannot connect to the debugger of api at 127.0.0.1:{port}") as info:
        DapConnection.open("127.0.0.1", port, name="api", timeout=1)
    assert info.value.hint is not None and "devenv debug SERVICE" in info.value.hint


def test_open_with_a_cancelled_token_does_not_connect() -> None:
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        DapConnection.open("127.0.0.1", 9, cancel=token)
