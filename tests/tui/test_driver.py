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
    out, mounted = tmp_path / "probe.json", tmp_path / "mounted"
    master, slave = pty.openpty()
    env = {**os.environ, "TERM": "xterm-256color", "TEXTUAL_ANIMATIONS": "none"}
    env.pop("COLUMNS", None)
    env.pop("LINES", None)
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "quiet_driver_app.py"), str(out), str(mounted)],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        close_fds=True,
    )
    os.close(slave)
    try:
        deadline = time.monotonic() + 60  # a loaded machine imports Textual slowly
        while not mounted.exists() and proc.poll() is None and time.monotonic() < deadline:
            drain(master, 0.05)
        assert mounted.exists(), "the probe app did not start"
        drain(master, 1.5)  # idle
        sent_escape = time.monotonic()  # the same monotonic clock as the probe's (one machine)
        os.write(master, b"\x1b")  # a lone escape: only the parser's deadline can finish it
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
    # Idle from 0.3 s after the mount until the escape (1.2 s or more): Textual's own thread calls
    # select ten times a second (13 in this window, seen); this one waits in one call.
    idle = [t for t in got["calls"] if got["mounted_at"] + 0.3 < t < sent_escape]
    assert sent_escape - got["mounted_at"] > 1.2 and len(idle) <= 2, idle
    assert got["exited_at"] - sent_q < 5  # the exit reached the thread blocked in select (no hang)
