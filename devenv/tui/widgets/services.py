"""The services table (left): live from the monitor's events, sorted and filtered; selection drives the right.

Rows are keyed by service name and updated cell by cell (no rebuild per event). Ports are OSC 8
links (Rich ``link`` style) to ``http://127.0.0.1:PORT``. Progress of a running action (the
readiness wait's notes) shows in the NOTE column until the action ends. CPU and memory come from
the monitor's stats streams, for the rows on screen only; narrow terminals drop UP, CPU and MEM
(never services).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable, Input

from devenv.core.events import ContainerStats
from devenv.core.models import Readiness, ServiceStatus

__all__ = ["ServicesPanel", "ServicesTable", "format_uptime"]

SORTS = ("dependency", "name", "state")
SYMBOLS = {Readiness.READY: "✔", Readiness.FAILED: "✘", Readiness.WAITING: "…", Readiness.PENDING: "·"}


def format_uptime(started_at: float | None, now: float | None = None) -> str:
    if not started_at:
        return "-"
    seconds = max(0, int((now or time.time()) - started_at))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86400:
        return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}"
    return f"{seconds // 86400}d"


def _bytes(n: int) -> str:
    value = float(n)
    for unit in ("B", "K", "M", "G"):
        if value < 1024 or unit == "G":
            return f"{value:.0f}{unit}" if unit in ("B", "K") else f"{value:.1f}{unit}"
        value /= 1024
    return f"{value:.1f}G"


def _readiness(s: ServiceStatus) -> Readiness:
    if s.ready:
        return Readiness.READY
    if s.state in ("missing", "created", "unknown"):
        return Readiness.PENDING
    if s.state in ("exited", "dead") or s.health.value == "unhealthy":
        return Readiness.FAILED
    return Readiness.WAITING


def _ports(s: ServiceStatus) -> Text:
    text = Text(no_wrap=True)
    seen: set[int] = set()
    for p in s.ports:
        if p.host_port in seen:
            continue
        seen.add(p.host_port)
        host = "127.0.0.1" if p.host_ip in ("0.0.0.0", "::", "") else p.host_ip
        if text:
            text.append(" ")
        text.append(f":{p.host_port}↗", style=Style(link=f"http://{host}:{p.host_port}", underline=True))
    return text or Text("-", style="dim")


class ServicesTable(DataTable[Text | str]):
    """One row per service."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
    ]

    class Selected(Message):
        """The highlighted service changed."""

        def __init__(self, service: str | None) -> None:
            super().__init__()
            self.service = service

    class VisibleChanged(Message):
        """The services whose rows are on screen (with their CPU/MEM columns) changed."""

        def __init__(self, services: tuple[str, ...]) -> None:
            super().__init__()
            self.services = services

    def __init__(self, **kwargs: object) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, **kwargs)  # type: ignore[arg-type]
        self.statuses: dict[str, ServiceStatus] = {}
        self.order: list[str] = []  # dependency order (from the compose model), when known
        self.sort_mode = "dependency"
        self.name_filter = ""
        self.compact = False
        self.notes: dict[str, tuple[Readiness, str]] = {}  # progress of a running action
        self.stats: dict[str, tuple[float, int]] = {}
        self._visible: tuple[str, ...] = ()
        self._columns_for: bool | None = None

    # -- public ------------------------------------------------------------------------------
    @property
    def selected(self) -> str | None:
        if not self.row_count:
            return None
        try:
            key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key
        except Exception:
            return None
        return str(key.value) if key.value is not None else None

    def set_statuses(self, statuses: Iterable[ServiceStatus]) -> None:
        self.statuses = {s.service: s for s in statuses}
        self.rebuild()

    def update_status(self, status: ServiceStatus) -> None:
        known = status.service in self.statuses
        self.statuses[status.service] = status
        if not known or status.service not in self._row_keys():
            self.rebuild()
            return
        self._fill(status.service)
        if self.sort_mode == "state":
            self.rebuild()

    def set_order(self, order: list[str]) -> None:
        self.order = order
        self.rebuild()

    def set_note(self, service: str, readiness: Readiness, note: str) -> None:
        self.notes[service] = (readiness, note)
        if service in self._row_keys():
            self._fill(service)

    def clear_notes(self) -> None:
        names = list(self.notes)
        self.notes.clear()
        for name in names:
            if name in self._row_keys():
                self._fill(name)

    def set_stats(self, event: ContainerStats) -> None:
        self.stats[event.service] = (event.cpu_percent, event.memory_bytes)
        if not self.compact and event.service in self._row_keys():
            self._fill(event.service)

    def set_filter(self, text: str) -> None:
        self.name_filter = text.strip().lower()
        self.rebuild()

    def cycle_sort(self) -> str:
        self.sort_mode = SORTS[(SORTS.index(self.sort_mode) + 1) % len(SORTS)]
        self.rebuild()
        return self.sort_mode

    def refresh_uptimes(self) -> None:
        if self.compact:
            return
        for name in self._row_keys():
            self._fill(name)

    # -- rows --------------------------------------------------------------------------------
    def _row_keys(self) -> set[str]:
        return {str(k.value) for k in self.rows}

    def _sorted(self) -> list[ServiceStatus]:
        items = list(self.statuses.values())
        if self.name_filter:
            f = self.name_filter
            items = [s for s in items if f in s.service.lower() or f in s.state.lower() or f in s.health.value]
        if self.sort_mode == "name":
            return sorted(items, key=lambda s: s.service)
        if self.sort_mode == "state":
            rank = {Readiness.FAILED: 0, Readiness.WAITING: 1, Readiness.PENDING: 2, Readiness.READY: 3}
            return sorted(items, key=lambda s: (rank[_readiness(s)], s.service))
        index = {name: i for i, name in enumerate(self.order)}
        return sorted(items, key=lambda s: index.get(s.service, len(index)))

    def _columns(self) -> None:
        if self._columns_for == self.compact:
            return
        self.clear(columns=True)
        names = ["", "SERVICE", "STATE", "HEALTH"]
        names += ["PORTS", "NOTE"] if self.compact else ["PORTS", "UP", "↻", "CPU", "MEM", "NOTE"]
        for name in names:
            self.add_column(name, key=name or "sym")
        self._columns_for = self.compact

    def rebuild(self) -> None:
        selected = self.selected
        self._columns()
        self.clear()
        for s in self._sorted():
            self.add_row(*self._cells(s), key=s.service)
        if selected is not None and selected in self._row_keys():
            self.move_cursor(row=self.get_row_index(selected), animate=False)
        self.call_after_refresh(self._check_visible)

    def _fill(self, name: str) -> None:
        s = self.statuses[name]
        keys = ["sym", "SERVICE", "STATE", "HEALTH"]
        keys += ["PORTS", "NOTE"] if self.compact else ["PORTS", "UP", "↻", "CPU", "MEM", "NOTE"]
        for key, value in zip(keys, self._cells(s), strict=True):
            self.update_cell(name, key, value, update_width=True)

    def _cells(self, s: ServiceStatus) -> list[Text | str]:
        readiness, note = self.notes.get(s.service, (_readiness(s), ""))
        colour = {
            Readiness.READY: "green",
            Readiness.FAILED: "red",
            Readiness.WAITING: "yellow",
            Readiness.PENDING: "dim",
        }[readiness]
        state = s.state + (f" ({s.exit_code})" if s.state == "exited" and s.exit_code not in (None,) else "")
        health = "-" if s.health.value == "none" or s.state != "running" else s.health.value
        if not note:
            note = "" if s.ready and s.detail in ("healthy", "running", "completed") else s.detail
        cells: list[Text | str] = [
            Text(SYMBOLS[readiness], style=colour),
            Text(s.service, style="bold"),
            Text(state, style=colour if readiness != Readiness.READY else ""),
            Text(health, style="red" if health == "unhealthy" else ""),
            _ports(s),
        ]
        if not self.compact:
            restarts = sum(c.restart_count for c in s.containers)
            cpu, mem = self.stats.get(s.service, (None, None)) if s.state == "running" else (None, None)
            cells += [
                format_uptime(s.started_at) if s.state == "running" else "-",
                str(restarts) if restarts else "-",
                f"{cpu:.0f}%" if cpu is not None else "-",
                _bytes(mem) if mem is not None else "-",
            ]
        cells.append(Text(note, style="dim"))
        return cells

    # -- selection and visibility ------------------------------------------------------------
    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.post_message(self.Selected(str(event.row_key.value) if event.row_key.value is not None else None))

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        self._check_visible()

    def on_resize(self) -> None:
        self._check_visible()

    def _check_visible(self) -> None:
        if self.compact:
            visible: tuple[str, ...] = ()
        else:
            first = int(self.scroll_y)
            height = max(0, self.size.height - 1)  # the header row
            keys = [str(row.key.value) for row in self.ordered_rows]
            visible = tuple(keys[first : first + height])
        if visible != self._visible:
            self._visible = visible
            self.post_message(self.VisibleChanged(visible))


class ServicesPanel(Vertical):
    """The filter input and the table."""

    DEFAULT_CSS = """
    ServicesPanel > Input {
        height: 1;
        border: none;
        padding: 0 1;
        display: none;
    }
    ServicesPanel.filtering > Input {
        display: block;
    }
    """

    def compose(self) -> ComposeResult:
        yield Input(placeholder="filter services by name or state (enter keeps, escape clears)", id="service-filter")
        yield ServicesTable(id="services")

    @property
    def table(self) -> ServicesTable:
        return self.query_one(ServicesTable)

    def start_filter(self) -> None:
        self.add_class("filtering")
        self.query_one(Input).focus()

    @on(Input.Changed, "#service-filter")
    def _changed(self, event: Input.Changed) -> None:
        self.table.set_filter(event.value)

    @on(Input.Submitted, "#service-filter")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if not event.value:
            self.remove_class("filtering")
        self.table.focus()

    def key_escape(self) -> None:
        field = self.query_one(Input)
        if field.has_focus:
            field.value = ""
            self.remove_class("filtering")
            self.table.focus()
