"""The doctor's project checks: the configuration (every problem, not the first), required variables,
env files and their examples, and the compose files' own text (YAML, interpolation syntax)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from devenv.core.compose.interpolation import (
    FileScan,
    env_files_read,
    missing_required,
    read_dotenv,
    scan_files,
    shown,
)
from devenv.core.doctor.findings import ERROR, OK, WARNING, Finding, SafeFix
from devenv.errors import ConfigError, DevenvError

EXAMPLE_SUFFIXES = (".example", ".sample", ".template")


@dataclass
class Loaded:
    """The project and profile the doctor checks (either may be missing when the config is broken)."""

    root: Path | None = None
    project: object | None = None  # devenv.config.Project
    profile: object | None = None  # devenv.config.Profile
    missing_env_files: list[Path] = field(default_factory=list)
    listed_at: dict[Path, str] = field(default_factory=dict)  # missing env file -> where the config lists it
    findings: list[Finding] = field(default_factory=list)


def rel(path: Path, root: Path | None) -> str:
    return shown(Path(path), root)


def key_line(path: Path, dotted: str | None) -> int | None:
    """The line of a dotted key (``profiles.dev.readiness.timout``) in a TOML file, best effort."""
    if not dotted:
        return None
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    parts = [p.strip('"') for p in re.findall(r'"[^"]*"|[^.]+', dotted)]
    name, table = parts[-1], ".".join(parts[:-1])
    current = ""
    for index, line in enumerate(lines, 1):
        header = re.match(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?", line)
        if header:
            current = header.group(1).replace('"', "").replace(" ", "")
            if current == ".".join(parts) or current.startswith(".".join(parts) + "."):
                return index
            continue
        if current == table and re.match(rf"^\s*\"?{re.escape(name)}\"?\s*=", line):
            return index
    for index, line in enumerate(lines, 1):  # a dotted key written inline, or anything else: the first mention
        if re.search(rf"(^|[\s.\[\"]){re.escape(name)}([\s.\]\"=]|$)", line):
            return index
    return None


def _config_finding(exc: ConfigError, root: Path | None) -> Finding:
    where = None
    message = exc.message
    if exc.path:
        path = Path(exc.path)
        line = exc.line or key_line(path, exc.key)
        where = rel(path, root) + (f":{line}" if line else "")
        shown_path = rel(path, root)
        message = re.sub(rf"^{re.escape(shown_path)}(:\d+)?: ", "", message)
    message = message.splitlines()[0]
    fix = exc.hint
    missing = getattr(exc, "missing", None)
    if missing is not None:
        fix = None  # the env-file / compose-file finding says what to do
    return Finding("config", ERROR, message, where=where, fix=fix)


def load(start: Path | None, requested: str | None, environ: Mapping[str, str]) -> Loaded:
    """Read the configuration collecting every problem; fall back to zero-config detection when even
    ``devenv.toml`` cannot be read, so that the compose files can still be checked."""
    from devenv.config import load_project
    from devenv.config.discovery import _load_zero_config, find_project_root

    loaded = Loaded()
    problems: list[ConfigError] = []
    try:
        loaded.root = find_project_root(start or Path.cwd())
    except (ConfigError, OSError) as exc:
        message = exc.message if isinstance(exc, ConfigError) else str(exc)
        hint = exc.hint if isinstance(exc, ConfigError) else None
        loaded.findings.append(Finding("config", ERROR, message, fix=hint))
        return loaded
    try:
        loaded.project = load_project(start, environ, problems=problems)
    except ConfigError as exc:
        problems.append(exc)
        try:
            loaded.project = _load_zero_config(loaded.root, environ)
            problems.append(
                ConfigError(
                    "the configuration cannot be read, so the compose files found in the project folder are "
                    "checked instead (zero-config)",
                )
            )
        except (ConfigError, OSError):
            loaded.project = None
    root = loaded.root
    for problem in problems:
        missing = getattr(problem, "missing", None)
        if missing is not None and problem.key and problem.key.endswith("env_files"):
            loaded.missing_env_files.append(Path(missing))  # the env-file check reports it, with its fix
            loaded.listed_at[Path(missing)] = _config_finding(problem, root).where or ""
            continue
        loaded.findings.append(_config_finding(problem, root))
        if missing is not None:
            loaded.findings.append(
                Finding(
                    "compose-file",
                    ERROR,
                    f"compose file {rel(Path(missing), root)} (listed in the configuration) does not exist",
                    where=_config_finding(problem, root).where,
                    fix="Fix the path in the configuration, or restore the file.",
                )
            )
    project = loaded.project
    if project is not None:
        try:
            loaded.profile = project.resolve_profile(requested, environ)
        except DevenvError as exc:
            loaded.findings.append(Finding("config", ERROR, exc.message, fix=exc.hint))
    if not loaded.findings and project is not None:
        config_file = getattr(project, "config_file", None)
        what = rel(config_file, root) if config_file else "zero-config (no devenv.toml)"
        count = len(getattr(project, "profiles", {}))
        loaded.findings.append(Finding("config", OK, f"configuration read: {what}, {count} profiles"))
    return loaded


# ------------------------------------------------------------------------------- compose text
def check_compose_text(compose_files: Sequence[Path], root: Path | None) -> tuple[list[Finding], list[FileScan]]:
    """Each compose file's YAML, and the interpolations Compose would refuse."""
    from devenv.core.compose.files import _load_compose_yaml

    findings: list[Finding] = []
    for path in compose_files:
        if not Path(path).is_file():
            continue
        try:
            _load_compose_yaml(Path(path), root)
        except DevenvError as exc:
            line = getattr(exc, "line", None)
            where = rel(Path(path), root) + (f":{line}" if line else "")
            message = exc.message.splitlines()[0]
            findings.append(Finding("compose-file", ERROR, message, where=where, fix=exc.hint))
    scans = scan_files(compose_files)
    for file_scan in scans:
        for bad in file_scan.bad:
            findings.append(
                Finding(
                    "interpolation",
                    ERROR,
                    f"invalid interpolation {bad.bad.text!r} ({bad.bad.reason}): Compose refuses the whole file",
                    where=f"{rel(bad.file, root)}:{bad.line}",
                    fix="Write a literal $ as $$; a variable as ${NAME}, ${NAME:-default} or ${NAME:?message}.",
                )
            )
    return findings, scans


