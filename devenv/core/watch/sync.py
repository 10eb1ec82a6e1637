"""Copying files into containers through the Engine API: one tar archive per batch, ``rm`` for deletions.

What Compose's tar syncer does, through the same Engine calls: removed paths go with one exec of
``rm -rf`` per container, changed and new files with one ``PUT /containers/{id}/archive`` of a tar
archive extracted at ``/`` (every entry named by its container path). Directories that appeared
are walked (their files the rule does not ignore go in the same archive).

Ownership: every entry carries the owner (uid/gid) of the rule's ``target`` in the container (of
its nearest existing parent when the target does not exist yet), read once per container and
target from the first header of ``GET /containers/{id}/archive``. So a file synced into an image's
``/app`` owned by ``app:app`` stays ``app:app``, where a copy with the host's uid would not.
Compose sets its archive's owner from the container's ``user:`` instead; both agree for images
whose files belong to the user they run as.
"""

from __future__ import annotations

import io
import os
import posixpath
import stat
import tarfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from devenv.core.watch.plan import PathMapping

if TYPE_CHECKING:
    import docker

__all__ = ["Archive", "SyncFailed", "build_archive", "copy_archive", "delete_paths", "target_owner"]

Owner = tuple[int, int]


class SyncFailed(Exception):
    """A copy or delete in one container failed; ``message`` says what the engine said."""

    def __init__(self, container: str, step: str, message: str) -> None:
        super().__init__(f"{step} in {container}: {message}")
        self.container = container
        self.step = step
        self.message = message


@dataclass(frozen=True)
class Archive:
    data: bytes
    files: tuple[str, ...]  # container paths of the regular files and links in it
    deleted: tuple[str, ...]  # container paths to remove first
    stats: dict[str, tuple[int, int]]  # host path -> (mtime ns, size) of each regular file, when read


def _explain(exc: BaseException) -> str:
    text = getattr(exc, "explanation", None) or str(exc)
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    return str(text).strip().splitlines()[0][:300] if str(text).strip() else type(exc).__name__


def target_owner(api: docker.APIClient, container: str, path: str) -> Owner:
    """The owner (uid, gid) files get under ``path`` in the container.

    ``path``'s own owner, unless the files already in it mostly belong to someone else (then theirs):
    read from ``GET /containers/{id}/archive`` (the first entries only, at most 4 MiB of it). For a
    path that does not exist yet, its nearest existing parent's; (0, 0) for ``/``.
    """
    current = posixpath.normpath(path)
    while current not in ("/", ""):
        res = api._get(api._url("/containers/{0}/archive", container), params={"path": current}, stream=True)
        try:
            if res.status_code == 404 and "No such container" not in res.text:
                current = posixpath.dirname(current)
                continue
            api._raise_for_status(res)
            res.raw.decode_content = True  # the engine may gzip the archive
            return _dominant_owner(_Budget(res.raw, OWNER_READ_LIMIT))
        finally:
            res.close()
    return (0, 0)


OWNER_READ_LIMIT = 4 << 20
OWNER_ENTRIES = 64


class _Budget(io.RawIOBase):
    """A read-only stream that ends after ``limit`` bytes of ``raw``."""

    def __init__(self, raw: Any, limit: int) -> None:
        self.raw, self.left = raw, limit

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        if self.left <= 0:
            return 0
        data = self.raw.read(min(len(b), self.left))
        n = len(data)
        b[:n] = data
        self.left -= n
        return n


def _dominant_owner(stream: Any) -> Owner:
    own: Owner | None = None
    counts: dict[Owner, int] = {}
    try:
        with tarfile.open(fileobj=stream, mode="r|") as tar:
            for n, member in enumerate(tar):
                if own is None:
                    own = (member.uid, member.gid)
                elif member.isfile():
                    counts[(member.uid, member.gid)] = counts.get((member.uid, member.gid), 0) + 1
                if n >= OWNER_ENTRIES:
                    break
    except (tarfile.TarError, OSError, EOFError):
        pass  # the budget ended inside an entry: what was read decides
    if counts:
        return max(counts.items(), key=lambda kv: kv[1])[0]
    return own if own is not None else (0, 0)


