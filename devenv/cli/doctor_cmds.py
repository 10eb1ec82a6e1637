"""``devenv doctor [--profile P] [--json] [--fix]``: one line per finding, exit 1 when any is an error."""

from __future__ import annotations

import argparse
from typing import Any

from devenv.cli.output import Output
from devenv.errors import ExitCode

SYMBOLS = {"error": "✘", "warning": "!", "ok": "✔"}


def add_parser(sub: Any, profile_arg: Any, json_arg: Any) -> None:
    doctor = sub.add_parser(
        "doctor",
        help="check everything `up` needs (engine, Compose, config, variables, env files, ports, networks, "
        "files, images), starting nothing",
    )
    profile_arg(doctor)
    json_arg(doctor, "print {ok, findings: [{check, severity, message, where, fix}]} on stdout")
    doctor.add_argument(
        "--fix",
        action="store_true",
        help="apply the safe fixes (create a missing external network; copy an env file's example when the "
        "env file is missing), never overwriting a file; then check again",
    )


def line(out: Output, finding: Any) -> str:
    """One finding on one line: severity, what, where, fix."""
    paint = {"error": out.red, "warning": out.yellow, "ok": out.green}[finding.severity]
    text = f"{paint(SYMBOLS[finding.severity] + ' ' + finding.severity.ljust(7))} {finding.check.ljust(13)} "
    text += finding.message
    if finding.where:
        text += out.dim(f"  [{finding.where}]")
    if finding.fix:
        text += f"  → fix: {finding.fix}"
    return " ".join(text.splitlines())


def cmd_doctor(args: argparse.Namespace, out: Output) -> int:
    from devenv.core.doctor import apply_fixes, diagnose

    requested = getattr(args, "profile", None)
    compose_profiles = tuple(getattr(args, "compose_profile", None) or ())
    report = diagnose(args.project_dir, requested, compose_profiles=compose_profiles)
    args.ctx_project, args.ctx_profile = report.project, report.profile
    fixed: list[dict[str, Any]] = []
    if args.fix:
        outcomes = apply_fixes(report.fixable, report.endpoint)
        for outcome in outcomes:
            fixed.append(
                {
                    "fix": outcome.fix.kind,
                    "target": outcome.fix.target,
                    "done": outcome.done,
                    "message": outcome.message,
                }
            )
            out.info(("fixed: " if outcome.done else "not fixed: ") + outcome.message)
        if not outcomes:
            out.info("nothing to fix automatically")
        else:
            report = diagnose(args.project_dir, requested, compose_profiles=compose_profiles)
    code = int(ExitCode.OK if report.ok else ExitCode.SERVICE_FAILED)
    if out.json_mode:
        document = report.to_json()
        if args.fix:
            document["fixed"] = fixed
        out.json(document)
        return code
    title = f"devenv doctor: project {report.project or '?'}, profile {report.profile or '?'}"
    out.print(out.bold(title) if out.out_tty else title)
    for finding in report.findings:
        out.print(line(out, finding) if out.out_tty else _plain(finding))
    errors, warnings = len(report.errors), len(report.warnings)
    summary = f"{errors} error{'s' if errors != 1 else ''}, {warnings} warning{'s' if warnings != 1 else ''}"
    if report.fixable and not args.fix:
        summary += f"; `devenv doctor --fix` can fix {len(report.fixable)}"
    out.print(summary)
    return code


def _plain(finding: Any) -> str:
    text = f"{finding.severity.ljust(7)} {finding.check.ljust(13)} {finding.message}"
    if finding.where:
        text += f"  [{finding.where}]"
    if finding.fix:
        text += f"  fix: {finding.fix}"
    return " ".join(text.splitlines())
