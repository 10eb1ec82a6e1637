"""The TUI's actions: up, down, restart, stop/start, rebuild, shell, profile switch.

Each is one call into the core function the CLI uses (through :class:`devenv.tui.core.TuiCore`), in
a thread worker with a :class:`~devenv.core.cancel.CancelToken` (escape cancels). Its progress
events come back as messages: the readiness wait's notes show in the table rows, Compose's output
in the log view, the failure diagnostics in Details. One action at a time.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from textual import work
from textual.message import Message

from devenv.core.cancel import CancelToken
from devenv.core.events import ComposeOutput, Event, MigrationOutput, ServiceChanged, StepStarted
from devenv.core.models import Failure, UpResult
from devenv.errors import DevenvError

if TYPE_CHECKING:
    from devenv.tui.core import TuiCore

__all__ = ["ActionsMixin"]


class ActionEvent(Message):
    """A progress event of the running action (posted from its worker thread)."""

    def __init__(self, event: Event) -> None:
        super().__init__()
        self.event = event


class ActionDone(Message):
    def __init__(self, name: str, result: Any = None, error: BaseException | None = None) -> None:
        super().__init__()
        self.name = name
        self.result = result
        self.error = error


class ActionsMixin:
    """Mixed into :class:`devenv.tui.app.DevenvApp` (which provides the widgets and the core)."""

    core: TuiCore | None
    failures: dict[str, Failure]
    _busy: str | None
    _token: CancelToken | None
    _step: str

    def init_actions(self) -> None:
        self.failures = {}
        self._busy = None
        self._last_failed = False  # how the last action ended
        self._token = None
        self._step = ""

    def acting_on(self) -> set[str]:
        """Services the running action acts on (all when it names none): their exits are not crashes."""
        app: Any = self
        if self._busy is None:
            return set()
        verb, *named = self._busy.split()  # "restart api worker"
        return set(named) if named and verb != "down" else set(app.table.statuses)

    def busy_label(self) -> str | None:
        if self._busy is None:
            return None
        return f"{self._busy}{': ' + self._step if self._step else ''} (esc cancels)"

    # -- running -------------------------------------------------------------------------------
    def _begin(self, name: str) -> CancelToken | None:
        app: Any = self
        if app.core is None:
            app.notify("No project here: nothing to act on.", severity="error")
            return None
        if self._busy is not None:
            app.notify(f"busy: {self._busy} is running (escape cancels it)", severity="warning")
            return None
        self._busy, self._step = name, ""
        self._token = CancelToken()
        app.refresh_header()
        return self._token

    def start_action(self, name: str, call: Callable[[Callable[[Event], None], CancelToken], Any]) -> None:
        token = self._begin(name)
        if token is not None:
            self._action_worker(name, call, token)

    @work(thread=True, group="action", exit_on_error=False)
    def _action_worker(
        self, name: str, call: Callable[[Callable[[Event], None], CancelToken], Any], token: CancelToken
    ) -> None:
        app: Any = self
        try:
            result = call(lambda ev: app.post_message(ActionEvent(ev)), token)
        except BaseException as exc:  # Cancelled is a KeyboardInterrupt: reported, never raised in the app
            app.post_message(ActionDone(name, error=exc))
            return
        app.post_message(ActionDone(name, result=result))

    def cancel_action(self) -> None:
        app: Any = self
        if self._token is not None and self._busy is not None:
            self._token.cancel("cancelled from the TUI")
            app.notify(f"cancelling {self._busy}…")

    def on_action_event(self, message: ActionEvent) -> None:
        app: Any = self
        ev = message.event
        if isinstance(ev, ServiceChanged):
            app.table.set_note(ev.status.service, ev.readiness, ev.note or ev.status.detail)
        elif isinstance(ev, StepStarted):
            self._step = ev.step
            app.refresh_header()
        elif isinstance(ev, ComposeOutput | MigrationOutput):
            app.logs.notice(ev.line)

    def on_action_done(self, message: ActionDone) -> None:
        app: Any = self
        self._busy, self._token, self._step = None, None, ""
        self._last_failed = message.error is not None or not getattr(message.result, "ok", True)
        app.table.clear_notes()
        name, result, error = message.name, message.result, message.error
        if error is not None:
            if isinstance(error, KeyboardInterrupt):
                app.notify(f"{name}: cancelled", severity="warning")
            elif isinstance(error, DevenvError):
                app.notify(f"{name}: {error.message}" + (f"\n{error.hint}" if error.hint else ""), severity="error")
            else:
                app.notify(f"{name}: {type(error).__name__}: {error}", severity="error")
        elif isinstance(result, UpResult):
            for s in result.services:
                if s.ready:
                    self.failures.pop(s.service, None)
            for f in result.failures:
                self.failures[f.service] = f
            if result.ok:
                app.notify(f"{name}: {len(result.services)} service(s) ready in {result.elapsed:.1f}s")
            elif result.outcome == "interrupted":
                app.notify(f"{name}: stopped waiting; containers keep running as they are", severity="warning")
            else:
                what = "; ".join(f"{f.service}: {f.reason}" for f in result.failures) or result.outcome
                app.notify(f"{name} failed: {what} (details: i)", severity="error", timeout=10)
                if result.failures and app.selected in self.failures:
                    app.load_details(app.selected)
        elif result is not None and hasattr(result, "outcome"):
            level = "information" if getattr(result, "ok", True) else "error"
            app.notify(f"{name}: {result.outcome}", severity=level)
        else:
            app.notify(f"{name}: done")
        app.refresh_header()

    # -- confirmation (for this module and the Database / Migrations panels) ---------------------
    async def confirm(self, action: str, protected_profile: str | None = None) -> bool:
        """Ask with :class:`ConfirmScreen`; True when confirmed. Awaitable from any handler.

        ``protected_profile`` (positional or keyword, as the panels call it): the name to type.
        """
        from devenv.tui.screens.confirm import ConfirmScreen  # modal screens load when first asked

        app: Any = self
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        app.push_screen(
            ConfirmScreen(action, protected_profile=protected_profile), lambda ok: future.set_result(bool(ok))
        )
        return await future

    # -- the actions ---------------------------------------------------------------------------
    def _service(self) -> str | None:
        app: Any = self
        if self.core is None:
            app.notify("No project here: nothing to act on.", severity="error")
            return None
        service: str | None = app.selected
        if service is None:
            app.notify("Select a service first.", severity="warning")
        return service

    def action_up(self) -> None:
        core = self.core
        if core is None:
            self._begin("up")  # says why not
            return
        self.start_action("up", lambda emit, token: core.up(emit, token))

    def _services(self) -> list[str] | None:
        """The marked services (table order), else the highlighted one."""
        app: Any = self
        marked: list[str] = app.table.marked_in_order() if self.core is not None else []
        if marked:
            return marked
        service = self._service()  # says why not, when there is none
        return [service] if service is not None else None

    def action_toggle_mark(self) -> None:
        app: Any = self
        if app.table.toggle_mark() is not None and app.table.marked:
            app.notify(f"marked: {', '.join(app.table.marked_in_order())} (space unmarks)", timeout=3)

    def action_restart(self) -> None:
        core, services = self.core, self._services()
        if core is not None and services:
            self.start_action(f"restart {' '.join(services)}", lambda emit, token: core.restart(services, emit, token))

    def action_rebuild(self) -> None:
        core, services = self.core, self._services()
        if core is not None and services:
            self.start_action(f"rebuild {' '.join(services)}", lambda emit, token: core.rebuild(services, emit, token))

    def action_stop_start(self) -> None:
        """Stop the services when every one of them runs; else start the ones that do not."""
        app: Any = self
        core, services = self.core, self._services()
        if core is None or not services:
            return
        states = {s: getattr(app.table.statuses.get(s), "state", "") for s in services}
        down = [s for s in services if states[s] not in ("running", "restarting", "paused")]
        if not down:
            self.start_action(f"stop {' '.join(services)}", lambda emit, token: core.stop(services, emit, token))
        else:
            self.start_action(f"start {' '.join(down)}", lambda emit, token: core.start(down, emit, token))

    @work(group="ask", exclusive=True)
    async def action_down(self) -> None:
        from devenv.tui.screens.choice import ChoiceScreen

        app: Any = self
        core = self.core
        if core is None:
            return
        choice = await app.push_screen_wait(
            ChoiceScreen(
                f"Stop and remove the containers of project {core.project_name}?",
                [("down", "Down (keep volumes)", "warning"), ("volumes", "Down and remove volumes", "error")],
            )
        )
        if choice is None:
            return
        volumes = choice == "volumes"
        if volumes:
            protected, profile, why = await asyncio.to_thread(core.protection)
            if why:
                app.notify(f"note: {why}", severity="warning")
            ok = await self.confirm(
                f"remove the volumes of project {core.project_name}", protected_profile=profile if protected else None
            )
            if not ok:
                app.notify("Nothing was changed.")
                return
        self.start_action("down -v" if volumes else "down", lambda emit, _token: core.down(volumes, emit))

    def action_shell(self) -> None:
        app: Any = self
        core, service = self.core, self._service()
        if core is None or service is None:
            return
        argv = core.shell_argv(service)
        try:
            with app.suspend():
                print(f"devenv: shell in {service} (exit to return to the TUI)", flush=True)
                code = subprocess.call(argv, env=core.shell_env())
        except Exception as exc:  # no terminal to hand over (tests, pipes), or no docker CLI
            app.notify(f"shell: {exc}", severity="error")
            return
        if code not in (0, 130):
            app.notify(f"shell in {service} ended with exit code {code}", severity="warning")

    @work(group="ask", exclusive=True)
    async def action_profiles(self) -> None:
        from devenv.tui.screens.choice import ChoiceScreen
        from devenv.tui.screens.profiles import ProfileScreen

        app: Any = self
        core = self.core
        if core is None:
            return
        running = core.running_profile()
        name = await app.push_screen_wait(ProfileScreen(core.profiles(), core.profile_name, running))
        if name is None or name == core.profile_name:
            return
        how = await app.push_screen_wait(
            ChoiceScreen(
                f"Switch the view from {core.profile_name} to {name}. Profiles share containers and volumes: "
                "leave the current stack running, or bring it down first (volumes are kept)?",
                [("keep", "Leave it running", "primary"), ("down", "Bring it down first", "warning")],
            )
        )
        if how is None:
            return
        if how == "down":
            self.start_action("down", lambda emit, _token: core.down(False, emit))
            while self._busy is not None:
                await asyncio.sleep(0.1)
            if self._last_failed:  # the stack still runs under this profile: the view stays on it
                app.notify(f"{core.profile_name} was not brought down: still showing it", severity="error")
                return
        app.retarget(core.retarget(name))
