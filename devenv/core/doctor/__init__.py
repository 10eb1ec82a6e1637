"""``devenv doctor``: every problem that would stop ``devenv up`` for a profile, each with a fix.

:func:`diagnose` runs every check and starts nothing: the environment (engine and its API version,
the context or ``DOCKER_HOST`` in use, Compose v2, free disk space), the configuration (all its
problems, not the first), the compose files' text (YAML, interpolation syntax, every required
variable left unset), env files and their examples, then what the merged config needs (ports,
external networks and volumes, files, build contexts, images). It works with a broken
configuration and without an engine: the checks that need what is missing say so.
:func:`apply_fixes` applies the safe fixes (:mod:`devenv.core.doctor.fixes`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from devenv.core.doctor.findings import ERROR, OK, SEVERITIES, WARNING, Finding, FixOutcome, Report, SafeFix
from devenv.core.doctor.fixes import apply_fixes

__all__ = [
    "ERROR",
    "OK",
    "SEVERITIES",
    "WARNING",
    "Finding",
    "FixOutcome",
    "Report",
    "SafeFix",
    "apply_fixes",
    "diagnose",
]


def diagnose(
    start: Path | None = None,
    profile: str | None = None,
    *,
    compose_profiles: Sequence[str] = (),
    environ: Mapping[str, str] | None = None,
) -> Report:
    """Check the project found from ``start`` under ``profile`` (resolved as every command does)."""
    from devenv.core.doctor import environment, project, resources

    env = dict(os.environ if environ is None else environ)
    findings: list[Finding] = []
    loaded = project.load(start, profile, env)
    import threading

    compose: list[Finding] = []
    asking = threading.Thread(target=lambda: compose.extend(environment.check_compose()), daemon=True)
    asking.start()  # the CLI answers while the engine is asked
    engine_findings, engine = environment.check_engine(env, loaded.profile)
    findings += engine_findings
    asking.join()
    findings += compose
    findings += environment.check_disk(engine)

    findings += loaded.findings
    prof: Any = loaded.profile
    proj: Any = loaded.project
    if prof is None or proj is None:
        findings.append(
            Finding("compose-file", WARNING, "the compose files were not checked: no profile could be read")
        )
        return Report(
            getattr(proj, "name", None), getattr(prof, "name", None) or profile, tuple(findings), engine.endpoint
        )
    root = loaded.root
    compose_files = [Path(p) for p in prof.compose_files]
    env_files = [Path(p) for p in prof.env_files]
    text_findings, scans = project.check_compose_text(compose_files, root)
    findings += text_findings
    var_findings, missing_vars = project.check_variables(
        compose_files, env_files, env, scans, root, loaded.missing_env_files
    )
    findings += var_findings
    findings += project.check_env_files(loaded, compose_files, env_files, missing_vars, env)

    if any(f.check in ("compose-file", "interpolation") and f.severity == ERROR for f in text_findings):
        findings.append(
            Finding(
                "compose-file",
                WARNING,
                "ports, networks, files and images were not checked: Compose cannot read the files",
            )
        )
        return Report(proj.name, prof.name, tuple(findings), engine.endpoint)
    if any(f.check == "compose" and f.severity == ERROR for f in findings):
        findings.append(
            Finding(
                "compose-file",
                WARNING,
                "ports, networks, volumes, files and images were not checked: they need Compose v2",
            )
        )
        return Report(proj.name, prof.name, tuple(findings), engine.endpoint)
    from devenv.core.compose.runner import compose_command, engine_prefix
    from devenv.core.stack import Stack

    stack = Stack(proj, prof, compose_profiles=compose_profiles)
    try:
        config, placeholder = resources.merged_config(stack, missing_vars, env)
    except Exception as exc:
        message = getattr(exc, "message", None) or str(exc)
        findings.append(
            Finding(
                "compose-file",
                ERROR,
                f"Compose cannot read the files of profile {prof.name}: {message.splitlines()[0]}",
                fix=getattr(exc, "hint", None) or compose_command(stack, "config"),
            )
        )
        return Report(proj.name, prof.name, tuple(findings), engine.endpoint)
    where = resources.Locator(compose_files, root)
    findings += resources.check_ports(config, proj.name, engine.api, engine.local, where)
    findings += resources.check_external(config, engine.api, where, engine_prefix(stack))
    findings += resources.check_files(config, root, where, placeholder)
    findings += resources.check_images(
        config, engine.api, engine.local, engine.info, where, placeholder, engine_prefix(stack)
    )
    return Report(proj.name, prof.name, tuple(findings), engine.endpoint)
