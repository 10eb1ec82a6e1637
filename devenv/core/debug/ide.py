"""Attach configurations for editors: VS Code's ``launch.json``, nvim-dap, plain JSON for any DAP client.

:func:`write_launch_json` creates ``.vscode/launch.json`` or updates the configuration named
``devenv: attach SERVICE`` in it (by name), keeping every other configuration and every comment
(:mod:`devenv.core.debug.jsonc`). A file it cannot parse is left untouched:
:class:`LaunchJsonError` says where it stopped.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devenv.core.debug.jsonc import JsoncError, upsert_configuration
from devenv.core.debug.target import DebugTarget, PathMapping
from devenv.errors import DevenvError

LAUNCH_JSON = Path(".vscode") / "launch.json"


class LaunchJsonError(DevenvError):
    """``.vscode/launch.json`` could not be read as JSONC; it was left as it is."""


def config_name(service: str) -> str:
    return f"devenv: attach {service}"


def _local(mapping: PathMapping, root: Path | None) -> str:
    """``${workspaceFolder}/rel`` for a folder inside the project, else the absolute path."""
    if root is not None:
        rel = os.path.relpath(os.path.realpath(mapping.local_root), os.path.realpath(root))
        if not rel.startswith(".."):
            return "${workspaceFolder}" if rel == "." else "${workspaceFolder}/" + rel.replace(os.sep, "/")
    return mapping.local_root


def vscode_config(target: DebugTarget, root: Path | None = None) -> dict[str, Any]:
    """The ``launch.json`` configuration that attaches VS Code's Python Debugger to ``target``."""
    config: dict[str, Any] = {
        "name": config_name(target.service),
        "type": "debugpy",
        "request": "attach",
        "connect": {"host": target.host, "port": target.port},
    }
    if target.path_mappings:
        config["pathMappings"] = [
            {"localRoot": _local(m, root), "remoteRoot": m.remote_root} for m in target.path_mappings
        ]
    config["justMyCode"] = False
    return config


def dap_config(target: DebugTarget) -> dict[str, Any]:
    """The attach arguments for any DAP client talking to debugpy (absolute local paths)."""
    config = vscode_config(target)
    config["type"] = "debugpy"
    return config


def _lua(value: Any, indent: str = "") -> str:
    inner = indent + "  "
    if isinstance(value, dict):
        items = [f"{inner}{k} = {_lua(v, inner)}," for k, v in value.items()]
        return "{\n" + "\n".join(items) + f"\n{indent}}}"
    if isinstance(value, list):
        items = [f"{inner}{_lua(v, inner)}," for v in value]
        return "{\n" + "\n".join(items) + f"\n{indent}}}"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(str(value))  # a Lua string literal for plain text


def nvim_config(target: DebugTarget) -> str:
    """Lua for nvim-dap (with nvim-dap-python's ``python`` adapter): adds the attach configuration."""
    config = dap_config(target)
    config["type"] = "python"
    return (
        f"-- devenv: attach {target.service} (nvim-dap)\n"
        "local dap = require('dap')\n"
        "dap.configurations.python = dap.configurations.python or {}\n"
        f"table.insert(dap.configurations.python, {_lua(config)})\n"
    )


@dataclass(frozen=True)
class LaunchJsonResult:
    path: Path
    created: bool  # the file did not exist
    changed: bool  # the file's text changed


def write_launch_json(root: Path, target: DebugTarget) -> LaunchJsonResult:
    """Create or update ``.vscode/launch.json`` under ``root`` with the target's configuration."""
    path = root / LAUNCH_JSON
    config = vscode_config(target, root)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = None
    except (OSError, UnicodeDecodeError) as exc:
        raise LaunchJsonError(f"Cannot read {LAUNCH_JSON}: {exc}; it was left as it is.") from None
    if text is None or not text.strip():
        new = json.dumps({"version": "0.2.0", "configurations": [config]}, indent=4) + "\n"
    else:
        try:
            new = upsert_configuration(text, config)
        except JsoncError as exc:
            raise LaunchJsonError(
                f"{LAUNCH_JSON} is not valid JSON with comments ({exc}); devenv left it as it is.",
                hint=f"Fix the file, or add the configuration yourself: devenv debug {target.service} --print vscode",
            ) from None
    if new == text:
        return LaunchJsonResult(path, created=False, changed=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.partial")
    tmp.write_text(new, encoding="utf-8")
    if text is not None:
        with contextlib.suppress(OSError):
            os.chmod(tmp, path.stat().st_mode & 0o7777)
    os.replace(tmp, path)
    return LaunchJsonResult(path, created=text is None, changed=True)
