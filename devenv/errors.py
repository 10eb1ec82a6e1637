"""Errors devenv reports to users, and the exit codes they map to.

Exit codes are an API (documented in README.md):

====  =======================================================================
0     ok
1     a service failed: exited, unhealthy, restart loop, port taken, compose error
2     usage or config error: unknown profile/service, bad TOML, unknown key,
      invalid compose file, missing confirmation for a destructive operation
3     Docker engine unreachable, or Compose v2 missing
70    internal error (a bug in devenv; DEVENV_DEBUG=1 shows the traceback)
124   timed out waiting for services
130   interrupted (Ctrl-C, SIGINT)
143   terminated (SIGTERM): handled like Ctrl-C, with the same report
====  =======================================================================
"""

from __future__ import annotations

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


class PortInUseError(ServiceFailedError):
    def __init__(self, message: str, *, port: int, holder: str | None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.port = port
        self.holder = holder


class WaitTimeoutError(ServiceFailedError):
    exit_code = ExitCode.TIMEOUT


class WaitInterrupted(ServiceFailedError):
    exit_code = ExitCode.INTERRUPTED


class Terminated(KeyboardInterrupt):
    """Raised in the main thread on SIGTERM, so that it unwinds exactly like Ctrl-C."""


def interrupt_code(exc: BaseException) -> ExitCode:
    return ExitCode.TERMINATED if isinstance(exc, Terminated) else ExitCode.INTERRUPTED


def exit_code_for(error: BaseException) -> ExitCode:
    if isinstance(error, DevenvError):
        return error.exit_code
    if isinstance(error, KeyboardInterrupt):
        return interrupt_code(error)
    return ExitCode.INTERNAL
