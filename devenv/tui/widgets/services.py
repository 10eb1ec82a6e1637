"""The services table (left): live from the monitor's events, sorted and filtered; selection drives the right.

Rows are keyed by service name and updated cell by cell (no rebuild per event). Ports are OSC 8
links (Rich ``link`` style) to ``http://127.0.0.1:PORT``. Progress of a running action (the
readiness wait's notes) shows in the NOTE column until the action ends. CPU and memory come from
the monitor's stats streams, for the rows on screen only; narrow terminals drop UP, CPU and MEM
(never services).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import ClassVar

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.geometry import Size
from textual.message import Message
from textual.timer import Timer
from textual.widgets import DataTable, Input
from textual.widgets.data_table import CellDoesNotExist, ColumnKey, RowKey

from devenv.core.events import ContainerStats
from devenv.core.models import Readiness, ServiceStatus

STATS_EVERY = 2.0  # seconds between two showings of the CPU and memory figures

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


def stats_moved(shown: tuple[float, int], new: tuple[float, int]) -> bool:
    """Whether new CPU / memory figures differ enough from those shown to draw them: CPU by a whole
    point (10 % of the value above 10 %), memory by 1 %."""
    cpu, memory = shown
    new_cpu, new_memory = new
    if abs(new_cpu - cpu) >= max(1.0, cpu / 10):
        return True
    return abs(new_memory - memory) >= max(1, memory) / 100


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


def local_host(host_ip: str) -> str | None:
    """Where a port published on ``host_ip`` by a local engine is reached."""
    return "127.0.0.1" if host_ip in ("0.0.0.0", "::", "") else host_ip


def _ports(s: ServiceStatus, reach: Callable[[str], str | None] = local_host) -> Text:
    """Published ports as links; on a remote engine the links name its host, and a port bound to its
    loopback (not reachable from here) is shown without a link."""
    text = Text(no_wrap=True)
    seen: set[int] = set()
    for p in s.ports:
        if p.host_port in seen:
            continue
        seen.add(p.host_port)
        host = reach(p.host_ip)
        if text:
            text.append(" ")
        if host is None:
            text.append(f":{p.host_port}", style="dim strike")
            continue
        shown = f"[{host}]" if ":" in host else host
        text.append(f":{p.host_port}↗", style=Style(link=f"http://{shown}:{p.host_port}", underline=True))
    return text or Text("-", style="dim")


class ServicesTable(DataTable[Text | str]):
    """One row per service."""

    def on_mount(self) -> None:
        self.watch(self.app, "theme", lambda _theme: self.rebuild(), init=False)  # colours from the theme

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
        self.marked: set[str] = set()  # services an action applies to, when any (space marks)
        self.stats: dict[str, tuple[float, int]] = {}
        self._stats_due: set[str] = set()
        self._stats_timer: Timer | None = None
        self._visible: tuple[str, ...] = ()
        self._columns_for: bool | None = None
        # Where this machine reaches a published port (the app sets the core's: remote engines).
        self.reach: Callable[[str], str | None] = local_host

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
        self.marked &= set(self.statuses)
        self.rebuild()

    def toggle_mark(self) -> str | None:
        """Mark or unmark the highlighted service (actions then apply to every marked one)."""
        name = self.selected
        if name is None:
            return None
        self.marked ^= {name}
        self._fill(name)
        return name

    def marked_in_order(self) -> list[str]:
        """The marked services, in the table's order."""
        return [str(row.key.value) for row in self.ordered_rows if row.key.value in self.marked]

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
        """The dependency order (it arrives after the rows: Compose's config is read meanwhile);
        the table is built again only when its rows move (a rebuild draws every row again)."""
        self.order = order
        shown = [str(row.key.value) for row in self.ordered_rows]
        if shown != [s.service for s in self._sorted()]:
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
        """Keep the figures; the rows show them every ``STATS_EVERY`` seconds (not once per container
        per second: each redraw of the table costs more than the figures are worth), and only when
        they moved enough to matter (:func:`stats_moved`): an idle container's 0.4 % / 0.6 % jitter
        redrew its row every tick."""
        shown = self.stats.get(event.service)
        new = (event.cpu_percent, event.memory_bytes)
        if shown is not None and not stats_moved(shown, new):
            return
        self.stats[event.service] = new
        self._stats_due.add(event.service)
        if self._stats_timer is None:
            self._stats_timer = self.set_timer(STATS_EVERY, self._show_stats)

    def _show_stats(self) -> None:
        self._stats_timer = None
        due, self._stats_due = self._stats_due, set()
        if self.compact:
            return
        rows = self._row_keys()
        for service in due & rows:
            self._fill(service)

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
        """Update the cells of ``name``'s row that changed; a column is re-measured only when a value
        no longer fits it (a stats tick used to re-lay the whole screen out: idle CPU), and when none
        needs that, only this row is drawn again (``DataTable.update_cell`` redraws every row: each
        stats tick re-rendered the whole table; with the threshold of :meth:`set_stats`, an idle
        TUI went from 2.0 % to 1.5 % of a core)."""
        s = self.statuses[name]
        keys = ["sym", "SERVICE", "STATE", "HEALTH"]
        keys += ["PORTS", "NOTE"] if self.compact else ["PORTS", "UP", "↻", "CPU", "MEM", "NOTE"]
        changed: list[tuple[str, Text | str]] = []
        wider = False
        for key, value in zip(keys, self._cells(s), strict=True):
            try:
                if self.get_cell(name, key) == value:
                    continue
                column = self.columns[ColumnKey(key)]
            except (CellDoesNotExist, KeyError):
                continue
            changed.append((key, value))
            wider = wider or (value.cell_len if isinstance(value, Text) else cell_len(value)) > column.content_width
        if wider:
            for key, value in changed:
                self.update_cell(name, key, value, update_width=True)
            self.call_after_refresh(self._check_visible)  # a wider column may push CPU/MEM out of view
        elif changed:
            row = self._data[RowKey(name)]
            for key, value in changed:
                row[ColumnKey(key)] = value
            self._update_count += 1  # the render caches are keyed by it: this row renders anew
            self.refresh_row(self.get_row_index(name))

    def _cells(self, s: ServiceStatus) -> list[Text | str]:
        readiness, note = self.notes.get(s.service, (_readiness(s), ""))
        theme = self.app.theme_variables  # the theme's text colours: readable on light and dark
        colour = {
            Readiness.READY: theme.get("text-success", "green"),
            Readiness.FAILED: theme.get("text-error", "red"),
            Readiness.WAITING: theme.get("text-warning", "yellow"),
            Readiness.PENDING: "dim",
        }[readiness]
        state = s.state + (f" ({s.exit_code})" if s.state == "exited" and s.exit_code not in (None,) else "")
        health = "-" if s.health.value == "none" or s.state != "running" else s.health.value
        if not note:
            note = "" if s.ready and s.detail in ("healthy", "running", "completed") else s.detail
        cells: list[Text | str] = [
            Text(("•" if s.service in self.marked else "") + SYMBOLS[readiness], style=colour),
            Text(s.service, style="bold underline" if s.service in self.marked else "bold"),
            Text(state, style=colour if readiness != Readiness.READY else ""),
            Text(health, style=theme.get("text-error", "red") if health == "unhealthy" else ""),
            _ports(s, self.reach),
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

    def watch_scroll_x(self, old: float, new: float) -> None:
        super().watch_scroll_x(old, new)
        self._check_visible()

    def on_resize(self) -> None:
        self._check_visible()

    def watch_virtual_size(self, size: Size) -> None:
        # Columns are measured after the rows arrive: a column grown wide may push CPU/MEM out of view.
        self.call_after_refresh(self._check_visible)

    def stats_shown(self) -> bool:
        """Whether the CPU or MEM column is in view (a narrow panel cuts them off until scrolled to)."""
        x = 0
        left, right = self.scroll_x, self.scroll_x + self.scrollable_content_region.width
        for column in self.ordered_columns:
            width = column.get_render_width(self)
            # In view: more than the padding of the column (three cells show "12%").
            if str(column.key.value) in ("CPU", "MEM") and min(x + width, right) - max(x, left) >= 3:
                return True
            x += width
        return False

    def _check_visible(self) -> None:
        """Say which rows want figures: the rows in view, and none while CPU and MEM are out of
        view (stats streams cost CPU in the engine and here; nobody asked for figures not shown)."""
        if self.compact or not self.stats_shown():
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
        yield Input(
            placeholder="filter services by name or state (enter keeps, escape clears)",
            id="service-filter",
            compact=True,
        )
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
