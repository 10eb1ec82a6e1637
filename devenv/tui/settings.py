"""The user's TUI settings: ``[tui]`` and ``[tui.keys]`` in ``~/.config/devenv/config.toml``.

``$XDG_CONFIG_HOME/devenv/config.toml`` when ``XDG_CONFIG_HOME`` is set. Example::

    [tui]
    log_lines = 100000        # lines kept in the log buffer (bounded; oldest dropped first)
    theme = "textual-light"   # a Textual theme name (default: textual-dark; ctrl+p "theme" lists them)

    [tui.keys]                # action = "key" (Textual key names; several: "r,ctrl+r")
    restart = "R"
    quit = "ctrl+q"

Unknown actions or settings are reported (with a did-you-mean) and ignored: the TUI still opens.
No Textual here (the key table is plain data the app turns into bindings).
"""

from __future__ import annotations

import difflib
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["DEFAULT_KEYS", "KEY_HELP", "Settings", "config_path", "load_settings"]

DEFAULT_LOG_LINES = 100_000

# action id -> (default key, description). The ids are the keys of [tui.keys].
KEY_HELP: dict[str, tuple[str, str]] = {
    "quit": ("q", "quit (the stack keeps running)"),
    "help": ("question_mark", "this help"),
    "palette": ("ctrl+p", "command palette: every action"),
    "up": ("u", "up: start the stack, wait until ready"),
    "down": ("D", "down: stop and remove (asks; volumes too on request)"),
    "restart": ("r", "restart the selected service"),
    "stop_start": ("s", "stop / start the selected service"),
    "rebuild": ("b", "rebuild the selected service (build + recreate + wait)"),
    "shell": ("e", "shell in the selected service (bash, else sh)"),
    "toggle_mark": ("space", "mark / unmark a service: restart, stop/start, rebuild act on every marked one"),
    "watch": ("w", "watch on/off: develop.watch sync/rebuild/restart, config edits applied live"),
    "cancel": ("escape", "cancel the running action"),
    "logs": ("l", "view: logs"),
    "details": ("i", "view: details"),
    "config": ("c", "view: merged compose config"),
    "events": ("h", "view: events history"),
    "database": ("d", "view: database panel"),
    "migrations": ("m", "view: migrations panel"),
    "debugger": ("g", "view: debugger panel"),
    "doctor": ("exclamation_mark", "doctor: every problem that would stop up, with fixes"),
    "profiles": ("p", "profile switcher"),
    "filter_services": ("slash", "logs: regex search"),
    "next_match": ("n", "logs: next match"),
    "prev_match": ("N", "logs: previous match"),
    "log_filter": ("F", "logs: text filter (hide non-matching lines)"),
    "follow": ("f", "logs: follow on/off"),
    "timestamps": ("t", "logs: timestamps on/off"),
    "all_services": ("a", "logs: all services merged / selected only"),
    "export": ("x", "logs: export visible lines to a file"),
}
# What the footer shows for the actions it lists.
FOOTER = {
    "up": "up",
    "down": "down",
    "restart": "restart",
    "stop_start": "stop/start",
    "rebuild": "rebuild",
    "shell": "shell",
    "profiles": "profile",
    "filter_services": "search",
    "help": "help",
    "quit": "quit",
}
DEFAULT_KEYS = {action: key for action, (key, _help) in KEY_HELP.items()}
_KNOWN_TUI = ("keys", "log_lines", "theme")


@dataclass(frozen=True)
class Settings:
    log_lines: int = DEFAULT_LOG_LINES
    keys: dict[str, str] = field(default_factory=dict)  # only the user's overrides
    theme: str | None = None  # checked against Textual's themes by the app
    problems: tuple[str, ...] = ()
    path: Path | None = None


def config_path(environ: dict[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    base = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME") or Path.home()) / ".config")
    return Path(base) / "devenv" / "config.toml"


def _suggest(name: str, known: Any) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def load_settings(path: Path | None = None) -> Settings:
    """Read the user's settings; a missing file is the defaults, a broken one is reported."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib

    path = path or config_path()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Settings(path=path)
    except (OSError, ValueError) as exc:
        return Settings(problems=(f"{path}: {exc}; using the default settings",), path=path)
    problems: list[str] = []
    tui = data.get("tui") or {}
    if not isinstance(tui, dict):
        return Settings(problems=(f"{path}: [tui] must be a table",), path=path)
    for key in tui:
        if key not in _KNOWN_TUI:
            problems.append(f"{path}: unknown key tui.{key}{_suggest(key, _KNOWN_TUI)}")
    log_lines = tui.get("log_lines", DEFAULT_LOG_LINES)
    if not isinstance(log_lines, int) or isinstance(log_lines, bool) or not 100 <= log_lines <= 10_000_000:
        problems.append(f"{path}: tui.log_lines must be a whole number from 100 to 10000000")
        log_lines = DEFAULT_LOG_LINES
    theme = tui.get("theme")
    if theme is not None and (not isinstance(theme, str) or not theme.strip()):
        problems.append(f'{path}: tui.theme must be a theme name such as "textual-light"')
        theme = None
    keys: dict[str, str] = {}
    for action, key in (tui.get("keys") or {}).items():
        if action not in KEY_HELP:
            problems.append(f"{path}: unknown action tui.keys.{action}{_suggest(action, KEY_HELP)}")
        elif not isinstance(key, str) or not key.strip():
            problems.append(f'{path}: tui.keys.{action} must be a key name such as "r" or "ctrl+r"')
        else:
            keys[action] = key.strip()
    return Settings(
        log_lines=log_lines, keys=keys, theme=theme.strip() if theme else None, problems=tuple(problems), path=path
    )
