"""Snapshot metadata and the file primitives under the snapshot store (``devenv.core.db.snapshots``).

``SnapshotInfo`` is what ``<name>.json`` records. Metadata is never trusted: ``metadata_problem``
says why it cannot be used (incomplete, inconsistent, or naming a file that is not a plain file
name of the snapshot folder). The rest are the pieces the store writes with: exclusive
publishing (``publish_new``), partial-file hygiene, and the hashing writer a dump streams into.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import re
import stat
from dataclasses import dataclass, fields
from pathlib import Path
from typing import IO, Any

from devenv.core.state import pid_alive
from devenv.errors import UsageError

SNAPSHOT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
RESERVED_NAMES = ("latest",)  # `devenv db restore latest` means the newest snapshot
STALE_PARTIAL_SECONDS = 3600  # a partial file without a writer pid in its name is stale after this
_PARTIAL_PID = re.compile(r"\.(\d+)\.partial$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_META_MAX = 1 << 20  # metadata is a few hundred bytes: refuse to read a huge file as metadata


@dataclass(frozen=True)
class SnapshotFormat:
    ext: str  # file extension, without the dot
    magic: bytes  # the first bytes of every file of this format
    engines: tuple[str, ...]
    what: str


FORMATS = {
    "pgdump": SnapshotFormat("pgdump", b"PGDMP", ("postgres",), "a pg_dump custom-format file (PGDMP)"),
    # db.mysql.MySQLAdapter.dump gzips the SQL dump on the host while it streams.
    "sql.gz": SnapshotFormat("sql.gz", b"\x1f\x8b", ("mysql", "mariadb"), "a gzip-compressed SQL dump"),
}
ENGINES = ("postgres", "mysql", "mariadb")


@dataclass(frozen=True)
class SnapshotInfo:
    name: str
    profile: str
    engine: str
    database: str
    service: str
    created: float
    size: int
    file: str  # file name next to the metadata: "<name>.<format extension>"
    format: str  # a key of FORMATS: "pgdump", "sql.gz"
    revision: str | None = None
    sha256: str = ""
    reason: str = ""  # "manual", "before reset", ...
    project: str = ""

    def path(self, directory: Path) -> Path:
        return directory / self.file


@dataclass(frozen=True)
class SnapshotProblem:
    """A snapshot that cannot be used, for ``devenv db snapshots`` to show as "damaged: <reason>"."""

    name: str  # from the metadata file's name
    path: Path  # the metadata file
    reason: str
    modified: float = 0.0  # mtime of the metadata file


# ----------------------------------------------------------------------------------- validation
_TYPES: dict[str, tuple[type, ...]] = {
    "name": (str,),
    "profile": (str,),
    "engine": (str,),
    "database": (str,),
    "service": (str,),
    "created": (int, float),
    "size": (int,),
    "file": (str,),
    "format": (str,),
    "revision": (str, type(None)),
    "sha256": (str,),
    "reason": (str,),
    "project": (str,),
}


def metadata_problem(info: SnapshotInfo, *, expected_name: str | None = None) -> str | None:
    """Why ``info`` cannot be trusted (complete, consistent, naming a plain file), or None."""
    for f in fields(info):
        value = getattr(info, f.name)
        if not isinstance(value, _TYPES[f.name]) or isinstance(value, bool):
            return f'its "{f.name}" is {value!r}, not {_article(" or ".join(t.__name__ for t in _TYPES[f.name]))}'
    if not SNAPSHOT_NAME.match(info.name):
        return f"its name {info.name!r} is not a valid snapshot name"
    if expected_name is not None and info.name != expected_name:
        return f'its metadata names it "{info.name}", but the metadata file is {expected_name}.json'
    if info.engine not in ENGINES:
        return f"its engine {info.engine!r} is unknown (known: {', '.join(ENGINES)})"
    fmt = FORMATS.get(info.format)
    if fmt is None:
        return f"its format {info.format!r} is unknown (known: {', '.join(FORMATS)})"
    if info.engine not in fmt.engines:
        return f"its format {info.format!r} is not a {info.engine} format"
    file = info.file
    if file in ("", ".", "..") or os.path.isabs(file) or any(c in file for c in "/\\\0"):
        return f"its file {file!r} points outside the snapshot folder"
    if file != f"{info.name}.{fmt.ext}":
        return f"its file {file!r} does not match its name and format (expected {info.name}.{fmt.ext})"
    if info.size <= 0:
        return f"its size {info.size!r} is not a positive number of bytes"
    if not _SHA256.match(info.sha256):
        return "its sha256 checksum is missing or malformed"
    if not math.isfinite(info.created):
        return "its creation time is not a number"
    return None


def parse_metadata(raw: bytes, expected_name: str) -> SnapshotInfo | str:
    """A SnapshotInfo from metadata file contents, or why they are not valid metadata."""
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        return f"its metadata is not valid JSON ({exc})"
    if not isinstance(data, dict):
        return "its metadata is not a JSON object"
    known = {f.name for f in fields(SnapshotInfo)}
    missing = [k for k in ("name", "engine", "file", "format", "size", "sha256") if k not in data]
    if missing:
        return f"its metadata has no {', '.join(missing)}"
    try:
        info = SnapshotInfo(**{k: v for k, v in data.items() if k in known})
    except TypeError as exc:
        return f"its metadata is incomplete ({exc})"
    return metadata_problem(info, expected_name=expected_name) or info


def read_small(path: Path) -> bytes:
    """A regular file's contents, refusing a symlink (O_NOFOLLOW), a FIFO or a huge file."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise ValueError("not a regular file")
        if st.st_size > _META_MAX:
            raise ValueError(f"{st.st_size} bytes, too large for metadata")
        return f.read(_META_MAX + 1)


