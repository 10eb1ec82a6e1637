"""Turn debugpy on and off for one service of a stack (the ``devenv debug`` flows).

:func:`enable_debug`:

1. reads the service as the profile defines it (``docker compose config`` of the profile's own
   files, without devenv's overlay) and its effective ``ENTRYPOINT + CMD`` (the image's when the
   compose files set none);
2. works out how that command starts Python (:mod:`devenv.core.debug.command`), asking the
   container where console scripts live and what its interpreter is
   (:mod:`devenv.core.debug.introspect`); a command that already runs debugpy is reported as the
   service's own, and nothing is changed;
3. provides debugpy for that Python when the image has none (:mod:`devenv.core.debug.provision`);
4. writes the service's entry into the profile's debug overlay (:mod:`devenv.core.debug.overlay`):
   the wrapped command, the port published on 127.0.0.1, the read-only debugpy mount and
   ``PYTHONPATH``; from then on the overlay is one of the profile's compose files;
5. recreates only that service and waits for it as ``devenv recreate`` does (health-gated); with
   ``wait`` (``--wait-for-client``: the program waits for the debugger before it runs, so its
   healthcheck cannot pass yet) the container is created and started without the health gate;
6. waits until debugpy answers DAP ``initialize`` on the published port (:func:`probe_debugpy`).

A failure after step 4 puts the service back as the profile defines it before raising.
:func:`disable_debug` removes the entry and recreates the service. :func:`debug_targets` lists
what runs under debugpy now, devenv's or the service's own.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from devenv.core.debug import command as cmd
from devenv.core.debug import ports
from devenv.core.debug.introspect import forget, remember, remembered
from devenv.core.debug.live import debug_targets, labelled, service_containers, target_from_container
from devenv.core.debug.overlay import (
    DEBUG_LABEL,
    DEBUGPY_MOUNT,
    DebugEntry,
    escape,
    is_overlay_file,
    overlay_locked,
    read_overlay,
    unescape,
    with_debug_overlay,
    write_overlay,
)
from devenv.core.debug.probe import probe_debugpy
from devenv.core.debug.target import DebugTarget
from devenv.errors import DevenvError, ExitCode, ServiceFailedError

if TYPE_CHECKING:
    from devenv.core.cancel import CancelToken
    from devenv.core.events import Emit, Event
    from devenv.core.stack import Stack

__all__ = ["debug_targets", "disable_debug", "enable_debug", "probe_debugpy"]

HOST = ports.HOST


class DebugStartError(ServiceFailedError):
    """The service did not come up under debugpy; devenv put it back as the profile defines it.

    Exit 1, or 124 when the wait timed out."""

    def __init__(self, message: str, *, result: object | None = None, hint: str | None = None, timeout: bool = False):
        super().__init__(message, result=result, hint=hint)
        if timeout:
            self.exit_code = ExitCode.TIMEOUT


def _ignore(_event: Event) -> None:
    pass


# ------------------------------------------------------------------------------------- enable
@overlay_locked
def enable_debug(
    stack: Stack,
    service: str,
    *,
    port: int | None = None,
    wait: bool = False,
    emit: Emit | None = None,
    cancel: CancelToken | None = None,
    timeout: float | None = None,
) -> DebugTarget:
    """Turn debugpy on for ``service`` and return where to attach (see the module docstring).

    Idempotent: when the service already runs under devenv's debugpy as asked (same port,
    same ``wait``), or runs debugpy itself, nothing is recreated and its target is returned.
    ``port``: the host port (default 5678 when free, else a free one); always on 127.0.0.1.
    ``timeout``: seconds for the service to become ready, and then for debugpy to answer
    (default: the profile's ``[readiness] timeout``).
    """
    from devenv.core.cancel import check
    from devenv.core.events import StepStarted

    sink = emit or _ignore
    sink(StepStarted("config", f"{service}: the definition of profile {stack.profile.name}"))
    config = _start_base_config(stack)  # Compose runs while the engine is asked for the containers
    try:
        docs = service_containers(stack, service)
    except BaseException:
        if config is not None:
            config.stop()
        raise
    base = config.json() if config is not None else dict(stack.model.raw)
    from devenv.core.compose.model import check_services

    services = base.get("services") or {}
    check_services([service], services)
    svc = services[service]
    entries = read_overlay(stack.project.root, stack.profile.name)
    current = entries.get(service)
    running = next((d for d in docs if (d.get("State") or {}).get("Running")), None)
    image = _image(stack, svc, docs, service)
    argv = _effective(svc, image)
    check(cancel)

    sink(StepStarted("inspect", f"{service}: how `{_short(argv)}` starts Python"))
    looker = _looker(stack, running, svc, image)
    key = _lookup_key(svc, image, argv)
    seen = remembered(looker, key)
    launch = cmd.analyze(argv, looker.resolve)
    if isinstance(launch, cmd.OwnDebugpy):
        return _own_target(stack, service, launch.port, running, docs)
    inner = launch.launch if isinstance(launch, cmd.ShellLaunch) else launch
    interpreter = _unquoted(inner.interpreter) if isinstance(launch, cmd.ShellLaunch) else inner.interpreter
    info = looker.python_info(interpreter)
    if info.debugpy.startswith(DEBUGPY_MOUNT + "/"):  # devenv's own copy, in a container already under debug
        info = replace(info, debugpy="")
    if not seen:
        remember(looker, key, interpreter, info)
    from devenv.core.debug.provision import cached, check_supported, debugpy_version, provision

    check_supported(info, f"{service}'s `{interpreter}`")
    check(cancel)
    folder: Path | None = None
    if not info.debugpy:
        if cached(info) is None:
            sink(StepStarted("provision", f"fetching debugpy for Python {info.tag} ({info.machine}) with pip"))
        folder = provision(info)
        sink(StepStarted("provision", f"debugpy {debugpy_version(folder)} for Python {info.tag} from {folder}"))
    check(cancel)

    container_port = current.container_port if current else ports.container_port(svc)
    host_port = ports.host_port(base, entries, service, port, current)
    entrypoint, command = cmd.wrap(launch, f"0.0.0.0:{container_port}", wait=wait)
    env = _environment(svc, image, folder)
    compose: dict[str, Any] = {
        "entrypoint": [escape(w) for w in entrypoint],
        "command": [escape(w) for w in command],
        "ports": [{"target": container_port, "published": str(host_port), "host_ip": HOST, "protocol": "tcp"}],
        "environment": env,
        "labels": {DEBUG_LABEL: str(container_port)},
    }
    if folder is not None:
        compose["volumes"] = [
            {"type": "bind", "source": escape(str(folder)), "target": DEBUGPY_MOUNT, "read_only": True}
        ]
    entry = DebugEntry(
        service=service,
        container_port=container_port,
        host_port=host_port,
        wait=wait,
        python=info.tag,
        debugpy=str(folder or ""),
        launch=launch.describe(),
        compose=compose,
    )
    if current is not None and current == entry and running is not None and labelled(running):
        target = target_from_container(stack, service, running, overlay=True)
        if target is not None and probe_debugpy(target.host, target.port, 2.0):
            return target

    entries[service] = entry
    path = write_overlay(stack.project.root, stack.profile.name, entries)
    sink(StepStarted("overlay", f"{service}: {launch.describe()} under debugpy ({_rel(stack, path)})"))
    _use_files(stack)
    try:
        seconds = stack.profile.readiness.timeout if timeout is None else timeout
        _start(stack, service, docs, wait=wait, sink=sink, cancel=cancel, timeout=seconds)
        return _await_debugpy(stack, service, sink, cancel, seconds, python=info.executable)
    except BaseException as exc:
        if not isinstance(exc, KeyboardInterrupt):
            forget(key)  # what was remembered of the image may be what went wrong
        _rollback(stack, service, sink, exc)
        raise


def _rollback(stack: Stack, service: str, sink: Emit, exc: BaseException) -> None:
    """Put ``service`` back as the profile defines it after a failed start under debugpy."""
    from devenv.core.events import StepStarted

    entries = read_overlay(stack.project.root, stack.profile.name)
    entries.pop(service, None)
    write_overlay(stack.project.root, stack.profile.name, entries)
    _use_files(stack)
    if isinstance(exc, KeyboardInterrupt):
        return  # the definition is restored; the container stays as it is (`devenv recreate` restores it)
    sink(StepStarted("restore", f"{service}: back to the profile's definition"))
    with contextlib.suppress(Exception):
        from devenv.core.actions import recreate

        recreate(stack, [service], emit=sink)


def _start(
    stack: Stack,
    service: str,
    docs: Sequence[Mapping[str, Any]],
    *,
    wait: bool,
    sink: Emit,
    cancel: CancelToken | None,
    timeout: float,
) -> None:
    """Recreate the service from the overlay; health-gated unless it waits for the debugger."""
    from devenv.core import actions
    from devenv.core.stack import up

    if not wait:
        result = (
            actions.recreate(stack, [service], emit=sink, cancel=cancel, timeout=timeout)
            if docs
            else up(stack, [service], emit=sink, cancel=cancel, timeout=timeout)
        )
        if result.outcome == "interrupted":
            raise KeyboardInterrupt
        if not result.ok:
            raise DebugStartError(
                _failed(service, result),
                result=result,
                hint=_WAIT_HINT.format(service=service),
                timeout=result.outcome == "timeout",
            )
        return
    from devenv.core.events import StepStarted

    sink(StepStarted("create", service))
    create = stack.start_create([service], build=False, force_recreate=True, no_deps=bool(docs))
    try:
        create.stream(sink)
    finally:
        create.stop()
    sink(StepStarted("start", f"{service} (it waits for the debugger before running)"))
    for doc in service_containers(stack, service):
        stack.api.start(doc["Id"])


_WAIT_HINT = (
    "devenv put {service} back as the profile defines it. To debug its start-up, let it wait for the "
    "debugger: devenv debug {service} --wait"
)


def _failed(service: str, result: Any) -> str:
    failure = next(iter(result.failures), None)
    if failure is None:
        return f"{service} did not become ready under debugpy ({result.outcome})."
    text = f"{service} did not become ready under debugpy: {failure.reason}."
    if failure.logs:
        text += "\n  " + "\n  ".join(failure.logs[-15:])
    return text


def _await_debugpy(
    stack: Stack, service: str, sink: Emit, cancel: CancelToken | None, timeout: float, *, python: str
) -> DebugTarget:
    """Wait until debugpy's adapter listens and the program is connected to it (:mod:`.attached`,
    no DAP session: one ending too early kills the adapter); its target. When the container cannot
    tell (no ``/proc`` view), until debugpy answers DAP ``initialize`` on the published port."""
    from devenv.core.cancel import check
    from devenv.core.debug.attached import debuggee_connected
    from devenv.core.events import StepStarted

    deadline = time.monotonic() + timeout
    announced = False
    while True:
        check(cancel)
        docs = service_containers(stack, service)
        running = next((d for d in docs if (d.get("State") or {}).get("Running")), None)
        if running is None:
            raise DebugStartError(_not_running(stack, service, docs))
        target = target_from_container(stack, service, running, overlay=True)
        if target is None:
            raise DebugStartError(f"{service} runs, but its debug port is not published (inspect shows no binding).")
        if not announced:
            sink(StepStarted("attach", f"waiting for debugpy on {target.host}:{target.port}"))
            announced = True
        connected = debuggee_connected(stack.api, str(running["Id"]), python, target.container_port)
        if connected or (connected is None and probe_debugpy(target.host, target.port, 1.0)):
            return target
        if time.monotonic() > deadline:
            where = f"{target.host}:{target.port} within {timeout:.0f}s"
            raise DebugStartError(
                f"debugpy's adapter did not listen with the program connected to it ({where})."
                if connected is False
                else f"debugpy did not answer on {where}.",
                hint=f"`devenv logs {service}` shows what the service printed.",
                timeout=True,
            )
        # Bounded retry until the deadline: debugpy listening has no Docker event or healthcheck;
        # the in-container check and the probe are the readiness check.
        time.sleep(0.1)


def _not_running(stack: Stack, service: str, docs: Sequence[Mapping[str, Any]]) -> str:
    if not docs:
        return f"{service} has no container any more."
    state = docs[0].get("State") or {}
    tail = stack.logs_tail(str(docs[0]["Id"]), 15)
    text = f"{service} stopped under debugpy ({state.get('Status')}, exit code {state.get('ExitCode')})."
    return text + ("\n  " + "\n  ".join(tail) if tail else "")


# ------------------------------------------------------------------------------------- disable
@overlay_locked
def disable_debug(
    stack: Stack,
    service: str,
    *,
    emit: Emit | None = None,
    cancel: CancelToken | None = None,
    timeout: float | None = None,
) -> None:
    """Restore ``service`` exactly as the profile defines it (a no-op when devenv did not debug it).

    The service's overlay entry goes (the file with the last one) and the service is recreated
    from the profile's own files, health-gated. A service that runs debugpy by its own command
    is left alone: that is its definition.
    """
    from devenv.core.actions import recreate
    from devenv.core.events import StepStarted

    sink = emit or _ignore
    entries = read_overlay(stack.project.root, stack.profile.name)
    if service not in entries:
        labelled = [d for d in service_containers(stack, service) if labelled(d)]
        if not labelled:
            return
    entries.pop(service, None)
    write_overlay(stack.project.root, stack.profile.name, entries)
    _use_files(stack)
    sink(StepStarted("overlay", f"{service}: back to the definition of profile {stack.profile.name}"))
    if not service_containers(stack, service):
        return
    result = recreate(stack, [service], emit=sink, cancel=cancel, timeout=timeout)
    if not result.ok:
        failure = next(iter(result.failures), None)
        why = f": {failure.reason}" if failure else ""
        raise ServiceFailedError(
            f"{service} is back to its definition but did not become ready{why}.",
            result=result,
            hint=f"`devenv logs {service}` shows what it printed.",
        )


def _own_target(
    stack: Stack, service: str, port: int, running: Mapping[str, Any] | None, docs: Sequence[Mapping[str, Any]]
) -> DebugTarget:
    if running is None:
        raise DevenvError(
            f"{service} runs debugpy by its own command (container port {port}), but it is not running.",
            hint=f"Start it: devenv up {service}",
        )
    target = target_from_container(stack, service, running, overlay=False)
    if target is None:
        raise DevenvError(
            f"{service} runs debugpy by its own command on container port {port}, but that port is not published.",
            hint=f'Publish it on 127.0.0.1 in the compose file (ports: ["127.0.0.1:{port}:{port}"]).',
        )
    return target


# ------------------------------------------------------------------------------------- helpers
class _BaseFiles:
    """The stack's Compose command line without devenv's debug overlay (the profile's definition)."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack

    def compose_args(self) -> list[str]:
        args = self.stack.compose_args()
        out: list[str] = []
        skip = False
        for i, a in enumerate(args):
            if skip:
                skip = False
                continue
            if a == "-f" and i + 1 < len(args) and is_overlay_file(args[i + 1]):
                skip = True
                continue
            out.append(a)
        return out

    def map_compose_error(self, what: str, command: list[str], stderr: str, *, streamed: bool = False) -> Exception:
        return self.stack.map_compose_error(what, command, stderr, streamed=streamed)

    def child_env(self) -> dict[str, str] | None:
        return self.stack.child_env()


def _start_base_config(stack: Stack) -> Any:
    """``docker compose config --format json`` of the profile's own files (no debug overlay), started;
    None when the stack's model already is that."""
    from devenv.core.compose.runner import ComposeProcess

    if not any(is_overlay_file(f) for f in stack.profile.compose_files) and "model" in stack.__dict__:
        return None
    return ComposeProcess(_BaseFiles(stack), "config", ["config", "--format", "json"], merge_output=False)


def _use_files(stack: Stack) -> None:
    """Point the stack at the profile's files plus the overlay as it is now; forget the old model."""
    stack.profile = with_debug_overlay(stack.project.root, stack.profile)
    stack.__dict__.pop("model", None)


def _image(stack: Stack, svc: Mapping[str, Any], docs: Sequence[Mapping[str, Any]], service: str) -> dict[str, Any]:
    """The inspect document of the service's image (the container's when there is one)."""
    names = [str(d["Image"]) for d in docs if d.get("Image")]
    names.append(str(svc.get("image") or f"{stack.name}-{service}"))
    for name in names:
        with contextlib.suppress(Exception):
            return dict(stack.api.inspect_image(name))
    raise DevenvError(
        f"The image of {service} ({names[-1]}) is not on this engine, so devenv cannot tell what it runs.",
        hint=f"Build or create it first: devenv up {service}" + (" --build" if svc.get("build") else ""),
    )


def _effective(svc: Mapping[str, Any], image: Mapping[str, Any]) -> list[str]:
    from devenv.core.debug.introspect import effective_argv

    return effective_argv(svc, image)


def _looker(stack: Stack, running: Mapping[str, Any] | None, svc: Mapping[str, Any], image: Mapping[str, Any]) -> Any:
    from devenv.core.debug.introspect import Looker

    env = {str(k): unescape(str(v)) for k, v in (svc.get("environment") or {}).items() if v is not None}
    return Looker(
        stack.api,
        container=str(running["Id"]) if running else None,
        image=str(image.get("Id")),
        env=env,
        workdir=unescape(str(svc.get("working_dir") or "")) or None,
        user=unescape(str(svc.get("user") or "")) or None,
    )


def _lookup_key(svc: Mapping[str, Any], image: Mapping[str, Any], argv: Sequence[str]) -> str:
    from devenv.core.debug.introspect import image_env, lookup_key

    own = (svc.get("environment") or {}).get("PATH")
    path = unescape(str(own)) if own is not None else (image_env(image, "PATH") or "")
    return lookup_key(str(image.get("Id")), argv, path, list(svc.get("volumes") or ()))


def _environment(svc: Mapping[str, Any], image: Mapping[str, Any], folder: Path | None) -> dict[str, str]:
    from devenv.core.debug.introspect import image_env

    env = {"PYDEVD_DISABLE_FILE_VALIDATION": "1"}  # no "frozen modules" warning in the service's logs
    if folder is not None:
        own = (svc.get("environment") or {}).get("PYTHONPATH")
        before = unescape(str(own)) if own is not None else image_env(image, "PYTHONPATH")
        env["PYTHONPATH"] = escape(DEBUGPY_MOUNT + (f":{before}" if before else ""))
    return env


def _rel(stack: Stack, path: Path | None) -> str:
    if path is None:
        return "-"
    try:
        return str(path.relative_to(stack.project.root))
    except ValueError:
        return str(path)


def _short(argv: Sequence[str]) -> str:
    text = " ".join(argv)
    return text if len(text) <= 80 else text[:77] + "..."


def _unquoted(word: str) -> str:
    import shlex

    with contextlib.suppress(ValueError):
        parts = shlex.split(word)
        if len(parts) == 1:
            return parts[0]
    return word
