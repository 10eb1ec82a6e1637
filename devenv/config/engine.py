"""A profile's Docker engine: ``context = "NAME"`` or ``docker_host = "ssh://user@host"`` (at most one).

Only the values are checked here (an address's scheme and shape); whether the context exists or the
engine answers is the engine layer's business (``devenv.core.engine.endpoint``), at use.
"""

from __future__ import annotations

from devenv.config.common import _q
from devenv.config.model import DOCKER_HOST_SCHEMES
from devenv.config.validation import _Table


def _engine_fields(table: _Table) -> dict[str, str]:
    """A profile's ``context`` or ``docker_host`` (at most one): the Docker engine it runs on."""
    context = table.string("context", nonempty=True)
    docker_host = table.string("docker_host", nonempty=True)
    if context is not None and docker_host is not None:
        raise table.src.error(
            f"{table.dotted('context')} and {table.dotted('docker_host')} are both set: a profile names its "
            "engine with one of them (a docker context, or an address)",
            table.key("docker_host"),
            hint='Keep context = "NAME" (a `docker context ls` name) or docker_host = "ssh://user@host".',
        )
    if context is not None:
        if context.strip() != context or any(c.isspace() or c == "/" for c in context):
            raise table.error("context", f"{table.dotted('context')} {_q(context)} is not a docker context name")
        return {"context": context}
    if docker_host is None:
        return {}
    problem = docker_host_problem(docker_host)
    if problem is not None:
        raise table.error(
            "docker_host",
            f"{table.dotted('docker_host')} {_q(docker_host)}: {problem}",
            hint="Use unix:///path/to/docker.sock, tcp://HOST:PORT or ssh://USER@HOST.",
        )
    return {"docker_host": docker_host}


def docker_host_problem(value: str) -> str | None:
    """Why ``value`` is not a Docker engine address devenv can use, or ``None``."""
    scheme, sep, rest = value.partition("://")
    if not sep:
        return "not an address: it has no scheme (unix://, tcp:// or ssh://)"
    if scheme.lower() not in DOCKER_HOST_SCHEMES:
        return f"unknown scheme {_q(scheme)}; use one of {', '.join(s + '://' for s in DOCKER_HOST_SCHEMES)}"
    if any(c.isspace() for c in value):
        return "an address must not contain spaces"
    if scheme.lower() == "unix":
        if not rest.startswith("/"):
            return "a unix:// address needs an absolute socket path (unix:///var/run/docker.sock)"
        return None
    host = rest.split("/", 1)[0].rpartition("@")[2]
    if not host or host.startswith(":"):
        return f"a {scheme}:// address needs a host name"
    return None