# ------------------------------------------------------------------------------------ file layer
def check_name(name: str, *, reserved: bool = True) -> None:
    if not SNAPSHOT_NAME.match(name):
        raise UsageError(f'Invalid snapshot name "{name}": use letters, digits, ".", "_" and "-" (max 100).')
    if reserved and name.lower() in RESERVED_NAMES:
        raise UsageError(
            f'"{name}" cannot name a snapshot: `devenv db restore latest` means the newest snapshot.',
            hint="Pick another name.",
        )


def publish_new(src: Path, dst: Path) -> str:
    """Publish ``src`` as ``dst`` unless ``dst`` exists: "link", "move" (no hard links here) or "" if taken."""
    try:
        os.link(src, dst)
        return "link"
    except FileExistsError:
        return ""
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
            raise
    # No hard links on this file system: claim the name with an exclusive create, then move onto it.
    try:
        os.close(os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        return ""
    os.replace(src, dst)
    return "move"


def unpublish(src: Path, dst: Path, how: str) -> None:
    """Undo ``publish_new(src, dst)``: ``src`` is there again, ``dst`` is gone."""
    with contextlib.suppress(OSError):
        if how == "move":
            os.replace(dst, src)
        else:
            dst.unlink()


def fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def stale_partial(name: str, mtime: float, now: float) -> bool:
    """Whether partial file ``name`` is left over: its writer pid (in the name) is gone, or,
    for a name without one (older devenv), it has not changed for STALE_PARTIAL_SECONDS."""
    match = _PARTIAL_PID.search(name)
    if match:
        return not pid_alive(int(match.group(1)))
    return now - mtime > STALE_PARTIAL_SECONDS


class HashingWriter:
    """The file a producer writes to: hashes what it writes, keeps the first bytes and any OSError."""

    def __init__(self, raw: IO[bytes], digest: Any) -> None:
        self.raw, self.digest = raw, digest
        self.head = b""
        self.error: OSError | None = None

    def write(self, data: bytes) -> int:
        if len(self.head) < 8:
            self.head += bytes(data[: 8 - len(self.head)])
        self.digest.update(data)
        try:
            return self.raw.write(data)
        except OSError as exc:
            self.error = exc
            raise

    def flush(self) -> None:
        self.raw.flush()


def _article(noun: str) -> str:
    return ("an " if noun[:1] in "aeiou" else "a ") + noun
