"""Which Docker daemon to talk to, resolved the way the docker CLI resolves it.

One function, :func:`resolve`, for both Engine clients: the stdlib reader (``rawapi``) and
docker-py (``engine``). The order is the CLI's (``resolveContextName`` in docker/cli):

1. ``DOCKER_HOST`` (the default context at that address; it wins over ``DOCKER_CONTEXT``), with
   TLS from ``DOCKER_TLS_VERIFY`` / ``DOCKER_TLS`` / ``DOCKER_CERT_PATH``;
2. ``DOCKER_CONTEXT``;
3. ``currentContext`` in ``$DOCKER_CONFIG/config.json`` (``~/.docker/config.json``);
4. the default context: ``unix:///var/run/docker.sock``.

A profile may name its own engine (``context = "NAME"`` or ``docker_host = "ssh://user@host"`` in
its TOML): :func:`for_profile` puts that between 2 and 3, so ``DOCKER_HOST`` / ``DOCKER_CONTEXT``
still win. Such an endpoint carries the variables (``child_env``) that every ``docker`` /
``docker compose`` child process of that profile gets, so they talk to the same daemon.

A named context comes from the CLI's context store: ``contexts/meta/<sha256(name)>/meta.json``
(``Endpoints.docker.Host``, ``SkipTLSVerify``) and its TLS files under
``contexts/tls/<sha256(name)>/docker/``. A context that does not exist is an error, as in the CLI,
rather than a silent fall back to another daemon.

Standard library only and cheap: ``devenv status`` resolves the endpoint on every run.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping

from devenv.errors import DockerUnavailableError

DEFAULT_HOST = "unix:///var/run/docker.sock"
DEFAULT_CONTEXT = "default"


class Endpoint:
    """A daemon address and how to reach it.

    ``host``: as docker dials it (``unix:///path``, ``tcp://host:port``, ``ssh://user@host``, ...).
    ``context``: ``default`` or the context's name. ``source``: what chose it, for messages.
    ``tls``: use TLS; ``tls_verify``: check the server's certificate; ``cert_dir``: the folder with
    ``ca.pem`` / ``cert.pem`` / ``key.pem`` (any of them may be missing).
    """

    __slots__ = ("cert_dir", "child_env", "context", "host", "source", "tls", "tls_verify")

    def __init__(
        self,
        host: str,
        *,
        context: str = DEFAULT_CONTEXT,
        source: str = "default",
        tls: bool = False,
        tls_verify: bool = False,
        cert_dir: str | None = None,
        child_env: Mapping[str, str] | None = None,
    ) -> None:
        self.host = host
        self.context = context
        self.source = source
        self.tls = tls
        self.tls_verify = tls_verify
        self.cert_dir = cert_dir
        # What a docker / docker compose child needs in its environment to reach this daemon (empty:
        # it resolves the same daemon from the inherited environment by itself).
        self.child_env: dict[str, str] = dict(child_env or {})

    @property
    def scheme(self) -> str:
        return self.host.partition("://")[0].lower() if "://" in self.host else ""

    @property
    def host_name(self) -> str | None:
        """The machine the engine runs on, for ``tcp://`` and ``ssh://`` addresses; None for a local socket."""
        if self.scheme not in ("tcp", "ssh", "http", "https"):
            return None
        netloc = self.host.partition("://")[2].split("/", 1)[0].rpartition("@")[2]
        if netloc.startswith("["):  # [::1]:2375
            return netloc[1 : netloc.find("]")] or None
        return netloc.rsplit(":", 1)[0] if netloc.count(":") == 1 else netloc or None

    @property
    def remote(self) -> bool:
        """Whether the engine runs on another machine: its containers' ports and IPs are not this host's."""
        name = self.host_name
        return name is not None and name.lower() not in _LOOPBACK_NAMES and not name.startswith("127.")

    def describe(self) -> str:
        """One line for people: the address, and the context or what chose it when that is not the default."""
        if self.context != DEFAULT_CONTEXT:
            return f"{self.host} (context {self.context}, {self.source})"
        return self.host if self.source == "default" else f"{self.host} ({self.source})"

    def to_json(self) -> dict[str, object]:
        return {
            "host": self.host,
            "context": self.context,
            "source": self.source,
            "remote": self.remote,
            "host_name": self.host_name,
        }

    @property
    def unix_path(self) -> str | None:
        """The socket path when this is a plain local Unix socket (what the stdlib reader speaks)."""
        if self.tls or not self.host.startswith("unix://"):
            return None
        return self.host[len("unix://") :] or None

    def tls_files(self) -> dict[str, str]:
        """The TLS files that exist: keys ``ca``, ``cert``, ``key``."""
        if not self.tls or not self.cert_dir:
            return {}
        found = {}
        for key in ("ca", "cert", "key"):
            path = os.path.join(self.cert_dir, f"{key}.pem")
            if os.path.isfile(path):
                found[key] = path
        return found

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Endpoint) and all(getattr(self, s) == getattr(other, s) for s in self.__slots__)

    def __hash__(self) -> int:
        return hash(self.host)

    def __repr__(self) -> str:
        return f"Endpoint({self.host!r}, context={self.context!r}, source={self.source!r}, tls={self.tls})"


_LOOPBACK_NAMES = frozenset({"localhost", "::1", "ip6-localhost"})


def config_dir(environ: Mapping[str, str]) -> str:
    """The docker CLI's configuration folder: ``$DOCKER_CONFIG`` or ``~/.docker``."""
    return environ.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")


