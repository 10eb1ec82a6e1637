"""What ``devenv doctor`` reports: findings (severity, what, where, fix) and the safe fixes it may apply."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ERROR = "error"
WARNING = "warning"
OK = "ok"
SEVERITIES = (ERROR, WARNING, OK)


@dataclass(frozen=True)
class SafeFix:
    """A fix ``devenv doctor --fix`` applies by itself; it never overwrites anything.

    ``kind``: ``"network"`` (create the external network ``target``) or ``"env-file"`` (write the
    missing env file ``target`` from the example ``source``, with ``keys`` added empty at its end).
    """

    kind: str
    target: str
    source: str | None = None
    keys: tuple[str, ...] = ()


@dataclass(frozen=True)
class Finding:
    """One line of the report. ``where``: ``file:line`` when it comes from a file; ``fix``: what to do
    (a command to copy where one exists); ``safe_fix``: what ``--fix`` would do about it."""

    check: str
    severity: str
    message: str
    where: str | None = None
    fix: str | None = None
    safe_fix: SafeFix | None = field(default=None, compare=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "severity": self.severity,
            "message": self.message,
            "where": self.where,
            "fix": self.fix,
        }


@dataclass(frozen=True)
class Report:
    """Every finding of one doctor run, environment first, then configuration, then the stack's files."""

    project: str | None
    profile: str | None
    findings: tuple[Finding, ...]
    endpoint: Any = field(default=None, compare=False)  # the profile's engine (Endpoint), for --fix

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == ERROR]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == WARNING]

    @property
    def fixable(self) -> list[Finding]:
        return [f for f in self.findings if f.safe_fix is not None]

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "project": self.project,
            "profile": self.profile,
            "findings": [f.to_json() for f in self.findings],
        }


@dataclass(frozen=True)
class FixOutcome:
    """What one safe fix did (``done``) or why it did nothing."""

    fix: SafeFix
    done: bool
    message: str
