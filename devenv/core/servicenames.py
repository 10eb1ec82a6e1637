"""A per-project cache of the service names declared in a profile's compose files.

``devenv status`` needs the declared services (to list those with no container), which means
parsing the compose files' YAML; importing PyYAML alone costs 11-13 ms, more than the whole
Engine conversation. The names only change when the files (or ``COMPOSE_PROFILES``) do, so they
are kept in ``.devenv/compose-services.json`` next to the other project state, keyed by every
file's path and ``stat`` (inode, size, mtime and ctime in nanoseconds). Any change to a file, a
missing file, or an unreadable cache means a real parse (with its errors, exactly as before).

The cache is only written where ``.devenv`` already exists (any ``devenv up`` creates it): a read
command never creates project folders. Failing to read or write it is never an error.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

CACHE_FILE = "compose-services.json"
_FORMAT = 1


_INCLUDE = re.compile(rb"(?m)^include\s*:")


def _key(files: Iterable[Path], extra: Any = None) -> list[Any] | None:
    stats: list[Any] = [_FORMAT, os.environ.get("COMPOSE_PROFILES", ""), extra]
    for f in files:
        try:
            st = os.stat(f)
            with open(f, "rb") as fh:
                if _INCLUDE.search(fh.read()):
                    return None  # included files are not in the key: always parse
        except OSError:
            return None  # the real parse reports it
        stats.append([os.path.abspath(f), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns])
    return stats


def service_names(files: Iterable[Path], root: Path, parse: Callable[[], list[str]], *, extra: Any = None) -> list[str]:
    """``parse()``'s answer for these files, from the cache when none of them changed since.

    ``extra``: whatever else the answer depends on (the active Compose profiles), part of the key.
    A file with a top-level ``include:`` is never cached (the included files are not in the key).
    """
    files = list(files)
    key = _key(files, extra)
    state = root / ".devenv"
    path = state / CACHE_FILE
    if key is not None:
        try:
            with open(path, encoding="utf-8") as fh:
                data = json.load(fh)
            if data.get("key") == key and isinstance(data.get("services"), list):
                return [str(s) for s in data["services"]]
        except (OSError, ValueError, AttributeError):
            pass
    names = parse()
    if key is not None and key == _key(files, extra) and state.is_dir():  # unchanged while it was parsed
        tmp = state / f".{CACHE_FILE}.{os.getpid()}.partial"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump({"key": key, "services": names}, fh)
            os.replace(tmp, path)
        except OSError:
            with contextlib.suppress(OSError):
                tmp.unlink()
    return names
