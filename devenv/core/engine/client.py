"""The Docker Engine API connection (docker-py), resolved the way the docker CLI resolves it.

``docker.from_env()`` ignores the current ``docker context`` (docker-py #3146) while the CLI that
python-on-whales drives follows it; we resolve DOCKER_HOST, then DOCKER_CONTEXT, then the current
context, so both libraries talk to the same daemon.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

import docker
from docker.errors import DockerException

from devenv.errors import DockerUnavailableError

# How long one Engine API call may take before we call the engine unresponsive. Log and event
# streams are opened with their own (infinite) read timeouts.
API_TIMEOUT = 60


def _endpoint(environ: Mapping[str, str]) -> tuple[str | None, Any]:
    """(base_url, tls) for the daemon the docker CLI would use."""
    if environ.get("DOCKER_HOST"):
        return None, None  # kwargs_from_env handles DOCKER_HOST / DOCKER_TLS_VERIFY / DOCKER_CERT_PATH
    try:
        from docker.context import ContextAPI

        name = environ.get("DOCKER_CONTEXT")
        ctx = ContextAPI.get_context(name) if name else ContextAPI.get_current_context()
        if ctx is not None and ctx.name != "default" and ctx.Host:
            return str(ctx.Host), ctx.TLSConfig
    except Exception:  # a broken context store falls back to the default socket, like the CLI
        pass
    return None, None


def connect(environ: Mapping[str, str] | None = None) -> docker.APIClient:
    """An APIClient for the user's daemon, or DockerUnavailableError saying why not."""
    env = dict(os.environ if environ is None else environ)
    base_url, tls = _endpoint(env)
    try:
        if base_url is None:
            kwargs = docker.utils.kwargs_from_env(environment=env)
            client = docker.APIClient(timeout=API_TIMEOUT, version="auto", **kwargs)
        else:
            client = docker.APIClient(base_url=base_url, tls=tls or False, timeout=API_TIMEOUT, version="auto")
        return client
    except DockerException as exc:
        raise unavailable(exc, env.get("DOCKER_HOST") or base_url or "unix:///var/run/docker.sock") from None


def unavailable(exc: BaseException, where: str) -> DockerUnavailableError:
    text = str(exc)
    if "PermissionError" in text or "Permission denied" in text:
        hint = (
            "Your user may not access the Docker socket: add it to the 'docker' group "
            "(then log in again) or run with sufficient rights."
        )
    elif "FileNotFoundError" in text or "No such file" in text or "Connection refused" in text:
        hint = (
            "Is the Docker daemon running? Start it (e.g. `sudo systemctl start docker` or `dockerd`), "
            "or point DOCKER_HOST / `docker context use` at a running one."
        )
    else:
        hint = "Check DOCKER_HOST and `docker context ls`, and that `docker info` works."
    reason = re.sub(r"^Error while fetching server API version: ", "", text)
    return DockerUnavailableError(f"Cannot reach the Docker engine at {where}: {reason}", hint=hint)
