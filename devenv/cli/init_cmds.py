"""``devenv init [--dry-run] [--force]``: write devenv.toml + profiles/*.toml for an existing Compose project."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from devenv.cli.output import Output
from devenv.errors import DevenvError, UsageError


def add_parser(sub: Any) -> None:
    init = sub.add_parser(
        "init",
        help="write devenv.toml + profiles/*.toml that spell out this Compose project's zero-config profiles",
    )
    init.add_argument("--dry-run", action="store_true", help="print the files instead of writing them")
    init.add_argument("--force", action="store_true", help="replace devenv.toml and profile files that exist")


def cmd_init(args: argparse.Namespace, out: Output) -> int:
    from devenv.core.scaffold import detect, render, verify
    from devenv.core.scaffold.render import PROFILES_DIR

    root = Path(os.path.abspath(args.project_dir or Path.cwd()))
    if not root.is_dir():
        raise UsageError(f"{root} is not a folder", hint="Give an existing project folder with -C / --project-dir.")
    plan = detect(root)
    files = render(plan)
    args.ctx_project = plan.name

    out.info(out.bold(f"devenv init: {plan.root}"))
    for what, why in plan.findings():
        out.info(f"  {what}" + out.dim(f"  ({why})"))

    if args.dry_run:
        for rel, text in files.items():
            out.print(f"# ---- {rel} ----")
            out.print(text.rstrip("\n"))
            out.print("")
        out.info(out.dim("dry run: nothing was written"))
        return 0

    existing = [rel for rel in files if (plan.root / rel).exists()]
    if existing and not args.force:
        raise UsageError(
            f"{', '.join(existing)} already exist{'s' if len(existing) == 1 else ''} in {plan.root}; "
            "nothing was written",
            hint="`devenv init --dry-run` shows what would be written; `devenv init --force` replaces them.",
        )
    profiles_dir = plan.root / PROFILES_DIR
    ours = {Path(rel).name for rel in files if rel.startswith(f"{PROFILES_DIR}/")}
    others = sorted(n for n in _tomls(profiles_dir) if n not in ours)
    for rel, text in files.items():
        _write(plan.root / rel, text)
    out.info(out.green(f"✔ wrote {', '.join(files)}") + (out.dim(" (replaced the old ones)") if existing else ""))
    if others:
        out.warn(
            f"{PROFILES_DIR}/ also holds {', '.join(others)}: devenv loads them as profiles too "
            "(they are not zero-config's; remove them for an exact copy)."
        )
    problems = [] if others else verify(plan, plan.root)
    if problems:
        raise DevenvError(
            "the written files do not give the zero-config profiles: " + "; ".join(problems),
            hint="This is a bug in devenv init; the files are written, compare them with `devenv profiles`.",
        )
    first = "dev" if any(p.name == "dev" for p in plan.profiles) else "default"
    out.info(out.dim(f"next: devenv profiles; devenv config --profile {first}; devenv up --profile {first}"))
    return 0


def _tomls(folder: Path) -> list[str]:
    try:
        return [n for n in os.listdir(folder) if n.endswith(".toml") and not n.startswith(".")]
    except OSError:
        return []


def _write(path: Path, text: str) -> None:
    """Write through a temporary file and a rename: a file is either the old one or the whole new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.devenv-init")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
