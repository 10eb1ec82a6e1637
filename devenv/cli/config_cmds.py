"""``devenv profiles`` and ``devenv config``."""

from __future__ import annotations

import argparse
from typing import Any

from devenv.cli.output import Output, table


def cmd_profiles(args: argparse.Namespace, out: Output) -> int:
    from devenv.cli.stack_cmds import warn_outside_root
    from devenv.config import load_project

    project = load_project(args.project_dir)
    warn_outside_root(out, project)
    try:
        current = project.resolve_profile(None).name
    except Exception:
        current = None
    if args.json:
        out.json(
            {
                "project": project.name,
                "root": str(project.root),
                "default": current,
                "profiles": [
                    {
                        "name": p.name,
                        "description": p.description,
                        "protected": p.protected,
                        "compose_files": [str(f) for f in p.compose_files],
                        "env_files": [str(f) for f in p.env_files],
                        "source": str(p.source) if p.source else None,
                    }
                    for p in project.profiles.values()
                ],
            }
        )
        return 0

    def rel(path: Any) -> str:
        try:
            return str(path.relative_to(project.root))
        except ValueError:
            return str(path)

    rows = []
    for p in project.profiles.values():
        files = " + ".join(rel(f) for f in p.compose_files)
        if p.env_files:
            files += "; env: " + ", ".join(rel(f) for f in p.env_files)
        mark = "*" if p.name == current else " "
        rows.append([f"{mark} {p.name}", "yes" if p.protected else "", p.description, files])
    out.print(table(rows, ["  PROFILE", "PROTECTED", "DESCRIPTION", "FILES"]))
    where = f"{project.config_file}" if project.config_file else "zero-config (detected from compose files)"
    out.info(out.dim(f"project {project.name} at {project.root}; {where}; * = default"))
    return 0


def cmd_config(args: argparse.Namespace, out: Output) -> int:
    from devenv.cli.stack_cmds import load_stack

    stack = load_stack(args, out)
    data = stack.config_json()
    if not args.show_secrets:
        from devenv.core.secrets import mask_config

        data = mask_config(data)
    if args.json:
        out.json(data)
    else:
        import yaml

        from devenv.core.compose.runner import compose_command

        out.print(f"# profile {stack.profile.name}: {compose_command(stack, 'config')}")
        out.print(yaml.safe_dump(data, sort_keys=False, default_flow_style=False, width=110).rstrip())
    return 0
