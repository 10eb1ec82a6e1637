"""One batch of file changes -> what to do: syncs, rebuilds, restarts and execs per service.

:func:`plan` is pure (no Docker, only ``os.path.exists`` to tell a deletion from a change): the
watch loop hands it every path that changed since the last batch and executes the :class:`Plan` in
Compose's order (rebuild, then sync, then restart, then exec). A burst of changes (a branch
switch, a formatter run over the tree) is one batch and so one copy per container.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from devenv.core.watch.rules import Rule, ServiceRules

__all__ = ["PathMapping", "Plan", "plan"]


@dataclass(frozen=True)
class PathMapping:
    """One changed path of a sync: the host path, its path in the container, and the rule."""

    host: str
    container: str
    rule: Rule


@dataclass
class Plan:
    syncs: dict[str, list[PathMapping]] = field(default_factory=dict)  # service -> mappings (deduplicated)
    rebuild: list[str] = field(default_factory=list)  # services (in rule order)
    triggers: dict[str, str] = field(default_factory=dict)  # rebuilt service -> a path that asked for it
    restart: list[str] = field(default_factory=list)
    execs: dict[str, list[Rule]] = field(default_factory=dict)  # service -> sync+exec rules, once each
    ignored: int = 0  # changed paths no rule wanted

    def __bool__(self) -> bool:
        return bool(self.syncs or self.rebuild or self.restart or self.execs)

    def files(self, service: str) -> int:
        return len(self.syncs.get(service, ()))


def plan(paths: Iterable[str], rules: Mapping[str, ServiceRules]) -> Plan:
    """What Compose's ``handleWatchBatch`` does with a batch: every path against every rule."""
    out = Plan()
    seen: dict[str, dict[str, PathMapping]] = {}
    for path in sorted(set(paths)):
        wanted = False
        for sr in rules.values():
            for rule in sr.rules:
                if not rule.matches(path):
                    continue
                wanted = True
                service = rule.service
                if rule.action == "rebuild":
                    if service not in out.rebuild:
                        out.rebuild.append(service)
                        out.triggers[service] = path
                    continue
                if rule.action in ("restart", "sync+restart") and service not in out.restart:
                    out.restart.append(service)
                if rule.syncs:
                    container = rule.container_path(path)
                    seen.setdefault(service, {})[container] = PathMapping(path, container, rule)
                if rule.action == "sync+exec":
                    execs = out.execs.setdefault(service, [])
                    if rule not in execs:
                        execs.append(rule)
        if not wanted:
            out.ignored += 1
    out.syncs = {service: list(by_target.values()) for service, by_target in seen.items()}
    return out


def exists(path: str) -> bool:
    return os.path.lexists(path)
