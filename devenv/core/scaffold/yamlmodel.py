"""A compose config from the YAML files themselves, for when ``docker compose config`` cannot give one.

Only what detection reads, in ``docker compose config``'s shapes: services with their image,
environment, ports, expose, healthcheck, depends_on, build context and bind mounts (absolute paths,
relative ones resolved against the file's folder). Later files win key by key, as Compose merges.
Variables are left as written (``${VAR:-default}`` becomes its default when it has one).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

_DEFAULTED = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*:?-([^}]*)\}")


def _text(value: Any) -> Any:
    """``${VAR:-default}`` -> ``default``, in strings at any depth."""
    if isinstance(value, str):
        return _DEFAULTED.sub(lambda m: m.group(1), value)
    if isinstance(value, list):
        return [_text(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _text(v) for k, v in value.items()}
    return value


def _absolute(value: str, folder: Path) -> str:
    value = os.path.expanduser(str(_text(value)))
    return value if value.startswith("/") else os.path.normpath(folder / value)


def _volume(item: Any, folder: Path) -> Mapping[str, Any] | None:
    if isinstance(item, Mapping):
        if item.get("type") == "bind" and isinstance(item.get("source"), str):
            return {**item, "source": _absolute(item["source"], folder)}
        return dict(item)
    parts = str(_text(item)).split(":")
    if len(parts) >= 2 and parts[0].startswith((".", "/", "~")):
        return {"type": "bind", "source": _absolute(parts[0], folder), "target": parts[1]}
    return {"type": "volume", "source": parts[0], "target": parts[1] if len(parts) > 1 else parts[0]}


def _service(spec: Mapping[str, Any], folder: Path) -> dict[str, Any]:
    out = {k: _text(v) for k, v in spec.items()}
    build = spec.get("build")
    if isinstance(build, str):
        out["build"] = {"context": _absolute(build, folder)}
    elif isinstance(build, Mapping):
        out["build"] = {**build, "context": _absolute(str(build.get("context") or "."), folder)}
    if isinstance(spec.get("volumes"), list):
        out["volumes"] = [v for v in (_volume(i, folder) for i in spec["volumes"]) if v is not None]
    deps = spec.get("depends_on")
    if isinstance(deps, list):
        out["depends_on"] = {str(d): {"condition": "service_started"} for d in deps}
    return out


def yaml_config(files: Sequence[Path], *, note: str | None = None) -> dict[str, Any]:
    """The merged services of ``files`` (unreadable files add nothing); ``note`` says why it was needed."""
    import yaml

    services: dict[str, dict[str, Any]] = {}
    for path in files:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, ValueError, yaml.YAMLError):
            continue
        raw = data.get("services") if isinstance(data, Mapping) else None
        if not isinstance(raw, Mapping):
            continue
        for name, spec in raw.items():
            if isinstance(spec, Mapping):
                merged = services.setdefault(str(name), {})
                merged.update(_service(spec, path.parent))
    doc: dict[str, Any] = {"services": services}
    if note:
        doc["x-devenv-init-note"] = note
    return doc
