"""Which database a profile has: ``[database]`` keys first, then detection from the compose model.

:func:`resolve_database` gives a :class:`DatabaseTarget` (service, engine, database, user,
password). The engine is detected from the service's image and environment; ``*_FILE`` secrets
are read inside the running container (:class:`FileSecrets`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from devenv.core.compose.model import check_services
from devenv.core.engine.containers import PROJECT_LABEL, SERVICE_LABEL
from devenv.core.engine.execio import exec_in
from devenv.errors import ConfigError

if TYPE_CHECKING:
    from devenv.core.stack import Stack

ENGINES = ("postgres", "mysql", "mariadb")


@dataclass(frozen=True)
class DatabaseTarget:
    service: str
    engine: str
    name: str
    user: str
    password: str | None = field(default=None, repr=False)


def _environment(svc: Mapping[str, Any]) -> dict[str, str]:
    env = svc.get("environment") or {}
    if isinstance(env, list):
        out = {}
        for item in env:
            k, _, v = str(item).partition("=")
            out[k] = v
        return out
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def detect_engine(image: str, env: Mapping[str, str]) -> str | None:
    image = image.lower()
    base = image.rsplit("/", 1)[-1]
    for engine in ("mariadb", "mysql", "postgres"):
        if engine in base or engine in image:
            return engine
    if "postgis" in image or "timescale" in image:
        return "postgres"
    if any(k.startswith("POSTGRES_") for k in env):
        return "postgres"
    if any(k.startswith("MARIADB_") for k in env):
        return "mariadb"
    if any(k.startswith("MYSQL_") for k in env):
        return "mysql"
    return None


def _running_services(stack: Stack) -> dict[str, tuple[str, dict[str, str], str]]:
    """service -> (image, environment as the container really runs it, container id), running only."""
    out: dict[str, tuple[str, dict[str, str], str]] = {}
    for item in stack.reader.containers(filters={"label": [f"{PROJECT_LABEL}={stack.name}"], "status": "running"}):
        labels = item.get("Labels") or {}
        service = labels.get(SERVICE_LABEL)
        if not service or labels.get("com.docker.compose.oneoff") == "True" or service in out:
            continue
        config = stack.reader.inspect_container(item["Id"]).get("Config") or {}
        env = dict(str(kv).partition("=")[::2] for kv in config.get("Env") or [])
        out[service] = (str(config.get("Image") or item.get("Image") or ""), env, str(item["Id"]))
    return out


def resolve_database(stack: Stack) -> DatabaseTarget:
    """The database of the active profile: ``[database]`` keys first, then detection.

    When the database container runs, its environment is read from the engine (one inspect):
    exactly what the server was started with, and no ``docker compose config`` spawn. Otherwise
    the profile's merged compose config (interpolated with its env files) is used.
    """
    cfg = stack.profile.database
    running = _running_services(stack)
    services: dict[str, tuple[str, dict[str, str]]] = {k: (v[0], v[1]) for k, v in running.items()}
    use_model = (
        cfg.service not in running
        if cfg.service
        else not any(detect_engine(image, env) for image, env in services.values())
    )
    if use_model:
        raw: Mapping[str, Any] = stack.model.raw.get("services") or {}
        services = {name: (str(svc.get("image") or ""), _environment(svc)) for name, svc in raw.items()}
    service = cfg.service
    if service is None:
        candidates = [name for name, (image, env) in services.items() if detect_engine(image, env) is not None]
        if not candidates:
            raise ConfigError(
                "No database service found in this profile's compose files (looked for postgres, mysql and "
                "mariadb images or POSTGRES_*/MYSQL_*/MARIADB_* environment).",
                key="database.service",
                hint='Set it in devenv.toml:  [database] service = "db"',
            )
        if len(candidates) > 1:
            raise ConfigError(
                f"Several services look like databases ({', '.join(candidates)}); devenv will not guess.",
                key="database.service",
                hint=f'Set it in devenv.toml:  [database] service = "{candidates[0]}"',
            )
        service = candidates[0]
    if service not in services:
        check_services([service], services)
    image, env = services[service]
    engine = cfg.engine or detect_engine(image, env)
    if engine not in ENGINES:
        raise ConfigError(
            f'Cannot tell the database engine of service "{service}" (image {image!r}).',
            key="database.engine",
            hint='Set it in devenv.toml:  [database] engine = "postgres"   (or mysql, mariadb)',
        )
    secrets = FileSecrets(stack, service, env, running.get(service, ("", {}, ""))[2] or None)
    if engine == "postgres":
        user = cfg.user or secrets.get("POSTGRES_USER") or "postgres"
        password = cfg.password or secrets.get("POSTGRES_PASSWORD")
        name = cfg.name or secrets.get("POSTGRES_DB") or user
    else:
        prefixes = ("MARIADB_", "MYSQL_") if engine == "mariadb" else ("MYSQL_", "MARIADB_")
        user = cfg.user or _first(secrets, prefixes, "USER") or "root"
        if user == "root":
            password = cfg.password or _first(secrets, prefixes, "ROOT_PASSWORD")
        else:
            password = cfg.password or _first(secrets, prefixes, "PASSWORD")
        name = cfg.name or _first(secrets, prefixes, "DATABASE") or ""
        if not name:
            raise ConfigError(
                f'Service "{service}" sets no MYSQL_DATABASE/MARIADB_DATABASE.',
                key="database.name",
                hint='Set it in devenv.toml:  [database] name = "app"',
            )
    return DatabaseTarget(service=service, engine=engine, name=name, user=user, password=password)


def _first(secrets: FileSecrets, prefixes: tuple[str, ...], suffix: str) -> str | None:
    for prefix in prefixes:
        value = secrets.get(prefix + suffix)
        if value:
            return value
    return None


class FileSecrets:
    """Environment values, reading ``NAME_FILE`` secrets inside the container when ``NAME`` is unset."""

    def __init__(self, stack: Stack, service: str, env: Mapping[str, str], container: str | None = None) -> None:
        self.stack, self.service, self.env, self.container = stack, service, env, container

    def get(self, key: str) -> str | None:
        if self.env.get(key):
            return self.env[key]
        path = self.env.get(key + "_FILE")
        if not path:
            return None
        cid = self.container or running_container(self.stack, self.service)
        if cid is None:
            return None
        result = exec_in(self.stack.api, cid, ["cat", path])
        return result.stdout.decode(errors="replace").strip() if result.exit_code == 0 else None


def running_container(stack: Stack, service: str) -> str | None:
    items = stack.reader.containers(
        filters={"label": [f"{PROJECT_LABEL}={stack.name}", f"{SERVICE_LABEL}={service}"], "status": "running"}
    )
    items = [i for i in items if (i.get("Labels") or {}).get("com.docker.compose.oneoff") != "True"]
    return str(items[0]["Id"]) if items else None
