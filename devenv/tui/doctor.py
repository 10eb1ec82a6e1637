"""The app's doctor: checked once when the app opens (the doctor panel opens on errors), and on a key.

Mixed into :class:`devenv.tui.app.DevenvApp`. The check goes through the core's
:meth:`~devenv.tui.core.TuiCore.doctor` (or, when the configuration is too broken for a core, the
:class:`~devenv.tui.core.RealDoctor` of the folder), in a thread worker, after the first rows are
on screen so that it never delays them.
"""

from __future__ import annotations

import time
from typing import Any

from textual import work

__all__ = ["DoctorMixin"]

# How long the opening check waits for the first rows (or an error) before it starts anyway.
FIRST_ROWS_WAIT = 3.0


class DoctorMixin:
    """Every method reaches the app through ``self._doc_app``: the mixin declares nothing the App has."""

    _doctor_fallback: Any = None
    doctor_report: Any = None  # the last report of the opening check (tests read it)

    @property
    def _doc_app(self) -> Any:
        return self

    def doctor_source(self) -> Any:
        """The core's doctor, else the folder's (a broken configuration), else None (a fake core without one)."""
        core = self._doc_app.core
        make = getattr(core, "doctor", None) if core is not None else None
        return make() if make is not None else self._doctor_fallback

    def check_on_open(self) -> None:
        """Check the project once (in a thread worker); open the doctor panel when it has errors.

        A core without a doctor (a test's fake) starts no worker at all."""
        source = self.doctor_source()
        if source is not None:
            self._check_on_open(source)

    @work(thread=True, exclusive=True, group="doctor-open", exit_on_error=False)
    def _check_on_open(self, source: Any) -> None:
        app = self._doc_app
        deadline = time.monotonic() + FIRST_ROWS_WAIT
        while time.monotonic() < deadline and not (app.synced or app.error_text is not None or app.core is None):
            time.sleep(0.05)
        try:
            report = source.check()
        except Exception as exc:
            app.call_from_thread(app.notify, f"doctor: the check failed: {exc}", severity="warning")
            return
        self.doctor_report = report
        if report.errors:
            app.call_from_thread(self._open_doctor, source, report)

    def _open_doctor(self, source: Any, report: Any | None) -> None:
        from devenv.tui.screens.doctor import DoctorScreen

        app = self._doc_app
        if isinstance(app.screen, DoctorScreen):
            return
        app.push_screen(DoctorScreen(source, report))

    def action_doctor(self) -> None:
        source = self.doctor_source()
        if source is None:
            self._doc_app.notify("no doctor here", severity="warning")
            return
        self._open_doctor(source, None)
