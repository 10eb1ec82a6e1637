"""The snapshot store: ``.devenv/snapshots/<profile>/<name>.<ext>`` plus ``<name>.json`` metadata.

Writing never clobbers. The dump and then its metadata go to unique temporary files
(``.<file>.<random>.<pid>.partial``, mode 0600) and are published with ``os.link``, which fails
when the name is taken: two commands writing at once get two snapshots (a name from ``new_name``
takes the next free suffix) or, for a name the user gave, a clear "already exists". Partial files
whose writer is gone are removed by the next command that lists or writes.

Metadata is never trusted: a snapshot is listed only when its metadata is complete and consistent
(``metadata_problem``) and names a plain file inside the folder; the others are reported by
``problems()``. ``verify`` checks size, checksum and the format's signature before anything is
restored. Folders are private (see ``devenv.core.state``, re-exported here).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import stat
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from devenv.core.db.snapshot_files import ENGINES as ENGINES
from devenv.core.db.snapshot_files import FORMATS as FORMATS
from devenv.core.db.snapshot_files import RESERVED_NAMES as RESERVED_NAMES
from devenv.core.db.snapshot_files import SNAPSHOT_NAME as SNAPSHOT_NAME
from devenv.core.db.snapshot_files import (
    HashingWriter,
    check_name,
    fsync_dir,
    metadata_problem,
    parse_metadata,
    publish_new,
    read_small,
    stale_partial,
    unpublish,
)
from devenv.core.db.snapshot_files import SnapshotFormat as SnapshotFormat
from devenv.core.db.snapshot_files import SnapshotInfo as SnapshotInfo
from devenv.core.db.snapshot_files import SnapshotProblem as SnapshotProblem
from devenv.core.state import LockHolder as LockHolder
from devenv.core.state import LockTimeoutError as LockTimeoutError
from devenv.core.state import ProjectLock as ProjectLock
from devenv.core.state import StateDirError as StateDirError
from devenv.core.state import db_lock as db_lock
from devenv.core.state import ensure_state_dir as ensure_state_dir
from devenv.core.state import private_dir
from devenv.errors import DevenvError, UsageError

# An OSError with one of these errnos, raised while the dump streams, is about the file being written.
_STORAGE_ERRNOS = frozenset(
    getattr(errno, n)
    for n in ("ENOSPC", "EDQUOT", "EACCES", "EPERM", "EROFS", "EIO", "EFBIG", "ENOENT", "ENOTDIR", "EISDIR")
    if hasattr(errno, n)
)


class SnapshotStoreError(DevenvError):
    """The snapshot folder cannot be read or written (exit 1); the message names it and why."""


@dataclass(frozen=True)
class SnapshotScan:
    snapshots: list[SnapshotInfo]  # usable, oldest first
    problems: list[SnapshotProblem]  # damaged, by name


# ---------------------------------------------------------------------------------------- store
class SnapshotStore:
    def __init__(self, root: Path, profile: str) -> None:
        self.root = root
        self.dir = root / ".devenv" / "snapshots" / profile
        self.profile = profile
        self._issued: set[str] = set()  # names from new_name(): write() moves them on when taken

    # -- reading
    def scan(self) -> SnapshotScan:
        """Usable snapshots and damaged ones; removes partial files of writers that are gone.

        A missing folder is no snapshots; an unreadable one (or a file in its place) raises
        SnapshotStoreError (exit 1).
        """
        entries = self._entries()
        if entries is None:
            return SnapshotScan([], [])
        self._sweep(entries)
        snapshots: list[SnapshotInfo] = []
        problems: list[SnapshotProblem] = []
        for entry in entries:
            if entry.name.startswith(".") or not entry.name.endswith(".json"):
                continue
            name = entry.name.removesuffix(".json")
            result = self._load(name)
            if isinstance(result, SnapshotInfo):
                snapshots.append(result)
            else:
                modified = 0.0
                with contextlib.suppress(OSError):
                    modified = entry.stat(follow_symlinks=False).st_mtime
                problems.append(SnapshotProblem(name, Path(entry.path), result, modified))
        return SnapshotScan(
            sorted(snapshots, key=lambda s: (s.created, s.name)), sorted(problems, key=lambda p: p.name)
        )

    def problems(self) -> list[SnapshotProblem]:
        """Snapshots that cannot be used, with the reason (for "damaged: <reason>" in a listing)."""
        return self.scan().problems

    def get(self, name: str) -> SnapshotInfo:
        """The usable snapshot ``name`` ("latest": the newest); UsageError if missing or damaged."""
        scan = self.scan()
        if name == "latest":
            return self._latest(scan)
        for s in scan.snapshots:
            if s.name == name:
                return s
        for p in scan.problems:
            if p.name == name:
                raise UsageError(
                    f'Snapshot "{name}" is damaged: {p.reason}. Nothing was changed.',
                    hint=f"Its metadata is {p.path}. List the others with: devenv db snapshots",
                )
        import difflib

        close = difflib.get_close_matches(name, [s.name for s in scan.snapshots], n=1)
        hint = f' Did you mean "{close[0]}"?' if close else ""
        raise UsageError(
            f'No snapshot named "{name}" for profile "{self.profile}".{hint}',
            hint="List them with: devenv db snapshots",
        )

    def _latest(self, scan: SnapshotScan) -> SnapshotInfo:
        newest = scan.snapshots[-1] if scan.snapshots else None
        newer_damaged = [p for p in scan.problems if newest is None or p.modified > newest.created]
        if newer_damaged:
            p = max(newer_damaged, key=lambda p: p.modified)
            raise UsageError(
                f'The newest snapshot of profile "{self.profile}", "{p.name}", is damaged: {p.reason}. '
                "Nothing was changed.",
                hint="Restore another one by name; list them with: devenv db snapshots",
            )
        if newest is None:
            raise UsageError(
                f'No snapshots for profile "{self.profile}" yet (looked in {self.dir}).',
                hint="Take one with: devenv db snapshot",
            )
        return newest

    def _entries(self) -> list[os.DirEntry[str]] | None:
        try:
            with os.scandir(self.dir) as it:
                return list(it)
        except FileNotFoundError:
            return None
        except OSError as exc:
            reason = "it is not a folder" if exc.errno == errno.ENOTDIR else exc.strerror or str(exc)
            raise SnapshotStoreError(
                f"Cannot read the snapshots folder {self.dir}: {reason}.",
                hint="Check that it (and the folders above it) is a folder you can read.",
            ) from None

    def _load(self, name: str) -> SnapshotInfo | str:
        """The snapshot whose metadata is ``<name>.json``, or why it cannot be used."""
        meta = self.dir / f"{name}.json"
        try:
            raw = read_small(meta)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                return f"its metadata {meta.name} is a symbolic link"
            return f"its metadata cannot be read ({exc.strerror or exc})"
        except ValueError as exc:
            return f"its metadata {meta.name} is {exc}"
        info = parse_metadata(raw, name)
        if isinstance(info, str):
            return info
        return self._file_problem(info) or info

    def _file_problem(self, info: SnapshotInfo) -> str | None:
        """Why the file of (valid) metadata ``info`` is not a plain file of the right size here."""
        path = info.path(self.dir)
        try:
            st = path.lstat()
        except FileNotFoundError:
            return f"its file {info.file} is missing"
        except OSError as exc:
            return f"its file {info.file} cannot be read ({exc.strerror or exc})"
        if stat.S_ISLNK(st.st_mode):
            return f"its file {info.file} is a symbolic link"
        if not stat.S_ISREG(st.st_mode):
            return f"its file {info.file} is not a regular file"
        if path.resolve().parent != self.dir.resolve():
            return f"its file {info.file} is outside the snapshot folder"
        if st.st_size != info.size:
            return f"{info.file} is {st.st_size} bytes, its metadata says {info.size}"
        return None

    # -- names
    def new_name(self, label: str = "") -> str:
        """A free timestamped name; if another command takes it first, ``write`` moves on to ``-2``..."""
        stamp = time.strftime("%Y%m%d-%H%M%S")
        base = f"{stamp}-{label}" if label else stamp
        name, i = base, 2
        while self._taken(name):
            name, i = f"{base}-{i}", i + 1
        self._issued.add(name)
        return name

    def check_new_name(self, name: str) -> None:
        """Refuse a name that is malformed, reserved or taken, before any work is done."""
        check_name(name)
        if self._taken(name):
            raise self._exists(name)

    def _taken(self, name: str) -> bool:
        return any(os.path.lexists(self.dir / f"{name}.{ext}") for ext in ("json", *FORMATS))

    def _exists(self, name: str) -> UsageError:
        return UsageError(
            f'A snapshot named "{name}" already exists for profile "{self.profile}".',
            hint="Pick another name, or list them with: devenv db snapshots",
        )

    # -- checking before a restore
    def verify(self, info: SnapshotInfo) -> Path:
        """The snapshot's file, after checking metadata, size, format signature and checksum."""
        problem = metadata_problem(info) or self._file_problem(info)
        if problem:
            raise UsageError(f'Snapshot "{info.name}" is damaged: {problem}. Nothing was changed.')
        path, fmt = info.path(self.dir), FORMATS[info.format]
        digest = hashlib.sha256()
        try:
            with open(os.open(path, os.O_RDONLY | os.O_NOFOLLOW), "rb") as f:
                head = f.read(len(fmt.magic))
                digest.update(head)
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    digest.update(chunk)
        except OSError as exc:
            raise UsageError(f'Snapshot "{info.name}" cannot be read: {exc.strerror or exc}.') from None
        if head != fmt.magic:
            raise UsageError(
                f'Snapshot "{info.name}" is damaged: {path} is not {fmt.what} (it starts with {head!r}). '
                "Nothing was changed."
            )
        if digest.hexdigest() != info.sha256:
            raise UsageError(
                f'Snapshot "{info.name}" is damaged: the checksum of {path} does not match its metadata. '
                "Nothing was changed."
            )
        return path

    # -- writing
    def write(
        self,
        info: SnapshotInfo,
        producer: Callable[[Any], None],
        *,
        late: Callable[[], dict[str, Any]] | None = None,
        auto_name: bool | None = None,
    ) -> SnapshotInfo:
        """Write the dump through ``producer`` into a temporary file, then publish it without clobbering.

        ``late`` returns metadata fields known only once the dump is done; they are recorded too.
        ``auto_name`` (default: the name came from this store's ``new_name``) lets a taken name move
        on to the next suffix; otherwise a taken name is a UsageError. The published info (final
        name, size, checksum) is returned. An OSError writing the folder is a SnapshotStoreError.
        """
        auto = info.name in self._issued if auto_name is None else auto_name
        check_name(info.name)
        if not auto and self._taken(info.name):
            raise self._exists(info.name)
        fmt = FORMATS.get(info.format)
        if fmt is None or info.file != f"{info.name}.{fmt.ext}" or info.engine not in fmt.engines:
            raise ValueError(f"bad snapshot format/file/engine: {info.format!r} {info.file!r} {info.engine!r}")
        self._make_dirs()
        self._sweep(self._entries() or [], tighten=True)
        writer: HashingWriter | None = None
        in_producer = False
        tmp: str | None = None
        try:
            fd, tmp = tempfile.mkstemp(dir=self.dir, prefix=f".{info.file}.", suffix=f".{os.getpid()}.partial")
            with os.fdopen(fd, "wb") as raw:
                writer = HashingWriter(raw, hashlib.sha256())
                in_producer = True
                producer(writer)
                in_producer = False
                raw.flush()
                os.fsync(raw.fileno())
                size = os.fstat(raw.fileno()).st_size
            if size == 0 or not writer.head.startswith(fmt.magic):
                what = "is empty" if size == 0 else f"does not start like {fmt.what} ({writer.head!r})"
                raise SnapshotStoreError(f'Snapshot "{info.name}" was not saved: the dump {what}.')
            in_producer = True
            extra = late() if late else {}
            in_producer = False
            info = replace(info, size=size, sha256=writer.digest.hexdigest(), **extra)
            return self._publish(Path(tmp), info, auto)
        except OSError as exc:
            ours = writer is not None and exc is writer.error
            if in_producer and not ours and exc.errno not in _STORAGE_ERRNOS:
                raise  # raised by the producer, not about this file (the docker connection...)
            raise self._write_error(info.name, exc) from None
        finally:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)

    def _publish(self, tmp: Path, info: SnapshotInfo, auto: bool) -> SnapshotInfo:
        """Link ``tmp`` and then the metadata under the first free name (only ``info.name`` unless auto)."""
        ext = info.file[len(info.name) :]
        for i in range(1, 1000):
            name = info.name if i == 1 else f"{info.name}-{i}"
            candidate = replace(info, name=name, file=name + ext)
            if SNAPSHOT_NAME.match(name) and self._claim(tmp, candidate):
                fsync_dir(self.dir)
                return candidate
            if not auto:
                raise self._exists(info.name)
        raise SnapshotStoreError(f'No free name for snapshot "{info.name}" in {self.dir}.')

    def _claim(self, tmp: Path, info: SnapshotInfo) -> bool:
        """Publish the file then the metadata of ``info``; False (nothing left behind) if either is taken."""
        data = info.path(self.dir)
        how = publish_new(tmp, data)
        if not how:
            return False
        meta_tmp: str | None = None
        try:
            fd, meta_tmp = tempfile.mkstemp(
                dir=self.dir, prefix=f".{info.name}.json.", suffix=f".{os.getpid()}.partial"
            )
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(json.dumps(asdict(info), indent=2) + "\n")
                f.flush()
                os.fsync(f.fileno())
            if publish_new(Path(meta_tmp), self.dir / f"{info.name}.json"):
                return True
        except BaseException:
            unpublish(tmp, data, how)
            raise
        finally:
            if meta_tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(meta_tmp)
        unpublish(tmp, data, how)  # ours, published just above; the metadata name belongs to another one
        return False

    def _make_dirs(self) -> None:
        ensure_state_dir(self.root)
        for folder in (self.dir.parent, self.dir):
            private_dir(folder)

    def _write_error(self, name: str, exc: OSError) -> SnapshotStoreError:
        reason = exc.strerror or str(exc)
        hint = (
            "Free some disk space (old snapshots are listed by: devenv db snapshots), then try again."
            if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", -1))
            else f"Check that you can write to {self.dir}."
        )
        return SnapshotStoreError(
            f'Could not write snapshot "{name}" in {self.dir}: {reason}. Nothing was saved.', hint=hint
        )

    def _sweep(self, entries: Iterable[os.DirEntry[str]], *, tighten: bool = False) -> None:
        """Remove partial files whose writer is gone; with ``tighten``, make snapshot files 0600.

        A partial's writer pid is in its name (``...<pid>.partial``): it is removed once that
        process no longer exists, never while it runs. One without a pid (older devenv) is removed
        when it has not changed for STALE_PARTIAL_SECONDS.
        """
        now = time.time()
        for entry in entries:
            with contextlib.suppress(OSError):
                st = entry.stat(follow_symlinks=False)
                if entry.name.startswith(".") and entry.name.endswith(".partial"):
                    if stale_partial(entry.name, st.st_mtime, now):
                        os.unlink(entry.path)
                elif tighten and stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) & 0o077:
                    os.chmod(entry.path, 0o600)

    def remove(self, info: SnapshotInfo) -> None:
        """Delete a snapshot's metadata and file (only names derived from a valid snapshot name)."""
        check_name(info.name, reserved=False)
        for path in (self.dir / f"{info.name}.json", *(self.dir / f"{info.name}.{e}" for e in FORMATS)):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    # Last: in the class body, ``list`` names this method from here on (annotations included).
    def list(self) -> list[SnapshotInfo]:
        """Usable snapshots, oldest first (``scan()`` also gives the damaged ones)."""
        return self.scan().snapshots
