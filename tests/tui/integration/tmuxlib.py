"""Drive the real ``devenv`` console script in a real terminal (tmux) and read the screen."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path


def have_tmux() -> bool:
    return shutil.which("tmux") is not None


class Tmux:
    """One detached tmux session running one command at a fixed size."""

    def __init__(self, command: list[str], cwd: Path, env: Mapping[str, str], *, width: int = 120, height: int = 35):
        self.name = f"dvt-tui-{uuid.uuid4().hex[:8]}"
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
        # Only the test's environment (plus HOME, where the Compose plugin lives): the pane inherits
        # the tmux server's, which may be another process's (DEVENV_PROFILE, COMPOSE_FILE...), and
        # a shell there may export COLUMNS/LINES from before tmux resized the window (80x24 seen
        # here), which Textual would take over the terminal's real size.
        home = shlex.quote(os.environ.get("HOME", "/root"))
        script = f"cd {shlex.quote(str(cwd))} && env -i HOME={home} {exports} {shlex.join(command)}"
        script += "; echo DEVENV-EXIT=$?; sleep 600"
        subprocess.run(
            ["tmux", "new-session", "-d", "-s", self.name, "-x", str(width), "-y", str(height), script], check=True
        )

    def screen(self) -> str:
        return subprocess.run(
            ["tmux", "capture-pane", "-p", "-t", self.name], capture_output=True, text=True, check=False
        ).stdout

    def press(self, *keys: str) -> None:
        for key in keys:
            subprocess.run(["tmux", "send-keys", "-t", self.name, key], check=True)
            time.sleep(0.05)

    def type(self, text: str) -> None:
        subprocess.run(["tmux", "send-keys", "-t", self.name, "-l", text], check=True)

    def wait_for(self, predicate: Callable[[str], bool], timeout: float, what: str, interval: float = 0.05) -> str:
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if predicate(screen):
                return screen
            time.sleep(interval)
        raise AssertionError(f"timed out after {timeout}s waiting for {what}; screen:\n{screen}")

    def close(self) -> None:
        subprocess.run(["tmux", "kill-session", "-t", self.name], capture_output=True, check=False)
