"""The file watcher: watchfiles (Rust ``notify``: inotify, FSEvents...) in a thread, batches to a callback.

watchfiles hands over a batch once no new change arrived for ``step`` ms (at most ``debounce`` ms
after the first one): with a small step, a saved file is handed over within tens of
milliseconds, and a burst (a branch switch, a formatter over the tree) still arrives as one batch,
because its changes come closer together than the step. Compose waits for a 500 ms quiet period.
Idle, the thread sleeps in Rust and wakes once per step (watchfiles polls its change set; it has
no blocking wait). Each wake-up is kept as cheap as it can be: no stop event is handed to Rust (that
is a Python call per step, which doubled the idle CPU: 0.24 % of a core against 0.12 % at a 20 ms
step); Rust returns every :data:`STOP_CHECK_MS` instead, and the stop flag is read then.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

__all__ = ["DEBOUNCE_MS", "STEP_MS", "FileWatch"]

# Quiet time that ends a batch. A save is handed over 1.5 steps after it on average (the next wake-up,
# then one quiet step), and idle costs one wake-up per step: at 20 ms a save was visible in the
# container 42 ms after it, at 0.13 % of a core idle (Compose: 539 ms, 0.03 %); 40 ms halves the
# wake-ups for about 30 ms more (the goal is 150 ms).
STEP_MS = 40
DEBOUNCE_MS = 1000  # longest a continuous stream of changes is held before a batch is handed over
STOP_CHECK_MS = 400  # how often the idle loop returns to Python to read the stop flag


class FileWatch:
    """Watch ``paths`` (recursively or not) until :meth:`stop`; ``on_batch(paths, seen_at)`` from its thread.

    ``on_error(exc)`` when watching fails (a watched folder removed...); the thread then ends.
    """

    def __init__(
        self,
        paths: Sequence[str],
        on_batch: Callable[[set[str], float], None],
        on_error: Callable[[BaseException], None],
        *,
        recursive: bool = True,
        step_ms: int = STEP_MS,
        name: str = "devenv-watch-files",
    ) -> None:
        self.paths = list(paths)
        self.recursive = recursive
        self.step_ms = step_ms
        self._on_batch = on_batch
        self._on_error = on_error
        self._stop = threading.Event()
        self.ready = threading.Event()  # set once the watches are in place
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> FileWatch:
        if self.paths:
            self._thread.start()
        else:
            self.ready.set()
        return self

    def stop(self) -> None:
        """Stop watching: the changes it finds from now on are dropped (the thread ends within
        :data:`STOP_CHECK_MS` plus one step)."""
        self._stop.set()

    def join(self, timeout: float = 2.0) -> None:
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _run(self) -> None:
        # The class watchfiles.watch() wraps: it tells when the watches are in place (``ready``).
        from watchfiles._rust_notify import RustNotify

        try:
            with RustNotify(self.paths, False, False, 300, self.recursive, True) as notify:
                self.ready.set()
                while not self._stop.is_set():
                    raw = notify.watch(DEBOUNCE_MS, self.step_ms, STOP_CHECK_MS, None)
                    if isinstance(raw, str) or self._stop.is_set():  # "timeout", "signal"; or stopped meanwhile
                        continue
                    seen_at = time.monotonic()
                    self._on_batch({path for _change, path in raw}, seen_at)
        except BaseException as exc:  # a watch that cannot go on: reported, the loop decides
            self.ready.set()
            if not self._stop.is_set():
                self._on_error(exc)
