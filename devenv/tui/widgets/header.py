"""The header: project, profile (badge when protected), the running stack's profile, engine, overall state."""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text
from textual.widgets import Static

from devenv.core.models import ServiceStatus

__all__ = ["StatusHeader", "overall_state"]


def overall_state(statuses: Iterable[ServiceStatus], *, connected: bool, error: str | None = None) -> tuple[str, str]:
    """(text, level) for the header: "6/6 ready", "api unhealthy", "engine unreachable - reconnecting"."""
    if error is not None:
        return error, "error"
    if not connected:
        return "engine unreachable - reconnecting", "error"
    items = list(statuses)
    if not items:
        return "no services", "warning"
    ready = sum(1 for s in items if s.ready)
    bad = [s for s in items if not s.ready and s.state not in ("missing", "created")]
    if bad:
        worst = bad[0]
        what = worst.health.value if worst.health.value == "unhealthy" else worst.state
        if worst.state == "exited" and worst.exit_code is not None:
            what = f"exited ({worst.exit_code})"
        more = f" (+{len(bad) - 1})" if len(bad) > 1 else ""
        return f"{worst.service} {what}{more} · {ready}/{len(items)} ready", "error"
    if ready == len(items):
        return f"{ready}/{len(items)} ready", "ok"
    return f"{ready}/{len(items)} ready", "warning"


class StatusHeader(Static):
    """One line at the top; the app calls :meth:`show` whenever something in it changes."""

    DEFAULT_CSS = """
    StatusHeader {
        height: 1;
        background: $panel;
        color: $foreground;
    }
    """

    def show(
        self,
        *,
        project: str,
        profile: str,
        protected: bool,
        running: str | None,
        endpoint: str,
        state: str,
        level: str,
        busy: str | None = None,
    ) -> None:
        self._args = (project, profile, protected, running, endpoint, state, level, busy)
        self._draw()

    def on_mount(self) -> None:
        self.watch(self.app, "theme", lambda _theme: self.on_resize(), init=False)

    def on_resize(self) -> None:
        if getattr(self, "_args", None) is not None:
            self._draw()

    def _draw(self) -> None:
        project, profile, protected, running, endpoint, state, level, busy = self._args
        # The theme's text colours (made to read on its own background, light or dark), not ANSI names.
        colours = self.app.theme_variables
        warning = colours.get("text-warning", "yellow")
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(" devenv ", style="bold reverse")
        text.append(f" {project} ", style="bold")
        text.append(f"[{profile}]", style="bold")
        if protected:
            text.append(" PROTECTED ", style="bold white on red")
        if running and running != profile:
            text.append(" ")
            text.append(f" running: {running} ", style=f"bold #000000 on {colours.get('warning', 'yellow')}")
        text.append(f"  engine: {endpoint}", style="dim")
        if busy:
            text.append(f"  ⟳ {busy}", style=f"bold {colours.get('text-primary', 'cyan')}")
        style = {
            "ok": f"bold {colours.get('text-success', 'green')}",
            "warning": f"bold {warning}",
            "error": f"bold {colours.get('text-error', 'red')}",
        }.get(level, "")
        right = Text(f" {state} ", style=style)
        width = max(self.size.width, 40)
        pad = width - text.cell_len - right.cell_len
        if pad > 0:
            text.append(" " * pad)
        else:  # narrow: the state wins over the endpoint
            text.truncate(max(0, width - right.cell_len - 1), overflow="ellipsis")
            text.append(" ")
        text.append_text(right)
        self.update(text)
