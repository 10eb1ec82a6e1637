"""The snapshot store: ``.devenv/snapshots/<profile>/<name>.<ext>`` plus ``<name>.json`` metadata.

A snapshot is published atomically (a partial file is never listed) and its metadata records
the size and sha256 of the dump, checked before anything is restored from it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

from devenv.core.state import LockHolder as LockHolder
from devenv.core.state import LockTimeoutError as LockTimeoutError
from devenv.core.state import ProjectLock as ProjectLock
from devenv.core.state import StateDirError as StateDirError
from devenv.core.state import db_lock as db_lock
from devenv.core.state import ensure_state_dir as ensure_state_dir
from devenv.errors import UsageError

# -------------------------------------------------------------------------------------- snapshots
SNAPSHOT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


@dataclass(frozen=True)
class SnapshotInfo:
    name: str
    profile: str
    engine: str
    database: str
    service: str
    created: float
    size: int
    file: str  # file name next to the metadata
    format: str  # "pgdump", "sql.gz", ...
    revision: str | None = None
    sha256: str = ""
    reason: str = ""  # "manual", "before reset", ...
    project: str = ""

    def path(self, directory: Path) -> Path:
        return directory / self.file


class SnapshotStore:
    def __init__(self, root: Path, profile: str) -> None:
        self.dir = root / ".devenv" / "snapshots" / profile
        self.profile = profile

    def list(self) -> list[SnapshotInfo]:
        if not self.dir.is_dir():
            return []
        out = []
        for meta in self.dir.glob("*.json"):
            try:
                data = json.loads(meta.read_text(encoding="utf-8"))
                info = SnapshotInfo(**data)
            except (OSError, ValueError, TypeError):
                continue
            if (self.dir / info.file).is_file():
                out.append(info)
        return sorted(out, key=lambda s: s.created)

    def get(self, name: str) -> SnapshotInfo:
        snapshots = self.list()
        if name == "latest":
            if not snapshots:
                raise UsageError(
                    f'No snapshots for profile "{self.profile}" yet (looked in {self.dir}).',
                    hint="Take one with: devenv db snapshot",
                )
            return snapshots[-1]
        for s in snapshots:
            if s.name == name:
                return s
        import difflib

        close = difflib.get_close_matches(name, [s.name for s in snapshots], n=1)
        hint = f' Did you mean "{close[0]}"?' if close else ""
        raise UsageError(
            f'No snapshot named "{name}" for profile "{self.profile}".{hint}',
            hint="List them with: devenv db snapshots",
        )

    def new_name(self, label: str = "") -> str:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        base = f"{stamp}-{label}" if label else stamp
        name, i = base, 2
        existing = {s.name for s in self.list()}
        while name in existing:
            name, i = f"{base}-{i}", i + 1
        return name

    def check_new_name(self, name: str) -> None:
        """Refuse a name that is malformed or taken, before any work is done."""
        if not SNAPSHOT_NAME.match(name):
            raise UsageError(f'Invalid snapshot name "{name}": use letters, digits, ".", "_" and "-" (max 100).')
        if any(s.name == name for s in self.list()):
            raise UsageError(
                f'A snapshot named "{name}" already exists for profile "{self.profile}".',
                hint="Pick another name, or list them with: devenv db snapshots",
            )

    def verify(self, info: SnapshotInfo) -> Path:
        """The snapshot's file, after checking its size and checksum against the metadata."""
        path = info.path(self.dir)
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise UsageError(f'Snapshot "{info.name}" cannot be read: {exc}.') from None
        if info.size and size != info.size:
            raise UsageError(
                f'Snapshot "{info.name}" is damaged: {path} is {size} bytes, its metadata says {info.size}. '
                "Nothing was changed."
            )
        if info.sha256:
            digest = hashlib.sha256()
            with open(path, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    digest.update(chunk)
            if digest.hexdigest() != info.sha256:
                raise UsageError(
                    f'Snapshot "{info.name}" is damaged: the checksum of {path} does not match its metadata. '
                    "Nothing was changed."
                )
        return path

    def write(
        self,
        info: SnapshotInfo,
        producer: Callable[[Any], None],
        *,
        late: Callable[[], dict[str, Any]] | None = None,
    ) -> SnapshotInfo:
        """Write the dump through ``producer`` into a temporary file, then publish it atomically.

        ``late`` returns metadata fields known only once the dump is done; they are recorded too.
        """
        self.check_new_name(info.name)
        self.dir.mkdir(parents=True, exist_ok=True)
        final = self.dir / info.file
        partial = self.dir / f".{info.file}.partial"
        digest = hashlib.sha256()
        try:
            with open(partial, "wb") as raw:
                writer = _HashingWriter(raw, digest)
                producer(writer)
                raw.flush()
                os.fsync(raw.fileno())
            os.replace(partial, final)
        except BaseException:
            with contextlib.suppress(OSError):
                partial.unlink()
            raise
        info = _replace(info, size=final.stat().st_size, sha256=digest.hexdigest(), **(late() if late else {}))
        meta_tmp = self.dir / f".{info.name}.json.partial"
        meta_tmp.write_text(json.dumps(asdict(info), indent=2) + "\n", encoding="utf-8")
        os.replace(meta_tmp, self.dir / f"{info.name}.json")
        return info

    def remove(self, info: SnapshotInfo) -> None:
        for path in (self.dir / f"{info.name}.json", self.dir / info.file):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


def _replace(info: SnapshotInfo, **changes: Any) -> SnapshotInfo:
    from dataclasses import replace

    return replace(info, **changes)


class _HashingWriter:
    def __init__(self, raw: IO[bytes], digest: Any) -> None:
        self.raw, self.digest = raw, digest

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        return self.raw.write(data)

    def flush(self) -> None:
        self.raw.flush()
