"""The watch loop: file changes -> sync / rebuild / restart / exec, and config edits applied live.

:class:`Watcher` runs in the calling thread until its :class:`~devenv.core.cancel.CancelToken` is
cancelled (or Ctrl-C). Three sources feed one queue: the code watcher (the rules' paths,
recursive), the config watcher (the folders of the config files, not recursive) and the stack
monitor (:class:`~devenv.core.monitor.StackMonitor`: containers started, recreated, the engine lost
and back). Whatever queued up while an action ran is handled as one batch. Every event is emitted
from the calling thread.

- a batch of changed paths is planned (:func:`devenv.core.watch.plan.plan`) and done in Compose's
  order: rebuilds (one build per image, then every service using the image recreated and waited
  for, :func:`devenv.core.actions.recreate`), syncs (one archive per service, into each of its
  running containers in parallel), restarts (:func:`devenv.core.actions.restart`), execs;
- a container that appears (recreated outside devenv, scaled up, after a rebuild) gets the current
  files of the rules that ask for ``initial_sync``; one that was stopped while files changed gets
  those files when it starts again ("catch-up");
- an edited config file is resolved (:mod:`devenv.core.watch.reload`); the services whose config
  hash changed are recreated, health-gated; an invalid edit is reported and changes nothing;
- every failure is reported (:class:`~devenv.core.watch.events.WatchError`, with the service and
  the file) and the loop goes on; the monitor reconnects on its own when the engine stream breaks.
"""

from __future__ import annotations

import os
import queue
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from devenv.core.events import EngineReconnected, EngineUnreachable, Event, MonitorSynced, StatusChanged
from devenv.core.watch import steps
from devenv.core.watch import sync as syncio
from devenv.core.watch.events import (
    WatchConfigApplied,
    WatchConfigInvalid,
    WatchError,
    WatchNotice,
    WatchStarted,
    WatchStopped,
    WatchSynced,
)
from devenv.core.watch.filewatch import STEP_MS, FileWatch
from devenv.core.watch.plan import PathMapping, Plan, plan
from devenv.core.watch.reload import (
    ConfigProblem,
    changed_services,
    config_files,
    is_config_path,
    resolve,
    watch_folders_of,
)
from devenv.core.watch.rules import Rule, ServiceRules, initial_files, load_rules, watched_paths
from devenv.core.watch.stream import ContainerIO
from devenv.errors import DevenvError, UsageError

if TYPE_CHECKING:
    from devenv.core.cancel import CancelToken
    from devenv.core.events import Emit
    from devenv.core.models import ServiceStatus
    from devenv.core.monitor import StackMonitor
    from devenv.core.stack import Stack

__all__ = ["Watcher"]

_STOP = "stop"
# A burst (at least BURST_FILES paths, a new folder, or a restart / rebuild / exec to do) is held until
# BURST_QUIET seconds pass without more changes (at most BURST_MAX), so that it is done once. A single
# save is copied at once.
BURST_FILES = 16
BURST_QUIET = 0.25
BURST_MAX = 3.0


def _running(status: ServiceStatus) -> list[str]:
    """The running containers of a service ("unknown" while the engine is unreachable: none)."""
    if status.state == "unknown":
        return []
    return [c.id for c in status.containers if c.state == "running"]


