"""A terminal driver whose input thread sleeps while nothing is typed.

Textual's :class:`~textual.drivers.linux_driver.LinuxDriver` reads the keyboard in a thread that
wakes every 0.1 s (``select(0.1)``) to check whether the app is exiting and whether a lone
``escape`` waits for its timeout. Ten wake-ups a second cost 0.13-0.2 % of a core on these
machines: a fifth of devenv's idle budget (1 % of a core with a stack running and nothing
happening). :class:`QuietLinuxDriver` waits on the terminal and on a wake-up pipe instead:

- with nothing pending it blocks until a key arrives (no wake-ups at all);
- when the parser holds a partial sequence (a lone ``escape``, or the start of one), it wakes at
  the parser's own deadline, which is what the 0.1 s poll approximated;
- the app's exit sets ``exit_event``, which here also writes to the pipe, so the thread leaves at
  once, as the 0.1 s poll guaranteed within 0.1 s.

Everything else (parsing, events, suspend/resume for ``e``) is Textual's. It relies on three
internals of Textual's driver: ``run_input_thread``, ``exit_event`` and the parser's
``_timeout_time``; :func:`driver_class` hands Textual's own driver back when one of them is
missing (another Textual version), so the worst case is the old wake-ups, never a dead keyboard.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import threading
from codecs import getincrementaldecoder
from typing import Any

from textual.drivers.linux_driver import LinuxDriver

try:
    from textual._xterm_parser import XTermParser
except ImportError:  # another Textual: driver_class() keeps Textual's own driver
    XTermParser = None  # type: ignore[assignment,misc]


class _WakingEvent(threading.Event):
    """``exit_event`` that also wakes the input thread's ``select``."""

    def __init__(self, wake_fd: int) -> None:
        super().__init__()
        self._wake_fd = wake_fd

    def set(self) -> None:
        super().set()
        with contextlib.suppress(OSError):
            os.write(self._wake_fd, b"x")


class QuietLinuxDriver(LinuxDriver):
    """Textual's Linux driver, with an input thread that blocks while nothing is typed."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Kept open for the driver's life: Textual calls close() on a suspend too (the shell, `e`),
        # and the input thread starts again on the resume.
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self.exit_event = _WakingEvent(self._wake_w)

    def run_input_thread(self) -> None:
        """Textual's loop (read, feed the parser, tick it), with a deadline instead of a 0.1 s poll."""
        from textual._time import get_time

        selector = selectors.SelectSelector()
        selector.register(self.fileno, selectors.EVENT_READ)
        selector.register(self._wake_r, selectors.EVENT_READ)
        parser = XTermParser(self._debug)
        decode = getincrementaldecoder("utf-8")().decode

        def drain_wake() -> None:
            with contextlib.suppress(OSError):
                while os.read(self._wake_r, 512):
                    pass

        def process(events: list[tuple[selectors.SelectorKey, int]], final: bool = False) -> bool:
            """Handle what ``select`` returned; False when stdin has ended (a pipe)."""
            alive = True
            for key, mask in events:
                if key.fd == self._wake_r:
                    # The exit's byte stays (select keeps returning) until the loop sees the event:
                    # a second input thread (Textual starts one on a SIGCONT) must see it too.
                    if not self.exit_event.is_set():
                        drain_wake()
                elif mask & selectors.EVENT_READ:
                    raw = os.read(self.fileno, 4096)
                    if not raw:  # end of input (stdin is a pipe); a partial UTF-8 sequence decodes to ""
                        alive = False
                        continue
                    data = decode(raw, final=final)
                    for event in parser.feed(data) if data else ():
                        self.process_message(event)
            for event in parser.tick():
                self.process_message(event)
            return alive

        drain_wake()  # a wake-up left over from an earlier run of this thread (before a suspend)
        try:
            while not self.exit_event.is_set():
                deadline = parser._timeout_time
                timeout = None if deadline is None else max(0.0, deadline - get_time())
                if not process(selector.select(timeout)):
                    self.exit_event.wait(0.1)  # stdin is a pipe at its end: Textual polls too
            selector.unregister(self.fileno)
            process(selector.select(0.1), final=True)
        finally:
            selector.close()


def driver_class(default: type) -> type:
    """:class:`QuietLinuxDriver` where Textual would use its Linux driver and has the internals it
    relies on, else ``default``."""
    if default is not LinuxDriver or XTermParser is None:
        return default
    if not hasattr(XTermParser(False), "_timeout_time") or not hasattr(LinuxDriver, "run_input_thread"):
        return default
    return QuietLinuxDriver
