"""Cancellation from any thread, and the threading contract of the core.

A :class:`CancelToken` is made by a front end and passed to a long core call; any thread may call
:meth:`CancelToken.cancel`. Cancelling takes the path Ctrl-C takes: the call raises
:class:`Cancelled`, a subclass of ``KeyboardInterrupt``, so every ``except KeyboardInterrupt`` in
the core (the ``up`` waiter's "interrupted" outcome, the database flows' recovery error naming
the snapshot, the snapshot store's removal of its partial file, ``pg_dump`` ended on the server)
handles a cancel exactly as it handles Ctrl-C, and the CLI maps it to exit 130.

What a cancel does, per call:

- :func:`devenv.core.stack.up` (``cancel=``): the waiter wakes at once (a sentinel on its queue) and
  returns an ``UpResult`` with outcome "interrupted" and where each service stands; containers are
  left as they are. A cancel during the create step stops ``docker compose`` and raises
  :class:`Cancelled`, as Ctrl-C there does.
- :func:`devenv.core.engine.execio.exec_in` (``cancel=``): the exec's socket is shut down from the
  cancelling thread, the blocked read returns, and :class:`Cancelled` is raised. A ``stoppable``
  exec (migrations, seed) also ends its process group inside the container first (on Ctrl-C and
  SIGTERM too), so nothing keeps running there.
- migrations and seed (:mod:`devenv.core.migrations`, ``cancel=``): the command is stopped in the
  container, a :class:`~devenv.core.events.MigrationInterrupted` event says so and what state it
  left (the revision, read with the tool's history), then the interruption propagates (exit 130,
  143 for SIGTERM; inside ``db reset`` the restore command is named).
- database flows (``open_session(..., cancel=)`` and the flows that take ``cancel=``): checked
  between steps and inside every exec; a cancel after the drop raises the error that names the
  snapshot and the restore command; a cancelled snapshot leaves no file and no ``pg_dump``.
- :class:`devenv.core.logs.LogFollower` and :class:`devenv.core.monitor.StackMonitor`
  (``cancel=``): a cancel closes them (their iterators end).

Threading contract (the one place it is written down; README "Architecture" points here):

- Blocking calls: ``up``, the database flows, migrations, ``exec_in``, ``Stack.status`` and every
  Engine read block the calling thread; run them in a worker thread (the TUI: a thread worker) and
  cancel them with a token from any other thread.
- Progress callbacks (``emit``) of those calls run in the thread that made the call, never in a
  helper thread (see :mod:`devenv.core.events`).
- :class:`~devenv.core.monitor.StackMonitor` runs one thread of its own ("devenv-monitor"):
  callbacks registered with ``subscribe`` are called from that thread, one event at a time, in
  order; they must return quickly (the TUI: ``post_message``). Its iterator (``events()``) hands
  the same events to whichever thread iterates. ``statuses()``, ``watch_stats``, ``stop_stats``
  and ``close`` may be called from any thread.
- :class:`~devenv.core.debug.session.DebugSession` (the DAP client): its requests block the calling
  thread (``attach`` takes ``cancel=``); its ``emit`` callback runs in the DAP reader threads
  ("devenv-dap-*"), which must never wait for a response themselves.
- :meth:`CancelToken.on_cancel` callbacks run in the thread that calls ``cancel()`` (or at once,
  in the registering thread, when the token is already cancelled); they must not block.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections.abc import Callable, Iterator

__all__ = ["CancelToken", "Cancelled", "cancel_hook", "check", "shielded"]


class Cancelled(KeyboardInterrupt):
    """Raised by a core call whose :class:`CancelToken` was cancelled; unwinds like Ctrl-C."""

    def __init__(self, reason: str = "cancelled") -> None:
        super().__init__(reason)
        self.reason = reason


class CancelToken:
    """A thread-safe, one-way cancellation flag with callbacks."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._callbacks: dict[int, Callable[[], None]] = {}
        self._ids = itertools.count()
        self.reason = ""

    def cancel(self, reason: str = "cancelled") -> None:
        """Cancel (idempotent). Registered callbacks run now, in this thread; their errors are ignored."""
        with self._lock:
            if self._event.is_set():
                return
            self.reason = reason
            self._event.set()
            callbacks = list(self._callbacks.values())
            self._callbacks.clear()
        for fn in callbacks:
            with contextlib.suppress(Exception):
                fn()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled(self.reason)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until cancelled or ``timeout`` seconds passed; True when cancelled."""
        return self._event.wait(timeout)

    def on_cancel(self, fn: Callable[[], None]) -> Callable[[], None]:
        """Call ``fn`` on cancel (at once if already cancelled); returns a function that unregisters it."""
        with self._lock:
            if not self._event.is_set():
                key = next(self._ids)
                self._callbacks[key] = fn
                return lambda: self._remove(key)
        with contextlib.suppress(Exception):
            fn()
        return lambda: None

    def _remove(self, key: int) -> None:
        with self._lock:
            self._callbacks.pop(key, None)


def check(token: CancelToken | None) -> None:
    """``token.raise_if_cancelled()`` for an optional token."""
    if token is not None:
        token.raise_if_cancelled()


@contextlib.contextmanager
def cancel_hook(token: CancelToken | None, fn: Callable[[], None]) -> Iterator[None]:
    """Run ``fn`` if ``token`` is cancelled while the block runs (nothing when ``token`` is None)."""
    if token is None:
        yield
        return
    remove = token.on_cancel(fn)
    try:
        yield
    finally:
        remove()


@contextlib.contextmanager
def shielded() -> Iterator[None]:
    """A short clean-up that a second Ctrl-C or SIGTERM must not cut (ending a process in a container).

    In the main thread of a process (only there can handlers be set), SIGINT and SIGTERM are ignored
    while the block runs and the previous handlers come back after it; elsewhere (a TUI worker
    thread, which no signal interrupts) it does nothing. Keep the block bounded in time.
    """
    import signal

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(ValueError, OSError):
            previous[sig] = signal.signal(sig, signal.SIG_IGN)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            with contextlib.suppress(ValueError, OSError, TypeError):
                signal.signal(sig, handler)
