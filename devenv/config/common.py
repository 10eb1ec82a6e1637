"""Helpers shared by the config modules: quoting for messages, project names, file kinds."""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Iterable, Sequence
from pathlib import Path

from devenv.errors import ConfigError

_PROFILE_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


_BARE_KEY_RE = re.compile(r"[A-Za-z0-9_-]+")


_PROJECT_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_-")


# Compose accepts longer project names, but they end up in container, network, volume and image
# names, where the engine's and the file system's limits (255) are near.
MAX_PROJECT_NAME = 100


def normalize_project_name(name: str) -> str:
    """Compose's rule: lowercase, keep only ``[a-z0-9_-]``, drop leading ``_``/``-``.

    Raises :class:`ConfigError` when nothing usable is left.
    """
    normalized = _normalize_or_none(name)
    if normalized is None:
        raise ConfigError(
            f"project name {_q(name)} has no usable characters: a Compose project name needs "
            "lowercase letters, digits, '_' or '-', starting with a letter or digit"
        )
    too_long = _name_too_long(normalized)
    if too_long is not None:
        raise ConfigError(f"project name {_q(name)} {too_long}")
    return normalized


def _q(text: str, limit: int = 80) -> str:
    """Quote a user-supplied string for a one-line message (control characters escaped)."""
    if len(text) > limit:
        text = text[:limit] + "..."
    return json.dumps(text, ensure_ascii=False)


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    import difflib

    matches = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {_q(matches[0])}?)" if matches else ""


def _dotted(parts: Sequence[str]) -> str:
    return ".".join(p if _BARE_KEY_RE.fullmatch(p) else _q(p, limit=200) for p in parts)


def _absolute(path: Path) -> Path:
    return Path(os.path.normpath(os.path.abspath(path)))


def _kind(path: Path) -> str | None:
    """``"file"``, ``"dir"``, ``"other"``, or ``None`` when it does not exist or cannot be stat'ed."""
    try:
        st = path.stat()
    except (OSError, ValueError):
        return None
    if stat.S_ISREG(st.st_mode):
        return "file"
    if stat.S_ISDIR(st.st_mode):
        return "dir"
    return "other"


def _is_file(path: Path) -> bool:
    return _kind(path) == "file"


def _is_below(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
    except ValueError:
        return False
    return True


def _display(path: Path, root: Path) -> str:
    try:
        rel = os.path.relpath(path, root)
    except ValueError:
        return str(path)
    return Path(rel).as_posix()


def _normalize_or_none(name: str) -> str | None:
    kept = "".join(c for c in name.lower() if c in _PROJECT_NAME_CHARS).lstrip("_-")
    return kept or None


def _name_too_long(name: str) -> str | None:
    """Why a normalized project name is too long, or ``None``."""
    if len(name) <= MAX_PROJECT_NAME:
        return None
    return (
        f"is {len(name)} characters long; devenv allows at most {MAX_PROJECT_NAME} (it becomes part of "
        "container, network, volume and image names)"
    )


def _describe(value: object) -> str:
    """How a TOML value is shown in 'got ...' messages."""
    if isinstance(value, bool):
        return f"boolean {'true' if value else 'false'}"
    if isinstance(value, int):
        return f"integer {value}"
    if isinstance(value, float):
        return f"float {value}"
    if isinstance(value, str):
        return f"string {_q(value)}"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return f"{type(value).__name__} {value}"


def _first_existing(root: Path, names: Iterable[str]) -> Path | None:
    for name in names:
        candidate = root / name
        if _is_file(candidate):
            return candidate
    return None


def _compose_name(path: Path) -> str | None:
    """The top-level ``name:`` of a compose file when it is a plain string; never raises."""
    try:
        raw = path.read_bytes()
        if b"name" not in raw:
            return None
        import yaml

        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        data = yaml.load(raw, Loader=loader)
    except Exception:
        return None
    if not isinstance(data, dict):
        return None
    name = data.get("name")
    if not isinstance(name, str) or "$" in name or not name.strip():
        return None
    return name


def _name_from_compose_files(files: Sequence[Path]) -> str | None:
    """The normalized ``name:`` of the last file that has a usable one."""
    for path in reversed(files):
        raw = _compose_name(path)
        if raw is not None:
            normalized = _normalize_or_none(raw)
            if normalized is not None:
                return normalized
    return None
