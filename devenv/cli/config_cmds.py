"""``devenv profiles`` and ``devenv config``."""

from __future__ import annotations

import argparse
import re
from typing import Any

from devenv.cli.output import Output, table

SECRET_KEY = re.compile(r"(PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|CREDENTIALS?|_KEY$|^KEY$)", re.I)
URL_PASSWORD = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^@/\s]+)@", re.I)
MASK = "********"


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


def mask_secrets(value: Any, key: str = "") -> Any:
    """Mask values of secret-looking keys and passwords inside URLs, recursively."""
    if isinstance(value, dict):
        return {k: mask_secrets(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_secrets(v, key) for v in value]
    if isinstance(value, str):
        if key and SECRET_KEY.search(key) and value:
            return MASK
        if "=" in value and key in ("environment", "args", ""):
            name, _, val = value.partition("=")
            if SECRET_KEY.search(name) and val:
                return f"{name}={MASK}"
        return URL_PASSWORD.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", value)
    return value


def cmd_config(args: argparse.Namespace, out: Output) -> int:
    from devenv.cli.stack_cmds import load_stack

    stack = load_stack(args, out)
    data = stack.config_json()
    if not args.show_secrets:
        data = mask_secrets(data)
    if args.json:
        out.json(data)
    else:
        import yaml

        out.print(f"# profile {stack.profile.name}: {' '.join(stack.compose_args())} config")
        out.print(yaml.safe_dump(data, sort_keys=False, default_flow_style=False, width=110).rstrip())
    return 0