class Watcher:
    """Watch ``services`` (default: every service with ``develop.watch`` rules) of ``stack``.

    ``monitor``: a started :class:`StackMonitor` to follow containers with (the TUI's); without one
    the watcher starts and closes its own. ``config``: apply edits of the config files live.
    """

    def __init__(
        self,
        stack: Stack,
        services: Sequence[str] = (),
        *,
        emit: Emit,
        cancel: CancelToken | None = None,
        monitor: StackMonitor | None = None,
        config: bool = True,
        step_ms: int = STEP_MS,
    ) -> None:
        self.stack = stack
        self.services = list(dict.fromkeys(services))
        self.emit = emit
        self.cancel = cancel
        self.watch_config = config
        self.step_ms = step_ms
        self._monitor = monitor
        self._own_monitor = monitor is None
        self._inbox: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._rules: dict[str, ServiceRules] = {}
        self._images: dict[str, tuple[str, bool]] = {}  # service -> (image, has build)
        self._code: FileWatch | None = None
        self._conf: FileWatch | None = None
        self._config_files: list[Path] = []
        self._seen: dict[str, set[str]] = {}  # service -> every container id seen running
        self._running: dict[str, set[str]] = {}  # service -> ids running at the last look
        self._missed: dict[str, dict[str, PathMapping]] = {}  # container id -> syncs it missed
        self._copied: dict[str, tuple[int, int]] = {}  # host file -> (mtime, size) last copied
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="devenv-watch-sync")
        self._io = ContainerIO(lambda: self.stack.api, self._pool)
        self.ready = False  # the watches are in place (tests and benchmarks wait for it)

    # -- public ---------------------------------------------------------------------------------
    def run(self) -> str:
        """Watch until cancelled; returns why it stopped. Setup problems raise DevenvError."""
        unhook = self.cancel.on_cancel(lambda: self._inbox.put((_STOP, self.cancel))) if self.cancel else None
        try:
            self._setup()
            return self._loop()
        finally:
            if unhook is not None:
                unhook()
            self._teardown()

    # -- setup ----------------------------------------------------------------------------------
    def _setup(self) -> None:
        from devenv.core.compose.model import ComposeModel, check_services

        data = self.stack.config_json()
        self.stack.__dict__["model"] = ComposeModel.from_json(data)
        check_services(self.services, self.stack.model.services)
        self._load(data)
        if self.services and not self._rules:
            raise UsageError(
                f"None of {', '.join(self.services)} has a develop.watch section: nothing to sync or rebuild.",
            )
        if not self._rules and not self.watch_config:
            raise UsageError(
                "No service of this profile has a develop.watch section: nothing to watch.",
            )
        if self._monitor is None:
            from devenv.core.monitor import StackMonitor

            self._monitor = StackMonitor.for_stack(self.stack, cancel=self.cancel)
            self._monitor.subscribe(lambda ev: self._inbox.put(("monitor", ev)))
            self._monitor.start()
        else:
            self._unsubscribe = self._monitor.subscribe(lambda ev: self._inbox.put(("monitor", ev)))
        for status in self._monitor.statuses():
            ids = set(_running(status))
            self._running[status.service] = ids
            self._seen[status.service] = set(ids)
            self._prefetch(status.service, sorted(ids))
        self._start_code_watch()
        if self.watch_config:
            self._config_files = config_files(self.stack)
            self._start_config_watch()
        for sr in self._rules.values():
            for reason in sr.skipped:
                self.emit(WatchNotice(reason, sr.service))
        shown = [self._rel(Path(f)) for f in self._config_files if f.name != "*.toml"]
        self.emit(WatchStarted(tuple(self._rules), tuple(self._code.paths if self._code else ()), tuple(shown)))
        self.ready = True
        self._initial_sync_all()

    def _load(self, data: dict[str, Any]) -> None:
        try:
            self._rules = load_rules(data, self.services or None)
        except DevenvError:
            raise
        project = str(data.get("name") or self.stack.name)
        self._images = {
            name: (str((svc or {}).get("image") or f"{project}-{name}"), bool((svc or {}).get("build")))
            for name, svc in (data.get("services") or {}).items()
        }

    def _start_config_watch(self) -> None:
        self._conf = watch_folders_of(self._config_files, self._conf, self._inbox, max(self.step_ms, 250))

    def _start_code_watch(self) -> None:
        if self._code is not None:
            self._code.stop()
        paths = watched_paths(self._rules.values())
        self._code = FileWatch(
            paths,
            lambda found, at: self._inbox.put(("files", (found, at))),
            lambda exc: self._inbox.put(("watch_error", ("code", exc))),
            step_ms=self.step_ms,
        ).start()
        self._code.ready.wait(10)

    def _teardown(self) -> None:
        for w in (self._code, self._conf):
            if w is not None:
                w.stop()
        for w in (self._code, self._conf):
            if w is not None:
                w.join()
        if self._monitor is not None:
            if self._own_monitor:
                self._monitor.close()
            elif getattr(self, "_unsubscribe", None) is not None:
                self._unsubscribe()
        self._io.close()
        self._pool.shutdown(wait=False, cancel_futures=True)

    # -- the loop -------------------------------------------------------------------------------
    def _take(self) -> list[tuple[str, Any]]:
        """The next batch: what is queued now; for a burst, until it is over (see :meth:`_bursting`)."""
        items = [self._inbox.get()]
        while True:  # whatever else queued up meanwhile is part of this batch
            try:
                items.append(self._inbox.get_nowait())
            except queue.Empty:
                break
        if self._bursting(items):
            deadline = time.monotonic() + BURST_MAX
            while time.monotonic() < deadline and not any(k == _STOP for k, _p in items):
                try:
                    items.append(self._inbox.get(timeout=BURST_QUIET))
                except queue.Empty:
                    break
        return items

    def _bursting(self, items: list[tuple[str, Any]]) -> bool:
        """Whether more changes are likely on their way, so the batch waits for a quiet moment.

        A single save is copied at once. A batch of many paths (a branch switch, a formatter), one
        with a new folder (files follow it), or one that restarts, rebuilds or execs (that costs
        seconds: never twice for one save) waits until no change came for BURST_QUIET seconds.
        """
        paths: set[str] = set()
        for k, p in items:
            if k == "files":
                paths |= p[0]
        if not paths:
            return False
        if len(paths) >= BURST_FILES or any(os.path.isdir(p) for p in paths):
            return True
        todo = plan(paths, self._rules)
        return bool(todo.rebuild or todo.restart or todo.execs)

    def _loop(self) -> str:
        while True:
            items = self._take()
            stop = next((p for k, p in items if k == _STOP), None)
            if stop is not None:
                reason = getattr(stop, "reason", "") or "stopped"
                self.emit(WatchStopped(reason))
                return reason
            files: set[str] = set()
            config: set[str] = set()
            first_seen: float | None = None
            monitor_events: list[Event] = []
            for k, p in items:
                if k == "files":
                    files |= p[0]
                    first_seen = p[1] if first_seen is None else min(first_seen, p[1])
                elif k == "config":
                    config |= {x for x in p[0] if is_config_path(x, self._config_files)}
                elif k == "monitor":
                    monitor_events.append(p)
                elif k == "watch_error":
                    which, exc = p
                    self.emit(WatchError("watch", "", "", f"the {which} file watcher stopped: {exc}"))
            if config:
                self._reload(sorted(config))
            if files:
                self._handle_files(files, first_seen or time.monotonic())
            for ev in monitor_events:
                self._on_monitor(ev)

    # -- code changes ---------------------------------------------------------------------------
    def _handle_files(self, paths: set[str], seen_at: float) -> None:
        todo = plan(paths, self._rules)
        if not todo:
            return
        self._do(todo, seen_at)

    def _do(self, todo: Plan, seen_at: float) -> None:
        if todo.rebuild:
            self._rebuild(todo)
        for service, mappings in todo.syncs.items():
            self._sync(service, mappings, "change", seen_at)
        if todo.restart:
            self._restart(todo.restart)
        for service, rules in todo.execs.items():
            for rule in rules:
                self._exec(service, rule)

    def _containers(self, service: str) -> tuple[list[str], list[tuple[str, str]]]:
        """(running container ids, [(id, state) of the others]) of a service, from the monitor."""
        assert self._monitor is not None
        for status in self._monitor.statuses():
            if status.service == service:
                running = _running(status)
                others = [(c.id, "unknown" if status.state == "unknown" else c.state) for c in status.containers]
                return running, [(cid, st) for cid, st in others if cid not in running]
        return [], []

    def _owner(self, container: str, mapping: PathMapping) -> tuple[int, int]:
        return self._io.owner(container, mapping.rule.target or "/")

    def _prefetch(self, service: str, containers: Sequence[str]) -> None:
        """Look the sync targets' owners up and open the tar streams before the first change needs them."""
        sr = self._rules.get(service)
        targets = sorted({r.target for r in sr.rules if r.syncs and r.target}) if sr is not None else []
        if targets:
            self._io.prefetch(containers, targets)

    def _sync(
        self,
        service: str,
        mappings: Sequence[PathMapping],
        reason: str,
        seen_at: float | None,
        only: Sequence[str] | None = None,
    ) -> None:
        t0 = time.monotonic()
        running, others = self._containers(service)
        if only is not None:
            running = [c for c in running if c in only]
        stats = {m.host: syncio.file_stat(m.host) for m in mappings}
        gone = [m.host for m in mappings if not os.path.lexists(m.host)]
        for host in [h for h in self._copied if any(h == g or h.startswith(g + os.sep) for g in gone)]:
            del self._copied[host]  # a file restored later with its old mtime is copied again
        if reason == "change":  # a file copied already, unchanged since (a burst's late events): not again
            mappings = [m for m in mappings if stats[m.host] is None or self._copied.get(m.host) != stats[m.host]]
            if not mappings:
                return
            for cid, _state in others:  # copied when it starts again
                missed = self._missed.setdefault(cid, {})
                for m in mappings:
                    missed[m.container] = m
        if not running:
            state = others[0][1] if others else "missing"
            why = "the engine is unreachable" if state == "unknown" else f"no running container of {service} ({state})"
            later = "; they are copied when it runs again" if others else ""
            first = self._rel(Path(mappings[0].host)) + (f" (+{len(mappings) - 1} more)" if len(mappings) > 1 else "")
            self.emit(WatchError("sync", service, first, f"{why}: {len(mappings)} file(s) not synced{later}"))
            return
        try:
            archive = syncio.build_archive(mappings, lambda m: self._owner(running[0], m))
        except OSError as exc:
            self.emit(WatchError("sync", service, str(exc.filename or ""), f"cannot read: {exc.strerror or exc}"))
            return
        if not archive.files and not archive.deleted:
            return

        def one(cid: str) -> None:
            if archive.deleted:
                syncio.delete_paths(self.stack.api, cid, archive.deleted)
            if archive.data:
                self._io.copy(cid, archive.data, len(archive.files))

        errors: list[syncio.SyncFailed] = []
        if len(running) == 1:
            try:
                one(running[0])
            except syncio.SyncFailed as exc:
                errors.append(exc)
        else:
            for fut in [self._pool.submit(one, cid) for cid in running]:
                try:
                    fut.result()
                except syncio.SyncFailed as exc:
                    errors.append(exc)
        for failed in errors:
            files = archive.deleted if failed.step == "delete" else archive.files
            shown = ", ".join(files[:3]) + (f" (+{len(files) - 3} more)" if len(files) > 3 else "")
            why = f"{failed.step} into container {failed.container[:12]}: {failed.message}"
            self.emit(WatchError("sync", service, shown, why))
        done = len(running) - len(errors)
        if done and not errors:
            self._copied.update(archive.stats)
        if done:
            now = time.monotonic()
            self.emit(
                WatchSynced(
                    service,
                    archive.files,
                    archive.deleted,
                    done,
                    reason,
                    now - t0,
                    None if seen_at is None else now - seen_at,
                )
            )

    def _rebuild(self, todo: Plan) -> None:
        assert self._monitor is not None
        present = {st.service for st in self._monitor.statuses() if st.containers}
        steps.rebuild(self.stack, todo, self._images, present, self.emit, self.cancel, self._rel)

    def _restart(self, services: Sequence[str]) -> None:
        steps.restart(self.stack, services, self.emit, self.cancel)

    def _exec(self, service: str, rule: Rule) -> None:
        steps.run_exec(self.stack, service, rule, self._containers(service)[0], self.emit)

    # -- containers that appear -----------------------------------------------------------------
    def _initial_sync_all(self) -> None:
        for sr in self._rules.values():
            if any(r.initial_sync and r.syncs for r in sr.rules):
                running, _ = self._containers(sr.service)
                if running:
                    self._initial_sync(sr, running)

    def _initial_sync(self, sr: ServiceRules, containers: Sequence[str]) -> None:
        mappings: list[PathMapping] = []
        for rule in sr.rules:
            if rule.initial_sync and rule.syncs:
                mappings += [PathMapping(f, rule.container_path(f), rule) for f in initial_files(rule)]
        if mappings:
            self._sync(sr.service, mappings, "initial", None, only=containers)

    def _on_monitor(self, ev: Event) -> None:
        if isinstance(ev, StatusChanged):
            self._containers_now(ev.service, ev.new)
        elif isinstance(ev, MonitorSynced) and ev.reason == "resync":
            for status in ev.statuses:
                self._containers_now(status.service, status)
        elif isinstance(ev, EngineUnreachable):
            self.emit(WatchNotice(f"engine unreachable ({ev.error}); changes are synced when it is back"))
        elif isinstance(ev, EngineReconnected):
            self.emit(WatchNotice(f"engine back after {ev.down_for:.1f}s"))

    def _containers_now(self, service: str, status: ServiceStatus) -> None:
        running = set(_running(status))
        seen = self._seen.setdefault(service, set())
        started = running - self._running.get(service, set())
        self._running[service] = running
        fresh = [c for c in started if c not in seen]  # never seen running by this watch
        seen |= running
        self._prefetch(service, sorted(started))
        for cid in started:
            missed = self._missed.pop(cid, None)
            if missed and cid not in fresh:
                self._sync(service, list(missed.values()), "catch-up", None, only=[cid])
        sr = self._rules.get(service)
        if fresh and sr is not None and any(r.initial_sync and r.syncs for r in sr.rules):
            self._initial_sync(sr, fresh)

    # -- config ---------------------------------------------------------------------------------
    def _reload(self, changed: Sequence[str]) -> None:
        from devenv.core.actions import recreate
        from devenv.core.stack import up

        t0 = time.monotonic()
        shown = tuple(self._rel(Path(p)) for p in changed)
        old_services = list(self.stack.model.services)
        try:
            new, data = resolve(self.stack, changed)
            rules = load_rules(data, self.services or None)
            changes = changed_services(new, old_services)
        except ConfigProblem as exc:
            self.emit(WatchConfigInvalid(self._rel(Path(exc.file)), exc.line, exc.message))
            return
        except DevenvError as exc:
            self.emit(WatchConfigInvalid(shown[0] if shown else "", None, exc.message))
            return
        paths_before = watched_paths(self._rules.values())
        self.stack = new
        self._load(data)
        self._rules = rules
        self._config_files = config_files(new)
        self._start_config_watch()
        if watched_paths(self._rules.values()) != paths_before:
            self._start_code_watch()
        outcome = "unchanged"
        try:
            if changes.recreate:
                result = recreate(new, list(changes.recreate), emit=self.emit, cancel=self.cancel)
                outcome = result.outcome
            if changes.start and outcome in ("unchanged", "ready"):
                result = up(new, list(changes.start), emit=self.emit, cancel=self.cancel)
                outcome = result.outcome
        except DevenvError as exc:
            self.emit(WatchError("config", ", ".join(changes.recreate + changes.start), shown[0], exc.message))
            outcome = "failed"
        self.emit(WatchConfigApplied(shown, changes.recreate, changes.start, outcome, time.monotonic() - t0))

    def _rel(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.stack.project.root))
        except ValueError:
            return str(path)
