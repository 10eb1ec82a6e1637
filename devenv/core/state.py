"""The private state folder ``.devenv`` and the per-project lock of database commands.

``.devenv`` holds full database dumps, so it and every folder devenv makes below it are 0700 (and
its files 0600); a ``.gitignore`` containing ``*`` keeps it out of git. ``db_lock`` serialises the
database commands of one project through ``flock`` on ``.devenv/db.lock``: destructive commands
take it exclusive, snapshots and exports shared. These names are re-exported by
``devenv.core.db.snapshots``, the store that uses them.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import json
import os
import stat
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from devenv.errors import DevenvError

STATE_DIR = ".devenv"
LOCK_FILE = "db.lock"
LOCK_TIMEOUT = 120.0  # seconds a database command waits for another one on the same project
LOCK_POLL = 0.1  # seconds between two non-blocking attempts


class StateDirError(DevenvError):
    """The state folder (or a folder below it) cannot be created or used (exit 1)."""


class LockTimeoutError(DevenvError):
    """Another devenv command held the project lock for longer than the timeout (exit 1)."""


# ------------------------------------------------------------------------------- private folders
def private_dir(path: Path) -> Path:
    """Create ``path`` (mode 0700) if missing and tighten it to 0700 if group/others have access."""
    try:
        with contextlib.suppress(FileExistsError):
            path.mkdir(mode=0o700)
        mode = path.stat().st_mode
    except OSError as exc:
        raise StateDirError(f"Cannot create the folder {path}: {exc.strerror or exc}.") from None
    if not stat.S_ISDIR(mode):
        raise StateDirError(
            f"Cannot use {path}: a file stands where devenv keeps a folder.",
            hint=f"Move or remove {path}, then run the command again.",
        )
    if stat.S_IMODE(mode) & 0o077:
        with contextlib.suppress(OSError):  # not ours to change (another owner): leave it
            path.chmod(0o700)
    return path


def ensure_state_dir(root: Path) -> Path:
    """``<root>/.devenv``, private (0700) and ignored by git (a ``.gitignore`` containing ``*``)."""
    state = private_dir(root / STATE_DIR)
    try:
        fd = os.open(state / ".gitignore", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return state
    except OSError as exc:
        raise StateDirError(f"Cannot write {state / '.gitignore'}: {exc.strerror or exc}.") from None
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write("# devenv state (snapshots are full database dumps): never commit it\n*\n")
    return state


# ------------------------------------------------------------------------------------------ lock
@dataclass(frozen=True)
class LockHolder:
    """A command holding the lock, as recorded in the lock file (one JSON line per holder)."""

    pid: int | None
    command: str
    started: float | None
    exclusive: bool = False
    id: str = ""

    def describe(self, now: float | None = None) -> str:
        parts = [f"pid {self.pid}" if self.pid else "", self.command]
        text = ": ".join(p for p in parts if p)
        if self.started is not None:
            age = max(0, round((now or time.time()) - self.started))
            text += f", started {age} s ago" if age < 120 else f", started {age // 60} min ago"
        return text or "unknown command"

    def record(self) -> str:
        data = {"pid": self.pid, "command": self.command, "started": self.started, "exclusive": self.exclusive}
        return json.dumps({**data, "id": self.id})


def _holder(line: str) -> LockHolder | None:
    try:
        data = json.loads(line)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    pid, command, started = data.get("pid"), data.get("command"), data.get("started")
    return LockHolder(
        pid=pid if isinstance(pid, int) and not isinstance(pid, bool) else None,
        command=command if isinstance(command, str) else "",
        started=float(started) if isinstance(started, int | float) and not isinstance(started, bool) else None,
        exclusive=data.get("exclusive") is True,
        id=str(data.get("id") or ""),
    )


def pid_alive(pid: int | None) -> bool:
    """Whether process ``pid`` exists on this machine (another user's counts)."""
    if not pid or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except (OverflowError, OSError):
        return False
    return True


def read_holders(path: Path) -> list[LockHolder]:
    """The live holders recorded in lock file ``path`` (exclusive first); [] when unknown."""
    try:
        with _guard(path, exclusive=False), open(path, encoding="utf-8", errors="replace") as f:
            text = f.read(1 << 16)
    except OSError:
        return []
    holders = [h for h in map(_holder, text.splitlines()) if h is not None and pid_alive(h.pid)]
    return sorted(holders, key=lambda h: not h.exclusive)


@contextlib.contextmanager
def _guard(path: Path, *, exclusive: bool) -> Iterator[None]:
    """A flock on ``<lock>.guard`` for the instant the holder records are read or rewritten.

    Held only around a read or a write of a small file, never while waiting for anything else,
    so blocking on it is brief.
    """
    fd = os.open(path.with_name(path.name + ".guard"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)


def _edit_holders(fd: int, path: Path, change: Callable[[list[LockHolder]], list[LockHolder]]) -> None:
    """Rewrite the holder records of the open lock file ``fd`` (dead holders are dropped)."""
    with contextlib.suppress(OSError), _guard(path, exclusive=True):  # records only improve messages
        text = os.pread(fd, 1 << 16, 0).decode("utf-8", errors="replace")
        holders = [h for h in map(_holder, text.splitlines()) if h is not None and pid_alive(h.pid)]
        data = "".join(h.record() + "\n" for h in change(holders)).encode()
        os.pwrite(fd, data, 0)
        os.ftruncate(fd, len(data))


@dataclass
class _Held:
    fd: int
    exclusive: bool
    id: str
    depth: int = 1


_held: dict[tuple[str, int], _Held] = {}  # (lock file, thread) -> the flock this thread holds
_held_guard = threading.Lock()
_ids = itertools.count(1)


class ProjectLock:
    """``flock`` on ``<root>/.devenv/db.lock`` (or ``name``), shared or exclusive; a context manager.

    A second command waits: ``on_wait`` gets one message naming the holder (pid, command, age),
    then the lock is polled until ``timeout`` seconds have passed, when LockTimeoutError (exit 1)
    names the holder. The wait ends on Ctrl-C. Re-entrant within a thread: taking it again while
    holding it (an exclusive or the same mode) is a no-op; asking for exclusive while holding it
    shared is a bug and raises RuntimeError. The lock is released when the block ends, whatever
    the outcome, and by the kernel when the process dies.
    """

    def __init__(
        self,
        root: Path,
        *,
        exclusive: bool,
        what: str,
        on_wait: Callable[[str], None] | None = None,
        timeout: float = LOCK_TIMEOUT,
        name: str = LOCK_FILE,
    ) -> None:
        self.root, self.exclusive, self.what = root, exclusive, what
        self.on_wait, self.timeout, self.name = on_wait, timeout, name
        self.path = root / STATE_DIR / name
        self._key: tuple[str, int] | None = None

    def __enter__(self) -> ProjectLock:
        self.path = ensure_state_dir(self.root) / self.name
        key = (str(self.path.resolve()), threading.get_ident())
        with _held_guard:
            held = _held.get(key)
            if held is not None:
                if self.exclusive and not held.exclusive:
                    raise RuntimeError(f"{self.what}: cannot take {self.path} exclusive while holding it shared")
                held.depth += 1
                self._key = key
                return self
        fd, ident = self._acquire()
        with _held_guard:
            _held[key] = _Held(fd, self.exclusive, ident)
        self._key = key
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        key, self._key = self._key, None
        if key is None:
            return
        with _held_guard:
            held = _held[key]
            held.depth -= 1
            if held.depth:
                return
            del _held[key]
        _edit_holders(held.fd, self.path, lambda hs: [h for h in hs if h.id != held.id])
        with contextlib.suppress(OSError):
            fcntl.flock(held.fd, fcntl.LOCK_UN)
        os.close(held.fd)

    def holders(self) -> list[LockHolder]:
        """The commands holding the lock now (as they recorded themselves), exclusive first."""
        return read_holders(self.path)

    def _acquire(self) -> tuple[int, str]:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        except OSError as exc:
            raise StateDirError(f"Cannot open the lock file {self.path}: {exc.strerror or exc}.") from None
        try:
            self._wait_for(fd)
            me = LockHolder(os.getpid(), self.what, time.time(), self.exclusive, f"{os.getpid()}-{next(_ids)}")
            _edit_holders(fd, self.path, lambda hs: [*hs, me])
        except BaseException:
            os.close(fd)
            raise
        return fd, me.id

    def _wait_for(self, fd: int) -> None:
        mode = fcntl.LOCK_EX if self.exclusive else fcntl.LOCK_SH
        deadline = time.monotonic() + self.timeout
        announced = False
        # Bounded lock polling: flock has no timeout, and a blocking flock would ignore Ctrl-C
        # until the holder is done. A non-blocking attempt every LOCK_POLL seconds until the
        # deadline; the sleep between attempts is where Ctrl-C (KeyboardInterrupt) gets through.
        while True:
            try:
                fcntl.flock(fd, mode | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                pass
            except OSError as exc:
                raise StateDirError(f"Cannot lock {self.path}: {exc.strerror or exc}.") from None
            left = deadline - time.monotonic()
            if left <= 0:
                raise LockTimeoutError(
                    f"Another devenv command is still running on this project ({self._describe()}); "
                    f"gave up waiting after {self.timeout:.0f} s. Nothing was changed.",
                    hint="Wait for it to finish (or stop it), then run this command again.",
                )
            if not announced and self.on_wait is not None:
                self.on_wait(f"waiting for another devenv command on this project ({self._describe()})…")
            announced = True
            # Bounded backoff between non-blocking flock attempts (flock has no timeout of its own).
            time.sleep(min(LOCK_POLL, left))

    def _describe(self) -> str:
        holders = self.holders()
        now = time.time()
        text = "; ".join(h.describe(now) for h in holders[:3]) or "unknown command"
        return text + (f"; and {len(holders) - 3} more" if len(holders) > 3 else "")


def db_lock(
    root: Path,
    *,
    exclusive: bool,
    what: str,
    on_wait: Callable[[str], None] | None = None,
    timeout: float = LOCK_TIMEOUT,
) -> ProjectLock:
    """The project's database lock: ``with db_lock(root, exclusive=True, what="db reset"): ...``."""
    return ProjectLock(root, exclusive=exclusive, what=what, on_wait=on_wait, timeout=timeout)
