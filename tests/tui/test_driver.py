"""devenv's terminal driver (devenv.tui.driver), in a real pseudo-terminal: the input thread
sleeps while nothing is typed, a lone ``escape`` still arrives after Textual's escape delay, and
``q`` quits at once (the exit wakes the thread)."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def drain(fd: int, seconds: float) -> None:
    """Read what the app draws (a full pty would block it)."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            try:
                os.read(fd, 65536)
            except OSError:
                return


def test_the_input_thread_sleeps_while_idle_and_keys_and_exit_still_work(tmp_path: Path) -> None:
    out = tmp_path / "probe.json"
    master, slave = pty.openpty()
    env = {**os.environ, "TERM": "xterm-256color", "TEXTUAL_ANIMATIONS": "none"}
    env.pop("COLUMNS", None)
    env.pop("LINES", None)
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "quiet_driver_app.py"), str(out)],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        close_fds=True,
    )
    os.close(slave)
    try:
        drain(master, 3.0)  # started, drawn, then idle
        os.write(master, b"\x1b")  # a lone escape: only the parser's timeout can finish it
        drain(master, 1.0)
        os.write(master, b"q")
        sent_q = time.monotonic()
        while proc.poll() is None and time.monotonic() - sent_q < 10:
            drain(master, 0.05)
        assert proc.returncode == 0, proc.returncode
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    got = json.loads(out.read_text())
    assert got["driver"] == "QuietLinuxDriver"  # this Textual has what the driver relies on
    assert got["keys"] == ["escape", "q"], got["keys"]
    # Idle from 0.5 s after the mount until the escape (2 s or more): Textual's own thread calls
    # select ten times a second; this one waits in one call.
    idle_from = got["mounted_at"] + 0.5
    idle_calls = [t for t in got["calls"] if idle_from < t < idle_from + 1.5]
    assert len(idle_calls) <= 1, idle_calls
    assert got["exited_at"] - sent_q < 1.0  # the exit woke the thread (same monotonic clock)
