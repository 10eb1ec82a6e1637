"""A readiness probe to suggest for a service without a healthcheck, from its image and ports.

Written as comments (``devenv init`` never changes how a stack runs): a compose ``healthcheck:`` the
service can carry, and a devenv ``[probes.<service>]`` table that checks from the host, which needs
nothing in the image.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ProbeHint:
    service: str
    reason: str  # why this suggestion (what the image or ports say)
    compose: tuple[str, ...] = ()  # YAML lines of a healthcheck for the service (without indentation)
    toml: tuple[str, ...] = ()  # lines of a [probes.<service>] table


@dataclass(frozen=True)
class Published:
    host_ip: str
    published: int | None  # the host port (None: only exposed to other containers)
    target: int
    protocol: str


def ports(spec: Mapping[str, Any]) -> list[Published]:
    """The service's ports: ``docker compose config``'s long form or the YAML's short one, and ``expose``."""
    out: list[Published] = []
    for item in spec.get("ports") or ():
        found = _port(item)
        if found is not None:
            out.append(found)
    for item in spec.get("expose") or ():
        number, _, protocol = str(item).partition("/")
        if number.isdigit():
            out.append(Published("", None, int(number), protocol or "tcp"))
    return out


def _port(item: Any) -> Published | None:
    if isinstance(item, Mapping):
        target = item.get("target")
        published = str(item.get("published") or "")
        if not isinstance(target, int) and not str(target).isdigit():
            return None
        return Published(
            str(item.get("host_ip") or ""),
            int(published) if published.isdigit() else None,
            int(str(target)),
            str(item.get("protocol") or "tcp"),
        )
    text, _, protocol = str(item).partition("/")
    parts = text.rsplit(":", 2)
    if not parts[-1].isdigit():
        return None
    if len(parts) == 1:
        return Published("", None, int(parts[0]), protocol or "tcp")
    host_ip = parts[0] if len(parts) == 3 else ""
    published = parts[-2]
    return Published(
        host_ip.strip("[]"), int(published) if published.isdigit() else None, int(parts[-1]), protocol or "tcp"
    )


def environment(spec: Mapping[str, Any]) -> dict[str, str]:
    """A service's ``environment:``, list or mapping form."""
    env = spec.get("environment") or {}
    if isinstance(env, list):
        return {str(item).partition("=")[0]: str(item).partition("=")[2] for item in env}
    return {str(k): "" if v is None else str(v) for k, v in env.items()} if isinstance(env, Mapping) else {}


def _image_kind(image: str, env: Mapping[str, str]) -> str | None:
    from devenv.core.db.target import detect_engine

    engine = detect_engine(image, env)
    if engine is not None:
        return engine
    base = image.lower().rsplit("/", 1)[-1]
    for kind in ("redis", "valkey", "memcached", "rabbitmq", "mongo", "nats"):
        if base.startswith(kind):
            return kind
    return None


# kind -> (compose healthcheck test, devenv probe argv run in the container, label)
_IMAGE_CHECKS: dict[str, tuple[list[str], list[str], str]] = {
    "postgres": (
        ["CMD-SHELL", 'pg_isready -h 127.0.0.1 -U "$${POSTGRES_USER:-postgres}"'],
        ["sh", "-c", 'pg_isready -h 127.0.0.1 -U "${POSTGRES_USER:-postgres}"'],
        "pg_isready",
    ),
    "mysql": (
        ["CMD", "mysqladmin", "ping", "-h", "127.0.0.1", "--silent"],
        ["mysqladmin", "ping", "-h", "127.0.0.1", "--silent"],
        "mysqladmin ping",
    ),
    "mariadb": (
        ["CMD", "mariadb-admin", "ping", "-h", "127.0.0.1", "--silent"],
        ["mariadb-admin", "ping", "-h", "127.0.0.1", "--silent"],
        "mariadb-admin ping (mysqladmin ping in older images)",
    ),
    "redis": (["CMD", "redis-cli", "ping"], ["redis-cli", "ping"], "redis-cli ping"),
    "valkey": (["CMD", "valkey-cli", "ping"], ["valkey-cli", "ping"], "valkey-cli ping"),
    "rabbitmq": (
        ["CMD", "rabbitmq-diagnostics", "-q", "ping"],
        ["rabbitmq-diagnostics", "-q", "ping"],
        "rabbitmq ping",
    ),
    "mongo": (
        ["CMD", "mongosh", "--quiet", "--eval", "db.adminCommand('ping')"],
        ["mongosh", "--quiet", "--eval", "db.adminCommand('ping')"],
        "mongosh ping",
    ),
}


def suggest_probe(service: str, spec: Mapping[str, Any]) -> ProbeHint:
    """What to suggest for ``service`` (its compose config), and why."""
    image = str(spec.get("image") or "")
    kind = _image_kind(image, environment(spec))
    tcp = [p for p in ports(spec) if p.protocol == "tcp"]
    published = [p for p in tcp if p.published is not None]
    toml: list[str] = [f"[probes.{_key(service)}]"]
    compose: list[str] = []
    if kind in _IMAGE_CHECKS:
        test, argv, label = _IMAGE_CHECKS[kind]
        compose = ["healthcheck:", f"  test: {json.dumps(test)}", "  interval: 2s", "  timeout: 3s", "  retries: 30"]
        toml += [f"cmd = {json.dumps(argv)}", "interval = 0.5"]
        reason = f"{kind} image: {label}"
    elif published:
        first = published[0]
        host = first.host_ip if first.host_ip not in ("", "0.0.0.0", "::") else "127.0.0.1"
        host = f"[{host}]" if ":" in host else host
        url = f"http://{host}:{first.published}/"
        compose = [
            "healthcheck:   # needs curl in the image",
            f'  test: ["CMD-SHELL", "curl -fsS http://localhost:{first.target}/ >/dev/null || exit 1"]',
            "  interval: 2s",
            "  retries: 30",
        ]
        toml += [f'http = "{url}"', "interval = 0.5"]
        reason = f"publishes port {first.published}: an HTTP GET on {url}, 2xx/3xx = ready"
    elif tcp:
        compose = [
            "healthcheck:   # needs bash in the image",
            f'  test: ["CMD-SHELL", "bash -c \'</dev/tcp/127.0.0.1/{tcp[0].target}\'"]',
            "  interval: 2s",
            "  retries: 30",
        ]
        toml += [f"tcp = {tcp[0].target}", "interval = 0.5"]
        reason = f"exposes port {tcp[0].target}: a TCP connect"
    else:
        toml += ['cmd = ["sh", "-c", "exit 0"]   # replace: a command in the container, exit 0 once ready']
        reason = "no port: ready after [readiness] settle seconds running, unless you add a command probe"
    return ProbeHint(service=service, reason=reason, compose=tuple(compose), toml=tuple(toml))


def _key(name: str) -> str:
    import re

    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else json.dumps(name)
