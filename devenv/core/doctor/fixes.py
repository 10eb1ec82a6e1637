"""The safe fixes of ``devenv doctor --fix``: create a missing external network; write a missing env
file from its example, with the values it lacks left empty and listed. Nothing is ever overwritten."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from devenv.core.compose.interpolation import read_dotenv
from devenv.core.doctor.findings import Finding, FixOutcome, SafeFix
from devenv.errors import _shown


def apply_fixes(findings: Iterable[Finding], endpoint: Any = None) -> list[FixOutcome]:
    """Apply each finding's safe fix once (in order); what each did, or why it did nothing.

    ``endpoint``: the profile's engine (``Report.endpoint``); None: the default one."""
    outcomes: list[FixOutcome] = []
    seen: set[tuple[str, str]] = set()
    for finding in findings:
        fix = finding.safe_fix
        if fix is None or (fix.kind, fix.target) in seen:
            continue
        seen.add((fix.kind, fix.target))
        try:
            if fix.kind == "network":
                outcomes.append(_create_network(fix, endpoint))
            elif fix.kind == "env-file":
                outcomes.append(_write_env_file(fix))
        except Exception as exc:  # one failed fix must not stop the others
            outcomes.append(FixOutcome(fix, False, f"{_what(fix)} failed: {getattr(exc, 'message', None) or exc}"))
    return outcomes


def _what(fix: SafeFix) -> str:
    return f"creating network {fix.target}" if fix.kind == "network" else f"writing {fix.target}"


def _create_network(fix: SafeFix, endpoint: Any) -> FixOutcome:
    from devenv.core.engine.client import connect

    api = connect(endpoint=endpoint)
    if any(n.get("Name") == fix.target for n in api.networks(names=[fix.target])):
        return FixOutcome(fix, False, f"network {fix.target} already exists: nothing to do")
    api.create_network(fix.target, driver="bridge")
    return FixOutcome(fix, True, f"created network {fix.target} (`docker network create {fix.target}`)")


def _write_env_file(fix: SafeFix) -> FixOutcome:
    target = Path(fix.target)
    assert fix.source is not None
    source = Path(fix.source)
    text = source.read_text(encoding="utf-8")
    empty = [key for key, (value, _line) in read_dotenv(source).items() if value == ""]
    added = [key for key in fix.keys if key not in read_dotenv(source)]
    if added:
        text = text if text.endswith("\n") or not text else text + "\n"
        text += "# Required by the compose files, not in the example: fill them in (devenv doctor --fix)\n"
        text += "".join(f"{key}=\n" for key in added)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:  # "x": never overwrite, even a file that appeared since the check
        with open(target, "x", encoding="utf-8") as fh:
            fh.write(text)
    except FileExistsError:
        return FixOutcome(fix, False, f"{_shown(str(target))} exists now: left as it is")
    with contextlib.suppress(OSError):
        os.chmod(target, source.stat().st_mode & 0o777)
    to_fill = list(dict.fromkeys([*empty, *added]))
    listed = f"; fill in: {', '.join(to_fill)}" if to_fill else ""
    return FixOutcome(fix, True, f"wrote {_shown(str(target))} from {_shown(str(source))}{listed}")
