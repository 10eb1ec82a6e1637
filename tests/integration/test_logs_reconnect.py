"""``devenv logs -f`` when the engine connection breaks: a notice, a reconnection, no gap and no repeat.

The shared daemon is not restarted: devenv talks to it through a UNIX-socket proxy run by the test
(``DOCKER_HOST=unix://<tmp>/engine.sock``), and the proxy is stopped (every connection through it is
closed, new ones are refused) and started again.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from devenv_testlib import BASE_IMAGE, DEVENV, base_env, cleanup_project, docker, unique_name, wait_for

pytestmark = pytest.mark.docker

COMPOSE = f"""services:
  ticker:
    image: {BASE_IMAGE}
    init: true
    command: ["sh", "-c", "i=0; while :; do i=$$((i+1)); echo tick $$i; sleep 0.1; done"]
"""


def engine_socket() -> str:
    host = os.environ.get("DOCKER_HOST", "")
    return host[len("unix://") :] if host.startswith("unix://") else "/var/run/docker.sock"


class SocketProxy:
    """A UNIX-socket proxy to the engine; ``stop()`` breaks every connection, ``start()`` listens again."""

    def __init__(self, path: Path, target: str) -> None:
        self.path = path
        self.target = target
        self.listener: socket.socket | None = None
        self.conns: list[socket.socket] = []
        self.lock = threading.Lock()

    def start(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(self.path))
        listener.listen(64)
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        listener, self.listener = self.listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # like socat: new connections fail at once
        with self.lock:
            conns, self.conns = self.conns, []
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            upstream.connect(self.target)
            with self.lock:
                self.conns += [client, upstream]
            threading.Thread(target=self._pipe, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)


class Captured:
    """Lines of a pipe, read by a thread as they come."""

    def __init__(self, pipe: object) -> None:
        self.lines: list[str] = []
        threading.Thread(target=self._read, args=(pipe,), daemon=True).start()

    def _read(self, pipe: object) -> None:
        for line in pipe:  # type: ignore[attr-defined]
            self.lines.append(line.rstrip("\n"))

    def text(self) -> str:
        return "\n".join(self.lines)


def ticks(lines: list[str]) -> list[int]:
    return [int(m.group(1)) for line in lines if (m := re.search(r"\| tick (\d+)$", line))]


def last_tick_on_engine(project: str) -> int:
    ids = docker("ps", "-q", "--filter", f"label=com.docker.compose.project={project}").stdout.split()
    out = docker("logs", "--tail", "1", ids[0]).stdout.strip() if ids else ""
    m = re.search(r"tick (\d+)$", out)
    return int(m.group(1)) if m else 0


@pytest.fixture()
def ticker(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    name = unique_name()
    root = tmp_path / name
    root.mkdir()
    (root / "compose.yml").write_text(COMPOSE)
    (root / "devenv.toml").write_text(f'[project]\nname = "{name}"\ncompose_files = ["compose.yml"]\n')
    try:
        docker("compose", "-p", name, "up", "-d", cwd=root, check=True)
        yield root, name
    finally:
        cleanup_project(name)


def test_follow_says_the_stream_was_lost_reconnects_and_resumes_without_gap_or_repeat(
    ticker: tuple[Path, str], tmp_path: Path
) -> None:
    root, name = ticker
    proxy = SocketProxy(tmp_path / "engine.sock", engine_socket())
    proxy.start()
    proc = subprocess.Popen(
        [str(DEVENV), "logs", "-f"],
        cwd=root,
        env=base_env({"DOCKER_HOST": f"unix://{proxy.path}"}),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    out, err = Captured(proc.stdout), Captured(proc.stderr)

    def dump() -> str:
        return f"--- stdout ---\n{out.text()}\n--- stderr ---\n{err.text()}"

    try:
        wait_for(lambda: len(ticks(out.lines)) >= 5, 60, "the first lines through the proxy")

        proxy.stop()
        wait_for(lambda: "log stream lost:" in err.text(), 30, f"the notice of the lost stream\n{dump()}")
        assert re.search(r"devenv: log stream lost: .+; reconnecting…", err.text()), dump()
        seen_before = max(ticks(out.lines))
        # The service keeps logging while devenv cannot see it.
        wait_for(lambda: last_tick_on_engine(name) >= seen_before + 20, 30, "lines logged during the outage")
        assert max(ticks(out.lines)) < seen_before + 20, f"lines arrived without a connection?\n{dump()}"

        proxy.start()
        target = last_tick_on_engine(name) + 10
        wait_for(lambda: max(ticks(out.lines)) >= target, 60, f"lines after the reconnection\n{dump()}")
        assert "devenv: log stream reconnected" in err.text(), dump()
        assert proc.poll() is None, f"logs -f ended\n{dump()}"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=20)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proxy.stop()

    assert proc.returncode == 0, dump()
    numbers = ticks(out.lines)
    # Every line exactly once, in order, across the outage: no repeat, no gap.
    assert numbers == list(range(numbers[0], numbers[-1] + 1)), dump()
    assert "Traceback" not in err.text(), dump()
