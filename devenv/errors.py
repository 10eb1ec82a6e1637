"""Errors devenv reports to users, and the exit codes they map to.

Exit codes are an API (documented in README.md):

====  =======================================================================
0     ok
1     a service failed: exited, unhealthy, restart loop, port taken, compose error;
      or the environment failed: an OS error on the user's files (permission denied, a file
      where a folder should be, disk full)
2     usage or config error: unknown profile/service, bad TOML, unknown key,
      invalid compose file, required variables left unset (all of them named),
      missing confirmation for a destructive operation
3     Docker engine unreachable, or Compose v2 missing
70    internal error (a bug in devenv; DEVENV_DEBUG=1 shows the traceback)
124   timed out waiting for services
130   interrupted (Ctrl-C, SIGINT)
143   terminated (SIGTERM): handled like Ctrl-C, with the same report
====  =======================================================================

``devenv doctor`` exits 0 when no finding is an error and 1 when one is (its findings include what
other commands report as 2 or 3).
"""

from __future__ import annotations

import errno
import os
from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    SERVICE_FAILED = 1
    USAGE = 2
    DOCKER_UNAVAILABLE = 3
    INTERNAL = 70
    TIMEOUT = 124
    INTERRUPTED = 130
    TERMINATED = 143


class DevenvError(Exception):
    """Base class: ``message`` is one paragraph for the user; ``hint`` says what to do next."""

    exit_code: ExitCode = ExitCode.SERVICE_FAILED

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n{self.hint}"


class ConfigError(DevenvError):
    """devenv.toml / profiles/*.toml problems. ``path``/``key``/``line`` locate the problem."""

    exit_code = ExitCode.USAGE

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        key: str | None = None,
        line: int | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.path = path
        self.key = key
        self.line = line


class UsageError(DevenvError):
    exit_code = ExitCode.USAGE


class UnknownProfileError(ConfigError):
    pass


class UnknownServiceError(UsageError):
    pass


class ConfirmationRequired(UsageError):
    """A destructive operation on a protected profile was not confirmed."""


class ComposeFileError(ConfigError):
    """Compose rejected the compose files (``docker compose config`` failed)."""


class DockerUnavailableError(DevenvError):
    exit_code = ExitCode.DOCKER_UNAVAILABLE


class ComposeMissingError(DockerUnavailableError):
    pass


class ComposeCommandError(DevenvError):
    """A ``docker compose`` command failed for a reason that is not the compose file itself."""

    def __init__(
        self, message: str, *, command: list[str] | None = None, stderr: str = "", hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.command = command or []
        self.stderr = stderr


class ServiceFailedError(DevenvError):
    """One or more services failed while starting; ``result`` carries the diagnostics."""

    exit_code = ExitCode.SERVICE_FAILED

    def __init__(self, message: str, *, result: object | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.result = result


class WaitTimeoutError(ServiceFailedError):
    exit_code = ExitCode.TIMEOUT


class WaitInterrupted(ServiceFailedError):
    exit_code = ExitCode.INTERRUPTED


class Terminated(KeyboardInterrupt):
    """Raised in the main thread on SIGTERM, so that it unwinds exactly like Ctrl-C."""


def interrupt_code(exc: BaseException) -> ExitCode:
    return ExitCode.TERMINATED if isinstance(exc, Terminated) else ExitCode.INTERRUPTED


class FileAccessError(DevenvError):
    """An OS error on the user's files (``.devenv/``, exports, the project's own files).

    The environment failed, not devenv: exit 1, with the path and the OS's reason.
    """

    exit_code = ExitCode.SERVICE_FAILED

    def __init__(self, message: str, *, path: str | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.path = path


# errno values that say something about the user's files or disk, never about devenv's logic.
_FILE_ERRNOS = frozenset(
    getattr(errno, name)
    for name in (
        "EACCES",
        "EPERM",
        "ENOSPC",
        "EDQUOT",
        "EFBIG",
        "EROFS",
        "ENOTDIR",
        "EISDIR",
        "EEXIST",
        "ENOENT",
        "ENAMETOOLONG",
        "ELOOP",
        "EIO",
        "EMFILE",
        "ENFILE",
        "ETXTBSY",
    )
    if hasattr(errno, name)
)
_DISK_FULL = frozenset(getattr(errno, n) for n in ("ENOSPC", "EDQUOT", "EFBIG") if hasattr(errno, n))


def _shown(path: str) -> str:
    """``path`` relative to the current folder when it is below it, else as it is."""
    try:
        rel = os.path.relpath(path)
    except (OSError, ValueError):
        return path
    return path if rel.startswith("..") else rel


def _file_in_the_way(path: str) -> str | None:
    """The nearest existing part of ``path`` (itself or a parent) that is not a folder."""
    current = os.path.abspath(path)
    while True:
        if os.path.lexists(current) and not os.path.isdir(current):
            return current
        parent = os.path.dirname(current)
        if parent == current:
            return None
        current = parent


def file_access_error(exc: BaseException) -> FileAccessError | None:
    """A :class:`FileAccessError` for an OS error on a file or the disk, else ``None``.

    Connection errors (the Docker socket, HTTP) and broken pipes are not file errors; an
    :class:`OSError` counts when it names a file or its errno is about files or disks.
    """
    if not isinstance(exc, OSError) or isinstance(exc, (BrokenPipeError, ConnectionError, TimeoutError)):
        return None
    code = exc.errno
    filename = exc.filename
    if code not in _FILE_ERRNOS and filename is None:
        return None
    reason = exc.strerror or (os.strerror(code) if code else str(exc))
    if filename is None:
        if code in _DISK_FULL:
            return FileAccessError(
                f"Cannot write to disk: {reason}.",
                hint="Free some space on the file system of the project (`df -h .` shows it), then try again.",
            )
        return FileAccessError(
            f"A file operation failed: {reason}.", hint="Check the project folder and its .devenv folder."
        )
    path = os.fsdecode(filename) if isinstance(filename, (str, bytes, os.PathLike)) else str(filename)
    shown = _shown(path)
    if exc.filename2 is not None:
        shown += f" (to {_shown(os.fsdecode(exc.filename2))})"
    hint: str
    if code in (errno.EACCES, errno.EPERM):
        message = f"Cannot access {shown}: {reason}."
        hint = (
            f"Check the owner and permissions of {_shown(path)} and of the folders above it "
            f"(`ls -ld {_shown(path)}`); files written by containers may belong to root."
        )
    elif code in _DISK_FULL:
        message = f"Cannot write {shown}: {reason}."
        hint = f"Free some space on that file system (`df -h {_shown(os.path.dirname(path) or '.')}`), then try again."
    elif code == errno.EROFS:
        message = f"Cannot write {shown}: {reason}."
        hint = "Run devenv where the project folder is writable."
    elif code == errno.ENOTDIR:
        blocker = _file_in_the_way(path)
        if blocker is not None:
            message = f"Cannot use {shown}: {_shown(blocker)} is a file, not a folder."
            hint = f"Move or remove {_shown(blocker)} (devenv needs a folder there), then try again."
        else:
            message = f"Cannot use {shown}: {reason} (a file is where a folder should be)."
            hint = "Move or remove the file in the way (devenv needs a folder there), then try again."
    elif code == errno.EEXIST and os.path.lexists(path) and not os.path.isdir(path):
        message = f"Cannot create the folder {shown}: a file with that name is in the way."
        hint = "Move or remove that file (devenv needs a folder there), then try again."
    else:
        message = f"Cannot access {shown}: {reason}."
        hint = "Check that path, then try again."
    return FileAccessError(message, path=path, hint=hint)
