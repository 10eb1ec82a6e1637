"""The Engine API connection (docker-py), to the daemon the docker CLI would use, at a negotiated version.

``docker.from_env()`` ignores the current ``docker context`` (docker-py #3146) while the CLI that
Compose runs in follows it: the endpoint comes from :func:`devenv.core.engine.endpoint.resolve`, the same
resolution the stdlib reader (``rawapi``) uses, so every client talks to the same daemon.

The API version is never pinned. docker-py's ``version="auto"`` asks ``GET /version`` and would use
the server's maximum as is (1.52 on Docker Engine 29, whose events drop fields older code read);
devenv then lowers it to :data:`devenv.core.engine.apiversion.CLIENT_MAX`, the docker CLI's rule
(min(client max, server max)). A version this process already negotiated with the same daemon
(``rawapi``'s ``/_ping``) is reused, with no round trip.

docker-py loads inside :func:`connect` only: importing this module (for :func:`unavailable`) is cheap.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from devenv.core.engine import apiversion
from devenv.core.engine.endpoint import Endpoint, resolve
from devenv.errors import DockerUnavailableError

if TYPE_CHECKING:
    import docker

# How long one Engine API call may take before we call the engine unresponsive. Log and event
# streams are opened with their own (infinite) read timeouts.
API_TIMEOUT = 60


def connect(environ: Mapping[str, str] | None = None, *, endpoint: Endpoint | None = None) -> docker.APIClient:
    """An APIClient for ``endpoint`` (default: the user's daemon), or DockerUnavailableError saying why not."""
    if endpoint is None:
        endpoint = resolve(os.environ if environ is None else environ)
    import docker
    from docker.errors import DockerException

    known = apiversion.remembered(endpoint.host)
    version = known if isinstance(known, str) else "auto"
    try:
        client = docker.APIClient(
            base_url=endpoint.host,
            tls=_tls_config(endpoint),
            timeout=API_TIMEOUT,
            version=version,
            use_ssh_client=endpoint.host.startswith("ssh://"),  # the ssh binary, like the CLI
        )
    except DockerException as exc:
        raise unavailable(exc, endpoint.describe(), profile_engine=endpoint.source.startswith("profile ")) from None
    if version == "auto":
        # docker-py took the server's maximum (GET /version): lower it to what devenv knows.
        negotiated = apiversion.remember(endpoint.host, client.api_version)
        if negotiated is not None:
            client._version = negotiated
    return client


def _tls_config(endpoint: Endpoint) -> Any:
    if not endpoint.tls:
        return False
    from docker.tls import TLSConfig

    files = endpoint.tls_files()
    cert = (files["cert"], files["key"]) if "cert" in files and "key" in files else None
    ca = files.get("ca") if endpoint.tls_verify else None
    return TLSConfig(client_cert=cert, ca_cert=ca, verify=endpoint.tls_verify)


def unavailable(exc: BaseException, where: str, *, profile_engine: bool = False) -> DockerUnavailableError:
    """The error for an engine that cannot be reached; ``profile_engine``: a profile's own engine."""
    text = str(exc)
    if profile_engine:
        hint = (
            "That is the engine this profile names (docker_host / context in its profile file): it must be "
            "running and reachable from this machine (`docker -H ADDRESS info` tells), or set DOCKER_HOST "
            "to run the profile on another engine."
        )
    elif "PermissionError" in text or "Permission denied" in text:
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
