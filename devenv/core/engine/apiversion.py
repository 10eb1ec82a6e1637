"""Engine API version negotiation, the docker CLI's way, shared by both Engine clients.

Engines refuse versions outside their window: Docker Engine 29 answers ``400 client version 1.41
is too old. Minimum supported API version is 1.44`` and Engine 20.10 answers ``client version 1.47
is too new. Maximum supported API version is 1.41``. So no version is pinned: the client declares
the newest version it knows (:data:`CLIENT_MAX`), asks the server for its own maximum (the
``API-Version`` header of an unversioned ``GET /_ping``, or ``ApiVersion`` of ``GET /version`` for
docker-py) and uses the lower of the two. A server that does not say gets unversioned paths, which
every engine serves at its own current version.

The result is cached per endpoint for the life of the process (:func:`remembered` /
:func:`remember`): one round trip per daemon, whichever client asks first.
"""

from __future__ import annotations

import threading

from devenv.errors import DockerUnavailableError

# The newest Engine API version devenv knows (Docker 27). Newer servers keep serving it; what
# later versions change (e.g. 1.52 drops the ``status``/``id``/``from`` fields of events) never
# reaches devenv. docker-py 7.x's own default is 1.45.
CLIENT_MAX = "1.47"

_cache: dict[str, str | None] = {}
_lock = threading.Lock()


def parse(version: str | None) -> tuple[int, int] | None:
    """``"1.47"`` -> ``(1, 47)``; None for anything else."""
    if not version:
        return None
    major, sep, minor = version.strip().partition(".")
    if not sep or not major.isdigit() or not minor.isdigit():
        return None
    return int(major), int(minor)


def negotiate(server_max: str | None, client_max: str = CLIENT_MAX) -> str | None:
    """The version to use: min(client max, server max); None (unversioned) if the server did not say."""
    server = parse(server_max)
    if server is None:
        return None
    client = parse(client_max)
    assert client is not None, client_max
    major, minor = min(server, client)
    return f"{major}.{minor}"


def prefix(version: str | None) -> str:
    """The path prefix of a version: ``/v1.47``, or ``""`` for unversioned paths."""
    return f"/v{version}" if version else ""


class Unknown:
    """The type of :data:`UNKNOWN`: nothing negotiated with that endpoint yet."""

    pass


UNKNOWN = Unknown()


def remembered(endpoint: str) -> str | Unknown | None:
    """The version negotiated with ``endpoint`` in this process, or :data:`UNKNOWN`."""
    with _lock:
        return _cache.get(endpoint, UNKNOWN)


def remember(endpoint: str, server_max: str | None) -> str | None:
    """Negotiate against ``server_max`` and keep the result for ``endpoint``."""
    version = negotiate(server_max)
    with _lock:
        _cache[endpoint] = version
    return version


def forget(endpoint: str | None = None) -> None:
    """Drop what was negotiated (with one endpoint, or all): the next call asks again."""
    with _lock:
        if endpoint is None:
            _cache.clear()
        else:
            _cache.pop(endpoint, None)


def version_error(status: int, body: bytes, where: str) -> DockerUnavailableError | None:
    """A clear error when the engine refused the API version itself (``400 client version ...``)."""
    if status != 400:
        return None
    text = body.decode("utf-8", "replace")
    if "client version" not in text or ("too old" not in text and "too new" not in text):
        return None
    import json

    try:
        message = str(json.loads(text).get("message") or text)
    except (ValueError, AttributeError):
        message = text
    message = message.strip()
    if "too old" in message:
        hint = (
            f"devenv speaks Engine API versions up to {CLIENT_MAX} and this engine needs a newer one: upgrade devenv."
        )
    else:
        hint = "The engine is older than the version devenv negotiated: report this as a devenv bug."
    return DockerUnavailableError(f"The Docker engine at {where} refused devenv's API version: {message}", hint=hint)
