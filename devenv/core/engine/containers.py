"""Containers as the Engine API reports them, in devenv's terms: Compose's labels, inspect documents.

``container_from_inspect`` turns one ``inspect`` document into a
:class:`~devenv.core.models.ContainerInfo` (state, health, last healthcheck output masked, ports,
start time); ``container_masker`` is the secrets masker of one container. Pure functions: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from devenv.core.models import ContainerInfo, Health, PortBinding
from devenv.core.secrets import Masker

# The labels Compose puts on every container it creates.
PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
NUMBER_LABEL = "com.docker.compose.container-number"
ONEOFF_LABEL = "com.docker.compose.oneoff"


def epoch_seconds(text: str | None) -> float | None:
    if not text or text.startswith("0001-01-01"):
        return None
    # Docker gives RFC 3339 with nanoseconds: trim to microseconds for fromisoformat.
    m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)?$", text)
    if not m:
        return None
    frac = "." + (m.group(2) or ".0")[1:7].ljust(6, "0")  # Python 3.10 accepts only 3 or 6 digits
    tz = m.group(3) or "Z"
    tz = "+00:00" if tz == "Z" else tz
    return datetime.fromisoformat(f"{m.group(1)}{frac}{tz}").timestamp()


def _ports_from_inspect(settings: Mapping[str, Any] | None) -> tuple[PortBinding, ...]:
    out: list[PortBinding] = []
    for key, bindings in ((settings or {}).get("Ports") or {}).items():
        port, _, proto = key.partition("/")
        for b in bindings or ():
            if b.get("HostPort"):
                out.append(PortBinding(int(port), proto or "tcp", b.get("HostIp") or "0.0.0.0", int(b["HostPort"])))
    return tuple(sorted(set(out), key=lambda p: (p.container_port, p.host_ip)))


def container_from_inspect(data: Mapping[str, Any]) -> ContainerInfo:
    labels = (data.get("Config") or {}).get("Labels") or {}
    state = data.get("State") or {}
    health = state.get("Health")
    healthcheck = (data.get("Config") or {}).get("Healthcheck") or {}
    test = list(healthcheck.get("Test") or [])
    has_hc = bool(test) and test[:1] != ["NONE"]
    health_output = None
    if health:
        log = health.get("Log") or []
        if log:
            health_output = str(log[-1].get("Output") or "").strip() or None
    if health_output:
        health_output = container_masker(data)(health_output)
    status = str(state.get("Status") or "created")
    exit_code = state.get("ExitCode")
    return ContainerInfo(
        id=str(data["Id"]),
        name=str(data.get("Name") or "").lstrip("/"),
        service=str(labels.get(SERVICE_LABEL, "")),
        number=int(labels.get(NUMBER_LABEL) or 1),
        state=status,
        health=Health(health["Status"])
        if health and health.get("Status") in Health._value2member_map_
        else Health.NONE,
        exit_code=int(exit_code) if status in ("exited", "dead") and exit_code is not None else None,
        restart_count=int(data.get("RestartCount") or 0),
        restart_policy=str(((data.get("HostConfig") or {}).get("RestartPolicy") or {}).get("Name") or "no"),
        max_retries=int(((data.get("HostConfig") or {}).get("RestartPolicy") or {}).get("MaximumRetryCount") or 0),
        has_healthcheck=has_hc,
        started_at=epoch_seconds(state.get("StartedAt")) if status in ("running", "restarting", "paused") else None,
        ports=_ports_from_inspect(data.get("NetworkSettings")),
        image=str((data.get("Config") or {}).get("Image") or ""),
        oom_killed=bool(state.get("OOMKilled")),
        health_output=health_output,
    )


def container_masker(data: Mapping[str, Any]) -> Masker:
    """The secrets masker of one container, from its inspect document (environment, command, labels, healthcheck).

    This is what the container really runs (env files and image defaults included), and it needs no
    ``docker compose config``: read paths such as ``devenv status`` stay without a CLI spawn.
    """
    config = data.get("Config") or {}
    service = {
        "environment": list(config.get("Env") or ()),
        "command": _argv(config.get("Cmd")),
        "entrypoint": _argv(config.get("Entrypoint")),
        "labels": dict(config.get("Labels") or {}),
        "healthcheck": {"test": _argv((config.get("Healthcheck") or {}).get("Test"))},
    }
    return Masker.from_config({"services": {"container": service}})


def _argv(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else [str(v) for v in value or ()]