def resolve(environ: Mapping[str, str] | None = None) -> Endpoint:
    """The daemon the docker CLI would use with this environment (see the module docstring)."""
    env = os.environ if environ is None else environ
    host = env.get("DOCKER_HOST", "")
    if host:
        verify = bool(env.get("DOCKER_TLS_VERIFY"))
        cert_path = env.get("DOCKER_CERT_PATH") or ""
        tls = verify or bool(env.get("DOCKER_TLS")) or bool(cert_path)
        return Endpoint(
            host,
            source="DOCKER_HOST",
            tls=tls,
            tls_verify=verify,
            cert_dir=(cert_path or config_dir(env)) if tls else None,
        )
    name = env.get("DOCKER_CONTEXT", "")
    source = "DOCKER_CONTEXT"
    if not name:
        name, source = _current_context(env), "the current docker context"
    if name in ("", DEFAULT_CONTEXT):
        return Endpoint(DEFAULT_HOST)
    return _named_context(env, name, source)


def for_profile(
    profile: str,
    *,
    context: str | None = None,
    docker_host: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Endpoint:
    """The daemon of a profile: ``DOCKER_HOST`` / ``DOCKER_CONTEXT`` when set, else the profile's own
    ``docker_host`` or ``context``, else the CLI's current context (:func:`resolve`)."""
    env = os.environ if environ is None else environ
    if env.get("DOCKER_HOST") or env.get("DOCKER_CONTEXT") or (context is None and not docker_host):
        return resolve(env)
    if docker_host:
        found = resolve({**env, "DOCKER_HOST": docker_host})  # TLS from DOCKER_TLS_VERIFY / DOCKER_CERT_PATH
        found.source = f"profile {profile}: docker_host"
        found.child_env = {"DOCKER_HOST": docker_host}
        return found
    assert context is not None
    if context == DEFAULT_CONTEXT:
        found = resolve({**env, "DOCKER_CONTEXT": context})
    else:
        found = _named_context(env, context, f"profile {profile}: context")
    found.source = f"profile {profile}: context"
    found.child_env = {"DOCKER_CONTEXT": context}
    return found


def of_profile(profile: object, environ: Mapping[str, str] | None = None) -> Endpoint:
    """:func:`for_profile` of a loaded profile (``devenv.config.Profile``): the engine it runs on."""
    return for_profile(
        str(getattr(profile, "name", "")),
        context=getattr(profile, "context", None),
        docker_host=getattr(profile, "docker_host", None),
        environ=environ,
    )


def _current_context(env: Mapping[str, str]) -> str:
    try:
        with open(os.path.join(config_dir(env), "config.json"), encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return DEFAULT_CONTEXT  # no (readable) CLI config: the CLI uses the default context too
    current = data.get("currentContext") if isinstance(data, dict) else None
    return current if isinstance(current, str) and current else DEFAULT_CONTEXT


def _named_context(env: Mapping[str, str], name: str, source: str) -> Endpoint:
    import hashlib

    digest = hashlib.sha256(name.encode("utf-8")).hexdigest()
    store = os.path.join(config_dir(env), "contexts")
    meta_file = os.path.join(store, "meta", digest, "meta.json")
    try:
        with open(meta_file, encoding="utf-8") as fh:
            meta = json.load(fh)
        docker = meta["Endpoints"]["docker"]
        host = str(docker.get("Host") or DEFAULT_HOST)
        skip_verify = bool(docker.get("SkipTLSVerify"))
    except FileNotFoundError:
        raise DockerUnavailableError(
            f"The docker context {name!r} ({source}) does not exist.",
            hint="`docker context ls` lists the contexts; `docker context use default` or unsetting "
            "DOCKER_CONTEXT goes back to the local daemon.",
        ) from None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise DockerUnavailableError(
            f"The docker context {name!r} ({source}) cannot be read from {meta_file}: {exc}.",
            hint="`docker context inspect` shows what the docker CLI makes of it.",
        ) from None
    tls_dir = os.path.join(store, "tls", digest, "docker")
    tls = os.path.isdir(tls_dir) and any(
        os.path.isfile(os.path.join(tls_dir, f)) for f in ("ca.pem", "cert.pem", "key.pem")
    )
    return Endpoint(
        host,
        context=name,
        source=source,
        tls=tls,
        tls_verify=tls and not skip_verify,
        cert_dir=tls_dir if tls else None,
    )


def published_host(host_ip: str, endpoint: Endpoint | None) -> str | None:
    """Where this machine reaches a port the engine publishes on ``host_ip``; None when it cannot.

    On a local engine a wildcard binding (``0.0.0.0``, ``::``) is ``127.0.0.1``. On a remote one
    (``tcp://`` / ``ssh://`` to another machine) it is that machine's name, and a port bound to
    its loopback (``127.0.0.1``) is not reachable from here at all (an SSH tunnel would be).
    """
    wildcard = host_ip in ("", "0.0.0.0", "::")
    if endpoint is None or not endpoint.remote:
        return "127.0.0.1" if wildcard else host_ip
    if wildcard:
        return endpoint.host_name
    if host_ip.startswith("127.") or host_ip == "::1":
        return None
    return host_ip


def unreachable_note(host_port: int, endpoint: Endpoint) -> str:
    """Why a loopback-bound port of a remote engine cannot be opened from here, and the way round."""
    target = endpoint.host_name or "the engine's host"
    ssh = endpoint.host.partition("://")[2].split("/", 1)[0] if endpoint.scheme == "ssh" else target
    return (
        f"port {host_port} is bound to 127.0.0.1 on {target}: not reachable from here "
        f"(ssh -L {host_port}:127.0.0.1:{host_port} {ssh} forwards it)"
    )