# ----------------------------------------------------------------------------------- variables
def check_variables(
    compose_files: Sequence[Path],
    env_files: Sequence[Path],
    environ: Mapping[str, str],
    scans: Sequence[FileScan],
    root: Path | None,
    missing_env_files: Sequence[Path] = (),
) -> tuple[list[Finding], list[str]]:
    """One error per required variable left unset; returns the findings and the variables' names.

    ``missing_env_files``: env files the profile lists that do not exist (the place to set them, once made).
    """
    missing = missing_required(compose_files, env_files, environ, scans=scans)
    read = env_files_read(compose_files, env_files)
    read_text = ", ".join(rel(p, root) for p in read) if read else "no env file"
    places = [*env_files, *missing_env_files]
    target = rel(Path(places[-1]), root) if places else (rel(read[-1], root) if read else ".env")
    findings: list[Finding] = []
    for var in missing:
        uses = list(dict.fromkeys(f"{rel(u.file, root)}:{u.line}" for u in var.uses))
        state = "is set but empty" if var.empty else "is not set"
        more = f" (also required at {', '.join(uses[1:])})" if len(uses) > 1 else ""
        why = f": {var.message}" if var.message else ""
        findings.append(
            Finding(
                "variables",
                ERROR,
                f"required variable {var.name} {state} (read: {read_text}, then the environment){why}{more}",
                where=uses[0],
                fix=f"Add {var.name}=... to {target}, or export {var.name}.",
            )
        )
    if not missing:
        required = {loc.ref.name for s in scans for loc in s.refs if loc.ref.required}
        if required:
            findings.append(Finding("variables", OK, f"every required variable is set ({', '.join(sorted(required))})"))
    return findings, [v.name for v in missing]


