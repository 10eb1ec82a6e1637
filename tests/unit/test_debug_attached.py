"""The in-container check "is the program connected to debugpy's adapter?" (devenv.core.debug.attached).

Its script runs here on the host's own /proc, against a stand-in adapter: a process whose command
line looks like debugpy's adapter (``.../debugpy/adapter --for-server N``) and that listens on a
client port and a server port, as the real one does.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from devenv.core.debug.attached import SCRIPT, debuggee_connected

STAND_IN = r"""
import socket, sys
client = socket.create_server(("127.0.0.1", 0))
server = socket.create_server(("127.0.0.1", 0))
print(client.getsockname()[1], server.getsockname()[1], flush=True)
held = []
import selectors
sel = selectors.DefaultSelector()
sel.register(client, selectors.EVENT_READ)
sel.register(server, selectors.EVENT_READ)
while True:
    for key, _ in sel.select():
        held.append(key.fileobj.accept()[0])
"""


@pytest.fixture()
def adapter() -> Iterator[tuple[int, int]]:
    proc = subprocess.Popen(
        [sys.executable, "-c", STAND_IN, "/opt/x/debugpy/adapter", "--for-server", "1"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        client, server = (int(p) for p in proc.stdout.readline().split())
        yield client, server
    finally:
        proc.kill()
        proc.wait()


def check(client_port: int) -> str:
    out = subprocess.run([sys.executable, "-c", SCRIPT, f"{client_port:04X}"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def eventually(client_port: int, want: str) -> str:
    deadline = time.monotonic() + 5
    got = check(client_port)
    while got != want and time.monotonic() < deadline:
        time.sleep(0.05)  # the stand-in accepts on its own thread of control: a short, bounded poll
        got = check(client_port)
    return got


def test_waiting_until_the_program_connects_on_the_server_port(adapter: tuple[int, int]) -> None:
    client, server = adapter
    assert check(client) == "waiting"
    # A client (the IDE, the probe) on the client port is not the program.
    with socket.create_connection(("127.0.0.1", client)):
        time.sleep(0.2)
        assert check(client) == "waiting"
        # The program connects to the adapter's other port: from then on a client session is safe.
        with socket.create_connection(("127.0.0.1", server)):
            assert eventually(client, "connected") == "connected"


def test_no_adapter_process_means_waiting() -> None:
    assert check(5678) == "waiting"


class _Api:
    """Only what ``exec_in`` needs to fail: the engine refuses the exec (container gone)."""

    def exec_create(self, *args: object, **kwargs: object) -> object:
        raise RuntimeError("409 Conflict: container is not running")


def test_an_exec_that_cannot_run_means_unknown() -> None:
    assert debuggee_connected(_Api(), "c0ffee", "/usr/bin/python3", 5678) is None
