"""``develop.watch`` rules: read from ``docker compose config``, matched against changed paths.

A :class:`Rule` is one ``develop.watch`` entry of one service (``action``, ``path``, ``target``,
``ignore``, ``include``, ``initial_sync``, ``exec``), with Compose's matching:

- a changed path belongs to a rule when it is the rule's ``path`` or below it;
- ``include`` (when given) must match it, and it must not be ignored: the rule's ``ignore``
  patterns (relative to ``path``), the build context's ``.dockerignore`` (or
  ``<Dockerfile>.dockerignore``), any ``.git`` directory, and editors' temporary files
  (:data:`~devenv.core.watch.patterns.EPHEMERAL`);
- its path in the container is ``target`` joined with the path relative to ``path``.

A sync rule whose ``path`` is also bind-mounted into the service is skipped (Compose warns and does
the same: the bind mount already shares the files). No Docker here; :func:`load_rules` reads
``.dockerignore`` files.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devenv.core.watch.patterns import EPHEMERAL, PatternMatcher, read_ignore_file
from devenv.errors import ConfigError

__all__ = ["ACTIONS", "SYNC_ACTIONS", "ExecSpec", "Rule", "ServiceRules", "initial_files", "load_rules"]

ACTIONS = ("sync", "rebuild", "restart", "sync+restart", "sync+exec")
SYNC_ACTIONS = ("sync", "sync+restart", "sync+exec")
# What the initial sync never copies (Compose: the Dockerfile and the compose files, by file name).
_BUILD_FILES = (
    "Dockerfile",
    "compose.yaml",
    "compose.yml",
    "docker-compose.yml",
    "docker-compose.yaml",
    "compose.override.yml",
    "compose.override.yaml",
    "docker-compose.override.yml",
    "docker-compose.override.yaml",
)
_EPHEMERAL = PatternMatcher("/", EPHEMERAL)


@dataclass(frozen=True)
class ExecSpec:
    """``develop.watch[].exec`` of a ``sync+exec`` rule."""

    command: tuple[str, ...]
    user: str | None = None
    privileged: bool = False
    working_dir: str | None = None
    environment: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Rule:
    service: str
    action: str
    path: str  # absolute host path (file or directory)
    target: str | None  # absolute container path (sync actions)
    ignore: PatternMatcher
    include: PatternMatcher | None
    dockerignore: PatternMatcher | None
    initial_sync: bool = False
    exec: ExecSpec | None = None
    build_files: frozenset[str] = frozenset()  # file names the initial sync leaves out

    @property
    def syncs(self) -> bool:
        return self.action in SYNC_ACTIONS

    def owns(self, path: str) -> bool:
        return path == self.path or path.startswith(self.path.rstrip("/") + "/")

    def ignored(self, path: str) -> bool:
        """Ignored by the rule's own patterns, ``.dockerignore``, ``.git`` or an editor's temp-file pattern."""
        if ".git" in path.split("/"):
            return True
        if _EPHEMERAL.matches(path) or self.ignore.matches(path):
            return True
        return self.dockerignore is not None and self.dockerignore.matches(path)

    def matches(self, path: str) -> bool:
        """Whether a change of ``path`` (absolute) triggers this rule."""
        if not self.owns(path):
            return False
        if self.include is not None and not self.include.matches(path):
            return False
        return not self.ignored(path)

    def container_path(self, path: str) -> str:
        assert self.target is not None
        rel = os.path.relpath(path, self.path)
        return self.target if rel == "." else posixpath.normpath(posixpath.join(self.target, rel.replace(os.sep, "/")))


@dataclass(frozen=True)
class ServiceRules:
    """The rules of one service, and what the watch needs to know about the service itself."""

    service: str
    rules: tuple[Rule, ...]
    image: str  # the image name Compose gives it (``image:``, else ``<project>-<service>``)
    builds: bool  # has a ``build:`` section
    skipped: tuple[str, ...] = ()  # why rules were left out (bind-mounted paths)


def _strings(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


def _dockerignore(build: Mapping[str, Any] | None) -> PatternMatcher | None:
    if not build:
        return None
    context = build.get("context")
    if not context or "://" in str(context):
        return None
    root = Path(str(context))
    dockerfile = str(build.get("dockerfile") or "Dockerfile")
    for candidate in (root / f"{dockerfile}.dockerignore", root / ".dockerignore"):
        if candidate.is_file():
            try:
                return PatternMatcher(root, read_ignore_file(candidate))
            except OSError:
                return None
    return None


def _bind_sources(svc: Mapping[str, Any]) -> list[str]:
    out = []
    for vol in svc.get("volumes") or ():
        if isinstance(vol, Mapping) and vol.get("type") == "bind" and vol.get("source"):
            out.append(os.path.normpath(str(vol["source"])))
    return out


def _exec_spec(service: str, data: Any) -> ExecSpec:
    """``exec`` of a sync+exec rule. ``compose config`` prints ``$`` escaped as ``$$``; Compose runs
    the command unescaped, and so does this (as :class:`devenv.core.compose.model.Hook`)."""
    from devenv.core.compose.model import Hook, unescape

    hook = Hook.from_json(unescape(data or {}))  # the raw config's values, as the model reads them
    argv = list(hook.command)
    if not argv:
        raise ConfigError(f"service {service}: a develop.watch rule with action sync+exec needs exec.command")
    return ExecSpec(
        command=tuple(argv),
        user=hook.user,
        privileged=hook.privileged,
        working_dir=hook.working_dir,
        environment={k: "" if v is None else v for k, v in hook.environment.items()},
    )


def load_rules(config: Mapping[str, Any], services: Sequence[str] | None = None) -> dict[str, ServiceRules]:
    """service -> its rules, from ``docker compose config --format json`` (paths already absolute).

    ``services``: only these (default: every service with a ``develop.watch`` block). A rule that
    Compose would refuse (a rebuild without ``build:``, a sync without ``target``, sync+exec
    without a command, an unknown action) raises :class:`~devenv.errors.ConfigError`.
    """
    project = str(config.get("name") or "")
    out: dict[str, ServiceRules] = {}
    for name, svc in (config.get("services") or {}).items():
        if services and name not in services:
            continue
        develop = (svc or {}).get("develop") or {}
        entries = develop.get("watch") or []
        if not entries:
            continue
        build = svc.get("build")
        dockerignore = _dockerignore(build)
        binds = _bind_sources(svc)
        build_files = set(_BUILD_FILES)
        if build and build.get("dockerfile"):
            build_files.add(os.path.basename(str(build["dockerfile"])))
        rules: list[Rule] = []
        skipped: list[str] = []
        for entry in entries:
            action = str(entry.get("action") or "")
            if action not in ACTIONS:
                raise ConfigError(f"service {name}: develop.watch action {action!r} is not one of {', '.join(ACTIONS)}")
            raw_path = entry.get("path")
            if not raw_path:
                raise ConfigError(f"service {name}: a develop.watch rule needs a path")
            path = os.path.normpath(os.path.abspath(str(raw_path)))
            target = entry.get("target")
            if action in SYNC_ACTIONS and not target:
                raise ConfigError(f"service {name}: develop.watch action {action} on {path} needs a target")
            if action == "rebuild" and not build:
                raise ConfigError(
                    f"service {name}: develop.watch action rebuild needs a build section",
                    hint="Add `build:` to the service, or use sync / restart rules.",
                )
            if action in SYNC_ACTIONS and any(path == b or path.startswith(b.rstrip("/") + "/") for b in binds):
                skipped.append(f"{path} is bind-mounted into {name}: not synced")
                continue
            include = _strings(entry.get("include"))
            rules.append(
                Rule(
                    service=name,
                    action=action,
                    path=path,
                    target=posixpath.normpath(str(target)) if target else None,
                    ignore=PatternMatcher(path, _strings(entry.get("ignore"))),
                    include=PatternMatcher(path, include) if include else None,
                    dockerignore=dockerignore,
                    initial_sync=bool(entry.get("initial_sync") or entry.get("x-initialSync")),
                    exec=_exec_spec(name, entry.get("exec")) if action == "sync+exec" else None,
                    build_files=frozenset(build_files),
                )
            )
        image = str(svc.get("image") or f"{project}-{name}")
        out[name] = ServiceRules(name, tuple(rules), image, bool(build), tuple(skipped))
    return out


def watched_paths(rules: Iterable[ServiceRules]) -> list[str]:
    """The paths to watch: every rule's ``path`` (a file's folder when it is a file), without ones inside others."""
    paths: set[str] = set()
    for sr in rules:
        for rule in sr.rules:
            p = rule.path
            if not os.path.isdir(p):
                p = os.path.dirname(p)
            while not os.path.exists(p) and p != os.path.dirname(p):
                p = os.path.dirname(p)
            paths.add(p)
    ordered = sorted(paths)
    return [p for p in ordered if not any(p != q and p.startswith(q.rstrip("/") + "/") for q in ordered)]


def initial_files(rule: Rule) -> Iterator[str]:
    """The files an initial sync copies: everything below ``path`` the rule does not ignore (and no
    Dockerfile or compose file)."""
    if os.path.isfile(rule.path):
        if os.path.basename(rule.path) not in rule.build_files and not rule.ignored(rule.path):
            yield rule.path
        return
    for folder, dirs, files in os.walk(rule.path):
        dirs[:] = sorted(d for d in dirs if not rule.ignored(os.path.join(folder, d)))
        for f in sorted(files):
            full = os.path.join(folder, f)
            if f in rule.build_files or not rule.matches(full):
                continue
            yield full