# ----------------------------------------------------------------------------------- env files
def _examples_for(path: Path) -> list[Path]:
    """Example files for the env file ``path``: ``path.example`` & co, then ``.env.example`` & co beside it."""
    out = [path.with_name(path.name + s) for s in EXAMPLE_SUFFIXES]
    out += [path.parent / f".env{s}" for s in EXAMPLE_SUFFIXES]
    return [p for p in dict.fromkeys(out) if p.is_file() and p != path]


def check_env_files(
    loaded: Loaded,
    compose_files: Sequence[Path],
    env_files: Sequence[Path],
    missing_vars: Sequence[str],
    environ: Mapping[str, str],
) -> list[Finding]:
    """Env files the configuration lists that do not exist; example keys the profile's env files lack."""
    root = loaded.root
    findings: list[Finding] = []
    missing_files = list(dict.fromkeys(loaded.missing_env_files))
    # The project folder's .env: Compose reads it when no env file is given, and zero-config profiles
    # (no devenv.toml) load it before their own .env.<profile> when it exists. One worth having?
    zero_config = loaded.project is not None and getattr(loaded.project, "config_file", None) is None
    if compose_files and (not env_files or zero_config):
        default = Path(compose_files[0]).parent / ".env"
        if not default.exists() and _examples_for(default):
            missing_files.append(default)
    for path in missing_files:
        examples = _examples_for(path)
        if examples:
            example = examples[0]
            keys = read_dotenv(example)
            extra = tuple(v for v in missing_vars if v not in keys)
            fix = f"cp {rel(example, root)} {rel(path, root)} (or `devenv doctor --fix`), then fill in its empty values"
            safe = SafeFix("env-file", str(path), str(example), extra)
        else:
            fix, safe = f"Create {rel(path, root)} (KEY=value lines).", None
        listed = path in loaded.missing_env_files
        findings.append(
            Finding(
                "env-file",
                ERROR if listed else WARNING,
                f"env file {rel(path, root)} does not exist"
                + (
                    " (listed in the configuration: every command stops on it)"
                    if listed
                    else f" ({'every profile loads it first' if zero_config else 'Compose reads it'}; "
                    f"{rel(examples[0], root)} shows it)"
                ),
                where=loaded.listed_at.get(path) or rel(path, root),
                fix=fix,
                safe_fix=safe,
            )
        )
    existing = [Path(p) for p in env_files if Path(p).is_file()] or env_files_read(compose_files, env_files)
    defined: dict[str, str] = {}
    for path in existing:
        defined.update({k: v for k, (v, _line) in read_dotenv(path).items()})
    profile_name = getattr(loaded.profile, "name", None)
    candidates: list[Path] = []
    for path in [*existing, *missing_files]:
        candidates += [path.with_name(path.name + s) for s in EXAMPLE_SUFFIXES]
    folders = [p.parent for p in existing] + ([Path(compose_files[0]).parent] if compose_files else [])
    if root is not None:
        folders.append(root)
    for folder in dict.fromkeys(folders):
        candidates += [folder / f".env{s}" for s in EXAMPLE_SUFFIXES]
        if profile_name:
            candidates += [folder / f".env.{profile_name}{s}" for s in EXAMPLE_SUFFIXES]
    targets = {str(p) for p in missing_files}
    last = rel(existing[-1], root) if existing else (rel(Path(env_files[-1]), root) if env_files else ".env")
    checked = 0
    for example in dict.fromkeys(c for c in candidates if c.is_file()):
        paired = str(example.with_name(example.name.rsplit(".", 1)[0]))
        if paired in targets:
            continue  # its env file is missing: the env-file finding covers every key
        checked += 1
        for key, (_value, line) in read_dotenv(example).items():
            if key in defined:
                continue
            note = " (your environment sets it)" if key in environ else ""
            findings.append(
                Finding(
                    "env-example",
                    WARNING,
                    f"{key} is in {rel(example, root)} but in none of the profile's env files{note}",
                    where=f"{rel(example, root)}:{line}",
                    fix=f"Add {key}=... to {last}.",
                )
            )
    if checked and not any(f.check == "env-example" for f in findings):
        findings.append(Finding("env-example", OK, "the env files define every key of their examples"))
    return findings


def relpath(path: str | os.PathLike[str], root: Path | None) -> str:
    return rel(Path(path), root)