def _entry(
    host: str, name: str, owner: Owner, stats: dict[str, tuple[int, int]]
) -> tuple[tarfile.TarInfo, bytes | None] | None:
    try:
        st = os.lstat(host)
    except OSError:
        return None
    info = tarfile.TarInfo(name.lstrip("/"))
    info.mode = stat.S_IMODE(st.st_mode)
    info.mtime = int(st.st_mtime)
    info.uid, info.gid = owner
    if stat.S_ISDIR(st.st_mode):
        info.type = tarfile.DIRTYPE
        return info, None
    if stat.S_ISLNK(st.st_mode):
        info.type = tarfile.SYMTYPE
        info.linkname = os.readlink(host)
        return info, None
    if not stat.S_ISREG(st.st_mode):
        return None  # sockets, fifos, devices: as Docker, skipped
    try:
        with open(host, "rb") as fh:
            data = fh.read()
    except OSError:
        return None  # removed or unreadable since the change: the next batch has it
    info.size = len(data)
    stats[host] = (st.st_mtime_ns, st.st_size)
    return info, data


def file_stat(path: str) -> tuple[int, int] | None:
    """(mtime in ns, size) of a regular file; None for anything else (folders are always walked)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size) if stat.S_ISREG(st.st_mode) else None


def build_archive(mappings: Sequence[PathMapping], owner_of: Callable[[PathMapping], Owner]) -> Archive:
    """One tar archive of the mappings that exist on the host; the ones that do not are deletions.

    A directory brings its files (those its rule does not ignore); the folders between a rule's
    target and a file go in too (with the file's owner), so new folders get the right owner.
    """
    buf = io.BytesIO()
    files: list[str] = []
    deleted: list[str] = []
    names: set[str] = set()
    stats: dict[str, tuple[int, int]] = {}
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:

        def add(host: str, name: str, owner: Owner) -> None:
            if name in names:
                return
            made = _entry(host, name, owner, stats)
            if made is None:
                return
            info, data = made
            names.add(name)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
            if info.type != tarfile.DIRTYPE:
                files.append(name)

        def parents(m: PathMapping, owner: Owner) -> None:
            rule = m.rule
            rel_parts = os.path.relpath(os.path.dirname(m.host), rule.path).split(os.sep)
            if rel_parts[0] in (".", ".."):
                return
            host, cont = rule.path, rule.target or "/"
            for part in rel_parts:
                host, cont = os.path.join(host, part), posixpath.join(cont, part)
                add(host, cont, owner)

        for m in mappings:
            if not os.path.lexists(m.host):
                deleted.append(m.container)
                continue
            owner = owner_of(m)
            parents(m, owner)
            if os.path.isdir(m.host) and not os.path.islink(m.host):
                add(m.host, m.container, owner)
                for folder, dirs, found in os.walk(m.host):
                    dirs[:] = sorted(d for d in dirs if not m.rule.ignored(os.path.join(folder, d)))
                    for d in dirs:
                        full = os.path.join(folder, d)
                        add(full, m.rule.container_path(full), owner)
                    for f in sorted(found):
                        full = os.path.join(folder, f)
                        if m.rule.matches(full):
                            add(full, m.rule.container_path(full), owner)
            else:
                add(m.host, m.container, owner)
    return Archive(buf.getvalue() if names else b"", tuple(files), tuple(deleted), stats)


def delete_paths(api: docker.APIClient, container: str, paths: Iterable[str]) -> None:
    """``rm -rf -- PATHS`` in the container (one exec); raises :class:`SyncFailed`."""
    argv = ["rm", "-rf", "--", *paths]
    try:
        exec_id = api.exec_create(container, argv, stdout=True, stderr=True)["Id"]
        output = api.exec_start(exec_id)
        code = api.exec_inspect(exec_id).get("ExitCode")
    except Exception as exc:
        raise SyncFailed(container, "delete", _explain(exc)) from None
    if code != 0:
        text = output.decode(errors="replace").strip() if isinstance(output, bytes) else str(output)
        raise SyncFailed(container, "delete", f"rm exited with {code}: {text[-300:]}")


def copy_archive(api: docker.APIClient, container: str, data: bytes) -> None:
    """Extract the archive at ``/`` in the container; raises :class:`SyncFailed`."""
    if not data:
        return
    try:
        api.put_archive(container, "/", data)
    except Exception as exc:
        raise SyncFailed(container, "copy", _explain(exc)) from None


def run_exec(api: docker.APIClient, container: str, spec: Any) -> tuple[int, str]:
    """A ``sync+exec`` command in the container: (exit code, the last lines of its output)."""
    exec_id = api.exec_create(
        container,
        list(spec.command),
        stdout=True,
        stderr=True,
        user=spec.user or "",
        privileged=spec.privileged,
        environment=dict(spec.environment) or None,
        workdir=spec.working_dir,
    )["Id"]
    output = api.exec_start(exec_id)
    code = api.exec_inspect(exec_id).get("ExitCode")
    text = output.decode(errors="replace") if isinstance(output, bytes) else str(output)
    return int(code if code is not None else -1), "\n".join(text.strip().splitlines()[-10:])
